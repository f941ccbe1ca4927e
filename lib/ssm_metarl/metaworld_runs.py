"""Meta-World ML1 runs of notebook 06: four methods, one budget, weights shipped in ``data/``.

Dimension letters used in shapes:

====  =====================================================================
S     training seeds
G     held-out test tasks (50 in ML1)
K     episodes of experience of a new task (RL^2: of one trial;
      MAML: rounds, with one gradient step after each)
====  =====================================================================

The methods (:data:`METHODS`) meta-train on the 50 train tasks of ML1
reach-v3 (:class:`~ssm_metarl.envs.metaworld.MetaWorldTasks`, episodes of 150
steps) and are scored on the 50 test tasks:

- ``memoryless``: multi-task PPO (clipped surrogate, linear feature baseline)
  of an MLP that sees only the observation, so it cannot infer the hidden
  goal (:func:`~ssm_metarl.meta_rl.train_pretrained`): the bar to beat.
- ``rl2_ssm`` / ``rl2_gru``: RL^2 (Duan et al. 2016) with PPO
  (:func:`~ssm_metarl.meta_rl.train_rl2`): the recurrent policy sees the
  previous action, reward and done flag and keeps its memory across the
  episodes of a trial of two; ``SSMMetaPolicy(core="ssd")`` vs ``GRUPolicy``.
- ``maml_mlp``: MAML-RL (Finn et al. 2017) of the same MLP, a VPG inner step
  and a PPO-clipped Adam outer step (:func:`~ssm_metarl.meta_rl.train_maml_rl`).
- ``maml_ssm``: the prototype's system, ``MetaMAMLTrainer(SSMMetaPolicy)`` on
  a :class:`~ssm_metarl.maml.TaskBatch` of ML1 tasks, the same inner and outer
  steps as ``maml_mlp`` over the SSM policy of ``rl2_ssm`` without its RL^2
  inputs (memory reset at every episode: it adapts by its weights only).

Every run gets the same number of environment steps per iteration (6,000:
20 trials of 2 episodes, or 10 tasks x 2 support + 2 query episodes for
MAML, 10 tasks x 4 episodes for the memoryless policy) and the same number of
iterations. Every ``eval_every`` iterations (and before the first) the run
scores its policy on the first :data:`EVAL_TASKS` test tasks with
:func:`evaluate_run` (the held-out success curve against meta-training
steps); the evaluation uses its own generators, so it does not change the
run. Each run writes ``data/weights/metaworld/<method>_seed<s>.pt``
(config + weights) and ``.json`` (command, wall time, threads, versions,
history). From the repository root, one torch thread per process::

    python -m ssm_metarl.metaworld_runs rl2_ssm --seeds 0 1 2

:func:`evaluate_run` scores a policy on test tasks with Meta-World's success
(:func:`~ssm_metarl.envs.metaworld.episode_successes`).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ._validate import check_float, check_instance, check_int
from .checkpoints import check_state_dict, load_checkpoint, save_checkpoint
from .envs.metaworld import (
    MAX_HORIZON,
    OBS_DIM,
    TASK_DIM,
    MetaWorldEnv,
    MetaWorldTasks,
    _check_name,
    episode_successes,
    require_metaworld,
)
from .maml import MetaMAMLTrainer, TaskBatch
from .meta_rl import (
    MAMLRLConfig,
    PolicyMAMLConfig,
    RL2Config,
    adapt_policy,
    policy_gradient_advantages,
    train_maml_rl,
    train_pretrained,
    train_rl2,
)
from .policies import GRUPolicy, MLPPolicy, SSMMetaPolicy
from .profiles import seed_everything
from .results import data_dir, provenance, train_runs_main
from .rl import collect_rollouts

__all__ = ["METHODS", "REACH_RADIUS", "InferenceRun", "evaluate_run", "goal_from_rewards",
           "load_run", "main", "make_policy", "oracle_action", "oracle_success",
           "reach_by_inference", "reach_reward", "run_paths", "success_rollout", "train_run"]

METHODS = ("memoryless", "rl2_ssm", "rl2_gru", "maml_mlp", "maml_ssm")
"""The stored Meta-World runs (module docstring)."""

TASK, HORIZON = "reach-v3", 150
EPISODES_PER_TRIAL = 2
HIDDEN = 64
INNER_LR = 0.05
STEPS_PER_ITERATION = 6000
EVAL_TASKS, EVAL_EPISODES = 10, 3
_FORMAT = "ssm_metarl.metaworld_run/1"


@functools.lru_cache(maxsize=8)
def family(split: str = "train", name: str = TASK) -> MetaWorldTasks:
    """The ML1 family of the runs: ``name`` (reach-v3), 150-step episodes, reward x 0.1.

    One instance per (split, name), so its MuJoCo simulations are built once
    (the trainers and evaluators pass their own generators to ``sample_tasks``).
    """
    return MetaWorldTasks(name, split, horizon=HORIZON)


def _check_method(method: Any) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def make_policy(method: str, seed: int) -> nn.Module:
    """The untrained policy of ``method``, initialised from ``seed``."""
    _check_method(method)
    seed_everything(check_int("seed", seed, 0))
    sizes = (MetaWorldTasks.obs_dim, MetaWorldTasks.action_dim)
    if method == "rl2_ssm":
        return SSMMetaPolicy(*sizes, hidden_dim=HIDDEN, discrete=False, rl2_inputs=True,
                             core="ssd")
    if method == "rl2_gru":
        return GRUPolicy(*sizes, hidden_dim=HIDDEN, discrete=False, rl2_inputs=True)
    if method == "maml_ssm":
        return SSMMetaPolicy(*sizes, hidden_dim=HIDDEN, discrete=False, rl2_inputs=False,
                             core="ssd")
    return MLPPolicy(*sizes, (HIDDEN, HIDDEN), init_log_std=-0.5)


def run_config(method: str, seed: int, iterations: int
               ) -> RL2Config | MAMLRLConfig | PolicyMAMLConfig:
    """The training config of one run (6,000 environment steps per iteration).

    ``maml_ssm`` gets a :class:`~ssm_metarl.meta_rl.PolicyMAMLConfig` (its
    meta-batch comes from :func:`task_batch`); the iterations are then the
    caller's loop of ``MetaMAMLTrainer.meta_step``.
    """
    iterations = check_int("iterations", iterations)
    if method == "maml_ssm":
        return PolicyMAMLConfig(meta_lr=1e-3, inner_lr=INNER_LR, outer_epochs=4, clip=0.2,
                                episodes_per_trial=1, seed=seed)
    if method in ("rl2_ssm", "rl2_gru"):
        return RL2Config(env="navigation", num_iterations=iterations, trials_per_iteration=20,
                         episodes_per_trial=EPISODES_PER_TRIAL, num_minibatches=4,
                         ppo_epochs=4, lr=1e-3, gamma=0.99, gae_lambda=0.95,
                         entropy_coef=0.0, max_grad_norm=0.5, seed=seed)
    common = dict(num_meta_iterations=iterations, meta_batch_size=10, horizon=HORIZON,
                  hidden_sizes=(HIDDEN, HIDDEN), outer_epochs=4, clip=0.2, meta_lr=1e-3,
                  action_scale=1.0, seed=seed)
    if method == "memoryless":
        return MAMLRLConfig(trajectories_per_task=4, **common)
    return MAMLRLConfig(trajectories_per_task=2, inner_lr=INNER_LR, **common)


def run_paths(method: str, seed: int) -> tuple[Path, Path]:
    """(weights ``.pt``, record ``.json``) of one stored run under ``data/weights/metaworld/``."""
    _check_method(method)
    seed = check_int("seed", seed, 0)
    stem = data_dir() / "weights" / "metaworld" / f"{method}_seed{seed}"
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def task_batch() -> TaskBatch:
    """The meta-batch of ``maml_ssm``: 10 train tasks x (2 support + 2 query) episodes."""
    return TaskBatch(family("train"), batch_size=10, k_support=2, k_query=2)


def train_run(method: str, seed: int, iterations: int, progress: bool = False,
              save: bool = True, eval_every: int = 10) -> tuple[nn.Module, dict[str, Any]]:
    """Train one run; returns (policy, record) and, if ``save``, writes both (:func:`run_paths`).

    ``record["heldout"]`` holds the held-out success curve: ``steps`` (env
    steps of meta-training so far) and ``success`` (mean over the first
    :data:`EVAL_TASKS` test tasks, 2 rollouts each, of each of
    :data:`EVAL_EPISODES` episodes; :func:`evaluate_run`), every
    ``eval_every`` iterations, before the first and after the last.
    """
    require_metaworld()
    _check_method(method)  # every argument before the global seed is set or a run starts
    seed = check_int("seed", seed, 0)
    iterations = check_int("iterations", iterations)
    eval_every = check_int("eval_every", eval_every)
    policy, config = make_policy(method, seed), run_config(method, seed, iterations)
    train = family("train")
    eval_tasks = family("test").tasks()[:EVAL_TASKS]
    heldout: dict[str, Any] = {"steps": [], "success": [], "seconds": 0.0}

    def evaluate(done: int) -> None:
        start = time.perf_counter()
        success = evaluate_run(method, policy, eval_tasks, EVAL_EPISODES, seed=10_000 + done)
        heldout["steps"].append(done * STEPS_PER_ITERATION)
        heldout["success"].append(success.mean(axis=0).round(4).tolist())
        heldout["seconds"] += time.perf_counter() - start

    def on_iteration(iteration: int, _history: dict) -> None:
        if (iteration + 1) % eval_every == 0 or iteration + 1 == iterations:
            evaluate(iteration + 1)

    start = time.perf_counter()
    evaluate(0)
    if method.startswith("rl2"):
        history = train_rl2(policy, config, progress=progress, family=train,
                            on_iteration=on_iteration)
    elif method == "memoryless":
        history = train_pretrained(policy, config, progress=progress, family=train,
                                   on_iteration=on_iteration)
    elif method == "maml_mlp":
        history = train_maml_rl(policy, config, progress=progress, family=train,
                                on_iteration=on_iteration)
    else:
        trainer, batches = MetaMAMLTrainer(policy, config), task_batch()
        for iteration in range(iterations):
            trainer.meta_step(batches.sample())
            on_iteration(iteration, trainer.history)
        history = {**trainer.history, "meta_loss": trainer.meta_losses}
    seconds = time.perf_counter() - start
    import metaworld
    import mujoco

    record = {
        "method": method, "seed": seed, "iterations": iterations,
        "env_steps": iterations * STEPS_PER_ITERATION, "task": TASK, "horizon": HORIZON,
        "command": f"python -m ssm_metarl.metaworld_runs {method} --seeds {seed} "
                   f"--iterations {iterations}",
        "train_seconds": round(seconds - heldout["seconds"], 1), **provenance(),
        "metaworld_version": getattr(metaworld, "__version__", "3.1.1"),
        "mujoco_version": mujoco.__version__, "reward": "v3 (Meta-World+), x 0.1",
        "history": history,
        "heldout": {**heldout, "seconds": round(heldout["seconds"], 1), "tasks": EVAL_TASKS,
                    "rollouts_per_task": 2, "episodes": EVAL_EPISODES},
    }
    if save:
        weights, path = run_paths(method, seed)
        weights.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(weights, _FORMAT, {"method": method, "seed": seed,
                                           "config": asdict(config)}, policy)
        path.write_text(json.dumps(record, indent=0))
    return policy, record


def load_run(method: str, seed: int) -> tuple[nn.Module, dict[str, Any]]:
    """(policy, record) of a stored run; ``FileNotFoundError`` names the command that makes it."""
    weights, path = run_paths(method, seed)
    if not weights.exists() or not path.exists():
        raise FileNotFoundError(f"{weights.name} is missing under data/weights/metaworld/: "
                                f"train it with `python -m ssm_metarl.metaworld_runs {method} "
                                f"--seeds {seed}`")
    payload = load_checkpoint(weights, _FORMAT)
    if payload["config"].get("method") != method:
        raise ValueError(f"{weights}: holds method {payload['config'].get('method')!r}, "
                         f"expected {method!r}")
    policy = make_policy(method, seed)
    check_state_dict(weights, policy.state_dict(), payload["state_dict"])
    policy.load_state_dict(payload["state_dict"])
    return policy, json.loads(path.read_text())


def success_rollout(policy: nn.Module, tasks: np.ndarray, episodes: int, seed: int, *,
                    params: Any = None, per_task: int = 1, split_family: MetaWorldTasks | None
                    = None, deterministic: bool = False):
    """Play ``per_task`` rollouts of ``episodes`` episodes on each task (G, D).

    Returns ``(rollout, success (G * per_task, K))``; a recurrent policy keeps
    its memory across the episodes (one trial). Actions are drawn from a torch
    generator seeded with ``seed``; the global RNG state is left as it was.
    """
    fam = family("test") if split_family is None else check_instance(
        "split_family", split_family, MetaWorldTasks)
    return _success_rollout(check_instance("policy", policy, nn.Module), _check_tasks(fam, tasks),
                            check_int("episodes", episodes), check_int("seed", seed, 0), params,
                            check_int("per_task", per_task), fam, deterministic)


def _check_tasks(fam: MetaWorldTasks, tasks: Any) -> np.ndarray:
    """``tasks`` (G, D) as task vectors of ``fam``'s benchmark, G >= 1; errors name ``tasks``."""
    try:
        array = np.asarray(tasks, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"tasks must be a (G, {TASK_DIM}) array of Meta-World task vectors, "
                         f"got {tasks!r:.80}") from None
    if array.ndim != 2 or len(array) == 0:
        raise ValueError(f"tasks must have shape (G, {TASK_DIM}) with G >= 1, got {array.shape}")
    return np.stack([fam.check_task(t, f"tasks[{i}]") for i, t in enumerate(array)])


