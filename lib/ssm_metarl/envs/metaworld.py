"""Meta-World's ML1 benchmarks as a task family of the course (notebook 06).

Dimension letters used in shapes:

====  =====================================================================
E     parallel environments of the batched env
G     tasks in a meta-batch
D     numbers that define one task (``TASK_DIM`` = 6: Meta-World's ``rand_vec``,
      the object's start position then the goal position, both xyz)
T     rows of a rollout
K     episodes of a trial
====  =====================================================================

Meta-World (Yu et al. 2019, arXiv 1910.10897; v3 environments of Meta-World+,
McLean et al. 2025) is a Sawyer arm in MuJoCo. ML1 ("meta-learning 1") holds
one manipulation skill (``reach-v3``, ``push-v3``, ``pick-place-v3``) with 50
train and 50 test tasks: goal (and object) positions drawn from the same box
with different seeds. The observation (39 floats: hand, gripper, object, the
previous frame, and a goal slot that ML1 fills with zeros) never shows the
goal, so a policy must infer the task from the rewards; this is what makes
ML1 a meta-RL benchmark. Actions: 4 floats in [-1, 1] (hand displacement xyz,
gripper). An episode is ``horizon`` steps (Meta-World: at most 500) and ends by
truncation only; it is a **success** if ``info["success"]`` was 1 at any of
its steps (Meta-World's definition; the goal within 5 cm for reach).

What this module adds to ``metaworld==3.1.1`` (traps measured on 3.1.1):

- ``gym.make_vec("Meta-World/ML1-train", ...)`` returns the *test* goals with
  terminate-on-success on; :class:`MetaWorldTasks` builds envs from
  ``metaworld.ML1(name, seed)`` and ``env.set_task`` instead, so a train batch
  holds train tasks only (tested).
- The raw env ignores ``reset(seed=...)`` and does not pass
  ``gymnasium.utils.env_checker.check_env``; :class:`MetaWorldEnv` does (its
  reset is deterministic given the task, as Meta-World's is once
  ``set_task`` froze the random vector, and it seeds the action space).
- :class:`BatchedMetaWorld` steps E envs with gymnasium's *next-step*
  autoreset, as the course's other batched envs do; a pinned task survives the
  autoresets, so a trial of several episodes keeps its goal.

A task is its ``rand_vec`` (D,), so ``TaskBatch`` meta-batches are (G, D)
arrays like the navigation goals; :meth:`MetaWorldTasks.task_object` maps one
back to the benchmark's ``Task``. Rewards are multiplied by ``reward_scale``
(default 0.1: Meta-World's per-step reward in [0, 10] becomes [0, 1]).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .._validate import check_float, check_int, check_int_list, check_rng
from ._common import (
    BatchedTaskEnv,
    SeedArg,
    check_reset_options,
    check_seed,
    per_env_seeds,
    real_array,
    to_numpy,
)
from .families import RLTaskSample

__all__ = [
    "ML1_ENVS",
    "OBS_DIM",
    "ACTION_DIM",
    "TASK_DIM",
    "BatchedMetaWorld",
    "MetaWorldEnv",
    "MetaWorldTasks",
    "episode_successes",
    "metaworld_available",
    "render_frame",
    "require_metaworld",
]

# MuJoCo picks its OpenGL backend when it is imported: without a display, render
# off-screen with Mesa's OSMesa (Debian's libosmesa6) unless the user chose one.
if "DISPLAY" not in os.environ:
    os.environ.setdefault("MUJOCO_GL", "osmesa")

ML1_ENVS = ("reach-v3", "push-v3", "pick-place-v3")
OBS_DIM, ACTION_DIM, TASK_DIM = 39, 4, 6
OBS_BOUND = 10.0
MAX_HORIZON = 500
"""Meta-World's ``max_path_length``: no episode may be longer."""


def metaworld_available() -> bool:
    """Whether ``import metaworld`` works (Meta-World and MuJoCo are installed)."""
    try:
        import metaworld  # noqa: F401
    except ImportError:
        return False
    return True


def require_metaworld():
    """The ``metaworld`` module, or an ImportError saying how to install it."""
    try:
        import metaworld
    except ImportError as error:
        raise ImportError(
            "Meta-World is not installed: `make venv` installs the course's pins "
            "(metaworld==3.1.1, mujoco==3.3.0 in requirements.txt), or run "
            "`pip install metaworld==3.1.1 mujoco==3.3.0`") from error
    return metaworld


