"""Policy-gradient building blocks: batched rollouts, returns, GAE, REINFORCE, PPO, baselines.

Dimension letters used in shapes:

====  =====================================================================
T     time steps of a rollout (rows)
E     parallel environments of a batched env (columns)
O     observation features
A     action size (continuous); discrete actions are (T, E) indices
P     input features of a recurrent policy (see :mod:`ssm_metarl.policies`)
F     features of the linear baseline, ``2 O + 4``
G     groups of columns (tasks) when a rollout is split
...   any leading dimensions
====  =====================================================================

Every per-step tensor is time-major, (T, E, ...), as in CleanRL.

Gymnasium's vector envs reset an env on the step *after* its episode ended
(next-step autoreset): that step ignores the action and returns the first
observation of the next episode with reward 0. :func:`collect_rollouts`
records it like any step but marks it ``valid=False``; every loss here takes
that mask, so those rows never count. The returns and GAE stop at every
``done`` (terminated or truncated), so nothing leaks from one episode into
the next; treating the time limit as the end of the task is what rllab and the
MAML-RL paper do.

References: Williams 1992 (REINFORCE); Schulman et al. 2016 (GAE, arXiv
1506.02438, Eq. 16); Schulman et al. 2017 (PPO, arXiv 1707.06347, Eq. 7);
Duan et al. 2016 (rllab benchmark, arXiv 1604.06778: the linear feature baseline).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ._validate import (
    Params,
    check_binary,
    check_finite,
    check_float,
    check_instance,
    check_int,
    check_tensor,
    raise_if_diverged,
)
from .policies import act_with, act_with_groups, stack_params

__all__ = [
    "LinearFeatureBaseline",
    "Rollout",
    "collect_rollouts",
    "discounted_returns",
    "episode_returns",
    "per_episode_returns",
    "first_episode_mask",
    "gae",
    "masked_mean",
    "normalize_advantages",
    "ppo_loss",
    "reinforce_loss",
]



# ----------------------------------------------------------------------------- rollouts


@dataclass
class Rollout:
    """``T`` steps of ``E`` environments, time-major.

    - ``obs`` (T, E, O): the observation the policy acted on at step t.
    - ``actions`` (T, E, A) float or (T, E) long; ``log_probs`` (T, E) of them
      under the policy that acted.
    - ``rewards``, ``terminated``, ``truncated`` (T, E): what ``env.step`` returned.
    - ``valid`` (T, E) bool: False on next-step autoreset rows (module docstring).
    - ``episode_steps`` (T, E) long: steps already taken in the episode at row t.
    - ``starts`` (T, E) bool: row t begins a trial (a recurrent policy's reset flag).
    - recurrent policies only: ``inputs`` (T, E, P) exactly as the policy saw
      them, ``values`` (T, E), ``last_value`` (E,) for the observation after the
      last row, ``initial_state`` (E, ...) the memory before row 0.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    valid: torch.Tensor
    episode_steps: torch.Tensor
    starts: torch.Tensor
    inputs: torch.Tensor | None = None
    values: torch.Tensor | None = None
    last_value: torch.Tensor | None = None
    initial_state: torch.Tensor | None = None

    def __post_init__(self) -> None:
        """Every field a tensor (the four optional ones may be None); rewards (T, E); flags bool."""
        check_tensor("rewards", self.rewards, 2, "(T, E)")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in ("inputs", "values", "last_value", "initial_state"):
                continue
            check_tensor(f.name, value)
            if f.name in ("terminated", "truncated", "valid", "starts") \
                    and value.dtype != torch.bool:
                raise TypeError(f"{f.name} must be a bool tensor (T, E), got dtype {value.dtype}")

    @property
    def dones(self) -> torch.Tensor:
        """(T, E) bool: the episode ended at row t (terminated or truncated)."""
        return self.terminated | self.truncated

    @property
    def num_steps(self) -> int:
        return self.rewards.shape[0]

    @property
    def num_envs(self) -> int:
        return self.rewards.shape[1]

    def columns(self, index: slice | torch.Tensor) -> Rollout:
        """The rollout of the environments ``index`` (a slice or index tensor over E)."""
        if isinstance(index, (list, tuple)) and all(
                isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in index):
            index = torch.tensor([int(i) for i in index], dtype=torch.long)
        if isinstance(index, torch.Tensor) and index.dtype == torch.bool:
            if tuple(index.shape) != (self.num_envs,):
                raise ValueError(f"index must be a slice, an index tensor or a bool tensor of "
                                 f"shape (E = {self.num_envs},), got shape {tuple(index.shape)}")
        elif isinstance(index, torch.Tensor) and not index.is_floating_point() \
                and not index.is_complex():
            if index.dim() > 1 or bool(((index < -self.num_envs) | (index >= self.num_envs))
                                       .any()):
                raise ValueError(f"index must hold env indices in [-E, E) with E = "
                                 f"{self.num_envs} (a 1-D tensor), got {index.tolist()!r:.80}")
        elif not isinstance(index, slice):
            got = index.dtype if isinstance(index, torch.Tensor) else type(index).__name__
            raise TypeError(f"index must be a slice or an integer or bool index tensor over the "
                            f"E envs, got {got}")

        def pick(name: str, value: torch.Tensor | None):
            if value is None:
                return None
            env_dim = 0 if name in ("last_value", "initial_state") else 1
            return value[index] if env_dim == 0 else value[:, index]

        return Rollout(**{f.name: pick(f.name, getattr(self, f.name))
                          for f in dataclasses.fields(self)})

    def split(self, num_groups: int) -> list[Rollout]:
        """Split the E columns into ``num_groups`` equal consecutive groups (one per task)."""
        num_groups = check_int("num_groups", num_groups)
        if self.num_envs % num_groups:
            raise ValueError(
                f"num_groups={num_groups} must divide the number of envs E={self.num_envs}"
            )
        size = self.num_envs // num_groups
        return [self.columns(slice(g * size, (g + 1) * size)) for g in range(num_groups)]


def _policy_dtype_device(policy: nn.Module) -> tuple[torch.dtype, torch.device]:
    parameter = next(policy.parameters())
    return parameter.dtype, parameter.device


def _act_feedforward(policy, obs: torch.Tensor, params, per_task: bool, deterministic: bool):
    """Sample from pi(. | obs) (E, O) -> (actions (E, ...), log-probs (E,)).

    ``per_task``: ``params`` are G fast-weight dicts stacked along a leading G,
    and dict g drives the g-th of G equal consecutive groups of envs.
    """
    if not per_task:
        return policy.act(obs, params, deterministic)
    num_tasks = next(iter(params.values())).shape[0]
    grouped = obs.view(num_tasks, obs.shape[0] // num_tasks, *obs.shape[1:])
    action, log_prob = policy.act(grouped, params, deterministic, per_task=True)
    return action.flatten(0, 1), log_prob.flatten(0, 1)


def _act_recurrent(policy, x: torch.Tensor, state, starts: torch.Tensor, params,
                   deterministic: bool):
    """One step of a recurrent policy on x (E, P): (actions, log-probs (E,), values (E,), state).

    ``params`` None or one dict drive every env; a list of G dicts drives G
    equal consecutive groups of envs (one task each), as for feed-forward policies.
    """
    if params is None or isinstance(params, Mapping):
        return act_with(policy, params, x, state, starts, deterministic)
    return act_with_groups(policy, params, x, state, starts, deterministic)


def _check_rollout_args(env, policy, num_steps, params, action_scale, episodes_per_trial):
    if not hasattr(env, "num_envs") or not hasattr(env, "step"):
        raise TypeError(f"env must be a gymnasium VectorEnv, got {type(env).__name__}")
    if not isinstance(policy, nn.Module):
        raise TypeError(f"policy must be a torch.nn.Module, got {type(policy).__name__}")
    for name, value in (("num_steps", num_steps), ("episodes_per_trial", episodes_per_trial)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if isinstance(action_scale, (bool, str)) or not (np.isfinite(action_scale)
                                                     and action_scale > 0):
        raise ValueError(f"action_scale must be a positive finite float, got {action_scale!r}")
    if params is not None:
        if isinstance(params, Sequence) and len(params) == 0:
            raise ValueError("params must be None, one fast-weight dict or a non-empty list of "
                             "them (one per group of envs), got an empty list")
        names = [name for name, _ in policy.named_parameters()]
        for task_params in [params] if isinstance(params, Mapping) else params:
            if not isinstance(task_params, Mapping):
                raise TypeError(f"params must be a dict name -> tensor or a list of them, got "
                                f"{type(task_params).__name__}")
            missing = [name for name in names if name not in task_params]
            if missing:
                raise ValueError(f"params lacks the policy parameters {missing}; expected the "
                                 f"keys of dict(policy.named_parameters())")
    if isinstance(params, Sequence) and env.num_envs % max(len(params), 1):
        raise ValueError(
            f"a list of {len(params)} fast-weight dicts needs num_envs divisible by it, "
            f"got num_envs={env.num_envs}"
        )


def _check_task_changes(task_changes: Any, num_steps: int) -> dict[int, Any]:
    if task_changes is None:
        return {}
    if not isinstance(task_changes, Mapping):
        raise TypeError(f"task_changes must be None or a dict row -> tasks, got "
                        f"{type(task_changes).__name__}")
    for row in task_changes:
        if isinstance(row, bool) or not isinstance(row, (int, np.integer)) \
                or not 0 <= row < num_steps:
            raise ValueError(f"task_changes keys must be rows in [0, num_steps={num_steps}), "
                             f"got {row!r}")
    return {int(row): tasks for row, tasks in task_changes.items()}


def _raise_if_not_finite(action: torch.Tensor, t: int) -> None:
    """Stop a rollout whose policy sampled NaN/inf actions (their sum is then NaN/inf)."""
    if action.is_floating_point():
        raise_if_diverged(
            action.sum(), "collect_rollouts", t,
            "the policy's parameters (or fast weights) hold NaN/inf, from a learning rate or "
            "inner step size too large; lower it.",
            quantity="the sum of the sampled actions", step_word="step")


@torch.no_grad()
def collect_rollouts(
    env,
    policy: nn.Module,
    num_steps: int,
    *,
    params: Params | Sequence[Params] | None = None,
    seed: int | None = None,
    action_scale: float = 1.0,
    episodes_per_trial: int = 1,
    deterministic: bool = False,
    task_changes: Mapping[int, Any] | None = None,
    on_step: Callable[[int, Callable[[], Rollout]], Any] | None = None,
) -> Rollout:
    """Reset ``env`` with ``seed`` and run ``policy`` on all its E envs for ``num_steps`` steps.

    The env receives ``action_scale * action`` (rllab's ``normalize`` maps a
    policy output in [-1, 1] to the action box this way; MAML-RL navigation
    uses 0.1); the rollout stores the unscaled actions the log-probs refer to.

    Feed-forward policies (``MLPPolicy``) call ``act(obs, params)``: ``params``
    is None (the module's weights), one fast-weight dict, or a list of G dicts,
    where dict g drives the g-th of G equal consecutive groups of envs
    (one group per task in MAML-RL).

    Recurrent policies (``policy.is_recurrent``) act with
    :func:`~ssm_metarl.policies.act_with` (``params`` as above: fast weights
    through ``functional_call``) on
    ``x_t = policy.rl2_input(obs, a_{t-1}, r_{t-1}, d_{t-1})``. A trial starts
    at row 0 and after every ``episodes_per_trial`` finished episodes of an
    env (on the first row after the autoreset row); there the memory is reset
    and the previous action, reward and done are blank (no action: -1 for
    discrete actions, zeros otherwise; reward and done 0). The autoreset rows
    (``valid=False``) do not count as steps of a trial: the RL^2 inputs after
    them still describe the last real step.

    ``deterministic=True`` takes the most likely action instead of sampling.

    Tasks that move and weights that learn during the rollout (notebook 05):
    ``task_changes`` maps a row t to the tasks ``env.set_task`` pins just
    before the action of row t (the robot stays where it is, the reward
    follows the new goal); ``on_step(t, rollout_so_far)`` is called after row
    t is recorded, with a function that returns the :class:`Rollout` of rows
    0..t; if it returns fast weights (as ``params`` above), they act from row
    t + 1 on. Row t's action thus never depends on a reward of row t or later
    (predict, then update).

    Returns a :class:`Rollout` with tensors (T, E, ...) on the policy's device
    and dtype. Raises ``FloatingPointError`` if the policy samples NaN/inf.
    """
    _check_rollout_args(env, policy, num_steps, params, action_scale, episodes_per_trial)
    task_changes = _check_task_changes(task_changes, num_steps)
    if on_step is not None and not callable(on_step):
        raise TypeError(f"on_step must be None or a function (t, rollout_so_far) -> params, "
                        f"got {type(on_step).__name__}")
    per_task = params is not None and not isinstance(params, Mapping)
    recurrent = getattr(policy, "is_recurrent", False)
    if per_task and not recurrent:
        params = stack_params(params)
    dtype, device = _policy_dtype_device(policy)
    num_envs = env.num_envs
    obs_np, _ = env.reset(seed=seed)

    def as_tensor(array: Any, kind: torch.dtype = dtype) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), device=device).to(kind)

    obs = as_tensor(obs_np)
    zeros_bool = torch.zeros(num_envs, dtype=torch.bool, device=device)
    starts = ~zeros_bool
    autoreset_next = zeros_bool.clone()
    episode_step = torch.zeros(num_envs, dtype=torch.long, device=device)
    finished = torch.zeros(num_envs, dtype=torch.long, device=device)
    rows: dict[str, list[torch.Tensor]] = {name: [] for name in (
        "obs", "actions", "log_probs", "rewards", "terminated", "truncated", "valid",
        "episode_steps", "starts", "inputs", "values")}
    state = policy.init_state(num_envs) if recurrent else None
    initial_state = None if state is None else state.clone()
    blank = _blank_previous(policy, num_envs, dtype, device) if recurrent else None
    previous = blank

    def so_far() -> Rollout:
        stacked = {name: torch.stack(values) if values else None for name, values in rows.items()}
        return Rollout(**stacked, initial_state=initial_state)

    for t in range(num_steps):
        if t in task_changes:
            env.set_task(task_changes[t])
        if recurrent:
            previous = _reset_previous(previous, blank, starts)
            x = policy.rl2_input(obs, *previous)
            action, log_prob, value, state = _act_recurrent(policy, x, state, starts, params,
                                                            deterministic)
            rows["inputs"].append(x)
            rows["values"].append(value)
        else:
            action, log_prob = _act_feedforward(policy, obs, params, per_task, deterministic)
        _raise_if_not_finite(action, t)
        env_action = action * action_scale if action.is_floating_point() else action
        next_obs, reward, terminated, truncated, _ = env.step(env_action.cpu().numpy())
        terminated, truncated = as_tensor(terminated, torch.bool), as_tensor(truncated, torch.bool)
        reward, valid = as_tensor(reward), ~autoreset_next
        for name, value in (("obs", obs), ("actions", action), ("log_probs", log_prob),
                            ("rewards", reward), ("terminated", terminated),
                            ("truncated", truncated), ("valid", valid),
                            ("episode_steps", episode_step), ("starts", starts)):
            rows[name].append(value)
        done = (terminated | truncated) & valid
        if recurrent:
            previous = _update_previous(previous, valid, action, reward, done)
        finished = finished + done.long()
        starts = autoreset_next & (finished % episodes_per_trial == 0)
        episode_step = torch.where(autoreset_next, torch.zeros_like(episode_step),
                                   episode_step + 1)
        autoreset_next = done
        obs = as_tensor(next_obs)
        new_params = None if on_step is None else on_step(t, so_far)
        if new_params is not None:
            _check_rollout_args(env, policy, num_steps, new_params, action_scale,
                                episodes_per_trial)
            per_task = not isinstance(new_params, Mapping)
            params = stack_params(new_params) if per_task and not recurrent else new_params

    last_value = None
    if recurrent:
        previous = _reset_previous(previous, blank, starts)
        _, _, last_value, _ = policy.act(policy.rl2_input(obs, *previous), state, starts)
    stacked = {name: torch.stack(values) if values else None for name, values in rows.items()}
    return Rollout(**stacked, last_value=last_value, initial_state=initial_state)


def _blank_previous(policy, num_envs: int, dtype, device) -> tuple[torch.Tensor, ...]:
    """(a_{t-1}, r_{t-1}, d_{t-1}) at the start of a trial: no action (-1 or zeros), 0, 0."""
    if policy.discrete:
        action = torch.full((num_envs,), -1, dtype=torch.long, device=device)
    else:
        action = torch.zeros(num_envs, policy.action_dim, dtype=dtype, device=device)
    zeros = torch.zeros(num_envs, dtype=dtype, device=device)
    return action, zeros, zeros.clone()


def _reset_previous(previous, blank, starts: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The blank previous action, reward and done for the envs that start a trial (E,)."""
    return tuple(_where_rows(starts, x_blank, x) for x_blank, x in
                 zip(blank, previous, strict=True))


def _update_previous(previous, valid, action, reward, done) -> tuple[torch.Tensor, ...]:
    """Remember (a_t, r_t, d_t) of the valid rows; autoreset rows keep the old values."""
    new = (action, reward, done.to(reward.dtype))
    return tuple(_where_rows(valid, x_new, x_old) for x_new, x_old in
                 zip(new, previous, strict=True))


def _where_rows(condition: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rows of ``a`` where condition (E,) holds, else rows of ``b``; a, b (E, ...)."""
    return torch.where(condition.view(-1, *[1] * (a.dim() - 1)), a, b)


# ----------------------------------------------------------------------------- episodes


def first_episode_mask(dones: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """(T, E) bool: rows that belong to each env's first episode of the rollout.

    Row t counts while no earlier valid row ended an episode (dones (T, E) bool).
    """
    check_tensor("dones", dones)
    if dones.dim() < 1:
        raise ValueError(f"dones must have shape (T, ...), got {tuple(dones.shape)}")
    check_binary("dones", dones)
    if valid is not None:
        if not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool:
            got = valid.dtype if isinstance(valid, torch.Tensor) else type(valid).__name__
            raise TypeError(f"valid must be None or a bool tensor of dones' shape, got {got}")
        if valid.shape != dones.shape:
            raise ValueError(f"valid must have dones' shape {tuple(dones.shape)}, got "
                             f"{tuple(valid.shape)}")
        dones = dones.bool()
    ended = dones if valid is None else dones & valid
    ended_before = torch.cumsum(ended.long(), dim=0) - ended.long()
    mask = ended_before == 0
    return mask if valid is None else mask & valid


def episode_returns(rollout: Rollout) -> torch.Tensor:
    """Undiscounted return sum_t r_t of each env's first episode in ``rollout``, (E,)."""
    check_instance("rollout", rollout, Rollout)
    mask = first_episode_mask(rollout.dones, rollout.valid)
    return (rollout.rewards * mask).sum(0)


def per_episode_returns(rollout: Rollout, num_episodes: int) -> torch.Tensor:
    """Undiscounted return of each env's first ``num_episodes`` episodes, (E, num_episodes).

    Episode e of an env is the valid rows after its e-th finished episode;
    an episode the rollout never reached counts 0.
    """
    check_instance("rollout", rollout, Rollout)
    num_episodes = check_int("num_episodes", num_episodes)
    ended = (rollout.dones & rollout.valid).long()
    episode = torch.cumsum(ended, dim=0) - ended
    returns = torch.zeros(rollout.num_envs, num_episodes, dtype=rollout.rewards.dtype,
                          device=rollout.rewards.device)
    for e in range(num_episodes):
        returns[:, e] = (rollout.rewards * (rollout.valid & (episode == e))).sum(0)
    return returns


# ----------------------------------------------------------------------------- returns, GAE


def _check_time_major(name: str, x: Any, like: torch.Tensor | None = None) -> torch.Tensor:
    """x (T, ...), T >= 1, of ``like``'s shape; ``like=None`` (rewards): a real floating tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if like is None and not x.is_floating_point():
        raise TypeError(f"{name} must be a real floating tensor, got dtype {x.dtype}")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (T, ...) with T >= 1, got {tuple(x.shape)}")
    if like is not None and x.shape != like.shape:
        raise ValueError(
            f"{name} must have the shape of rewards {tuple(like.shape)}, got {tuple(x.shape)}"
        )
    return x


def _check_dones(dones: Any, rewards: torch.Tensor) -> torch.Tensor:
    """``1 - dones`` in rewards' dtype; dones (T, ...) bool or 0/1 like rewards."""
    return 1.0 - check_binary("dones", _check_time_major("dones", dones, rewards)).to(rewards.dtype)


def _check_last_value(last_value: Any, rewards: torch.Tensor) -> torch.Tensor:
    """last_value: a real tensor of shape rewards.shape[1:] (converted to rewards' dtype)."""
    if not isinstance(last_value, torch.Tensor):
        raise TypeError(f"last_value must be a torch.Tensor of shape {tuple(rewards.shape[1:])}, "
                        f"got {type(last_value).__name__}")
    if last_value.shape != rewards.shape[1:]:
        raise ValueError(f"last_value must have shape {tuple(rewards.shape[1:])}, "
                         f"got {tuple(last_value.shape)}")
    if last_value.is_complex():
        raise TypeError(f"last_value must be real, got dtype {last_value.dtype}")
    return last_value


def _check_discount(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a float in [0, 1], got {value!r}")
    return float(value)


def discounted_returns(
    rewards: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    last_value: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reward-to-go ``R_t = r_t + gamma (1 - d_t) R_{t+1}`` (Williams 1992), (T, ...) -> (T, ...).

    ``dones[t]`` means the episode ended with ``r_t``, so R_t does not look past
    it. ``R_T`` is ``last_value`` (...) when given (bootstrap), else 0.
    """
    rewards = _check_time_major("rewards", rewards)
    not_done = _check_dones(dones, rewards)
    gamma = _check_discount("gamma", gamma)
    if last_value is not None:
        last_value = _check_last_value(last_value, rewards)
    future = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards)
    returns = torch.empty_like(rewards)
    for t in range(rewards.shape[0] - 1, -1, -1):
        future = rewards[t] + gamma * not_done[t] * future
        returns[t] = future
    return returns


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Generalized advantage estimation (Schulman et al. 2016, Eq. 16), (T, ...) -> (T, ...).

    ``delta_t = r_t + gamma (1 - d_t) V_{t+1} - V_t`` and
    ``A_t = delta_t + gamma lam (1 - d_t) A_{t+1}``, with ``V_T = last_value`` (...)
    and ``A_T = 0``. ``lam=1`` gives ``R_t - V_t``; ``lam=0`` the one-step TD error.
    """
    rewards = _check_time_major("rewards", rewards)
    values = _check_time_major("values", values, rewards).detach()
    not_done = _check_dones(dones, rewards)
    last_value = _check_last_value(last_value, rewards)
    gamma, lam = _check_discount("gamma", gamma), _check_discount("lam", lam)
    next_value, advantage = last_value.detach().to(rewards), torch.zeros_like(rewards[0])
    advantages = torch.empty_like(rewards)
    for t in range(rewards.shape[0] - 1, -1, -1):
        delta = rewards[t] + gamma * not_done[t] * next_value - values[t]
        advantage = delta + gamma * lam * not_done[t] * advantage
        advantages[t] = advantage
        next_value = values[t]
    return advantages


# ----------------------------------------------------------------------------- losses


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` (same shape, bool) holds; all if None."""
    _check_real("x", x)
    return _masked_mean(x, mask)


def _check_real(name: str, x: Any) -> torch.Tensor:
    if not check_tensor(name, x).is_floating_point():
        raise TypeError(f"{name} must be a real floating tensor, got dtype {x.dtype}")
    return x


def _masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return x.mean()
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"mask must be a bool tensor of shape {tuple(x.shape)}, got {got}")
    if mask.shape != x.shape:
        raise ValueError(f"mask must have shape {tuple(x.shape)}, got {tuple(mask.shape)}")
    weights = mask.to(x.dtype)
    return (x * weights).sum() / weights.sum().clamp(min=1.0)


def normalize_advantages(
    advantages: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-8
) -> torch.Tensor:
    """``(A - mean A) / (std A + eps)`` over the masked entries (rllab's ``center_adv``)."""
    _check_real("advantages", advantages)
    eps = check_float("eps", eps, minimum=0, strict=True)
    mean = _masked_mean(advantages, mask)
    std = _masked_mean((advantages - mean) ** 2, mask).sqrt()
    return (advantages - mean) / (std + eps)


def reinforce_loss(
    log_probs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Policy-gradient surrogate ``L(theta) = -mean_t log pi_theta(a_t | s_t) A_t`` (Williams 1992).

    log_probs, advantages (...) of the same shape; the advantages are
    constants (detached), so ``grad L`` is the REINFORCE estimator with
    baseline. ``mask`` (...) bool selects the entries that count.
    """
    _check_same_shape(log_probs=log_probs, advantages=advantages)
    return -masked_mean(log_probs * advantages.detach(), mask)


def ppo_loss(
    new_log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    clip: float = 0.2,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """PPO's clipped surrogate, negated to a loss (Schulman et al. 2017, Eq. 7).

    ``r_t = exp(log pi_new - log pi_old)``,
    ``L = -mean_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)`` with ``eps = clip``.
    All inputs (...) of the same shape; old log-probs and advantages are constants.
    """
    _check_same_shape(
        new_log_probs=new_log_probs, old_log_probs=old_log_probs, advantages=advantages
    )
    if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not 0 < clip < 1:
        raise ValueError(f"clip must be a float in (0, 1), got {clip!r}")
    ratio = torch.exp(new_log_probs - old_log_probs.detach())
    advantages = advantages.detach()
    clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    return -masked_mean(torch.min(ratio * advantages, clipped * advantages), mask)


def _check_same_shape(**tensors: torch.Tensor) -> None:
    for name, value in tensors.items():
        check_tensor(name, value)
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"inputs must share one shape, got {shapes}")


# ----------------------------------------------------------------------------- baseline


class LinearFeatureBaseline:
    """rllab's linear feature baseline (Duan et al. 2016, arXiv 1604.06778), used by MAML-RL.

    Features ``phi(s, t) = [s, s^2, t', t'^2, t'^3, 1]`` with ``s`` clipped to
    [-10, 10] and ``t' = t / 100``; :meth:`fit` solves the ridge regression
    ``w = (Phi^T Phi + c I)^{-1} Phi^T R`` on one batch (float64), raising
    ``c`` tenfold (up to 5 times) if the solution is not finite, as rllab does.
    """

    def __init__(self, reg_coeff: float = 1e-5) -> None:
        self.reg_coeff = check_float("reg_coeff", reg_coeff, minimum=0)
        self.weights: torch.Tensor | None = None

    @staticmethod
    def features(obs: torch.Tensor, time_steps: torch.Tensor) -> torch.Tensor:
        """phi: obs (..., O), time_steps (...) -> features (..., 2 O + 4)."""
        _check_real("obs", obs)
        check_tensor("time_steps", time_steps)
        if time_steps.is_complex():
            raise TypeError(f"time_steps must be real, got dtype {time_steps.dtype}")
        if obs.dim() < 1 or obs.shape[:-1] != time_steps.shape:
            raise ValueError(
                f"time_steps must have shape obs.shape[:-1] = {tuple(obs.shape[:-1])}, "
                f"got {tuple(time_steps.shape)}"
            )
        s = obs.clamp(-10.0, 10.0)
        t = (time_steps.to(obs.dtype) / 100.0).unsqueeze(-1)
        return torch.cat([s, s**2, t, t**2, t**3, torch.ones_like(t)], dim=-1)

    def fit(
        self,
        obs: torch.Tensor,
        time_steps: torch.Tensor,
        returns: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> LinearFeatureBaseline:
        """Fit w on obs (..., O), time_steps (...), returns (...); ``mask`` (...) picks rows."""
        phi = self.features(obs, time_steps).detach().double()
        target = check_tensor("returns", returns).detach().double()
        if target.shape != phi.shape[:-1]:
            raise ValueError(f"returns must have shape {tuple(phi.shape[:-1])}, "
                             f"got {tuple(target.shape)}")
        if bool(torch.isnan(obs).any()):  # +-inf is clipped to +-10 by the features
            raise ValueError(f"obs must not hold NaN, got {int(torch.isnan(obs).sum())} NaN "
                             f"entries of {obs.numel()}")
        check_finite("returns", returns)
        if mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.shape != target.shape:
                got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
                raise ValueError(f"mask must be a bool tensor of shape {tuple(target.shape)}, "
                                 f"got {got}")
            phi, target = phi[mask], target[mask]
        phi, target = phi.reshape(-1, phi.shape[-1]), target.reshape(-1, 1)
        gram, moment = phi.T @ phi, phi.T @ target
        identity = torch.eye(phi.shape[-1], dtype=phi.dtype, device=phi.device)
        reg = self.reg_coeff
        for _ in range(5):
            weights = torch.linalg.lstsq(gram + reg * identity, moment).solution
            if torch.isfinite(weights).all():
                break
            reg *= 10.0
        self.weights = weights.squeeze(-1)
        return self

    def predict(self, obs: torch.Tensor, time_steps: torch.Tensor) -> torch.Tensor:
        """Baseline b(s, t) = phi(s, t) . w, (...) in obs's dtype; zeros before any fit."""
        phi = self.features(obs, time_steps)
        if self.weights is not None and phi.shape[-1] != self.weights.shape[0]:
            width = (self.weights.shape[0] - 4) // 2
            raise ValueError(f"obs must have {width} features (the width the baseline was "
                             f"fitted on), got shape {tuple(obs.shape)}")
        if self.weights is None:
            return torch.zeros(phi.shape[:-1], dtype=obs.dtype, device=obs.device)
        return (phi.double() @ self.weights).to(obs.dtype)
