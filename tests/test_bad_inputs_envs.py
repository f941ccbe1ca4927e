"""Bad inputs of envs (bandits, 2D navigation, task families): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
from bad_input_table import _families, _nav_env, table_tests

CASES = [
    ("envs.sample_goals rng='x'", lambda p: _families().sample_goals(2, rng="x"), ValueError,
     "rng"),
    ("envs.sample_goals rng=-1", lambda p: _families().sample_goals(2, rng=-1), ValueError, "rng"),
    ("families.NavigationTasks.sample rng='x'",
     lambda p: _families().NavigationTasks().sample(2, rng="x"), ValueError, "rng"),
    ("families.NavigationTasks radius=(0.5, 0.2)",
     lambda p: _families().NavigationTasks(radius=(0.5, 0.2)), ValueError, "radius"),
    ("families.NavigationTasks radius='ab'", lambda p: _families().NavigationTasks(radius="ab"),
     TypeError, "radius"),
    ("families.NavigationTasks goal_tolerance='a'",
     lambda p: _families().NavigationTasks(goal_tolerance="a"), ValueError, "goal_tolerance"),
    ("families.NavigationTasks seed=-1", lambda p: _families().NavigationTasks(seed=-1),
     ValueError, "seed"),
    ("families.NavigationTasks.sample k_query=0",
     lambda p: _families().NavigationTasks().sample(2, 2, 0), ValueError, "k_query"),
    ("families.NavigationTasks.check_task nan",
     lambda p: _families().NavigationTasks().check_task([math.nan, 0.0]), ValueError, "task"),
    ("envs.BatchedNavigation2D.reset seed='a'", lambda p: _nav_env().reset(seed="a"), TypeError,
     "seed"),
    ("envs.BatchedNavigation2D.reset seed=[0, -1]", lambda p: _nav_env().reset(seed=[0, -1]),
     ValueError, "seed"),
    ("envs.BatchedNavigation2D.reset seed=[0]", lambda p: _nav_env().reset(seed=[0]),
     ValueError, "num_envs=2"),
    ("envs.BatchedNavigation2D.step actions (3, 2)",
     lambda p: _nav_env().step(np.zeros((3, 2))), ValueError, "actions"),
    ("envs.BatchedNavigation2D.step actions nan",
     lambda p: _nav_env().step(np.full((2, 2), math.nan)), ValueError, "actions"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
