"""Bernoulli bandit trials for RL^2 (Duan et al. 2016, Section 4.1 and Table 1).

Dimension letters used in shapes:

====  =====================================================================
E     parallel environments (bandit instances) of the batched env
T     tasks drawn at once by :func:`sample_arm_probabilities`
K     arms, ``k``
D     observation features, ``K + 2`` (+1 with the time feature)
====  =====================================================================

A task is one bandit: arm probabilities ``p ~ U[0, 1]^K``. Pulling arm ``a``
pays 1 with probability ``p_a`` and 0 otherwise.

Mapping to RL^2: a *trial* of RL^2 is ``n`` pulls of one bandit, and each
RL^2 *episode* inside the trial is a single pull. Here one gymnasium episode
is one whole trial, so the policy keeps its memory within an episode and
resets it between episodes. The episode ends with ``terminated=True`` after
``n`` pulls (never ``truncated``): the trial really is over, nothing is left
to bootstrap from, and the objective is the total reward of the trial.

Observation (D,) float32, all features in [0, 1], as RL^2 feeds its GRU
``(a_{t-1}, r_{t-1}, d_{t-1})`` (the bandit has no state ``s``):

- ``[0:K]`` one-hot of the previous arm (all zero at the start of a trial);
- ``[K]`` the previous reward;
- ``[K+1]`` RL^2's termination flag: 1 after every pull, since every pull
  ends an RL^2 episode; 0 only in the first observation of a trial;
- ``[K+2]`` (``time_feature=True``, the default) pulls made so far over
  ``n``, which lets a feed-forward or short-memory policy know how much of the
  trial remains; ``time_feature=False`` gives exactly RL^2's inputs.

Randomness: ``reset`` draws, from the env's ``np_random``, first the arm
probabilities (when a new task is due) and then ``n`` uniforms
``u_1..u_n``; pull ``t`` of arm ``a`` pays ``1[u_t < p_a]``. Each reward is
Bernoulli(``p_a``) and independent of the others, and two policies run with
the same seed face the same noise (common random numbers), which makes their
comparison less noisy.

Task persistence (the rule of :func:`ssm_metarl.envs._common.needs_new_task`):
by default (``resample_task_on_reset=True``) every reset draws a new bandit,
so each episode of a vector env is a fresh trial, as RL^2 trains. A task
given by ``set_task(p)``, the ``task=`` argument or
``reset(options={"task": p})`` is pinned and kept at every reset until a new
one is given (``None`` unpins).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from gymnasium import spaces

from .._validate import check_bool, check_int, check_rng
from ._common import (
    BatchedTaskEnv,
    SeedArg,
    TaskEnv,
    per_env_seeds,
    real_array,
    to_numpy,
)

__all__ = ["BatchedBernoulliBandit", "BernoulliBandit", "sample_arm_probabilities"]
"""The env API; the helpers below (``draw_arm_probabilities``, ``check_arms``, ...) are this
module's building blocks, called with checked values."""


def draw_arm_probabilities(rng: np.random.Generator, k: int) -> np.ndarray:
    """One bandit: ``p ~ U[0, 1]^K`` (K,) float64 (Duan et al. 2016, Section 4.1)."""
    return rng.random(k)


