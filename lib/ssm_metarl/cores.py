"""Sequence cores with memory: one interface, five recurrences (the memory of an RL^2 policy).

Dimension letters used in shapes:

====  =====================================================================
B     batch: parallel sequences (trials)
L     time steps of a sequence
H     width of the core, input = output (the policy's ``hidden_dim``)
N     state size: per channel (selective, S4D), per head (SSD), in all (linear)
K     heads of :class:`SSDCore` (each with one scalar decay per step)
P     channels per head of :class:`SSDCore`, P = H / K
====  =====================================================================

Every core is an ``nn.Module`` with the same three methods:

- ``init_state(batch)``: the zero state, one tensor with the batch first;
- ``step(u_t (B, H), state, reset (B,) | None) -> (y_t (B, H), state)``, for acting;
- ``forward(u (B, L, H), state, reset (B, L) | None) -> (y (B, L, H), final state)``,
  for training on whole sequences;

and a loop of ``step`` equals one ``forward`` (float64: to about 1e-12).
``reset`` flags the steps that start a new trial: the carried state is zeroed
*before* them (``h_{t-1} := 0``), so nothing from an earlier trial, not even
the state handed in, reaches a later output. ``state=None`` means zeros.
The cores here also carry ``hidden_dim`` (H) and ``state_shape`` (one
sequence's state shape, the batch left out); a core of one's own needs only
the three methods (and, if it has one, the right ``hidden_dim``).

The cores (state shape of one sequence in brackets):

- :class:`SelectiveCore`, Mamba-1 [H, N]: h_t = exp(dt_t A) h_{t-1} + (dt_t u_t) B_t^T,
  diagonal A (H, N), dt_t (H,), B_t and C_t (N,) computed from u_t.
- :class:`SSDCore`, Mamba-2 [K, P, N]: the same with one scalar decay
  exp(-A_k dt_{t,k}) per head k and step, run by the chunked SSD algorithm.
- :class:`S4DCore`, S4D [H, N/2] complex or [H, N] real: x_t = A_bar x_{t-1} + B_bar u_t
  per channel, time-invariant (A_bar does not depend on the input).
- :class:`LinearCore`, a dense LTI SSM [N]: one N-vector mixing all H channels
  (:class:`~ssm_metarl.ssm.LinearSSM`).
- :class:`GRUCore`, ``nn.GRU`` [H] (Cho et al. 2014), the memory of RL^2's paper.

:func:`make_core` builds one by name (``CORE_NAMES``) or checks an instance.
References: Gu & Dao 2023 (Mamba, arXiv 2312.00752), Dao & Gu 2024 (Mamba-2,
arXiv 2405.21060), Gu et al. 2022 (S4D, arXiv 2206.11893), Duan et al. 2016
(RL^2, arXiv 1611.02779).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import (
    check_device,
    check_dtype,
    check_finite,
    check_int,
    check_like,
    check_reset,
    check_tensor,
)
from .scan import _zero_rows, scan
from .ssd import ssd, ssd_step
from .ssm import (  # _zoh, _zoh_decay: the unchecked bodies, for the per-forward hot path
    S4D_INITS,
    LinearSSM,
    _zoh,
    _zoh_decay,
    check_dt_range,
    init_dt_bias,
    s4d_init,
)

__all__ = [
    "CORE_NAMES",
    "DT_RANGE_CORES",
    "GRUCore",
    "LinearCore",
    "S4DCore",
    "SSDCore",
    "SelectiveCore",
    "make_core",
]

CORE_NAMES = ("selective", "ssd", "s4d", "linear", "gru")
DT_RANGE_CORES = ("selective", "ssd", "s4d")  # the cores that take dt_min, dt_max


# ----------------------------------------------------------------------------- checks


def _checked(core: nn.Module, u: Any, state: Any, reset: Any, sequence: bool):
    """The public boundary of every core: u (B, [L,] H), state or None (zeros), reset."""
    name, text = ("u", "(B, L, H)") if sequence else ("u_t", "(B, H)")
    u = check_tensor(name, u, 3 if sequence else 2, text)
    if u.shape[-1] != core.hidden_dim or 0 in u.shape:
        raise ValueError(f"{name} must be a non-empty floating tensor of shape {text} with "
                         f"H = {core.hidden_dim}, got {u.dtype} {tuple(u.shape)}")
    u = check_finite(name, check_like(name, u, next(core.parameters())))
    reset = check_reset(reset, tuple(u.shape[: 2 if sequence else 1]))
    if state is None:
        return u, core.init_state(u.shape[0]), reset
    expected = (u.shape[0], *core.state_shape)
    if not isinstance(state, torch.Tensor) or tuple(state.shape) != expected:
        got = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
        raise ValueError(f"state must be a tensor of shape {expected} (init_state), got {got}")
    dtype = u.dtype.to_complex() if getattr(core, "is_complex", False) else u.dtype
    if state.dtype != dtype or state.device != u.device:
        raise TypeError(f"state must have the dtype of init_state, {dtype} on {u.device}, "
                        f"got {state.dtype} on {state.device}")
    return u, state, reset


def _factory(factory: dict[str, Any]) -> dict[str, Any]:
    """The ``dtype``/``device`` options of a core's layers, checked (nothing else is taken)."""
    unknown = sorted(set(factory) - {"dtype", "device"})
    if unknown:
        raise TypeError(f"unexpected options {unknown}; a core takes dtype and device here")
    if "dtype" in factory:
        check_dtype("dtype", factory["dtype"])
    check_device("device", factory.get("device"))
    return factory