def _success_rollout(policy: nn.Module, tasks: np.ndarray, episodes: int, seed: int,
                     params: Any, per_task: int, fam: MetaWorldTasks, deterministic: bool):
    """:func:`success_rollout` on checked arguments."""
    env = fam.make_env(len(tasks) * per_task)
    env.set_task(np.repeat(tasks, per_task, axis=0))
    rows: list[np.ndarray] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rollout = collect_rollouts(
            env, policy, episodes * (fam.horizon + 1) - 1, params=params, seed=seed,
            action_scale=fam.action_scale, episodes_per_trial=episodes,
            deterministic=deterministic, on_step=lambda t, _: rows.append(env.last_success))
    success = episode_successes(np.stack(rows), rollout.valid.cpu().numpy(),
                                rollout.dones.cpu().numpy(), episodes)
    return rollout, success


def evaluate_run(method: str, policy: nn.Module, tasks: np.ndarray, episodes: int = 3,
                 seed: int = 0, per_task: int = 2) -> np.ndarray:
    """Success per test task after k episodes of its experience, (G, K) in [0, 1].

    RL^2 and the memoryless policy: one trial of K episodes, memory carried
    (the memoryless MLP has none). MAML (MLP or SSM): K rounds of ``per_task`` episodes,
    one VPG step of :data:`INNER_LR` on each round's data before the next
    (column k: after k gradient steps). The mean over the ``per_task`` rollouts.
    """
    method, policy = _check_method(method), check_instance("policy", policy, nn.Module)
    episodes, seed = check_int("episodes", episodes), check_int("seed", seed, 0)
    per_task, fam = check_int("per_task", per_task), family("test")
    tasks = _check_tasks(fam, tasks)
    if not method.startswith("maml"):
        _, success = _success_rollout(policy, tasks, episodes, seed, None, per_task, fam, False)
        return success.reshape(len(tasks), per_task, episodes).mean(axis=1)
    theta = dict(policy.named_parameters())
    fast = [{k: v.detach() for k, v in theta.items()}] * len(tasks)
    columns = []
    for k in range(episodes):
        rollout, success = _success_rollout(policy, tasks, 1, seed + k, fast, per_task, fam,
                                            False)
        columns.append(success.reshape(len(tasks), per_task).mean(axis=1))
        if k < episodes - 1:
            groups = policy_gradient_advantages(rollout, len(tasks), 0.99, 1e-5)
            fast = [{n: v.detach() for n, v in adapt_policy(policy, w, *g, INNER_LR,
                                                             False).items()}
                    for w, g in zip(fast, groups, strict=True)]
    return np.stack(columns, axis=1)


