"""Linear recurrence scans: ``h_t = a_t * h_{t-1} + b_t``, slow and fast.

Every diagonal SSM (S4D, Mamba's selective SSM, the RL^2 policy state) runs
this first-order linear recurrence channel by channel. This module keeps the
plain loop as the oracle and builds faster forms from it, as in Gu & Dao
(2023, arXiv 2312.00752, Sec. 3.3.2 "parallel scan") and the Annotated Mamba.

Dimension letters
-----------------
B  batch (sequences, e.g. trials of a meta-RL task)
L  length (time steps)
D  channels, each with its own scalar recurrence (e.g. H * N flattened:
   H SSM channels times N state entries)
C  number of chunks, T  chunk length (L = C * T + a tail shorter than T)

Conventions shared by every scan here
-------------------------------------
- ``a`` and ``b`` are 3-D and broadcast against each other to (B, L, D):
  ``a`` of shape (1, L, D) (same decay for every sequence) or (B, 1, D)
  (time-invariant decay, as in an LTI SSM) is fine. Real (float32/float64)
  or complex (complex64/complex128), the same dtype for all tensors.
- ``h0`` (B, D) is the state before step 0 (zeros when ``None``).
- ``reset`` (B, L) bool: ``reset[:, t]`` zeroes the carried state *before*
  step t, so ``h_t = b_t`` there (an episode boundary in meta-RL). The fast
  scans fold it in as ``a_t = 0``, so a reset also ignores ``h0`` at t=0.
- All scans return h (B, L, D) and are differentiable w.r.t. a, b, h0.

Algorithms and the measurements behind the choice of :func:`scan`
------------------------------------------------------------------
- :func:`scan_reference`: L small element-wise ops on (B, D). Each op is
  below PyTorch's parallel grain size, so it runs on one core, and autograd
  records about 3 L nodes.
- :func:`scan_doubling` (Hillis & Steele 1986): log2(L) rounds of
  :func:`associative_combine` over the whole (B, L, D) tensor. Few Python
  steps, but O(L log L) memory traffic, and autograd keeps every round
  (memory O(B L D log L)): the textbook parallel scan loses to the loop on a
  CPU with two cores.
- :func:`scan` (chosen): a two-level *chunked* scan. Split L into C chunks
  of T steps; (1) run the recurrence inside every chunk at once from a zero
  state, keeping each chunk's end state and decay product; (2) carry the true
  state across the C chunks; (3) rerun all chunks at once from their true
  start states. That is 2 T + C Python steps on (B, C, D) slices, big enough
  to amortise the per-op overhead and for ATen to split across cores. No division or
  logarithm, so exact zeros (resets) and decays near 1 need no care (the
  log-space closed form, or Mamba-2's "segsum", would need both). The
  gradient is the adjoint recurrence run backwards in time (the same chunked
  scan, :class:`_ChunkedScan`), so autograd records one node, not 3 L.

Measured with ``benchmarks/bench_ssm.py --threads 2`` (2-core machine, run
of 2026-12-03; ms, medians, L = 4096, B = 4, float32, forward+backward;
"floor" is one read of a, b and one write of h, ``torch.add`` into a
reused buffer):

=================================  ===========  ===========
                                   D = 256      D = 4096
=================================  ===========  ===========
floor (forward only)               1.0          28
loop oracle ``scan_reference``     106          718
chunked ``scan``                   12           228
unbind loop, 1 / 2 torch threads   ..           602 / 672
chunked ``scan``, 1 / 2 threads    ..           642 / 205
=================================  ===========  ===========

At D = 256 the loop is bound by per-op overhead and the chunked scan is
9x faster. At D = 4096 everything is bound by memory traffic (the chunks
read a and b twice: 5 passes forward, 8 backward) and by page faults: a
fresh 268 MB tensor costs about 50 ms of them in 4 kB pages (``torch.add``
into a fresh output: 76 ms, into a reused one: 28 ms), and the scan makes
three (h; dL/da and dL/db in backward). So the scan's own outputs ask the
kernel for 2 MB pages (:func:`_empty_output`, madvise(MADV_HUGEPAGE)): with
2 threads 200 ms against 276 ms without, in one process after the same
warm-up. Threads: ATen splits every (B, C, D) op of the chunk phases across
torch's threads. An earlier version ran slices of D in Python threads
instead; their many small ops contend for the GIL (two plain loops in two
threads took 3.5x one loop's time at D = 64) and it measured slower:
24 ms against 12 ms at D = 256, 225 against 218 ms at D = 4096. Chunk
length T: near sqrt(L), 4x that for wide steps (:func:`default_chunk_size`;
T = 256 vs 64 measured 5-10 % faster at D = 4096, T = 512 1.6x slower).
With one thread ``chunk_size=L`` (a plain in-place loop: a and b read once)
was faster than the chunks at D = 4096 (270-330 against 390-450 ms in
separate runs), but its (B, D) ops cannot use a second thread, so the
chunks stay the default everywhere: the result then does not depend on the
thread count (bit-identical, tested). Run-to-run spread on this shared
machine is large (the 2-thread ratio loop / scan ranged 2.8x-3.8x over nine
runs, median 3.1x), so compare ratios from one run only.
"""