def _check_trailing(name: str, value: Any, trailing: tuple[int, ...], text: str,
                    like: torch.Tensor) -> torch.Tensor:
    """``value``: a tensor of ``like``'s dtype and device whose last dims are ``trailing``."""
    value = check_like(name, value, like)
    if value.ndim < len(trailing) or tuple(value.shape[value.ndim - len(trailing):]) != trailing:
        raise ValueError(f"{name} must have shape {text} = (..., "
                         f"{', '.join(map(str, trailing))}), got {tuple(value.shape)}")
    return value


def _check_leading(names: str, *values: torch.Tensor, drop: tuple[int, ...]) -> None:
    """The leading dims of ``values`` (each without its last ``drop`` dims) must broadcast."""
    shapes = [tuple(v.shape[:v.ndim - k]) for v, k in zip(values, drop, strict=True)]
    try:
        torch.broadcast_shapes(*shapes)
    except RuntimeError:
        raise ValueError(f"{names} must share their leading dims (...), got "
                         f"{', '.join(map(str, shapes))}") from None


def _only_at_start(state: torch.Tensor, reset: torch.Tensor | None):
    """Resets only at step 0 (one trial per sequence): zero those h0 rows and drop ``reset``.

    The same numbers, and it spares the scan (or SSD) a pass over a (B, L, ...)
    tensor to fold the resets in.
    """
    if reset is not None and not reset[:, 1:].any():
        return _zero_rows(reset[:, 0], state), None
    return state, reset


# ----------------------------------------------------------------------------- Mamba-1


