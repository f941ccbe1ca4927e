"""Helpers shared by the single and batched environments: seeds, inputs, task pinning.

Dimension letters used in shapes:

====  =====================================================================
E     parallel environments (tasks) in a batched env, ``num_envs``
====  =====================================================================

The batched envs reproduce gymnasium's ``SyncVectorEnv`` exactly, so they
share its seed convention: ``reset(seed=s)`` seeds environment ``i`` with
``s + i``; a list gives one seed per environment; ``None`` keeps the
generator an environment already has (or draws one from OS entropy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .._validate import check_bool

SeedArg = int | Sequence[int | None] | None


def to_numpy(value: Any) -> np.ndarray:
    """Return ``value`` as a NumPy array; torch tensors are detached and moved to the CPU.

    Checking for ``detach`` instead of importing torch keeps ``import ssm_metarl.envs``
    fast and lets the envs run where torch is absent.
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def real_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a NumPy array of ints or floats (tensors too); else TypeError naming it."""
    array = to_numpy(value)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def per_env_seeds(seed: SeedArg, num_envs: int) -> list[int | None]:
    """Map a vector-env seed to one seed per environment, as ``SyncVectorEnv.reset`` does.

    ``None`` -> ``[None] * E``; ``int s`` -> ``[s, s + 1, ..., s + E - 1]``;
    a sequence of length ``E`` is returned as a list.
    """
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed}")
        return [int(seed) + i for i in range(num_envs)]
    if isinstance(seed, (str, bytes)) or not hasattr(seed, "__len__"):
        raise TypeError(f"seed must be an int, None or a sequence of num_envs={num_envs} seeds; "
                        f"got {type(seed).__name__} {seed!r}")
    seeds = list(seed)
    for s in seeds:
        if s is not None and (isinstance(s, bool) or not isinstance(s, (int, np.integer))
                              or s < 0):
            raise ValueError(f"seed must hold non-negative ints or None, got {s!r}")
    seeds = [None if s is None else int(s) for s in seeds]  # gymnasium wants Python ints
    if len(seeds) != num_envs:
        raise ValueError(
            f"seed must be an int, None or a sequence of num_envs={num_envs} seeds; "
            f"got a sequence of length {len(seeds)}"
        )
    return seeds


def check_seed(seed: Any) -> int | None:
    """A single env's ``reset`` seed: None or an int >= 0, as a Python int (gymnasium's need)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be None or a non-negative int, got {seed!r}")
    return int(seed)


