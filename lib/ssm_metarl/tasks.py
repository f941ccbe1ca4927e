"""Task distributions for meta-learning: sinusoid regression and damped oscillators.

Every distribution owns a seeded ``torch.Generator``, so ``SinusoidTasks(seed=0)``
gives the same tasks on every run without touching global random state, and
``sample(num_tasks, k_support, k_query)`` returns one :class:`TaskSample`: a
support set to adapt on and a query set to evaluate on, stacked over tasks.

Dimension letters used in shapes:

====  =====================================================================
T     tasks in a sample (the meta-batch)
K     examples per task in the support (or query) set
L     sequence length (time steps) of a linear-system trajectory
S     state dimension of the oscillator (2: position and velocity)
F, Q  features and targets of one forecasting example (``TransitionWindowTasks``)
====  =====================================================================

``SinusoidTasks`` follows Finn et al. (2017), "Model-Agnostic Meta-Learning
for Fast Adaptation of Deep Networks", Section 5.1: ``y = A sin(x - phi)``
with amplitude ``A ~ U[0.1, 5.0]``, phase ``phi ~ U[0, pi]`` and ``x ~ U[-5, 5]``
(the sign convention of the authors' code).

``DampedOscillatorTasks`` draws random linear systems
``x'' + 2 zeta omega x' + omega^2 x = u`` for fast system identification with
an SSM: each task is one oscillator, each example one input sequence ``u``
and its output ``y = x`` (the position).

``SwitchingOscillatorTasks`` and ``SwitchingPendulumTasks`` (test-time
adaptation, notebook 04) draw ``B`` sequences whose ``M = 2`` physical
parameters jump at unknown times; ``sample(batch)`` returns a
:class:`SwitchingSample` (see the section "switching dynamics" below).
``TransitionWindowTasks`` cuts GrBAL meta-training tasks (M past and K next
transitions of one system) out of such sequences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

INPUT_KINDS: tuple[str, ...] = ("smooth", "impulse", "noise")


class TaskSample(NamedTuple):
    """Support and query sets of ``T`` tasks, stacked along the first dimension.

    ``support_x`` (T, K, ...) and ``support_y`` (T, K, ...) are what a learner
    adapts on; ``query_x``/``query_y`` (T, K_query, ...) are what it is scored on.
    ``info`` holds the true task parameters (each (T,)) and any extras needed
    for plotting (for example the oscillator states).
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    info: dict[str, torch.Tensor]

    @property
    def support(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(inputs, targets)`` pair that inner-loop adaptation uses."""
        return self.support_x, self.support_y

    @property
    def query(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(inputs, targets)`` pair the adapted model is evaluated on."""
        return self.query_x, self.query_y

    @property
    def num_tasks(self) -> int:
        return self.support_x.shape[0]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Move every tensor (floating tensors also to ``dtype``); returns a new sample."""

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        return TaskSample(
            move(self.support_x),
            move(self.support_y),
            move(self.query_x),
            move(self.query_y),
            {name: move(value) for name, value in self.info.items()},
        )

    def task(self, index: int) -> TaskSample:
        """The sample of task ``index`` alone, keeping a task dimension of size 1."""
        pick = slice(index, index + 1)
        return TaskSample(
            self.support_x[pick],
            self.support_y[pick],
            self.query_x[pick],
            self.query_y[pick],
            {name: value[pick] for name, value in self.info.items()},
        )


# ----------------------------------------------------------------------------- validation


def _check_range(name: str, value: Sequence[float], *, low: float | None = None) -> tuple:
    """Validate a ``(lo, hi)`` pair with ``lo <= hi`` (and ``lo >= low`` if given)."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must be a finite pair with low <= high, got ({lo}, {hi})")
    if low is not None and lo < low:
        raise ValueError(f"{name} must lie in [{low}, inf), got ({lo}, {hi})")
    return lo, hi


def _check_count(name: str, value: int, *, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _uniform(gen: torch.Generator, shape: tuple, bounds: tuple, dtype: torch.dtype):
    """Draw ``U[lo, hi]`` samples on the CPU from the distribution's own generator."""
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=dtype)


# ----------------------------------------------------------------------------- sinusoids


