"""The whole system: one SSM meta-policy, four ways to adapt to a new task (notebook 05).

Dimension letters used in shapes:

====  =====================================================================
G     held-out tasks (goals) of an evaluation
X     points of an adaptation curve (episodes of the new task already played)
S     gradient steps at test time
m     episodes per trial (``episodes_per_trial``)
K     episodes per task and gradient step (``trajectories_per_task``): K
      single episodes, or K / m trials of m episodes ("both")
====  =====================================================================

The prototype this course grows out of promised an SSM-based meta-policy,
meta-trained by MAML over batches of RL tasks, that adapts at test time. A
recurrent policy can carry what it learned about a task in two places: its
**state** (fast memory, within a trial; RL^2, Duan et al. 2016) and its
**weights** (slow memory, changed by gradient steps; MAML, Finn et al.
2017). The four modes below train the *same* :class:`SSMMetaPolicy`
architecture, from the same initialisation per seed, with the *same number of
meta-training environment steps* (``budget_steps``):

========  ===========================================  ==========================
mode      meta-training                                at test time
========  ===========================================  ==========================
none      PPO on single episodes of the task mixture   memory reset every episode,
          (multi-task pretraining, RL^2 with m = 1)    weights frozen
state     RL^2: PPO on trials of m episodes            memory carried across the
                                                       episodes of a trial
weights   MAML-RL, memory reset every episode          gradient steps between
          (``MetaMAMLTrainer``, m = 1)                 rounds of K episodes
both      MAML-RL over trials of m episodes, memory    memory within a trial and
          carried within a trial                       gradient steps between trials
========  ===========================================  ==========================

In every mode the policy also sees RL^2's inputs (previous action, reward,
done), so it can adapt *within* an episode; what the modes change is what
carries over *between* episodes. The inner step is VPG with the linear
baseline (MAML-RL); the outer step Adam on the post-adaptation surrogate
(:func:`ssm_metarl.meta_rl.maml_rl_step`); RL^2 is :func:`ssm_metarl.meta_rl.train_rl2`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ._validate import check_bool, check_callable, check_float, check_instance, check_int
from .checkpoints import check_state_dict, load_checkpoint, save_checkpoint
from .cores import CORE_NAMES
from .envs.families import NavigationTasks
from .maml import MetaMAMLTrainer, TaskBatch
from .meta_rl import (
    OUTER_STEPS,
    RL2Config,
    check_family,
    check_goals,
    evaluate_maml_rl,
    evaluate_rl2_navigation,
    goal_array,
    rollout_length,
    train_rl2,
)
from .policies import SSMMetaPolicy
from .profiles import seed_everything
from .rl import collect_rollouts
from .trpo import TRPOConfig

__all__ = [
    "choose_by_ucb",
    "linear_probe_error",
    "trial_states",
    "ucb_choice",
    "MODES",
    "MODE_LABELS",
    "AdaptationCurve",
    "SystemConfig",
    "TrainedMode",
    "core_time",
    "evaluate_mode",
    "load_policy",
    "make_system_policy",
    "meta_iterations",
    "save_policy",
    "steps_per_iteration",
    "train_all",
    "train_mode",
]

MODES: tuple[str, ...] = ("none", "state", "weights", "both")
MODE_LABELS = {
    "none": "none (pretrained, memory reset)",
    "state": "state only (RL²)",
    "weights": "weights only (MAML)",
    "both": "both (MAML over RL²)",
}
_FORMAT = "ssm_metarl.SystemPolicy/1"


@dataclass
class SystemConfig:
    """Every hyperparameter of the four-mode experiment (module docstring).

    Tasks: 2D navigation goals from ``goal_radius`` (a disc of radius 0.5 by
    default: the nominal distribution of the out-of-distribution test) with
    ``horizon``-step episodes. Policy: ``SSMMetaPolicy(core, hidden_dim,
    ssm_state_dim)``. RL^2 (none, state): ``trials_per_iteration`` trials per
    PPO iteration, ``rl2_lr``, ``gae_lambda``, no entropy bonus. MAML (weights,
    both): ``meta_batch_size`` goals x ``trajectories_per_task`` episodes
    (support and query; for both, that many episodes as trials of m), so
    both MAML modes take the same iterations and see the same episodes per
    gradient step; ``inner_lr``; the outer step ``outer``: ``"adam"`` (Adam
    at ``meta_lr`` on the post-adaptation surrogate) or ``"trpo"`` (the MAML
    paper's TRPO step, KL bound ``max_kl``; :mod:`ssm_metarl.trpo`).
    ``episodes_per_trial`` m for state and both (it must divide
    ``trajectories_per_task``). ``budget_steps``: meta-training env steps per mode.
    """

    budget_steps: int = 2_000_000
    episodes_per_trial: int = 2
    horizon: int = 100
    goal_radius: tuple[float, float] = (0.0, 0.5)
    core: str = "ssd"
    hidden_dim: int = 32
    ssm_state_dim: int = 8
    trials_per_iteration: int = 64
    rl2_lr: float = 1e-3
    gae_lambda: float = 0.95
    meta_batch_size: int = 10
    trajectories_per_task: int = 10
    inner_lr: float = 0.1
    meta_lr: float = 3e-3
    outer: str = "adam"
    max_kl: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("budget_steps", "episodes_per_trial", "horizon", "hidden_dim",
                     "ssm_state_dim", "trials_per_iteration", "meta_batch_size",
                     "trajectories_per_task"):
            check_int(name, getattr(self, name))
        check_int("seed", self.seed, 0)
        if self.trials_per_iteration % RL2Config.num_minibatches:
            raise ValueError(f"trials_per_iteration={self.trials_per_iteration} must be a multiple "
                             f"of {RL2Config.num_minibatches} (the PPO minibatches of RL^2, modes "
                             "none and state)")
        if self.trajectories_per_task % self.episodes_per_trial:
            raise ValueError(f"episodes_per_trial={self.episodes_per_trial} must divide "
                             f"trajectories_per_task={self.trajectories_per_task} (the episodes "
                             "of a gradient step are trials of episodes_per_trial episodes)")
        for name in ("rl2_lr", "inner_lr", "meta_lr", "max_kl"):
            check_float(name, getattr(self, name), minimum=0, strict=True)
        if self.outer not in OUTER_STEPS:
            raise ValueError(f"outer must be one of {OUTER_STEPS}, got {self.outer!r}")
        check_float("gae_lambda", self.gae_lambda, minimum=0, maximum=1)
        if self.core not in CORE_NAMES:
            raise ValueError(f"core must be one of {CORE_NAMES}, got {self.core!r}")
        if not (isinstance(self.goal_radius, (tuple, list)) and len(self.goal_radius) == 2):
            raise ValueError(f"goal_radius must be a pair (r_min, r_max), got "
                             f"{self.goal_radius!r}")
        try:
            self.goal_radius = self.tasks().radius
        except (TypeError, ValueError) as error:
            raise ValueError(f"goal_radius={tuple(self.goal_radius)} is invalid: {error}") \
                from None

    def tasks(self) -> NavigationTasks:
        """The meta-training task family (goals from ``goal_radius``)."""
        return NavigationTasks(radius=tuple(self.goal_radius), horizon=self.horizon,
                               seed=self.seed)


def _check_mode(mode: Any) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def _check_config(config: Any) -> SystemConfig:
    return check_instance("config", config, SystemConfig)


def make_system_policy(config: SystemConfig) -> SSMMetaPolicy:
    """The navigation ``SSMMetaPolicy`` of ``config``, seeded: one initialisation for all modes."""
    _check_config(config)
    seed_everything(config.seed)
    return SSMMetaPolicy(2, 2, discrete=False, core=config.core, hidden_dim=config.hidden_dim,
                         ssm_state_dim=config.ssm_state_dim)


def _trials(mode: str, config: SystemConfig) -> int:
    return config.episodes_per_trial if mode in ("state", "both") else 1


def _trials_per_task(mode: str, config: SystemConfig) -> int:
    """Trials per task and MAML step: K single episodes, or K / m trials of m episodes."""
    return config.trajectories_per_task // _trials(mode, config)


def steps_per_iteration(mode: str, config: SystemConfig) -> int:
    """Env steps one meta-training iteration of ``mode`` takes (the autoreset rows excluded)."""
    _check_config(config)
    episodes = _trials(_check_mode(mode), config)
    if mode in ("none", "state"):
        return config.trials_per_iteration * episodes * config.horizon
    return 2 * config.meta_batch_size * config.trajectories_per_task * config.horizon


def meta_iterations(mode: str, config: SystemConfig) -> int:
    """Iterations of ``mode`` that fit in ``budget_steps`` (at least one)."""
    _check_config(config)
    return max(1, config.budget_steps // steps_per_iteration(mode, config))


def _rl2_config(mode: str, config: SystemConfig, iterations: int) -> RL2Config:
    return RL2Config(env="navigation", episodes_per_trial=_trials(mode, config),
                     horizon=config.horizon, trials_per_iteration=config.trials_per_iteration,
                     num_iterations=iterations, core=config.core, hidden_dim=config.hidden_dim,
                     ssm_state_dim=config.ssm_state_dim, lr=config.rl2_lr,
                     gae_lambda=config.gae_lambda, entropy_coef=0.0,
                     goal_radius=config.goal_radius, seed=config.seed)


@dataclass
class TrainedMode:
    """A meta-trained policy of one mode and how its training went.

    ``history`` per iteration: ``return`` (mean return per episode of the
    training rollouts; for MAML the post-adaptation ones; with ``outer="trpo"``
    also TRPO's ``kl`` and accepted ``step_fraction``). ``seconds``: wall
    time; ``env_steps``: steps used; ``core_seconds``: time inside the core's
    sequence mode (forward passes), see :func:`core_time`.
    """

    mode: str
    policy: SSMMetaPolicy
    history: dict[str, list[float]]
    seconds: float
    env_steps: int
    core_seconds: float = 0.0
    config: SystemConfig = field(default_factory=SystemConfig)


class core_time:
    """Context manager: wall time spent in ``policy.ssm``'s sequence mode (its ``forward``).

    Forward hooks on the core add up the time of every sequence-mode call
    (step mode is ``core.step`` and is not counted); ``seconds`` holds the sum.
    The backward pass of that call is not included.
    """

    def __init__(self, policy: SSMMetaPolicy) -> None:
        if not isinstance(policy, nn.Module) or not isinstance(getattr(policy, "ssm", None),
                                                                nn.Module):
            raise TypeError(f"policy must be an SSMMetaPolicy (its core policy.ssm is timed), "
                            f"got {type(policy).__name__}")
        self.policy, self.seconds, self._start = policy, 0.0, 0.0

    def _before(self, *_: Any) -> None:
        self._start = time.perf_counter()

    def _after(self, *_: Any) -> None:
        self.seconds += time.perf_counter() - self._start

    def __enter__(self) -> core_time:
        core = self.policy.ssm
        self._hooks = [core.register_forward_pre_hook(self._before),
                       core.register_forward_hook(self._after)]
        return self

    def __exit__(self, *_: Any) -> None:
        for hook in self._hooks:
            hook.remove()


def train_mode(mode: str, config: SystemConfig | None = None, *, iterations: int | None = None,
               progress: bool = True) -> TrainedMode:
    """Meta-train a fresh policy of ``config`` in ``mode`` (module docstring table).

    ``iterations`` (default :func:`meta_iterations`, the step budget) overrides
    the number of iterations. Same config and seed, same machine: same numbers.
    """
    config = check_instance("config", config, SystemConfig, SystemConfig())
    mode = _check_mode(mode)
    iterations = meta_iterations(mode, config) if iterations is None else check_int(
        "iterations", iterations)
    policy = make_system_policy(config)
    start = time.perf_counter()
    with core_time(policy) as timer:
        if mode in ("none", "state"):
            rl2 = train_rl2(policy, _rl2_config(mode, config, iterations), progress=progress)
            history = {"return": [r / _trials(mode, config) for r in rl2["trial_reward"]]}
        else:
            trainer = MetaMAMLTrainer(policy, meta_lr=config.meta_lr, inner_lr=config.inner_lr,
                                      episodes_per_trial=_trials(mode, config), seed=config.seed,
                                      outer=config.outer, trpo=TRPOConfig(max_kl=config.max_kl))
            batch = TaskBatch(config.tasks(), batch_size=config.meta_batch_size,
                              k_support=_trials_per_task(mode, config),
                              k_query=_trials_per_task(mode, config))
            trainer.meta_train(batch, iterations, progress=progress)
            history = {"return": trainer.history["post_return"],
                       "pre_return": trainer.history["pre_return"],
                       **{key: trainer.history[key] for key in ("kl", "step_fraction")
                          if key in trainer.history}}  # TRPO's, per iteration
    seconds = time.perf_counter() - start
    return TrainedMode(mode, policy, history, seconds,
                       iterations * steps_per_iteration(mode, config), timer.seconds, config)


@dataclass
class AdaptationCurve:
    """Returns of a mode on G held-out goals against the experience of each goal.

    ``episodes_seen`` (X,): episodes of the goal already played before the
    episode whose return is ``returns[:, x]`` (G, X); ``gradient_steps`` (X,):
    test-time gradient steps taken before it.
    """

    mode: str
    episodes_seen: np.ndarray
    gradient_steps: np.ndarray
    returns: np.ndarray

    def at(self, experience: int) -> np.ndarray:
        """(G,) returns of the next episode after ``experience`` episodes of the goal.

        The curve's last point with ``episodes_seen <= experience``: between
        gradient steps the weights do not change. A "state" curve ends with its
        trial (the memory is reset after it), so it has no value beyond.
        """
        experience = check_int("experience", experience, 0)
        if self.mode == "state" and experience > self.episodes_seen[-1]:
            raise ValueError(f"experience={experience} is beyond the state-only trial of "
                             f"{len(self.episodes_seen)} episodes")
        column = int(np.flatnonzero(self.episodes_seen <= experience)[-1])
        return self.returns[:, column]


def evaluate_mode(
    policy: SSMMetaPolicy,
    mode: str,
    goals: np.ndarray,
    config: SystemConfig,
    *,
    episodes: int = 4,
    steps: int = 2,
    trajectories_per_task: int | None = None,
    step_sizes: Any = None,
    seed: int = 0,
) -> AdaptationCurve:
    """The adaptation curve of ``policy`` in ``mode`` on ``goals`` (G, 2).

    none: the mean return of ``trajectories_per_task`` single episodes (memory
    reset), flat by construction; state: one trial of ``episodes`` episodes
    per goal, memory carried; weights / both: ``steps`` gradient steps, each
    on a round of K = ``trajectories_per_task`` episodes (K / m trials of m
    episodes for both) with step size ``inner_lr``, the return of every
    episode of every round recorded (:func:`~ssm_metarl.meta_rl.evaluate_maml_rl`).
    ``step_sizes``: one step size per gradient step instead of ``inner_lr``
    every time (e.g. :func:`~ssm_metarl.meta_rl.paper_step_sizes`: the
    paper's halved steps after the first). ``goals`` may be (G, S + 1, 2) for
    weights and both: a goal per round (a goal that moves).
    """
    mode = _check_mode(mode)
    check_instance("policy", policy, nn.Module)
    config = _check_config(config)
    per_task = config.trajectories_per_task if trajectories_per_task is None else check_int(
        "trajectories_per_task", trajectories_per_task)
    episodes, steps = check_int("episodes", episodes), check_int("steps", steps, 0)
    common = {"horizon": config.horizon, "seed": check_int("seed", seed, 0)}
    if mode == "state":
        returns = evaluate_rl2_navigation(policy, goals, episodes, **common)
        seen = np.arange(returns.shape[1])
        return AdaptationCurve(mode, seen, np.zeros_like(seen), returns)
    trials = _trials(mode, config)
    steps = 0 if mode == "none" else steps
    if per_task % trials:
        raise ValueError(f"trajectories_per_task={per_task} must be a multiple of the "
                         f"episodes per trial ({trials})")
    if step_sizes is None or steps == 0:
        step_sizes = (config.inner_lr,) * steps
    returns = evaluate_maml_rl(policy, None, goals, steps, step_sizes=step_sizes,
                               trajectories_per_task=per_task // trials, episodes_per_trial=trials,
                               per_episode=True, **common)
    rounds, episode = np.meshgrid(np.arange(steps + 1), np.arange(trials), indexing="ij")
    seen = (rounds * per_task + episode).ravel()
    return AdaptationCurve(mode, seen, rounds.ravel(), returns.reshape(len(returns), -1))


def save_policy(trained: TrainedMode, path: str | os.PathLike) -> None:
    """Write a meta-trained policy with its mode, config and training record."""
    check_instance("trained", trained, TrainedMode)
    config = {**asdict(trained.config), "mode": trained.mode}
    save_checkpoint(path, _FORMAT, config, trained.policy, {
        "history": trained.history, "seconds": trained.seconds,
        "env_steps": trained.env_steps, "core_seconds": trained.core_seconds})


def load_policy(path: str | os.PathLike) -> TrainedMode:
    """The :class:`TrainedMode` written by :func:`save_policy` (``weights_only`` loading)."""
    payload = load_checkpoint(path, _FORMAT, map_location="cpu")
    stored = dict(payload["config"])
    try:
        mode = _check_mode(stored.pop("mode", None))
        config = SystemConfig(**stored)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: checkpoint config is invalid: {error}") from error
    policy = make_system_policy(config)
    check_state_dict(path, policy.state_dict(), payload["state_dict"])
    policy.load_state_dict(payload["state_dict"])
    missing = sorted({"history", "seconds", "env_steps", "core_seconds"} - set(payload))
    if missing:
        raise ValueError(f"{path}: corrupt checkpoint: it lacks {missing}")
    return TrainedMode(mode, policy, payload["history"], payload["seconds"],
                       payload["env_steps"], payload["core_seconds"], config)


def train_all(config: SystemConfig, seeds: Any, directory: str | os.PathLike, *,
              modes: Any = MODES, progress: bool = False, log: Any = print,
              filename: str = "{mode}_seed{seed}.pt") -> list[TrainedMode]:
    """Train every mode for every seed (``config`` with that seed) and save each to ``directory``.

    Files are ``<directory>/<filename>`` with ``{mode}`` and ``{seed}``
    filled in (:func:`save_policy`); ``log`` gets one line per trained policy
    (mode, seed, steps, seconds). Every argument is checked before any training starts.
    """
    config = _check_config(config)
    seeds, modes = _check_seeds(seeds), _check_modes(modes)
    progress = check_bool("progress", progress)
    check_callable("log", log, what="(line: str)")
    if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
        raise TypeError(f"directory must be a non-empty str or os.PathLike (a folder), got "
                        f"{directory!r:.60}")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"directory {directory} exists and is not a folder")
    names = _file_names(filename, modes, seeds)
    configs = {seed: SystemConfig(**{**asdict(config), "seed": seed}) for seed in seeds}
    os.makedirs(directory, exist_ok=True)
    trained = []
    for seed in seeds:
        for mode in modes:
            seeded = configs[seed]
            result = train_mode(mode, seeded, progress=progress)
            save_policy(result, os.path.join(directory, names[mode, seed]))
            log(f"{mode} seed {seed}: {result.env_steps} env steps in {result.seconds:.0f} s, "
                f"last return {np.mean(result.history['return'][-10:]):.1f}")
            trained.append(result)
    return trained


def _check_seeds(seeds: Any) -> list[int]:
    """``seeds``: a non-empty list of distinct ints >= 0 (NumPy ints too)."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a list of ints >= 0, got {type(seeds).__name__} "
                        f"{seeds!r:.40}")
    checked = [check_int(f"seeds[{i}]", seed, 0) for i, seed in enumerate(seeds)]
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"seeds must be a non-empty list of distinct ints >= 0, got {checked}")
    return checked


def _check_modes(modes: Any) -> list[str]:
    """``modes``: a non-empty list of distinct names of :data:`MODES`."""
    if isinstance(modes, (str, bytes)) or not isinstance(modes, Iterable):
        raise TypeError(f"modes must be a list of modes from {MODES} (e.g. ['state']), got "
                        f"{modes!r:.40}")
    checked = list(modes)
    for mode in checked:
        if not isinstance(mode, str) or mode not in MODES:
            raise ValueError(f"modes must hold modes from {MODES}, got {mode!r}")
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"modes must be a non-empty list of distinct modes, got {checked}")
    return checked