from __future__ import annotations

import ctypes
import functools
import math
import sys
from collections.abc import Callable

import torch
from torch import Tensor

from ._validate import check_int, check_reset, check_tensor

__all__ = [
    "associative_combine",
    "zero_where_reset",
    "default_chunk_size",
    "scan",
    "scan_doubling",
    "scan_reference",
]


# ----------------------------------------------------------------------------
# Input checks shared by every scan
# ----------------------------------------------------------------------------


def zero_where_reset(reset: Tensor | None, state: Tensor) -> Tensor:
    """state (B, ...) with the rows of the sequences flagged in reset (B,) zeroed.

    The one-step form of every reset in the package: a trial starts from zero
    memory. ``reset=None`` returns ``state`` unchanged.
    """
    state = check_tensor("state", state, shape_text="(B, ...)")
    if state.ndim == 0:
        raise ValueError("state must have shape (B, ...) with the batch first, got a 0-d tensor")
    reset = check_reset(reset, tuple(state.shape[:1]))
    if reset is not None and reset.device != state.device:
        raise ValueError(f"reset must be on state's device {state.device}, got {reset.device}")
    return _zero_rows(reset, state)


def _zero_rows(reset: Tensor | None, state: Tensor) -> Tensor:
    """:func:`zero_where_reset` on checked inputs (the form the models call every step)."""
    if reset is None:
        return state
    return torch.where(reset.view(-1, *[1] * (state.dim() - 1)), torch.zeros_like(state), state)


