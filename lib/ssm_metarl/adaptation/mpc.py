"""Model-predictive control on a learned dynamics model, frozen or adapted online.

The planners pick the first action of the cheapest plan under a dynamics
model: :func:`random_shooting` (Nagabandi et al. 2018, Sec. IV.C) scores
uniform random action sequences, :func:`cem` refits a Gaussian over plans to
the elites (Botev et al. 2013; Chua et al. 2018). :func:`pendulum_mpc_episodes`
holds a pendulum whose mass changes at target angles with MPC on a
:class:`PendulumDynamicsModel` whose weights a
:class:`~ssm_metarl.adaptation.adapter.TestTimeAdapter` keeps adapting
(GrBAL with MPC, Nagabandi et al. 2019, Alg. 2) or leaves frozen.

Dimension letters used in shapes:

====  =====================================================================
C     candidate action sequences of model-predictive control
T     planning horizon
S     state size (2 for the pendulum: angle, angular velocity)
A     action size (1 for the pendulum: torque)
B     episodes run side by side; L steps of an episode
====  =====================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .._validate import (
    check_callable,
    check_finite,
    check_float,
    check_instance,
    check_int,
    check_positive,
    check_sized,
    check_tensor,
)
from ..dynamics import pendulum_step
from ..functional import predict, regression_mlp
from .adapter import TestTimeAdapter
from .forecasters import _check_features, _widths

__all__ = [
    "CostFn",
    "DynamicsFn",
    "MPCEpisodes",
    "PendulumDynamicsModel",
    "angle_tracking_cost",
    "cem",
    "pendulum_mpc_episodes",
    "random_shooting",
    "rollout_cost",
]

DynamicsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
CostFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# ----------------------------------------------------------------------- model-predictive control


def _action_bounds(low: Any, high: Any, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds as (A,) tensors; floats mean a single action dimension."""
    try:
        low = torch.as_tensor(low, dtype=like.dtype, device=like.device).reshape(-1)
        high = torch.as_tensor(high, dtype=like.dtype, device=like.device).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"action_low and action_high must be numbers or (A,) tensors, got "
                        f"{low!r:.40} and {high!r:.40}") from None
    if low.shape != high.shape or not bool((low < high).all()) or low.numel() == 0:
        raise ValueError(f"action_low and action_high must have the same shape (A,) with "
                         f"low < high, got {low.tolist()} and {high.tolist()}")
    if not bool(torch.isfinite(low).all() and torch.isfinite(high).all()):
        raise ValueError(f"action_low and action_high must be finite, got {low.tolist()} and "
                         f"{high.tolist()}")
    return low, high


def _check_planner(dynamics_fn: Any, state: Any, cost_fn: Any) -> torch.Tensor:
    """The callables and the start ``state`` (S,), a floating tensor, of every planner."""
    check_callable("dynamics_fn", dynamics_fn, what="(states (C, S), actions (C, A)) -> (C, S)")
    check_callable("cost_fn", cost_fn, what="(states (C, S), actions (C, A)) -> (C,)")
    state = check_tensor("state", state, 1, "(S,)")
    if not state.is_floating_point():
        raise TypeError(f"state must be a floating tensor (S,), got {state.dtype}")
    return check_finite("state", state)


def rollout_cost(
    dynamics_fn: DynamicsFn, state: torch.Tensor, actions: torch.Tensor, cost_fn: CostFn
) -> torch.Tensor:
    """Total cost (C,) of action sequences ``actions`` (C, T, A) from ``state`` (S,).

    ``s_{j+1} = dynamics_fn(s_j, a_j)`` on (C, S), (C, A) -> (C, S); the cost
    sums ``cost_fn(s_{j+1}, a_j)`` -> (C,) over the horizon.
    """
    state = _check_planner(dynamics_fn, state, cost_fn)
    check_sized("actions", actions, ("C", "T", "A"), {}, like=state, like_name="state")
    return _rollout_cost(dynamics_fn, state, actions, cost_fn)


