"""Bad inputs of cores (the sequence-model core interface): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _core, _t, table_tests

from ssm_metarl import cores

EXEMPT = {
    "ssm_metarl.cores.S4DCore.discretized": "takes no argument: (A_bar, B_bar) of the core's own "
                                            "parameters",
}


def _s4d(**kw):
    return cores.S4DCore(8, 4, **kw)


CASES = [
    ("cores.make_core name", lambda p: cores.make_core("lstm", 8), ValueError, "core"),
    ("cores.make_core hidden_dim=0", lambda p: cores.make_core("selective", 0), ValueError,
     "hidden_dim"),
    ("cores.make_core dtype=int64", lambda p: cores.make_core("selective", 8, dtype=torch.int64),
     ValueError, "dtype"),
    ("cores.make_core s4d dtype=complex",
     lambda p: cores.make_core("s4d", 8, 4, dtype=torch.complex64), ValueError, "dtype"),
    ("cores.make_core gru device=cuda", lambda p: cores.make_core("gru", 8, device="cuda"),
     ValueError, "device"),
    ("cores.make_core s4d device=cuda", lambda p: cores.make_core("s4d", 8, 4, device="cuda"),
     ValueError, "device"),
    ("cores.make_core dt_min='1e-3'", lambda p: cores.make_core("ssd", 8, 4, dt_min="1e-3"),
     ValueError, "dt_min"),
    # SelectiveCore
    ("cores.SelectiveCore dtype=int64", lambda p: cores.SelectiveCore(8, 4, dtype=torch.int64),
     ValueError, "dtype"),
    ("cores.SelectiveCore device=foo", lambda p: cores.SelectiveCore(8, 4, device="foo"),
     ValueError, "device"),
    ("cores.SelectiveCore option foo", lambda p: cores.SelectiveCore(8, 4, foo=1), TypeError,
     "foo"),
    ("cores.SelectiveCore.forward u nan", lambda p: _core()(torch.full((2, 5, 8), math.nan)),
     ValueError, "u must be finite"),
    ("cores.SelectiveCore.forward u float64",
     lambda p: _core()(_t(2, 5, 8, dtype=torch.float64)), TypeError, "u"),
    ("cores.SelectiveCore.forward u numpy", lambda p: _core()(np.zeros((2, 5, 8))), TypeError,
     "u"),
    ("cores.SelectiveCore.forward u width", lambda p: _core()(_t(2, 5, 7)), ValueError, "u"),
    ("cores.SelectiveCore.step u_t numpy", lambda p: _core().step(np.zeros((2, 8))), TypeError,
     "u_t"),
    ("cores.SelectiveCore.step reset shape",
     lambda p: _core().step(_t(2, 8), reset=torch.zeros(3, dtype=torch.bool)), ValueError,
     "reset"),
    ("cores.SelectiveCore.init_state batch_size=0", lambda p: _core().init_state(0), ValueError,
     "batch_size"),
    ("cores.SelectiveCore.initial_state batch_size='2'", lambda p: _core().initial_state("2"),
     ValueError, "batch_size"),
    ("cores.SelectiveCore.coefficients u width", lambda p: _core().coefficients(_t(2, 7)),
     ValueError, "u"),
    ("cores.SelectiveCore.coefficients u float64",
     lambda p: _core().coefficients(_t(2, 8, dtype=torch.float64)), TypeError, "u"),
    ("cores.SelectiveCore.readout h shape",
     lambda p: _core().readout(_t(2, 8, 3), _t(2, 4), _t(2, 8)), ValueError, "h"),
    ("cores.SelectiveCore.readout C float64",
     lambda p: _core().readout(_t(2, 8, 4), _t(2, 4, dtype=torch.float64), _t(2, 8)),
     TypeError, "C"),
    ("cores.SelectiveCore.readout leading dims",
     lambda p: _core().readout(_t(2, 8, 4), _t(3, 4), _t(2, 8)), ValueError, "h, C and u"),
    # SSDCore
    ("cores.SSDCore dtype=complex64", lambda p: cores.SSDCore(8, 4, dtype=torch.complex64),
     ValueError, "dtype"),
    ("cores.SSDCore heads=3", lambda p: cores.SSDCore(8, 4, heads=3), ValueError, "heads"),
    ("cores.SSDCore.step u_t float64",
     lambda p: _core("ssd").step(_t(2, 8, dtype=torch.float64)), TypeError, "u_t"),
    ("cores.SSDCore.forward state shape", lambda p: _core("ssd")(_t(2, 5, 8), _t(2, 8, 4)),
     ValueError, "state"),
    ("cores.SSDCore.init_state batch_size=-1", lambda p: _core("ssd").init_state(-1),
     ValueError, "batch_size"),
    ("cores.SSDCore.coefficients u numpy", lambda p: _core("ssd").coefficients(np.zeros((2, 8))),
     TypeError, "u"),
    # S4DCore
    ("cores.S4DCore dtype=int64", lambda p: _s4d(dtype=torch.int64), ValueError, "dtype"),
    ("cores.S4DCore init=foo", lambda p: _s4d(init="foo"), ValueError, "init"),
    ("cores.S4DCore state_dim=3", lambda p: cores.S4DCore(8, 3), ValueError, "ssm_state_dim"),
    ("cores.S4DCore.forward state shape", lambda p: _core("s4d")(_t(2, 5, 8), _t(2, 3)),
     ValueError, "state"),
    ("cores.S4DCore.forward state real", lambda p: _core("s4d")(_t(2, 5, 8), _t(2, 8, 2)),
     TypeError, "state"),
    ("cores.S4DCore.step u_t width", lambda p: _core("s4d").step(_t(2, 7)), ValueError, "u_t"),
    ("cores.S4DCore.init_state batch_size=0", lambda p: _core("s4d").init_state(0), ValueError,
     "batch_size"),
    ("cores.S4DCore.readout x real", lambda p: _s4d().readout(_t(2, 8, 2), _t(2, 8)), TypeError,
     "x"),
    ("cores.S4DCore.readout u width",
     lambda p: _s4d().readout(_s4d().init_state(2), _t(2, 7)), ValueError, "u"),
    # LinearCore
    ("cores.LinearCore dt=nan", lambda p: cores.LinearCore(8, 4, dt=float("nan")), ValueError,
     "dt"),
    ("cores.LinearCore method=rk4", lambda p: cores.LinearCore(8, 4, method="rk4"), ValueError,
     "method"),
    ("cores.LinearCore.forward u int",
     lambda p: _core("linear")(torch.zeros(2, 5, 8, dtype=torch.long)), TypeError, "u"),
    ("cores.LinearCore.step state shape", lambda p: _core("linear").step(_t(2, 8), _t(2, 8)),
     ValueError, "state"),
    ("cores.LinearCore.init_state batch_size=1.5", lambda p: _core("linear").init_state(1.5),
     ValueError, "batch_size"),
    # GRUCore
    ("cores.GRUCore hidden_dim=0", lambda p: cores.GRUCore(0), ValueError, "hidden_dim"),
    ("cores.GRUCore dtype=int64", lambda p: cores.GRUCore(8, dtype=torch.int64), ValueError,
     "dtype"),
    ("cores.GRUCore.forward reset float", lambda p: _core("gru")(_t(2, 5, 8), reset=_t(2, 5)),
     TypeError, "reset"),
    ("cores.GRUCore.forward state float64",
     lambda p: _core("gru")(_t(2, 5, 8), _t(2, 8, dtype=torch.float64)), TypeError, "state"),
    ("cores.GRUCore.step u_t float64",
     lambda p: _core("gru").step(_t(2, 8, dtype=torch.float64)), TypeError, "u_t"),
    ("cores.GRUCore.init_state batch_size=0", lambda p: _core("gru").init_state(0), ValueError,
     "batch_size"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_cores_still_run():
    assert cores.GRUCore(np.int64(8)).init_state(np.int64(2)).shape == (2, 8)
    assert cores.make_core("gru", np.int64(8)).hidden_dim == 8
    assert cores.SelectiveCore(8, 4, dtype=torch.float64).A_log.dtype == torch.float64
    assert cores.SSDCore(8, 4, heads=np.int64(2), device="cpu").heads == 2
    selective = _core()
    a, b, C = selective.coefficients(_t(2, 5, 8))
    assert selective.readout(a * b, C, _t(2, 5, 8)).shape == (2, 5, 8)
    assert selective.readout(_t(2, 5, 8, 4), _t(1, 5, 4), _t(2, 5, 8)).shape == (2, 5, 8)
    assert len(_core("ssd").coefficients(_t(8))) == 4
    for init in ("lin", "real"):
        s4d = _s4d(init=init)
        y, state = s4d(_t(2, 5, 8), s4d.init_state(2))
        assert s4d.step(_t(2, 8), state)[0].shape == (2, 8)
        assert s4d.readout(state, _t(2, 8)).shape == (2, 8)