def sample_arm_probabilities(
    num_tasks: int, k: int, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """``num_tasks`` bandits, (T, K) float64; ``rng`` is a Generator or a seed."""
    num_tasks = check_int("num_tasks", num_tasks)
    return check_rng("rng", rng).random((num_tasks, check_int("k", k)))


def draw_reward_uniforms(rng: np.random.Generator, n: int) -> np.ndarray:
    """The ``n`` uniforms (n,) of one trial; pull ``t`` pays ``1[u_t < p_a]``."""
    return rng.random(n)


def bernoulli_reward(uniform: np.ndarray, arm_probability: np.ndarray) -> np.ndarray:
    """``1[u < p_a]`` as float64, elementwise: a Bernoulli(``p_a``) draw from a uniform."""
    return (uniform < arm_probability).astype(np.float64)


def check_arm_probabilities(task: Any, k: int, name: str = "task") -> np.ndarray:
    """Return ``task`` as (K,) float64 probabilities in [0, 1] or raise ``ValueError``."""
    task = to_numpy(task)
    if task.shape != (k,):
        raise ValueError(
            f"{name} must hold one probability per arm, shape ({k},), got shape {task.shape}"
        )
    task = real_array(name, task).astype(np.float64)
    if not np.all((task >= 0.0) & (task <= 1.0)):
        raise ValueError(f"{name} must be arm probabilities in [0, 1], got {task}")
    return task


def check_arms(action: Any, k: int, shape: tuple[int, ...], name: str = "action") -> np.ndarray:
    """Return ``action`` as int64 arm indices of ``shape`` in ``[0, K)`` or raise."""
    action = to_numpy(action)
    if action.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (arm indices), got {action.shape}")
    if not np.issubdtype(action.dtype, np.integer):
        raise TypeError(f"{name} must hold integer arm indices, got dtype {action.dtype}")
    if np.any((action < 0) | (action >= k)):
        raise ValueError(f"{name} must be arm indices in [0, {k - 1}], got {action}")
    return action.astype(np.int64)


def rl2_observation(
    prev_arms: np.ndarray,
    prev_rewards: np.ndarray,
    pulls: np.ndarray,
    k: int,
    n: int,
    time_feature: bool,
) -> np.ndarray:
    """RL^2 inputs ``[one_hot(a_{t-1}), r_{t-1}, d_{t-1}=1, (t / n)]``, (E,) x 3 -> (E, D).

    For the observation after a pull; the first observation of a trial is all zeros.
    """
    num_envs = prev_arms.shape[0]
    obs = np.zeros((num_envs, k + 2 + int(time_feature)), dtype=np.float32)
    obs[np.arange(num_envs), prev_arms] = 1.0
    obs[:, k] = prev_rewards
    obs[:, k + 1] = 1.0
    if time_feature:
        obs[:, k + 2] = pulls / n
    return obs


def _observation_space(k: int, time_feature: bool) -> spaces.Box:
    return spaces.Box(0.0, 1.0, shape=(k + 2 + int(time_feature),), dtype=np.float32)


class BernoulliBandit(TaskEnv):
    """One RL^2 trial per episode: ``n`` pulls of a ``k``-armed Bernoulli bandit.

    ``reset(seed=None, options=None) -> (obs (D,) float32, {})``;
    ``options={"task": p}`` pins the arm probabilities ``p`` (K,).
    ``step(arm) -> (obs (D,), reward in {0., 1.}, terminated, False, {})`` with
    ``terminated=True`` at the ``n``-th pull. Out-of-range or non-integer arms
    raise. See the module docstring for the observation and the task rule.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        k: int = 5,
        n: int = 10,
        task: Any = None,
        resample_task_on_reset: bool = True,
        time_feature: bool = True,
    ) -> None:
        self.k = check_int("k", k)
        self.n = check_int("n", n)
        self.resample_task_on_reset = check_bool("resample_task_on_reset", resample_task_on_reset)
        self.time_feature = check_bool("time_feature", time_feature)
        self.observation_space = _observation_space(self.k, self.time_feature)
        self.action_space = spaces.Discrete(self.k)
        self._uniforms = np.zeros(self.n)
        self._pulls = 0
        self._needs_reset = True
        self._init_task(task)

    def _check_task(self, probabilities: Any, name: str) -> np.ndarray:
        return check_arm_probabilities(probabilities, self.k, name)

    def _draw_task(self, rng: np.random.Generator) -> np.ndarray:
        return draw_arm_probabilities(rng, self.k)

    def sample_tasks(self, num_tasks: int, rng: np.random.Generator | int | None = None):
        """(T, K) bandits ``p ~ U[0, 1]^K``; ``rng=None`` uses the env's ``np_random``."""
        return sample_arm_probabilities(num_tasks, self.k, self.np_random if rng is None else rng)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a trial; returns ``(obs (D,) float32 zeros, info {})``."""
        self._begin_reset(seed, options)
        self._uniforms = draw_reward_uniforms(self.np_random, self.n)
        self._pulls = 0
        self._needs_reset = False
        return np.zeros(self.observation_space.shape, dtype=np.float32), {}

    def step(self, action: Any):
        """Pull arm ``a``: reward ``1[u_t < p_a]``; the ``n``-th pull terminates the trial."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step(): the trial is over or never began")
        arm = int(check_arms(action, self.k, ()))
        reward = float(bernoulli_reward(self._uniforms[self._pulls], self._task[arm]))
        self._pulls += 1
        obs = rl2_observation(
            np.array([arm]),
            np.array([reward]),
            np.array([self._pulls]),
            self.k,
            self.n,
            self.time_feature,
        )[0]
        terminated = self._pulls >= self.n
        self._needs_reset = terminated
        return obs, reward, terminated, False, {}


