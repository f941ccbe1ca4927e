"""Bad inputs of navigation_runs / metaworld_runs (stored runs): each is refused naming the argument."""

from __future__ import annotations

import numpy as np
from bad_input_table import table_tests

CASES = [
    ("navigation_runs.run_config method='sgd'",
     lambda p: __import__("ssm_metarl.navigation_runs").navigation_runs.run_config("sgd", 0),
     ValueError, "method"),
    ("navigation_runs.evaluate_runs grid=(-1,)",
     lambda p: __import__("ssm_metarl.navigation_runs").navigation_runs.evaluate_runs(
         np.zeros((2, 2)), np.zeros((2, 2)), grid=(-1,)), ValueError, "grid"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
