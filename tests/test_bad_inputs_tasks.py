"""Bad inputs of tasks (sinusoid regression tasks): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _sample, _t, table_tests

from ssm_metarl import tasks


def _osc():
    return tasks.DampedOscillatorTasks(length=10)


def _simulate(**over):
    args = {"omega": torch.ones(2, dtype=torch.float64),
            "zeta": torch.full((2,), 0.2, dtype=torch.float64),
            "u": _t(2, 3, 10, 1, dtype=torch.float64)}
    args.update(over)
    return _osc().simulate(**args)


def _sinusoid(**over):
    args = {"x": _t(2, 3, 1), "amplitude": torch.ones(2), "phase": _t(2)}
    args.update(over)
    return tasks.sinusoid(**args)


CASES = [
    ("tasks.TaskSample.task(5)", lambda p: _sample().task(5), ValueError, "3 tasks"),
    ("tasks.TaskSample.task(-1)", lambda p: _sample().task(-1), ValueError, "index"),
    ("tasks.TaskSample.task('1')", lambda p: _sample().task("1"), ValueError, "index"),
    ("tasks.SinusoidTasks.sample num_tasks=0", lambda p: tasks.SinusoidTasks().sample(0, 2, 2),
     ValueError, "num_tasks"),
    ("tasks.SinusoidTasks.sample k_query=0", lambda p: tasks.SinusoidTasks().sample(2, 2, 0),
     ValueError, "k_query"),
    ("tasks.SinusoidTasks.sample query_grid='yes'",
     lambda p: tasks.SinusoidTasks().sample(2, 2, 2, query_grid="yes"), TypeError, "query_grid"),
    ("tasks.SinusoidTasks.sample_task_params num_tasks=1.5",
     lambda p: tasks.SinusoidTasks().sample_task_params(1.5), ValueError, "num_tasks"),
    ("tasks.SinusoidTasks device='gpu'", lambda p: tasks.SinusoidTasks(device="gpu"), ValueError,
     "device"),
    ("tasks.SinusoidTasks dtype=int64", lambda p: tasks.SinusoidTasks(dtype=torch.int64),
     ValueError, "dtype"),
    ("tasks.SinusoidTasks x_range='wide'", lambda p: tasks.SinusoidTasks(x_range="wide"),
     TypeError, "x_range"),
    ("tasks.DampedOscillatorTasks.sample num_tasks=0",
     lambda p: tasks.DampedOscillatorTasks().sample(0, 2, 2), ValueError, "num_tasks"),
    ("tasks.DampedOscillatorTasks.sample length=0", lambda p: _osc().sample(2, 2, 2, length=0),
     ValueError, "length"),
    ("tasks.DampedOscillatorTasks device='gpu'",
     lambda p: tasks.DampedOscillatorTasks(device="gpu"), ValueError, "device"),
    ("tasks.DampedOscillatorTasks dtype='float32'",
     lambda p: tasks.DampedOscillatorTasks(dtype="float32"), ValueError, "dtype"),
    ("tasks.DampedOscillatorTasks.sample_task_params num_tasks=0",
     lambda p: _osc().sample_task_params(0), ValueError, "num_tasks"),
    ("tasks.DampedOscillatorTasks.sample_inputs shape=2", lambda p: _osc().sample_inputs(2),
     TypeError, "shape"),
    ("tasks.DampedOscillatorTasks.sample_inputs shape=(2, -1)",
     lambda p: _osc().sample_inputs((2, -1)), ValueError, "shape[1]"),
    ("tasks.DampedOscillatorTasks.sample_inputs shape=(2.5,)",
     lambda p: _osc().sample_inputs((2.5,)), ValueError, "shape[0]"),
    ("tasks.DampedOscillatorTasks.sample_inputs kind='chirp'",
     lambda p: _osc().sample_inputs((2,), kind="chirp"), ValueError, "input_kind"),
    ("tasks.DampedOscillatorTasks.sample_inputs length=0",
     lambda p: _osc().sample_inputs((2,), 0), ValueError, "length"),
    ("tasks.DampedOscillatorTasks.simulate omega numpy",
     lambda p: _simulate(omega=np.ones(2)), TypeError, "omega"),
    ("tasks.DampedOscillatorTasks.simulate u numpy",
     lambda p: _simulate(u=np.zeros((2, 3, 10, 1))), TypeError, "u"),
    ("tasks.DampedOscillatorTasks.simulate u int",
     lambda p: _simulate(u=_t(2, 3, 10, 1, dtype=torch.long)), TypeError, "u"),
    ("tasks.DampedOscillatorTasks.simulate u (T, L, 1)", lambda p: _simulate(u=_t(2, 10, 1)),
     ValueError, "u"),
    ("tasks.DampedOscillatorTasks.simulate omega (T, 1)",
     lambda p: _simulate(omega=torch.ones(2, 1, dtype=torch.float64)), ValueError, "omega"),
    ("tasks.DampedOscillatorTasks.simulate omega nan",
     lambda p: _simulate(omega=torch.full((2,), math.nan, dtype=torch.float64)), ValueError,
     "omega"),
    ("tasks.DampedOscillatorTasks.simulate omega < 0",
     lambda p: _simulate(omega=-torch.ones(2, dtype=torch.float64)), ValueError, "omega"),
    ("tasks.DampedOscillatorTasks.simulate zeta (3,)",
     lambda p: _simulate(zeta=torch.ones(3, dtype=torch.float64)), ValueError, "zeta"),
    ("tasks.DampedOscillatorTasks.simulate initial_state (T, 2)",
     lambda p: _simulate(initial_state=_t(2, 2, dtype=torch.float64)), ValueError,
     "initial_state"),
    ("tasks.DampedOscillatorTasks.simulate initial_state numpy",
     lambda p: _simulate(initial_state=np.zeros((2, 3, 2))), TypeError, "initial_state"),
    ("tasks.OscillatorIdentification.sample num_tasks=0",
     lambda p: tasks.OscillatorIdentification(0, 5, 5).sample(0, 2, 2), ValueError, "num_tasks"),
    ("tasks.OscillatorIdentification.sample k_support=0",
     lambda p: tasks.OscillatorIdentification(0, 5, 5).sample(2, 0, 2), ValueError, "k_support"),
    ("tasks.OscillatorIdentification seed=-1",
     lambda p: tasks.OscillatorIdentification(-1, 5, 5), ValueError, "seed"),
    ("tasks.OscillatorIdentification query_length='5'",
     lambda p: tasks.OscillatorIdentification(0, 5, "5"), ValueError, "query_length"),
    ("tasks.sinusoid x numpy", lambda p: _sinusoid(x=np.zeros((2, 3, 1))), TypeError, "x"),
    ("tasks.sinusoid x (T, K)", lambda p: _sinusoid(x=_t(2, 3)), ValueError, "x"),
    ("tasks.sinusoid x (T, K, 2)", lambda p: _sinusoid(x=_t(2, 3, 2)), ValueError, "x"),
    ("tasks.sinusoid x int", lambda p: _sinusoid(x=_t(2, 3, 1, dtype=torch.long)), ValueError,
     "x"),
    ("tasks.sinusoid amplitude=1.0", lambda p: _sinusoid(amplitude=1.0), TypeError, "amplitude"),
    ("tasks.sinusoid amplitude (3,)", lambda p: _sinusoid(amplitude=torch.ones(3)), ValueError,
     "amplitude"),
    ("tasks.sinusoid phase float64", lambda p: _sinusoid(phase=_t(2, dtype=torch.float64)),
     TypeError, "phase"),
    ("tasks.unit_power numpy", lambda p: tasks.unit_power(np.ones((2, 3, 1))), TypeError, "u"),
    ("tasks.unit_power 1-D", lambda p: tasks.unit_power(torch.ones(3)), ValueError, "u"),
    ("tasks.unit_power int", lambda p: tasks.unit_power(torch.ones(2, 3, 1, dtype=torch.long)),
     ValueError, "u"),
    ("tasks.unit_power an all-zero sequence", lambda p: tasks.unit_power(_t(2, 3, 1)), ValueError,
     "u (mean power"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_tasks_still_run():
    """What the checks above must still let through."""
    assert tasks.SinusoidTasks(seed=np.int64(2), dtype=torch.float64).sample(
        2, 3, 4, query_grid=np.bool_(True)).query_x.dtype == torch.float64
    assert _sinusoid(x=_t(2, 3, 1, dtype=torch.float64), amplitude=torch.ones(2).double(),
                     phase=_t(2).double()).shape == (2, 3, 1)
    assert _osc().sample_inputs(()).shape == (10, 1)
    assert _osc().sample_inputs([2, np.int64(3)]).shape == (2, 3, 10, 1)
    y, states = _simulate(u=torch.ones(2, 3, 10, 1), initial_state=torch.ones(2, 3, 2))
    assert (y.dtype, states.shape) == (torch.float32, (2, 3, 10, 2))
    assert _simulate(zeta=torch.zeros(2, dtype=torch.float64))[0].shape == (2, 3, 10, 1)
    scaled = tasks.unit_power(torch.randn(2, 3, 50, 1))
    assert torch.allclose(scaled.pow(2).mean(-2), torch.ones(2, 3, 1))
    assert tasks.OscillatorIdentification(np.int64(0), 5, 7).sample(2, 1, 1).query_x.shape == \
        (2, 1, 7, 1)
