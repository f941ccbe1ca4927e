"""2D navigation: the point robot of MAML-RL (Finn et al. 2017, Section 5.3).

Dimension letters used in shapes:

====  =====================================================================
E     parallel environments (tasks) of the batched env
T     tasks drawn at once by :func:`sample_goals`
2     the plane: (x, y) of a position, a goal or a velocity
====  =====================================================================

The dynamics follow the authors' code (``maml_examples/point_env_randgoal.py``
in cbfinn/maml_rl), not the paper's text (which says squared distance and a
unit square):

- a task is a goal ``g ~ U[-0.5, 0.5]^2``; every episode starts at the origin;
- the action is a velocity, clipped to ``[-0.1, 0.1]`` per coordinate:
  ``x_{t+1} = x_t + clip(a_t, -0.1, 0.1)``;
- the reward is minus the Euclidean distance *after* the move,
  ``r_t = -||x_{t+1} - g||_2`` (the authors' ``step`` adds the action first);
- the observation is the position ``x_{t+1}`` (2,) as float32;
- the horizon is 100 steps: ``truncated=True`` at step 100 (TimeLimit semantics).

Two details of the authors' setup differ and are documented rather than copied.
Their env is wrapped in rllab's ``normalize``, which maps a policy output in
``[-1, 1]`` affinely onto ``[-0.1, 0.1]`` before clipping, so their policy's
mean is ten times ours for the same velocity. And their ``step`` sets
``done`` once ``|x - g_x| < 0.01`` and ``|y - g_y| < 0.01``; here that
termination is off by default (fixed 100-step episodes keep batched rollouts
simple) and on with ``goal_tolerance=0.01``.

Task persistence (the rule of :func:`ssm_metarl.envs._common.needs_new_task`):
a goal given by ``set_task(goal)``, the ``task=`` argument or
``reset(options={"task": goal})`` is pinned and kept at every reset until a
new one is given (``None`` unpins). Without a pinned goal the env draws one
from its own ``np_random`` at the first reset and at every seeded reset, and
otherwise keeps it, so the automatic resets of a gymnasium vector env run a
trial of many episodes on one goal, as MAML-RL needs. With
``resample_task_on_reset=True`` every reset draws a new goal instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from .._validate import check_bool, check_float, check_int, check_rng
from ._common import (
    BatchedTaskEnv,
    SeedArg,
    TaskEnv,
    per_env_seeds,
    real_array,
    to_numpy,
)

__all__ = ["BatchedNavigation2D", "Navigation2D", "sample_goals"]
"""The env API; the helpers below (``draw_goal``, ``check_velocity``, ...) are this
module's and the families' building blocks, called with checked values."""

MAX_SPEED = 0.1
GOAL_LOW, GOAL_HIGH = -0.5, 0.5
HORIZON = 100


def draw_goal(rng: np.random.Generator) -> np.ndarray:
    """One goal ``g ~ U[-0.5, 0.5]^2`` (2,) float64, the task distribution of the paper."""
    return rng.uniform(GOAL_LOW, GOAL_HIGH, size=2)


def sample_goals(num_tasks: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``num_tasks`` goals ``g ~ U[-0.5, 0.5]^2``, shape (T, 2) float64.

    ``rng`` is a ``np.random.Generator`` or a seed for ``np.random.default_rng``.
    """
    num_tasks = check_int("num_tasks", num_tasks)
    rng = check_rng("rng", rng)
    return rng.uniform(GOAL_LOW, GOAL_HIGH, size=(num_tasks, 2))


def check_goal(goal: Any, name: str = "task") -> np.ndarray:
    """Return ``goal`` as a finite (2,) float64 array or raise ``ValueError`` naming ``name``."""
    goal = to_numpy(goal)
    if goal.shape != (2,):
        raise ValueError(f"{name} must be a goal of shape (2,), got shape {goal.shape}")
    goal = real_array(name, goal).astype(np.float64)
    if not np.all(np.isfinite(goal)):
        raise ValueError(f"{name} must be finite, got {goal}")
    return goal