def _rollout_cost(dynamics_fn: DynamicsFn, state: torch.Tensor, actions: torch.Tensor,
                  cost_fn: CostFn) -> torch.Tensor:
    """:func:`rollout_cost` on checked arguments; the callbacks' outputs are checked here
    (a cost of shape (C, 1) would otherwise broadcast the total to (C, C))."""
    states = state.expand(actions.shape[0], *state.shape)
    total = actions.new_zeros(actions.shape[0])
    for step in range(actions.shape[1]):
        states = dynamics_fn(states, actions[:, step])
        if not isinstance(states, torch.Tensor) or states.shape != (actions.shape[0],
                                                                     *state.shape):
            got = tuple(states.shape) if isinstance(states, torch.Tensor) else type(states)
            raise ValueError(f"dynamics_fn must return the next states "
                             f"{(actions.shape[0], *state.shape)} (C, S), got {got}")
        cost = cost_fn(states, actions[:, step])
        if not isinstance(cost, torch.Tensor) or cost.shape != total.shape:
            got = tuple(cost.shape) if isinstance(cost, torch.Tensor) else type(cost)
            raise ValueError(f"cost_fn must return one cost per candidate {tuple(total.shape)} "
                             f"(C,), got {got}")
        total = total + cost
    return total


def _check_generator(generator: Any) -> torch.Generator | None:
    if generator is not None:
        check_instance("generator", generator, torch.Generator)
    return generator