def _file_names(filename: Any, modes: list[str], seeds: list[int]) -> dict:
    """``filename`` with ``{mode}`` and ``{seed}`` filled in: one distinct name per policy."""
    if not isinstance(filename, str) or not filename:
        raise TypeError(f"filename must be a non-empty str such as '{{mode}}_seed{{seed}}.pt', "
                        f"got {filename!r:.40}")
    try:
        names = {(mode, seed): filename.format(mode=mode, seed=seed)
                 for mode in modes for seed in seeds}
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        raise ValueError(f"filename {filename!r} must use only the fields {{mode}} and {{seed}}: "
                         f"{type(error).__name__}: {error}") from None
    if len(set(names.values())) != len(names):
        raise ValueError(f"filename {filename!r} gives several policies the same file; use "
                         "{mode} and {seed} in it")
    return names


# ----------------------------------------------------------------------------- what the state holds


def _check_recurrent(name: str, policy: Any) -> nn.Module:
    """``policy`` must be a recurrent policy module (SSMMetaPolicy, GRUPolicy)."""
    if not isinstance(policy, nn.Module) or not getattr(policy, "is_recurrent", False):
        raise TypeError(f"{name} must be a recurrent policy (SSMMetaPolicy or GRUPolicy), got "
                        f"{type(policy).__name__}")
    return policy


