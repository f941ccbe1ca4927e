"""Bad inputs of functional (functional parameters, inner gradients): each is refused naming the argument."""

from __future__ import annotations

import math

import torch
from bad_input_table import _grads, _t, table_tests

from ssm_metarl import functional

CASES = [
    ("functional.clip_gradient_norm max_norm=-1",
     lambda p: functional.clip_gradient_norm(_grads(), -1), ValueError, "max_norm"),
    ("functional.clip_gradient_norm max_norm='1'",
     lambda p: functional.clip_gradient_norm(_grads(), "1"), ValueError, "max_norm"),
    ("functional.clip_gradient_norm max_norm=nan",
     lambda p: functional.clip_gradient_norm(_grads(), math.nan), ValueError, "max_norm"),
    ("functional.support_gradient engine=jax",
     lambda p: functional.support_gradient(
         torch.nn.Linear(1, 1), dict(torch.nn.Linear(1, 1).named_parameters()), ["weight"],
         functional.mse_loss, (_t(2, 1), _t(2, 1)), create_graph=False, engine="jax"),
     ValueError, "engine"),
    ("functional.check_engine jax", lambda p: functional.check_engine("jax"), ValueError,
     "engine"),
    ("functional.check_params list", lambda p: functional.check_params([1]), TypeError, "params"),
    ("functional.check_rates nan",
     lambda p: functional.check_rates(math.nan, _grads(), ["w"]), ValueError, "inner_lr"),
    ("functional.select_params unknown",
     lambda p: functional.select_params(_grads(), ["v"]), ValueError, "params_to_adapt"),
    ("functional.to_numpy ndim", lambda p: functional.to_numpy(_t(2, 2), ndim=1), ValueError,
     "values"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