def random_shooting(
    dynamics_fn: DynamicsFn,
    state: torch.Tensor,
    horizon: int,
    num_candidates: int,
    action_low: Any,
    action_high: Any,
    cost_fn: CostFn,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random-shooting MPC (Nagabandi et al. 2018, Sec. IV.C): the first action (A,) of
    the cheapest of ``num_candidates`` uniform action sequences (C, T, A).

    Rolls all candidates through the (learned) model at once with
    :func:`rollout_cost`; ``generator`` makes the draw reproducible.
    """
    state = _check_planner(dynamics_fn, state, cost_fn)
    horizon = check_int("horizon", horizon)
    num_candidates = check_int("num_candidates", num_candidates)
    low, high = _action_bounds(action_low, action_high, state)
    draws = torch.rand(num_candidates, horizon, low.shape[0], generator=_check_generator(generator),
                       dtype=state.dtype).to(state.device)
    actions = low + (high - low) * draws
    cost = _rollout_cost(dynamics_fn, state, actions, cost_fn)
    return actions[int(torch.argmin(cost)), 0]


def cem(
    dynamics_fn: DynamicsFn,
    state: torch.Tensor,
    horizon: int,
    num_candidates: int,
    action_low: Any,
    action_high: Any,
    cost_fn: CostFn,
    *,
    num_elites: int = 10,
    iterations: int = 5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Cross-entropy-method MPC: the first action (A,) of the final mean plan.

    Start from a Gaussian over (T, A) plans centred in the box with std half
    its width; each iteration samples ``num_candidates`` plans, clips them to
    the bounds, and refits mean and std to the ``num_elites`` cheapest
    (Botev et al. 2013; Chua et al. 2018, PETS).
    """
    state = _check_planner(dynamics_fn, state, cost_fn)
    horizon = check_int("horizon", horizon)
    if check_int("num_elites", num_elites) > check_int("num_candidates", num_candidates):
        raise ValueError(f"num_elites ({num_elites}) must be <= num_candidates "
                         f"({num_candidates})")
    generator = _check_generator(generator)
    low, high = _action_bounds(action_low, action_high, state)
    mean = ((low + high) / 2).expand(horizon, -1)
    std = ((high - low) / 2).expand(horizon, -1)
    for _ in range(check_int("iterations", iterations)):
        noise = torch.randn(num_candidates, *mean.shape, generator=generator,
                            dtype=state.dtype).to(state.device)
        actions = torch.maximum(torch.minimum(mean + std * noise, high), low)
        cost = _rollout_cost(dynamics_fn, state, actions, cost_fn)
        elites = actions[torch.topk(cost, num_elites, largest=False).indices]
        mean, std = elites.mean(dim=0), elites.std(dim=0, unbiased=False)
    return mean[0]


# ----------------------------------------------------------------------- adaptive MPC on a pendulum


class PendulumDynamicsModel(nn.Module):
    """Learned pendulum dynamics ``s_{t+1} = s_t + f_w(sin theta, cos theta, theta', u / u_max)``.

    ``x`` (..., 3) = (angle, angular velocity, torque) -> next state (..., 2).
    ``hidden=()`` makes ``f_w`` linear in these features, which contain the
    true right-hand side up to discretisation, so a change of mass shows up as
    a change of the torque coefficient alone. ``torque_limit`` scales the torque
    feature to [-1, 1]. Plugs into :class:`TestTimeAdapter` (features ``x``,
    target ``s_{t+1}``) and, as ``(s, a) -> model(cat(s, a))``, into the planners.
    ``in_features`` = 3, ``out_features`` = 2.
    """

    def __init__(self, hidden: Sequence[int] = (), torque_limit: float = 1.0) -> None:
        super().__init__()
        self.torque_limit = check_float("torque_limit", torque_limit, minimum=0, strict=True)
        self.in_features, self.out_features = 3, 2
        self.net = regression_mlp(4, _widths(hidden), 2)
        self.head = f"net.{2 * len(tuple(hidden))}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_features("x", x, 3, self.net[0].weight)
        angle, velocity, torque = x[..., 0], x[..., 1], x[..., 2]
        features = torch.stack([torch.sin(angle), torch.cos(angle), velocity,
                                torque / self.torque_limit], dim=-1)
        return x[..., :2] + self.net(features)


def angle_tracking_cost(target: float, torque_cost: float) -> CostFn:
    """Stage cost ``(theta - target)^2 + torque_cost u^2``: states (C, 2), actions (C, 1) -> (C,)"""
    target = check_float("target", target)
    torque_cost = check_float("torque_cost", torque_cost, minimum=0)

    def cost(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return (states[:, 0] - target) ** 2 + torque_cost * actions[:, 0] ** 2

    return cost


class MPCEpisodes(NamedTuple):
    """What :func:`pendulum_mpc_episodes` records for B episodes of L steps.

    ``states`` (B, L + 1, 2), ``actions`` (B, L, 1), ``rewards`` (B, L),
    ``model_errors`` (B, L): squared error of the model's one-step prediction of
    the state, made with the weights that planned the action (before the new
    state was seen), and ``step_seconds`` (L,) for planning + update of all B.
    """

    states: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    model_errors: torch.Tensor
    step_seconds: np.ndarray


def pendulum_mpc_episodes(
    adapter: TestTimeAdapter,
    masses: torch.Tensor,
    targets: torch.Tensor,
    *,
    pendulum_length: float = 1.0,
    dt: float = 0.05,
    substeps: int = 5,
    horizon: int = 10,
    num_candidates: int = 200,
    torque_limit: float = 12.0,
    torque_cost: float = 1e-4,
    planner: str = "random_shooting",
    seed: int = 0,
) -> MPCEpisodes:
    """Hold a pendulum at target angles by MPC on a learned model, adapted online or not.

    ``masses`` (B, L) kg and ``targets`` (B, L) rad say what the true pendulum
    (:func:`ssm_metarl.dynamics.pendulum_step`, unknown to the controller) and the
    goal are at each step. At step ``t`` the planner (``"random_shooting"`` or
    ``"cem"``) picks a torque in ``[-torque_limit, torque_limit]`` minimising
    ``sum_j (theta_j - target_t)^2 + torque_cost u_j^2`` over ``horizon`` steps of
    the adapter's model with its current fast weights (Nagabandi et al. 2019,
    Alg. 2: GrBAL with MPC); the torque is applied, and the revealed transition
    goes to :meth:`TestTimeAdapter.observe` (``lr = 0``: the frozen model).
    Reward ``r_t = -(theta_{t+1} - target_t)^2 - torque_cost u_t^2``. Episodes
    start at rest at the first target.
    """
    check_instance("adapter", adapter, TestTimeAdapter)
    if adapter._widths[0] not in (None, 3) or adapter._widths[1] not in (None, 2):
        raise ValueError(f"adapter must adapt a pendulum model (angle, velocity, torque) -> next "
                         f"(angle, velocity), in/out features (3, 2), got {adapter._widths}")
    masses = check_tensor("masses", masses, 2, "(B, L)").double()
    targets = check_tensor("targets", targets, 2, "(B, L)").double()
    if masses.shape != targets.shape:
        raise ValueError(f"masses and targets must have the same shape (B, L), got "
                         f"{tuple(masses.shape)} and {tuple(targets.shape)}")
    if masses.numel() == 0:
        raise ValueError(f"masses and targets must hold at least one episode and one step, got "
                         f"shape {tuple(masses.shape)}")
    check_positive("masses", masses)
    check_finite("targets", targets)
    pendulum_length = check_float("pendulum_length", pendulum_length, minimum=0, strict=True)
    dt = check_float("dt", dt, minimum=0, strict=True)
    substeps, horizon = check_int("substeps", substeps), check_int("horizon", horizon)
    num_candidates = check_int("num_candidates", num_candidates)
    torque_limit = check_float("torque_limit", torque_limit, minimum=0, strict=True)
    torque_cost = check_float("torque_cost", torque_cost, minimum=0)
    seed = check_int("seed", seed, 0)
    planners = {"random_shooting": random_shooting, "cem": cem}
    if not isinstance(planner, str) or planner not in planners:
        raise ValueError(f"planner must be one of {sorted(planners)}, got {planner!r}")
    batch, length = masses.shape
    generator = torch.Generator().manual_seed(seed)
    state = torch.stack([targets[:, 0], torch.zeros_like(targets[:, 0])], dim=-1)
    memory = adapter.init_state(batch, 3, 2)
    dtype = next(iter(adapter.init_params.values())).dtype
    records: dict[str, list] = {"s": [state], "a": [], "r": [], "err": [], "sec": []}
    for t in range(length):
        start = time.perf_counter()
        actions = []
        for b in range(batch):
            weights = {**adapter.frozen_params, **{n: w[b] for n, w in memory.fast.items()}}
            cost = angle_tracking_cost(float(targets[b, t]), torque_cost)

            def dynamics(s: torch.Tensor, a: torch.Tensor, weights=weights) -> torch.Tensor:
                return predict(adapter.model, weights, torch.cat([s, a], dim=-1),
                               adapter.forward_fn)

            actions.append(planners[planner](dynamics, state[b].to(dtype), horizon,
                                             num_candidates, -torque_limit, torque_limit, cost,
                                             generator=generator))
        action = torch.stack(actions).double()  # (B, 1)
        x = torch.cat([state, action], dim=-1).to(dtype)
        predicted = adapter.predict(memory, x)
        next_state = pendulum_step(state, action[:, 0], masses[:, t],
                                   torch.full_like(masses[:, t], pendulum_length), dt, substeps)
        memory = adapter.observe(memory, x, next_state.to(dtype))
        records["err"].append(((predicted.double() - next_state) ** 2).mean(-1))
        records["r"].append(-(next_state[:, 0] - targets[:, t]) ** 2
                            - torque_cost * action[:, 0] ** 2)
        records["s"].append(next_state)
        records["a"].append(action)
        records["sec"].append(time.perf_counter() - start)
        state = next_state
    return MPCEpisodes(torch.stack(records["s"], 1), torch.stack(records["a"], 1),
                       torch.stack(records["r"], 1), torch.stack(records["err"], 1),
                       np.asarray(records["sec"]))
