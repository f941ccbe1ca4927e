"""The physical systems behind the tasks: damped oscillators and a driven pendulum.

Pure dynamics, no sampling: the task families of :mod:`ssm_metarl.tasks` and
:mod:`ssm_metarl.switching` draw parameters and inputs, then call these.

- The damped oscillator ``x'' + 2 zeta omega x' + omega^2 x = u`` in state
  space form (:func:`oscillator_matrices`), discretized exactly with a
  zero-order hold (:func:`discretize_exact`) and run as a linear recurrence
  with fixed (:func:`simulate_discrete`) or per-step
  (:func:`simulate_time_varying`) matrices.
- The damped, driven pendulum
  ``theta'' = -(g/l) sin theta - b theta' + u / (m l^2)``
  (:func:`pendulum_derivative`), integrated by classical Runge-Kutta
  (:func:`pendulum_rk4_step`, :func:`pendulum_step`).

Time convention: ``s_k`` is the state at time ``(k + 1) dt`` after input
``u_k`` was held over ``[k dt, (k + 1) dt)``.

Dimension letters used in shapes:

====  =====================================================================
T     tasks (one system each)
K     input sequences per task
B     sequences of a time-varying system (each with its own parameter path)
L     time steps
S     state size (2: position and velocity, or angle and angular velocity)
P     input size (1: force or torque)
====  =====================================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._validate import (
    check_float,
    check_int,
    check_positive,
    check_sized,
    check_tensor,
)
from .ssm import discretize_zoh

__all__ = [
    "discretize_exact",
    "oscillator_matrices",
    "pendulum_derivative",
    "pendulum_rk4_step",
    "pendulum_step",
    "simulate_discrete",
    "simulate_time_varying",
]


# ----------------------------------------------------------------------------- oscillators


def oscillator_matrices(omega: torch.Tensor, zeta: torch.Tensor):
    """Continuous state space form of ``x'' + 2 zeta omega x' + omega^2 x = u``.

    With state ``s = (x, x')``: ``s' = A s + B u``,
    ``A = [[0, 1], [-omega^2, -2 zeta omega]]``, ``B = [[0], [1]]``.
    ``omega``, ``zeta`` (T,) -> ``A`` (T, 2, 2), ``B`` (T, 2, 1).
    """
    omega = _real("omega", omega)
    zeta = _real("zeta", zeta)
    if zeta.shape != omega.shape:
        raise ValueError(f"zeta must have the shape of omega {tuple(omega.shape)}, "
                         f"got {tuple(zeta.shape)}")
    if zeta.dtype != omega.dtype or zeta.device != omega.device:
        raise TypeError(f"zeta must have the dtype and device of omega ({omega.dtype} on "
                        f"{omega.device}), got {zeta.dtype} on {zeta.device}")
    zeros, ones = torch.zeros_like(omega), torch.ones_like(omega)
    A = torch.stack(
        [torch.stack([zeros, ones], -1), torch.stack([-(omega**2), -2 * zeta * omega], -1)], -2
    )
    B = torch.stack([zeros, ones], -1)[..., None]
    return A, B


def discretize_exact(A: torch.Tensor, B: torch.Tensor, dt: float):
    """Exact zero-order-hold discretization: :func:`ssm_metarl.ssm.discretize_zoh`, dense.

    ``A_bar = e^{A dt}`` and ``B_bar = int_0^dt e^{A s} ds B``, both read off one
    matrix exponential ``expm([[A, B], [0, 0]] dt) = [[A_bar, B_bar], [0, I]]``
    (Van Loan's block trick), so ``A`` need not be invertible.
    ``A`` (T, S, S), ``B`` (T, S, P) -> ``A_bar`` (T, S, S), ``B_bar`` (T, S, P).
    """
    return discretize_zoh(A, B, dt, diagonal=False)


def simulate_discrete(
    A_bar: torch.Tensor, B_bar: torch.Tensor, u: torch.Tensor, initial_state: torch.Tensor
) -> torch.Tensor:
    """Run ``s_k = A_bar s_{k-1} + B_bar u_k`` from ``s_{-1} = initial_state``.

    ``A_bar`` (T, S, S), ``B_bar`` (T, S, 1), ``u`` (T, K, L, 1),
    ``initial_state`` (T, K, S) -> states (T, K, L, S). ``s_k`` is the state at
    time ``(k + 1) dt`` when ``u_k`` is held over ``[k dt, (k + 1) dt)``.
    """
    A_bar, B_bar, u, initial_state = _system_inputs(
        A_bar, B_bar, u, initial_state,
        (("T", "S", "S"), ("T", "S", "P"), ("T", "K", "L", "P"), ("T", "K", "S")))
    drive = torch.einsum("tsp,tklp->tkls", B_bar, u)  # B_bar u_k for every k at once
    state, states = initial_state, []
    for k in range(u.shape[-2]):
        state = torch.einsum("tij,tkj->tki", A_bar, state) + drive[..., k, :]
        states.append(state)
    return torch.stack(states, dim=-2)


def simulate_time_varying(
    A_bar: torch.Tensor, B_bar: torch.Tensor, u: torch.Tensor, initial_state: torch.Tensor
) -> torch.Tensor:
    """Run ``s_k = A_bar_k s_{k-1} + B_bar_k u_k`` from ``s_{-1} = initial_state``.

    The time-varying form of :func:`simulate_discrete`: ``A_bar`` (B, L, S, S),
    ``B_bar`` (B, L, S, P), ``u`` (B, L, P), ``initial_state`` (B, S) -> (B, L, S).
    """
    A_bar, B_bar, u, initial_state = _system_inputs(
        A_bar, B_bar, u, initial_state,
        (("B", "L", "S", "S"), ("B", "L", "S", "P"), ("B", "L", "P"), ("B", "S")))
    drive = torch.einsum("blsp,blp->bls", B_bar, u)
    state, states = initial_state, []
    for k in range(u.shape[1]):
        state = torch.einsum("bij,bj->bi", A_bar[:, k], state) + drive[:, k]
        states.append(state)
    return torch.stack(states, dim=1)


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
    return _derivative(*_pendulum_inputs(state, torque, mass, length, gravity, damping))


def _derivative(state, torque, mass, length, gravity, damping):
    """:func:`pendulum_derivative` on checked inputs."""
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
    inputs = _pendulum_inputs(state, torque, mass, length, gravity, damping)
    return _rk4(*inputs, check_float("dt", dt, minimum=0, strict=True))


def _rk4(state, torque, mass, length, gravity, damping, dt):
    """:func:`pendulum_rk4_step` on checked inputs."""

    def f(s: torch.Tensor) -> torch.Tensor:
        return _derivative(s, torque, mass, length, gravity, damping)

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
    state, torque, mass, length, gravity, damping = _pendulum_inputs(
        state, torque, mass, length, gravity, damping)
    substeps = check_int("substeps", substeps)
    h = check_float("dt", dt, minimum=0, strict=True) / substeps
    for _ in range(substeps):
        state = _rk4(state, torque, mass, length, gravity, damping, h)
    return state


# ----------------------------------------------------------------------------- checks


def _real(name: str, value: Any) -> torch.Tensor:
    """``value`` must be a real floating tensor."""
    value = check_tensor(name, value)
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a real floating tensor, got dtype {value.dtype}")
    return value


def _system_inputs(A_bar, B_bar, u, initial_state, shapes):
    """The four inputs of a simulation, each of its shape in ``shapes``, one dtype, L >= 1."""
    sizes: dict[str, tuple[int, str]] = {}
    A_bar = _real("A_bar", check_sized("A_bar", A_bar, shapes[0], sizes))
    B_bar = check_sized("B_bar", B_bar, shapes[1], sizes, A_bar, "A_bar")
    u = check_sized("u", u, shapes[2], sizes, A_bar, "A_bar")
    initial_state = check_sized("initial_state", initial_state, shapes[3], sizes, A_bar,
                                "A_bar")
    if sizes["L"][0] == 0:
        raise ValueError(f"{sizes['L'][1]} must have at least one time step (L >= 1), got L = 0")
    return A_bar, B_bar, u, initial_state


def _pendulum_inputs(state, torque, mass, length, gravity, damping):
    """Check the pendulum's inputs once: state (..., 2); torque, mass, length numbers or
    tensors of state's dtype broadcasting to (...); mass, length > 0; finite gravity, damping."""
    state = _real("state", state)
    if state.ndim < 1 or state.shape[-1] != 2:
        raise ValueError(f"state must have shape (..., 2) (angle, angular velocity), "
                         f"got {tuple(state.shape)}")
    batch = tuple(state.shape[:-1])
    checked = []
    for name, value in (("torque", torque), ("mass", mass), ("length", length)):
        positive = name != "torque"
        if not isinstance(value, torch.Tensor):
            if isinstance(value, np.ndarray):
                raise TypeError(f"{name} must be a number or a torch.Tensor of state's dtype "
                                f"{state.dtype}, got a NumPy array; convert with "
                                f"torch.as_tensor({name}, dtype={state.dtype})")
            checked.append(check_float(name, value, minimum=0 if positive else None,
                                       strict=positive))
            continue
        if value.dtype != state.dtype or value.device != state.device:
            raise TypeError(f"{name} must have the dtype and device of state ({state.dtype} on "
                            f"{state.device}), got {value.dtype} on {value.device}")
        try:
            fits = torch.broadcast_shapes(value.shape, batch) == batch
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"{name} must have shape {batch} (state's leading dims), "
                             f"got {tuple(value.shape)}")
        checked.append(check_positive(name, value) if positive else value)
    return (state, *checked, check_float("gravity", gravity), check_float("damping", damping))