def _check_name(name: Any) -> str:
    if name not in ML1_ENVS:
        raise ValueError(f"name must be one of {', '.join(map(repr, ML1_ENVS))}, got {name!r}")
    return name


def _check_split(split: Any) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def _check_actions(actions: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``actions`` as float32 of ``shape``, real and finite (values outside [-1, 1] are clipped
    later); ``TypeError``/``ValueError`` naming ``name``."""
    array = real_array(name, actions)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got shape {array.shape}")
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf: refused
        array = array.astype(np.float32)
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{name} must be finite (in float32), got {bad} NaN/inf entries of "
                         f"{array.size}")
    return array


def _task_vector(task: Any) -> np.ndarray:
    """The ``rand_vec`` (D,) of a Meta-World ``Task``."""
    import pickle

    return np.asarray(pickle.loads(task.data)["rand_vec"], dtype=np.float64)


class _Benchmark:
    """One ``metaworld.ML1(name, seed)``: the env class and both splits, as vectors and Tasks."""

    _cache: dict[tuple[str, int], _Benchmark] = {}

    def __init__(self, name: str, seed: int) -> None:
        ml1 = require_metaworld().ML1(name, seed=seed)
        self.name, self.seed = name, seed
        self.env_class = ml1.train_classes[name]
        self.objects = {"train": list(ml1.train_tasks), "test": list(ml1.test_tasks)}
        self.vectors = {split: np.stack([_task_vector(t) for t in tasks])
                        for split, tasks in self.objects.items()}

    @classmethod
    def get(cls, name: str, seed: int) -> _Benchmark:
        key = (name, seed)
        if key not in cls._cache:
            cls._cache[key] = cls(name, seed)
        return cls._cache[key]

    def find(self, vector: np.ndarray) -> tuple[str, int] | None:
        """(split, index) of the task whose vector equals ``vector`` (to 1e-9), else None."""
        for split, vectors in self.vectors.items():
            hits = np.flatnonzero(np.abs(vectors - vector).max(axis=1) < 1e-9)
            if len(hits):
                return split, int(hits[0])
        return None

    def check_task(self, task: Any, name: str = "task") -> np.ndarray:
        vector = to_numpy(task)
        if vector.shape != (TASK_DIM,) or not np.issubdtype(vector.dtype, np.number) \
                or np.iscomplexobj(vector) or not np.isfinite(vector).all():
            raise ValueError(f"{name} must be one Meta-World task vector: {TASK_DIM} finite "
                             f"floats (rand_vec), got {vector.dtype} array of shape "
                             f"{vector.shape}")
        vector = vector.astype(np.float64)
        if self.find(vector) is None:
            raise ValueError(f"{name} is not a task of ML1 {self.name!r} (benchmark seed "
                             f"{self.seed}): take tasks from MetaWorldTasks.tasks(split) or "
                             f".sample(...)")
        return vector

    def task_object(self, vector: np.ndarray):
        split, index = self.find(vector)
        return self.objects[split][index]


class MetaWorldEnv(gym.Env):
    """One Meta-World ML1 env with a pinned task, conformant to gymnasium (passes ``check_env``).

    Args:
        name: an ML1 env of :data:`ML1_ENVS`.
        task: the task vector (D,) (``MetaWorldTasks.tasks(split)[i]``); None:
            the first train task.
        horizon: steps per episode, at most Meta-World's 500.
        reward_scale: multiplies Meta-World's reward.
        benchmark_seed: the seed of ``metaworld.ML1`` that defines the 50 + 50 tasks.

    ``reset`` returns ``(obs (39,) float64, {"success": 0.0})``; ``step`` returns
    ``(obs, reward, False, truncated, {"success": 0.0 or 1.0})`` with
    ``truncated`` True at step ``horizon``. ``reset(seed=s)`` seeds the action
    space; the start state depends on the task only (Meta-World's reset is
    deterministic once the task is set).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 80}

    def __init__(self, name: str = "reach-v3", task: Any = None, horizon: int = 150,
                 reward_scale: float = 0.1, benchmark_seed: int = 0,
                 render_mode: str | None = None) -> None:
        self.name = _check_name(name)
        self.horizon = check_int("horizon", horizon)
        if self.horizon > MAX_HORIZON:
            raise ValueError(f"horizon must be at most Meta-World's {MAX_HORIZON}, got {horizon}")
        self.reward_scale = check_float("reward_scale", reward_scale, minimum=0, strict=True)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self._benchmark = _Benchmark.get(name, check_int("benchmark_seed", benchmark_seed, 0))
        kwargs = {} if render_mode is None else {"render_mode": render_mode, "width": 240,
                                                 "height": 240}
        self._env = self._benchmark.env_class(**kwargs)
        self._env.max_path_length = MAX_HORIZON
        # Positions (metres), quaternions and the gripper opening all lie well inside +-10;
        # gymnasium's checker warns about infinite bounds.
        self.observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, shape=(OBS_DIM,),
                                            dtype=np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(ACTION_DIM,), dtype=np.float32)
        self._task: np.ndarray | None = None
        self._lease: Any = None
        self.set_task(self._benchmark.vectors["train"][0] if task is None else task)
        self._steps = 0
        self._needs_reset = True

    @property
    def task(self) -> np.ndarray:
        """The current task vector (D,) (a copy)."""
        return self._task.copy()

    def set_task(self, task: Any) -> None:
        """Pin ``task`` (D,); it takes effect at the next ``reset`` (the goal is placed there)."""
        vector = self._benchmark.check_task(task, "task")
        if self._task is None or not np.array_equal(vector, self._task):
            self._env.set_task(self._benchmark.task_object(vector))
            self._task = vector

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        seed = check_seed(seed)
        super().reset(seed=seed)
        if seed is not None:
            self.action_space.seed(seed)
        options = check_reset_options(options)
        if "task" in options:
            self.set_task(options["task"])
        obs, _ = self._env.reset()
        self._steps, self._needs_reset = 0, False
        return np.asarray(obs, dtype=np.float64), {"success": 0.0}

    def step(self, action: Any):
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (the episode ended or never began)")
        action = _check_actions(action, (ACTION_DIM,), "action")
        obs, reward, _, _, info = self._env.step(np.clip(action, -1.0, 1.0))
        self._steps += 1
        truncated = self._steps >= self.horizon
        self._needs_reset = truncated
        return (np.asarray(obs, dtype=np.float64), float(reward) * self.reward_scale, False,
                truncated, {"success": float(info["success"])})

    def render(self):
        if self.render_mode is None:
            raise RuntimeError("render() needs render_mode='rgb_array' (and MUJOCO_GL=osmesa "
                               "or egl without a display)")
        return self._env.render()

    def close(self) -> None:
        self._env.close()


