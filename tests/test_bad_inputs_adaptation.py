"""Bad inputs of adaptation (test-time adaptation: adapters, TTT, metrics): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
from bad_input_table import _adaptation, _adapter, _adapter_run, _t, table_tests

CASES = [
    ("adaptation.linear_attention k of another width",
     lambda p: _adaptation().linear_attention(_t(2, 5, 3), _t(2, 5, 4), _t(2, 5, 3)), ValueError,
     "q and k must have the same shape"),
    ("adaptation.linear_attention 1-d", lambda p: _adaptation().linear_attention(_t(5), _t(5),
                                                                              _t(5)),
     ValueError, "q must be a tensor of shape"),
    ("adaptation.delta_rule_step state shape",
     lambda p: _adaptation().delta_rule_step(_t(3, 3), _t(4), _t(3), 0.1), ValueError, "state"),
    ("adaptation.delta_rule_step k=list",
     lambda p: _adaptation().delta_rule_step(_t(3, 4), [0.0] * 4, _t(3), 0.1), TypeError, "k"),
    ("adaptation.delta_rule_step beta nan",
     lambda p: _adaptation().delta_rule_step(_t(3, 4), _t(4), _t(3), math.nan), ValueError,
     "step size"),
    ("adaptation.delta_rule beta nan",
     lambda p: _adaptation().delta_rule(_t(1, 5, 3), _t(1, 5, 3), _t(1, 5, 3), math.nan),
     ValueError, "step size"),
    ("adaptation.ttt_linear_online lr=inf",
     lambda p: _adaptation().ttt_linear_online(_t(1, 5, 3), _t(1, 5, 3), _t(1, 5, 3), math.inf),
     ValueError, "step size"),
    ("adaptation.ttt_linear_batch lr='a'",
     lambda p: _adaptation().ttt_linear_batch(_t(1, 5, 3), _t(1, 5, 3), _t(1, 5, 3), "a"),
     TypeError, "step size"),
    ("adaptation.format_metrics_table digits=-1",
     lambda p: _adaptation().format_metrics_table({}, digits=-1), ValueError, "digits"),
    ("adaptation.format_metrics_table row of another table",
     lambda p: _adaptation().format_metrics_table({"frozen": {"mse": 1.0}}), ValueError,
     "table['frozen']"),
    ("adaptation.PolicyAdapter baseline_reg=-1", lambda p: _adapter(baseline_reg=-1),
     ValueError, "baseline_reg"),
    ("adaptation.PolicyAdapter carry_state='yes'", lambda p: _adapter(carry_state="yes"),
     TypeError, "carry_state"),
    ("adaptation.PolicyAdapter lr=-1", lambda p: _adapter(lr=-1), ValueError, "lr"),
    ("adaptation.PolicyAdapter adapt='net'", lambda p: _adapter(adapt="net"), TypeError,
     "adapt"),
    ("adaptation.PolicyAdapter.run policy=object()",
     lambda p: _adapter_run(policy=object()), TypeError, "policy"),
    ("adaptation.PolicyAdapter.run goals='ab'", lambda p: _adapter_run(goals="ab"), ValueError,
     "goals"),
    ("adaptation.PolicyAdapter.run goals nan",
     lambda p: _adapter_run(goals=np.full((2, 2), math.nan)), ValueError, "goals"),
    ("adaptation.PolicyAdapter.run family=object()", lambda p: _adapter_run(family=object()),
     TypeError, "family"),
    ("adaptation.PolicyAdapter.run seed=-1", lambda p: _adapter_run(seed=-1), ValueError, "seed"),
    ("adaptation.PolicyAdapter.run adapt unknown",
     lambda p: _adapter_run(_adapter(adapt=["nope"])), ValueError, "adapt"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
