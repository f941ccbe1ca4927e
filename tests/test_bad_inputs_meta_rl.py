"""Bad inputs of meta_rl (RL², MAML-RL, online adaptation): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _evaluate, _FakeEnv, _families, _meta, _mlp, table_tests

from ssm_metarl import meta_rl, rl

CASES = [
    ("meta_rl.evaluate_maml_rl params missing keys",
     lambda p: _evaluate(params={"log_std": torch.zeros(2)}), ValueError, "net.0.weight"),
    ("meta_rl.evaluate_maml_rl params=list", lambda p: _evaluate(params=[1]), TypeError,
     "params"),
    ("meta_rl.evaluate_maml_rl trajectories_per_task=0",
     lambda p: _evaluate(trajectories_per_task=0), ValueError, "trajectories_per_task"),
    ("meta_rl.evaluate_maml_rl goals nan", lambda p: _evaluate(goals=np.full((2, 2), math.nan)),
     ValueError, "goals"),
    ("meta_rl.evaluate_maml_rl per-round goals nan",
     lambda p: _evaluate(goals=np.full((2, 2, 2), math.nan)), ValueError, "goals"),
    ("meta_rl.navigation_oracle_returns goals nan",
     lambda p: meta_rl.navigation_oracle_returns(np.full((2, 2), math.nan)), ValueError, "goals"),
    ("meta_rl.policy_gradient_advantages num_tasks=0",
     lambda p: meta_rl.policy_gradient_advantages(
         rl.collect_rollouts(_FakeEnv(), _mlp(), 2), 0, 0.99), ValueError, "num_tasks"),
    ("meta_rl.MAMLRLConfig outer=sgd", lambda p: meta_rl.MAMLRLConfig(outer="sgd"), ValueError,
     "outer"),
    ("meta_rl.PolicyMAMLConfig trpo=1", lambda p: meta_rl.PolicyMAMLConfig(trpo=1), TypeError,
     "trpo"),
    ("meta_rl.maml_rl_step config=1",
     lambda p: meta_rl.maml_rl_step(_mlp(), {}, None, _families().NavigationTasks().sample(2), 1,
                                    np.random.default_rng(0), 0), TypeError, "config"),
    ("meta_rl.maml_rl_step batch=goals",
     lambda p: meta_rl.maml_rl_step(_mlp(), {}, None, np.zeros((2, 2)),
                                    meta_rl.PolicyMAMLConfig(), np.random.default_rng(0), 0),
     TypeError, "batch"),
    ("meta_rl.train_maml_rl on_iteration=1",
     lambda p: meta_rl.train_maml_rl(_mlp(), meta_rl.MAMLRLConfig(num_meta_iterations=1),
                                     progress=False, on_iteration=1), TypeError, "on_iteration"),
    ("meta_rl.train_pretrained on_iteration='every 10'",
     lambda p: meta_rl.train_pretrained(_mlp(), progress=False, on_iteration="every 10"),
     TypeError, "on_iteration"),
    ("meta_rl.train_rl2 on_iteration=[]",
     lambda p: meta_rl.train_rl2(_meta(), progress=False, on_iteration=[]), TypeError,
     "on_iteration"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