def _finite_array(name: str, value: Any, ndim: int, shape_text: str) -> np.ndarray:
    """``value`` as a finite float64 array of shape ``shape_text`` (``ndim`` dims)."""
    try:
        array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value,
                           dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers {shape_text}, got "
                         f"{type(value).__name__} {value!r:.40}") from None
    if array.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_text}, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(array)).sum())} NaN/inf "
                         f"entries of {array.size}")
    return array


@torch.no_grad()
def trial_states(policy: SSMMetaPolicy, goals: np.ndarray, episodes: int, *, horizon: int = 100,
                 seed: int = 0, family: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The core's state at every step of one trial per goal, for a linear probe.

    Plays one trial of ``episodes`` episodes per goal of ``goals`` (G, 2) with
    the memory carried (as :func:`~ssm_metarl.meta_rl.evaluate_rl2_navigation`),
    then re-runs the recorded inputs step by step to read the state. Returns
    ``states`` (G, T, F) float64 (the core state flattened, F features) and
    ``episode`` (T,) int: which episode each row belongs to (-1: autoreset rows).
    ``family``: another task family (``goals`` are then its tasks (G, D), and
    its horizon and action scale replace ``horizon`` and 0.1).
    """
    _check_recurrent("policy", policy)
    episodes, seed = check_int("episodes", episodes), check_int("seed", seed, 0)
    if family is None:
        family, goals = NavigationTasks(horizon=horizon), check_goals(goals)
    else:
        goals = goal_array(goals)
        if goals.ndim != 2 or len(goals) == 0 or not np.isfinite(goals).all():
            raise ValueError(f"goals must be finite tasks (G, D) of the family with G >= 1, got "
                             f"shape {goals.shape}")
    check_family(family, policy)
    env = family.make_env(len(goals))
    env.set_task(goals)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rollout = collect_rollouts(env, policy, rollout_length(family.horizon, episodes),
                                   seed=seed, action_scale=family.action_scale,
                                   episodes_per_trial=episodes)
    state, rows = rollout.initial_state, []
    for t in range(rollout.num_steps):
        _, _, state = policy.step(rollout.inputs[t], state, rollout.starts[t])
        rows.append(state.reshape(len(goals), -1))
    valid = rollout.valid[:, 0].cpu().numpy()
    ended = np.cumsum(rollout.dones[:, 0].cpu().numpy() & valid) - (
        rollout.dones[:, 0].cpu().numpy() & valid)
    episode = np.where(valid, ended, -1)
    return torch.stack(rows, dim=1).double().cpu().numpy(), episode


def linear_probe_error(states: np.ndarray, goals: np.ndarray, *, train_fraction: float = 0.5,
                       ridge: float = 1e-3) -> np.ndarray:
    """Goal-decoding error of a linear probe, per time step: (T,) mean distance on held-out goals.

    For each step t a ridge regression ``goal ~ W s_t + b`` is fitted on the
    first ``train_fraction`` of the trials (``states`` (G, T, F)) and scored on
    the rest: the mean Euclidean distance between decoded and true goal. A
    state that holds the goal gives a small error; one that does not gives
    about the spread of the goals around their mean.
    """
    states = _finite_array("states", states, 3, "(G, T, F)")
    goals = _finite_array("goals", goals, 2, "(G, D)")
    if len(states) != len(goals):
        raise ValueError(f"states (G, T, F) and goals (G, D) must hold the same trials G, got "
                         f"{states.shape} and {goals.shape}")
    ridge = check_float("ridge", ridge, minimum=0)
    split = int(round(len(goals) * check_float("train_fraction", train_fraction, minimum=0,
                                               strict=True, maximum=1)))
    if not 2 <= split < len(goals):
        raise ValueError(f"train_fraction={train_fraction} leaves {split} of {len(goals)} trials "
                         "for fitting; need at least 2 and one held out")
    errors = np.zeros(states.shape[1])
    for t in range(states.shape[1]):
        x = np.concatenate([states[:, t], np.ones((len(goals), 1))], axis=1)
        x_fit, y_fit = x[:split], goals[:split]
        weights = np.linalg.solve(x_fit.T @ x_fit + ridge * np.eye(x.shape[1]), x_fit.T @ y_fit)
        errors[t] = np.linalg.norm(x[split:] @ weights - goals[split:], axis=1).mean()
    return errors


# ----------------------------------------------------------------------------- choosing a policy


def ucb_choice(counts: np.ndarray, means: np.ndarray, t: int, scale: float) -> int:
    """UCB1 over candidate policies: an untried one first, else argmax of the upper bound.

    The bound is ``means + scale * sqrt(2 ln t / counts)`` (Auer et al. 2002).

    ``counts`` (P,) trials each policy has played, ``means`` (P,) their mean
    return, ``t`` trials played so far; ``scale`` puts the bonus in return
    units (UCB1's bound assumes rewards in [0, 1]; returns here span tens).
    """
    counts = _finite_array("counts", counts, 1, "(P,)")
    means = _finite_array("means", means, 1, "(P,)")
    if counts.shape != means.shape or counts.size == 0:
        raise ValueError(f"counts and means must have one entry per policy (P,) with P >= 1, "
                         f"got {counts.shape} and {means.shape}")
    if (counts < 0).any():
        raise ValueError(f"counts must be >= 0 (trials each policy played), got {counts}")
    t = check_int("t", t, 0)
    scale = check_float("scale", scale, minimum=0)
    if t < 1 and not (counts == 0).any():
        raise ValueError(f"t must be >= 1 once every policy has played (ln t), got {t}")
    return _ucb(counts, means, t, scale)


def _ucb(counts: np.ndarray, means: np.ndarray, t: int, scale: float) -> int:
    """:func:`ucb_choice` on checked arguments."""
    untried = np.flatnonzero(counts == 0)
    if untried.size:
        return int(untried[0])
    return int(np.argmax(means + scale * np.sqrt(2.0 * np.log(t) / counts)))


def choose_by_ucb(population: list[SSMMetaPolicy], goals: np.ndarray, trials: int, *,
                  episodes_per_trial: int = 2, scale: float = 10.0, horizon: int = 100,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pick a policy per trial by UCB on the trial returns seen so far, separately per goal.

    The test-time half of Distributionally Adaptive Meta-RL (Ajay et al. 2022,
    Sec. 4) in its simplest form: a population of policies meta-trained on
    task distributions of different widths; for each test goal, trial j plays
    the policy :func:`ucb_choice` picks from the returns of trials < j.
    Returns ``returns`` (G, trials) (mean return per episode of each trial)
    and ``choices`` (G, trials).
    """
    if isinstance(population, nn.Module) or not isinstance(population, (list, tuple)) \
            or not population:
        raise TypeError(f"population must be a non-empty list of recurrent policies, got "
                        f"{type(population).__name__}")
    for i, policy in enumerate(population):
        _check_recurrent(f"population[{i}]", policy)
    goals = check_goals(goals)
    trials = check_int("trials", trials)
    episodes_per_trial = check_int("episodes_per_trial", episodes_per_trial)
    scale = check_float("scale", scale, minimum=0)
    horizon, seed = check_int("horizon", horizon), check_int("seed", seed, 0)
    per_policy = np.stack([  # every policy's trial returns on every goal, trial seeds shared
        np.stack([evaluate_rl2_navigation(policy, goals, episodes_per_trial, seed + 1000 * j,
                                          horizon=horizon).mean(axis=1)
                  for j in range(trials)], axis=1)
        for policy in population])                                      # (P, G, trials)
    returns, choices = np.zeros((len(goals), trials)), np.zeros((len(goals), trials), dtype=int)
    for g in range(len(goals)):
        counts, sums = np.zeros(len(population)), np.zeros(len(population))
        for j in range(trials):
            pick = _ucb(counts, sums / np.maximum(counts, 1), j, scale)
            returns[g, j], choices[g, j] = per_policy[pick, g, j], pick
            counts[pick] += 1
            sums[pick] += returns[g, j]
    return returns, choices