def sinusoid(x: torch.Tensor, amplitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``y = A sin(x - phi)``; ``x`` (T, K, 1), ``amplitude``/``phase`` (T,) -> (T, K, 1)."""
    return amplitude[:, None, None] * torch.sin(x - phase[:, None, None])


class SinusoidTasks:
    """The sinusoid regression benchmark of Finn et al. (2017), Section 5.1.

    Args:
        amplitude_range: ``A ~ U[lo, hi]``, default ``(0.1, 5.0)``.
        phase_range: ``phi ~ U[lo, hi]``, default ``(0, pi)``.
        x_range: inputs ``x ~ U[lo, hi]``, default ``(-5, 5)``.
        seed: seed of this distribution's own generator.
        device, dtype: where and in which float type samples are returned.
    """

    def __init__(
        self,
        amplitude_range: Sequence[float] = (0.1, 5.0),
        phase_range: Sequence[float] = (0.0, math.pi),
        x_range: Sequence[float] = (-5.0, 5.0),
        *,
        seed: int = 0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.amplitude_range = _check_range("amplitude_range", amplitude_range, low=0.0)
        self.phase_range = _check_range("phase_range", phase_range)
        self.x_range = _check_range("x_range", x_range)
        if self.x_range[0] == self.x_range[1]:
            raise ValueError(f"x_range must have low < high, got {self.x_range}")
        self.seed = _check_count("seed", seed, minimum=0)
        self.device, self.dtype = torch.device(device), dtype
        self.generator = torch.Generator().manual_seed(seed)

    def sample_task_params(self, num_tasks: int) -> dict[str, torch.Tensor]:
        """Draw ``amplitude`` and ``phase`` for ``num_tasks`` tasks, each (T,)."""
        _check_count("num_tasks", num_tasks)
        amplitude = _uniform(self.generator, (num_tasks,), self.amplitude_range, self.dtype)
        phase = _uniform(self.generator, (num_tasks,), self.phase_range, self.dtype)
        return {"amplitude": amplitude, "phase": phase}

    def sample(
        self, num_tasks: int, k_support: int, k_query: int, *, query_grid: bool = False
    ) -> TaskSample:
        """Sample ``num_tasks`` sinusoids with ``k_support`` + ``k_query`` points each.

        Returns a :class:`TaskSample` with ``support_x``/``support_y`` (T, K, 1),
        ``query_x``/``query_y`` (T, K_query, 1) and ``info`` holding
        ``amplitude`` and ``phase`` (T,). With ``query_grid=True`` the query
        inputs are ``k_query`` evenly spaced points over ``x_range`` (for plots).
        """
        _check_count("k_support", k_support)
        _check_count("k_query", k_query)
        task = self.sample_task_params(num_tasks)
        support_x = _uniform(self.generator, (num_tasks, k_support, 1), self.x_range, self.dtype)
        if query_grid:
            grid = torch.linspace(*self.x_range, k_query, dtype=self.dtype)
            query_x = grid[None, :, None].expand(num_tasks, k_query, 1).clone()
        else:
            query_x = _uniform(self.generator, (num_tasks, k_query, 1), self.x_range, self.dtype)
        sample = TaskSample(
            support_x,
            sinusoid(support_x, task["amplitude"], task["phase"]),
            query_x,
            sinusoid(query_x, task["amplitude"], task["phase"]),
            task,
        )
        return sample.to(self.device)


# ----------------------------------------------------------------------------- oscillators


def oscillator_matrices(omega: torch.Tensor, zeta: torch.Tensor):
    """Continuous state space form of ``x'' + 2 zeta omega x' + omega^2 x = u``.

    With state ``s = (x, x')``: ``s' = A s + B u``,
    ``A = [[0, 1], [-omega^2, -2 zeta omega]]``, ``B = [[0], [1]]``.
    ``omega``, ``zeta`` (T,) -> ``A`` (T, 2, 2), ``B`` (T, 2, 1).
    """
    zeros, ones = torch.zeros_like(omega), torch.ones_like(omega)
    A = torch.stack(
        [torch.stack([zeros, ones], -1), torch.stack([-(omega**2), -2 * zeta * omega], -1)], -2
    )
    B = torch.stack([zeros, ones], -1)[..., None]
    return A, B


def discretize_exact(A: torch.Tensor, B: torch.Tensor, dt: float):
    """Exact zero-order-hold discretization with one matrix exponential.

    ``expm([[A, B], [0, 0]] dt) = [[A_bar, B_bar], [0, I]]`` (Van Loan's block
    trick), so ``A_bar = e^{A dt}`` and ``B_bar = int_0^dt e^{A s} ds B`` without
    inverting ``A``. ``A`` (T, S, S), ``B`` (T, S, P) -> ``A_bar`` (T, S, S),
    ``B_bar`` (T, S, P).
    """
    state_dim, input_dim = A.shape[-1], B.shape[-1]
    augmented = torch.zeros(
        *A.shape[:-2], state_dim + input_dim, state_dim + input_dim, dtype=A.dtype,
        device=A.device,
    )
    augmented[..., :state_dim, :state_dim] = A
    augmented[..., :state_dim, state_dim:] = B
    block = torch.linalg.matrix_exp(augmented * dt)
    return block[..., :state_dim, :state_dim], block[..., :state_dim, state_dim:]


def simulate_discrete(
    A_bar: torch.Tensor, B_bar: torch.Tensor, u: torch.Tensor, initial_state: torch.Tensor
) -> torch.Tensor:
    """Run ``s_k = A_bar s_{k-1} + B_bar u_k`` from ``s_{-1} = initial_state``.

    ``A_bar`` (T, S, S), ``B_bar`` (T, S, 1), ``u`` (T, K, L, 1),
    ``initial_state`` (T, K, S) -> states (T, K, L, S). ``s_k`` is the state at
    time ``(k + 1) dt`` when ``u_k`` is held over ``[k dt, (k + 1) dt)``.
    """
    drive = torch.einsum("tsp,tklp->tkls", B_bar, u)  # B_bar u_k for every k at once
    state, states = initial_state, []
    for k in range(u.shape[-2]):
        state = torch.einsum("tij,tkj->tki", A_bar, state) + drive[..., k, :]
        states.append(state)
    return torch.stack(states, dim=-2)


class DampedOscillatorTasks:
    """Random damped oscillators ``x'' + 2 zeta omega x' + omega^2 x = u``.

    Each task is one oscillator with natural frequency ``omega ~ U[omega_range]``
    (rad/s) and damping ratio ``zeta ~ U[zeta_range]``; each example is an input
    sequence ``u`` (L, 1) and the measured position ``y = x`` (L, 1). The system
    is discretized exactly (zero-order hold, matrix exponential) with step ``dt``.

    Args:
        omega_range: natural frequency range in rad/s, default ``(1.0, 3.0)``.
        zeta_range: damping ratio range, default ``(0.1, 0.5)`` (underdamped).
        dt: sampling interval in seconds.
        length: default number of time steps ``L``.
        input_kind: ``"smooth"`` (sum of three random sinusoids below 0.5 Hz),
            ``"impulse"`` (one pulse of height ``N(0, 1) / dt`` in the first
            half, an approximate Dirac impulse) or ``"noise"`` (white ``N(0, 1)``).
        seed, device, dtype: as in :class:`SinusoidTasks`.
    """

    def __init__(
        self,
        omega_range: Sequence[float] = (1.0, 3.0),
        zeta_range: Sequence[float] = (0.1, 0.5),
        *,
        dt: float = 0.1,
        length: int = 100,
        input_kind: str = "smooth",
        seed: int = 0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.omega_range = _check_range("omega_range", omega_range, low=0.0)
        self.zeta_range = _check_range("zeta_range", zeta_range, low=0.0)
        if self.omega_range[0] <= 0:
            raise ValueError(f"omega_range must be positive, got {self.omega_range}")
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
        self.dt, self.length = float(dt), _check_count("length", length)
        self.input_kind = _check_kind(input_kind)
        self.seed = _check_count("seed", seed, minimum=0)
        self.device, self.dtype = torch.device(device), dtype
        self.generator = torch.Generator().manual_seed(seed)

    def sample_task_params(self, num_tasks: int) -> dict[str, torch.Tensor]:
        """Draw ``omega`` (rad/s) and ``zeta`` for ``num_tasks`` oscillators, each (T,)."""
        _check_count("num_tasks", num_tasks)
        omega = _uniform(self.generator, (num_tasks,), self.omega_range, torch.float64)
        zeta = _uniform(self.generator, (num_tasks,), self.zeta_range, torch.float64)
        return {"omega": omega, "zeta": zeta}

    def sample_inputs(
        self, shape: tuple[int, ...], length: int | None = None, kind: str | None = None
    ) -> torch.Tensor:
        """Draw input sequences ``u`` of shape (*shape, L, 1) in float64."""
        length = self.length if length is None else _check_count("length", length)
        kind = self.input_kind if kind is None else _check_kind(kind)
        t = torch.arange(length, dtype=torch.float64) * self.dt
        if kind == "noise":
            return torch.randn(*shape, length, 1, generator=self.generator, dtype=torch.float64)
        if kind == "impulse":
            height = torch.randn(*shape, 1, generator=self.generator, dtype=torch.float64)
            start = torch.randint(0, max(1, length // 2), (*shape, 1), generator=self.generator)
            pulse = (torch.arange(length) == start).to(torch.float64)
            return (pulse * height / self.dt)[..., None]
        freq = _uniform(self.generator, (*shape, 3, 1), (0.05, 0.5), torch.float64)
        phase = _uniform(self.generator, (*shape, 3, 1), (0.0, 2 * math.pi), torch.float64)
        weight = torch.randn(*shape, 3, 1, generator=self.generator, dtype=torch.float64)
        waves = weight * torch.sin(2 * math.pi * freq * t + phase) / math.sqrt(3)
        return waves.sum(dim=-2)[..., None]

    def simulate(
        self,
        omega: torch.Tensor,
        zeta: torch.Tensor,
        u: torch.Tensor,
        initial_state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact discrete trajectory of each oscillator under its inputs.

        ``omega``, ``zeta`` (T,), ``u`` (T, K, L, 1), ``initial_state`` (T, K, 2)
        or ``None`` (at rest) -> ``y`` (T, K, L, 1) position and ``states``
        (T, K, L, 2) = (position, velocity) at times ``dt, 2 dt, ..., L dt``.
        Computed in float64 and returned in the input's dtype.
        """
        if u.ndim != 4 or u.shape[-1] != 1 or u.shape[0] != omega.shape[0]:
            raise ValueError(
                f"u must have shape (T, K, L, 1) with T = len(omega) = {omega.shape[0]}, "
                f"got {tuple(u.shape)}"
            )
        u64 = u.to(torch.float64)
        A, B = oscillator_matrices(omega.to(u64), zeta.to(u64))
        A_bar, B_bar = discretize_exact(A, B, self.dt)
        if initial_state is None:
            initial_state = u64.new_zeros(*u.shape[:2], 2)
        states = simulate_discrete(A_bar, B_bar, u64, initial_state.to(u64))
        return states[..., :1].to(u.dtype), states.to(u.dtype)

    def sample(
        self, num_tasks: int, k_support: int, k_query: int, *, length: int | None = None
    ) -> TaskSample:
        """Sample oscillators with ``k_support`` + ``k_query`` input/output sequences each.

        Returns a :class:`TaskSample`: ``support_x`` = inputs ``u`` (T, K, L, 1),
        ``support_y`` = positions (T, K, L, 1), the same for the query set, and
        ``info`` with ``omega``, ``zeta`` (T,) and ``support_states``,
        ``query_states`` (T, K, L, 2) for phase portraits.
        """
        _check_count("k_support", k_support)
        _check_count("k_query", k_query)
        task = self.sample_task_params(num_tasks)
        u = self.sample_inputs((num_tasks, k_support + k_query), length)
        y, states = self.simulate(task["omega"], task["zeta"], u)
        split = [k_support, k_query]
        u_s, u_q = u.split(split, dim=1)
        y_s, y_q = y.split(split, dim=1)
        states_s, states_q = states.split(split, dim=1)
        info = {**task, "support_states": states_s, "query_states": states_q}
        return TaskSample(u_s, y_s, u_q, y_q, info).to(self.device, self.dtype)


def _check_kind(kind: str) -> str:
    if kind not in INPUT_KINDS:
        raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {kind!r}")
    return kind


# ----------------------------------------------------------------------------- switching dynamics
#
# Test-time adaptation (notebook 04) needs sequences whose dynamics change
# mid-stream at times the learner is not told. Extra dimension letters here:
# B sequences in a sample, L time steps, S state size (2), M physical
# parameters per step (2).
#
# Time convention (the one of :func:`simulate_discrete`): ``states[:, k]`` is
# the state at time ``(k + 1) dt`` after input ``u[:, k]`` was held over
# ``[k dt, (k + 1) dt)`` by the system with parameters ``params[:, k]``. A
# switch at step ``tau`` means ``params[:, tau] != params[:, tau - 1]``, so
# ``y[:, tau]`` is the first observation the new system produced.

SWITCHING_PENDULUM_PARAMS: tuple[str, ...] = ("mass", "length", "both")


class SwitchingSample(NamedTuple):
    """``B`` sequences of a switching system, stacked along the first dimension.

    - ``u`` (B, L, 1): known inputs (force or torque).
    - ``y`` (B, L, 1): noisy observations of the position (or angle).
    - ``states`` (B, L, 2): noise-free (position, velocity) or (angle, angular velocity).
    - ``params`` (B, L, 2): the physical parameters in force at each step
      (``param_names`` says which).
    - ``switch_mask`` (B, L) bool: True at every step where the parameters jump.
      For evaluation only; a learner under test must never read it.
    """

    u: torch.Tensor
    y: torch.Tensor
    states: torch.Tensor
    params: torch.Tensor
    switch_mask: torch.Tensor
    param_names: tuple[str, str]

    @property
    def switch_times(self) -> list[list[int]]:
        """For every sequence, the steps ``tau`` at which the parameters jump."""
        return [torch.nonzero(row).flatten().tolist() for row in self.switch_mask]

    @property
    def num_sequences(self) -> int:
        return self.u.shape[0]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Move every tensor (floating tensors also to ``dtype``); returns a new sample."""

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        return SwitchingSample(*(move(t) for t in self[:5]), self.param_names)

    def sequence(self, index: int) -> SwitchingSample:
        """Sequence ``index`` alone, keeping a leading dimension of size 1."""
        pick = slice(index, index + 1)
        return SwitchingSample(*(t[pick] for t in self[:5]), self.param_names)


def _check_nonnegative(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value >= 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_positive(name: str, value: float) -> float:
    if _check_nonnegative(name, value) == 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


def _check_switch_rule(
    num_switches: int | None, switch_prob: float | None, min_segment: int, length: int
) -> None:
    """Exactly one of ``num_switches`` / ``switch_prob``, and segments that fit in ``length``."""
    if (num_switches is None) == (switch_prob is None):
        raise ValueError(
            "give exactly one of num_switches (a fixed count per sequence) or switch_prob "
            f"(a per-step hazard); got num_switches={num_switches!r}, switch_prob={switch_prob!r}"
        )
    _check_count("min_segment", min_segment)
    if num_switches is not None:
        _check_count("num_switches", num_switches, minimum=0)
        if (num_switches + 1) * min_segment > length:
            raise ValueError(
                f"num_switches={num_switches} segments of at least min_segment={min_segment} "
                f"steps need length >= {(num_switches + 1) * min_segment}, got length={length}"
            )
    elif isinstance(switch_prob, bool) or not isinstance(switch_prob, (int, float)) or not (
        0 <= switch_prob <= 1
    ):
        raise ValueError(f"switch_prob must be a probability in [0, 1], got {switch_prob!r}")


def _check_min_jump(min_jump: float) -> float:
    if _check_nonnegative("min_jump", min_jump) > 0.5:
        raise ValueError(
            f"min_jump is a fraction of the parameter range and must lie in [0, 0.5], "
            f"got {min_jump!r}"
        )
    return float(min_jump)


def sample_switch_mask(
    generator: torch.Generator,
    batch: int,
    length: int,
    *,
    num_switches: int | None = 1,
    switch_prob: float | None = None,
    min_segment: int = 1,
) -> torch.Tensor:
    """Random switch times as a (B, L) bool mask, each segment at least ``min_segment`` long.

    ``num_switches=k``: exactly ``k`` switches, drawn as ``tau_i = p_(i) + i min_segment``
    from ``k`` sorted uniform integers ``p`` in ``[0, L - (k + 1) min_segment]``, so
    every segment (first and last included) has at least ``min_segment`` steps.
    ``switch_prob=p``: a hazard; each step at least ``min_segment`` after the
    previous switch (or the start) and before the last ``min_segment`` steps
    switches with probability ``p``.
    """
    _check_switch_rule(num_switches, switch_prob, min_segment, length)
    mask = torch.zeros(batch, length, dtype=torch.bool)
    if num_switches is not None:
        if num_switches == 0:
            return mask
        free = length - (num_switches + 1) * min_segment
        draws = torch.randint(0, free + 1, (batch, num_switches), generator=generator)
        offsets = torch.arange(1, num_switches + 1) * min_segment
        mask.scatter_(1, draws.sort(dim=1).values + offsets, True)
        return mask
    coins = torch.rand(batch, length, generator=generator) < switch_prob
    since_switch = torch.full((batch,), -1, dtype=torch.long)  # the start acts as a switch
    for step in range(length - min_segment + 1):
        since_switch += 1
        mask[:, step] = coins[:, step] & (since_switch >= min_segment)
        since_switch[mask[:, step]] = 0
    return mask


def jump_uniform(
    generator: torch.Generator, old: torch.Tensor, bounds: tuple, min_jump: float
) -> torch.Tensor:
    """A new value ``U[lo, hi]`` that differs from ``old`` by at least ``min_jump (hi - lo)``.

    Rotating ``old`` on the circle ``[lo, hi)`` by ``U[min_jump w, (1 - min_jump) w]``
    (``w = hi - lo``) keeps the marginal uniform and needs no rejection loop.
    Distances are measured on that circle, so a jump can wrap from one end of
    the range to the other. ``min_jump = 0`` is a fresh uniform draw.
    """
    lo, hi = bounds
    width = hi - lo
    if width == 0:
        return old.clone()
    shift = _uniform(generator, old.shape, (min_jump * width, (1 - min_jump) * width), old.dtype)
    return lo + torch.remainder(old - lo + shift, width)


def piecewise_constant_params(
    generator: torch.Generator,
    switch_mask: torch.Tensor,
    bounds: Sequence[tuple],
    min_jumps: Sequence[float | None],
) -> torch.Tensor:
    """Parameter paths (B, L, M) that are constant between switches and jump at them.

    Parameter ``m`` starts at ``U[bounds[m]]``; at each switch it moves by
    :func:`jump_uniform` with ``min_jumps[m]`` (0 redraws it freely; ``None``
    keeps it at its first draw for the whole sequence). ``switch_mask`` (B, L) bool.
    """
    batch = switch_mask.shape[0]
    segment = torch.cumsum(switch_mask.long(), dim=1)  # (B, L) index of the current segment
    num_segments = int(segment.max()) + 1 if segment.numel() else 1
    columns = []
    for param_bounds, min_jump in zip(bounds, min_jumps, strict=True):
        values = [_uniform(generator, (batch,), param_bounds, torch.float64)]
        for _ in range(1, num_segments):
            values.append(values[-1] if min_jump is None else
                          jump_uniform(generator, values[-1], param_bounds, min_jump))
        columns.append(torch.gather(torch.stack(values, dim=1), 1, segment))
    return torch.stack(columns, dim=-1)


def simulate_time_varying(
    A_bar: torch.Tensor, B_bar: torch.Tensor, u: torch.Tensor, initial_state: torch.Tensor
) -> torch.Tensor:
    """Run ``s_k = A_bar_k s_{k-1} + B_bar_k u_k`` from ``s_{-1} = initial_state``.

    The time-varying form of :func:`simulate_discrete`: ``A_bar`` (B, L, S, S),
    ``B_bar`` (B, L, S, P), ``u`` (B, L, P), ``initial_state`` (B, S) -> (B, L, S).
    """
    drive = torch.einsum("blsp,blp->bls", B_bar, u)
    state, states = initial_state, []
    for k in range(u.shape[1]):
        state = torch.einsum("bij,bj->bi", A_bar[:, k], state) + drive[:, k]
        states.append(state)
    return torch.stack(states, dim=1)


class SwitchingOscillatorTasks:
    """Damped oscillators ``x'' + 2 zeta omega x' + omega^2 x = u`` whose parameters jump.

    Each sequence starts from a random state ``N(0, initial_std^2 I)`` with
    ``omega ~ U[omega_range]``, ``zeta ~ U[zeta_range]``; at each switch
    ``omega`` moves by at least ``min_jump`` of its range (see
    :func:`jump_uniform`) and ``zeta`` is redrawn. Between switches the system
    is discretized exactly (zero-order hold, :func:`discretize_exact`), so the
    state is continuous across a switch and only its dynamics change.
    Observations are ``y = x + noise_std * N(0, 1)``.

    The defaults make one-step forecasting depend on knowing the system: at
    ``dt = 0.5`` s an oscillator turns by 0.5 to 1.5 rad per step, so repeating
    the last observation (persistence) is poor, and the noise (0.02 against a
    signal of standard deviation about 0.4) is small enough that a model which
    knows the current dynamics predicts far better than one that does not.

    Inputs ``u`` come from :meth:`DampedOscillatorTasks.sample_inputs`
    (``input_kind`` ``"smooth"``, ``"impulse"`` or ``"noise"``); a composed
    :class:`DampedOscillatorTasks` also validates the shared arguments, and its
    generator (seeded by ``seed``) is the only source of randomness here.

    Args:
        omega_range, zeta_range: as in :class:`DampedOscillatorTasks`.
        num_switches: switches per sequence (default 1), or ``None`` with
            ``switch_prob`` a per-step hazard (see :func:`sample_switch_mask`).
        min_segment: minimum number of steps between switches (and at both ends).
        min_jump: minimum change of ``omega`` at a switch, as a fraction of its range.
        length, dt, input_kind, seed, device, dtype: as in :class:`DampedOscillatorTasks`.
        noise_std: standard deviation of the observation noise.
        initial_std: standard deviation of the initial position and velocity.
    """

    def __init__(
        self,
        omega_range: Sequence[float] = (1.0, 3.0),
        zeta_range: Sequence[float] = (0.05, 0.3),
        *,
        num_switches: int | None = 1,
        switch_prob: float | None = None,
        min_segment: int = 80,
        min_jump: float = 0.25,
        length: int = 250,
        dt: float = 0.5,
        noise_std: float = 0.02,
        initial_std: float = 1.0,
        input_kind: str = "noise",
        seed: int = 0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.oscillators = DampedOscillatorTasks(
            omega_range, zeta_range, dt=dt, length=length, input_kind=input_kind, seed=seed,
            device=device, dtype=dtype,
        )
        _check_switch_rule(num_switches, switch_prob, min_segment, length)
        self.num_switches, self.switch_prob = num_switches, switch_prob
        self.min_segment = min_segment
        self.min_jump = _check_min_jump(min_jump)
        self.noise_std = _check_nonnegative("noise_std", noise_std)
        self.initial_std = _check_nonnegative("initial_std", initial_std)
        self.omega_range = self.oscillators.omega_range
        self.zeta_range = self.oscillators.zeta_range
        self.dt, self.length, self.seed = float(dt), length, seed
        self.device, self.dtype = torch.device(device), dtype
        self.generator = self.oscillators.generator

    def switch_mask(self, batch: int) -> torch.Tensor:
        """Switch times of ``batch`` sequences as a (B, L) bool mask."""
        return sample_switch_mask(
            self.generator, batch, self.length, num_switches=self.num_switches,
            switch_prob=self.switch_prob, min_segment=self.min_segment,
        )

    def discretize(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact ZOH matrices per step: ``params`` (B, L, 2) = (omega, zeta) ->
        ``A_bar`` (B, L, 2, 2), ``B_bar`` (B, L, 2, 1)."""
        A, B = oscillator_matrices(params[..., 0].flatten(), params[..., 1].flatten())
        A_bar, B_bar = discretize_exact(A, B, self.dt)
        return A_bar.reshape(*params.shape[:2], 2, 2), B_bar.reshape(*params.shape[:2], 2, 1)

    def sample(self, batch: int) -> SwitchingSample:
        """Draw ``batch`` switching sequences of ``length`` steps (a :class:`SwitchingSample`)."""
        _check_count("batch", batch)
        mask = self.switch_mask(batch)
        params = piecewise_constant_params(
            self.generator, mask, [self.omega_range, self.zeta_range], [self.min_jump, 0.0]
        )
        u = self.oscillators.sample_inputs((batch,))
        initial = self.initial_std * torch.randn(batch, 2, generator=self.generator,
                                                 dtype=torch.float64)
        states = simulate_time_varying(*self.discretize(params), u, initial)
        noise = torch.randn(batch, self.length, 1, generator=self.generator, dtype=torch.float64)
        y = states[..., :1] + self.noise_std * noise
        sample = SwitchingSample(u, y, states, params, mask, ("omega", "zeta"))
        return sample.to(self.device, self.dtype)

    def oracle_forecast(self, sample: SwitchingSample) -> torch.Tensor:
        """One-step predictions (B, L, 1) of ``y_t`` from ``y_{<t}``, ``u_{<=t}`` by a
        Kalman filter that knows the true parameters at every step.

        Exact for this model (linear, Gaussian initial state and observation
        noise, no process noise), so its mean squared error is the lowest any
        forecaster can reach: the "oracle" row of a switch-aligned table.
        Prediction ``t = 0`` uses only the prior ``N(0, initial_std^2 I)``.
        """
        params, u, y = (t.to(torch.float64) for t in (sample.params, sample.u, sample.y))
        A_bar, B_bar = self.discretize(params)
        batch = y.shape[0]
        mean = y.new_zeros(batch, 2)
        cov = self.initial_std**2 * torch.eye(2, dtype=torch.float64).expand(batch, 2, 2)
        drive, predictions = torch.einsum("blsp,blp->bls", B_bar, u), []
        for k in range(y.shape[1]):
            mean = torch.einsum("bij,bj->bi", A_bar[:, k], mean) + drive[:, k]
            cov = A_bar[:, k] @ cov @ A_bar[:, k].transpose(-1, -2)
            predictions.append(mean[:, :1])
            innovation_var = (cov[:, 0, 0] + self.noise_std**2).clamp_min(1e-300)
            gain = cov[:, :, 0] / innovation_var[:, None]  # (B, 2)
            mean = mean + gain * (y[:, k] - mean[:, :1])
            cov = cov - gain[:, :, None] * cov[:, None, 0, :]
        return torch.stack(predictions, dim=1).to(sample.y.dtype)


# ----------------------------------------------------------------------------- pendulum


def pendulum_derivative(
    state: torch.Tensor,
    torque: torch.Tensor,
    mass: torch.Tensor,
    length: torch.Tensor,
    gravity: float,
    damping: float,
) -> torch.Tensor:
    """``d/dt (theta, theta') = (theta', -(g/l) sin theta - b theta' + u / (m l^2))``.

    ``state`` (..., 2); ``torque``, ``mass``, ``length`` (...) -> (..., 2).
    """
    theta, velocity = state[..., 0], state[..., 1]
    acceleration = (-(gravity / length) * torch.sin(theta) - damping * velocity
                    + torque / (mass * length**2))
    return torch.stack([velocity, acceleration], dim=-1)


def pendulum_rk4_step(
    state: torch.Tensor,
    torque: torch.Tensor,
    mass: torch.Tensor,
    length: torch.Tensor,
    dt: float,
    *,
    gravity: float = 9.81,
    damping: float = 0.2,
) -> torch.Tensor:
    """One classical Runge-Kutta (RK4) step of :func:`pendulum_derivative`, torque held."""

    def f(s: torch.Tensor) -> torch.Tensor:
        return pendulum_derivative(s, torque, mass, length, gravity, damping)

    k1 = f(state)
    k2 = f(state + 0.5 * dt * k1)
    k3 = f(state + 0.5 * dt * k2)
    k4 = f(state + dt * k3)
    return state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def pendulum_step(
    state: torch.Tensor,
    torque: torch.Tensor,
    mass: torch.Tensor,
    length: torch.Tensor,
    dt: float,
    substeps: int = 10,
    *,
    gravity: float = 9.81,
    damping: float = 0.2,
) -> torch.Tensor:
    """Advance ``state`` (..., 2) by one sample interval ``dt`` with the torque (...) held:
    ``substeps`` RK4 steps of :func:`pendulum_rk4_step` (zero-order hold on the input)."""
    h = dt / _check_count("substeps", substeps)
    for _ in range(substeps):
        state = pendulum_rk4_step(state, torque, mass, length, h, gravity=gravity,
                                  damping=damping)
    return state


class SwitchingPendulumTasks:
    """A damped, driven pendulum whose mass and/or length jump at unknown times.

    ``theta'' = -(g/l) sin theta - b theta' + u / (m l^2)``, integrated with RK4
    (:func:`pendulum_rk4_step`) using ``substeps`` substeps per sample interval
    ``dt`` with the torque ``u`` held constant over the interval. ``params`` are
    ``(mass, length)``; ``switching`` says which of them jump (at least
    ``min_jump`` of its range, :func:`jump_uniform`), the other stays at its
    initial draw. Observations are ``y = theta + noise_std * N(0, 1)``.
    The time convention is the oscillator's (``states[:, k]`` at ``(k + 1) dt``).

    Args:
        mass_range: kg, default ``(0.5, 2.0)``; length_range: m, default ``(0.5, 2.0)``.
        switching: ``"mass"``, ``"length"`` (default) or ``"both"``.
        num_switches, switch_prob, min_segment, min_jump: as in
            :class:`SwitchingOscillatorTasks`.
        gravity: m/s^2; damping: ``b`` in 1/s.
        torque_scale: the inputs of :meth:`DampedOscillatorTasks.sample_inputs`
            (``input_kind``) times this, in N m.
        initial_angle: initial ``theta ~ U[-initial_angle, initial_angle]`` rad,
            initial velocity 0.
        length (of the sequence), dt, substeps, noise_std, seed, device, dtype.
    """

    def __init__(
        self,
        mass_range: Sequence[float] = (0.5, 2.0),
        length_range: Sequence[float] = (0.5, 2.0),
        *,
        switching: str = "length",
        num_switches: int | None = 1,
        switch_prob: float | None = None,
        min_segment: int = 50,
        min_jump: float = 0.25,
        gravity: float = 9.81,
        damping: float = 0.2,
        torque_scale: float = 1.0,
        initial_angle: float = 1.0,
        length: int = 200,
        dt: float = 0.05,
        substeps: int = 10,
        noise_std: float = 0.02,
        input_kind: str = "smooth",
        seed: int = 0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.mass_range = _check_range("mass_range", mass_range, low=0.0)
        self.length_range = _check_range("length_range", length_range, low=0.0)
        if self.mass_range[0] <= 0 or self.length_range[0] <= 0:
            raise ValueError(
                f"mass_range and length_range must be positive, got {self.mass_range} "
                f"and {self.length_range}"
            )
        if switching not in SWITCHING_PENDULUM_PARAMS:
            raise ValueError(
                f"switching must be one of {SWITCHING_PENDULUM_PARAMS}, got {switching!r}"
            )
        self.inputs = DampedOscillatorTasks(dt=dt, length=length, input_kind=input_kind, seed=seed)
        _check_switch_rule(num_switches, switch_prob, min_segment, length)
        self.switching, self.num_switches, self.switch_prob = switching, num_switches, switch_prob
        self.min_segment, self.min_jump = min_segment, _check_min_jump(min_jump)
        self.gravity = _check_positive("gravity", gravity)
        self.damping = _check_nonnegative("damping", damping)
        self.torque_scale = _check_nonnegative("torque_scale", torque_scale)
        self.initial_angle = _check_nonnegative("initial_angle", initial_angle)
        self.noise_std = _check_nonnegative("noise_std", noise_std)
        self.substeps = _check_count("substeps", substeps)
        self.dt, self.length, self.seed = float(dt), length, seed
        self.device, self.dtype = torch.device(device), dtype
        self.generator = self.inputs.generator

    def simulate(
        self, params: torch.Tensor, u: torch.Tensor, initial_state: torch.Tensor
    ) -> torch.Tensor:
        """States (B, L, 2) from ``params`` (B, L, 2) = (mass, length), torques ``u``
        (B, L, 1) and ``initial_state`` (B, 2) = ``s_{-1}``; float64 RK4."""
        state, states = initial_state, []
        for k in range(u.shape[1]):
            state = pendulum_step(state, u[:, k, 0], params[:, k, 0], params[:, k, 1], self.dt,
                                  self.substeps, gravity=self.gravity, damping=self.damping)
            states.append(state)
        return torch.stack(states, dim=1)

    def sample(self, batch: int) -> SwitchingSample:
        """Draw ``batch`` switching pendulum sequences (a :class:`SwitchingSample`)."""
        _check_count("batch", batch)
        mask = sample_switch_mask(
            self.generator, batch, self.length, num_switches=self.num_switches,
            switch_prob=self.switch_prob, min_segment=self.min_segment,
        )
        jumps = {"mass": (self.min_jump, None), "length": (None, self.min_jump),
                 "both": (self.min_jump, self.min_jump)}[self.switching]
        params = piecewise_constant_params(
            self.generator, mask, [self.mass_range, self.length_range], jumps
        )
        u = self.torque_scale * self.inputs.sample_inputs((batch,))
        angle = _uniform(self.generator, (batch,), (-self.initial_angle, self.initial_angle),
                         torch.float64)
        states = self.simulate(params, u, torch.stack([angle, torch.zeros_like(angle)], -1))
        noise = torch.randn(batch, self.length, 1, generator=self.generator, dtype=torch.float64)
        y = states[..., :1] + self.noise_std * noise
        sample = SwitchingSample(u, y, states, params, mask, ("mass", "length"))
        return sample.to(self.device, self.dtype)


# ----------------------------------------------------------------------------- GrBAL windows


class TransitionWindowTasks:
    """GrBAL meta-training tasks: ``M`` past and ``K`` next transitions of one system.

    Nagabandi et al. (2019), Sec. 4 and Alg. 1: the dynamics model is
    meta-trained so that a few gradient steps on the last ``M`` transitions of
    a trajectory predict the next ``K``. Each task here is one window of
    ``M + K`` consecutive one-step forecasting examples
    (:func:`ssm_metarl.adaptation.next_step_data` with ``history`` H) cut at a
    random place from a sequence of ``systems`` (any object with
    ``sample(batch) -> SwitchingSample``, e.g. a :class:`SwitchingOscillatorTasks`
    with ``num_switches=0``: one random regime per sequence). ``sample(T)``
    returns a :class:`TaskSample` with support (T, M, F) -> (T, M, Q) and
    query (T, K, F) -> (T, K, Q), so it plugs into
    :class:`ssm_metarl.maml.TaskBatch` and :class:`~ssm_metarl.maml.MetaMAMLTrainer`.
    """

    def __init__(self, systems, history: int, past: int = 16, future: int = 16,
                 seed: int = 0) -> None:
        if not callable(getattr(systems, "sample", None)):
            raise TypeError(f"systems must have a sample(batch) method, got "
                            f"{type(systems).__name__}")
        self.systems, self.history = systems, _check_count("history", history)
        self.past, self.future = _check_count("past", past), _check_count("future", future)
        examples = systems.length - history
        if past + future > examples:
            raise ValueError(f"past + future = {past + future} transitions do not fit in the "
                             f"{examples} examples of a sequence of length {systems.length} "
                             f"with history {history}")
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, num_tasks: int, k_support: int | None = None,
               k_query: int | None = None) -> TaskSample:
        """``num_tasks`` windows; ``k_support``/``k_query`` are ignored (``past``/``future``
        fix them), so that :class:`~ssm_metarl.maml.TaskBatch` can call this unchanged."""
        from .adaptation import next_step_data  # adaptation imports this module

        sequences = self.systems.sample(_check_count("num_tasks", num_tasks))
        data = next_step_data(sequences.y, sequences.u, self.history)
        span = self.past + self.future
        start = torch.randint(0, data.inputs.shape[1] - span + 1, (num_tasks,),
                              generator=self.generator)
        rows = (start[:, None] + torch.arange(span)).to(data.inputs.device)  # (T, M + K)
        x = torch.gather(data.inputs, 1, rows[..., None].expand(-1, -1, data.inputs.shape[-1]))
        y = torch.gather(data.targets, 1, rows[..., None].expand(-1, -1, data.targets.shape[-1]))
        info = {"params": sequences.params[:, 0]}
        return TaskSample(x[:, :self.past], y[:, :self.past], x[:, self.past:],
                          y[:, self.past:], info)

