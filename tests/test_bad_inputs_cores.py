"""Bad inputs of cores (the sequence-model core interface): each is refused naming the argument."""

from __future__ import annotations

import numpy as np
import torch
from bad_input_table import _core, _t, table_tests

from ssm_metarl import cores

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
    ("cores.SelectiveCore u float64", lambda p: _core()(_t(2, 5, 8, dtype=torch.float64)),
     TypeError, "u"),
    ("cores.SelectiveCore u numpy", lambda p: _core()(np.zeros((2, 5, 8))), TypeError, "u"),
    ("cores.SelectiveCore u width", lambda p: _core()(_t(2, 5, 7)), ValueError, "u"),
    ("cores.SSDCore.step u_t float64",
     lambda p: _core("ssd").step(_t(2, 8, dtype=torch.float64)), TypeError, "u_t"),
    ("cores.S4DCore state shape", lambda p: _core("s4d")(_t(2, 5, 8), _t(2, 3)), ValueError,
     "state"),
    ("cores.LinearCore u int", lambda p: _core("linear")(torch.zeros(2, 5, 8, dtype=torch.long)),
     TypeError, "u"),
    ("cores.GRUCore reset float", lambda p: _core("gru")(_t(2, 5, 8), reset=_t(2, 5)),
     TypeError, "reset"),
    ("cores.GRUCore state float64",
     lambda p: _core("gru")(_t(2, 5, 8), _t(2, 8, dtype=torch.float64)), TypeError, "state"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
