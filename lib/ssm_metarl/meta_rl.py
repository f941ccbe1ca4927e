"""Meta-RL trainers: MAML-RL on 2D navigation and RL^2 on Bernoulli bandits.

Dimension letters used in shapes:

====  =====================================================================
G     tasks (goals) in a meta-batch or an evaluation set
K     trajectories per task (``trajectories_per_task``)
E     parallel environments, ``G * K`` for MAML-RL, trials for RL^2
T     time steps of a rollout (``horizon`` for navigation, ``n`` pulls for bandits)
S     inner (adaptation) steps at evaluation
k, n  arms and pulls of a bandit trial (the paper's letters)
====  =====================================================================

**MAML-RL** (Finn et al. 2017, Algorithm 3 and Section 5.3), read top to
bottom in :func:`train_maml_rl`: per meta-iteration draw G goals; sample K
trajectories D_g with pi_theta; take one policy-gradient step per task
``theta'_g = theta - alpha grad L(theta; D_g)`` (vanilla policy gradient,
advantages ``R_t - b(s_t, t)`` from the linear feature baseline, normalised
per task); sample D'_g with pi_theta'_g; update theta on the post-adaptation
surrogate, differentiating through the inner step (second order unless
``first_order``). Differences from the paper, on purpose:

- The outer step is Adam on PPO's clipped surrogate of the post-adaptation
  objective, ``outer_epochs`` passes over D' that re-run the inner step each
  time (the outer objective of ProMP, Rothfuss et al. 2019, without its KL
  term), instead of TRPO's natural-gradient step with a KL trust region. With
  ``outer_epochs=1`` the ratio is 1 and this is exactly Adam on the plain
  meta-policy-gradient ``-mean log pi_theta'(a|s) A``. Like the paper's code,
  the gradient ignores that D_g itself depends on theta (the bias that
  ProMP/DiCE remove).
- The policy output is scaled by ``action_scale = 0.1`` before the env, as
  rllab's ``normalize`` wrapper does in the authors' code (a policy output of
  1 is the top speed 0.1), so the paper's step size alpha = 0.1 means the same.
- Meta-batch 20 tasks and alpha = 0.1 as in the paper's text (the authors'
  ``maml_trpo_point.py`` uses 40 tasks and alpha = 0.5), and fixed 100-step
  episodes (``goal_tolerance=0.01`` restores the authors' early stop).

Evaluation (:func:`evaluate_maml_rl`) follows the paper's protocol: from the
meta-learned theta, S policy-gradient steps per held-out goal, each on K fresh
trajectories, with step size alpha for the first step and alpha / 2 after it
(Finn et al. 2017, Appendix A.2: "halving the learning rate after the first
gradient step"); the return at step s is the mean return of the K
trajectories sampled with theta_s. Baselines: :func:`train_pretrained`
(one policy trained on the mixture of goals with no inner loop, fine-tuned by
the same evaluation), a random initialisation (a fresh ``MLPPolicy``), and
:func:`navigation_oracle_returns` (the analytic oracle that moves straight
to the goal at top speed, an upper bound; the paper's oracle is a policy
trained with the goal as input, -2.29).

**RL^2** (Duan et al. 2016, Section 2 and 4.1), :func:`train_rl2`: a
recurrent policy (SSM or GRU) plays E bandit trials of n pulls in parallel,
its memory reset between trials; PPO (Schulman et al. 2017) with GAE updates
it on whole trials, in sequence mode (the paper used TRPO with GAE and a
GRU). :func:`evaluate_rl2` plays fresh trials with the same bandits
and reward noise as :func:`ssm_metarl.envs.bandit_baselines.run_bandit_baseline`
with the same seed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.distributions import Distribution, kl_divergence

from ._validate import (
    Params,
    check_float,
    check_instance,
    check_int,
    check_tensor,
    raise_if_diverged,
    training_step,
)
from .checkpoints import check_state_dict, load_checkpoint, save_checkpoint
from .cores import CORE_NAMES
from .envs import BatchedBernoulliBandit, BatchedNavigation2D
from .envs.families import NavigationTasks, RLTaskSample
from .functional import _VMAP_UNSUPPORTED, VMAP_FALLBACK_ERRORS, loss_gradient, sgd_step
from .policies import GRUPolicy, MLPPolicy, SSMMetaPolicy, recurrent_call
from .profiles import progress_bar, seed_everything
from .rl import (
    LinearFeatureBaseline,
    Rollout,
    collect_rollouts,
    discounted_returns,
    episode_returns,
    first_episode_mask,
    gae,
    masked_mean,
    normalize_advantages,
    per_episode_returns,
    ppo_loss,
)
from .trpo import TRPOConfig, distribution_from, distribution_tensors, trpo_step

__all__ = [
    "MAMLRLConfig",
    "MAMLStep",
    "OUTER_STEPS",
    "OnlineRun",
    "PolicyMAMLConfig",
    "adapt_online",
    "adapt_within_trial",
    "check_param_names",
    "TrialRun",
    "RL2Config",
    "actor_names",
    "adapt_policy",
    "evaluate_maml_rl",
    "evaluate_rl2",
    "evaluate_rl2_navigation",
    "goal_array",
    "make_maml_rl_policy",
    "make_rl2_policy",
    "maml_rl_step",
    "policy_log_probs",
    "rollout_length",
    "load_maml_rl_policy",
    "rl2_bandit_rewards",
    "save_maml_rl_policy",
    "navigation_oracle_returns",
    "paper_step_sizes",
    "policy_distribution",
    "policy_gradient_advantages",
    "surrogate_loss",
    "train_maml_rl",
    "train_pretrained",
    "train_rl2",
    "trial_advantages",
    "trial_length",
]

def _divergence_cause(hint: str) -> str:
    return f"{hint} too large for this policy; lower it (and check the rewards for NaN/inf)."


@contextmanager
def _stop_names_iteration(what: str, iteration: int) -> Iterator[None]:
    """Add the trainer and iteration to a NaN/inf stop raised below it (e.g. by a rollout)."""
    try:
        yield
    except FloatingPointError as error:
        if "stopped at iteration" in str(error):
            raise
        raise FloatingPointError(f"{what} stopped at iteration {iteration}: {error}") from None


def _check_unit(name: str, value: Any, *, open_interval: bool = False) -> float:
    """``value`` a number in [0, 1] (``(0, 1)`` if ``open_interval``); NumPy scalars too."""
    number = not isinstance(value, bool) and isinstance(value, (int, float, np.integer,
                                                                 np.floating))
    inside = number and ((0 < value < 1) if open_interval else (0 <= value <= 1))
    if not inside:
        raise ValueError(f"{name} must be in {'(0, 1)' if open_interval else '[0, 1]'}, "
                         f"got {value!r}")
    return float(value)


def _check_sizes(name: str, sizes: Any) -> tuple[int, ...]:
    """``sizes`` a sequence of positive ints (hidden layer widths)."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a tuple of positive ints (layer widths), got "
                        f"{type(sizes).__name__} {sizes!r:.40}")
    return tuple(check_int(f"{name}[{i}]", width) for i, width in enumerate(sizes))


# ============================================================================= MAML-RL


@dataclass
class MAMLRLConfig:
    """Every hyperparameter of :func:`train_maml_rl` (defaults: Finn et al. 2017, Sec. 5.3).

    ``inner_lr`` alpha = 0.1 and K = 20 trajectories of 100 steps per task are
    the paper's; ``meta_batch_size`` 20 (paper's script: 40). ``outer="adam"``:
    Adam (``meta_lr``) on the (clipped, if ``outer_epochs`` > 1)
    post-adaptation surrogate (module docstring); ``outer="trpo"``: the
    paper's TRPO step with the constants of ``trpo`` (max KL 0.01; ``meta_lr``,
    ``outer_epochs`` and ``clip`` unused). ``hidden_sizes`` (100, 100) ReLU.
    """

    num_meta_iterations: int = 100
    meta_batch_size: int = 20
    trajectories_per_task: int = 20
    horizon: int = 100
    inner_lr: float = 0.1
    first_order: bool = False
    meta_lr: float = 1e-2
    outer_epochs: int = 1
    clip: float = 0.2
    gamma: float = 0.99
    action_scale: float = 0.1
    baseline_reg: float = 1e-5
    goal_tolerance: float | None = None
    hidden_sizes: tuple[int, ...] = (100, 100)
    episodes_per_trial: int = 1
    outer: str = "adam"
    trpo: TRPOConfig = field(default_factory=TRPOConfig)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("num_meta_iterations", "meta_batch_size", "trajectories_per_task",
                     "horizon", "outer_epochs", "episodes_per_trial"):
            check_int(name, getattr(self, name))
        self.trpo = _check_outer(self.outer, self.trpo)
        _check_trials(self.episodes_per_trial, self.goal_tolerance)
        for name in ("inner_lr", "meta_lr", "action_scale"):
            check_float(name, getattr(self, name), minimum=0, strict=True)
        _check_unit("gamma", self.gamma)
        _check_unit("clip", self.clip, open_interval=True)
        check_float("baseline_reg", self.baseline_reg, minimum=0)
        if self.goal_tolerance is not None:
            check_float("goal_tolerance", self.goal_tolerance, minimum=0, strict=True)
        check_int("seed", self.seed, 0)
        self.hidden_sizes = _check_sizes("hidden_sizes", self.hidden_sizes)


