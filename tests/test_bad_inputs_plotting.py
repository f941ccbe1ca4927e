"""Bad inputs of plotting: each is refused naming the argument."""

from __future__ import annotations

import numpy as np
from bad_input_table import _plotting, table_tests

CASES = [
    ("plotting.plain_log_ticks axis='z'",
     lambda p: _plotting().plain_log_ticks(_plotting().plt.gca(), axis="z"), ValueError, "axis"),
    ("plotting.plain_log_ticks ax=3", lambda p: _plotting().plain_log_ticks(3), TypeError, "ax"),
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
    ("plotting.plot_semiseparable_mask 0x0",
     lambda p: _plotting().plot_semiseparable_mask(np.zeros((0, 0))), ValueError, "mask"),
    ("plotting.plot_state_trajectories labels too few",
     lambda p: _plotting().plot_state_trajectories(np.arange(3), np.zeros((3, 2)), ["x"]),
     ValueError, "labels"),
    ("plotting.plot_state_trajectories states (T, N, M)",
     lambda p: _plotting().plot_state_trajectories(np.arange(3), np.zeros((3, 2, 2))),
     ValueError, "states"),
    ("plotting.plot_state_trajectories t (T, 1)",
     lambda p: _plotting().plot_state_trajectories(np.zeros((3, 1)), np.zeros(3)), ValueError,
     "t must"),
    ("plotting.plot_phase_portrait states (T, 3)",
     lambda p: _plotting().plot_phase_portrait(np.zeros((5, 3))), ValueError, "states"),
    ("plotting.plot_phase_portrait states empty",
     lambda p: _plotting().plot_phase_portrait(np.zeros((0, 2))), ValueError, "states"),
    ("plotting.plot_phase_portrait states='abc'",
     lambda p: _plotting().plot_phase_portrait("abc"), ValueError, "states"),
    ("plotting.plot_phase_portrait labels=None",
     lambda p: _plotting().plot_phase_portrait(np.zeros((3, 2)), labels=None), TypeError,
     "labels"),
    ("plotting.plot_phase_portrait ax='left'",
     lambda p: _plotting().plot_phase_portrait(np.zeros((3, 2)), ax="left"), TypeError, "ax"),
    ("plotting.plot_chunk_blocks chunk_size=0",
     lambda p: _plotting().plot_chunk_blocks(np.eye(4), 0), ValueError, "chunk_size"),
    ("plotting.plot_chunk_blocks chunk_size=2.0",
     lambda p: _plotting().plot_chunk_blocks(np.eye(4), 2.0), ValueError, "chunk_size"),
    ("plotting.plot_chunk_blocks mask 0x0",
     lambda p: _plotting().plot_chunk_blocks(np.zeros((0, 0)), 2), ValueError, "mask"),
    ("plotting.plot_chunk_blocks mask 2x3",
     lambda p: _plotting().plot_chunk_blocks(np.zeros((2, 3)), 2), ValueError, "mask"),
    ("plotting.plot_cost_vs_length timings entry not a pair",
     lambda p: _plotting().plot_cost_vs_length({"a": [10, 100]}), TypeError, "timings['a']"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_plotting_still_run():
    """What the checks above must still let through."""
    import matplotlib.pyplot as plt

    plotting = _plotting()
    plotting.plot_chunk_blocks(np.eye(4), np.int64(2))
    plotting.plot_phase_portrait(np.zeros((1, 2)), labels=["x", "v"])
    plotting.plot_state_trajectories(np.arange(3), np.zeros(3), labels=("x",))
    plotting.plot_cost_vs_length({"a": (np.array([10, 100]), np.array([1e-3, 1e-2]))})
    plt.close("all")