def check_velocity(action: Any, shape: tuple[int, ...], name: str = "action") -> np.ndarray:
    """Return ``action`` as a finite float64 array of ``shape`` or raise ``ValueError``.

    Values outside the box are allowed here: :func:`clip_velocity` clips them,
    as the authors' ``normalize`` wrapper does.
    """
    action = to_numpy(action)
    if action.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got shape {action.shape}")
    if not np.issubdtype(action.dtype, np.number) or np.iscomplexobj(action):
        raise TypeError(f"{name} must hold real numbers, got dtype {action.dtype}")
    action = action.astype(np.float64)
    if not np.all(np.isfinite(action)):
        raise ValueError(f"{name} must be finite, got {action}")
    return action


def clip_velocity(action: np.ndarray) -> np.ndarray:
    """``clip(a, -0.1, 0.1)`` per coordinate, (..., 2) -> (..., 2)."""
    return np.clip(action, -MAX_SPEED, MAX_SPEED)


def distance_to_goal(position: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Euclidean distance ``||x - g||_2``, (..., 2) and (..., 2) -> (...)."""
    offset = position - goal
    return np.sqrt(offset[..., 0] ** 2 + offset[..., 1] ** 2)


def reached_goal(position: np.ndarray, goal: np.ndarray, tolerance: float | None) -> np.ndarray:
    """The authors' ``done``: ``|x - g|`` below ``tolerance`` in both coordinates, (...) bool.

    ``tolerance=None`` never terminates (the default of this package).
    """
    if tolerance is None:
        return np.zeros(position.shape[:-1], dtype=bool)
    return np.all(np.abs(position - goal) < tolerance, axis=-1)


def _check_tolerance(goal_tolerance: float | None) -> float | None:
    if goal_tolerance is None:
        return None
    return check_float("goal_tolerance", goal_tolerance, minimum=0, strict=True)


def _observation_space(horizon: int) -> spaces.Box:
    # The robot moves at most 0.1 per coordinate and step, so it stays in this box.
    bound = np.float32(horizon * MAX_SPEED)
    return spaces.Box(-bound, bound, shape=(2,), dtype=np.float32)


class Navigation2D(TaskEnv):
    """The MAML-RL point robot: one goal (task), episodes of ``horizon`` steps.

    ``reset(seed=None, options=None) -> (obs (2,) float32, {})`` puts the robot
    at the origin; ``options={"task": goal}`` pins a new goal (see the module
    docstring for the persistence rule). ``step(action (2,)) -> (obs, reward,
    terminated, truncated, {})`` with ``reward = -||x_{t+1} - g||``; actions
    outside ``[-0.1, 0.1]^2`` are clipped, wrong shapes and non-finite values
    raise ``ValueError``. Torch tensors are accepted as actions and goals.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        horizon: int = HORIZON,
        goal_tolerance: float | None = None,
        task: Any = None,
        resample_task_on_reset: bool = False,
    ) -> None:
        self.horizon = check_int("horizon", horizon)
        self.goal_tolerance = _check_tolerance(goal_tolerance)
        self.resample_task_on_reset = check_bool("resample_task_on_reset", resample_task_on_reset)
        self.observation_space = _observation_space(self.horizon)
        self.action_space = spaces.Box(-MAX_SPEED, MAX_SPEED, shape=(2,), dtype=np.float32)
        self._position = np.zeros(2)
        self._steps = 0
        self._needs_reset = True
        self._init_task(task)

    def _check_task(self, goal: Any, name: str) -> np.ndarray:
        return check_goal(goal, name)

    def _draw_task(self, rng: np.random.Generator) -> np.ndarray:
        return draw_goal(rng)

    def sample_tasks(self, num_tasks: int, rng: np.random.Generator | int | None = None):
        """(T, 2) goals from the task distribution; ``rng=None`` uses the env's ``np_random``."""
        return sample_goals(num_tasks, self.np_random if rng is None else rng)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode at the origin; returns ``(obs (2,) float32, info {})``."""
        self._begin_reset(seed, options)
        self._position = np.zeros(2)
        self._steps = 0
        self._needs_reset = False
        return self._position.astype(np.float32), {}

    def step(self, action: Any):
        """Move ``x <- x + clip(a)``; returns ``(obs, -||x - g||, terminated, truncated, {})``."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step(): the episode is over or never began")
        velocity = clip_velocity(check_velocity(action, (2,)))
        self._position = self._position + velocity
        self._steps += 1
        reward = -float(distance_to_goal(self._position, self._task))
        terminated = bool(reached_goal(self._position, self._task, self.goal_tolerance))
        truncated = self._steps >= self.horizon
        self._needs_reset = terminated or truncated
        return self._position.astype(np.float32), reward, terminated, truncated, {}