def render_frame(task: Any, name: str = "reach-v3", actions: Any = None,
                 benchmark_seed: int = 0) -> tuple[np.ndarray | None, str]:
    """An upright 240x240 RGB frame of ``task`` after ``actions`` (N, 4) (None: the start).

    Returns ``(frame (240, 240, 3) uint8, "")``, or ``(None, why)`` where
    off-screen rendering is unavailable (no OSMesa or EGL: install Debian's
    ``libosmesa6``; the notebook then skips the picture).
    """
    benchmark = _Benchmark.get(_check_name(name), check_int("benchmark_seed", benchmark_seed, 0))
    task = benchmark.check_task(task, "task")
    if actions is not None:
        actions = to_numpy(actions)
        if actions.ndim != 2:
            raise ValueError(f"actions must be None or of shape (N, {ACTION_DIM}), got shape "
                             f"{actions.shape}")
        actions = _check_actions(actions, (len(actions), ACTION_DIM), "actions")
        if len(actions) > MAX_HORIZON:
            raise ValueError(f"actions must be at most Meta-World's {MAX_HORIZON} steps, got "
                             f"{len(actions)}")
    try:  # only rendering itself may fail from here on
        env = MetaWorldEnv(name, task=task, horizon=MAX_HORIZON, render_mode="rgb_array",
                           benchmark_seed=benchmark_seed)
        env.reset(seed=0)
        for action in [] if actions is None else actions:
            env.step(action)
        frame = np.ascontiguousarray(env.render()[::-1])  # MuJoCo's rows run bottom-up
        env.close()
    except Exception as error:  # noqa: BLE001  (any GL failure means: no picture)
        return None, (f"rendering skipped ({type(error).__name__}: {error}); install "
                      "libosmesa6 and set MUJOCO_GL=osmesa")
    return frame, ""


