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
and its output ``y = x`` (the position). ``OscillatorIdentification`` is the
identification benchmark of notebook 02 built on it: 5 s of one input to
adapt on, a longer run under other inputs to be scored on.

The physics lives in :mod:`ssm_metarl.dynamics` and the families whose
parameters jump at unknown times (test-time adaptation, notebook 04) in
:mod:`ssm_metarl.switching`; their names are importable from here too
(``from ssm_metarl.tasks import SwitchingOscillatorTasks, pendulum_step``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._sampling import (
    INPUT_KINDS,
    TaskSample,
    check_dt,
    check_input_kind,
    check_oscillator_ranges,
    check_range,
    input_signals,
    uniform,
)
from ._validate import (
    check_bool,
    check_device,
    check_dtype,
    check_finite,
    check_int,
    check_positive,
    check_sized,
    check_tensor,
)
from .dynamics import (
    discretize_exact,
    oscillator_matrices,
    pendulum_derivative,
    pendulum_rk4_step,
    pendulum_step,
    simulate_discrete,
    simulate_time_varying,
)
from .switching import (
    SWITCHING_PENDULUM_PARAMS,
    SwitchingOscillatorTasks,
    SwitchingPendulumTasks,
    SwitchingSample,
    TransitionWindowTasks,
    jump_uniform,
    piecewise_constant_params,
    sample_switch_mask,
)

__all__ = [
    "INPUT_KINDS",
    "DampedOscillatorTasks",
    "OscillatorIdentification",
    "SinusoidTasks",
    "TaskSample",
    "sinusoid",
    "unit_power",
    # from ssm_metarl.dynamics
    "discretize_exact",
    "oscillator_matrices",
    "pendulum_derivative",
    "pendulum_rk4_step",
    "pendulum_step",
    "simulate_discrete",
    "simulate_time_varying",
    # from ssm_metarl.switching
    "SWITCHING_PENDULUM_PARAMS",
    "SwitchingOscillatorTasks",
    "SwitchingPendulumTasks",
    "SwitchingSample",
    "TransitionWindowTasks",
    "jump_uniform",
    "piecewise_constant_params",
    "sample_switch_mask",
]


# ----------------------------------------------------------------------------- sinusoids


def sinusoid(x: torch.Tensor, amplitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``y = A sin(x - phi)``; ``x`` (T, K, 1), ``amplitude``/``phase`` (T,) -> (T, K, 1)."""
    sizes: dict = {}
    x = check_sized("x", x, ("T", "K", "1"), sizes)
    if x.shape[-1] != 1 or not x.is_floating_point():
        raise ValueError(f"x must be a floating tensor of shape (T, K, 1), got {x.dtype} "
                         f"{tuple(x.shape)}")
    check_sized("amplitude", amplitude, ("T",), sizes, x, "x")
    check_sized("phase", phase, ("T",), sizes, x, "x")
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
        self.amplitude_range = check_range("amplitude_range", amplitude_range, low=0.0)
        self.phase_range = check_range("phase_range", phase_range)
        self.x_range = check_range("x_range", x_range)
        if self.x_range[0] == self.x_range[1]:
            raise ValueError(f"x_range must have low < high, got {self.x_range}")
        self.seed = check_int("seed", seed, minimum=0)
        self.device = torch.device(check_device("device", device))
        self.dtype = check_dtype("dtype", dtype)
        self.generator = torch.Generator().manual_seed(self.seed)

    def sample_task_params(self, num_tasks: int) -> dict[str, torch.Tensor]:
        """Draw ``amplitude`` and ``phase`` for ``num_tasks`` tasks, each (T,)."""
        check_int("num_tasks", num_tasks)
        amplitude = uniform(self.generator, (num_tasks,), self.amplitude_range, self.dtype)
        phase = uniform(self.generator, (num_tasks,), self.phase_range, self.dtype)
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
        check_int("k_support", k_support)
        check_int("k_query", k_query)
        check_bool("query_grid", query_grid)
        task = self.sample_task_params(num_tasks)
        support_x = uniform(self.generator, (num_tasks, k_support, 1), self.x_range, self.dtype)
        if query_grid:
            grid = torch.linspace(*self.x_range, k_query, dtype=self.dtype)
            query_x = grid[None, :, None].expand(num_tasks, k_query, 1).clone()
        else:
            query_x = uniform(self.generator, (num_tasks, k_query, 1), self.x_range, self.dtype)
        sample = TaskSample(
            support_x,
            sinusoid(support_x, task["amplitude"], task["phase"]),
            query_x,
            sinusoid(query_x, task["amplitude"], task["phase"]),
            task,
        )
        return sample.to(self.device)


# ----------------------------------------------------------------------------- oscillators


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
        self.omega_range, self.zeta_range = check_oscillator_ranges(omega_range, zeta_range)
        self.dt, self.length = check_dt(dt), check_int("length", length)
        self.input_kind = check_input_kind(input_kind)
        self.seed = check_int("seed", seed, minimum=0)
        self.device = torch.device(check_device("device", device))
        self.dtype = check_dtype("dtype", dtype)
        self.generator = torch.Generator().manual_seed(self.seed)

    def sample_task_params(self, num_tasks: int) -> dict[str, torch.Tensor]:
        """Draw ``omega`` (rad/s) and ``zeta`` for ``num_tasks`` oscillators, each (T,)."""
        check_int("num_tasks", num_tasks)
        omega = uniform(self.generator, (num_tasks,), self.omega_range, torch.float64)
        zeta = uniform(self.generator, (num_tasks,), self.zeta_range, torch.float64)
        return {"omega": omega, "zeta": zeta}

    def sample_inputs(
        self, shape: tuple[int, ...], length: int | None = None, kind: str | None = None
    ) -> torch.Tensor:
        """Draw input sequences ``u`` of shape (*shape, L, 1) in float64 (``input_kind``)."""
        if not isinstance(shape, (tuple, list)):
            raise TypeError(f"shape must be a tuple of sizes, e.g. (T, K), got "
                            f"{type(shape).__name__} {shape!r:.40}")
        shape = tuple(check_int(f"shape[{i}]", size, 0) for i, size in enumerate(shape))
        length = self.length if length is None else check_int("length", length)
        kind = self.input_kind if kind is None else check_input_kind(kind)
        return input_signals(self.generator, shape, length, self.dt, kind)

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
        for name, value in (("omega", omega), ("zeta", zeta), ("u", u)):
            check_tensor(name, value)
            if not value.is_floating_point():
                raise TypeError(f"{name} must be a floating tensor, got {value.dtype}")
        check_positive("omega", omega)
        check_finite("zeta", zeta)
        if omega.ndim != 1:
            raise ValueError(f"omega must have shape (T,), got {tuple(omega.shape)}")
        if initial_state is not None:
            check_tensor("initial_state", initial_state, 3, "(T, K, 2)")
            if tuple(initial_state.shape) != (*u.shape[:2], 2):
                raise ValueError(f"initial_state must have shape (T, K, 2) = "
                                 f"{(*u.shape[:2], 2)}, got {tuple(initial_state.shape)}")
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
        check_int("k_support", k_support)
        check_int("k_query", k_query)
        task = self.sample_task_params(num_tasks)
        u = self.sample_inputs((num_tasks, k_support + k_query), length)
        y, states = self.simulate(task["omega"], task["zeta"], u)
        split = [k_support, k_query]
        u_s, u_q = u.split(split, dim=1)
        y_s, y_q = y.split(split, dim=1)
        states_s, states_q = states.split(split, dim=1)
        info = {**task, "support_states": states_s, "query_states": states_q}
        return TaskSample(u_s, y_s, u_q, y_q, info).to(self.device, self.dtype)


# ------------------------------------------------------------------------- system identification


def unit_power(u: torch.Tensor) -> torch.Tensor:
    """Scale every input sequence to unit mean power: (..., L, 1) -> same, ``mean_t u_t^2 = 1``."""
    u = check_tensor("u", u)
    if u.ndim < 2 or not u.is_floating_point():
        raise ValueError(f"u must be a floating tensor of shape (..., L, 1), got {u.dtype} "
                         f"{tuple(u.shape)}")
    power = u.pow(2).mean(dim=-2, keepdim=True)
    check_positive("u (mean power of every sequence)", power)
    return u / power.sqrt()


class OscillatorIdentification:
    """System identification of a damped oscillator from a short record (notebook 02).

    Each task is one oscillator of :class:`DampedOscillatorTasks` with
    ``omega ~ U[1, 3]`` rad/s and ``zeta ~ U[0.2, 0.5]``, sampled at
    ``dt = 0.1`` s. The support set is ``k_support`` runs of
    ``support_length`` steps (notebook 02: 50 steps, 5 s of input and
    position) and the query set ``k_query`` runs of ``query_length`` steps
    under other inputs, all from rest. Inputs are smooth (sums of slow sinusoids, see
    :meth:`DampedOscillatorTasks.sample_inputs`) scaled to unit power
    (:func:`unit_power`), so every run excites its oscillator equally.

    ``sample(T, K, K_query)`` returns a float32 :class:`TaskSample`:
    ``support_x`` = inputs ``u`` (T, K, support_length, 1), ``support_y`` =
    positions (T, K, support_length, 1), ``query_x``, ``query_y``
    (T, K_query, query_length, 1), and ``info`` with ``omega``, ``zeta`` (T,)
    and ``query_states`` (T, K_query, query_length, 2).

    Args:
        seed: seed of the generator behind every draw (``seed >= 0``).
        support_length, query_length: time steps of a support and a query run.
    """

    omega_range: tuple[float, float] = (1.0, 3.0)
    zeta_range: tuple[float, float] = (0.2, 0.5)
    dt: float = 0.1

    def __init__(self, seed: int, support_length: int, query_length: int) -> None:
        self.oscillators = DampedOscillatorTasks(self.omega_range, self.zeta_range, dt=self.dt,
                                                 seed=seed)
        self.support_length = check_int("support_length", support_length)
        self.query_length = check_int("query_length", query_length)

    def sample(self, num_tasks: int, k_support: int, k_query: int) -> TaskSample:
        """``num_tasks`` oscillators with ``k_support`` support and ``k_query`` query runs."""
        check_int("k_support", k_support)
        check_int("k_query", k_query)
        system = self.oscillators.sample_task_params(num_tasks)
        runs = []
        for k, length in ((k_support, self.support_length), (k_query, self.query_length)):
            u = unit_power(self.oscillators.sample_inputs((num_tasks, k), length))
            position, states = self.oscillators.simulate(system["omega"], system["zeta"], u)
            runs.append((u, position, states))
        (u_s, y_s, _), (u_q, y_q, states_q) = runs
        return TaskSample(u_s, y_s, u_q, y_q, {**system, "query_states": states_q}).to(
            dtype=torch.float32)
