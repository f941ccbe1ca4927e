"""Tests of ssm_metarl.adaptation.mpc: the planners and adaptive MPC on a pendulum.

The planners against an analytic one-step optimum, the stage cost by hand,
and MPC on a pendulum whose mass changes: the adapted model must track the
change that the frozen model misses.
"""

from __future__ import annotations

import pytest
import torch

from ssm_metarl.adaptation import (
    PendulumDynamicsModel,
    TestTimeAdapter,
    angle_tracking_cost,
    cem,
    fit_next_step,
    pendulum_mpc_episodes,
    random_shooting,
)
from ssm_metarl.dynamics import pendulum_step

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- MPC


def linear_system(a: float, b: float):
    return lambda x, u: a * x + b * u


def test_random_shooting_and_cem_find_the_one_step_lqr_optimum():
    # x' = a x + b u, cost x'^2 + r u^2: d/du = 2 b (a x + b u) + 2 r u = 0.
    a, b, r, x = 0.9, 0.5, 0.1, torch.tensor([2.0], dtype=torch.float64)
    optimum = -a * b * x / (b**2 + r)
    cost = lambda nxt, u: (nxt**2).sum(-1) + r * (u**2).sum(-1)
    generator = torch.Generator().manual_seed(0)
    shot = random_shooting(linear_system(a, b), x, 1, 20000, -3.0, 3.0, cost, generator)
    assert abs(shot.item() - optimum.item()) < 2e-3
    planned = cem(linear_system(a, b), x, 1, 200, -3.0, 3.0, cost, num_elites=20, iterations=8,
                  generator=generator)
    assert abs(planned.item() - optimum.item()) < 1e-3
    # With the optimum outside the box the best action is the bound.
    bounded = cem(linear_system(a, b), x, 1, 200, -0.5, 3.0, cost, num_elites=20, iterations=8,
                  generator=generator)
    assert abs(bounded.item() + 0.5) < 1e-6


def test_mpc_rejects_bad_arguments():
    dynamics, cost = linear_system(1.0, 1.0), lambda nxt, u: (nxt**2).sum(-1)
    x = torch.zeros(1)
    with pytest.raises(ValueError, match="low < high"):
        random_shooting(dynamics, x, 1, 10, 1.0, -1.0, cost)
    with pytest.raises(ValueError, match="num_elites"):
        cem(dynamics, x, 1, 10, -1.0, 1.0, cost, num_elites=20)
    with pytest.raises(ValueError, match="horizon must be a positive int"):
        random_shooting(dynamics, x, 0, 10, -1.0, 1.0, cost)


# ----------------------------------------------------------------------------- pendulum and MPC


def test_angle_tracking_cost_by_hand():
    cost = angle_tracking_cost(0.5, 0.01)
    states = torch.tensor([[0.5, 3.0], [1.5, 0.0]])
    actions = torch.tensor([[2.0], [0.0]])
    assert torch.allclose(cost(states, actions), torch.tensor([0.04, 1.0]))


@pytest.fixture(scope="module")
def pendulum_model():
    generator = torch.Generator().manual_seed(0)
    states = torch.stack([4 * torch.rand(2000, generator=generator, dtype=torch.float64) - 2,
                          2 * torch.randn(2000, generator=generator, dtype=torch.float64)], -1)
    torques = 12 * (2 * torch.rand(2000, generator=generator, dtype=torch.float64) - 1)
    one = torch.tensor(1.0, dtype=torch.float64)
    following = pendulum_step(states, torques, one, one, 0.05, 5)
    torch.manual_seed(0)
    model = PendulumDynamicsModel(torque_limit=12.0)
    fit_next_step(model, torch.cat([states, torques[:, None]], -1).float(), following.float(),
                  iterations=1000, lr=1e-2, progress=False)
    return model


def test_adapted_mpc_model_tracks_a_mass_change_that_the_frozen_model_misses(pendulum_model):
    masses = torch.where(torch.arange(60) < 20, 1.0, 2.0).expand(2, -1)
    targets = torch.full((2, 60), 0.6)
    frozen = pendulum_mpc_episodes(TestTimeAdapter(pendulum_model, lr=0.0), masses, targets,
                                   num_candidates=100, seed=0)
    adapted = pendulum_mpc_episodes(
        TestTimeAdapter(pendulum_model, lr=0.01, optimizer="adam", window=16, steps_per_update=2),
        masses, targets, num_candidates=100, seed=0)
    # before the change the learned model is right and MPC holds the target angle
    assert frozen.model_errors[:, :20].mean() < 1e-3
    assert (frozen.states[:, 10:21, 0] - 0.6).abs().max() < 0.1
    # after it, the adapted model's one-step error falls far below the frozen one's
    assert adapted.model_errors[:, 40:].mean() < 0.2 * frozen.model_errors[:, 40:].mean()
    assert frozen.rewards.shape == (2, 60) and frozen.states.shape == (2, 61, 2)


def test_pendulum_mpc_rejects_bad_planner_and_shapes(pendulum_model):
    adapter = TestTimeAdapter(pendulum_model, lr=0.0)
    with pytest.raises(ValueError, match="planner must be one of"):
        pendulum_mpc_episodes(adapter, torch.ones(1, 5), torch.zeros(1, 5), planner="ilqr")
    with pytest.raises(ValueError, match="masses and targets must have the same shape"):
        pendulum_mpc_episodes(adapter, torch.ones(1, 5), torch.zeros(2, 5))
