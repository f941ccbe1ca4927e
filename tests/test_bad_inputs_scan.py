"""Bad inputs of scan (parallel and chunked scans): each is refused naming the argument."""

from __future__ import annotations

import numpy as np
import torch
from bad_input_table import _scan, _t, table_tests

from ssm_metarl import scan

CASES = [
    ("scan.scan a numpy", lambda p: _scan(a=np.zeros((2, 5, 3))), TypeError, "a"),
    ("scan.scan a 2-D", lambda p: _scan(a=_t(5, 3)), ValueError, "a"),
    ("scan.scan b float64", lambda p: _scan(b=_t(2, 5, 3, dtype=torch.float64)), TypeError, "b"),
    ("scan.scan a int", lambda p: _scan(a=torch.zeros(2, 5, 3, dtype=torch.long),
                                         b=torch.zeros(2, 5, 3, dtype=torch.long)),
     TypeError, "a"),
    ("scan.scan h0 shape", lambda p: _scan(h0=_t(2, 4)), ValueError, "h0"),
    ("scan.scan h0 float64", lambda p: _scan(h0=_t(2, 3, dtype=torch.float64)), TypeError, "h0"),
    ("scan.scan reset float", lambda p: _scan(reset=_t(2, 5)), TypeError, "reset"),
    ("scan.scan reset shape", lambda p: _scan(reset=torch.zeros(2, 4, dtype=torch.bool)),
     ValueError, "reset"),
    ("scan.scan chunk_size=0", lambda p: _scan(chunk_size=0), ValueError, "chunk_size"),
    ("scan.scan chunk_size='8'", lambda p: _scan(chunk_size="8"), ValueError, "chunk_size"),
    ("scan.scan_reference a list", lambda p: _scan(scan.scan_reference, a=[[[1.0]]]), TypeError,
     "a"),
    ("scan.scan_doubling b L=0", lambda p: _scan(scan.scan_doubling, a=_t(2, 0, 3),
                                                 b=_t(2, 0, 3)), ValueError, "L"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
