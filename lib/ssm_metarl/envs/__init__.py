"""Meta-RL environments, registered with gymnasium on ``import ssm_metarl.envs``.

==================================  ===================================================
id                                  environment
==================================  ===================================================
``ssm_metarl/Navigation2D-v0``      :class:`Navigation2D`, MAML-RL's point robot
                                    (Finn et al. 2017); kwargs ``horizon``,
                                    ``goal_tolerance``, ``task``,
                                    ``resample_task_on_reset``
``ssm_metarl/BernoulliBandit-v0``   :class:`BernoulliBandit`, one RL^2 trial of ``n``
                                    pulls of a ``k``-armed bandit (Duan et al. 2016);
                                    kwargs ``k=5``, ``n=10``, ``task``,
                                    ``resample_task_on_reset``, ``time_feature``
==================================  ===================================================

``gymnasium.make(id, **kwargs)`` builds one env; ``gymnasium.make_vec(id,
num_envs=E, **kwargs)`` builds the batched NumPy version
(:class:`BatchedNavigation2D`, :class:`BatchedBernoulliBandit`), which gives
the same transitions as ``vectorization_mode="sync"`` at a fraction of the cost.

Both envs keep a task (goal or arm probabilities) across the automatic resets
of a vector env when it is pinned with ``set_task`` / ``options={"task": ...}``;
the navigation goal also persists when drawn by the env itself, while the
bandit draws a new one per trial (episode). Each module's docstring states
the rule in full. Classical bandit baselines live in
:mod:`ssm_metarl.envs.bandit_baselines`.
"""

from __future__ import annotations

import gymnasium

from .bandit import BatchedBernoulliBandit, BernoulliBandit, sample_arm_probabilities
from .navigation import BatchedNavigation2D, Navigation2D, sample_goals

NAVIGATION_ID = "ssm_metarl/Navigation2D-v0"
BANDIT_ID = "ssm_metarl/BernoulliBandit-v0"

_ENTRY_POINTS = {
    NAVIGATION_ID: ("navigation:Navigation2D", "navigation:BatchedNavigation2D"),
    BANDIT_ID: ("bandit:BernoulliBandit", "bandit:BatchedBernoulliBandit"),
}


def _register_all() -> None:
    # The episode ends inside the envs (horizon, n pulls), so no TimeLimit wrapper is
    # added; skipping ids already present keeps re-imports (importlib.reload) silent.
    for env_id, (single, batched) in _ENTRY_POINTS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point=f"{__name__}.{single}",
                vector_entry_point=f"{__name__}.{batched}",
            )


_register_all()

__all__ = [
    "BANDIT_ID",
    "NAVIGATION_ID",
    "BatchedBernoulliBandit",
    "BatchedNavigation2D",
    "BernoulliBandit",
    "Navigation2D",
    "sample_arm_probabilities",
    "sample_goals",
]