OUTER_STEPS = ("adam", "trpo")
"""The outer steps of MAML-RL: Adam on the (clipped) surrogate, or TRPO (module docstring)."""


def _check_outer(outer: Any, trpo: Any) -> TRPOConfig:
    """``outer`` one of :data:`OUTER_STEPS`; ``trpo`` a TRPOConfig (or its dict, from a file)."""
    if outer not in OUTER_STEPS:
        raise ValueError(f"outer must be one of {OUTER_STEPS}, got {outer!r}")
    if isinstance(trpo, Mapping):
        try:
            trpo = TRPOConfig(**trpo)
        except TypeError as exc:
            raise ValueError(f"trpo: {exc}") from None
    if not isinstance(trpo, TRPOConfig):
        raise TypeError(f"trpo must be a TRPOConfig, got {type(trpo).__name__}")
    return trpo


def _check_trials(episodes_per_trial: int, goal_tolerance: float | None) -> None:
    if episodes_per_trial > 1 and goal_tolerance is not None:
        raise ValueError(f"episodes_per_trial={episodes_per_trial} needs fixed-length episodes "
                         f"(goal_tolerance=None), got goal_tolerance={goal_tolerance}")


@dataclass
class PolicyMAMLConfig:
    """Hyperparameters of MAML on RL task batches for any policy (``MetaMAMLTrainer``).

    The meta-batch size and the trajectories per task come from the
    :class:`~ssm_metarl.maml.TaskBatch` (``batch_size``, ``k_support``,
    ``k_query``), horizon and action scale from its task family. Inner step:
    vanilla policy gradient with the linear baseline, step ``inner_lr``
    (Finn et al. 2017, Eq. 1); outer step: Adam (``meta_lr``) on the
    post-adaptation surrogate, plain (``outer_epochs=1``) or PPO-clipped over
    ``outer_epochs`` passes (module docstring); second order unless
    ``first_order``; or ``outer="trpo"``, the paper's TRPO step with the
    constants of ``trpo``. ``episodes_per_trial`` > 1 makes every support and query
    rollout of a recurrent policy one trial of that many episodes with its
    memory carried across them ("both": memory within a trial, gradient steps
    between trials); 1 resets the memory at every episode ("weights only").
    """

    meta_lr: float = 1e-3
    inner_lr: float = 1e-2
    first_order: bool = False
    outer_epochs: int = 1
    clip: float = 0.2
    gamma: float = 0.99
    baseline_reg: float = 1e-5
    episodes_per_trial: int = 1
    outer: str = "adam"
    trpo: TRPOConfig = field(default_factory=TRPOConfig)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("outer_epochs", "episodes_per_trial"):
            check_int(name, getattr(self, name))
        self.trpo = _check_outer(self.outer, self.trpo)
        for name in ("inner_lr", "meta_lr"):
            check_float(name, getattr(self, name), minimum=0, strict=True)
        check_float("gamma", self.gamma, minimum=0, maximum=1)
        check_float("baseline_reg", self.baseline_reg, minimum=0)
        _check_unit("clip", self.clip, open_interval=True)
        check_int("seed", self.seed, 0)


def make_maml_rl_policy(config: MAMLRLConfig) -> MLPPolicy:
    """The navigation policy ``MLPPolicy(2, 2, hidden_sizes)``, initialised from the seed."""
    check_instance("config", config, MAMLRLConfig)
    seed_everything(config.seed)
    return MLPPolicy(2, 2, config.hidden_sizes, device=config.device)


_POLICY_FORMAT = "ssm_metarl.MAMLRLPolicy/1"


def save_maml_rl_policy(policy: MLPPolicy, config: MAMLRLConfig, path: str | os.PathLike) -> None:
    """Write the navigation policy and its training config (see :func:`load_maml_rl_policy`)."""
    check_instance("policy", policy, MLPPolicy)
    check_instance("config", config, MAMLRLConfig)
    folder = os.path.dirname(os.fspath(_check_path(path))) or "."
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"path {path}: the folder {folder} does not exist")
    save_checkpoint(path, _POLICY_FORMAT, asdict(config), policy)


def _check_path(path: Any) -> str | os.PathLike:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return path


