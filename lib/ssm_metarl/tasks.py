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
====  =====================================================================

``SinusoidTasks`` follows Finn et al. (2017), "Model-Agnostic Meta-Learning
for Fast Adaptation of Deep Networks", Section 5.1: ``y = A sin(x - phi)``
with amplitude ``A ~ U[0.1, 5.0]``, phase ``phi ~ U[0, pi]`` and ``x ~ U[-5, 5]``
(the sign convention of the authors' code).

``DampedOscillatorTasks`` draws random linear systems
``x'' + 2 zeta omega x' + omega^2 x = u`` for fast system identification with
an SSM: each task is one oscillator, each example one input sequence ``u``
and its output ``y = x`` (the position).
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