class BatchedMetaWorld(BatchedTaskEnv):
    """E :class:`MetaWorldEnv` stepped one after the other, with next-step autoreset.

    The same transitions as ``SyncVectorEnv([MetaWorldEnv] * E)`` with
    ``autoreset_mode=NEXT_STEP``: the step after an episode ended returns the
    reset observation with reward 0, both flags False, and ignores that env's
    action. Tasks are pinned (``set_task``: one vector (D,) for all or (E, D));
    they persist across autoresets. ``last_success`` (E,) holds the success
    flag of the last step (0 on autoreset rows), what :func:`episode_successes`
    collects row by row.
    """

    task_noun = "Meta-World task vector"

    def __init__(self, num_envs: int, name: str = "reach-v3", horizon: int = 150,
                 reward_scale: float = 0.1, benchmark_seed: int = 0, task: Any = None,
                 envs: list[MetaWorldEnv] | None = None) -> None:
        num_envs = check_int("num_envs", num_envs)
        if envs is None:
            envs = [MetaWorldEnv(name, horizon=horizon, reward_scale=reward_scale,
                                 benchmark_seed=benchmark_seed) for _ in range(num_envs)]
        else:
            _check_envs(envs, num_envs, name, horizon, reward_scale, benchmark_seed)
        self.envs = list(envs[:num_envs])
        for env in self.envs:  # the envs now belong to this batch (see MetaWorldTasks.make_env)
            env._lease = self
        self.name, self.horizon = name, self.envs[0].horizon
        self._benchmark = self.envs[0]._benchmark
        first = self._benchmark.vectors["train"][0]
        one = self.envs[0]
        self._setup(num_envs, one.observation_space, one.action_space, (TASK_DIM,),
                    lambda rng: first, False, first if task is None else task)
        self.last_success = np.zeros(num_envs)

    def set_task(self, tasks: Any) -> None:
        """Pin one task vector (D,) for every env or one per env (E, D) (at the next reset)."""
        if tasks is None:
            raise ValueError("a Meta-World env always has a task: tasks must be a task vector "
                             f"({TASK_DIM},) or ({self.num_envs}, {TASK_DIM}), got None")
        super().set_task(tasks)
        for env, vector in zip(self.envs, self._slots.tasks, strict=True):
            env.set_task(vector)

    def _check_task(self, task: Any, name: str) -> np.ndarray:
        return self._benchmark.check_task(task, name)

    def reset(self, *, seed: SeedArg = None, options: dict[str, Any] | None = None):
        """Reset every env; returns ``(obs (E, 39) float64, {})``."""
        self._begin_reset(options)
        self._check_started()
        seeds = per_env_seeds(seed, self.num_envs)
        obs = np.stack([env.reset(seed=s)[0] for env, s in zip(self.envs, seeds, strict=True)])
        self.last_success = np.zeros(self.num_envs)
        return obs, {}

    def _check_started(self) -> None:
        super()._check_started()
        if any(env._lease is not self for env in self.envs):
            raise RuntimeError("this env's simulations were handed to a later "
                               "MetaWorldTasks.make_env call; use the newest env")

    def step(self, actions: Any):
        self._check_started()
        actions = _check_actions(actions, (self.num_envs, ACTION_DIM), "actions")
        obs = np.zeros((self.num_envs, OBS_DIM))
        rewards, success = np.zeros(self.num_envs), np.zeros(self.num_envs)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i, env in enumerate(self.envs):
            if self._autoreset[i]:
                obs[i], _ = env.reset()
                continue
            obs[i], rewards[i], _, truncated[i], info = env.step(actions[i])
            success[i] = info["success"]
        self._autoreset = truncated.copy()
        self.last_success = success
        return obs, rewards, np.zeros(self.num_envs, dtype=bool), truncated, {}

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


