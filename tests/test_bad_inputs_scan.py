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
    # associative_combine: a (2, D) tensor used to unpack silently into two rows
    ("scan.associative_combine earlier tensor",
     lambda p: scan.associative_combine(_t(2, 3), (_t(3), _t(3))), TypeError, "earlier"),
    ("scan.associative_combine later 3 items",
     lambda p: scan.associative_combine((_t(3), _t(3)), (_t(3), _t(3), _t(3))), TypeError,
     "later"),
    ("scan.associative_combine later[0] numpy",
     lambda p: scan.associative_combine((_t(3), _t(3)), (np.ones(3), _t(3))), TypeError,
     "later[0]"),
    ("scan.associative_combine later[1] float64",
     lambda p: scan.associative_combine((_t(3), _t(3)), (_t(3), _t(3, dtype=torch.float64))),
     TypeError, "later[1]"),
    ("scan.associative_combine shapes",
     lambda p: scan.associative_combine((_t(3), _t(3)), (_t(4), _t(4))), ValueError,
     "earlier and later"),
    ("scan.zero_where_reset reset float",
     lambda p: scan.zero_where_reset(_t(2), _t(2, 3)), TypeError, "reset"),
    ("scan.zero_where_reset reset shape",
     lambda p: scan.zero_where_reset(torch.zeros(3, dtype=torch.bool), _t(2, 3)), ValueError,
     "reset"),
    ("scan.zero_where_reset state numpy",
     lambda p: scan.zero_where_reset(None, np.zeros((2, 3))), TypeError, "state"),
    ("scan.zero_where_reset state 0-d",
     lambda p: scan.zero_where_reset(None, torch.tensor(1.0)), ValueError, "state"),
    ("scan.default_chunk_size length=0", lambda p: scan.default_chunk_size(0), ValueError,
     "length"),
    ("scan.default_chunk_size length='100'", lambda p: scan.default_chunk_size("100"),
     ValueError, "length"),
    ("scan.default_chunk_size width=0", lambda p: scan.default_chunk_size(100, 0), ValueError,
     "width"),
    ("scan.default_chunk_size width=2.5", lambda p: scan.default_chunk_size(100, 2.5),
     ValueError, "width"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_scan_still_run():
    assert scan.default_chunk_size(np.int64(4096)) == 64
    assert scan.default_chunk_size(1) == 16
    assert scan.default_chunk_size(4096, np.int64(4 * 4096)) == 256
    state = torch.ones(2, 3, 4)
    out = scan.zero_where_reset(torch.tensor([True, False]), state)
    assert out[0].eq(0).all() and out[1].eq(1).all()
    assert scan.zero_where_reset(None, state) is state
    a, b = scan.associative_combine([_t(2, 1, 3), _t(1, 5, 3)], (_t(3), _t(3)))
    assert a.shape == (2, 1, 3) and b.shape == (1, 5, 3)
    complex_step = (torch.ones(3, dtype=torch.complex64), torch.ones(3, dtype=torch.complex64))
    assert scan.associative_combine(complex_step, complex_step)[1].dtype == torch.complex64