class BatchedBernoulliBandit(BatchedTaskEnv):
    """``num_envs`` bandit trials stepped at once with NumPy.

    Gives exactly the transitions of ``SyncVectorEnv([BernoulliBandit] * E)``
    with the same arguments, seeds, options and actions, including next-step
    autoreset (the step after a trial ends returns the first observation of the
    next trial, reward 0, and ignores the action). Env ``i`` owns the generator
    a single env seeded with ``s + i`` would own, and draws the same numbers
    from it in the same order, once per trial, so stepping stays vectorised.

    ``reset(seed, options) -> (obs (E, D) float32, {})``; ``options["task"]`` is
    one bandit (K,) for every env or (E, K). ``step(arms (E,) int) -> (obs (E, D),
    rewards (E,) float64, terminated (E,) bool, truncated (E,) bool, {})``.
    """

    task_noun = "bandit"

    def __init__(
        self,
        num_envs: int,
        k: int = 5,
        n: int = 10,
        task: Any = None,
        resample_task_on_reset: bool = True,
        time_feature: bool = True,
    ) -> None:
        num_envs = check_int("num_envs", num_envs)
        self.k = check_int("k", k)
        self.n = check_int("n", n)
        self.time_feature = check_bool("time_feature", time_feature)
        self._uniforms = np.zeros((num_envs, self.n))
        self._pulls = np.zeros(num_envs, dtype=np.int64)
        self._setup(num_envs, _observation_space(self.k, self.time_feature),
                    spaces.Discrete(self.k), (self.k,), partial(draw_arm_probabilities, k=self.k),
                    resample_task_on_reset, task)

    def sample_tasks(self, num_tasks: int, rng: np.random.Generator | int | None = None):
        """(T, K) bandits ``p ~ U[0, 1]^K`` drawn from ``rng`` (a Generator or seed)."""
        return sample_arm_probabilities(num_tasks, self.k, rng)

    def reset(self, *, seed: SeedArg = None, options: dict[str, Any] | None = None):
        """Start a new trial in every env; returns ``(obs (E, D) float32 zeros, {})``."""
        self._begin_reset(options)
        self._start_trials(np.arange(self.num_envs), per_env_seeds(seed, self.num_envs))
        return np.zeros(self.observation_space.shape, dtype=np.float32), {}

    def step(self, actions: Any):
        """Pull one arm per env; envs whose trial ended at the last step start a new one."""
        self._check_started()
        arms = check_arms(actions, self.k, (self.num_envs,), "actions")
        restarting = self._autoreset
        if restarting.any():
            env_ids = np.flatnonzero(restarting)
            self._start_trials(env_ids, [None] * len(env_ids))
        rows = np.arange(self.num_envs)
        rewards = bernoulli_reward(self._uniforms[rows, self._pulls], self._slots.tasks[rows, arms])
        self._pulls += ~restarting
        obs = rl2_observation(arms, rewards, self._pulls, self.k, self.n, self.time_feature)
        terminated = self._pulls >= self.n
        obs[restarting] = 0.0
        rewards[restarting] = 0.0
        terminated[restarting] = False
        self._autoreset = terminated.copy()
        return obs, rewards, terminated, np.zeros(self.num_envs, dtype=bool), {}

    def _start_trials(self, env_ids: np.ndarray, seeds: list[int | None]) -> None:
        """Draw tasks (per the persistence rule) and the trial's uniforms for ``env_ids``."""
        self._slots.reset(env_ids, seeds)
        for i in env_ids:
            self._uniforms[i] = draw_reward_uniforms(self._slots.generators[i], self.n)
        self._pulls[env_ids] = 0

    def _check_task(self, probabilities: Any, name: str) -> np.ndarray:
        return check_arm_probabilities(probabilities, self.k, name)