class SelectiveCore(nn.Module):
    """Selective diagonal SSM with resets (Mamba-1's recurrence, Gu & Dao 2023, Sec. 3.2).

    ``h_t = exp(dt_t A) * h_{t-1} + (dt_t u_t) outer B_t``, ``y_t = h_t C_t + D u_t``
    with ``dt_t = softplus(W_dt u_t + b_dt)`` (H,), ``B_t = W_B u_t``, ``C_t = W_C u_t``
    (N,) and ``A = -exp(A_log)`` (H, N) initialised to ``-(1..N)`` (S4D-real);
    softplus(b_dt) starts log-uniform in [dt_min, dt_max] (Gu & Dao 2023, Sec. 3.6).
    :meth:`step` and :meth:`forward` evaluate the same formulas; ``forward`` runs
    the recurrence with :func:`ssm_metarl.scan.scan` and its ``reset`` flags.

    Cost per step O(H N). ``forward`` walks the sequence in pieces of
    ``time_chunk`` steps (default 25), carrying the state from piece to piece,
    so that a piece's (B, T, H, N) decays, inputs and states stay in the CPU's
    cache; one pass over whole (B, L, H, N) tensors is memory-bound and was
    slower than the step loop. Measured at B = 64, H = 64, N = 16, one thread
    (``benchmarks/bench_rl.py``): T = 16 to 25 was fastest at L = 100 and 500,
    8 and 50 to 100 slower. The pieces change only the rounding (about 1e-7
    in float32). This is the memory of every stored RL^2 result: parameters
    and their creation order are fixed
    (``ssm_metarl.policies.SelectiveDiagonalSSM`` is the same class).
    """

    time_chunk: int = 25

    def __init__(
        self,
        hidden_dim: int,
        state_dim: int = 16,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        **factory: Any,
    ) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim = check_int("hidden_dim", hidden_dim)
        self.state_dim = state_dim = check_int("ssm_state_dim", state_dim)
        check_dt_range(dt_min, dt_max)
        factory = _factory(factory)
        self.state_shape = (hidden_dim, state_dim)
        self.dt_proj = nn.Linear(hidden_dim, hidden_dim, **factory)
        self.B_proj = nn.Linear(hidden_dim, state_dim, bias=False, **factory)
        self.C_proj = nn.Linear(hidden_dim, state_dim, bias=False, **factory)
        A = torch.arange(1, state_dim + 1, **factory).repeat(hidden_dim, 1)
        self.A_log = nn.Parameter(torch.log(A))  # (H, N)
        self.D = nn.Parameter(torch.ones(hidden_dim, **factory))
        self._init_dt(dt_min, dt_max)

    def _init_dt(self, dt_min: float, dt_max: float) -> None:
        """softplus(b_dt) log-uniform in [dt_min, dt_max]; small W_dt so dt starts there."""
        with torch.no_grad():
            self.dt_proj.weight.mul_(0.1)
        init_dt_bias(self.dt_proj.bias, dt_min, dt_max)

    def coefficients(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """u (..., H) -> decay a (..., H, N), input b (..., H, N), readout C (..., N)."""
        return self._coefficients(_check_trailing("u", u, (self.hidden_dim,), "(..., H)",
                                                  self.A_log))

    def _coefficients(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dt = F.softplus(self.dt_proj(u))
        a = _zoh_decay(dt, self.A_log)
        # B_bar u = dt u B (Euler), as in ssm.selective_discretize; spelled out so that
        # B_proj runs after dt * u, the autograd order every stored RL^2 run was trained in.
        b = (dt * u).unsqueeze(-1) * self.B_proj(u).unsqueeze(-2)
        return a, b, self.C_proj(u)

    def readout(self, h: torch.Tensor, C: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """y = h C + D u: h (..., H, N), C (..., N), u (..., H) -> (..., H)."""
        h = _check_trailing("h", h, self.state_shape, "(..., H, N)", self.A_log)
        C = _check_trailing("C", C, (self.state_dim,), "(..., N)", self.A_log)
        u = _check_trailing("u", u, (self.hidden_dim,), "(..., H)", self.A_log)
        _check_leading("h, C and u", h, C, u, drop=(2, 1, 1))
        return self._readout(h, C, u)

    def _readout(self, h: torch.Tensor, C: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        # a batched mat-vec; (h * C).sum(-1) would write a temporary as large as h
        return torch.matmul(h, C.unsqueeze(-1)).squeeze(-1) + self.D * u

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero state h (B, H, N)."""
        return self.A_log.new_zeros(check_int("batch_size", batch_size),
                                    self.hidden_dim, self.state_dim)

    initial_state = init_state  # the name used before the package settled on init_state

    def step(self, u_t: torch.Tensor, h: torch.Tensor | None = None,
             reset: torch.Tensor | None = None):
        """One step: u_t (B, H), h (B, H, N), reset (B,) -> (y_t (B, H), h_t (B, H, N))."""
        u_t, h, reset = _checked(self, u_t, h, reset, sequence=False)
        a, b, C = self._coefficients(u_t)
        h = a * _zero_rows(reset, h) + b
        return self._readout(h, C, u_t), h

    def forward(self, u: torch.Tensor, h0: torch.Tensor | None = None,
                reset: torch.Tensor | None = None):
        """Sequence: u (B, L, H), h0 (B, H, N), reset (B, L) -> (y (B, L, H), h_L (B, H, N))."""
        u, h0, reset = _checked(self, u, h0, reset, sequence=True)
        h, pieces = h0, []
        h, reset = _only_at_start(h, reset)
        for start in range(0, u.shape[1], self.time_chunk):
            u_piece = u[:, start:start + self.time_chunk]  # (B, T, H)
            a, b, C = self._coefficients(u_piece)  # (B, T, H, N) each: a few MB, in cache
            piece_reset = None if reset is None else reset[:, start:start + self.time_chunk]
            states = scan(a.flatten(2), b.flatten(2), h0=h.flatten(1), reset=piece_reset)
            states = states.view(*u_piece.shape[:2], self.hidden_dim, self.state_dim)
            pieces.append(self._readout(states, C, u_piece))
            h = states[:, -1]
        return torch.cat(pieces, dim=1), h


# ----------------------------------------------------------------------------- Mamba-2


class SSDCore(nn.Module):
    """Mamba-2's SSM: one scalar decay per head and step (Dao & Gu 2024, Sec. 5.1 and 6).

    Per step, from u_t (H,) split into K heads of P = H / K channels::

        dt_t = softplus(W_dt u_t + b_dt)      (K,)   one step size per head
        log a_t = -exp(A_log) * dt_t          (K,)   one scalar A = -exp(A_log) per head
        x_t = dt_t * u_t                      (K, P) the dt-scaled input (Euler B_bar)
        B_t = W_B u_t,  C_t = W_C u_t         (N,)   shared by all heads (G = 1)
        h_t = a_t h_{t-1} + x_t B_t^T         (K, P, N)
        y_t = h_t C_t + D * u_t               (H,)   heads flattened back

    ``forward`` runs :func:`ssm_metarl.ssd.ssd` (the chunked algorithm, chunks of
    ``chunk_size`` steps), ``step`` runs :func:`ssm_metarl.ssd.ssd_step`; they agree
    to rounding. Init as Mamba-2: A_k uniform in [1, 16], softplus(b_dt)
    log-uniform in [dt_min, dt_max] (:func:`ssm_metarl.ssm.init_dt_bias`), W_dt
    scaled by 0.1 as in :class:`SelectiveCore`, D = 1.

    Cost: per step O(H N), the selective core's; ``forward`` never builds a
    (B, L, H, N) tensor: its largest are the (B, K, L/Q, Q, Q) masks and
    (B, L/Q, K, P, N) chunk states, O(B L (K Q + H N / Q)). ``chunk_size`` Q = 25,
    measured at B = 64, H = 64, N = 16, K = 1, one CPU thread (the sizes of
    ``benchmarks/bench_rl.py``): forward+backward at L = 100 took 12 ms for
    Q = 20-25, 14-17 ms for Q = 16, 32, 50 and 21 ms for Q = 8 or 64 (which pads
    100 steps to 128); at L = 500 Q = 20-50 were within 10 % (63-67 ms), Q = 16
    and 100 slower. Q = 25 divides both lengths (no padding), and a sequence
    shorter than Q (a bandit trial) is one chunk, i.e. the quadratic form.
    """

    def __init__(
        self,
        hidden_dim: int,
        state_dim: int = 16,
        heads: int = 1,
        chunk_size: int = 25,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        **factory: Any,
    ) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim = check_int("hidden_dim", hidden_dim)
        self.state_dim = state_dim = check_int("ssm_state_dim", state_dim)
        self.heads = heads = check_int("heads", heads)
        self.chunk_size = check_int("chunk_size", chunk_size, hint="chunk length Q")
        if hidden_dim % heads:
            raise ValueError(f"heads={heads} must divide hidden_dim={hidden_dim}")
        check_dt_range(dt_min, dt_max)
        factory = _factory(factory)
        self.head_dim = hidden_dim // heads
        self.state_shape = (heads, self.head_dim, state_dim)
        self.dt_proj = nn.Linear(hidden_dim, heads, **factory)
        self.B_proj = nn.Linear(hidden_dim, state_dim, bias=False, **factory)
        self.C_proj = nn.Linear(hidden_dim, state_dim, bias=False, **factory)
        self.A_log = nn.Parameter(torch.empty(heads, **factory).uniform_(1, 16).log())  # (K,)
        self.D = nn.Parameter(torch.ones(hidden_dim, **factory))
        with torch.no_grad():
            self.dt_proj.weight.mul_(0.1)
        init_dt_bias(self.dt_proj.bias, dt_min, dt_max)

    def coefficients(self, u: torch.Tensor):
        """u (..., H) -> x (..., K, P), log_a (..., K), B and C (..., 1, N) (G = 1 group)."""
        return self._coefficients(_check_trailing("u", u, (self.hidden_dim,), "(..., H)",
                                                  self.A_log))

    def _coefficients(self, u: torch.Tensor):
        dt = F.softplus(self.dt_proj(u))                               # (..., K)
        x = u.unflatten(-1, (self.heads, self.head_dim)) * dt.unsqueeze(-1)
        log_a = -torch.exp(self.A_log) * dt
        return x, log_a, self.B_proj(u).unsqueeze(-2), self.C_proj(u).unsqueeze(-2)

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero state h (B, K, P, N)."""
        return self.A_log.new_zeros(check_int("batch_size", batch_size), *self.state_shape)

    def step(self, u_t: torch.Tensor, h: torch.Tensor | None = None,
             reset: torch.Tensor | None = None):
        """One step: u_t (B, H), h (B, K, P, N), reset (B,) -> (y_t (B, H), h_t)."""
        u_t, h, reset = _checked(self, u_t, h, reset, sequence=False)
        y, h = ssd_step(*self._coefficients(u_t), h, reset)
        return y.flatten(-2) + self.D * u_t, h

    def forward(self, u: torch.Tensor, h0: torch.Tensor | None = None,
                reset: torch.Tensor | None = None):
        """Sequence: u (B, L, H), h0 (B, K, P, N), reset (B, L) -> (y (B, L, H), h_L)."""
        u, h0, reset = _checked(self, u, h0, reset, sequence=True)
        h0, reset = _only_at_start(h0, reset)
        y, h = ssd(*self._coefficients(u), state=h0, reset=reset, chunk_size=self.chunk_size)
        return y.flatten(-2) + self.D * u, h


# ----------------------------------------------------------------------------- S4D


class S4DCore(nn.Module):
    """S4D with resets: an LTI diagonal SSM per channel (Gu et al. 2022, Sec. 3-4).

    Per channel h: ``x_t = A_bar x_{t-1} + B_bar u_t``, ``y_t = Re(C x_t) + D u_t``
    with ``A = -exp(log_A_real) + i A_imag`` from :func:`ssm_metarl.ssm.s4d_init`
    (``init`` "lin", "inv": N/2 complex modes, their conjugates implied and the
    factor 2 of ``2 Re`` folded into C; "real": N real modes A_n = -(n+1)), B = 1,
    dt = exp(log_dt) log-uniform in [dt_min, dt_max], ZOH
    (:func:`ssm_metarl.ssm.discretize_zoh`), C ~ N(0, 1) (complex for "lin"/"inv"),
    D = 1. Time-invariant: A_bar and B_bar do not depend on the input.

    ``forward`` runs :func:`ssm_metarl.scan.scan` with ``reset=`` (decays
    (1, 1, H N) broadcast over B and L). S4D's convolution path (one FFT,
    :class:`~ssm_metarl.ssm.S4DLayer`'s ``mode="conv"``) cannot reset: a
    kernel is one impulse response from t = 0, so a trial starting mid-sequence
    would need one convolution per trial. Cost per step O(H N); ``forward``
    materialises (B, L, H N/2) complex (or (B, L, H N) real) inputs and states.
    """

    def __init__(
        self,
        hidden_dim: int,
        state_dim: int = 16,
        init: str = "lin",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim = check_int("hidden_dim", hidden_dim)
        self.state_dim = state_dim = check_int("ssm_state_dim", state_dim)
        check_dt_range(dt_min, dt_max)
        _factory({"dtype": dtype, "device": device})
        if init not in S4D_INITS:
            raise ValueError(f"init must be one of {', '.join(S4D_INITS)}, got {init!r}")
        self.is_complex = init != "real"
        if self.is_complex and state_dim % 2:
            raise ValueError(f"ssm_state_dim must be even for S4D init {init!r} (N/2 complex "
                             f"modes and their conjugates), got {state_dim}")
        modes = state_dim // 2 if self.is_complex else state_dim
        self.state_shape = (hidden_dim, modes)
        factory = {"dtype": dtype, "device": device}
        A = s4d_init(state_dim, init, dtype=torch.complex128)[:modes].repeat(hidden_dim, 1)
        log_dt = torch.rand(hidden_dim, **factory) * math.log(dt_max / dt_min) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)                              # (H,)
        self.log_A_real = nn.Parameter(torch.log(-A.real).to(**factory))  # (H, N/2) or (H, N)
        if self.is_complex:
            self.A_imag = nn.Parameter(A.imag.to(**factory))
            C = torch.view_as_real(torch.randn(hidden_dim, modes, dtype=torch.complex128))
        else:
            C = torch.randn(hidden_dim, modes, dtype=torch.float64)
        self.C = nn.Parameter(C.to(**factory))  # complex C stored as (H, N/2, 2) reals
        self.D = nn.Parameter(torch.ones(hidden_dim, **factory))

    def discretized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """ZOH (A_bar, B_bar), each (H, N/2) complex or (H, N) real, for B = 1."""
        A = -torch.exp(self.log_A_real)
        if self.is_complex:
            A = torch.complex(A, self.A_imag)
        dt = torch.exp(self.log_dt)[:, None]
        A_bar, B_bar = _zoh(A, torch.ones_like(A).unsqueeze(-1), dt, True)
        return A_bar, B_bar.squeeze(-1)

    def readout(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """y = Re(C x) + D u: x (..., H, modes), u (..., H) -> (..., H)."""
        x = _check_trailing("x", x, self.state_shape, "(..., H, modes)", self.init_state(1))
        u = _check_trailing("u", u, (self.hidden_dim,), "(..., H)", self.log_dt)
        _check_leading("x and u", x, u, drop=(2, 1))
        return self._readout(x, u)

    def _readout(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        C = torch.view_as_complex(self.C) if self.is_complex else self.C
        return (x * C).sum(-1).real + self.D * u

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero state x (B, H, N/2) complex, or (B, H, N) real for init "real"."""
        dtype = self.log_dt.dtype.to_complex() if self.is_complex else self.log_dt.dtype
        return torch.zeros(check_int("batch_size", batch_size), *self.state_shape,
                           dtype=dtype, device=self.log_dt.device)

    def step(self, u_t: torch.Tensor, x: torch.Tensor | None = None,
             reset: torch.Tensor | None = None):
        """One step: u_t (B, H), x (B, H, modes), reset (B,) -> (y_t (B, H), x_t)."""
        u_t, x, reset = _checked(self, u_t, x, reset, sequence=False)
        A_bar, B_bar = self.discretized()
        x = A_bar * _zero_rows(reset, x) + B_bar * u_t.unsqueeze(-1)
        return self._readout(x, u_t), x

    def forward(self, u: torch.Tensor, x0: torch.Tensor | None = None,
                reset: torch.Tensor | None = None):
        """Sequence: u (B, L, H), x0 (B, H, modes), reset (B, L) -> (y (B, L, H), x_L)."""
        u, x0, reset = _checked(self, u, x0, reset, sequence=True)
        x0, reset = _only_at_start(x0, reset)
        A_bar, B_bar = self.discretized()
        b = (B_bar * u.unsqueeze(-1)).flatten(2)                         # (B, L, H * modes)
        x = scan(A_bar.reshape(1, 1, -1), b, h0=x0.flatten(1), reset=reset)
        x = x.view(*u.shape, -1)                                         # (B, L, H, modes)
        return self._readout(x, u), x[:, -1]


# ----------------------------------------------------------------------------- dense LTI


class LinearCore(nn.Module):
    """A dense LTI SSM with resets: :class:`~ssm_metarl.ssm.LinearSSM` with P = Q = H.

    ``x_t = A_bar x_{t-1} + B_bar u_t``, ``y_t = C x_t + D u_t`` with one state
    x (N,) that mixes all H channels, A (N, N), B (N, H), C (H, N), D (H, H)
    learnable in continuous time and discretized with the fixed step ``dt`` and
    ``method`` (ZOH by default); ``init`` "random" (a random stable A), "hippo"
    or "diag", as LinearSSM. The parameters live in ``self.linear``.

    ``step`` zeroes the flagged states and calls ``LinearSSM.step``.
    LinearSSM's own ``forward`` has no resets (and its loop indexes u[:, t],
    which makes backward O(L^2)), so ``forward`` here discretizes once,
    computes B_bar u for all steps in one matmul, runs the dense recurrence as
    a Python loop of L (B, N) x (N, N) products with the resets applied in it,
    and reads out C x + D u in one matmul. No scan: a dense A does not split
    into scalar recurrences. Cost O(L (B N^2 + B N H)) work in L small ops,
    cheap for a policy's small N (the loop touches only (B, N)); each ``step``
    also pays one discretization (a matrix exponential of size N + H for
    ZOH, and its backward), which makes the step loop the slowest of the
    cores in ``benchmarks/bench_rl.py`` while this ``forward`` is among the fastest.
    """

    def __init__(
        self,
        hidden_dim: int,
        state_dim: int = 16,
        dt: float = 0.1,
        method: str = "zoh",
        init: str = "random",
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim = check_int("hidden_dim", hidden_dim)
        self.state_dim = state_dim = check_int("ssm_state_dim", state_dim)
        self.state_shape = (state_dim,)
        self.linear = LinearSSM(state_dim, hidden_dim, hidden_dim, dt=dt, method=method,
                                init=init, dtype=dtype, device=device)

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero state x (B, N)."""
        return self.linear.init_state(check_int("batch_size", batch_size))

    def step(self, u_t: torch.Tensor, x: torch.Tensor | None = None,
             reset: torch.Tensor | None = None):
        """One step: u_t (B, H), x (B, N), reset (B,) -> (y_t (B, H), x_t (B, N))."""
        u_t, x, reset = _checked(self, u_t, x, reset, sequence=False)
        return self.linear.step(u_t, _zero_rows(reset, x))

    def forward(self, u: torch.Tensor, x0: torch.Tensor | None = None,
                reset: torch.Tensor | None = None):
        """Sequence: u (B, L, H), x0 (B, N), reset (B, L) -> (y (B, L, H), x_L (B, N))."""
        u, x, reset = _checked(self, u, x0, reset, sequence=True)
        x, reset = _only_at_start(x, reset)
        A_bar, B_bar = self.linear.discretized()
        drive = u @ B_bar.T                                             # (B, L, N)
        resets = [None] * u.shape[1] if reset is None else reset.unbind(1)
        states = []
        # unbind once: indexing drive[:, t] in the loop would make backward O(L^2).
        for drive_t, reset_t in zip(drive.unbind(1), resets, strict=True):
            x = _zero_rows(reset_t, x) @ A_bar.T + drive_t
            states.append(x)
        states = torch.stack(states, dim=1)                             # (B, L, N)
        return states @ self.linear.C.T + u @ self.linear.D.T, x


# ----------------------------------------------------------------------------- GRU


class GRUCore(nn.GRU):
    """``nn.GRU`` (Cho et al. 2014; RL^2's memory, Duan et al. 2016) behind the core interface.

    The state is the hidden vector h (B, H) and the output is h itself:
    ``step(u_t, h, reset) -> (h_t, h_t)``. ``forward(u, h0, reset)`` runs the
    GRU's C++ sequence loop on the pieces of the sequence between the steps
    where any sequence resets, zeroing the hidden state of the resetting ones
    at each cut, so it equals a loop of :meth:`step` (one piece when trials
    only start at step 0). A subclass rather than a wrapper, so the weights
    keep ``nn.GRU``'s names (``weight_ih_l0``, ...) in a parent's state_dict;
    note that ``forward`` takes and returns (B, H) states, not ``nn.GRU``'s
    (layers, B, H). Cost per step O(H^2).
    """

    def __init__(self, hidden_dim: int, *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        hidden_dim = check_int("hidden_dim", hidden_dim)
        _factory({"dtype": dtype, "device": device})
        super().__init__(hidden_dim, hidden_dim, batch_first=True, dtype=dtype, device=device)
        self.hidden_dim = hidden_dim
        self.state_shape = (hidden_dim,)

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero hidden state h (B, H)."""
        return self.weight_ih_l0.new_zeros(check_int("batch_size", batch_size), self.hidden_dim)

    def step(self, u_t: torch.Tensor, h: torch.Tensor | None = None,
             reset: torch.Tensor | None = None):
        """One step: u_t (B, H), h (B, H), reset (B,) -> (h_t (B, H), h_t (B, H))."""
        u_t, h, reset = _checked(self, u_t, h, reset, sequence=False)
        _, h = super().forward(u_t.unsqueeze(1), _zero_rows(reset, h).unsqueeze(0))
        return h[0], h[0]

    def forward(self, u: torch.Tensor, h: torch.Tensor | None = None,
                reset: torch.Tensor | None = None):
        """Sequence: u (B, L, H), h0 (B, H), reset (B, L) -> (y (B, L, H), h_L (B, H))."""
        u, h, reset = _checked(self, u, h, reset, sequence=True)
        pieces = []
        for start, end in _segments_between_resets(reset, u.shape[1]):
            h = _zero_rows(None if reset is None else reset[:, start], h)
            out, h_n = super().forward(u[:, start:end], h.unsqueeze(0))
            pieces.append(out)
            h = h_n[0]
        return torch.cat(pieces, dim=1), h


def _segments_between_resets(reset: torch.Tensor | None, length: int) -> list[tuple[int, int]]:
    """[start, end) pieces of 0..L-1 cut before every step where any sequence resets."""
    cuts = [0] if reset is None else [0, *torch.nonzero(reset.any(0)).flatten().tolist()]
    cuts = sorted(set(cuts)) + [length]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


# ----------------------------------------------------------------------------- factory


_CORES = {"selective": SelectiveCore, "ssd": SSDCore, "s4d": S4DCore, "linear": LinearCore,
          "gru": GRUCore}
_INTERFACE = ("init_state", "step", "forward")


def make_core(core: str | nn.Module, hidden_dim: int, state_dim: int = 16,
              **options: Any) -> nn.Module:
    """A core of width ``hidden_dim`` by name (``CORE_NAMES``), or ``core`` itself, checked.

    By name: ``"selective"`` :class:`SelectiveCore`, ``"ssd"`` :class:`SSDCore`,
    ``"s4d"`` :class:`S4DCore`, ``"linear"`` :class:`LinearCore`, each with
    state size ``state_dim`` N and ``options`` such as dtype, device,
    dt_min/dt_max (the cores of ``DT_RANGE_CORES``), heads, chunk_size, init;
    ``"gru"`` :class:`GRUCore` (its state is H wide; ``state_dim`` is unused).
    An instance must be an ``nn.Module`` with ``init_state``, ``step`` and
    ``forward`` (and, if it says, ``hidden_dim`` equal to ``hidden_dim``); it
    is returned as is, so ``options`` must be empty.
    """
    if isinstance(core, str):
        if core not in _CORES:
            raise ValueError(f"core must be one of {', '.join(map(repr, CORE_NAMES))} or a "
                             f"core instance, got {core!r}")
        if "dtype" in options:
            check_dtype("dtype", options["dtype"])
        check_device("device", options.get("device"))
        if core == "gru":
            return GRUCore(hidden_dim, **options)
        return _CORES[core](hidden_dim, state_dim, **options)
    if isinstance(core, type):
        raise TypeError(f"core must be a name or a core instance, got the class "
                        f"{core.__name__}; pass {core.__name__}(hidden_dim, ...) instead")
    missing = [name for name in _INTERFACE if not callable(getattr(core, name, None))]
    if not isinstance(core, nn.Module) or missing:
        what = "is not an nn.Module" if not missing else "lacks " + ", ".join(missing)
        raise TypeError(f"core must be one of {', '.join(map(repr, CORE_NAMES))} or an "
                        f"nn.Module with init_state(batch), step(u_t, state, reset) and "
                        f"forward(u, state, reset); got {type(core).__name__}, which {what}")
    if options:
        raise TypeError(f"options {sorted(options)} build a core by name; a given core "
                        f"instance ({type(core).__name__}) is used as it is")
    width = getattr(core, "hidden_dim", hidden_dim)
    if width != hidden_dim:
        raise ValueError(f"core {type(core).__name__} has hidden_dim={width}, but the policy "
                         f"has hidden_dim={hidden_dim}")
    return core
