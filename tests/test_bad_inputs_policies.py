"""Bad inputs of policies (MLP, GRU and SSM meta-policies): each is refused naming the argument."""

from __future__ import annotations

import numpy as np
import torch
from bad_input_table import _gru, _meta, _mlp, _t, table_tests

from ssm_metarl import policies

CASES = [
    ("policies.MLPPolicy obs_dim=0", lambda p: policies.MLPPolicy(0, 2), ValueError, "obs_dim"),
    ("policies.MLPPolicy init_log_std='0'", lambda p: policies.MLPPolicy(3, 2, init_log_std="0"),
     ValueError, "init_log_std"),
    ("policies.MLPPolicy dtype=int64", lambda p: policies.MLPPolicy(3, 2, dtype=torch.int64),
     ValueError, "dtype"),
    ("policies.MLPPolicy device=cuda", lambda p: policies.MLPPolicy(3, 2, device="cuda"),
     ValueError, "device"),
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
    ("policies.MLPPolicy.act obs numpy", lambda p: _mlp().act(np.zeros((4, 3))), TypeError,
     "obs"),
    ("policies.SSMMetaPolicy hidden_dim=0", lambda p: policies.SSMMetaPolicy(2, 2, hidden_dim=0),
     ValueError, "hidden_dim"),
    ("policies.SSMMetaPolicy dt_min='1'", lambda p: _meta(dt_min="1"), ValueError, "dt_min"),
    ("policies.SSMMetaPolicy device=cuda", lambda p: _meta(device="cuda"), ValueError, "device"),
    ("policies.SSMMetaPolicy dtype=complex", lambda p: _meta(dtype=torch.complex64), ValueError,
     "dtype"),
    ("policies.SSMMetaPolicy x float64", lambda p: _meta()(_t(2, 5, 6, dtype=torch.float64)),
     TypeError, "x"),
    ("policies.SSMMetaPolicy x width", lambda p: _meta()(_t(2, 5, 5)), ValueError, "x"),
    ("policies.SSMMetaPolicy.step x_t numpy", lambda p: _meta().step(np.zeros((2, 6))),
     TypeError, "x_t"),
    ("policies.SSMMetaPolicy.step state shape", lambda p: _meta().step(_t(2, 6), _t(2, 3)),
     ValueError, "state"),
    ("policies.SSMMetaPolicy.act reset float", lambda p: _meta().act(_t(2, 6), reset=_t(2)),
     TypeError, "reset"),
    ("policies.GRUPolicy device=cuda", lambda p: _gru(device="cuda"), ValueError, "device"),
    ("policies.GRUPolicy x int", lambda p: _gru()(torch.zeros(2, 5, 6, dtype=torch.long)),
     TypeError, "x"),
    ("policies.GRUPolicy.step x_t float64", lambda p: _gru().step(_t(2, 6, dtype=torch.float64)),
     TypeError, "x_t"),
    ("policies.stack_params empty", lambda p: policies.stack_params([]), ValueError, "params"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
