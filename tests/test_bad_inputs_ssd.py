"""Bad inputs of ssd (Mamba-2's state space duality): each is refused naming the argument."""

from __future__ import annotations

import numpy as np
import torch
from bad_input_table import _t, table_tests

from ssm_metarl import ssd


def _run(fn=ssd.ssd, **over):
    """fn on x (2, 5, 2, 3), log_a (2, 5, 2), Bm and C (2, 5, 1, 4), spoiled by ``over``."""
    args = {"x": _t(2, 5, 2, 3), "log_a": _t(2, 5, 2), "Bm": _t(2, 5, 1, 4), "C": _t(2, 5, 1, 4)}
    args.update(over)
    return fn(**args)


def _step(**over):
    args = {"x_t": _t(2, 2, 3), "log_a_t": _t(2, 2), "B_t": _t(2, 1, 4), "C_t": _t(2, 1, 4)}
    args.update(over)
    return ssd.ssd_step(**args)


CASES = [
    ("ssd.ssd method=fft", lambda p: _run(method="fft"), ValueError, "method"),
    ("ssd.ssd chunk_size=0", lambda p: _run(chunk_size=0), ValueError, "chunk_size"),
    ("ssd.ssd quadratic chunk_size=0", lambda p: _run(method="quadratic", chunk_size=0),
     ValueError, "chunk_size"),
    ("ssd.ssd x numpy", lambda p: _run(x=np.zeros((2, 5, 2, 3))), TypeError, "x"),
    ("ssd.ssd_chunked chunk_size='4'", lambda p: _run(ssd.ssd_chunked, chunk_size="4"),
     ValueError, "chunk_size"),
    ("ssd.ssd_chunked log_a float64", lambda p: _run(ssd.ssd_chunked, log_a=_t(2, 5, 2).double()),
     TypeError, "log_a"),
    ("ssd.ssd_chunked reset float", lambda p: _run(ssd.ssd_chunked, reset=_t(2, 5)), TypeError,
     "reset"),
    ("ssd.ssd_quadratic Bm length", lambda p: _run(ssd.ssd_quadratic, Bm=_t(2, 4, 1, 4)),
     ValueError, "Bm"),
    ("ssd.ssd_quadratic groups", lambda p: _run(ssd.ssd_quadratic, Bm=_t(2, 5, 3, 4),
                                                C=_t(2, 5, 3, 4)), ValueError, "G"),
    ("ssd.ssd_quadratic state shape",
     lambda p: _run(ssd.ssd_quadratic, state=_t(2, 2, 3, 5)), ValueError, "state"),
    ("ssd.ssd_recurrence x int", lambda p: _run(ssd.ssd_recurrence,
                                                x=torch.zeros(2, 5, 2, 3, dtype=torch.long)),
     TypeError, "x"),
    ("ssd.ssd_recurrence L=0",
     lambda p: _run(ssd.ssd_recurrence, x=_t(2, 0, 2, 3), log_a=_t(2, 0, 2), Bm=_t(2, 0, 1, 4),
                    C=_t(2, 0, 1, 4)), ValueError, "L"),
    ("ssd.ssd_recurrence state list", lambda p: _run(ssd.ssd_recurrence, state=[0.0]),
     TypeError, "state"),
    ("ssd.ssd_step x_t 4-D", lambda p: _step(x_t=_t(2, 5, 2, 3)), ValueError, "x_t"),
    ("ssd.ssd_step B_t float64", lambda p: _step(B_t=_t(2, 1, 4).double()), TypeError, "B_t"),
    ("ssd.ssd_step reset_t float", lambda p: _step(reset_t=_t(2)), TypeError, "reset_t"),
    ("ssd.segment_sum numpy", lambda p: ssd.segment_sum(np.zeros(5)), TypeError, "log_a"),
    ("ssd.segment_sum int", lambda p: ssd.segment_sum(torch.zeros(5, dtype=torch.long)),
     TypeError, "log_a"),
    ("ssd.segment_sum 0-d", lambda p: ssd.segment_sum(torch.tensor(1.0)), ValueError, "log_a"),
    ("ssd.segment_sum T=0", lambda p: ssd.segment_sum(_t(0)), ValueError, "log_a"),
    ("ssd.semiseparable_mask log_a 2-D", lambda p: ssd.semiseparable_mask(_t(5, 2)), ValueError,
     "log_a"),
    ("ssd.semiseparable_mask reset shape",
     lambda p: ssd.semiseparable_mask(_t(2, 5, 2), torch.zeros(2, 4, dtype=torch.bool)),
     ValueError, "reset"),
    ("ssd.semiseparable_mask L=0", lambda p: ssd.semiseparable_mask(_t(2, 0, 2)), ValueError,
     "L"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_ssd_still_run():
    for method in ("chunked", "quadratic", "recurrence"):
        y, state = _run(method=method, chunk_size=np.int64(2),
                        reset=torch.zeros(2, 5, dtype=torch.bool))
        assert y.shape == (2, 5, 2, 3) and state.shape == (2, 2, 3, 4)
    assert _step(state=_t(2, 2, 3, 4))[1].shape == (2, 2, 3, 4)
    assert ssd.segment_sum(_t(3, 1)).shape == (3, 1, 1)
    assert ssd.semiseparable_mask(_t(1, 1, 1)).shape == (1, 1, 1, 1)
