"""Bad inputs of policies (MLP, GRU and SSM meta-policies): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _gru, _meta, _mlp, _t, table_tests

from ssm_metarl import policies

LONG, BOOL = torch.long, torch.bool


def _own(policy):
    return {name: p.detach() for name, p in policy.named_parameters()}


def _adapted(policy=None):
    policy = _mlp() if policy is None else policy
    return policies.AdaptedPolicy(policy, _own(policy))


def _spoiled(policy, name, value):
    return {**_own(policy), name: value}


def _groups(**over):
    """act_with_groups of _meta() with 2 groups of 2 sequences, arguments replaced."""
    policy = _meta()
    args = {"policy": policy, "params": [_own(policy)] * 2, "x_t": _t(4, 6),
            "state": policy.init_state(4), "reset": torch.zeros(4, dtype=BOOL)}
    args.update(over)
    return policies.act_with_groups(**args)


def _rl2(**over):
    args = {"obs": _t(3, 2), "prev_action": torch.tensor([-1, 0, 1]), "prev_reward": _t(3),
            "prev_done": torch.zeros(3, dtype=BOOL), "action_dim": 2, "discrete": True}
    args.update(over)
    return policies.rl2_input(**args)


CASES = [
    ("policies.MLPPolicy obs_dim=0", lambda p: policies.MLPPolicy(0, 2), ValueError, "obs_dim"),
    ("policies.MLPPolicy init_log_std='0'", lambda p: policies.MLPPolicy(3, 2, init_log_std="0"),
     ValueError, "init_log_std"),
    ("policies.MLPPolicy dtype=int64", lambda p: policies.MLPPolicy(3, 2, dtype=torch.int64),
     ValueError, "dtype"),
    ("policies.MLPPolicy device=cuda", lambda p: policies.MLPPolicy(3, 2, device="cuda"),
     ValueError, "device"),
    ("policies.MLPPolicy hidden_sizes=100", lambda p: policies.MLPPolicy(3, 2, 100), TypeError,
     "hidden_sizes"),
    ("policies.MLPPolicy.forward obs numpy", lambda p: _mlp()(np.zeros((4, 3))), TypeError,
     "obs"),
    ("policies.MLPPolicy.forward obs nan", lambda p: _mlp()(torch.full((4, 3), math.nan)),
     ValueError, "obs must be finite"),
    ("policies.MLPPolicy.forward obs width", lambda p: _mlp()(_t(4, 5)), ValueError, "obs"),
    ("policies.MLPPolicy.forward obs float64", lambda p: _mlp()(_t(4, 3, dtype=torch.float64)),
     TypeError, "obs"),
    ("policies.MLPPolicy.distribution obs numpy",
     lambda p: _mlp().distribution(np.zeros((4, 3))), TypeError, "obs"),
    ("policies.MLPPolicy.distribution obs float64",
     lambda p: _mlp().distribution(_t(4, 3, dtype=torch.float64)), TypeError, "obs"),
    ("policies.MLPPolicy.distribution obs int",
     lambda p: _mlp().distribution(torch.zeros(4, 3, dtype=torch.long)), TypeError, "obs"),
    ("policies.MLPPolicy.distribution obs width",
     lambda p: _mlp().distribution(_t(4, 5)), ValueError, "obs"),
    ("policies.MLPPolicy.distribution params list",
     lambda p: _mlp().distribution(_t(4, 3), params=[1, 2]), TypeError, "params"),
    ("policies.MLPPolicy.distribution params without log_std",
     lambda p: _mlp().distribution(_t(4, 3), params={"net.0.weight": torch.zeros(8, 3)}),
     ValueError, "params"),
    ("policies.MLPPolicy.act obs numpy", lambda p: _mlp().act(np.zeros((4, 3))), TypeError,
     "obs"),
    ("policies.SSMMetaPolicy hidden_dim=0", lambda p: policies.SSMMetaPolicy(2, 2, hidden_dim=0),
     ValueError, "hidden_dim"),
    ("policies.SSMMetaPolicy dt_min='1'", lambda p: _meta(dt_min="1"), ValueError, "dt_min"),
    ("policies.SSMMetaPolicy device=cuda", lambda p: _meta(device="cuda"), ValueError, "device"),
    ("policies.SSMMetaPolicy dtype=complex", lambda p: _meta(dtype=torch.complex64), ValueError,
     "dtype"),
    ("policies.SSMMetaPolicy.forward x float64",
     lambda p: _meta()(_t(2, 5, 6, dtype=torch.float64)), TypeError, "x must"),
    ("policies.SSMMetaPolicy.forward x width", lambda p: _meta()(_t(2, 5, 5)), ValueError, "x must"),
    ("policies.SSMMetaPolicy.forward x numpy", lambda p: _meta()(np.zeros((2, 5, 6))),
     TypeError, "x must"),
    ("policies.SSMMetaPolicy.forward state list", lambda p: _meta()(_t(2, 5, 6), [0.0]),
     ValueError, "state"),
    ("policies.SSMMetaPolicy.forward reset shape",
     lambda p: _meta()(_t(2, 5, 6), None, torch.zeros(2, 4, dtype=BOOL)), ValueError, "reset"),
    ("policies.SSMMetaPolicy.step x_t numpy", lambda p: _meta().step(np.zeros((2, 6))),
     TypeError, "x_t"),
    ("policies.SSMMetaPolicy.step state shape", lambda p: _meta().step(_t(2, 6), _t(2, 3)),
     ValueError, "state"),
    ("policies.SSMMetaPolicy.act reset float", lambda p: _meta().act(_t(2, 6), reset=_t(2)),
     TypeError, "reset"),
    ("policies.SSMMetaPolicy.init_state batch_size=0", lambda p: _meta().init_state(0),
     ValueError, "batch_size"),
    ("policies.SSMMetaPolicy.initial_state batch_size='2'", lambda p: _meta().initial_state("2"),
     ValueError, "batch_size"),
    ("policies.GRUPolicy device=cuda", lambda p: _gru(device="cuda"), ValueError, "device"),
    ("policies.GRUPolicy.forward x int", lambda p: _gru()(torch.zeros(2, 5, 6, dtype=LONG)),
     TypeError, "x must"),
    ("policies.GRUPolicy.forward state shape", lambda p: _gru()(_t(2, 5, 6), _t(2, 4)),
     ValueError, "state"),
    ("policies.GRUPolicy.forward reset float", lambda p: _gru()(_t(2, 5, 6), None, _t(2, 5)),
     TypeError, "reset"),
    ("policies.GRUPolicy.step x_t float64", lambda p: _gru().step(_t(2, 6, dtype=torch.float64)),
     TypeError, "x_t"),
    ("policies.GRUPolicy.init_state batch_size=-1", lambda p: _gru().init_state(-1), ValueError,
     "batch_size"),
    ("policies.GRUPolicy.initial_state batch_size=2.0", lambda p: _gru().initial_state(2.0),
     ValueError, "batch_size"),
    ("policies.stack_params empty", lambda p: policies.stack_params([]), ValueError, "params"),
    ("policies.stack_params one dict", lambda p: policies.stack_params(_own(_mlp())), TypeError,
     "params"),
    ("policies.stack_params names differ",
     lambda p: policies.stack_params([_own(_mlp()), {"log_std": torch.zeros(2)}]), ValueError,
     "params[1]"),
    ("policies.stack_params shapes differ",
     lambda p: policies.stack_params([{"w": _t(2)}, {"w": _t(3)}]), ValueError, "params[1]"),
    ("policies.AdaptedPolicy policy=1", lambda p: policies.AdaptedPolicy(1, {}), TypeError,
     "policy"),
    ("policies.AdaptedPolicy fast_params list",
     lambda p: policies.AdaptedPolicy(_mlp(), [torch.zeros(2)]), TypeError, "fast_params"),
    ("policies.AdaptedPolicy fast_params missing",
     lambda p: policies.AdaptedPolicy(_mlp(), {"log_std": torch.zeros(2)}), ValueError,
     "fast_params"),
    ("policies.AdaptedPolicy fast_params numbers",
     lambda p: policies.AdaptedPolicy(_mlp(), {n: 0.0 for n in _own(_mlp())}), TypeError,
     "fast_params"),
    ("policies.AdaptedPolicy fast_params float64",
     lambda p: policies.AdaptedPolicy(_mlp(), _spoiled(_mlp(), "log_std",
                                                       torch.zeros(2, dtype=torch.float64))),
     TypeError, "fast_params['log_std']"),
    ("policies.AdaptedPolicy fast_params shape",
     lambda p: policies.AdaptedPolicy(_mlp(), _spoiled(_mlp(), "log_std", _t(3))), ValueError,
     "fast_params['log_std']"),
    ("policies.AdaptedPolicy.forward obs numpy", lambda p: _adapted()(np.zeros((4, 3))),
     TypeError, "obs"),
    ("policies.AdaptedPolicy.forward x width (recurrent)",
     lambda p: _adapted(_meta())(_t(2, 5, 4)), ValueError, "x must"),
    ("policies.AdaptedPolicy.distribution obs width",
     lambda p: _adapted().distribution(_t(4, 5)), ValueError, "obs"),
    ("policies.AdaptedPolicy.distribution of a recurrent policy",
     lambda p: _adapted(_meta()).distribution(_t(2, 6)), TypeError, "distribution(obs)"),
    ("policies.AdaptedPolicy.act obs float64",
     lambda p: _adapted().act(_t(4, 3, dtype=torch.float64)), TypeError, "obs"),
    ("policies.AdaptedPolicy.act params too",
     lambda p: _adapted().act(_t(4, 3), _own(_mlp())), ValueError, "params"),
    ("policies.AdaptedPolicy.act x_t numpy (recurrent)",
     lambda p: _adapted(_meta()).act(np.zeros((2, 6))), TypeError, "x must"),
    ("policies.AdaptedPolicy.init_state of a feed-forward policy",
     lambda p: _adapted().init_state(2), TypeError, "init_state"),
    ("policies.AdaptedPolicy.init_state batch_size=0",
     lambda p: _adapted(_meta()).init_state(0), ValueError, "batch_size"),
    ("policies.AdaptedPolicy.rl2_input of a feed-forward policy",
     lambda p: _adapted().rl2_input(_t(2, 3), None, None, None), TypeError, "rl2_input"),
    ("policies.AdaptedPolicy.rl2_input obs numpy",
     lambda p: _adapted(_meta()).rl2_input(np.zeros((2, 2)), torch.zeros(2, dtype=LONG), _t(2),
                                           _t(2)), TypeError, "obs"),
    ("policies.recurrent_call policy=MLPPolicy",
     lambda p: policies.recurrent_call(_mlp(), None, _t(2, 3), None, None), TypeError, "policy"),
    ("policies.recurrent_call params list",
     lambda p: policies.recurrent_call(_meta(), [1], _t(2, 6), None, None), TypeError, "params"),
    ("policies.recurrent_call params missing",
     lambda p: policies.recurrent_call(_meta(), {"embed.weight": torch.zeros(8, 6)}, _t(2, 6),
                                       None, None), ValueError, "params"),
    ("policies.act_with policy=MLPPolicy",
     lambda p: policies.act_with(_mlp(), None, _t(2, 3), None, None), TypeError, "policy"),
    ("policies.act_with x_t width",
     lambda p: policies.act_with(_meta(), None, _t(2, 5), None, None), ValueError, "x_t"),
    ("policies.act_with params=0",
     lambda p: policies.act_with(_gru(), 0, _t(2, 6), None, None), TypeError, "params"),
    ("policies.act_with_groups state None", lambda p: _groups(state=None), TypeError, "state"),
    ("policies.act_with_groups reset None", lambda p: _groups(reset=None), TypeError, "reset"),
    ("policies.act_with_groups x_t 5 rows for 2 groups", lambda p: _groups(x_t=_t(5, 6)),
     ValueError, "x_t"),
    ("policies.act_with_groups state rows", lambda p: _groups(state=_meta().init_state(2)),
     ValueError, "state"),
    ("policies.act_with_groups params one dict", lambda p: _groups(params=_own(_meta())),
     TypeError, "params"),
    ("policies.act_with_groups policy=MLPPolicy",
     lambda p: _groups(policy=_mlp(), params=[_own(_mlp())] * 2), TypeError, "policy"),
    ("policies.action_distribution head numpy",
     lambda p: policies.action_distribution(np.zeros((2, 3)), None), TypeError, "head"),
    ("policies.action_distribution head long",
     lambda p: policies.action_distribution(torch.zeros(2, 3, dtype=LONG), None), TypeError,
     "head"),
    ("policies.action_distribution log_std shape",
     lambda p: policies.action_distribution(_t(2, 3), _t(4)), ValueError, "log_std"),
    ("policies.action_distribution log_std float64",
     lambda p: policies.action_distribution(_t(2, 3), _t(3, dtype=torch.float64)), ValueError,
     "log_std"),
    ("policies.rl2_input obs numpy", lambda p: _rl2(obs=np.zeros((3, 2))), TypeError, "obs"),
    ("policies.rl2_input prev_action float (discrete)",
     lambda p: _rl2(prev_action=_t(3)), TypeError, "prev_action"),
    ("policies.rl2_input prev_action=5 of 2 actions",
     lambda p: _rl2(prev_action=torch.tensor([5, 0, 1])), ValueError, "prev_action"),
    ("policies.rl2_input prev_action shape (continuous)",
     lambda p: _rl2(discrete=False, prev_action=_t(3, 3)), ValueError, "prev_action"),
    ("policies.rl2_input prev_reward shape", lambda p: _rl2(prev_reward=_t(4)), ValueError,
     "prev_reward"),
    ("policies.rl2_input prev_done list", lambda p: _rl2(prev_done=[0, 0, 0]), TypeError,
     "prev_done"),
    ("policies.rl2_input action_dim=0", lambda p: _rl2(action_dim=0), ValueError, "action_dim"),
    ("policies.rl2_input discrete='yes'", lambda p: _rl2(discrete="yes"), TypeError, "discrete"),
    ("policies.SSMMetaPolicy.rl2_input prev_action oob",
     lambda p: _meta().rl2_input(_t(2, 2), torch.tensor([2, 0]), _t(2), _t(2)), ValueError,
     "prev_action"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_policies_still_run():
    mlp = _mlp()
    assert mlp(_t(4, 3)).shape == (4, 2) and mlp(_t(3)).shape == (2,)
    assert policies.MLPPolicy(3, 2, np.array([8, 8])).net[2].in_features == 8
    own = _own(mlp)
    per_task = mlp.distribution(_t(2, 4, 3), policies.stack_params([own, own]), per_task=True)
    assert per_task.batch_shape == (2, 4)
    adapted = policies.AdaptedPolicy(mlp, own)
    assert adapted(_t(4, 3)).shape == (4, 2)
    assert adapted.distribution(_t(4, 3)).batch_shape == (4,)
    assert adapted.act(_t(4, 3), None, True)[0].shape == (4, 2)
    meta = _meta()
    recurrent = policies.AdaptedPolicy(meta, _own(meta))
    assert recurrent.init_state(np.int64(2)).shape == meta.init_state(2).shape
    x = recurrent.rl2_input(_t(2, 2), torch.tensor([-1, 1]), _t(2), torch.ones(2, dtype=BOOL))
    assert x.shape == (2, 6)
    assert recurrent.act(x, None, torch.ones(2, dtype=BOOL))[0].shape == (2,)
    assert policies.act_with(meta, _own(meta), x, None, None)[2].shape == (2,)
    assert _groups()[0].shape == (4,)
    assert _rl2(discrete=np.bool_(True)).shape == (3, 6)
    assert _rl2(discrete=False, prev_action=_t(3, 2, dtype=torch.float64)).shape == (3, 6)
    assert _rl2(prev_action=torch.tensor([-1, 0, 1], dtype=torch.int32)).shape == (3, 6)
    gaussian = policies.action_distribution(_t(2, 4, 3), _t(2, 1, 3))
    assert gaussian.batch_shape == (2, 4)
    assert policies.action_distribution(_t(2, 3), None).batch_shape == (2,)
    assert _gru().initial_state(np.int64(3)).shape == (3, 8)
    plain = policies.SSMMetaPolicy(4, 2, hidden_dim=8, ssm_state_dim=4, rl2_inputs=False)
    obs = _t(2, 4)
    assert plain.rl2_input(obs, None, None, None) is obs
