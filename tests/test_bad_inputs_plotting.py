"""Bad inputs of plotting: each is refused naming the argument."""

from __future__ import annotations

import numpy as np
from bad_input_table import _plotting, table_tests

CASES = [
    ("plotting.plot_state_trajectories states='abc'",
     lambda p: _plotting().plot_state_trajectories(np.arange(3), "abc"), ValueError, "states"),
    ("plotting.plot_adaptation_curve label=3",
     lambda p: _plotting().plot_adaptation_curve(np.arange(3), np.zeros((2, 3)), 3), TypeError,
     "label"),
    ("plotting.plot_adaptation_curve values (2, 4)",
     lambda p: _plotting().plot_adaptation_curve(np.arange(3), np.zeros((2, 4)), "x"),
     ValueError, "values"),
    ("plotting.plot_cost_vs_length timings=list",
     lambda p: _plotting().plot_cost_vs_length([1, 2, 3]), TypeError, "timings"),
    ("plotting.plot_system_diagram ax=1", lambda p: _plotting().plot_system_diagram(ax=1),
     TypeError, "ax"),
    ("plotting.plot_semiseparable_mask 3x4",
     lambda p: _plotting().plot_semiseparable_mask(np.zeros((3, 4))), ValueError, "mask"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
