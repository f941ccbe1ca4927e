"""RL task families: distributions over tasks that :class:`~ssm_metarl.maml.TaskBatch` samples.

Dimension letters used in shapes:

====  =====================================================================
G     tasks in a meta-batch (``num_tasks``)
D     numbers that define one task (``task_dim``; navigation: the 2-D goal)
E     parallel environments of the batched env (``G * trajectories``)
====  =====================================================================

A task family is the RL counterpart of :class:`~ssm_metarl.tasks.SinusoidTasks`:
``sample(num_tasks, k_support, k_query)`` returns an :class:`RLTaskSample`,
G tasks that carry their env parameters plus how many support and query
trajectories a MAML step collects per task. The family builds the batched
env that rolls out a whole meta-batch at once (``make_env``), and says what a
policy for it must look like (``obs_dim``, ``action_dim``, ``discrete``,
``horizon``, ``action_scale``). Any object with these members plugs into
``TaskBatch`` and ``MetaMAMLTrainer`` (Meta-World's ML1 will be the second).

:class:`NavigationTasks` is 2D navigation (Finn et al. 2017, Section 5.3):
goals from the paper's square U[-0.5, 0.5]^2, or, with ``radius=(r_min,
r_max)``, uniform over the area of a ring (a disc when r_min = 0), the task
distributions of the out-of-distribution experiment of notebook 05 (after
Ajay et al. 2022, Distributionally Adaptive Meta-RL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_device, check_float, check_int, check_rng
from .navigation import HORIZON, BatchedNavigation2D, check_goal, sample_goals

__all__ = ["NavigationTasks", "RLTaskSample"]


@dataclass
class RLTaskSample:
    """A meta-batch of RL tasks: ``tasks`` (G, D), trajectories per task, and their family.

    ``k_support`` trajectories (or trials) per task feed the inner
    policy-gradient step, ``k_query`` the outer step.
    """

    tasks: np.ndarray
    k_support: int
    k_query: int
    family: Any

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def to(self, device: Any) -> RLTaskSample:
        """The same sample (tasks live in NumPy; rollouts land on the policy's device)."""
        check_device("device", device)
        return self


class NavigationTasks:
    """2D navigation goals as a task family (module docstring).

    Args:
        radius: None for the paper's square U[-0.5, 0.5]^2, or ``(r_min,
            r_max)`` with 0 <= r_min < r_max: goals uniform over the area of
            that ring around the start (0, 0).
        horizon: steps per episode (paper: 100).
        goal_tolerance: None (fixed-length episodes, needed for trials of
            several episodes) or the distance that ends an episode early.
        action_scale: the policy output is multiplied by it before the env
            (rllab's ``normalize``; 0.1 makes the paper's step size mean the same).
        seed: seeds the family's own generator, used when ``sample`` gets no ``rng``.
    """

    obs_dim, action_dim, discrete, task_dim = 2, 2, False, 2
    name = "navigation"

    def __init__(
        self,
        radius: tuple[float, float] | None = None,
        horizon: int = HORIZON,
        goal_tolerance: float | None = None,
        action_scale: float = 0.1,
        seed: int = 0,
    ) -> None:
        if radius is not None:
            if not (isinstance(radius, (tuple, list)) and len(radius) == 2):
                raise TypeError(f"radius must be None or a pair (r_min, r_max), got {radius!r}")
            r_min = check_float("radius[0]", radius[0], minimum=0)
            r_max = check_float("radius[1]", radius[1], minimum=0, strict=True)
            if r_min >= r_max:
                raise ValueError(f"radius must satisfy r_min < r_max, got {tuple(radius)}")
            radius = (r_min, r_max)
        self.radius = radius
        self.horizon = check_int("horizon", horizon)
        self.goal_tolerance = None if goal_tolerance is None else check_float(
            "goal_tolerance", goal_tolerance, minimum=0, strict=True)
        self.action_scale = check_float("action_scale", action_scale, minimum=0, strict=True)
        self.seed = check_int("seed", seed, 0)
        self.generator = np.random.default_rng(self.seed)

    def __repr__(self) -> str:
        where = "square [-0.5, 0.5]^2" if self.radius is None else f"ring {self.radius}"
        return f"NavigationTasks({where}, horizon={self.horizon})"

    def sample_tasks(self, num_tasks: int, rng: np.random.Generator | int | None = None
                     ) -> np.ndarray:
        """(G, 2) goals; ``rng`` a Generator or seed (None: the family's own generator)."""
        num_tasks = check_int("num_tasks", num_tasks)
        rng = self.generator if rng is None else check_rng("rng", rng)
        if self.radius is None:
            return sample_goals(num_tasks, rng)
        r_min, r_max = self.radius
        distance = np.sqrt(rng.uniform(r_min**2, r_max**2, size=num_tasks))  # uniform in area
        angle = rng.uniform(0.0, 2 * np.pi, size=num_tasks)
        return np.stack([distance * np.cos(angle), distance * np.sin(angle)], axis=1)

    def sample(self, num_tasks: int, k_support: int = 20, k_query: int = 20,
               rng: np.random.Generator | int | None = None) -> RLTaskSample:
        """G tasks and the trajectories per task of one MAML step (paper: 20 and 20)."""
        return RLTaskSample(self.sample_tasks(num_tasks, rng), check_int("k_support", k_support),
                            check_int("k_query", k_query), self)

    def check_task(self, task: Any, name: str = "task") -> np.ndarray:
        """One goal as a finite (2,) float64 array, or a ValueError naming ``name``."""
        return check_goal(task, name)

    def make_env(self, num_envs: int) -> BatchedNavigation2D:
        """The batched env for ``num_envs`` trajectories; pin goals with ``env.set_task``."""
        return BatchedNavigation2D(num_envs, horizon=self.horizon,
                                   goal_tolerance=self.goal_tolerance)