def _validated(
    a: Tensor, b: Tensor, h0: Tensor | None, reset: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Check shapes, dtypes and devices; return a, b broadcast to (B, L, D)."""
    a, b = check_tensor("a", a), check_tensor("b", b)
    for name, x in (("a", a), ("b", b)):
        if x.dim() != 3:
            raise ValueError(f"{name} must have shape (B, L, D); got shape {tuple(x.shape)}.")
    if a.dtype != b.dtype or not (a.is_floating_point() or a.is_complex()):
        raise TypeError(
            "a and b must share one floating or complex dtype; "
            f"got a: {a.dtype}, b: {b.dtype}."
        )
    if a.device != b.device:
        raise ValueError(f"a and b must be on one device; got a: {a.device}, b: {b.device}.")
    try:
        batch, length, channels = torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(
            f"a of shape {tuple(a.shape)} and b of shape {tuple(b.shape)} do not broadcast "
            "to a common (B, L, D)."
        ) from None
    if length == 0:
        raise ValueError("a and b must have at least one time step (L >= 1); got L = 0.")
    a, b = torch.broadcast_tensors(a, b)
    if h0 is not None:
        h0 = check_tensor("h0", h0)
        if tuple(h0.shape) != (batch, channels):
            raise ValueError(
                f"h0 must have shape (B, D) = {(batch, channels)}; got {tuple(h0.shape)}."
            )
        if h0.dtype != a.dtype or h0.device != a.device:
            raise TypeError(
                f"h0 must match a and b ({a.dtype} on {a.device}); "
                f"got {h0.dtype} on {h0.device}."
            )
    if reset is not None:
        reset = check_tensor("reset", reset)
        if reset.dtype != torch.bool:
            raise TypeError(f"reset must be a bool tensor; got dtype {reset.dtype}.")
        if reset.dim() != 2 or reset.shape[1] != length or reset.shape[0] not in (1, batch):
            raise ValueError(
                f"reset must have shape (B, L) = {(batch, length)} (or (1, L)); "
                f"got {tuple(reset.shape)}."
            )
        reset = reset.to(a.device)
    return a, b, h0, reset


def _fold_resets(a: Tensor, reset: Tensor | None) -> Tensor:
    """a (B, L, D) with a_t = 0 wherever reset (B, L) is set: h_t = b_t there."""
    if reset is None:
        return a
    return torch.where(reset.unsqueeze(-1), torch.zeros((), dtype=a.dtype, device=a.device), a)


# ----------------------------------------------------------------------------
# The oracle
# ----------------------------------------------------------------------------


def scan_reference(
    a: Tensor, b: Tensor, h0: Tensor | None = None, reset: Tensor | None = None
) -> Tensor:
    """The plain loop ``h_t = a_t * h_{t-1} + b_t`` over t; the oracle for the fast scans.

    Args:
        a: (B, L, D) decays; b: (B, L, D) inputs (broadcastable, see module).
        h0: (B, D) state before step 0; zeros when ``None``.
        reset: (B, L) bool; ``reset[:, t]`` zeroes the state before step t.

    Returns:
        h: (B, L, D), differentiable w.r.t. a, b and h0.
    """
    a, b, h0, reset = _validated(a, b, h0, reset)
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    resets = [None] * a.shape[1] if reset is None else reset.unsqueeze(-1).unbind(1)
    states = []
    # unbind once: indexing a[:, t] in the loop would make backward O(L^2).
    for a_t, b_t, reset_t in zip(a.unbind(1), b.unbind(1), resets, strict=True):
        if reset_t is not None:
            h = torch.where(reset_t, torch.zeros_like(h), h)
        h = a_t * h + b_t
        states.append(h)
    return torch.stack(states, dim=1)


# ----------------------------------------------------------------------------
# The textbook parallel scan
# ----------------------------------------------------------------------------


def associative_combine(
    earlier: tuple[Tensor, Tensor], later: tuple[Tensor, Tensor]
) -> tuple[Tensor, Tensor]:
    """Compose two steps: ``(a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2)``.

    Applying step ``h -> a1 h + b1`` and then ``h -> a2 h + b2`` is the single
    step ``h -> (a2 a1) h + (a2 b1 + b2)``. The operator is associative, which
    is what lets a scan regroup the L steps (Blelloch 1990, Sec. 1.4).
    Shapes: any, broadcast element-wise; one dtype and device for all four.
    """
    steps = [_check_step(name, step) for name, step in (("earlier", earlier), ("later", later))]
    (a1, b1), (a2, b2) = steps
    for name, value in (("earlier[1]", b1), ("later[0]", a2), ("later[1]", b2)):
        if value.dtype != a1.dtype or value.device != a1.device:
            raise TypeError(f"{name} must have the dtype and device of earlier[0] ({a1.dtype} "
                            f"on {a1.device}), got {value.dtype} on {value.device}")
    try:
        torch.broadcast_shapes(a1.shape, b1.shape, a2.shape, b2.shape)
    except RuntimeError:
        raise ValueError(f"earlier and later must broadcast element-wise, got shapes "
                         f"{[tuple(v.shape) for v in (a1, b1, a2, b2)]}") from None
    return _combine(*steps)


def _check_step(name: str, step: object) -> tuple[Tensor, Tensor]:
    """``step`` must be a pair (a, b) of floating or complex tensors."""
    if not isinstance(step, (tuple, list)) or len(step) != 2:
        got = f"a {type(step).__name__}" if not isinstance(step, (tuple, list)) \
            else f"{len(step)} items"
        raise TypeError(f"{name} must be a pair (a, b) of tensors (the step h -> a h + b), "
                        f"got {got}")
    for index, value in enumerate(step):
        check_tensor(f"{name}[{index}]", value)
        if not (value.is_floating_point() or value.is_complex()):
            raise TypeError(f"{name}[{index}] must be a floating or complex tensor, "
                            f"got dtype {value.dtype}")
    return step[0], step[1]


def _combine(
    earlier: tuple[Tensor, Tensor], later: tuple[Tensor, Tensor]
) -> tuple[Tensor, Tensor]:
    """:func:`associative_combine` on checked steps."""
    a1, b1 = earlier
    a2, b2 = later
    return a1 * a2, a2 * b1 + b2


def _shift_later(x: Tensor, offset: int, fill: float) -> Tensor:
    """x (B, L, D) moved ``offset`` steps later in time, the gap filled with ``fill``."""
    gap = torch.full_like(x[:, :offset], fill)
    return torch.cat([gap, x[:, :-offset]], dim=1)


def scan_doubling(
    a: Tensor, b: Tensor, h0: Tensor | None = None, reset: Tensor | None = None
) -> Tensor:
    """Hillis-Steele scan: log2(L) rounds of :func:`associative_combine`.

    After the round with offset k every position t holds the composition of
    steps t-2k+1..t; the gap before t=0 is filled with the identity step
    (1, 0). ``h0`` enters through step 0: ``b_0 <- a_0 h0 + b_0``. Work is
    O(L log L), so on a CPU this is slower than the loop (see module
    docstring); it is here to show the idea. Shapes as :func:`scan_reference`.
    """
    a, b, h0, reset = _validated(a, b, h0, reset)
    a = _fold_resets(a, reset)
    if h0 is not None:
        b = torch.cat([(a[:, :1] * h0.unsqueeze(1) + b[:, :1]), b[:, 1:]], dim=1)
    offset = 1
    while offset < a.shape[1]:
        earlier = (_shift_later(a, offset, 1.0), _shift_later(b, offset, 0.0))
        a, b = _combine(earlier, (a, b))
        offset *= 2
    return b


# ----------------------------------------------------------------------------
# The fast scan: chunked forward, adjoint-recurrence backward
# ----------------------------------------------------------------------------


_WIDE_STEP = 1 << 14  # B * D from which default_chunk_size picks longer chunks


def default_chunk_size(length: int, width: int = 1) -> int:
    """Chunk length T for :func:`scan` on L = ``length`` steps of ``width`` = B * D numbers each.

    Phases 1 and 3 take T steps each and phase 2 takes L / T, so T near
    sqrt(L) minimises the number of Python-level steps: the power of two
    nearest sqrt(L). Wide steps (``width`` >= 16384, e.g. B = 4, D = 4096)
    get 4 T: every phase step then works on a (B, L / T, D) slice a quarter
    the size, which measured 5-10 % faster there (``benchmarks/bench_ssm.py``:
    L = 4096, D = 4096, forward+backward, T = 256 vs 64; T = 512 was 1.6x
    slower than both). Clipped to [16, 256].
    """
    length = check_int("length", length, hint="time steps L")
    width = check_int("width", width, hint="numbers per time step, B * D")
    exponent = round(math.log2(length) / 2) + (2 if width >= _WIDE_STEP else 0)
    return int(min(max(2**exponent, 16), 256))


def _time_steps(length: int, reverse: bool) -> range:
    """Indices 0..length-1 in the order the recurrence visits them."""
    return range(length - 1, -1, -1) if reverse else range(length)


def _recur(a: Tensor, b: Tensor, start: Tensor, out: Tensor, reverse: bool) -> Tensor:
    """Run ``h_t = a_t h_{t-1} + b_t`` along dim -2 of a, b (..., T, D) from ``start`` (..., D).

    With ``reverse`` the recurrence runs from the last step to the first
    (``h_t = a_t h_{t+1} + b_t``). Writes every h_t into ``out`` (..., T, D)
    and returns the last state. No autograd (callers run under no_grad).
    """
    state = start
    for t in _time_steps(a.shape[-2], reverse):
        state = torch.addcmul(b.select(-2, t), a.select(-2, t), state, out=out.select(-2, t))
    return state


def _chunk_summaries(a_chunks: Tensor, b_chunks: Tensor, reverse: bool) -> tuple[Tensor, Tensor]:
    """Phase 1: each chunk of a, b (B, C, T, D) as one step (A, H), both (B, C, D).

    A is the product of the chunk's decays; H the chunk's end state started
    from zero; so ``h_end = A h_start + H`` for any start state.
    """
    steps = _time_steps(a_chunks.shape[-2], reverse)
    decay = a_chunks.select(-2, steps[0]).clone()
    end_state = b_chunks.select(-2, steps[0]).clone()
    for t in steps[1:]:
        a_t = a_chunks.select(-2, t)
        torch.addcmul(b_chunks.select(-2, t), a_t, end_state, out=end_state)
        decay.mul_(a_t)  # in the same pass as a_t is hot in cache; measured faster than prod()
    return decay, end_state


def _chunk_start_states(
    decay: Tensor, end_state: Tensor, h0: Tensor, reverse: bool
) -> tuple[Tensor, Tensor]:
    """Phase 2: carry the true state across the C chunks, one step per chunk.

    decay, end_state: (B, C, D) from :func:`_chunk_summaries`; h0: (B, D).
    Returns each chunk's start state (B, C, D) and the state after the last chunk.
    """
    starts = torch.empty_like(end_state)
    state = h0
    for c in _time_steps(decay.shape[1], reverse):
        starts[:, c] = state
        state = torch.addcmul(end_state[:, c], decay[:, c], state)
    return starts, state


# ----------------------------------------------------------------------------
# Output buffers backed by transparent huge pages
# ----------------------------------------------------------------------------

# A fresh (B, L, D) tensor of hundreds of MB is mapped by the kernel in 4 kB
# pages on first touch; at L = 4096, D = 4096 those page faults cost as much
# as the scan itself (module docstring). Advising the kernel to back the range with 2 MB pages
# (madvise(MADV_HUGEPAGE), honoured when transparent huge pages are in
# "madvise" or "always" mode) makes 512 times fewer faults. It is the same
# thing ``THP_MEM_ALLOC_ENABLE=1`` does for every PyTorch tensor, here only for
# the scan's own large outputs. Elsewhere (other systems, small tensors) it is
# a plain ``torch.empty``.
_HUGE_PAGE = 2 << 20
_HUGE_PAGE_MIN_BYTES = 8 * _HUGE_PAGE
_MADV_HUGEPAGE = 14  # <sys/mman.h> on Linux


@functools.cache
def _madvise() -> Callable[[int, int, int], int] | None:
    """libc's madvise(address, length, advice), or None where there is none."""
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return madvise


def _madvise_huge(pointer: int, nbytes: int) -> None:
    """Ask for huge pages on the 2 MB-aligned part of [pointer, pointer + nbytes)."""
    madvise = _madvise()
    start = -(-pointer // _HUGE_PAGE) * _HUGE_PAGE
    end = (pointer + nbytes) // _HUGE_PAGE * _HUGE_PAGE
    if madvise is not None and end > start:
        madvise(start, end - start, _MADV_HUGEPAGE)  # advice only: a refusal changes nothing


def _empty_output(like: Tensor) -> Tensor:
    """``torch.empty_like(like)`` (contiguous), on huge pages when large, on Linux, on the CPU."""
    out = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    nbytes = out.numel() * out.element_size()
    if sys.platform.startswith("linux") and out.device.type == "cpu" and (
        nbytes >= _HUGE_PAGE_MIN_BYTES
    ):
        _madvise_huge(out.data_ptr(), nbytes)
    return out


def _scan_chunked_into(
    out: Tensor, a: Tensor, b: Tensor, h0: Tensor, chunk_size: int, reverse: bool
) -> None:
    """Write h (B, L, D) of the recurrence on a, b (B, L, D) from h0 (B, D) into ``out``.

    The first C * T steps go through the three chunk phases; the last
    L mod T steps (the tail) run as a plain loop. ``reverse`` runs time
    backwards (h_t = a_t h_{t+1} + b_t, h0 after the last step), which is
    what the backward pass needs. No autograd (callers run under no_grad).
    With several torch threads, ATen splits each (B, C, D) op across them.
    """
    length = a.shape[1]
    n_chunks = length // chunk_size
    body = n_chunks * chunk_size if n_chunks >= 2 else 0
    a_tail, b_tail, out_tail = a[:, body:], b[:, body:], out[:, body:]
    state = h0
    if reverse:
        state = _recur(a_tail, b_tail, state, out_tail, reverse=True)
    if body:
        a_chunks, b_chunks, out_chunks = (
            x[:, :body].unflatten(1, (n_chunks, chunk_size)) for x in (a, b, out)
        )
        decay, end_state = _chunk_summaries(a_chunks, b_chunks, reverse)
        starts, state = _chunk_start_states(decay, end_state, state, reverse)
        _recur(a_chunks, b_chunks, starts, out_chunks, reverse)
    if not reverse:
        _recur(a_tail, b_tail, state, out_tail, reverse=False)


def _step_links(reverse: bool) -> tuple[slice, slice, int, int]:
    """How steps feed each other in time order (forward or reverse).

    Returns (consumers, producers, first, last): step ``consumers[i]``
    multiplies the state made at step ``producers[i]``; step ``first``
    multiplies h0 and step ``last`` makes the final state.
    """
    if reverse:
        return slice(None, -1), slice(1, None), -1, 0
    return slice(1, None), slice(None, -1), 0, -1


class _ChunkedScan(torch.autograd.Function):
    """Chunked forward; backward is the adjoint recurrence, itself a chunked scan.

    For h_t = a_t h_{t-1} + b_t and upstream gradient G_t = dLoss/dh_t:
    g_t = G_t + conj(a_{t+1}) g_{t+1} (a scan backwards in time, g_{L-1} =
    G_{L-1}), then dLoss/db_t = g_t, dLoss/da_t = g_t conj(h_{t-1}),
    dLoss/dh0 = conj(a_0) g_0 (PyTorch's conjugate convention for complex
    gradients). With ``create_graph`` the same equations run through
    differentiable ops, so double backward (second-order MAML) works;
    otherwise they write into preallocated buffers, because at large B L D
    every fresh tensor costs page faults comparable to the scan itself.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor, chunk_size: int, reverse: bool) -> Tensor:
        h = _empty_output(b)
        _scan_chunked_into(h, a, b, h0, chunk_size, reverse)
        ctx.save_for_backward(a, h0, h)
        ctx.chunk_size, ctx.reverse = chunk_size, reverse
        return h

    @staticmethod
    def backward(ctx, grad_h: Tensor):
        a, h0, h = ctx.saved_tensors
        if h.shape[1] == 0:  # an empty scan (the adjoint of a one-step scan, in double backward)
            return torch.zeros_like(a), torch.zeros_like(grad_h), torch.zeros_like(h0), None, None
        if torch.is_grad_enabled():
            g, grad_a = _adjoint_differentiable(a, h0, h, grad_h, ctx.chunk_size, ctx.reverse)
        else:
            g, grad_a = _adjoint_in_buffers(a, h0, h, grad_h, ctx.chunk_size, ctx.reverse)
        first = _step_links(ctx.reverse)[2]
        grad_h0 = a[:, first].conj() * g[:, first] if ctx.needs_input_grad[2] else None
        return (grad_a if ctx.needs_input_grad[0] else None), g, grad_h0, None, None


def _adjoint_in_buffers(
    a: Tensor, h0: Tensor, h: Tensor, grad_h: Tensor, chunk_size: int, reverse: bool
) -> tuple[Tensor, Tensor]:
    """(g, dLoss/da), both (B, L, D), of :class:`_ChunkedScan`, written in place."""
    consumers, producers, first, last = _step_links(reverse)
    g = _empty_output(h)
    g[:, last] = grad_h[:, last]
    adjoint_decays = a[:, consumers].conj()
    _scan_chunked_into(
        g[:, producers], adjoint_decays, grad_h[:, producers], g[:, last], chunk_size, not reverse
    )
    grad_a = _empty_output(h)
    torch.mul(g[:, consumers], h[:, producers].conj(), out=grad_a[:, consumers])
    torch.mul(g[:, first], h0.conj(), out=grad_a[:, first])
    return g, grad_a


def _adjoint_differentiable(
    a: Tensor, h0: Tensor, h: Tensor, grad_h: Tensor, chunk_size: int, reverse: bool
) -> tuple[Tensor, Tensor]:
    """Same as :func:`_adjoint_in_buffers`, through ops autograd can differentiate."""
    consumers, producers, _, last = _step_links(reverse)
    g_producers = _ChunkedScan.apply(
        a[:, consumers].conj(), grad_h[:, producers], grad_h[:, last], chunk_size, not reverse
    )
    g_last, h0_step = grad_h[:, last].unsqueeze(1), h0.unsqueeze(1)
    if reverse:
        g = torch.cat([g_last, g_producers], dim=1)
        previous_states = torch.cat([h[:, 1:], h0_step], dim=1)
    else:
        g = torch.cat([g_producers, g_last], dim=1)
        previous_states = torch.cat([h0_step, h[:, :-1]], dim=1)
    return g, g * previous_states.conj()


def scan(
    a: Tensor,
    b: Tensor,
    h0: Tensor | None = None,
    reset: Tensor | None = None,
    chunk_size: int | None = None,
) -> Tensor:
    """Fast ``h_t = a_t * h_{t-1} + b_t``; equal to :func:`scan_reference` in values and gradients.

    Two-level chunked scan (module docstring: algorithm and measurements);
    the gradient is the adjoint recurrence run backwards in time.

    Args:
        a: (B, L, D) decays; b: (B, L, D) inputs (broadcastable, see module).
        h0: (B, D) state before step 0; zeros when ``None``.
        reset: (B, L) bool; ``reset[:, t]`` zeroes the state before step t.
        chunk_size: chunk length T; ``None`` picks :func:`default_chunk_size`.

    Returns:
        h: (B, L, D), differentiable (twice) w.r.t. a, b and h0.
    """
    a, b, h0, reset = _validated(a, b, h0, reset)
    if chunk_size is None:
        chunk_size = default_chunk_size(a.shape[1], a.shape[0] * a.shape[2])
    chunk_size = check_int("chunk_size", chunk_size)
    a = _fold_resets(a, reset)
    if h0 is None:
        h0 = torch.zeros_like(b[:, 0])
    return _ChunkedScan.apply(a, b, h0, chunk_size, False)
