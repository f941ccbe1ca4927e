"""Bad inputs of rl (returns, GAE, PPO, the linear baseline): each is refused naming the argument."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from bad_input_table import _FakeEnv, _fit, _gae, _mlp, _ppo, _returns, _t, table_tests

from ssm_metarl import rl


def _rollout(**over):
    """A feed-forward rollout of 2 steps on the 2 envs of _FakeEnv, with fields replaced."""
    rollout = rl.collect_rollouts(_FakeEnv(), _mlp(), 2)
    return dataclasses.replace(rollout, **over) if over else rollout


def _fitted():
    return rl.LinearFeatureBaseline().fit(_t(4, 2, 3), torch.zeros(4, 2), _t(4, 2))


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
    ("rl.LinearFeatureBaseline.features obs numpy",
     lambda p: rl.LinearFeatureBaseline.features(np.zeros((4, 3)), torch.zeros(4)), TypeError,
     "obs"),
    ("rl.LinearFeatureBaseline.features obs long",
     lambda p: rl.LinearFeatureBaseline.features(torch.zeros(4, 3, dtype=torch.long),
                                                 torch.zeros(4)), TypeError, "obs"),
    ("rl.LinearFeatureBaseline.features time_steps shape",
     lambda p: rl.LinearFeatureBaseline.features(_t(4, 3), torch.zeros(3)), ValueError,
     "time_steps"),
    ("rl.LinearFeatureBaseline.predict obs width (fitted on 3)",
     lambda p: _fitted().predict(_t(4, 2, 5), torch.zeros(4, 2)), ValueError, "obs"),
    ("rl.LinearFeatureBaseline.predict time_steps list",
     lambda p: _fitted().predict(_t(4, 2, 3), [0, 1]), TypeError, "time_steps"),
    ("rl.collect_rollouts env", lambda p: rl.collect_rollouts(object(), _mlp(), 3), TypeError,
     "env"),
    ("rl.collect_rollouts num_steps=0", lambda p: rl.collect_rollouts(_FakeEnv(), _mlp(), 0),
     ValueError, "num_steps"),
    ("rl.collect_rollouts action_scale='1'",
     lambda p: rl.collect_rollouts(_FakeEnv(), _mlp(), 3, action_scale="1"), ValueError,
     "action_scale"),
    ("rl.collect_rollouts num_steps=2.0", lambda p: rl.collect_rollouts(_FakeEnv(), _mlp(), 2.0),
     ValueError, "num_steps"),
    ("rl.Rollout rewards 1-D", lambda p: _rollout(rewards=_t(2)), ValueError, "rewards"),
    ("rl.Rollout obs numpy", lambda p: _rollout(obs=np.zeros((2, 2, 3))), TypeError, "obs"),
    ("rl.Rollout valid float", lambda p: _rollout(valid=torch.ones(2, 2)), TypeError, "valid"),
    ("rl.Rollout.columns index list of floats", lambda p: _rollout().columns([0.5]), TypeError,
     "index"),
    ("rl.Rollout.columns index out of range",
     lambda p: _rollout().columns(torch.tensor([0, 5])), ValueError, "index"),
    ("rl.Rollout.columns bool index shape",
     lambda p: _rollout().columns(torch.ones(3, dtype=torch.bool)), ValueError, "index"),
    ("rl.Rollout.split num_groups=0", lambda p: _rollout().split(0), ValueError, "num_groups"),
    ("rl.Rollout.split num_groups=3 of 2 envs", lambda p: _rollout().split(3), ValueError,
     "num_groups"),
    ("rl.Rollout.split num_groups='2'", lambda p: _rollout().split("2"), ValueError,
     "num_groups"),
    ("rl.episode_returns rollout=dict", lambda p: rl.episode_returns({"rewards": _t(2, 2)}),
     TypeError, "rollout"),
    ("rl.per_episode_returns num_episodes=0", lambda p: rl.per_episode_returns(_rollout(), 0),
     ValueError, "num_episodes"),
    ("rl.per_episode_returns rollout=None", lambda p: rl.per_episode_returns(None, 1),
     TypeError, "rollout"),
    ("rl.first_episode_mask dones numpy",
     lambda p: rl.first_episode_mask(np.zeros((3, 2), bool)), TypeError, "dones"),
    ("rl.first_episode_mask dones=2", lambda p: rl.first_episode_mask(torch.full((3, 2), 2.0)),
     ValueError, "dones"),
    ("rl.first_episode_mask valid float",
     lambda p: rl.first_episode_mask(torch.zeros(3, 2, dtype=torch.bool), torch.ones(3, 2)),
     TypeError, "valid"),
    ("rl.first_episode_mask valid shape",
     lambda p: rl.first_episode_mask(torch.zeros(3, 2, dtype=torch.bool),
                                     torch.ones(3, 1, dtype=torch.bool)), ValueError, "valid"),
    ("rl.masked_mean x numpy", lambda p: rl.masked_mean(np.zeros(3)), TypeError, "x"),
    ("rl.masked_mean x long", lambda p: rl.masked_mean(torch.zeros(3, dtype=torch.long)),
     TypeError, "x"),
    ("rl.masked_mean mask float", lambda p: rl.masked_mean(_t(3), _t(3)), TypeError, "mask"),
    ("rl.masked_mean mask shape",
     lambda p: rl.masked_mean(_t(3), torch.ones(4, dtype=torch.bool)), ValueError, "mask"),
    ("rl.normalize_advantages advantages list", lambda p: rl.normalize_advantages([1.0, 2.0]),
     TypeError, "advantages"),
    ("rl.normalize_advantages eps=0 (0/0 on constant advantages)",
     lambda p: rl.normalize_advantages(_t(3), eps=0.0), ValueError, "eps"),
    ("rl.normalize_advantages mask shape",
     lambda p: rl.normalize_advantages(_t(3), torch.ones(2, dtype=torch.bool)), ValueError,
     "mask"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_rl_still_run():
    rollout = _rollout()
    assert rollout.columns([1]).num_envs == 1
    assert rollout.columns([np.int64(0), 1]).num_envs == 2
    assert rollout.columns(torch.tensor([True, False])).num_envs == 1
    assert rollout.columns(torch.tensor([-1])).num_envs == 1
    assert rollout.columns(slice(0, 1)).num_envs == 1
    assert [r.num_envs for r in rollout.split(np.int64(2))] == [1, 1]
    assert rl.per_episode_returns(rollout, np.int64(2)).shape == (2, 2)
    assert rl.episode_returns(rollout).shape == (2,)
    dones = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    assert rl.first_episode_mask(dones).tolist() == [[True, True], [True, False], [False, False]]
    valid = torch.tensor([[True, True], [False, True], [True, True]])
    # env 0's done on row 1 is an autoreset row (not valid): its first episode goes on
    assert rl.first_episode_mask(dones, valid).tolist() == [[True, True], [False, False],
                                                            [True, False]]
    assert rl.masked_mean(_t(3).double(), torch.ones(3, dtype=torch.bool)).item() == 0.0
    assert rl.normalize_advantages(torch.arange(4.0), torch.ones(4, dtype=torch.bool)).shape == (4,)
    _returns(gamma=np.float32(0.9))
    _gae(lam=np.float64(0.5))
    baseline = _fitted()
    assert baseline.predict(_t(4, 2, 3), torch.zeros(4, 2, dtype=torch.long)).shape == (4, 2)
    assert rl.LinearFeatureBaseline().predict(_t(1, 3), torch.zeros(1)).shape == (1,)
