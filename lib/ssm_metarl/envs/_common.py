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

import numpy as np
from gymnasium.utils import seeding

SeedArg = int | Sequence[int | None] | None


def to_numpy(value: Any) -> np.ndarray:
    """Return ``value`` as a NumPy array; torch tensors are detached and moved to the CPU.

    Checking for ``detach`` instead of importing torch keeps ``import ssm_metarl.envs``
    fast and lets the envs run where torch is absent.
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


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
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ValueError(
            f"seed must be an int, None or a sequence of num_envs={num_envs} seeds; "
            f"got a sequence of length {len(seeds)}"
        )
    return seeds


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


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name`` if it is not >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


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