class BatchedNavigation2D(BatchedTaskEnv):
    """``num_envs`` point robots stepped at once with NumPy, each with its own goal.

    Gives exactly the transitions of ``SyncVectorEnv([Navigation2D] * E)`` with
    the same constructor arguments, seeds, options and actions, including its
    next-step autoreset: the step after an episode ends returns the reset
    observation with reward 0 and ignores that env's action. Seeds map as in
    ``SyncVectorEnv``: ``reset(seed=s)`` seeds env ``i`` with ``s + i``.

    ``reset(seed, options) -> (obs (E, 2) float32, {})``; ``options["task"]`` is
    one goal (2,) for every env (as ``SyncVectorEnv`` passes options) or (E, 2).
    ``step(actions (E, 2)) -> (obs (E, 2) float32, rewards (E,) float64,
    terminated (E,) bool, truncated (E,) bool, {})``; actions may be torch tensors.
    """

    task_noun = "goal"

    def __init__(
        self,
        num_envs: int,
        horizon: int = HORIZON,
        goal_tolerance: float | None = None,
        task: Any = None,
        resample_task_on_reset: bool = False,
    ) -> None:
        num_envs = check_int("num_envs", num_envs)
        self.horizon = check_int("horizon", horizon)
        self.goal_tolerance = _check_tolerance(goal_tolerance)
        self._positions = np.zeros((num_envs, 2))
        self._steps = np.zeros(num_envs, dtype=np.int64)
        action_space = spaces.Box(-MAX_SPEED, MAX_SPEED, shape=(2,), dtype=np.float32)
        self._setup(num_envs, _observation_space(self.horizon), action_space, (2,), draw_goal,
                    resample_task_on_reset, task)

    def sample_tasks(self, num_tasks: int, rng: np.random.Generator | int | None = None):
        """(T, 2) goals from the task distribution, drawn from ``rng`` (a Generator or seed)."""
        return sample_goals(num_tasks, rng)

    def reset(self, *, seed: SeedArg = None, options: dict[str, Any] | None = None):
        """Reset every env to the origin; returns ``(obs (E, 2) float32, {})``."""
        self._begin_reset(options)
        self._slots.reset(range(self.num_envs), per_env_seeds(seed, self.num_envs))
        self._positions[:] = 0.0
        self._steps[:] = 0
        return self._positions.astype(np.float32), {}

    def step(self, actions: Any):
        """Move every robot ``x <- x + clip(a)``; envs whose episode ended last step reset."""
        self._check_started()
        velocities = clip_velocity(check_velocity(actions, (self.num_envs, 2), "actions"))
        restarting = self._autoreset.copy()
        self._positions += velocities
        self._steps += 1
        rewards = -distance_to_goal(self._positions, self._slots.tasks)
        terminated = reached_goal(self._positions, self._slots.tasks, self.goal_tolerance)
        truncated = self._steps >= self.horizon
        if restarting.any():
            self._restart(restarting, rewards, terminated, truncated)
        self._autoreset = terminated | truncated
        return self._positions.astype(np.float32), rewards, terminated, truncated, {}

    def _restart(self, mask, rewards, terminated, truncated) -> None:
        """Next-step autoreset of the envs in ``mask`` (E,): origin, reward 0, flags False."""
        env_ids = np.flatnonzero(mask)
        self._slots.reset(env_ids, [None] * len(env_ids))
        self._positions[mask] = 0.0
        self._steps[mask] = 0
        rewards[mask] = 0.0
        terminated[mask] = False
        truncated[mask] = False

    def _check_task(self, goal: Any, name: str) -> np.ndarray:
        return check_goal(goal, name)
