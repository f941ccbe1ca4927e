"""State space duality (SSD): Mamba-2's SSM as a recurrence, as attention, and in chunks.

Dao & Gu (2024), "Transformers are SSMs" (arXiv 2405.21060). Mamba-2 restricts
Mamba's diagonal decay to a *scalar* per head and step; then the SSM is a
masked linear attention, and the two views combine into a fast chunked
algorithm. This module keeps the step-by-step loop as the oracle and builds
the two other forms from it; all three give the same numbers and gradients.

Dimension letters
-----------------
B  batch (sequences)              L  length (time steps)
H  heads, each with its own decay  P  head dim (channels of x per head)
G  groups of heads sharing B and C (G divides H; G = H: one B, C per head)
R  heads per group, R = H / G (head h uses group h // R, as in Mamba-2)
N  state size (columns of each head's state matrix)
Q  chunk size  C_  number of chunks, ceil(L / Q) (``n_chunks`` in the code)

The input matrix is called ``Bm`` (batch is B). Shapes:
x (B, L, H, P), log_a (B, L, H), Bm and C (B, L, G, N), state h0 (B, H, P, N),
reset (B, L) bool. Every function returns y (B, L, H, P) and the final
state (B, H, P, N).

The model (Sec. 2 and Sec. 5.1: the SSM with A_t = a_t I)
----------------------------------------------------------
Per head, with a_t = exp(log_a_t) in (0, 1]::

    h_t = a_t h_{t-1} + x_t B_t^T      h_t in R^{P x N}
    y_t = h_t C_t                       y_t in R^P

``log_a`` is the log-decay (Mamba-2's dt * A), so that products of decays
become sums, which stay finite where the products would underflow. It
should be <= 0 (a stable SSM); this is documented, not checked per element:
with log_a > 0 the state grows and the masks below can overflow.
``reset[b, t]`` zeroes the carried state before step t (h_{t-1} := 0): an
episode boundary. A reset at t = 0 discards h0.

The duality (Sec. 3 and Sec. 4: semiseparable matrices, masked attention)
--------------------------------------------------------------------------
Unrolling the recurrence from h_{-1} = h0::

    h_t = sum_{s <= t} (a_{s+1} ... a_t) x_s B_s^T + (a_0 ... a_t) h0
    y_t = sum_{s <= t} L[t, s] (C_t . B_s) x_s + (a_0 ... a_t) h0 C_t

with the 1-semiseparable mask L[t, s] = prod_{s < r <= t} a_r (s <= t, else 0).
In matrix form Y = (L o C B^T) X: causal linear attention with queries C,
keys B, values X and the decay mask L in place of the causal 0/1 mask
(Sec. 5.2-5.3). A reset at r zeroes every L[t, s] with s < r <= t, and the
h0 term for every t >= r. Per head the recurrence costs O(L P N) and the
attention O(L^2 (N + P)); both compute the same matrix product.

The chunked algorithm (Sec. 6, Listing 1 "ssd_minimal")
--------------------------------------------------------
Cut the L x L matrix into Q x Q blocks. Diagonal blocks are small causal
attentions (step 1). An off-diagonal block (t in chunk c, s in chunk c' < c)
factors through the state: L[t, s] = (decay from the start of chunk c to t)
(decay of the chunks between) (decay from s to the end of chunk c'), so it
is low rank. Hence: (2) each chunk's end state from a zero start, (3) pass the
states across chunks, itself a 1-semiseparable product at chunk level (the
same mask, over chunk decays), and (4) each chunk's output from its start
state. Steps 1, 2 and 4 are batched matmuls over all chunks at once; step 3
touches only (B, C_, H, P, N), never (B, L, H, P, N). Cost per head
O(L Q (N + P) + L P N + C_^2 P N). Inside a chunk the decays come from differences of
cumulative sums of log_a over at most Q steps, where rounding stays small.
The (Q, Q) masks are per head, so few wide heads (P = 64) gain more from
the chunks than many narrow ones; ``benchmarks/bench_ssd.py`` times the
three forms side by side.

Resets and NaN: masks are built as ``exp(where(valid, log_decay, -inf))``
from a bool ``valid`` (causal and no reset in between); no -inf is ever
added to or subtracted from anything, and exp's gradient at -inf is 0, so
forward and backward stay free of NaN for any finite log_a <= 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._validate import check_int, check_tensor
from .scan import _zero_rows

__all__ = [
    "segment_sum",
    "semiseparable_mask",
    "ssd",
    "ssd_chunked",
    "ssd_quadratic",
    "ssd_recurrence",
    "ssd_step",
]

METHODS = ("chunked", "quadratic", "recurrence")


# ----------------------------------------------------------------------------
# Input checks at the public entries
# ----------------------------------------------------------------------------


def _check_shape(name: str, value: object, letters: tuple[str, ...],
                 sizes: dict[str, tuple[int, str]], like: Tensor | None = None) -> Tensor:
    """``value`` as a tensor of shape ``letters``; ``sizes``: letter -> (size, its source)."""
    text = "(" + ", ".join(letters) + ")"
    value = check_tensor(name, value, len(letters), text)
    clashes = [
        f"{letter} = {sizes[letter][0]} from {sizes[letter][1]}"
        for letter, size in zip(letters, value.shape, strict=True)
        if sizes.setdefault(letter, (size, name))[0] != size
    ]
    if clashes:
        raise ValueError(
            f"{name} must have shape {text} with {', '.join(clashes)}, got {tuple(value.shape)}"
        )
    if like is not None and (value.dtype != like.dtype or value.device != like.device):
        raise TypeError(
            f"{name} must have the dtype and device of x ({like.dtype} on {like.device}), "
            f"got {value.dtype} on {value.device}"
        )
    return value


def _validated(x, log_a, Bm, C, state, reset, *, one_step: bool = False):
    """Check the SSD inputs (with one_step: one time step, no L axis); return them."""
    time = () if one_step else ("L",)
    suffix = "_t" if one_step else ""
    sizes: dict[str, tuple[int, str]] = {}
    x = _check_shape("x" + suffix, x, ("B", *time, "H", "P"), sizes)
    if not x.is_floating_point():
        raise TypeError(f"x{suffix} must be a real floating tensor, got dtype {x.dtype}")
    if not one_step and x.shape[1] == 0:
        raise ValueError("x must have at least one time step (L >= 1), got L = 0")
    log_a = _check_shape("log_a" + suffix, log_a, ("B", *time, "H"), sizes, x)
    Bm = _check_shape("B_t" if one_step else "Bm", Bm, ("B", *time, "G", "N"), sizes, x)
    C = _check_shape("C" + suffix, C, ("B", *time, "G", "N"), sizes, x)
    heads, groups = x.shape[-2], Bm.shape[-2]
    if heads % groups:
        raise ValueError(
            f"the number of groups G = {groups} of Bm and C must divide "
            f"the number of heads H = {heads} of x"
        )
    if state is not None:
        state = _check_shape("state", state, ("B", "H", "P", "N"), sizes, x)
    if reset is not None:
        reset = _check_shape("reset" + suffix, reset, ("B", *time), sizes)
        if reset.dtype != torch.bool:
            raise TypeError(f"reset{suffix} must be a bool tensor, got dtype {reset.dtype}")
        reset = reset.to(x.device)
    return x, log_a, Bm, C, state, reset


def _per_head(matrix: Tensor, heads: int) -> Tensor:
    """Bm or C (..., G, N) repeated to (..., H, N): head h reads group h // (H / G)."""
    return matrix.repeat_interleave(heads // matrix.shape[-2], dim=-2)


# ----------------------------------------------------------------------------
# 1. The recurrence: the oracle
# ----------------------------------------------------------------------------


def _step(x_t, log_a_t, B_t, C_t, state, reset_t):
    """One unchecked step: x_t (B, H, P), log_a_t (B, H), B_t, C_t (B, H, N), state (B, H, P, N)"""
    state = _zero_rows(reset_t, state)
    decay = log_a_t.exp()[..., None, None]                               # (B, H, 1, 1)
    state = decay * state + x_t.unsqueeze(-1) * B_t.unsqueeze(-2)         # (B, H, P, N)
    y_t = (state @ C_t.unsqueeze(-1)).squeeze(-1)                         # (B, H, P)
    return y_t, state


def ssd_step(x_t: Tensor, log_a_t: Tensor, B_t: Tensor, C_t: Tensor,
             state: Tensor | None = None, reset_t: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One step ``h = a h + x B^T``, ``y = h C`` (Sec. 3.4, linear mode), for acting online.

    Args:
        x_t: (B, H, P) input; log_a_t: (B, H) log-decay (<= 0).
        B_t, C_t: (B, G, N), G dividing H.
        state: (B, H, P, N) state after the previous step; zeros when ``None``.
        reset_t: (B,) bool; zeroes ``state`` before this step.

    Returns:
        y_t (B, H, P) and the new state (B, H, P, N). A loop of steps equals
        :func:`ssd_recurrence`.
    """
    x_t, log_a_t, B_t, C_t, state, reset_t = _validated(
        x_t, log_a_t, B_t, C_t, state, reset_t, one_step=True
    )
    if state is None:
        state = x_t.new_zeros(*x_t.shape, B_t.shape[-1])
    heads = x_t.shape[1]
    return _step(x_t, log_a_t, _per_head(B_t, heads), _per_head(C_t, heads), state, reset_t)


def ssd_recurrence(x: Tensor, log_a: Tensor, Bm: Tensor, C: Tensor, *,
                   state: Tensor | None = None,
                   reset: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The SSM as a loop over L steps (Sec. 3.4, linear mode): the oracle; O(L H P N) work.

    Shapes as in the module docstring; returns y (B, L, H, P) and the final
    state (B, H, P, N), differentiable w.r.t. every input.
    """
    x, log_a, Bm, C, state, reset = _validated(x, log_a, Bm, C, state, reset)
    heads = x.shape[2]
    if state is None:
        state = x.new_zeros(*x[:, 0].shape, Bm.shape[-1])
    resets = [None] * x.shape[1] if reset is None else reset.unbind(1)
    outputs = []
    # unbind once: indexing x[:, t] in the loop would make backward O(L^2).
    for x_t, log_a_t, B_t, C_t, reset_t in zip(
        x.unbind(1), log_a.unbind(1), _per_head(Bm, heads).unbind(1),
        _per_head(C, heads).unbind(1), resets, strict=True,
    ):
        y_t, state = _step(x_t, log_a_t, B_t, C_t, state, reset_t)
        outputs.append(y_t)
    return torch.stack(outputs, dim=1), state


# ----------------------------------------------------------------------------
# 2. The quadratic ("attention") form
# ----------------------------------------------------------------------------


def segment_sum(log_a: Tensor) -> Tensor:
    """(..., T) -> (..., T, T): entry [t, s] = sum_{s < r <= t} log_a_r (0 where s >= t).

    Mamba-2's stable "segsum" (Listing 1): each entry sums only its own
    window (a cumulative sum down the masked columns), so no difference of
    two long cumulative sums loses precision. exp of it is L[t, s] (s <= t).
    """
    log_a = check_tensor("log_a", log_a, shape_text="(..., T)")
    if not log_a.is_floating_point():
        raise TypeError(f"log_a must be a real floating tensor, got dtype {log_a.dtype}")
    if log_a.ndim == 0 or log_a.shape[-1] == 0:
        raise ValueError(f"log_a must have shape (..., T) with T >= 1, got {tuple(log_a.shape)}")
    return _segment_sum(log_a)


def _segment_sum(log_a: Tensor) -> Tensor:
    """:func:`segment_sum` on a checked ``log_a``."""
    length = log_a.shape[-1]
    later = torch.ones(length, length, dtype=torch.bool, device=log_a.device).tril(-1)  # r > s
    windows = torch.where(later, log_a.unsqueeze(-1), 0.0)    # (..., T, T): [r, s] = log_a_r
    return windows.cumsum(dim=-2)                              # [t, s] = sum_{s < r <= t}


def _same_segment(reset: Tensor | None, length: int, device) -> Tensor:
    """(..., T, T) bool from reset (..., T): s <= t and no reset at any r with s < r <= t.

    Without resets: the causal (T, T) mask, which broadcasts against anything.
    """
    causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
    if reset is None:
        return causal
    segment = reset.long().cumsum(dim=-1)                       # (..., T): resets so far
    return causal & (segment.unsqueeze(-1) == segment.unsqueeze(-2))


def _masked_exp(log_decay: Tensor, valid: Tensor) -> Tensor:
    """exp(log_decay) where valid, exactly 0 elsewhere; NaN-free in forward and backward."""
    return torch.where(valid, log_decay, float("-inf")).exp()


def _mask(log_a_heads: Tensor, reset: Tensor | None) -> Tensor:
    """The mask L (B, H, T, T) from log_a (B, H, T) and reset (B, T); no checks."""
    heads_reset = None if reset is None else reset.unsqueeze(1)          # (B, 1, T)
    valid = _same_segment(heads_reset, log_a_heads.shape[-1], log_a_heads.device)
    return _masked_exp(_segment_sum(log_a_heads), valid)


def semiseparable_mask(log_a: Tensor, reset: Tensor | None = None) -> Tensor:
    """The 1-semiseparable mask of the SSD (Sec. 3.2 and 5.2), for plotting and teaching.

    Args:
        log_a: (B, L, H) log-decays; reset: (B, L) bool or ``None``.

    Returns:
        L (B, H, L, L) with L[b, h, t, s] = prod_{s < r <= t} a_r for s <= t and
        no reset at any r in (s, t]; 0 otherwise. The diagonal is 1.
    """
    sizes: dict[str, tuple[int, str]] = {}
    log_a = _check_shape("log_a", log_a, ("B", "L", "H"), sizes)
    if not log_a.is_floating_point():
        raise TypeError(f"log_a must be a real floating tensor, got dtype {log_a.dtype}")
    if reset is not None:
        reset = _check_shape("reset", reset, ("B", "L"), sizes)
        if reset.dtype != torch.bool:
            raise TypeError(f"reset must be a bool tensor, got dtype {reset.dtype}")
        reset = reset.to(log_a.device)
    if log_a.shape[1] == 0:
        raise ValueError("log_a must have at least one time step (L >= 1), got L = 0")
    return _mask(log_a.transpose(1, 2), reset)


def _state_decays(cumulative: Tensor, reset: Tensor | None) -> tuple[Tensor, Tensor]:
    """For a block of T steps, from cumulative = cumsum(log_a) (..., H, T), reset (..., 1, T):

    from_start (..., H, T): exp(sum_{r <= t} log_a_r), the decay of the state
    entering the block as seen at step t (0 after a reset at any r <= t);
    to_end (..., H, T): exp(sum_{s < r <= T-1} log_a_r), the decay of step s's
    input until the block's last step (0 if a reset follows s in the block).
    """
    if reset is None:
        return cumulative.exp(), (cumulative[..., -1:] - cumulative).exp()
    segment = reset.long().cumsum(dim=-1)                        # (..., 1, T)
    from_start = _masked_exp(cumulative, segment == 0)
    to_end = _masked_exp(cumulative[..., -1:] - cumulative, segment == segment[..., -1:])
    return from_start, to_end


def ssd_quadratic(x: Tensor, log_a: Tensor, Bm: Tensor, C: Tensor, *,
                  state: Tensor | None = None,
                  reset: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The SSM as masked attention ``Y = (L o C B^T) X`` plus the h0 term (Sec. 3.4, 5.2-5.3).

    O(L^2 (N + P)) time and a (B, H, L, L) mask in memory: for teaching and
    short sequences. Shapes and returns as :func:`ssd_recurrence`.
    """
    x, log_a, Bm, C, state, reset = _validated(x, log_a, Bm, C, state, reset)
    batch, length, heads, head_dim = x.shape
    groups = Bm.shape[2]
    log_a_heads = log_a.transpose(1, 2)                                # (B, H, L)
    mask = _mask(log_a_heads, reset).unflatten(1, (groups, -1))       # (B, G, R, L, L)
    scores = torch.einsum("btgn,bsgn->bgts", C, Bm).unsqueeze(2)      # (B, G, 1, L, L)
    xg = x.unflatten(2, (groups, -1))                                  # (B, L, G, R, P)
    y = torch.einsum("bgrts,bsgrp->btgrp", mask * scores, xg)          # (B, L, G, R, P)
    # The final state is the last row of the same matrix: h_{L-1} = sum_s L[L-1, s] x_s B_s^T.
    last_row = _time_last(mask[..., -1, :].flatten(1, 2), groups)     # (B, L, G, R, 1)
    final = torch.einsum("bsgrp,bsgn->bgrpn", xg * last_row, Bm)       # (B, G, R, P, N)
    if state is not None:
        heads_reset = None if reset is None else reset.unsqueeze(1)    # (B, 1, L)
        from_start, _ = _state_decays(log_a_heads.cumsum(-1), heads_reset)  # (B, H, L)
        h0 = state.unflatten(1, (groups, -1))                          # (B, G, R, P, N)
        y = y + torch.einsum("btgn,bgrpn->btgrp", C, h0) * _time_last(from_start, groups)
        final = final + from_start[..., -1].unflatten(1, (groups, -1))[..., None, None] * h0
    return y.reshape(batch, length, heads, head_dim), final.flatten(1, 2)


def _time_last(decay: Tensor, groups: int) -> Tensor:
    """(B, H, ..., T) decays as (B, ..., T, G, R, 1), to scale outputs (B, ..., T, G, R, P)."""
    return decay.movedim(1, -1).unflatten(-1, (groups, -1)).unsqueeze(-1)


# ----------------------------------------------------------------------------
# 3. The chunked algorithm (Sec. 6)
# ----------------------------------------------------------------------------


def _pad_to_chunks(tensor: Tensor, padded_length: int) -> Tensor:
    """(B, L, ...) zero-padded at the end to (B, padded_length, ...).

    Zeros are neutral: x = 0 adds nothing, log_a = 0 (a = 1) keeps the state,
    reset = False carries it; so the final state is that of step L - 1.
    """
    missing = padded_length - tensor.shape[1]
    if missing == 0:
        return tensor
    padding = tensor.new_zeros(tensor.shape[0], missing, *tensor.shape[2:])
    return torch.cat([tensor, padding], dim=1)


def _pass_states(chunk_states: Tensor, chunk_log_decay: Tensor, chunk_reset: Tensor | None,
                 h0: Tensor) -> tuple[Tensor, Tensor]:
    """Step 3: each chunk's start state and the final state (Sec. 6, "center factors").

    chunk_states (B, C_, G, R, P, N): end states from zero starts;
    chunk_log_decay (B, G, R, C_): log of each chunk's total decay;
    chunk_reset (B, C_): the chunk holds a reset (its total decay is 0);
    h0 (B, G, R, P, N). The chunk-level recurrence E_c = A_c E_{c-1} + S_c is
    again a 1-semiseparable product, with h0 as element -1; it is done as one
    (C_+1) x (C_+1) masked matmul instead of a Python loop over the chunks.
    """
    log_decay = torch.nn.functional.pad(chunk_log_decay, (1, 0))           # (B, G, R, C_+1)
    reset = None if chunk_reset is None else torch.nn.functional.pad(chunk_reset, (1, 0))
    if reset is not None:
        reset = reset[:, None, None]                                       # (B, 1, 1, C_+1)
    valid = _same_segment(reset, log_decay.shape[-1], log_decay.device)
    chunk_mask = _masked_exp(_segment_sum(log_decay), valid)                # (B, G, R, C_+1, C_+1)
    states = torch.cat([h0.unsqueeze(1), chunk_states], dim=1)            # (B, C_+1, G, R, P, N)
    ends = torch.einsum("bgrij,bjgrpn->bigrpn", chunk_mask, states)       # (B, C_+1, G, R, P, N)
    return ends[:, :-1], ends[:, -1]


def ssd_chunked(x: Tensor, log_a: Tensor, Bm: Tensor, C: Tensor, *,
                state: Tensor | None = None, reset: Tensor | None = None,
                chunk_size: int = 64) -> tuple[Tensor, Tensor]:
    """The SSD algorithm of Mamba-2 (Sec. 6, Listing 1): attention in chunks, states between.

    Any L (padded to a multiple of ``chunk_size`` Q, then trimmed). Shapes and
    returns as :func:`ssd_recurrence`; equal to it in values and gradients.
    """
    x, log_a, Bm, C, state, reset = _validated(x, log_a, Bm, C, state, reset)
    batch, length, heads, head_dim = x.shape
    # A chunk longer than the sequence would only multiply padding.
    chunk = min(check_int("chunk_size", chunk_size, hint="chunk length Q"), length)
    groups, state_size = Bm.shape[2], Bm.shape[3]
    n_chunks = -(-length // chunk)
    chunked = lambda t: _pad_to_chunks(t, n_chunks * chunk).unflatten(1, (n_chunks, chunk))
    xc = chunked(x).unflatten(3, (groups, -1))                     # (B, C_, Q, G, R, P)
    Bc, Cc = chunked(Bm), chunked(C)                               # (B, C_, Q, G, N)
    log_ac = chunked(log_a).permute(0, 3, 1, 2)                    # (B, H, C_, Q)
    resetc = None if reset is None else chunked(reset).unsqueeze(1)  # (B, 1, C_, Q)

    # 1. Diagonal blocks: causal masked attention inside every chunk at once.
    # Differences of cumulative sums over <= Q steps round harmlessly, and cost fewer
    # passes over the (Q, Q) blocks than segment_sum, forward and backward.
    cumulative = log_ac.cumsum(dim=-1)                             # (B, H, C_, Q)
    log_decay = cumulative.unsqueeze(-1) - cumulative.unsqueeze(-2)  # [l, s]: sum_{s<r<=l}
    valid = _same_segment(resetc, chunk, x.device)                 # (B, 1, C_, Q, Q)
    mask = _masked_exp(log_decay, valid)                           # (B, H, C_, Q, Q)
    mask = mask.unflatten(1, (groups, -1))                         # (B, G, R, C_, Q, Q)
    scores = torch.einsum("bclgn,bcsgn->bgcls", Cc, Bc).unsqueeze(2)          # (B, G, 1, C_, Q, Q)
    y_diag = torch.einsum("bgrcls,bcsgrp->bclgrp", mask * scores, xc)         # (B, C_, Q, G, R, P)

    # 2. Right factors: each chunk's end state from a zero start.
    from_start, to_end = _state_decays(cumulative, resetc)         # (B, H, C_, Q) each
    chunk_states = torch.einsum(
        "bclgrp,bclgn->bcgrpn", xc * _time_last(to_end, groups), Bc
    )                                                                         # (B, C_, G, R, P, N)

    # 3. Center factors: carry the states across chunk boundaries.
    h0 = x.new_zeros(batch, heads, head_dim, state_size) if state is None else state
    chunk_log_decay = cumulative[..., -1].unflatten(1, (groups, -1))          # (B, G, R, C_)
    chunk_reset = None if resetc is None else resetc[:, 0].any(dim=-1)        # (B, C_)
    starts, final = _pass_states(
        chunk_states, chunk_log_decay, chunk_reset, h0.unflatten(1, (groups, -1))
    )

    # 4. Left factors: what each chunk's start state contributes to its outputs.
    y_off = torch.einsum("bclgn,bcgrpn->bclgrp", Cc, starts) * _time_last(from_start, groups)
    y = (y_diag + y_off).reshape(batch, n_chunks * chunk, heads, head_dim)[:, :length]
    return y, final.flatten(1, 2)


# ----------------------------------------------------------------------------
# One switch between the three
# ----------------------------------------------------------------------------


def ssd(x: Tensor, log_a: Tensor, Bm: Tensor, C: Tensor, *, state: Tensor | None = None,
        reset: Tensor | None = None, method: str = "chunked",
        chunk_size: int = 64) -> tuple[Tensor, Tensor]:
    """The SSD layer's sequence map, by ``method`` "chunked" (default), "quadratic" or "recurrence".

    Args:
        x: (B, L, H, P); log_a: (B, L, H) log-decays (<= 0, not checked);
        Bm, C: (B, L, G, N), G dividing H; state: (B, H, P, N) or ``None``
        (zeros); reset: (B, L) bool or ``None``; chunk_size: Q for "chunked".

    Returns:
        y (B, L, H, P) and the final state (B, H, P, N); the three methods
        agree to rounding in values and gradients.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    chunk_size = check_int("chunk_size", chunk_size, hint="chunk length Q")
    if method == "chunked":
        return ssd_chunked(x, log_a, Bm, C, state=state, reset=reset, chunk_size=chunk_size)
    if method == "quadratic":
        return ssd_quadratic(x, log_a, Bm, C, state=state, reset=reset)
    return ssd_recurrence(x, log_a, Bm, C, state=state, reset=reset)
