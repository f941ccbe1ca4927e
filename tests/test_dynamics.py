"""Tests of ssm_metarl.dynamics: the oscillator and pendulum physics.

The exact discretization against ssm.discretize_zoh and a power series,
the time-varying recurrence against the time-invariant one, and the
pendulum step against a loop of RK4 steps. The trajectories themselves are
checked against independent fine integrations in test_tasks.py and
test_switching.py.
"""

from __future__ import annotations

import math

import torch

from ssm_metarl.dynamics import (
    discretize_exact,
    oscillator_matrices,
    pendulum_rk4_step,
    pendulum_step,
    simulate_discrete,
    simulate_time_varying,
)
from ssm_metarl.ssm import discretize_zoh

# ----------------------------------------------------------------------------- oscillators


def test_discretize_exact_is_the_dense_zero_order_hold_of_ssm():
    omega = torch.tensor([0.5, 2.0, 4.0], dtype=torch.float64)
    zeta = torch.tensor([0.0, 0.3, 1.5], dtype=torch.float64)
    A, B = oscillator_matrices(omega, zeta)
    assert A.shape == (3, 2, 2) and B.shape == (3, 2, 1)
    A_bar, B_bar = discretize_exact(A, B, 0.1)
    expected_A, expected_B = discretize_zoh(A, B, 0.1, diagonal=False)
    assert torch.equal(A_bar, expected_A) and torch.equal(B_bar, expected_B)
    # A_bar = e^{A dt} by its power series, and A B_bar = (A_bar - I) B for invertible A.
    series = sum(torch.linalg.matrix_power(0.1 * A, n) / math.factorial(n) for n in range(20))
    assert torch.allclose(A_bar, series, atol=1e-14)
    assert torch.allclose(A @ B_bar, (A_bar - torch.eye(2, dtype=torch.float64)) @ B,
                          atol=1e-14)


def test_time_varying_run_with_constant_matrices_is_the_time_invariant_run():
    generator = torch.Generator().manual_seed(0)
    A, B = oscillator_matrices(torch.tensor([1.5], dtype=torch.float64),
                               torch.tensor([0.2], dtype=torch.float64))
    A_bar, B_bar = discretize_exact(A, B, 0.5)
    u = torch.randn(1, 1, 12, 1, generator=generator, dtype=torch.float64)
    start = torch.randn(1, 1, 2, generator=generator, dtype=torch.float64)
    fixed = simulate_discrete(A_bar, B_bar, u, start)  # (T=1, K=1, L, S)
    varying = simulate_time_varying(A_bar[:, None].expand(1, 12, 2, 2),
                                    B_bar[:, None].expand(1, 12, 2, 1), u[0], start[0])
    assert torch.allclose(varying, fixed[0], atol=1e-14)
    # s_0 = A_bar s_{-1} + B_bar u_0
    assert torch.allclose(fixed[0, 0, 0], A_bar[0] @ start[0, 0] + B_bar[0, :, 0] * u[0, 0, 0, 0])


# ----------------------------------------------------------------------------- pendulum


def test_pendulum_step_is_substeps_of_rk4_with_the_torque_held():
    state = torch.tensor([[0.3, -0.2], [1.0, 0.5]], dtype=torch.float64)
    torque, mass, length = (torch.tensor([0.5, -1.0], dtype=torch.float64),
                            torch.tensor([1.0, 2.0], dtype=torch.float64),
                            torch.tensor([0.7, 1.3], dtype=torch.float64))
    expected = state
    for _ in range(4):
        expected = pendulum_rk4_step(expected, torque, mass, length, 0.1 / 4)
    assert torch.allclose(pendulum_step(state, torque, mass, length, 0.1, 4), expected,
                          atol=1e-14)