def _check_envs(envs: Any, num_envs: int, name: Any, horizon: Any, reward_scale: Any,
                benchmark_seed: Any) -> None:
    """``envs``: a list of at least ``num_envs`` MetaWorldEnv built with the other arguments."""
    if not isinstance(envs, (list, tuple)) or not all(isinstance(e, MetaWorldEnv) for e in envs):
        raise TypeError(f"envs must be None or a list of MetaWorldEnv, got "
                        f"{type(envs).__name__} {envs!r:.80}")
    if len(envs) < num_envs:
        raise ValueError(f"envs must hold at least num_envs={num_envs} MetaWorldEnv, got "
                         f"{len(envs)}")
    wanted = (name, horizon, reward_scale, benchmark_seed)
    for i, env in enumerate(envs[:num_envs]):
        if (env.name, env.horizon, env.reward_scale, env._benchmark.seed) != wanted:
            raise ValueError(f"envs[{i}] is a {env.name!r} env with horizon={env.horizon}, "
                             f"reward_scale={env.reward_scale}, benchmark_seed="
                             f"{env._benchmark.seed}; this batch was asked for name={name!r}, "
                             f"horizon={horizon}, reward_scale={reward_scale}, "
                             f"benchmark_seed={benchmark_seed}")


class MetaWorldTasks:
    """ML1 ``name`` as a task family for ``TaskBatch``, RL^2 and ``MetaMAMLTrainer``.

    Args:
        name: ``"reach-v3"``, ``"push-v3"`` or ``"pick-place-v3"``.
        split: where ``sample`` draws from: ``"train"`` (meta-training) or
            ``"test"`` (held-out evaluation); both hold 50 tasks.
        horizon: steps per episode (Meta-World's maximum is 500; the course's
            default 150 is Meta-World v1's path length, for budget).
        reward_scale: multiplies Meta-World's per-step reward (in [0, 10]).
        benchmark_seed: the seed of ``metaworld.ML1`` (which 50 + 50 tasks).
        seed: seeds the family's own generator (``sample`` without ``rng``).
        task_indices: None (all 50 tasks of the split) or the indices of the
            tasks ``sample`` may draw (``[0]``: a single fixed task).
    """

    obs_dim, action_dim, discrete, task_dim = OBS_DIM, ACTION_DIM, False, TASK_DIM
    action_scale = 1.0
    goal_tolerance = None

    def __init__(self, name: str = "reach-v3", split: str = "train", horizon: int = 150,
                 reward_scale: float = 0.1, benchmark_seed: int = 0, seed: int = 0,
                 task_indices: Sequence[int] | None = None) -> None:
        self.name, self.split = _check_name(name), _check_split(split)
        self.horizon = check_int("horizon", horizon)
        if self.horizon > MAX_HORIZON:
            raise ValueError(f"horizon must be at most Meta-World's {MAX_HORIZON}, got {horizon}")
        self.reward_scale = check_float("reward_scale", reward_scale, minimum=0, strict=True)
        self.benchmark_seed = check_int("benchmark_seed", benchmark_seed, 0)
        self._benchmark = _Benchmark.get(self.name, self.benchmark_seed)
        self.seed = check_int("seed", seed, 0)
        self.generator = np.random.default_rng(self.seed)
        self._pool: list[MetaWorldEnv] = []
        size = len(self._benchmark.vectors[self.split])
        if task_indices is None:
            self.task_indices = tuple(range(size))
        else:
            self.task_indices = tuple(check_int_list("task_indices", task_indices))
            if max(self.task_indices) >= size:
                raise ValueError(f"task_indices must lie in [0, {size}), got "
                                 f"{list(self.task_indices)}")

    def __repr__(self) -> str:
        return (f"MetaWorldTasks({self.name!r}, split={self.split!r}, horizon={self.horizon})")

    def with_split(self, split: str) -> MetaWorldTasks:
        """The same family drawing from ``split``."""
        return MetaWorldTasks(self.name, split, self.horizon, self.reward_scale,
                              self.benchmark_seed, self.seed)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pool": []}  # simulations are rebuilt, not copied

    def tasks(self, split: str | None = None) -> np.ndarray:
        """All 50 task vectors of ``split`` (default: the family's), (50, D) float64 (a copy)."""
        return self._benchmark.vectors[self.split if split is None else _check_split(split)].copy()

    def goals(self, split: str | None = None) -> np.ndarray:
        """The goal positions (50, 3) of ``split``: the last three numbers of each task vector."""
        return self.tasks(split)[:, 3:]

    def sample_tasks(self, num_tasks: int, rng: np.random.Generator | int | None = None
                     ) -> np.ndarray:
        """(G, D) tasks of the family's split (its ``task_indices``): without replacement
        while G fits in them."""
        num_tasks = check_int("num_tasks", num_tasks)
        rng = self.generator if rng is None else check_rng("rng", rng)
        pool = self._benchmark.vectors[self.split][list(self.task_indices)]
        return pool[rng.choice(len(pool), size=num_tasks, replace=num_tasks > len(pool))]

    def sample(self, num_tasks: int, k_support: int = 10, k_query: int = 10,
               rng: np.random.Generator | int | None = None) -> RLTaskSample:
        """G tasks and the trajectories per task of one MAML step."""
        return RLTaskSample(self.sample_tasks(num_tasks, rng), check_int("k_support", k_support),
                            check_int("k_query", k_query), self)

    def check_task(self, task: Any, name: str = "task") -> np.ndarray:
        """One task vector (D,) of this benchmark (either split); else a ValueError naming it."""
        return self._benchmark.check_task(task, name)

    def split_of(self, task: Any) -> str:
        """``"train"`` or ``"test"``: the split that holds ``task``."""
        return self._benchmark.find(self.check_task(task))[0]

    def task_object(self, task: Any):
        """The benchmark's ``metaworld.types.Task`` of a task vector."""
        return self._benchmark.task_object(self.check_task(task))

    def make_env(self, num_envs: int) -> BatchedMetaWorld:
        """The batched env for ``num_envs`` trajectories; pin tasks with ``env.set_task``.

        Building a MuJoCo simulation takes about 0.2 s, and a MAML step asks
        for two envs per iteration, so the family keeps its simulations and
        hands them to each new env: an env from ``make_env`` works until the
        next ``make_env`` call of the same family (an older one then refuses
        to step, with a RuntimeError).
        """
        num_envs = check_int("num_envs", num_envs)
        while len(self._pool) < num_envs:
            self._pool.append(MetaWorldEnv(self.name, horizon=self.horizon,
                                           reward_scale=self.reward_scale,
                                           benchmark_seed=self.benchmark_seed))
        return BatchedMetaWorld(num_envs, self.name, self.horizon, self.reward_scale,
                                self.benchmark_seed, envs=self._pool)


