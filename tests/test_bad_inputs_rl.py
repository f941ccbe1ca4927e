"""Bad inputs of rl (returns, GAE, PPO, the linear baseline): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _FakeEnv, _fit, _gae, _mlp, _ppo, _returns, _t, table_tests

from ssm_metarl import rl

CASES = [
    ("rl.discounted_returns gamma='0.9'", lambda p: _returns(gamma="0.9"), ValueError, "gamma"),
    ("rl.discounted_returns gamma=1.5", lambda p: _returns(gamma=1.5), ValueError, "gamma"),
    ("rl.discounted_returns rewards numpy", lambda p: _returns(rewards=np.zeros((4, 2))),
     TypeError, "rewards"),
    ("rl.discounted_returns dones shape", lambda p: _returns(dones=_t(4, 3)), ValueError, "dones"),
    ("rl.discounted_returns dones=2", lambda p: _returns(dones=torch.full((4, 2), 2.0)),
     ValueError, "dones"),
    ("rl.discounted_returns last_value numpy", lambda p: _returns(last_value=np.zeros(2)),
     TypeError, "last_value"),
    ("rl.discounted_returns last_value shape", lambda p: _returns(last_value=_t(3)), ValueError,
     "last_value"),
    ("rl.gae lam='0.95'", lambda p: _gae(lam="0.95"), ValueError, "lam"),
    ("rl.gae values shape", lambda p: _gae(values=_t(4, 3)), ValueError, "values"),
    ("rl.gae last_value numpy", lambda p: _gae(last_value=np.zeros(2)), TypeError, "last_value"),
    ("rl.gae dones=-1", lambda p: _gae(dones=torch.full((4, 2), -1.0)), ValueError, "dones"),
    ("rl.gae rewards complex", lambda p: _gae(rewards=_t(4, 2, dtype=torch.complex64)),
     TypeError, "rewards"),
    ("rl.ppo_loss clip=1.5", lambda p: _ppo(clip=1.5), ValueError, "clip"),
    ("rl.ppo_loss clip='0.2'", lambda p: _ppo(clip="0.2"), ValueError, "clip"),
    ("rl.ppo_loss advantages shape", lambda p: _ppo(advantages=_t(4)), ValueError, "advantages"),
    ("rl.ppo_loss old_log_probs numpy", lambda p: _ppo(old_log_probs=np.zeros(5)), TypeError,
     "old_log_probs"),
    ("rl.ppo_loss mask float", lambda p: _ppo(mask=_t(5)), TypeError, "mask"),
    ("rl.reinforce_loss log_probs list",
     lambda p: rl.reinforce_loss([0.0], _t(1)), TypeError, "log_probs"),
    ("rl.LinearFeatureBaseline reg_coeff='1'",
     lambda p: rl.LinearFeatureBaseline(reg_coeff="1"), ValueError, "reg_coeff"),
    ("rl.LinearFeatureBaseline.fit returns nan",
     lambda p: _fit(returns=torch.full((4, 2), math.nan)), ValueError, "returns"),
    ("rl.LinearFeatureBaseline.fit obs nan",
     lambda p: _fit(obs=torch.full((4, 2, 3), math.nan)), ValueError, "obs"),
    ("rl.LinearFeatureBaseline.fit obs numpy", lambda p: _fit(obs=np.zeros((4, 2, 3))),
     TypeError, "obs"),
    ("rl.LinearFeatureBaseline.fit returns shape", lambda p: _fit(returns=_t(4, 3)), ValueError,
     "returns"),
    ("rl.LinearFeatureBaseline.fit mask shape",
     lambda p: _fit(mask=torch.ones(4, 3, dtype=torch.bool)), ValueError, "mask"),
    ("rl.collect_rollouts env", lambda p: rl.collect_rollouts(object(), _mlp(), 3), TypeError,
     "env"),
    ("rl.collect_rollouts num_steps=0", lambda p: rl.collect_rollouts(_FakeEnv(), _mlp(), 0),
     ValueError, "num_steps"),
    ("rl.collect_rollouts action_scale='1'",
     lambda p: rl.collect_rollouts(_FakeEnv(), _mlp(), 3, action_scale="1"), ValueError,
     "action_scale"),
    ("rl.collect_rollouts num_steps=2.0", lambda p: rl.collect_rollouts(_FakeEnv(), _mlp(), 2.0),
     ValueError, "num_steps"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