def check_reset_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """Return ``options`` (``{}`` for ``None``); only the key ``"task"`` is understood."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict or None, got {type(options).__name__}")
    unknown = set(options) - {"task"}
    if unknown:
        raise ValueError(
            f"options may only contain the key 'task', got unknown keys {sorted(unknown)}"
        )
    return options


def needs_new_task(pinned: bool, has_task: bool, seeded: bool, resample_on_reset: bool) -> bool:
    """The task-persistence rule shared by every env of this package.

    A pinned task (given by ``set_task`` or ``options["task"]``) is always kept.
    Otherwise a new task is drawn when the env has none yet, when ``reset`` got
    a seed (so ``reset(seed=s)`` is reproducible whatever ran before), or at
    every reset if the env resamples on reset (the bandit: one trial per episode).
    """
    if pinned:
        return False
    return (not has_task) or seeded or resample_on_reset


class PerEnvTasks:
    """Per-environment generators and tasks of a batched env, following :func:`needs_new_task`.

    ``generators[i]`` is the ``np.random.Generator`` that a single gymnasium env
    seeded the same way would own (``gymnasium.utils.seeding.np_random``), so the
    batched env draws exactly the numbers of the single env, in the same order.
    ``tasks`` (E, *task_shape) float64; ``pinned`` and ``has_task`` (E,) bool.
    """

    def __init__(
        self,
        num_envs: int,
        task_shape: tuple[int, ...],
        draw_task: Callable[[np.random.Generator], np.ndarray],
        resample_on_reset: bool,
    ) -> None:
        self.generators: list[np.random.Generator | None] = [None] * num_envs
        self.tasks = np.zeros((num_envs, *task_shape), dtype=np.float64)
        self.pinned = np.zeros(num_envs, dtype=bool)
        self.has_task = np.zeros(num_envs, dtype=bool)
        self.draw_task = draw_task
        self.resample_on_reset = resample_on_reset

    def pin(self, tasks: np.ndarray | None) -> None:
        """Pin validated ``tasks`` (E, *task_shape) to every env; ``None`` unpins, forgets."""
        if tasks is None:
            self.pinned[:] = False
            self.has_task[:] = False
            return
        self.tasks[:] = tasks
        self.pinned[:] = True
        self.has_task[:] = True

    def reset(self, env_ids: Sequence[int], seeds: Sequence[int | None]) -> None:
        """Reseed (where a seed is given) and draw new tasks for the envs ``env_ids``."""
        for i, seed in zip(env_ids, seeds, strict=True):
            if seed is not None or self.generators[i] is None:
                self.generators[i], _ = seeding.np_random(seed)
            if needs_new_task(
                self.pinned[i], self.has_task[i], seed is not None, self.resample_on_reset
            ):
                self.tasks[i] = self.draw_task(self.generators[i])
                self.has_task[i] = True


class BatchedTaskEnv(VectorEnv):
    """What the batched envs share: spaces, one task per env (pinned or drawn), reset options.

    A subclass calls :meth:`_setup` in its constructor and defines
    ``_check_task(task, name) -> np.ndarray`` for one task (``task_noun`` names
    it in errors). ``set_task`` accepts one task for every env or (E, ...) one
    per env; ``reset`` calls :meth:`_begin_reset`, ``step`` :meth:`_check_started`.
    Autoreset is gymnasium's next-step mode, as in ``SyncVectorEnv``.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
    task_noun = "task"

    def _setup(
        self,
        num_envs: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        task_shape: tuple[int, ...],
        draw_task: Callable[[np.random.Generator], np.ndarray],
        resample_task_on_reset: bool,
        task: Any,
    ) -> None:
        self.num_envs = num_envs
        self.single_observation_space = observation_space
        self.single_action_space = action_space
        self.observation_space = batch_space(observation_space, num_envs)
        self.action_space = batch_space(action_space, num_envs)
        resample = check_bool("resample_task_on_reset", resample_task_on_reset)
        self._slots = PerEnvTasks(num_envs, task_shape, draw_task, resample)
        self._autoreset = np.zeros(num_envs, dtype=bool)
        self._started = False
        if task is not None:
            self.set_task(task)

    @property
    def tasks(self) -> np.ndarray:
        """The current task of every env, (E, *task_shape) float64 (a copy)."""
        return self._slots.tasks.copy()

    def set_task(self, tasks: Any) -> None:
        """Pin one task for every env or one per env (E, ...) from now on; ``None`` unpins all."""
        self._slots.pin(None if tasks is None else self._check_tasks(tasks))

    def _check_tasks(self, tasks: Any) -> np.ndarray:
        tasks, shape = to_numpy(tasks), self._slots.tasks.shape[1:]
        if tasks.shape == shape:
            return np.broadcast_to(self._check_task(tasks, "task"), (self.num_envs, *shape))
        if tasks.shape != (self.num_envs, *shape):
            raise ValueError(
                f"task must be one {self.task_noun} {shape} or one per env "
                f"{(self.num_envs, *shape)}, got shape {tasks.shape}"
            )
        return np.stack([self._check_task(task, f"task[{i}]") for i, task in enumerate(tasks)])

    def _begin_reset(self, options: dict[str, Any] | None) -> None:
        """Validate ``options`` (a ``task`` pins it) and clear the autoreset flags."""
        options = check_reset_options(options)
        if "task" in options:
            self.set_task(options["task"])
        self._autoreset[:] = False
        self._started = True

    def _check_started(self) -> None:
        if not self._started:
            raise RuntimeError("call reset() before step()")


class TaskEnv(gym.Env):
    """What the single envs share: one task, pinned or drawn by the persistence rule.

    A subclass sets ``resample_task_on_reset``, calls :meth:`_init_task` in its
    constructor, and defines ``_check_task(task, name)`` and
    ``_draw_task(rng) -> np.ndarray``; its ``reset`` starts with
    :meth:`_begin_reset`, which draws a new task where :func:`needs_new_task`
    says so. ``env.task = ...`` (also through ``VectorEnv.set_attr``) pins one.
    """

    def _init_task(self, task: Any) -> None:
        self._task: np.ndarray | None = None
        self._pinned = False
        if task is not None:
            self.set_task(task)

    @property
    def task(self) -> np.ndarray | None:
        """The current task (a copy), or ``None`` before the first reset."""
        return None if self._task is None else self._task.copy()

    @task.setter
    def task(self, task: Any) -> None:
        self.set_task(task)

    def set_task(self, task: Any) -> None:
        """Pin ``task`` from now on (rewards use it at once); ``None`` unpins (a reset draws)."""
        if task is None:
            self._task, self._pinned = None, False
            return
        self._task, self._pinned = self._check_task(task, "task"), True

    def _begin_reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        """Seed, apply ``options`` (a ``task`` pins it) and draw a task if the rule says so."""
        seed = check_seed(seed)
        super().reset(seed=seed)
        options = check_reset_options(options)
        if "task" in options:
            self.set_task(options["task"])
        if needs_new_task(self._pinned, self._task is not None, seed is not None,
                          self.resample_task_on_reset):
            self._task = self._draw_task(self.np_random)
