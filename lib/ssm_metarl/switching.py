"""Systems whose dynamics change at unknown times: the tasks of test-time adaptation.

A forecaster under test (notebook 04) meets sequences whose physical
parameters jump mid-stream at times it is not told.
:class:`SwitchingOscillatorTasks` and :class:`SwitchingPendulumTasks` draw
``B`` such sequences; ``sample(batch)`` returns a :class:`SwitchingSample`.
:func:`next_step_data` cuts them into one-step-ahead forecasting examples,
and :class:`TransitionWindowTasks` cuts GrBAL meta-training tasks (``M`` past
and ``K`` next transitions of one system) out of them as a
:class:`~ssm_metarl.tasks.TaskSample`. The Kalman filter that knows the true
parameters (:meth:`SwitchingOscillatorTasks.oracle_forecast`) is the
lowest error any forecaster can reach.

Dimension letters used in shapes:

====  =====================================================================
B     sequences in a sample
L     time steps of a sequence
S     state size (2: position and velocity, or angle and angular velocity)
M     physical parameters per step (2)
H     history: past observations a next-step example holds
N     forecasting examples per sequence, ``N = L - H``
F     features of one example, ``F = H Q + H P``
Q     observation size (1 here); P input size (1 here)
T     tasks (windows) of :class:`TransitionWindowTasks`
====  =====================================================================

Time convention (the one of :func:`~ssm_metarl.dynamics.simulate_discrete`):
``states[:, k]`` is the state at time ``(k + 1) dt`` after input ``u[:, k]``
was held over ``[k dt, (k + 1) dt)`` by the system with parameters
``params[:, k]``. A switch at step ``tau`` means
``params[:, tau] != params[:, tau - 1]``, so ``y[:, tau]`` is the first
observation the new system produced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from ._sampling import (
    TaskSample,
    check_dt,
    check_input_kind,
    check_oscillator_ranges,
    check_range,
    input_signals,
    uniform,
)
from ._validate import (
    check_device,
    check_dtype,
    check_finite,
    check_float,
    check_instance,
    check_int,
    check_sized,
    check_tensor,
)
from .dynamics import (
    discretize_exact,
    oscillator_matrices,
    pendulum_step,
    simulate_time_varying,
)

__all__ = [
    "SWITCHING_PENDULUM_PARAMS",
    "NextStepData",
    "SwitchingOscillatorTasks",
    "SwitchingPendulumTasks",
    "SwitchingSample",
    "TransitionWindowTasks",
    "jump_uniform",
    "next_step_data",
    "piecewise_constant_params",
    "sample_switch_mask",
]

SWITCHING_PENDULUM_PARAMS: tuple[str, ...] = ("mass", "length", "both")

# ----------------------------------------------------------------------------- samples


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
        check_device("device", device)
        if dtype is not None:
            check_dtype("dtype", dtype)

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        return SwitchingSample(*(move(t) for t in self[:5]), self.param_names)

    def sequence(self, index: int) -> SwitchingSample:
        """Sequence ``index`` alone, keeping a leading dimension of size 1."""
        count = self.num_sequences
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < count:
            raise ValueError(f"index must be an int in [0, {count}) for this sample of "
                             f"{count} sequences, got {index!r}")
        pick = slice(int(index), int(index) + 1)
        return SwitchingSample(*(t[pick] for t in self[:5]), self.param_names)


# ----------------------------------------------------------------------------- validation


def _check_switch_rule(
    num_switches: int | None, switch_prob: float | None, min_segment: int, length: int
) -> None:
    """Exactly one of ``num_switches`` / ``switch_prob``, and segments that fit in ``length``."""
    if (num_switches is None) == (switch_prob is None):
        raise ValueError(
            "give exactly one of num_switches (a fixed count per sequence) or switch_prob "
            f"(a per-step hazard); got num_switches={num_switches!r}, switch_prob={switch_prob!r}"
        )
    check_int("min_segment", min_segment)
    if num_switches is not None:
        check_int("num_switches", num_switches, minimum=0)
        if (num_switches + 1) * min_segment > length:
            raise ValueError(
                f"num_switches={num_switches} segments of at least min_segment={min_segment} "
                f"steps need length >= {(num_switches + 1) * min_segment}, got length={length}"
            )
    elif isinstance(switch_prob, bool) or not isinstance(
            switch_prob, (int, float, np.integer, np.floating)) or not 0 <= switch_prob <= 1:
        raise ValueError(f"switch_prob must be a probability in [0, 1], got {switch_prob!r}")
    elif switch_prob > 0 and 2 * min_segment > length:
        raise ValueError(f"switch_prob={switch_prob} can never switch: a switch needs "
                         f"min_segment={min_segment} steps on both sides, so length >= "
                         f"{2 * min_segment}, got length={length}")


def _check_min_jump(min_jump: float, name: str = "min_jump") -> float:
    if check_float(name, min_jump, minimum=0) > 0.5:
        raise ValueError(
            f"{name} is a fraction of the parameter range and must lie in [0, 0.5], "
            f"got {min_jump!r}"
        )
    return float(min_jump)


def _check_generator(generator: object) -> torch.Generator:
    """The explicit ``torch.Generator`` every draw here comes from (never global state)."""
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (e.g. "
                        f"torch.Generator().manual_seed(0)), got {type(generator).__name__}")
    return generator


# ----------------------------------------------------------------------------- switch times


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
    _check_generator(generator)
    batch = check_int("batch", batch, 0)
    length = check_int("length", length)
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
    _check_generator(generator)
    old = check_tensor("old", old)
    if not old.is_floating_point():
        raise TypeError(f"old must be a floating tensor (e.g. float64), got {old.dtype}")
    lo, hi = check_range("bounds", bounds)
    if old.numel() and not bool(((old >= lo) & (old <= hi)).all()):
        raise ValueError(f"old must lie in bounds [{lo}, {hi}], got values from "
                         f"{old.min().item():.4g} to {old.max().item():.4g}")
    return _jump(generator, old, (lo, hi), _check_min_jump(min_jump))


def _jump(generator: torch.Generator, old: torch.Tensor, bounds: tuple, min_jump: float
          ) -> torch.Tensor:
    """:func:`jump_uniform` on checked arguments."""
    lo, hi = bounds
    width = hi - lo
    if width == 0:
        return old.clone()
    shift = uniform(generator, old.shape, (min_jump * width, (1 - min_jump) * width), old.dtype)
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
    _check_generator(generator)
    switch_mask = check_tensor("switch_mask", switch_mask, 2, "(B, L)")
    if switch_mask.dtype != torch.bool:
        raise TypeError(f"switch_mask must be a bool tensor (B, L), got {switch_mask.dtype}")
    if isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence) or not bounds:
        raise TypeError(f"bounds must be a non-empty list of (low, high) pairs, one per "
                        f"parameter, got {bounds!r:.60}")
    if isinstance(min_jumps, (str, bytes)) or not isinstance(min_jumps, Sequence) \
            or len(min_jumps) != len(bounds):
        raise ValueError(f"min_jumps must be a list with one entry (a fraction or None) per "
                         f"pair of bounds ({len(bounds)}), got {min_jumps!r:.60}")
    bounds = [check_range(f"bounds[{m}]", pair) for m, pair in enumerate(bounds)]
    min_jumps = [None if jump is None else _check_min_jump(jump, f"min_jumps[{m}]")
                 for m, jump in enumerate(min_jumps)]
    batch = switch_mask.shape[0]
    segment = torch.cumsum(switch_mask.long(), dim=1)  # (B, L) index of the current segment
    num_segments = int(segment.max()) + 1 if segment.numel() else 1
    columns = []
    for param_bounds, min_jump in zip(bounds, min_jumps, strict=True):
        values = [uniform(generator, (batch,), param_bounds, torch.float64)]
        for _ in range(1, num_segments):
            values.append(values[-1] if min_jump is None else
                          _jump(generator, values[-1], param_bounds, min_jump))
        columns.append(torch.gather(torch.stack(values, dim=1), 1, segment))
    return torch.stack(columns, dim=-1)




# ----------------------------------------------------------------------------- oscillators


class SwitchingOscillatorTasks:
    """Damped oscillators ``x'' + 2 zeta omega x' + omega^2 x = u`` whose parameters jump.

    Each sequence starts from a random state ``N(0, initial_std^2 I)`` with
    ``omega ~ U[omega_range]``, ``zeta ~ U[zeta_range]``; at each switch
    ``omega`` moves by at least ``min_jump`` of its range (see
    :func:`jump_uniform`) and ``zeta`` is redrawn. Between switches the system
    is discretized exactly (zero-order hold, :func:`discretize_exact`), so the
    state is continuous across a switch and only its dynamics change.
    Observations are ``y = x + noise_std * N(0, 1)``.

    **A shift no model has seen.** With ``omega_after_range`` set, ``omega``
    after every switch is drawn from ``U[omega_after_range]`` instead of jumping
    within ``omega_range``: models fitted on sequences of this class *without*
    it (the pre-switch regimes) meet, after the switch, dynamics outside
    everything they were trained on. This is the covariate shift of test-time
    adaptation (notebook 04, Section 1); without it a frozen model fitted on all
    regimes has no shift to suffer.

    The defaults make one-step forecasting depend on knowing the system: at
    ``dt = 0.5`` s an oscillator turns by 0.5 to 1.5 rad per step, so repeating
    the last observation (persistence) is poor, and the noise (0.02 against a
    signal of standard deviation about 0.4) is small enough that a model which
    knows the current dynamics predicts far better than one that does not.

    Inputs ``u`` are the signals of
    :meth:`~ssm_metarl.tasks.DampedOscillatorTasks.sample_inputs` (``input_kind``
    ``"smooth"``, ``"impulse"`` or ``"noise"``), and the shared arguments are
    checked as there. The generator seeded by ``seed`` is the only source of
    randomness here.

    Args:
        omega_range, zeta_range: as in :class:`~ssm_metarl.tasks.DampedOscillatorTasks`.
        num_switches: switches per sequence (default 1), or ``None`` with
            ``switch_prob`` a per-step hazard (see :func:`sample_switch_mask`).
        min_segment: minimum number of steps between switches (and at both ends).
        min_jump: minimum change of ``omega`` at a switch, as a fraction of its range.
        omega_after_range: ``None`` (default), or the ``(low, high)`` range of
            ``omega`` after each switch (rad/s; ``min_jump`` then does not apply).
        length, dt, input_kind, seed, device, dtype: as in
            :class:`~ssm_metarl.tasks.DampedOscillatorTasks`.
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
        omega_after_range: Sequence[float] | None = None,
        length: int = 250,
        dt: float = 0.5,
        noise_std: float = 0.02,
        initial_std: float = 1.0,
        input_kind: str = "noise",
        seed: int = 0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.omega_range, self.zeta_range = check_oscillator_ranges(omega_range, zeta_range)
        self.omega_after_range = None
        if omega_after_range is not None:
            self.omega_after_range = check_range("omega_after_range", omega_after_range, low=0.0)
            if self.omega_after_range[0] <= 0:
                raise ValueError(f"omega_after_range must be positive, got {omega_after_range}")
        self.dt, self.length = check_dt(dt), check_int("length", length)
        self.input_kind = check_input_kind(input_kind)
        self.seed = check_int("seed", seed, minimum=0)
        _check_switch_rule(num_switches, switch_prob, min_segment, length)
        self.num_switches, self.switch_prob = num_switches, switch_prob
        self.min_segment = min_segment
        self.min_jump = _check_min_jump(min_jump)
        self.noise_std = check_float("noise_std", noise_std, minimum=0)
        self.initial_std = check_float("initial_std", initial_std, minimum=0)
        self.device = torch.device(check_device("device", device))
        self.dtype = check_dtype("dtype", dtype)
        self.generator = torch.Generator().manual_seed(self.seed)

    def switch_mask(self, batch: int) -> torch.Tensor:
        """Switch times of ``batch`` sequences as a (B, L) bool mask."""
        return sample_switch_mask(
            self.generator, batch, self.length, num_switches=self.num_switches,
            switch_prob=self.switch_prob, min_segment=self.min_segment,
        )

    def discretize(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact ZOH matrices per step: ``params`` (B, L, 2) = (omega, zeta) ->
        ``A_bar`` (B, L, 2, 2), ``B_bar`` (B, L, 2, 1)."""
        params = check_tensor("params", params, 3, "(B, L, 2)")
        if params.shape[-1] != 2 or not params.is_floating_point():
            raise ValueError(f"params must be a floating tensor of shape (B, L, 2) = (omega, "
                             f"zeta) per step, got {params.dtype} {tuple(params.shape)}")
        check_finite("params", params)
        A, B = oscillator_matrices(params[..., 0].flatten(), params[..., 1].flatten())
        A_bar, B_bar = discretize_exact(A, B, self.dt)
        return A_bar.reshape(*params.shape[:2], 2, 2), B_bar.reshape(*params.shape[:2], 2, 1)

    def sample(self, batch: int) -> SwitchingSample:
        """Draw ``batch`` switching sequences of ``length`` steps (a :class:`SwitchingSample`)."""
        check_int("batch", batch)
        mask = self.switch_mask(batch)
        params = piecewise_constant_params(
            self.generator, mask, [self.omega_range, self.zeta_range], [self.min_jump, 0.0]
        )
        if self.omega_after_range is not None:  # every later segment: a fresh unseen regime
            segment = torch.cumsum(mask.long(), dim=1)  # (B, L)
            after = uniform(self.generator, (batch, int(segment.max()) + 1 if batch else 1),
                            self.omega_after_range, torch.float64)
            omega = torch.where(segment == 0, params[..., 0], torch.gather(after, 1, segment))
            params = torch.stack([omega, params[..., 1]], dim=-1)
        u = input_signals(self.generator, (batch,), self.length, self.dt, self.input_kind)
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
        check_instance("sample", sample, SwitchingSample)
        if tuple(sample.param_names) != ("omega", "zeta"):
            raise ValueError(f"sample must come from a SwitchingOscillatorTasks (params omega, "
                             f"zeta), got one with params {sample.param_names}")
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
        torque_scale: the input signals of
            :meth:`~ssm_metarl.tasks.DampedOscillatorTasks.sample_inputs`
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
        self.mass_range = check_range("mass_range", mass_range, low=0.0)
        self.length_range = check_range("length_range", length_range, low=0.0)
        if self.mass_range[0] <= 0 or self.length_range[0] <= 0:
            raise ValueError(
                f"mass_range and length_range must be positive, got {self.mass_range} "
                f"and {self.length_range}"
            )
        if switching not in SWITCHING_PENDULUM_PARAMS:
            raise ValueError(
                f"switching must be one of {SWITCHING_PENDULUM_PARAMS}, got {switching!r}"
            )
        self.dt, self.length = check_dt(dt), check_int("length", length)
        self.input_kind = check_input_kind(input_kind)
        self.seed = check_int("seed", seed, minimum=0)
        _check_switch_rule(num_switches, switch_prob, min_segment, length)
        self.switching, self.num_switches, self.switch_prob = switching, num_switches, switch_prob
        self.min_segment, self.min_jump = min_segment, _check_min_jump(min_jump)
        self.gravity = check_float("gravity", gravity, minimum=0, strict=True)
        self.damping = check_float("damping", damping, minimum=0)
        self.torque_scale = check_float("torque_scale", torque_scale, minimum=0)
        self.initial_angle = check_float("initial_angle", initial_angle, minimum=0)
        self.noise_std = check_float("noise_std", noise_std, minimum=0)
        self.substeps = check_int("substeps", substeps)
        self.device = torch.device(check_device("device", device))
        self.dtype = check_dtype("dtype", dtype)
        self.generator = torch.Generator().manual_seed(self.seed)

    def simulate(
        self, params: torch.Tensor, u: torch.Tensor, initial_state: torch.Tensor
    ) -> torch.Tensor:
        """States (B, L, 2) from ``params`` (B, L, 2) = (mass, length), torques ``u``
        (B, L, 1) and ``initial_state`` (B, 2) = ``s_{-1}``; float64 RK4."""
        sizes: dict = {}
        params = check_sized("params", params, ("B", "L", "M=2"), sizes)
        check_sized("u", u, ("B", "L", "P=1"), sizes, params, "params")
        check_sized("initial_state", initial_state, ("B", "S=2"), sizes, params, "params")
        if params.shape[-1] != 2 or u.shape[-1] != 1 or initial_state.shape[-1] != 2:
            raise ValueError(f"params, u and initial_state must have shapes (B, L, 2), "
                             f"(B, L, 1) and (B, 2), got {tuple(params.shape)}, "
                             f"{tuple(u.shape)} and {tuple(initial_state.shape)}")
        state, states = initial_state, []
        for k in range(u.shape[1]):
            state = pendulum_step(state, u[:, k, 0], params[:, k, 0], params[:, k, 1], self.dt,
                                  self.substeps, gravity=self.gravity, damping=self.damping)
            states.append(state)
        return torch.stack(states, dim=1)

    def sample(self, batch: int) -> SwitchingSample:
        """Draw ``batch`` switching pendulum sequences (a :class:`SwitchingSample`)."""
        check_int("batch", batch)
        mask = sample_switch_mask(
            self.generator, batch, self.length, num_switches=self.num_switches,
            switch_prob=self.switch_prob, min_segment=self.min_segment,
        )
        jumps = {"mass": (self.min_jump, None), "length": (None, self.min_jump),
                 "both": (self.min_jump, self.min_jump)}[self.switching]
        params = piecewise_constant_params(
            self.generator, mask, [self.mass_range, self.length_range], jumps
        )
        u = self.torque_scale * input_signals(self.generator, (batch,), self.length, self.dt,
                                              self.input_kind)
        angle = uniform(self.generator, (batch,), (-self.initial_angle, self.initial_angle),
                         torch.float64)
        states = self.simulate(params, u, torch.stack([angle, torch.zeros_like(angle)], -1))
        noise = torch.randn(batch, self.length, 1, generator=self.generator, dtype=torch.float64)
        y = states[..., :1] + self.noise_std * noise
        sample = SwitchingSample(u, y, states, params, mask, ("mass", "length"))
        return sample.to(self.device, self.dtype)


# ---------------------------------------------------------------------- one-step forecasting data


class NextStepData(NamedTuple):
    """One-step-ahead forecasting examples built by :func:`next_step_data`.

    ``inputs`` (B, N, F) and ``targets`` (B, N, Q); example ``n`` predicts the
    observation at time ``n + history`` of the raw sequence of ``length`` steps.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    history: int
    length: int

    def to_time_frame(self, values: torch.Tensor) -> torch.Tensor:
        """Place per-example ``values`` (B, N, ...) at their target times: (B, L, ...).

        The first ``history`` steps have no prediction and hold NaN, so errors
        line up with the switch times of the raw sequence.
        """
        values = check_tensor("values", values)
        batch, examples = self.targets.shape[:2]
        if values.ndim < 2 or tuple(values.shape[:2]) != (batch, examples):
            raise ValueError(f"values must have shape (B, N, ...) = ({batch}, {examples}, ...) "
                             f"(one entry per example), got {tuple(values.shape)}")
        if not (values.is_floating_point() or values.is_complex()):
            raise TypeError(f"values must be a floating tensor (the first history steps are "
                            f"NaN), got {values.dtype}")
        pad = values.new_full((values.shape[0], self.history, *values.shape[2:]), math.nan)
        return torch.cat([pad, values], dim=1)


def next_step_data(y: torch.Tensor, u: torch.Tensor, history: int) -> NextStepData:
    """Examples ``(y_{t-H..t-1}, u_{t-H+1..t}) -> y_t`` for ``t = H, ..., L - 1``.

    ``y`` (B, L, Q), ``u`` (B, L, P) -> :class:`NextStepData` with inputs
    (B, L - H, H Q + H P): first the ``H`` past observations (oldest first,
    each of size Q), then the ``H`` inputs ending with ``u_t``.
    """
    y = check_tensor("y", y, 3, "(B, L, Q)")
    u = check_tensor("u", u, 3, "(B, L, P)")
    if y.shape[:2] != u.shape[:2]:
        raise ValueError(f"y and u must share (B, L), got {tuple(y.shape)} and {tuple(u.shape)}")
    if not y.is_floating_point():
        raise TypeError(f"y must be a floating tensor, got {y.dtype}")
    if (u.dtype, u.device) != (y.dtype, y.device):
        raise TypeError(f"u must have the dtype and device of y ({y.dtype} on {y.device}), "
                        f"got {u.dtype} on {u.device}")
    length = y.shape[1]
    if check_int("history", history) >= length:
        raise ValueError(f"history must be < the sequence length {length}, got {history}")
    past_y = y.unfold(1, history, 1)[:, :-1]  # (B, N, Q, H): y_{t-H..t-1}
    recent_u = u.unfold(1, history, 1)[:, 1:]  # (B, N, P, H): u_{t-H+1..t}
    features = [past_y.transpose(-1, -2).flatten(2), recent_u.transpose(-1, -2).flatten(2)]
    return NextStepData(torch.cat(features, dim=-1), y[:, history:], history, length)


# ----------------------------------------------------------------------------- GrBAL windows


class TransitionWindowTasks:
    """GrBAL meta-training tasks: ``M`` past and ``K`` next transitions of one system.

    Nagabandi et al. (2019), Sec. 4 and Alg. 1: the dynamics model is
    meta-trained so that a few gradient steps on the last ``M`` transitions of
    a trajectory predict the next ``K``. Each task here is one window of
    ``M + K`` consecutive one-step forecasting examples
    (:func:`next_step_data` with ``history`` H) cut at a
    random place from a sequence of ``systems`` (any object with
    ``sample(batch) -> SwitchingSample``, e.g. a :class:`SwitchingOscillatorTasks`
    with ``num_switches=0``: one random regime per sequence). ``sample(T)``
    returns a :class:`~ssm_metarl.tasks.TaskSample` with support (T, M, F) -> (T, M, Q) and
    query (T, K, F) -> (T, K, Q), so it plugs into
    :class:`ssm_metarl.maml.TaskBatch` and :class:`~ssm_metarl.maml.MetaMAMLTrainer`.
    """

    def __init__(self, systems, history: int, past: int = 16, future: int = 16,
                 seed: int = 0) -> None:
        if not callable(getattr(systems, "sample", None)):
            raise TypeError(f"systems must have a sample(batch) method, got "
                            f"{type(systems).__name__}")
        length = getattr(systems, "length", None)
        if isinstance(length, bool) or not isinstance(length, int):
            raise TypeError(f"systems must have an int length (steps per sequence), got "
                            f"{type(systems).__name__} with length={length!r}")
        self.systems, self.history = systems, check_int("history", history)
        self.past, self.future = check_int("past", past), check_int("future", future)
        seed = check_int("seed", seed, 0)
        if history >= length:
            raise ValueError(f"history must be < the sequence length systems.length = {length}, "
                             f"got {history}")
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
        for name, value in (("k_support", k_support), ("k_query", k_query)):
            if value is not None:
                check_int(name, value)
        sequences = self.systems.sample(check_int("num_tasks", num_tasks))
        if not isinstance(sequences, SwitchingSample):
            raise TypeError(f"systems.sample(batch) must return a SwitchingSample, got "
                            f"{type(sequences).__name__}")
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