def load_maml_rl_policy(
    path: str | os.PathLike, map_location: str | torch.device | None = None
) -> tuple[MLPPolicy, MAMLRLConfig]:
    """The policy saved by :func:`save_maml_rl_policy` and its training config.

    ``torch.load(..., weights_only=True)``; a missing, corrupt or foreign file,
    an invalid config or weights that do not fit it raise errors naming ``path``.
    """
    payload = load_checkpoint(_check_path(path), _POLICY_FORMAT, map_location)
    try:
        config = MAMLRLConfig(**payload["config"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: checkpoint config is invalid: {exc}") from exc
    policy = MLPPolicy(2, 2, config.hidden_sizes, device=map_location or config.device)
    check_state_dict(path, policy.state_dict(), payload["state_dict"])
    policy.load_state_dict(payload["state_dict"])
    return policy, config


def policy_gradient_advantages(
    rollout: Rollout, num_tasks: int, gamma: float, baseline_reg: float = 1e-5,
    whole_trial: bool = False,
    all_episodes: bool = False,
) -> list[tuple[Rollout, torch.Tensor, torch.Tensor]]:
    """Per task: (its rollout, normalised advantages (T, K), mask (T, K) of the rows that count).

    The E = G * K columns of ``rollout`` hold G tasks of K trajectories each.
    ``A_t = R_t - b(s_t, t)`` with the reward-to-go R_t and the linear feature
    baseline b fitted on the task's own K trajectories (rllab with
    ``gae_lambda=1``), then centred and scaled per task (``center_adv``).
    Only each env's first episode counts, unless ``whole_trial``: then each
    column is one trial of several episodes, every valid row counts and R_t
    runs to the end of the trial (as in RL^2, reward in a later episode
    credits exploration in an earlier one). ``all_episodes`` alone: every
    valid row counts, R_t stops at each episode's end.
    """
    check_instance("rollout", rollout, Rollout)
    num_tasks = check_int("num_tasks", num_tasks)
    check_float("baseline_reg", baseline_reg, minimum=0)
    if all_episodes and not whole_trial:
        mask = rollout.valid
        returns = discounted_returns(rollout.rewards, rollout.dones, gamma)
    elif whole_trial:
        mask = rollout.valid
        trial_end = torch.zeros_like(rollout.dones)
        trial_end[-1] = True
        returns = discounted_returns(rollout.rewards * rollout.valid, trial_end, gamma)
    else:
        mask = first_episode_mask(rollout.dones, rollout.valid)
        returns = discounted_returns(rollout.rewards, rollout.dones, gamma)
    per_task = rollout.num_envs // num_tasks
    trial_steps = torch.arange(rollout.num_steps, device=rollout.rewards.device)[:, None].expand(
        rollout.num_steps, per_task)
    tasks = []
    for g, task in enumerate(rollout.split(num_tasks)):
        columns = slice(g * per_task, (g + 1) * per_task)
        task_mask, task_returns = mask[:, columns], returns[:, columns]
        # the baseline's clock: the step of the episode, or of the trial when R_t spans it
        clock = trial_steps if whole_trial else task.episode_steps
        baseline = LinearFeatureBaseline(baseline_reg)
        baseline.fit(task.obs, clock, task_returns, task_mask)
        advantages = task_returns - baseline.predict(task.obs, clock)
        tasks.append((task, normalize_advantages(advantages, task_mask), task_mask))
    return tasks


def policy_distribution(
    policy: nn.Module, params: Mapping[str, torch.Tensor] | None, rollout: Rollout
) -> tuple[Distribution, bool]:
    """pi_params(. | history) on every row of ``rollout``, and whether it is batch-first.

    Feed-forward policies read the observations (batch shape (T, E), time
    first); recurrent ones re-run the recorded inputs in sequence mode from the
    rollout's initial state with its trial starts as resets (the core's scan
    or SSD; batch shape (E, T), so ``batch_first`` is True), which makes the
    gradient w.r.t. the fast weights exact through the whole trial.
    """
    _check_policy_rollout(policy, params, rollout)
    if not getattr(policy, "is_recurrent", False):
        return policy.distribution(rollout.obs, params), False
    dist, _, _ = recurrent_call(policy, params, rollout.inputs.transpose(0, 1),
                                rollout.initial_state, rollout.starts.transpose(0, 1))
    return dist, True


def _check_policy_rollout(policy: Any, params: Any, rollout: Any) -> None:
    """A policy (feed-forward with ``distribution`` or recurrent), params None or a dict, a
    Rollout that holds what the policy needs (a recurrent policy's inputs and initial state)."""
    check_instance("policy", policy, nn.Module)
    recurrent = getattr(policy, "is_recurrent", False)
    if not recurrent and not callable(getattr(policy, "distribution", None)):
        raise TypeError(f"policy must be a feed-forward policy with distribution(obs, params) "
                        f"(MLPPolicy) or a recurrent policy, got {type(policy).__name__}")
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"params must be None or a dict name -> tensor, got "
                        f"{type(params).__name__}")
    check_instance("rollout", rollout, Rollout)
    if recurrent and (rollout.inputs is None or rollout.initial_state is None):
        raise ValueError("rollout has no inputs/initial_state, which a recurrent policy "
                         "re-runs: collect it with a recurrent policy")


def policy_log_probs(
    policy: nn.Module, params: Mapping[str, torch.Tensor] | None, rollout: Rollout
) -> torch.Tensor:
    """log pi_params(a_t | history) (T, E) of the rollout's actions, differentiable in params
    (:func:`policy_distribution`)."""
    dist, batch_first = policy_distribution(policy, params, rollout)
    if not batch_first:
        return dist.log_prob(rollout.actions)
    return dist.log_prob(rollout.actions.transpose(0, 1)).transpose(0, 1)


def surrogate_loss(
    policy: nn.Module,
    params: Mapping[str, torch.Tensor],
    rollout: Rollout,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: float | None = None,
) -> torch.Tensor:
    """``-mean log pi_params(a|s) A`` (clip None) or PPO's clipped surrogate against the
    rollout's own log-probs; rollout tensors (T, E, ...), advantages and mask (T, E)."""
    check_instance("rollout", rollout, Rollout)
    shape = tuple(rollout.rewards.shape)
    check_tensor("advantages", advantages, 2, f"(T, E) = {shape}")
    if tuple(advantages.shape) != shape:
        raise ValueError(f"advantages must have shape (T, E) = {shape} (the rollout's), got "
                         f"{tuple(advantages.shape)}")
    log_probs = policy_log_probs(policy, params, rollout)
    if clip is None:
        return -masked_mean(log_probs * advantages, mask)
    return ppo_loss(log_probs, rollout.log_probs, advantages, clip, mask)


def actor_names(params: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
    """The parameters the policy-gradient surrogate depends on: all but a critic head's.

    The recurrent policies' value head (``heads.critic``) serves RL^2's GAE;
    MAML-RL's inner step uses the linear baseline instead, so it leaves the
    critic where it is.
    """
    check_instance("params", params, Mapping)
    return tuple(name for name in params if not name.startswith("heads.critic."))


def adapt_policy(
    policy: nn.Module,
    params: Mapping[str, torch.Tensor],
    rollout: Rollout,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    step_size: float,
    create_graph: bool,
    names: Sequence[str] | None = None,
    engine: str = "autograd",
) -> Params:
    """One inner step ``theta' = theta - alpha grad_theta L(theta; D)`` (Finn et al. 2017, Eq. 1).

    L is the vanilla policy-gradient surrogate on the task's rollout D. With
    ``create_graph`` theta' stays differentiable w.r.t. theta through the
    gradient (second-order MAML); otherwise the gradient is a constant.
    ``names`` (None: all but a critic head's) are the parameters that move;
    the rest stay as given. ``engine="func"`` takes the gradient with
    ``torch.func.grad`` so that theta' composes with ``jvp``/``vjp`` (TRPO).
    """
    check_instance("policy", policy, nn.Module)
    params = dict(_check_policy_params(policy, check_instance("params", params, Mapping)))
    check_instance("rollout", rollout, Rollout)
    if not isinstance(step_size, Mapping):
        check_float("step_size", step_size, minimum=0)
    check_param_names(names, params)

    def task_surrogate(weights: Params) -> torch.Tensor:
        return surrogate_loss(policy, weights, rollout, advantages, mask)

    names = actor_names(params) if names is None else tuple(names)
    grads = loss_gradient(task_surrogate, params, names, create_graph=create_graph,
                          engine=engine)
    return sgd_step(params, grads, step_size)


def _detached(params: Mapping[str, torch.Tensor]) -> Params:
    return {name: p.detach() for name, p in params.items()}


def _rollout_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


def _mean_return(rollout: Rollout) -> float:
    return episode_returns(rollout).mean().item()


def rollout_length(horizon: int, episodes_per_trial: int = 1) -> int:
    """Rows of a rollout of one trial: the episodes plus one autoreset row between each."""
    horizon = check_int("horizon", horizon)
    episodes_per_trial = check_int("episodes_per_trial", episodes_per_trial)
    return episodes_per_trial * (horizon + 1) - 1


def _navigation_family(config: MAMLRLConfig) -> NavigationTasks:
    return NavigationTasks(horizon=config.horizon, goal_tolerance=config.goal_tolerance,
                           action_scale=config.action_scale)


def _training_family(config: MAMLRLConfig, family: Any, policy: nn.Module):
    """``family`` (checked against the policy), or 2D navigation built from ``config``.

    With a family, its horizon and action scale replace the config's
    ``horizon``, ``goal_tolerance`` and ``action_scale``.
    """
    family = _navigation_family(config) if family is None else family
    check_family(family, policy)
    return family


def check_family(family: Any, policy: nn.Module) -> None:
    """``family`` must be a task family (``sample_tasks``, ``make_env``, ``horizon``,
    ``action_scale``, ``obs_dim``, ``action_dim``, ``discrete``) that fits ``policy``."""
    needed = ("sample_tasks", "make_env", "horizon", "action_scale", "obs_dim", "action_dim",
              "discrete")
    missing = [name for name in needed if not hasattr(family, name)]
    if missing:
        raise TypeError(f"family must be a task family such as NavigationTasks() or "
                        f"MetaWorldTasks() (it lacks {missing}), got {type(family).__name__}")
    check_instance("policy", policy, nn.Module)
    if not all(hasattr(policy, name) for name in ("obs_dim", "action_dim", "discrete")):
        raise TypeError(f"policy must be a policy with obs_dim, action_dim and discrete "
                        f"(MLPPolicy, SSMMetaPolicy, GRUPolicy), got {type(policy).__name__}")
    have = (policy.obs_dim, policy.action_dim, policy.discrete)
    want = (family.obs_dim, family.action_dim, family.discrete)
    if have != want:
        raise ValueError(f"policy (obs_dim, action_dim, discrete) = {have} does not fit the "
                         f"task family {family!r}, which needs {want}")


def _outer_loop_setup(policy: nn.Module, config: MAMLRLConfig):
    """Seeded RNG, theta, Adam (None for TRPO), PPO clip."""
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    theta = dict(policy.named_parameters())
    optimizer = None if config.outer == "trpo" else torch.optim.Adam(theta.values(),
                                                                      lr=config.meta_lr)
    clip = config.clip if config.outer_epochs > 1 else None
    return rng, theta, optimizer, clip


def _task_rollouts(policy, batch, per_task: int, rng, trials: int = 1, params=None, *,
                   carry_state: bool = True) -> Rollout:
    """``per_task`` trajectories of ``trials`` episodes of every task of ``batch``.

    The memory of a recurrent policy is carried across the episodes (one
    trial) if ``carry_state``, else reset at every episode.
    """
    family = batch.family
    env = family.make_env(batch.num_tasks * per_task)
    env.set_task(np.repeat(batch.tasks, per_task, axis=0))
    length = family.horizon if trials == 1 else rollout_length(family.horizon, trials)
    return collect_rollouts(env, policy, length, params=params, seed=_rollout_seed(rng),
                            action_scale=family.action_scale,
                            episodes_per_trial=trials if carry_state else 1)


class MAMLStep(NamedTuple):
    """One meta-iteration of :func:`maml_rl_step`.

    ``pre`` / ``post``: the rollouts D (with theta) and D' (with the fast
    weights); ``meta_loss``: the post-adaptation surrogate before the outer
    step; ``kl`` and ``step_fraction``: TRPO's exact mean KL between the old
    and new post-adaptation policies on D' and the accepted fraction of the
    natural-gradient step (0: rejected; both None for Adam).
    """

    pre: Rollout
    post: Rollout
    meta_loss: float
    kl: float | None = None
    step_fraction: float | None = None


def maml_rl_step(
    policy: nn.Module,
    theta: Params,
    optimizer: torch.optim.Optimizer | None,
    batch: RLTaskSample,
    config: MAMLRLConfig | PolicyMAMLConfig,
    rng: np.random.Generator,
    iteration: int,
    what: str = "train_maml_rl",
) -> MAMLStep:
    """One meta-iteration of MAML-RL (Finn et al. 2017, Algorithm 3, lines 3-10).

    For the G tasks of ``batch``: sample ``k_support`` trajectories D_g with
    pi_theta; one inner policy-gradient step per task ``theta'_g = theta - alpha
    grad L(theta; D_g)``; sample ``k_query`` trajectories D'_g with pi_theta'_g;
    update theta on the post-adaptation surrogate, through the inner step:
    ``outer_epochs`` steps of ``optimizer`` (``outer="adam"``), or one TRPO
    step (``outer="trpo"``, ``optimizer`` unused, theta changed in place).
    ``policy`` may be feed-forward or recurrent; with
    ``config.episodes_per_trial`` > 1 each trajectory is one trial whose
    memory is carried across its episodes.
    """
    check_instance("config", config, (MAMLRLConfig, PolicyMAMLConfig))
    check_instance("batch", batch, RLTaskSample)
    trials = config.episodes_per_trial
    _check_trials(trials, getattr(batch.family, "goal_tolerance", None))
    whole_trial = trials > 1
    clip = config.clip if config.outer_epochs > 1 else None
    with _stop_names_iteration(what, iteration):
        pre = _task_rollouts(policy, batch, batch.k_support, rng, trials)
        pre_tasks = policy_gradient_advantages(pre, batch.num_tasks, config.gamma,
                                               config.baseline_reg, whole_trial)
        fast = [_detached(adapt_policy(policy, theta, *task, config.inner_lr, False))
                for task in pre_tasks]
        post = _task_rollouts(policy, batch, batch.k_query, rng, trials, fast)
        post_tasks = policy_gradient_advantages(post, batch.num_tasks, config.gamma,
                                                config.baseline_reg, whole_trial)
        if config.outer == "trpo":
            step = _trpo_meta_step(policy, theta, pre_tasks, post_tasks, config, what,
                                   iteration)
            return MAMLStep(pre, post, step.loss_before, step.kl, step.step_fraction)
        for _ in range(config.outer_epochs):
            meta_loss = _maml_meta_loss(policy, theta, pre_tasks, post_tasks, config, clip)
            training_step(optimizer, meta_loss, what, iteration, _divergence_cause(
                f"inner_lr={config.inner_lr} or meta_lr={config.meta_lr}"))
    return MAMLStep(pre, post, meta_loss.item())


def _trpo_meta_step(policy, theta, pre_tasks, post_tasks, config, what, iteration):
    """TRPO on the post-adaptation surrogate (Finn et al. 2017, Sec. 5.3; :mod:`ssm_metarl.trpo`).

    Over the actor's parameters A: ``evaluate(A)`` re-derives every task's
    fast weights from D_g (the inner step, through ``torch.func`` so the
    Fisher-vector products run through it) and returns the importance-weighted
    surrogate ``-(1/G) sum_g mean_t ratio_t A_t`` on D'_g and the fast policies'
    distribution tensors there (the G tasks under one ``vmap``, or a loop if the
    policy cannot be vmapped); the KL is averaged per task as the loss is.
    ``pre_tasks=None``: no inner step (the pretrained baseline's TRPO on its own data).
    """
    names = actor_names(theta)
    fixed = _detached(theta)
    create_graph = not config.first_order
    post = _stack_tasks(post_tasks)
    pre = None if pre_tasks is None else _stack_tasks(pre_tasks)

    def task_terms(actor, pre_task, post_task):
        params = {**fixed, **actor}
        if pre_task is not None:
            rollout, advantages, mask = pre_task
            params = adapt_policy(policy, params, Rollout(**rollout), advantages, mask,
                                  config.inner_lr, create_graph, names, engine="func")
        rollout, advantages, mask = post_task
        rollout = Rollout(**rollout)
        dist, batch_first = policy_distribution(policy, params, rollout)
        flip = (lambda x: x.transpose(0, 1)) if batch_first else (lambda x: x)
        ratio = torch.exp(dist.log_prob(flip(rollout.actions)) - flip(rollout.log_probs))
        return -masked_mean(ratio * flip(advantages), flip(mask)), distribution_tensors(dist)

    vmapped = torch.func.vmap(task_terms, in_dims=(None, None if pre is None else 0, 0))
    loop = [policy in _VMAP_UNSUPPORTED]

    def evaluate(actor: Params, tasks: int = len(post_tasks)):
        pre_n = None if pre is None else _first_tasks(pre, tasks)
        post_n = _first_tasks(post, tasks)
        if not loop[0]:
            try:
                losses, eta = vmapped(actor, pre_n, post_n)
                return losses.mean(), eta
            except VMAP_FALLBACK_ERRORS:
                loop[0] = True
                _VMAP_UNSUPPORTED.add(policy)  # functional's registry: loop from now on
        terms = [task_terms(actor, None if pre is None else _task_slice(pre_n, g),
                            _task_slice(post_n, g)) for g in range(tasks)]
        losses, eta = zip(*terms, strict=True)
        return torch.stack(losses).mean(), tuple(torch.stack(t) for t in zip(*eta, strict=True))

    # the kind of distribution (Gaussian or categorical) to rebuild from eta, and its layout
    like, batch_first = policy_distribution(policy, fixed, post_tasks[0][0])
    masks = torch.stack([mask.transpose(0, 1) if batch_first else mask
                         for _, _, mask in post_tasks])

    def kl(eta_old, eta):
        divergence = kl_divergence(distribution_from(eta_old, like), distribution_from(eta, like))
        weights = masks[:len(divergence)].to(divergence.dtype)
        per_task = (divergence * weights).flatten(1).sum(1) / weights.flatten(1).sum(1).clamp(min=1)
        return per_task.mean()

    # the Fisher-vector products use the first subsample * G tasks (the tasks are i.i.d.)
    fisher_tasks = max(1, round(config.trpo.subsample * len(post_tasks)))
    actor = {name: fixed[name] for name in names}
    try:
        step = trpo_step(evaluate, kl, actor, config.trpo,
                         fisher_outputs=lambda a: evaluate(a, fisher_tasks)[1])
    except FloatingPointError as error:
        raise FloatingPointError(f"{what} stopped at iteration {iteration}: {error}. Likely "
                                 f"cause: {_divergence_cause(f'inner_lr={config.inner_lr}')}"
                                 ) from None
    except RuntimeError as error:
        if "functorch" not in str(error) and "setup_context" not in str(error):
            raise
        core = getattr(policy, "core_name", type(policy).__name__)
        raise NotImplementedError(
            f"outer='trpo' needs a policy that composes with torch.func (jvp/vjp through the "
            f"inner step); {core!r} runs a custom autograd.Function without forward mode. Use "
            f"an MLPPolicy, SSMMetaPolicy(core='ssd' or 'linear'), GRUPolicy, or outer='adam'"
        ) from error
    with torch.no_grad():
        for name in names:
            theta[name].copy_(step.params[name])
    return step


def _stack_tasks(tasks):
    """Per-task (rollout, advantages, mask) of equal shapes -> the same, stacked on a leading G."""
    fields = [name for name, value in vars(tasks[0][0]).items() if value is not None]
    rollout = {name: torch.stack([getattr(task[0], name) for task in tasks]) for name in fields}
    return (rollout, torch.stack([task[1] for task in tasks]),
            torch.stack([task[2] for task in tasks]))


def _first_tasks(stacked, n: int):
    rollout, advantages, mask = stacked
    return {name: value[:n] for name, value in rollout.items()}, advantages[:n], mask[:n]


def _task_slice(stacked, g: int):
    rollout, advantages, mask = stacked
    return {name: value[g] for name, value in rollout.items()}, advantages[g], mask[g]


OnIteration = Callable[[int, dict], None]
"""``on_iteration(i, history)`` of the trainers: called after iteration i with the history so far.

It may evaluate the policy (e.g. success on held-out tasks, notebook 06) but
must leave the policy's weights and the global RNG as it found them, or the
run stops being reproducible from its seed.
"""


def _check_hook(on_iteration: Any) -> OnIteration | None:
    if on_iteration is not None and not callable(on_iteration):
        raise TypeError(f"on_iteration must be a function (iteration, history) or None, got "
                        f"{type(on_iteration).__name__}")
    return on_iteration


def _check_config(config: Any, kind: type) -> Any:
    """``config`` (None: the defaults) must be a ``kind``."""
    return kind() if config is None else check_instance("config", config, kind)


def _call_hook(on_iteration: OnIteration | None, iteration: int, history: dict) -> None:
    if on_iteration is not None:
        on_iteration(iteration, history)


def train_maml_rl(
    policy: MLPPolicy, config: MAMLRLConfig | None = None, *, progress: bool = True,
    family: Any = None, on_iteration: OnIteration | None = None,
) -> dict[str, list[float]]:
    """Meta-train ``policy`` in place with MAML-RL on 2D navigation (module docstring).

    ``family``: another task family to meta-train on (e.g.
    :class:`~ssm_metarl.envs.metaworld.MetaWorldTasks`), tasks drawn with its
    ``sample_tasks``; its horizon and action scale replace the config's.

    Returns the history per meta-iteration: ``pre_return`` (mean return of D,
    before adaptation), ``post_return`` (of D', after one inner step),
    ``meta_loss`` and ``policy_std`` (mean exp(log_std) after the step); with
    ``outer="trpo"`` also ``kl`` and ``step_fraction`` (:class:`MAMLStep`). Same
    config and seed, same machine: same numbers. Stops with
    ``FloatingPointError`` (iteration, value, hint) on a NaN/inf meta-loss.
    ``on_iteration(i, history)`` (:data:`OnIteration`) runs after iteration i.
    """
    config, on_iteration = _check_config(config, MAMLRLConfig), _check_hook(on_iteration)
    num_tasks, per_task = config.meta_batch_size, config.trajectories_per_task
    check_instance("policy", policy, nn.Module)
    rng, theta, optimizer, _ = _outer_loop_setup(policy, config)
    family = _training_family(config, family, policy)
    keys = ["pre_return", "post_return", "meta_loss", "policy_std"]
    keys += ["kl", "step_fraction"] if config.outer == "trpo" else []
    history: dict[str, list[float]] = {key: [] for key in keys}
    bar = progress_bar(range(config.num_meta_iterations), "MAML-RL", progress)
    for iteration in bar:
        batch = RLTaskSample(family.sample_tasks(num_tasks, rng), per_task, per_task, family)
        step = maml_rl_step(policy, theta, optimizer, batch, config, rng, iteration)
        history["pre_return"].append(_mean_return(step.pre))
        history["post_return"].append(_mean_return(step.post))
        history["meta_loss"].append(step.meta_loss)
        history["policy_std"].append(theta["log_std"].detach().exp().mean().item())
        if config.outer == "trpo":
            history["kl"].append(step.kl)
            history["step_fraction"].append(step.step_fraction)
        bar.set_postfix(pre=f"{history['pre_return'][-1]:.1f}",
                        post=f"{history['post_return'][-1]:.1f}")
        _call_hook(on_iteration, iteration, history)
    return history


def _maml_meta_loss(policy, theta, pre_tasks, post_tasks, config, clip) -> torch.Tensor:
    """(1/G) sum_g L(theta'_g(theta); D'_g), theta'_g re-derived from D_g so grads flow."""
    losses = []
    for pre_task, (post_rollout, advantages, mask) in zip(pre_tasks, post_tasks, strict=True):
        fast = adapt_policy(policy, theta, *pre_task, config.inner_lr,
                            create_graph=not config.first_order)
        losses.append(surrogate_loss(policy, fast, post_rollout, advantages, mask, clip))
    return torch.stack(losses).mean()


def train_pretrained(
    policy: MLPPolicy, config: MAMLRLConfig | None = None, *, progress: bool = True,
    family: Any = None, on_iteration: OnIteration | None = None,
) -> dict[str, list[float]]:
    """The "pretrained" baseline of Finn et al. (2017), Sec. 5.3: one policy, all goals.

    The loop of :func:`train_maml_rl` without the inner step: each iteration
    draws ``meta_batch_size`` goals, samples K trajectories per goal with
    pi_theta and takes the same outer step (Adam or TRPO) on that data
    (per-goal baselines and advantages). Returns ``{"return": [...], "loss": [...]}``.
    With ``outer_epochs`` > 1 and Adam this is multi-task PPO (clipped surrogate)
    of a memoryless policy, the baseline of Meta-World's notebook. ``family``
    and ``on_iteration`` as in :func:`train_maml_rl`.
    """
    config, on_iteration = _check_config(config, MAMLRLConfig), _check_hook(on_iteration)
    num_tasks, per_task = config.meta_batch_size, config.trajectories_per_task
    check_instance("policy", policy, nn.Module)
    rng, theta, optimizer, clip = _outer_loop_setup(policy, config)
    family = _training_family(config, family, policy)
    history: dict[str, list[float]] = {"return": [], "loss": []}
    for iteration in progress_bar(range(config.num_meta_iterations), "pretrain", progress):
        with _stop_names_iteration("train_pretrained", iteration):
            batch = RLTaskSample(family.sample_tasks(num_tasks, rng), per_task, per_task,
                                 family)
            rollout = _task_rollouts(policy, batch, per_task, rng)
            tasks = policy_gradient_advantages(rollout, num_tasks, config.gamma,
                                               config.baseline_reg)
            if config.outer == "trpo":
                loss = _trpo_meta_step(policy, theta, None, tasks, config, "train_pretrained",
                                       iteration).loss_before
            for _ in range(config.outer_epochs if config.outer == "adam" else 0):
                loss = torch.stack([surrogate_loss(policy, theta, *task, clip)
                                    for task in tasks]).mean()
                loss = training_step(optimizer, loss, "train_pretrained", iteration,
                                     _divergence_cause(f"meta_lr={config.meta_lr}"))
        history["return"].append(_mean_return(rollout))
        history["loss"].append(loss)
        _call_hook(on_iteration, iteration, history)
    return history


def goal_array(goals: Any, name: str = "goals") -> np.ndarray:
    """``goals`` as a float64 array, or a ValueError naming ``name`` (strings, ragged lists)."""
    try:
        return np.asarray(goals, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(goals).__name__} "
                         f"{goals!r:.60}") from None


def check_goals(goals: Any) -> np.ndarray:
    """``goals`` as a (G, 2) float64 array, or a ValueError naming the shape it got."""
    goals = goal_array(goals)
    if goals.ndim != 2 or goals.shape[1] != 2 or len(goals) == 0:
        raise ValueError(f"goals must have shape (G, 2) with G >= 1, got {goals.shape}")
    return _finite_goals(goals)


def _finite_goals(goals: np.ndarray) -> np.ndarray:
    if not np.isfinite(goals).all():
        raise ValueError(f"goals must be finite, got {int((~np.isfinite(goals)).sum())} "
                         f"NaN/inf entries of {goals.size}")
    return goals


def paper_step_sizes(inner_lr: float, steps: int) -> tuple[float, ...]:
    """Evaluation step sizes: alpha, then alpha / 2 (Finn et al. 2017, Appendix A.2)."""
    inner_lr = check_float("inner_lr", inner_lr, minimum=0)
    steps = check_int("steps", steps, 0)
    return tuple(inner_lr if s == 0 else inner_lr / 2 for s in range(steps))


def evaluate_maml_rl(
    policy: nn.Module,
    params: Mapping[str, torch.Tensor] | None,
    goals: np.ndarray,
    steps: int = 3,
    *,
    step_sizes: Sequence[float] | None = None,
    trajectories_per_task: int = 20,
    horizon: int = 100,
    gamma: float = 0.99,
    action_scale: float = 0.1,
    goal_tolerance: float | None = None,
    baseline_reg: float = 1e-5,
    episodes_per_trial: int = 1,
    per_episode: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Mean return per goal after 0..S policy-gradient steps: (G, S + 1) float64.

    ``params`` (None: the policy's own weights) are adapted to every goal of
    ``goals`` (G, 2) separately, all goals in one batched env: at step s, K
    trajectories are sampled with theta_s, their mean return is column s, and
    (for s < S) one inner step with ``step_sizes[s]`` (default
    :func:`paper_step_sizes` of 0.1) on them gives theta_{s+1}.

    Recurrent policies work too: with ``episodes_per_trial`` m > 1 each of
    the K trajectories of a round is one trial of m episodes, memory carried
    across them, and the step uses the whole trials (:func:`maml_rl_step`);
    column s is then the mean over the trial's episodes, or with
    ``per_episode=True`` the result is (G, S + 1, m), episode by episode.

    ``goals`` (G, S + 1, 2) gives each round s its own goal instead: a goal that
    moves between rounds, unannounced, measures *continual* adaptation (notebook
    04); step sizes of 0 keep the policy frozen.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    rounds = _goals_per_round(goals, steps)
    step_sizes = paper_step_sizes(0.1, steps) if step_sizes is None else _step_list(step_sizes)
    if len(step_sizes) != steps or not all(_is_rate(a) for a in step_sizes):
        raise ValueError(f"step_sizes must be {steps} finite numbers >= 0 (one per step), "
                         f"got {step_sizes}")
    family = NavigationTasks(horizon=horizon, goal_tolerance=goal_tolerance,
                             action_scale=action_scale)
    run = adapt_online(policy, params, rounds, step_sizes, family,
                       trajectories_per_task=trajectories_per_task,
                       episodes_per_round=episodes_per_trial, gamma=gamma,
                       baseline_reg=baseline_reg, seed=seed)
    return run.returns if per_episode else run.returns.mean(axis=2)


class OnlineRun(NamedTuple):
    """What :func:`adapt_online` measured.

    ``returns`` (G, R, m): mean return over the K trajectories of episode e of
    round r, played with the weights *before* round r's update; ``params``: the
    G fast-weight dicts after the last round; ``act_seconds`` /
    ``update_seconds``: wall time spent choosing actions / taking gradient
    steps; ``decisions``: actions chosen per env (rows of all rounds).
    """

    returns: np.ndarray
    params: list[Params]
    act_seconds: float
    update_seconds: float
    decisions: int


def adapt_online(
    policy: nn.Module,
    params: Mapping[str, torch.Tensor] | None,
    goals: np.ndarray,
    step_sizes: Sequence[float],
    family: Any,
    *,
    trajectories_per_task: int = 20,
    episodes_per_round: int = 1,
    carry_state: bool = True,
    inner_steps: int = 1,
    names: Sequence[str] | None = None,
    gamma: float = 0.99,
    baseline_reg: float = 1e-5,
    seed: int = 0,
) -> OnlineRun:
    """Act, then update: R rounds of play on G tasks with policy-gradient steps between them.

    ``goals`` (G, R, D) holds each task's goal in every round (a goal that
    moves between rounds is continual adaptation). Round r plays K =
    ``trajectories_per_task`` trajectories per task of ``episodes_per_round``
    episodes each (one trial with the memory carried across them if
    ``carry_state``, else the memory is reset every episode); then, for r < R - 1,
    ``inner_steps`` VPG steps of size ``step_sizes[r]`` on what round r just
    experienced update that task's fast weights (``names``: which parameters;
    None: the actor's). The predict-then-update discipline: the returns of
    round r come from weights that have seen only rounds < r.
    """
    check_instance("policy", policy, nn.Module)
    _check_play_family(family)
    seed = check_int("seed", seed, 0)
    rounds = goal_array(goals)
    step_sizes = _step_list(step_sizes)
    if rounds.ndim != 3 or rounds.shape[1] != len(step_sizes) + 1 or len(rounds) == 0:
        raise ValueError(f"goals must be (G, R, D) with G >= 1 and R = len(step_sizes) + 1 = "
                         f"{len(step_sizes) + 1}, got {rounds.shape}")
    _finite_goals(rounds)
    if not all(_is_rate(a) for a in step_sizes):
        raise ValueError(f"step_sizes must be finite numbers >= 0, got {step_sizes}")
    _check_unit("gamma", gamma)
    check_float("baseline_reg", baseline_reg, minimum=0)
    per_task = check_int("trajectories_per_task", trajectories_per_task)
    trials = check_int("episodes_per_round", episodes_per_round)
    inner_steps = check_int("inner_steps", inner_steps)
    _check_trials(trials, getattr(family, "goal_tolerance", None))
    params = _check_policy_params(policy, params)
    check_param_names(names, params)
    num_goals, rng = rounds.shape[0], np.random.default_rng(seed)
    fast = [_detached(params)] * num_goals
    returns = np.zeros((num_goals, rounds.shape[1], trials))
    act_seconds = update_seconds = 0.0
    decisions = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(rounds.shape[1]):
            batch = RLTaskSample(rounds[:, step], per_task, per_task, family)
            start = time.perf_counter()
            rollout = _task_rollouts(policy, batch, per_task, rng, trials, fast,
                                     carry_state=carry_state)
            act_seconds += time.perf_counter() - start
            decisions += rollout.num_steps
            tasks = policy_gradient_advantages(rollout, num_goals, gamma, baseline_reg,
                                               whole_trial=trials > 1 and carry_state,
                                               all_episodes=trials > 1)
            returns[:, step] = [per_episode_returns(task, trials).mean(0).double().cpu().numpy()
                                for task, _, _ in tasks]
            if step == rounds.shape[1] - 1:
                break
            start = time.perf_counter()
            for _ in range(inner_steps):
                fast = [_detached(adapt_policy(policy, theta, *task, step_sizes[step], False,
                                               names))
                        for theta, task in zip(fast, tasks, strict=True)]
            update_seconds += time.perf_counter() - start
    return OnlineRun(returns, fast, act_seconds, update_seconds, decisions)


def _check_play_family(family: Any) -> None:
    if not all(hasattr(family, a) for a in ("make_env", "horizon", "action_scale")):
        raise TypeError(f"family must be a task family such as NavigationTasks() (with make_env, "
                        f"horizon, action_scale), got {type(family).__name__}")


def _step_list(step_sizes: Any) -> tuple:
    """``step_sizes`` as a tuple (any sequence or iterable of numbers, not one number)."""
    if isinstance(step_sizes, (str, bytes, Mapping)) or not hasattr(step_sizes, "__iter__"):
        raise TypeError(f"step_sizes must be a sequence of numbers (one per step), got "
                        f"{type(step_sizes).__name__} {step_sizes!r:.40}")
    return tuple(step_sizes)


def _is_rate(a: Any) -> bool:
    """A finite number >= 0 (NumPy scalars too, not bools or strings)."""
    return not isinstance(a, bool) and isinstance(a, (int, float, np.integer, np.floating)) \
        and math.isfinite(a) and a >= 0


class TrialRun(NamedTuple):
    """What :func:`adapt_within_trial` measured.

    ``rewards`` (G, T): reward of every row, mean over the K trajectories of
    each task (NaN on the autoreset rows between episodes); ``valid`` (T,)
    bool: the rows that are real steps; ``params``: the G fast-weight dicts at
    the end; ``updates``: gradient steps taken per task; ``update_seconds``:
    their wall time.
    """

    rewards: np.ndarray
    valid: np.ndarray
    params: list[Params]
    updates: int
    update_seconds: float


def adapt_within_trial(
    policy: nn.Module,
    params: Mapping[str, torch.Tensor] | None,
    goals: np.ndarray,
    family: Any,
    *,
    episodes: int = 1,
    every_steps: int | None = None,
    step_size: float = 0.1,
    jump_row: int | None = None,
    jump_goals: np.ndarray | None = None,
    trajectories_per_task: int = 10,
    names: Sequence[str] | None = None,
    gamma: float = 0.99,
    baseline_reg: float = 1e-5,
    seed: int = 0,
) -> TrialRun:
    """One trial of ``episodes`` episodes per task, weights updated every ``every_steps`` steps.

    K = ``trajectories_per_task`` trajectories play each of the G ``goals``
    (G, D) as one trial, a recurrent policy's memory carried across its
    episodes. If ``jump_row`` is given, the goal jumps to ``jump_goals`` (G, D)
    before the action of that row, unannounced. With ``every_steps`` k, after
    every k-th real step the task's fast weights take one VPG step of
    ``step_size`` on the rows of the last k steps, with rewards-to-go that
    stop at the current row (only rewards already received; the linear
    baseline fitted on every row seen so far); the next action uses the new
    weights (predict, then update). ``every_steps=None`` plays the trial with
    the weights frozen.
    """
    check_instance("policy", policy, nn.Module)
    per_task = check_int("trajectories_per_task", trajectories_per_task)
    episodes = check_int("episodes", episodes)
    every = None if every_steps is None else check_int("every_steps", every_steps)
    check_float("step_size", step_size, minimum=0)
    seed = check_int("seed", seed, 0)
    _check_unit("gamma", gamma)
    check_float("baseline_reg", baseline_reg, minimum=0)
    _check_play_family(family)
    goals = check_goals(goals)
    _check_trials(episodes, getattr(family, "goal_tolerance", None))
    length = rollout_length(family.horizon, episodes)
    changes = {}
    if jump_row is not None:
        jump_row = check_int("jump_row", jump_row, 1)
        if jump_row >= length:
            raise ValueError(f"jump_row must be < the trial's {length} rows, got {jump_row}")
        if jump_goals is None:
            raise ValueError(f"jump_row={jump_row} needs jump_goals (G, D), the goals after it")
        try:
            jumped = check_goals(jump_goals)
        except ValueError as error:
            raise ValueError(f"jump_goals: {error}") from None
        if jumped.shape != goals.shape:
            raise ValueError(f"jump_goals must have the shape of goals {goals.shape}, got "
                             f"{jumped.shape}")
        changes[jump_row] = np.repeat(jumped, per_task, axis=0)
    params = _check_policy_params(policy, params)
    check_param_names(names, params)
    num_goals = len(goals)
    fast = [_detached(params)] * num_goals
    env = family.make_env(num_goals * per_task)
    env.set_task(np.repeat(goals, per_task, axis=0))
    counters = {"real": 0, "updates": 0, "seconds": 0.0}

    def update(t: int, so_far) -> list[Params] | None:
        nonlocal fast
        rollout = so_far()
        counters["real"] += int(rollout.valid[t].all())
        if every is None or not rollout.valid[t].all() or counters["real"] % every \
                or counters["real"] < 2 * every - 1:
            return None
        start = time.perf_counter()
        advantages, mask = _windowed_advantages(rollout, every, gamma)
        new = []
        for g, (theta, task) in enumerate(zip(fast, rollout.split(num_goals), strict=True)):
            columns = slice(g * per_task, (g + 1) * per_task)
            task_mask = mask[:, columns]
            task_adv = normalize_advantages(advantages[:, columns] - _masked_row_mean(
                advantages[:, columns], task_mask), task_mask)
            new.append(_detached(adapt_policy(policy, theta, task, task_adv, task_mask,
                                              step_size, False, names)))
        fast = new
        counters["updates"] += 1
        counters["seconds"] += time.perf_counter() - start
        return fast

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rollout = collect_rollouts(env, policy, length, params=fast, seed=seed,
                                   action_scale=family.action_scale, episodes_per_trial=episodes,
                                   task_changes=changes, on_step=update)
    rewards = rollout.rewards.double().view(length, num_goals, per_task).mean(2).T.cpu().numpy()
    valid = rollout.valid.all(1).cpu().numpy()
    rewards[:, ~valid] = np.nan
    return TrialRun(rewards, valid, fast, counters["updates"], counters["seconds"])


def _windowed_advantages(rollout: Rollout, k: int, gamma: float):
    """k-step returns of the last k real rows whose k rewards have all arrived: (T, E), mask.

    Row p of the real (valid) rows gets ``R_p = sum_{j<k} gamma^j r_{p+j}``; the
    window is the k most recent rows p with p + k - 1 at or before the current
    row. Every row of the window has a return of the same length, so none is
    favoured for being early or late in it (a reward-to-go cut at the current
    row would be).
    """
    real = torch.nonzero(rollout.valid.all(1)).squeeze(1)
    rewards = rollout.rewards[real]  # (V, E)
    count = len(real) - k + 1  # rows whose k-step return is complete
    discounts = gamma ** torch.arange(k, dtype=rewards.dtype, device=rewards.device)
    returns = torch.stack([(rewards[p:p + k] * discounts[:, None]).sum(0)
                           for p in range(count - k, count)])
    full = torch.zeros_like(rollout.rewards)
    mask = torch.zeros_like(rollout.valid)
    full[real[count - k:count]] = returns
    mask[real[count - k:count]] = True
    return full, mask


def _masked_row_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per row t, the mean of ``x[t]`` over the masked columns (T, 1): a baseline that
    compares each trajectory with the other trajectories of its task at the same step."""
    weights = mask.to(x.dtype)
    return (x * weights).sum(1, keepdim=True) / weights.sum(1, keepdim=True).clamp(min=1)


def check_param_names(names: Sequence[str] | None, params: Mapping[str, Any],
                      label: str = "names") -> None:
    """``names`` (None: all) must be keys of ``params``; a ValueError names ``label``."""
    check_instance("params", params, Mapping)
    if names is None:
        return
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise TypeError(f"{label} must be None or a list of parameter names, got "
                        f"{type(names).__name__} {names!r:.60}")
    unknown = [name for name in names if name not in params]
    if unknown:
        raise ValueError(f"{label} holds {unknown}, which are not parameters of the policy "
                         f"(its names: {list(params)})")


def _check_policy_params(
    policy: MLPPolicy, params: Mapping[str, torch.Tensor] | None
) -> Mapping[str, torch.Tensor]:
    """``params`` (None: the policy's own) must hold a tensor for every policy parameter."""
    own = dict(policy.named_parameters())
    if params is None:
        return own
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be None or a dict name -> tensor, got "
                        f"{type(params).__name__}")
    missing = [name for name in own if name not in params]
    if missing:
        raise ValueError(f"params lacks the policy parameters {missing}; expected the keys "
                         f"{list(own)} (dict(policy.named_parameters()))")
    return params


def _goals_per_round(goals: Any, steps: int) -> np.ndarray:
    """(G, S + 1, 2): the goal of every round, from fixed goals (G, 2) or per-round goals."""
    goals = goal_array(goals)
    if goals.ndim == 3:
        if goals.shape[1:] != (steps + 1, 2) or len(goals) == 0:
            raise ValueError(f"goals per round must have shape (G, steps + 1 = {steps + 1}, 2), "
                             f"got {goals.shape}")
        return _finite_goals(goals)
    return np.repeat(check_goals(goals)[:, None], steps + 1, axis=1)


def navigation_oracle_returns(goals: np.ndarray, horizon: int = 100) -> np.ndarray:
    """Return (G,) of the analytic oracle: each step moves ``clip(g - x, -0.1, 0.1)``.

    That reaches the goal in the fewest steps the velocity box allows and then
    stays (reward 0), so no policy does better on :class:`BatchedNavigation2D`.
    """
    goals = check_goals(goals)
    env = BatchedNavigation2D(goals.shape[0], horizon=horizon, task=goals)
    position, _ = env.reset(seed=0)
    total = np.zeros(goals.shape[0])
    for _ in range(horizon):
        position, reward, _, _, _ = env.step(goals - position)
        total += reward
    return total


# ============================================================================= RL^2


@dataclass
class RL2Config:
    """Every hyperparameter of :func:`train_rl2` (RL^2, Duan et al. 2016, with PPO).

    Bandit: ``k`` arms, ``n`` pulls per trial, one trial per env per iteration,
    ``trials_per_iteration`` trials in parallel. Policy: ``policy`` "ssm"
    (:class:`SSMMetaPolicy`) or "gru" (:class:`GRUPolicy`), width
    ``hidden_dim``. The bandit observation already holds RL^2's inputs
    (previous arm, reward, done flag, and t/n with ``time_feature``), so
    ``rl2_inputs`` is off by default. PPO: ``ppo_epochs`` passes of
    ``num_minibatches`` minibatches of whole trials, clipped surrogate
    (``clip``), value loss weight ``value_coef``, entropy bonus
    ``entropy_coef``, gradient norm clipped to ``max_grad_norm``; GAE with
    ``gamma`` and ``gae_lambda`` (a short GAE horizon; a trial is only n steps).

    ``env="navigation"`` plays RL^2 on 2D navigation instead: a trial is
    ``episodes_per_trial`` episodes of ``horizon`` steps toward one goal, the
    policy is continuous (``action_scale`` as in MAML-RL) and builds RL^2's
    inputs itself; ``k``, ``n`` and ``time_feature`` are then unused. Goals
    come from the paper's square, or with ``goal_radius=(r_min, r_max)`` from
    that ring (:class:`~ssm_metarl.envs.families.NavigationTasks`).
    """

    env: str = "bandit"
    k: int = 5
    n: int = 10
    num_iterations: int = 100
    trials_per_iteration: int = 64
    policy: str = "ssm"
    core: str = "selective"
    hidden_dim: int = 64
    ssm_state_dim: int = 16
    rl2_inputs: bool = False
    time_feature: bool = True
    lr: float = 1e-2
    gamma: float = 0.99
    gae_lambda: float = 0.3
    ppo_epochs: int = 4
    num_minibatches: int = 4
    clip: float = 0.2
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 1.0
    episodes_per_trial: int = 1
    horizon: int = 100
    action_scale: float = 0.1
    goal_radius: tuple[float, float] | None = None
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.goal_radius is not None:
            self.goal_radius = NavigationTasks(radius=tuple(self.goal_radius)).radius
        if self.env not in ("bandit", "navigation"):
            raise ValueError(f"env must be 'bandit' or 'navigation', got {self.env!r}")
        if self.env == "bandit" and self.episodes_per_trial != 1:
            raise ValueError("episodes_per_trial must be 1 for env='bandit' (a bandit trial is "
                             f"one episode of n pulls), got {self.episodes_per_trial}")
        for name in ("k", "n", "num_iterations", "trials_per_iteration", "hidden_dim",
                     "ssm_state_dim", "ppo_epochs", "num_minibatches", "episodes_per_trial",
                     "horizon"):
            check_int(name, getattr(self, name))
        for name in ("lr", "max_grad_norm", "action_scale"):
            check_float(name, getattr(self, name), minimum=0, strict=True)
        if self.policy not in ("ssm", "gru"):
            raise ValueError(f"policy must be 'ssm' or 'gru', got {self.policy!r}")
        if self.core not in CORE_NAMES:
            raise ValueError(f"core must be one of {', '.join(map(repr, CORE_NAMES))}, "
                             f"got {self.core!r}")
        if self.trials_per_iteration % self.num_minibatches:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} must divide "
                f"trials_per_iteration={self.trials_per_iteration}"
            )
        for name in ("gamma", "gae_lambda"):
            _check_unit(name, getattr(self, name))
        _check_unit("clip", self.clip, open_interval=True)
        for name in ("value_coef", "entropy_coef"):
            check_float(name, getattr(self, name), minimum=0)
        for name in ("rl2_inputs", "time_feature"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_int("seed", self.seed, 0)


def make_rl2_policy(config: RL2Config) -> SSMMetaPolicy | GRUPolicy:
    """The RL^2 policy of ``config``, seeded.

    Bandit: observation size k + 2 (+1 with the time feature), k discrete
    actions. Navigation: the 2-D position plus RL^2's own inputs (previous
    action, reward, done), a Gaussian 2-D velocity.
    """
    check_instance("config", config, RL2Config)
    seed_everything(config.seed)
    if config.env == "bandit":
        sizes = (config.k + 2 + int(config.time_feature), config.k)
        common = {"discrete": True, "rl2_inputs": config.rl2_inputs}
    else:
        sizes, common = (2, 2), {"discrete": False, "rl2_inputs": True}
    common.update(hidden_dim=config.hidden_dim, device=config.device)
    if config.policy == "ssm":
        return SSMMetaPolicy(*sizes, core=config.core, ssm_state_dim=config.ssm_state_dim,
                             **common)
    return GRUPolicy(*sizes, **common)


def _rl2_env(config: RL2Config, num_envs: int) -> BatchedBernoulliBandit | BatchedNavigation2D:
    """The batched env of ``config``: bandits redraw arms at every seeded reset, goals are set."""
    if config.env == "bandit":
        return BatchedBernoulliBandit(num_envs, k=config.k, n=config.n,
                                      time_feature=config.time_feature)
    return BatchedNavigation2D(num_envs, horizon=config.horizon)


def trial_length(config: RL2Config) -> int:
    """Rollout rows of one trial: n pulls, or the episodes plus one autoreset row between each."""
    check_instance("config", config, RL2Config)
    if config.env == "bandit":
        return config.n
    return config.episodes_per_trial * (config.horizon + 1) - 1


def trial_advantages(rollout: Rollout, gamma: float, lam: float) -> torch.Tensor:
    """GAE over one whole trial per env, (T, E): episode ends inside a trial are not terminal.

    RL^2 (Duan et al. 2016, Sec. 2.2) maximises the return of the whole trial,
    so reward earned in a later episode credits exploration in an earlier
    one. The autoreset rows (``valid`` False, the same rows for every env) are
    left out of the recursion and get advantage 0.
    """
    check_instance("rollout", rollout, Rollout)
    if rollout.values is None:
        raise ValueError("rollout has no values (the critic's V(h_t)): collect it with a "
                         "recurrent policy")
    rows = rollout.valid.all(dim=1)
    if not torch.equal(rollout.valid, rows[:, None].expand_as(rollout.valid)):
        raise ValueError("trial_advantages needs envs whose episodes end on the same rows")
    rewards, values = rollout.rewards[rows], rollout.values[rows]
    trial_over = torch.zeros_like(rewards, dtype=torch.bool)
    trial_over[-1] = True
    advantages = torch.zeros_like(rollout.rewards)
    advantages[rows] = gae(rewards, values, trial_over, torch.zeros_like(values[-1]), gamma, lam)
    return advantages


def _ppo_minibatch_loss(policy, rollout, envs, advantages, returns, config) -> torch.Tensor:
    """PPO loss on the whole trials of the envs ``envs`` (index tensor over E), sequence mode."""
    batch = rollout.columns(envs)
    dist, values, _ = policy(batch.inputs.transpose(0, 1), batch.initial_state,
                             batch.starts.transpose(0, 1))
    new_log_probs = dist.log_prob(batch.actions.transpose(0, 1)).transpose(0, 1)
    values = values.transpose(0, 1)
    mask = batch.valid
    policy_loss = ppo_loss(new_log_probs, batch.log_probs, advantages[:, envs], config.clip,
                           mask)
    value_loss = masked_mean((values - returns[:, envs]) ** 2, mask)
    entropy = masked_mean(dist.entropy().transpose(0, 1), mask)
    return policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy


def train_rl2(
    policy: SSMMetaPolicy | GRUPolicy,
    config: RL2Config | None = None,
    *,
    progress: bool = True,
    family: Any = None,
    on_iteration: OnIteration | None = None,
) -> dict[str, list[float]]:
    """Train a recurrent ``policy`` in place with RL^2 + PPO on bandit or navigation trials.

    Per iteration: play ``trials_per_iteration`` fresh trials (n pulls, or
    ``episodes_per_trial`` navigation episodes toward a fresh goal; memory
    reset at each trial start, step mode); GAE advantages from the critic over
    the whole trial (:func:`trial_advantages`); ``ppo_epochs`` x
    ``num_minibatches`` Adam steps on the clipped surrogate + value loss -
    entropy bonus, recomputed in sequence mode. Returns
    ``{"trial_reward": [...], "loss": [...]}`` (mean total reward per trial).
    Stops with ``FloatingPointError`` (iteration, value, hint) on a NaN/inf loss.

    ``family``: play trials of another task family instead of ``config.env``
    (e.g. :class:`~ssm_metarl.envs.metaworld.MetaWorldTasks`): each trial is
    ``episodes_per_trial`` episodes of ``family.horizon`` steps on one task of
    ``family.sample_tasks``, actions scaled by ``family.action_scale``
    (``config.horizon``, ``action_scale`` and ``goal_radius`` are then unused).
    A policy with ``rl2_inputs=False`` never sees a reward: trained the same
    way, it is the baseline that cannot infer the task. ``on_iteration`` as in
    :func:`train_maml_rl`.
    """
    config, on_iteration = _check_config(config, RL2Config), _check_hook(on_iteration)
    if family is not None:
        if not getattr(policy, "is_recurrent", False):
            raise TypeError(f"policy must be a recurrent policy (SSMMetaPolicy or GRUPolicy), "
                            f"got {type(policy).__name__}")
        check_family(family, policy)
        config = dataclasses.replace(config, env="navigation", horizon=family.horizon,
                                     action_scale=family.action_scale, goal_radius=None)
    elif config.env == "bandit":
        _check_bandit_policy(policy, config.k, config.n)
    else:
        _check_navigation_policy(policy)
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    goals = NavigationTasks(radius=config.goal_radius) if family is None else family
    env = (_rl2_env(config, config.trials_per_iteration) if family is None
           else family.make_env(config.trials_per_iteration))
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
    history: dict[str, list[float]] = {"trial_reward": [], "loss": []}
    bar = progress_bar(range(config.num_iterations), f"RL^2 ({config.policy})", progress)
    for iteration in bar:
        if config.env == "navigation":
            env.set_task(goals.sample_tasks(env.num_envs, rng))
        rollout = collect_rollouts(env, policy, trial_length(config), seed=_rollout_seed(rng),
                                   action_scale=config.action_scale,
                                   episodes_per_trial=config.episodes_per_trial)
        advantages = trial_advantages(rollout, config.gamma, config.gae_lambda)
        returns = advantages + rollout.values
        advantages = normalize_advantages(advantages, rollout.valid)
        for _ in range(config.ppo_epochs):
            order = torch.randperm(rollout.num_envs, device=rollout.rewards.device)
            for envs in order.chunk(config.num_minibatches):
                loss = _ppo_minibatch_loss(policy, rollout, envs, advantages, returns, config)
                cause = _divergence_cause(f"lr={config.lr}")
                raise_if_diverged(loss, "train_rl2", iteration, cause, quantity="the loss")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
                raise_if_diverged(grad_norm, "train_rl2", iteration, cause,
                                  quantity="the gradient norm")
                optimizer.step()
        history["trial_reward"].append((rollout.rewards * rollout.valid).sum(0).mean().item())
        history["loss"].append(loss.item())
        bar.set_postfix(trial_reward=f"{history['trial_reward'][-1]:.2f}")
        _call_hook(on_iteration, iteration, history)
    return history


def _check_bandit_policy(policy, k: int, n: int) -> bool:
    """Validate a recurrent bandit policy; return whether it expects the t/n time feature."""
    if not getattr(policy, "is_recurrent", False):
        raise TypeError(f"policy must be a recurrent policy (SSMMetaPolicy or GRUPolicy), "
                        f"got {type(policy).__name__}")
    check_int("k", k)
    check_int("n", n)
    if policy.action_dim != k or not policy.discrete:
        raise ValueError(f"policy must choose among k={k} arms (discrete, action_dim={k}), "
                         f"got action_dim={policy.action_dim}, discrete={policy.discrete}")
    if policy.obs_dim not in (k + 2, k + 3):
        raise ValueError(f"policy.obs_dim must be the bandit observation size k+2={k + 2} or "
                         f"k+3={k + 3} (with the time feature), got {policy.obs_dim}")
    return policy.obs_dim == k + 3


def _check_navigation_policy(policy) -> None:
    """Validate a recurrent navigation policy: 2-D position in, RL^2 inputs, 2-D velocity out."""
    if not getattr(policy, "is_recurrent", False):
        raise TypeError(f"policy must be a recurrent policy (SSMMetaPolicy or GRUPolicy), "
                        f"got {type(policy).__name__}")
    if (policy.obs_dim, policy.action_dim, policy.discrete, policy.rl2_inputs) != (2, 2, False,
                                                                                    True):
        raise ValueError(
            "a navigation RL^2 policy needs obs_dim=2, action_dim=2, discrete=False, "
            f"rl2_inputs=True; got obs_dim={policy.obs_dim}, action_dim={policy.action_dim}, "
            f"discrete={policy.discrete}, rl2_inputs={policy.rl2_inputs}")


def evaluate_rl2_navigation(
    policy: SSMMetaPolicy | GRUPolicy,
    goals: np.ndarray,
    episodes_per_trial: int,
    seed: int,
    *,
    horizon: int = 100,
    action_scale: float = 0.1,
    deterministic: bool = False,
) -> np.ndarray:
    """Return of each episode of one trial per goal, (G, episodes_per_trial) float64.

    One trial per goal of ``goals`` (G, 2), memory kept across its episodes:
    column e is the return of episode e, the RL^2 counterpart of MAML-RL's
    return after e gradient steps. Actions are sampled from a torch generator
    seeded with ``seed``; the global RNG state is left as it was.
    """
    _check_navigation_policy(policy)
    goals = check_goals(goals)
    seed = check_int("seed", seed, 0)
    config = RL2Config(env="navigation", episodes_per_trial=episodes_per_trial, horizon=horizon,
                       action_scale=action_scale)
    env = BatchedNavigation2D(len(goals), horizon=horizon, task=goals)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rollout = collect_rollouts(env, policy, trial_length(config), seed=seed,
                                   action_scale=action_scale, deterministic=deterministic,
                                   episodes_per_trial=episodes_per_trial)
    return per_episode_returns(rollout, episodes_per_trial).double().cpu().numpy()


def rl2_bandit_rewards(
    policy: SSMMetaPolicy | GRUPolicy,
    k: int,
    n: int,
    num_instances: int,
    seed: int,
    *,
    deterministic: bool = False,
) -> np.ndarray:
    """Reward of every pull (num_instances, n) of one trial per bandit instance.

    Instance i is :class:`BatchedBernoulliBandit` env i reset with ``seed`` (the
    same bandits and reward noise as ``baseline_rewards(..., seed)``); the
    policy acts step by step with its memory, sampling its actions from a torch
    generator seeded with ``seed`` (``deterministic=True``: the most likely
    arm). The global RNG state is left as it was.
    """
    time_feature = _check_bandit_policy(policy, k, n)
    check_int("num_instances", num_instances)
    seed = check_int("seed", seed, 0)
    env = BatchedBernoulliBandit(num_instances, k=k, n=n, time_feature=time_feature)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rollout = collect_rollouts(env, policy, n, seed=seed, deterministic=deterministic)
    return rollout.rewards.T.double().cpu().numpy()


def evaluate_rl2(
    policy: SSMMetaPolicy | GRUPolicy,
    k: int,
    n: int,
    num_instances: int,
    seed: int,
    *,
    deterministic: bool = False,
) -> np.ndarray:
    """Total reward (num_instances,) of one trial of n pulls per bandit instance.

    The row sums of :func:`rl2_bandit_rewards` (same bandits, noise and
    seeding), what RL^2's Table 1 averages over 1000 instances.
    """
    return rl2_bandit_rewards(policy, k, n, num_instances, seed,
                              deterministic=deterministic).sum(axis=1)
