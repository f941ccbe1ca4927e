"""Bad inputs of trpo (conjugate gradient, Fisher-vector products, line search): each is refused naming the argument."""

from __future__ import annotations

import math

import torch
from bad_input_table import _trpo, _trpo_args, table_tests

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
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
