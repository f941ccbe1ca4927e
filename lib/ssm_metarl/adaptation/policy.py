"""Online weight updates of a policy during inference: the RL counterpart of TestTimeAdapter.

Dimension letters used in shapes:

====  =====================================================================
G     tasks played at once, each with its own fast weights
R     rounds of play; an update follows every round but the last
m     episodes per round (``every``)
D     numbers that define a task (navigation: the 2-D goal)
====  =====================================================================

:class:`PolicyAdapter` plays a policy on G tasks in rounds of ``every``
episodes (``trajectories`` in parallel per task) and, after each round, takes
``steps`` vanilla policy-gradient steps (linear baseline, as MAML-RL's inner
loop) on what that round just experienced, updating only the parameters in
``adapt``. The order is predict-then-update, as for
:class:`~ssm_metarl.adaptation.TestTimeAdapter`: a round is played with
weights that have seen only earlier rounds, so its returns never use rewards
not yet seen. A recurrent policy's memory is carried across a round's
episodes (``carry_state=True``) or reset at each; it is always reset between
rounds. The loop itself is :func:`ssm_metarl.meta_rl.adapt_online` (which
MAML-RL's evaluation uses too); this class is its configuration with names.

:meth:`PolicyAdapter.run_trial` updates *during* a trial instead: every
``every_steps`` steps, one step of size ``lr`` on the last ``every_steps``
rows whose ``every_steps``-step returns have arrived, while the task may
jump mid-trial (:func:`ssm_metarl.meta_rl.adapt_within_trial`). T below is
the trial's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from .._validate import Params, check_float, check_int
from ..envs.families import NavigationTasks
from ..meta_rl import (
    OnlineRun,
    TrialRun,
    adapt_online,
    adapt_within_trial,
    check_param_names,
    goal_array,
)

__all__ = ["PolicyAdapter"]


@dataclass
class PolicyAdapter:
    """Policy-gradient updates between rounds of play (module docstring).

    - ``lr``: step size of every update (0 keeps the policy frozen).
    - ``steps``: gradient steps on each round's data.
    - ``every``: episodes per round, i.e. an update every ``every`` episodes.
    - ``trajectories``: trajectories per task and round (K parallel envs).
    - ``carry_state``: carry a recurrent policy's memory across a round's episodes.
    - ``adapt``: names of the parameters to update (None: all but a critic head).
    - ``every_steps``: for :meth:`run_trial`, an update every that many steps
      (None: the weights stay frozen during the trial).
    """

    lr: float = 0.1
    steps: int = 1
    every: int = 1
    trajectories: int = 10
    carry_state: bool = True
    adapt: Sequence[str] | None = None
    gamma: float = 0.99
    baseline_reg: float = 1e-5
    every_steps: int | None = None

    def __post_init__(self) -> None:
        check_float("lr", self.lr, minimum=0)
        for name in ("steps", "every", "trajectories"):
            check_int(name, getattr(self, name))
        check_float("gamma", self.gamma, minimum=0, maximum=1)
        check_float("baseline_reg", self.baseline_reg, minimum=0)
        if self.every_steps is not None:
            check_int("every_steps", self.every_steps)
        if not isinstance(self.carry_state, bool):
            raise TypeError(f"carry_state must be True or False, got {self.carry_state!r}")
        if self.adapt is not None:
            if isinstance(self.adapt, str) or not all(isinstance(n, str) for n in self.adapt):
                raise TypeError(f"adapt must be None or a list of parameter names, got "
                                f"{self.adapt!r}")
            self.adapt = tuple(self.adapt)

    def run(
        self,
        policy: nn.Module,
        goals: Any,
        rounds: int,
        *,
        params: Params | None = None,
        family: Any = None,
        seed: int = 0,
    ) -> OnlineRun:
        """Play ``rounds`` rounds on every task and adapt between them.

        ``goals`` is (G, D), one task each kept for all rounds, or (G, R, D),
        each round's task (a task that moves). ``family`` (default
        :class:`~ssm_metarl.envs.families.NavigationTasks`) builds the envs.
        Returns the :class:`~ssm_metarl.meta_rl.OnlineRun` (returns (G, R, m)).
        """
        rounds = check_int("rounds", rounds)
        goals = goal_array(goals)
        if goals.ndim == 2:
            goals = np.repeat(goals[:, None], rounds, axis=1)
        if goals.ndim != 3 or goals.shape[1] != rounds:
            raise ValueError(f"goals must be (G, D) or (G, rounds={rounds}, D), got "
                             f"{goals.shape}")
        self._check_adapt(policy)
        return adapt_online(policy, params, goals, (self.lr,) * (rounds - 1),
                            family or NavigationTasks(),
                            trajectories_per_task=self.trajectories, episodes_per_round=self.every,
                            carry_state=self.carry_state, inner_steps=self.steps,
                            names=self.adapt, gamma=self.gamma, baseline_reg=self.baseline_reg,
                            seed=seed)

    def run_trial(
        self,
        policy: nn.Module,
        goals: Any,
        *,
        episodes: int = 1,
        jump_row: int | None = None,
        jump_goals: Any = None,
        params: Params | None = None,
        family: Any = None,
        seed: int = 0,
    ) -> TrialRun:
        """One trial of ``episodes`` episodes on every goal (G, D), updated every ``every_steps``.

        The goal may jump to ``jump_goals`` (G, D) before row ``jump_row``.
        Returns the :class:`~ssm_metarl.meta_rl.TrialRun` (rewards (G, T)).
        """
        self._check_adapt(policy)
        return adapt_within_trial(policy, params, goals, family or NavigationTasks(),
                                  episodes=episodes, every_steps=self.every_steps,
                                  step_size=self.lr, jump_row=jump_row, jump_goals=jump_goals,
                                  trajectories_per_task=self.trajectories, names=self.adapt,
                                  gamma=self.gamma, seed=seed)

    def _check_adapt(self, policy: Any) -> None:
        if isinstance(policy, nn.Module):
            check_param_names(self.adapt, dict(policy.named_parameters()), "adapt")
