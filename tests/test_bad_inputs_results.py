"""Bad inputs of results (stored results): each is refused naming the argument."""

from __future__ import annotations

import math

from bad_input_table import _save, table_tests

CASES = [
    ("results.save_result profile=weird", lambda p: _save(p, profile="weird"), ValueError,
     "profile"),
    ("results.save_result metrics nan", lambda p: _save(p, metrics={"m": math.nan}), ValueError,
     "metrics['m']"),
    ("results.save_result metrics inf in list",
     lambda p: _save(p, metrics={"m": [1.0, math.inf]}), ValueError, "metrics['m'][1]"),
    ("results.save_result name=../escaped", lambda p: _save(p, name="../escaped"), ValueError,
     "name"),
    ("results.save_result name=a/b", lambda p: _save(p, name="a/b"), ValueError, "name"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