def oracle_action(obs: np.ndarray, goal: np.ndarray, gain: float = 20.0) -> np.ndarray:
    """The scripted reach controller that knows the goal: hand (obs[:3]) straight toward it.

    ``clip(gain * (goal - hand), -1, 1)`` for the xyz displacement, gripper 0; (4,) float32.
    """
    return _oracle_action(_real_vector("obs", obs, OBS_DIM), _real_vector("goal", goal, 3),
                          check_float("gain", gain, minimum=0, strict=True))


def _real_vector(name: str, value: Any, size: int) -> np.ndarray:
    """``value`` as a finite real array of shape (size,); TypeError/ValueError naming ``name``."""
    array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {array}")
    return array


def _oracle_action(obs: np.ndarray, goal: np.ndarray, gain: float = 20.0) -> np.ndarray:
    return np.append(np.clip(gain * (np.asarray(goal) - obs[:3]), -1, 1), 0.0).astype(np.float32)


def oracle_success(tasks: np.ndarray, horizon: int = HORIZON, name: str = TASK) -> np.ndarray:
    """Meta-World success (G,) of :func:`oracle_action` on each task (G, D): the table's top row."""
    name = _check_name(name)
    horizon = check_int("horizon", horizon)
    if horizon > MAX_HORIZON:
        raise ValueError(f"horizon must be at most Meta-World's {MAX_HORIZON}, got {horizon}")
    hits = []
    for task in _check_tasks(family("test", name), tasks):
        env = MetaWorldEnv(name, task=task, horizon=horizon)
        obs, _ = env.reset(seed=0)
        hit = 0.0
        for _ in range(horizon):
            obs, _, _, _, info = env.step(_oracle_action(obs, task[3:]))
            hit = max(hit, info["success"])
        hits.append(hit)
        env.close()
    return np.asarray(hits)