def episode_successes(success_rows: np.ndarray, valid: np.ndarray, dones: np.ndarray,
                      num_episodes: int) -> np.ndarray:
    """Meta-World's success of each env's first ``num_episodes`` episodes, (E, K) float64.

    ``success_rows`` (T, E) is ``env.last_success`` after each row of a rollout;
    ``valid`` and ``dones`` (T, E) come from the :class:`~ssm_metarl.rl.Rollout`.
    Episode k is a success (1.0) if the success flag was on at any of its valid
    rows; an episode the rollout never reached counts 0.
    """
    num_episodes = check_int("num_episodes", num_episodes)
    success_rows, valid, dones = (np.asarray(to_numpy(a)) for a in (success_rows, valid, dones))
    if not success_rows.shape == valid.shape == dones.shape or success_rows.ndim != 2:
        raise ValueError(f"success_rows, valid and dones must share one shape (T, E), got "
                         f"{success_rows.shape}, {valid.shape}, {dones.shape}")
    for what, array in (("success_rows", success_rows), ("valid", valid), ("dones", dones)):
        if array.dtype != bool and not (np.issubdtype(array.dtype, np.integer)
                                        or np.issubdtype(array.dtype, np.floating)):
            raise TypeError(f"{what} must hold bools or numbers, got dtype {array.dtype}")
    if not np.isfinite(success_rows.astype(np.float64)).all():
        raise ValueError("success_rows must be finite (Meta-World's success flags, 0 or 1)")
    for what, array in (("valid", valid), ("dones", dones)):
        if array.dtype != bool and not np.isin(array, (0, 1)).all():
            raise ValueError(f"{what} must be bool or hold only 0 and 1, got values "
                             f"{np.unique(array[~np.isin(array, (0, 1))])[:4].tolist()}")
    ended = (dones.astype(bool) & valid.astype(bool)).astype(np.int64)
    episode = np.cumsum(ended, axis=0) - ended
    hit = (success_rows > 0) & valid.astype(bool)
    return np.stack([(hit & (episode == k)).any(axis=0) for k in range(num_episodes)],
                    axis=1).astype(np.float64)
