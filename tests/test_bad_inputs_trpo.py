"""Bad inputs of trpo (conjugate gradient, Fisher-vector products, line search): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _trpo, _trpo_args, table_tests
from torch.distributions import Categorical, Normal

EXEMPT = {
    "ssm_metarl.trpo.TRPOStep": "record that only trpo_step builds and returns",
}


def _normal():
    return Normal(torch.zeros(3), torch.ones(3))


def _fvp(**over):
    def outputs(params):
        return (params["x"] * 1.0, torch.ones(2))

    def kl(eta_old, eta):
        return ((eta_old[0] - eta[0]) ** 2).sum()

    args = {"outputs": outputs, "kl": kl, "params": {"x": torch.ones(2)},
            "vector": {"x": torch.ones(2)}}
    args.update(over)
    return _trpo().fisher_vector_product(**args)


def _search(**over):
    args = {"evaluate": lambda c: (0.0, 0.0), "params": {"x": torch.ones(1)},
            "full_step": {"x": torch.ones(1)}, "loss_before": 1.0, "max_kl": 0.01}
    args.update(over)
    return _trpo().line_search(**args)


CASES = [
    ("trpo.conjugate_gradient b=list", lambda p: _trpo().conjugate_gradient(lambda v: v, [1.0]),
     TypeError, "b must be"),
    ("trpo.conjugate_gradient matvec=None",
     lambda p: _trpo().conjugate_gradient(None, torch.ones(2)), TypeError, "matvec"),
    ("trpo.conjugate_gradient iterations=0",
     lambda p: _trpo().conjugate_gradient(lambda v: v, torch.ones(2), 0), ValueError,
     "iterations"),
    ("trpo.unflatten wrong size",
     lambda p: _trpo().unflatten(torch.ones(3), {"a": torch.ones(2)}), ValueError, "vector"),
    ("trpo.distribution_tensors object()", lambda p: _trpo().distribution_tensors(object()),
     TypeError, "dist"),
    ("trpo.trpo_step config=1", lambda p: _trpo().trpo_step(*_trpo_args(), config=1), TypeError,
     "config"),
    ("trpo.trpo_step params=list",
     lambda p: _trpo().trpo_step(*_trpo_args()[:2], [torch.ones(2)]), TypeError, "params"),
    ("trpo.line_search max_kl=-1",
     lambda p: _trpo().line_search(lambda c: (0.0, 0.0), {"x": torch.ones(1)},
                                   {"x": torch.ones(1)}, 1.0, -1), ValueError, "max_kl"),
    ("trpo.line_search backtrack_ratio=2",
     lambda p: _trpo().line_search(lambda c: (0.0, 0.0), {"x": torch.ones(1)},
                                   {"x": torch.ones(1)}, 1.0, 0.01, backtrack_ratio=2),
     ValueError, "backtrack_ratio"),
    ("trpo.line_search steps=0",
     lambda p: _trpo().line_search(lambda c: (0.0, 0.0), {"x": torch.ones(1)},
                                   {"x": torch.ones(1)}, 1.0, 0.01, steps=0), ValueError, "steps"),
    ("trpo.TRPOConfig max_kl='a'", lambda p: _trpo().TRPOConfig(max_kl="a"), ValueError,
     "max_kl"),
    ("trpo.TRPOConfig cg_damping=nan", lambda p: _trpo().TRPOConfig(cg_damping=math.nan),
     ValueError, "cg_damping"),
    ("trpo.TRPOConfig subsample=0", lambda p: _trpo().TRPOConfig(subsample=0), ValueError,
     "subsample"),
    ("trpo.flatten params=list", lambda p: _trpo().flatten([torch.ones(2)]), TypeError, "params"),
    ("trpo.flatten params={}", lambda p: _trpo().flatten({}), TypeError, "params"),
    ("trpo.flatten numpy value", lambda p: _trpo().flatten({"a": np.ones(2)}), TypeError,
     "params['a']"),
    ("trpo.flatten mixed dtypes",
     lambda p: _trpo().flatten({"a": torch.ones(2), "b": torch.ones(2, dtype=torch.float64)}),
     TypeError, "params"),
    ("trpo.flatten names unknown", lambda p: _trpo().flatten({"a": torch.ones(2)}, ("a", "z")),
     ValueError, "names"),
    ("trpo.flatten names='a'", lambda p: _trpo().flatten({"a": torch.ones(2)}, "a"), TypeError,
     "names"),
    ("trpo.unflatten vector numpy", lambda p: _trpo().unflatten(np.ones(2), {"a": torch.ones(2)}),
     TypeError, "vector"),
    ("trpo.unflatten vector 2-D",
     lambda p: _trpo().unflatten(torch.ones(2, 1), {"a": torch.ones(2)}), ValueError, "vector"),
    ("trpo.unflatten vector float64",
     lambda p: _trpo().unflatten(torch.ones(2, dtype=torch.float64), {"a": torch.ones(2)}),
     TypeError, "vector"),
    ("trpo.unflatten like=None", lambda p: _trpo().unflatten(torch.ones(2), None), TypeError,
     "like"),
    ("trpo.conjugate_gradient b nan",
     lambda p: _trpo().conjugate_gradient(lambda v: v, torch.full((2,), math.nan)), ValueError,
     "b must be finite"),
    ("trpo.conjugate_gradient matvec of the wrong shape",
     lambda p: _trpo().conjugate_gradient(lambda v: v[:1], torch.ones(2)), TypeError, "matvec"),
    ("trpo.conjugate_gradient matvec returns a number",
     lambda p: _trpo().conjugate_gradient(lambda v: 1.0, torch.ones(2)), TypeError, "matvec"),
    ("trpo.conjugate_gradient tolerance=nan",
     lambda p: _trpo().conjugate_gradient(lambda v: v, torch.ones(2), 2, math.nan), ValueError,
     "tolerance"),
    ("trpo.distribution_from like=object()",
     lambda p: _trpo().distribution_from((torch.zeros(3), torch.ones(3)), object()), TypeError,
     "dist"),
    ("trpo.distribution_from eta one tensor",
     lambda p: _trpo().distribution_from(torch.zeros(3), _normal()), TypeError, "eta"),
    ("trpo.distribution_from eta without std",
     lambda p: _trpo().distribution_from((torch.zeros(3),), _normal()), TypeError, "eta"),
    ("trpo.distribution_from eta numpy",
     lambda p: _trpo().distribution_from((np.zeros(3), np.ones(3)), _normal()), TypeError,
     "eta"),
    ("trpo.distribution_from two tensors for a Categorical",
     lambda p: _trpo().distribution_from((torch.zeros(3), torch.ones(3)),
                                         Categorical(logits=torch.zeros(3))), TypeError, "eta"),
    ("trpo.fisher_vector_product outputs=None", lambda p: _fvp(outputs=None), TypeError,
     "outputs"),
    ("trpo.fisher_vector_product kl=None", lambda p: _fvp(kl=None), TypeError, "kl"),
    ("trpo.fisher_vector_product params=list", lambda p: _fvp(params=[torch.ones(2)]), TypeError,
     "params"),
    ("trpo.fisher_vector_product vector=tensor", lambda p: _fvp(vector=torch.ones(2)),
     TypeError, "vector"),
    ("trpo.fisher_vector_product vector names", lambda p: _fvp(vector={"y": torch.ones(2)}),
     ValueError, "vector"),
    ("trpo.fisher_vector_product vector shape", lambda p: _fvp(vector={"x": torch.ones(3)}),
     ValueError, "vector['x']"),
    ("trpo.fisher_vector_product vector float64",
     lambda p: _fvp(vector={"x": torch.ones(2, dtype=torch.float64)}), ValueError,
     "vector['x']"),
    ("trpo.trpo_step evaluate=None", lambda p: _trpo().trpo_step(None, *_trpo_args()[1:]),
     TypeError, "evaluate"),
    ("trpo.trpo_step kl=None",
     lambda p: _trpo().trpo_step(_trpo_args()[0], None, _trpo_args()[2]), TypeError, "kl"),
    ("trpo.trpo_step params={}", lambda p: _trpo().trpo_step(*_trpo_args()[:2], {}), TypeError,
     "params"),
    ("trpo.trpo_step evaluate returns a number",
     lambda p: _trpo().trpo_step(lambda q: 1.0, *_trpo_args()[1:]), TypeError, "evaluate"),
    ("trpo.trpo_step fisher_outputs=1",
     lambda p: _trpo().trpo_step(*_trpo_args(), fisher_outputs=1), TypeError, "fisher_outputs"),
    ("trpo.line_search evaluate=None", lambda p: _search(evaluate=None), TypeError, "evaluate"),
    ("trpo.line_search evaluate returns a number", lambda p: _search(evaluate=lambda c: 1.0),
     TypeError, "evaluate"),
    ("trpo.line_search full_step names", lambda p: _search(full_step={"y": torch.ones(1)}),
     ValueError, "full_step"),
    ("trpo.line_search loss_before=nan", lambda p: _search(loss_before=math.nan), ValueError,
     "loss_before"),
    ("trpo.line_search loss_before='1'", lambda p: _search(loss_before="1"), ValueError,
     "loss_before"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_trpo_still_run():
    """What the checks above must still let through."""
    trpo = _trpo()
    params = {"b": torch.ones(3), "a": torch.ones(2)}
    vector = trpo.flatten(params, ["a", "b"])
    assert vector.shape == (5,) and trpo.unflatten(trpo.flatten(params), params)["a"].shape == (2,)
    normal = trpo.distribution_from([torch.zeros(3), torch.ones(3)], _normal())
    assert normal.mean.shape == (3,)
    assert _fvp(vector={"x": torch.zeros(2)})["x"].shape == (2,)
    moved, loss, _, fraction = _search(evaluate=lambda c: (0.5, 0.0),
                                       loss_before=torch.tensor(1.0))
    assert (loss, fraction) == (0.5, 1.0) and moved["x"].item() == 2.0
    same, *_ = _search(loss_before=np.float32(-1.0))
    assert same["x"].item() == 1.0
    assert trpo.conjugate_gradient(lambda v: 2 * v, torch.ones(2)).tolist() == [0.5, 0.5]