# ----------------------------------------------------------------------------- task inference

REACH_RADIUS = 0.05
"""Meta-World reach: the gripper within 5 cm of the goal earns the full reward (and success)."""


def reach_reward(distance: Any, margin: float) -> np.ndarray:
    """reach-v3's reward (scaled to [0, 1]) at gripper-goal ``distance`` (m), as a model.

    Meta-World's ``compute_reward`` (v2 rewards) is ``tolerance(d, bounds=(0,
    0.05), margin, sigmoid="long_tail")``: 1 within :data:`REACH_RADIUS`, else
    ``1 / (1 + 9 ((d - 0.05) / margin)^2)``, with ``margin`` the distance from
    the arm's initial position to the goal. It is a known, decreasing function
    of the distance, so rewards at known hand positions pin the hidden goal
    down (:func:`goal_from_rewards`).
    """
    d = np.asarray(distance, dtype=float)
    if not np.isfinite(d).all() or (d < 0).any():
        raise ValueError(f"distance must be finite and >= 0 (metres), got {distance!r:.60}")
    margin = check_float("margin", margin, minimum=0, strict=True)
    beyond = np.maximum(d - REACH_RADIUS, 0.0) / margin
    return 1.0 / (1.0 + 9.0 * beyond**2)


def goal_from_rewards(positions: Any, rewards: Any, *, iterations: int = 10) -> np.ndarray:
    """The goal (3,) that explains rewards (N,) seen at hand positions (N, 3), by least squares.

    Inverting :func:`reach_reward` gives the distance of each sample beyond the
    5-cm radius in units of the unknown margin: ``d_i = 0.05 + m s_i`` with
    ``s_i = sqrt(1 / r_i - 1) / 3``. Squaring ``||p_i - g|| = d_i`` makes
    ``||p_i||^2 - 0.05^2 = 2 p_i . g - ||g||^2 + 0.1 m s_i + m^2 s_i^2``
    linear in ``(g, ||g||^2, m, m^2)`` taken as four independent unknowns
    (6 numbers): a linear least-squares start, then ``iterations`` Gauss-Newton
    steps on the residuals ``||p_i - g|| - 0.05 - m s_i`` in ``(g, m)``.
    Samples with ``r >= 0.999`` (inside the radius: no distance information)
    are left out; at least 6 must remain. The estimate is the goal as seen
    from the hand position of the observation (the reward is measured at the
    gripper's centre, a fixed offset away), so moving the hand there brings
    the gripper to the goal.
    """
    p = np.asarray(positions, dtype=float)
    r = np.asarray(rewards, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3 or r.shape != (len(p),):
        raise ValueError(f"positions must be (N, 3) and rewards (N,), got {p.shape} and {r.shape}")
    if not (np.isfinite(p).all() and np.isfinite(r).all()) or (r <= 0).any() or (r > 1).any():
        raise ValueError("positions must be finite and rewards in (0, 1] (reach-v3's reward "
                         "with reward_scale 0.1)")
    iterations = check_int("iterations", iterations, 0)
    keep = r < 0.999
    p, r = p[keep], r[keep]
    if len(p) < 6:
        raise ValueError(f"need at least 6 rewards below 1 to find the goal, got {len(p)}")
    s = np.sqrt(1.0 / r - 1.0) / 3.0
    design = np.column_stack([2 * p, -np.ones(len(p)), 2 * REACH_RADIUS * s, s**2])
    solution, *_ = np.linalg.lstsq(design, (p**2).sum(1) - REACH_RADIUS**2, rcond=None)
    goal, margin = solution[:3], max(solution[4], REACH_RADIUS)
    for _ in range(iterations):
        offset = p - goal
        distance = np.linalg.norm(offset, axis=1) + 1e-12
        residual = distance - REACH_RADIUS - margin * s
        jacobian = np.column_stack([-offset / distance[:, None], -s])
        step, *_ = np.linalg.lstsq(jacobian, -residual, rcond=None)
        goal, margin = goal + step[:3], margin + step[3]
    return goal


class InferenceRun(NamedTuple):
    """One episode of :func:`reach_by_inference`: whether it succeeded, at which step
    (``-1``: never), the final goal estimate (3,) and the true goal (3,)."""

    success: bool
    first_success: int
    estimate: np.ndarray
    goal: np.ndarray


def reach_by_inference(task: Any, infer: Any = goal_from_rewards, *, explore_steps: int = 24,
                       refit_every: int = 5, horizon: int = HORIZON, seed: int = 0,
                       name: str = TASK) -> InferenceRun:
    """Reach a hidden goal by inferring it from rewards: task inference done by hand.

    The policy sees what RL^2 sees (the observation with the goal hidden, and
    the rewards): it moves the hand along +x, +y, +z, -x, -y, -z for
    ``explore_steps`` steps, estimates the goal with ``infer(positions,
    rewards)`` (default :func:`goal_from_rewards`), then drives the hand
    toward the estimate with :func:`oracle_action`, re-estimating from all
    samples every ``refit_every`` steps. The true goal is used only to report.
    """
    if not callable(infer):
        raise TypeError(f"infer must be a function infer(positions, rewards) -> goal (3,), got "
                        f"{type(infer).__name__}")
    explore_steps, refit_every = check_int("explore_steps", explore_steps, 6), \
        check_int("refit_every", refit_every)
    horizon, seed = check_int("horizon", horizon), check_int("seed", seed, 0)
    if explore_steps >= horizon or horizon > MAX_HORIZON:
        raise ValueError(f"need explore_steps < horizon <= {MAX_HORIZON}, got {explore_steps} "
                         f"and {horizon}")
    name = _check_name(name)
    task = family("test", name).check_task(task)
    env = MetaWorldEnv(name, task=task, horizon=horizon)
    obs, _ = env.reset(seed=seed)
    positions, rewards, estimate, first = [], [], None, -1
    directions = np.vstack([np.eye(3), -np.eye(3)])
    per_direction = max(1, explore_steps // len(directions))
    for t in range(horizon):
        if t < explore_steps:
            action = np.append(directions[min(t // per_direction, 5)], 0.0)
        else:
            if estimate is None or (t - explore_steps) % refit_every == 0:
                estimate = np.asarray(infer(np.array(positions), np.array(rewards)), dtype=float)
                if estimate.shape != (3,) or not np.isfinite(estimate).all():
                    raise ValueError(f"infer must return a finite goal of shape (3,), got "
                                     f"{estimate!r:.60}")
            action = _oracle_action(obs, estimate)
        obs, reward, _, _, info = env.step(action)
        positions.append(obs[:3].copy())
        rewards.append(reward)
        if info["success"] and first < 0:
            first = t
    env.close()
    return InferenceRun(first >= 0, first, estimate, task[3:].copy())


def main(argv: Sequence[str] | None = None) -> None:
    """The command line (module docstring); ``argv`` None reads ``sys.argv``."""
    if argv is not None and not (isinstance(argv, (list, tuple))
                                 and all(isinstance(a, str) for a in argv)):
        raise TypeError(f"argv must be None or a list of str (the command-line words), "
                        f"got {argv!r}")
    train_runs_main(argv, __doc__.splitlines()[0], METHODS, 60, train_run)


if __name__ == "__main__":
    main(sys.argv[1:])
