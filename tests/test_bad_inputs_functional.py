"""Bad inputs of functional (functional parameters, inner gradients): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _grads, _t, table_tests

from ssm_metarl import functional


def _model():
    return torch.nn.Linear(1, 1)


def _params(model=None):
    return dict((model or _model()).named_parameters())


def _predict(**over):
    args = {"model": _model(), "params": _params(), "inputs": _t(4, 1)}
    args.update(over)
    return functional.predict(**args)


def _task_loss(**over):
    args = {"model": _model(), "params": _params(), "loss_fn": functional.mse_loss,
            "inputs": _t(4, 1), "targets": _t(4, 1)}
    args.update(over)
    return functional.task_loss(**args)


def _loss_gradient(**over):
    args = {"loss_of": lambda params: params["w"].sum(), "fast": {"w": torch.ones(3)},
            "names": ["w"], "create_graph": False}
    args.update(over)
    return functional.loss_gradient(**args)


def _sgd(**over):
    args = {"fast": {"w": torch.ones(3)}, "grads": _grads(), "inner_lr": 0.1}
    args.update(over)
    return functional.sgd_step(**args)


def _vmap(**over):
    args = {"fn": lambda a, engine: a * 2, "args": (_t(2, 3),)}
    args.update(over)
    return functional.vmap_or_loop(**args)


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
    ("functional.support_gradient support tensor",
     lambda p: functional.support_gradient(_model(), _params(), ["weight"], functional.mse_loss,
                                           _t(2, 1), create_graph=False),
     TypeError, "support"),
    ("functional.check_engine jax", lambda p: functional.check_engine("jax"), ValueError,
     "engine"),
    ("functional.check_params list", lambda p: functional.check_params([1]), TypeError, "params"),
    ("functional.check_rates nan",
     lambda p: functional.check_rates(math.nan, _grads(), ["w"]), ValueError, "inner_lr"),
    ("functional.select_params unknown",
     lambda p: functional.select_params(_grads(), ["v"]), ValueError, "params_to_adapt"),
    ("functional.to_numpy ndim", lambda p: functional.to_numpy(_t(2, 2), ndim=1), ValueError,
     "values"),
    # mse_loss: no silent broadcasting of (K, 1) against (K,)
    ("functional.mse_loss target shape", lambda p: functional.mse_loss(_t(4, 1), _t(4)),
     ValueError, "target"),
    ("functional.mse_loss prediction numpy",
     lambda p: functional.mse_loss(np.zeros(4), _t(4)), TypeError, "prediction"),
    ("functional.regression_mlp input_dim=0", lambda p: functional.regression_mlp(0),
     ValueError, "input_dim"),
    ("functional.regression_mlp hidden=40", lambda p: functional.regression_mlp(1, 40),
     TypeError, "hidden"),
    ("functional.regression_mlp hidden width 0", lambda p: functional.regression_mlp(1, (40, 0)),
     ValueError, "hidden[1]"),
    ("functional.regression_mlp output_dim=1.5",
     lambda p: functional.regression_mlp(1, (4,), 1.5), ValueError, "output_dim"),
    ("functional.predict model str", lambda p: _predict(model="net"), TypeError, "model"),
    ("functional.predict params list", lambda p: _predict(params=[1]), TypeError, "params"),
    ("functional.predict params unknown name",
     lambda p: _predict(params={**_params(), "wieght": torch.zeros(1, 1)}), ValueError, "params"),
    ("functional.predict inputs numpy", lambda p: _predict(inputs=np.zeros((4, 1))), TypeError,
     "inputs"),
    ("functional.predict inputs float64", lambda p: _predict(inputs=_t(4, 1).double()),
     TypeError, "inputs"),
    ("functional.predict forward_fn int", lambda p: _predict(forward_fn=3), TypeError,
     "forward_fn"),
    ("functional.task_loss loss_fn str", lambda p: _task_loss(loss_fn="mse"), TypeError,
     "loss_fn"),
    ("functional.task_loss targets numpy", lambda p: _task_loss(targets=np.zeros((4, 1))),
     TypeError, "targets"),
    ("functional.task_loss loss_fn not scalar", lambda p: _task_loss(loss_fn=lambda a, b: a - b),
     ValueError, "loss_fn"),
    ("functional.task_loss model str", lambda p: _task_loss(model="net"), TypeError, "model"),
    ("functional.rate_of missing name",
     lambda p: functional.rate_of({"w": torch.ones(1)}, "v"), ValueError, "rates"),
    ("functional.rate_of rates str", lambda p: functional.rate_of("0.1", "w"), ValueError,
     "rates"),
    ("functional.rate_of name int", lambda p: functional.rate_of(0.1, 3), TypeError, "name"),
    ("functional.sgd_step grads unknown name", lambda p: _sgd(grads={"v": torch.ones(3)}),
     ValueError, "grads"),
    ("functional.sgd_step grads shape", lambda p: _sgd(grads={"w": torch.ones(2)}), ValueError,
     "grads"),
    ("functional.sgd_step grads numpy", lambda p: _sgd(grads={"w": np.ones(3)}), TypeError,
     "grads"),
    ("functional.sgd_step inner_lr nan", lambda p: _sgd(inner_lr=math.nan), ValueError,
     "inner_lr"),
    ("functional.sgd_step inner_lr dict missing", lambda p: _sgd(inner_lr={"v": 0.1}),
     ValueError, "inner_lr"),
    ("functional.sgd_step fast list", lambda p: _sgd(fast=[1]), TypeError, "fast"),
    ("functional.loss_gradient loss_of int", lambda p: _loss_gradient(loss_of=3), TypeError,
     "loss_of"),
    ("functional.loss_gradient names str", lambda p: _loss_gradient(names="w"), TypeError,
     "names"),
    ("functional.loss_gradient names unknown", lambda p: _loss_gradient(names=["v"]), ValueError,
     "names"),
    ("functional.loss_gradient create_graph str", lambda p: _loss_gradient(create_graph="no"),
     TypeError, "create_graph"),
    ("functional.loss_gradient loss not scalar",
     lambda p: _loss_gradient(loss_of=lambda params: params["w"] * 2), ValueError, "loss_of"),
    ("functional.loss_gradient func loss (1, 1)",
     lambda p: _loss_gradient(loss_of=lambda params: params["w"].sum().reshape(1, 1),
                              engine="func"), ValueError, "loss_of"),
    ("functional.stack_results empty", lambda p: functional.stack_results([]), ValueError,
     "results"),
    ("functional.stack_results shapes",
     lambda p: functional.stack_results([_t(2), _t(3)]), ValueError, "results[1]"),
    ("functional.stack_results dict keys",
     lambda p: functional.stack_results([{"a": _t(1)}, {"b": _t(1)}]), ValueError, "results[1]"),
    ("functional.stack_results ints", lambda p: functional.stack_results([1, 2]), TypeError,
     "results[0]"),
    ("functional.vmap_or_loop fn int", lambda p: _vmap(fn=3), TypeError, "fn"),
    ("functional.vmap_or_loop args tensor", lambda p: _vmap(args=_t(2, 3)), TypeError, "args"),
    ("functional.vmap_or_loop in_dims length", lambda p: _vmap(in_dims=(0, 0)), ValueError,
     "in_dims"),
    ("functional.vmap_or_loop in_dims=1", lambda p: _vmap(in_dims=(1,)), ValueError, "in_dims"),
    ("functional.vmap_or_loop batch sizes differ",
     lambda p: _vmap(fn=lambda a, b, engine: a + b.sum(), args=(_t(2, 3), _t(3, 3)), vmap=False),
     ValueError, "batch"),
    ("functional.vmap_or_loop args numpy",
     lambda p: _vmap(args=(np.zeros((2, 3)),), vmap=False), TypeError, "args[0]"),
    ("functional.vmap_or_loop model str", lambda p: _vmap(model="net"), TypeError, "model"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_functional_still_run():
    model = _model()
    params = _params(model)
    assert _predict(model=model, params={"weight": params["weight"]}).shape == (4, 1)
    assert _predict(inputs=np.zeros((4, 1)), forward_fn=lambda m, w, x: torch.as_tensor(
        x, dtype=torch.float32)).shape == (4, 1)
    assert _task_loss(loss_fn=lambda a, b: ((a - b) ** 2).mean().reshape(1)).shape == (1,)
    assert functional.regression_mlp(np.int64(2), [np.int64(4)], 3)(_t(5, 2)).shape == (5, 3)
    assert len(functional.regression_mlp(1, ())) == 1
    assert functional.rate_of(np.float64(0.5), "w") == 0.5
    assert torch.equal(_sgd(inner_lr=torch.tensor(0.5))["w"], torch.full((3,), 0.5))
    assert torch.equal(_sgd(inner_lr={"w": torch.full((3,), 0.5)})["w"], torch.full((3,), 0.5))
    assert torch.equal(_sgd(inner_lr=np.float64(0.5))["w"], torch.full((3,), 0.5))
    assert torch.equal(_loss_gradient(names=("w",), engine="func")["w"], torch.ones(3))
    stacked = functional.stack_results([(_t(2), {"a": _t(1)})] * 3)
    assert stacked[0].shape == (3, 2) and stacked[1]["a"].shape == (3, 1)
    shared = {"w": torch.ones(3)}
    assert _vmap(fn=lambda a, s, engine: a * s["w"], args=(_t(2, 3), shared),
                 in_dims=(0, None)).shape == (2, 3)
    assert _vmap(args=({"x": _t(2, 3)},), fn=lambda a, engine: a["x"], vmap=False).shape == (2, 3)
