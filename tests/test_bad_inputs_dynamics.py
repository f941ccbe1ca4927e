"""Bad inputs of dynamics (oscillators, pendulum, simulations): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import table_tests

from ssm_metarl import dynamics

F64 = torch.float64


def _z(*shape, dtype=F64):
    return torch.zeros(*shape, dtype=dtype)


def _osc():
    return dynamics.oscillator_matrices(torch.ones(3, dtype=F64), torch.full((3,), 0.1, dtype=F64))


def _simulate(**over):
    A_bar, B_bar = dynamics.discretize_exact(*_osc(), 0.1)
    args = {"A_bar": A_bar, "B_bar": B_bar, "u": _z(3, 2, 5, 1), "initial_state": _z(3, 2, 2)}
    args.update(over)
    return dynamics.simulate_discrete(**args)


def _varying(**over):
    args = {"A_bar": torch.eye(2, dtype=F64).expand(4, 5, 2, 2), "B_bar": _z(4, 5, 2, 1),
            "u": _z(4, 5, 1), "initial_state": _z(4, 2)}
    args.update(over)
    return dynamics.simulate_time_varying(**args)


def _pendulum(fn, **over):
    args = {"state": _z(4, 2), "torque": _z(4), "mass": torch.ones(4, dtype=F64),
            "length": torch.ones(4, dtype=F64)}
    if fn is dynamics.pendulum_derivative:
        args.update(gravity=9.81, damping=0.2)
    else:
        args.update(dt=0.1)
    args.update(over)
    return fn(**args)


CASES = [
    ("dynamics.oscillator_matrices omega numpy",
     lambda p: dynamics.oscillator_matrices(np.ones(3), np.ones(3)), TypeError, "omega"),
    ("dynamics.oscillator_matrices omega int",
     lambda p: dynamics.oscillator_matrices(torch.ones(3, dtype=torch.long), _z(3)), TypeError,
     "omega"),
    ("dynamics.oscillator_matrices zeta shape",
     lambda p: dynamics.oscillator_matrices(_z(3), _z(2)), ValueError, "zeta"),
    ("dynamics.oscillator_matrices zeta float32",
     lambda p: dynamics.oscillator_matrices(_z(3), _z(3, dtype=torch.float32)), TypeError, "zeta"),
    ("dynamics.discretize_exact A numpy",
     lambda p: dynamics.discretize_exact(_osc()[0].numpy(), _osc()[1], 0.1), TypeError, "A"),
    ("dynamics.discretize_exact dt=-0.1",
     lambda p: dynamics.discretize_exact(*_osc(), -0.1), ValueError, "dt"),
    ("dynamics.discretize_exact dt='0.1'",
     lambda p: dynamics.discretize_exact(*_osc(), "0.1"), TypeError, "dt"),
    ("dynamics.discretize_exact B shape",
     lambda p: dynamics.discretize_exact(_osc()[0], _z(3, 3, 1), 0.1), ValueError, "B"),
    ("dynamics.simulate_discrete u numpy", lambda p: _simulate(u=np.zeros((3, 2, 5, 1))),
     TypeError, "u"),
    ("dynamics.simulate_discrete u float32",
     lambda p: _simulate(u=_z(3, 2, 5, 1, dtype=torch.float32)), TypeError, "u"),
    ("dynamics.simulate_discrete u 3-D", lambda p: _simulate(u=_z(3, 2, 5)), ValueError, "u"),
    ("dynamics.simulate_discrete u tasks", lambda p: _simulate(u=_z(2, 2, 5, 1)), ValueError,
     "u"),
    ("dynamics.simulate_discrete initial_state K=1",
     lambda p: _simulate(initial_state=_z(3, 1, 2)), ValueError, "initial_state"),
    ("dynamics.simulate_discrete initial_state None",
     lambda p: _simulate(initial_state=None), TypeError, "initial_state"),
    ("dynamics.simulate_discrete L=0", lambda p: _simulate(u=_z(3, 2, 0, 1)), ValueError, "L"),
    ("dynamics.simulate_discrete B_bar not square system",
     lambda p: _simulate(B_bar=_z(3, 3, 1)), ValueError, "B_bar"),
    ("dynamics.simulate_time_varying u length", lambda p: _varying(u=_z(4, 3, 1)), ValueError,
     "u"),
    ("dynamics.simulate_time_varying initial_state width",
     lambda p: _varying(initial_state=_z(4, 1)), ValueError, "initial_state"),
    ("dynamics.simulate_time_varying A_bar int",
     lambda p: _varying(A_bar=torch.zeros(4, 5, 2, 2, dtype=torch.long)), TypeError, "A_bar"),
    ("dynamics.simulate_time_varying initial_state numpy",
     lambda p: _varying(initial_state=np.zeros((4, 2))), TypeError, "initial_state"),
    ("dynamics.pendulum_derivative state width",
     lambda p: _pendulum(dynamics.pendulum_derivative, state=_z(4, 1)), ValueError, "state"),
    ("dynamics.pendulum_derivative state numpy",
     lambda p: _pendulum(dynamics.pendulum_derivative, state=np.zeros((4, 2))), TypeError,
     "state"),
    ("dynamics.pendulum_derivative mass=0",
     lambda p: _pendulum(dynamics.pendulum_derivative, mass=_z(4)), ValueError, "mass"),
    ("dynamics.pendulum_derivative length=-1",
     lambda p: _pendulum(dynamics.pendulum_derivative, length=-1.0), ValueError, "length"),
    ("dynamics.pendulum_derivative torque (4, 1)",
     lambda p: _pendulum(dynamics.pendulum_derivative, torque=_z(4, 1)), ValueError, "torque"),
    ("dynamics.pendulum_derivative gravity='9.81'",
     lambda p: _pendulum(dynamics.pendulum_derivative, gravity="9.81"), ValueError, "gravity"),
    ("dynamics.pendulum_rk4_step dt=nan",
     lambda p: _pendulum(dynamics.pendulum_rk4_step, dt=math.nan), ValueError, "dt"),
    ("dynamics.pendulum_rk4_step damping=nan",
     lambda p: _pendulum(dynamics.pendulum_rk4_step, damping=math.nan), ValueError, "damping"),
    ("dynamics.pendulum_rk4_step mass float32",
     lambda p: _pendulum(dynamics.pendulum_rk4_step, mass=torch.ones(4)), TypeError, "mass"),
    ("dynamics.pendulum_step substeps=0",
     lambda p: _pendulum(dynamics.pendulum_step, substeps=0), ValueError, "substeps"),
    ("dynamics.pendulum_step dt=0", lambda p: _pendulum(dynamics.pendulum_step, dt=0.0),
     ValueError, "dt"),
    ("dynamics.pendulum_step torque numpy",
     lambda p: _pendulum(dynamics.pendulum_step, torque=np.zeros(4)), TypeError, "torque"),
    ("dynamics.pendulum_step length shape",
     lambda p: _pendulum(dynamics.pendulum_step, length=torch.ones(3, dtype=F64)), ValueError,
     "length"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_dynamics_still_run():
    A, B = dynamics.oscillator_matrices(torch.tensor(1.0), torch.tensor(0.1))
    assert A.shape == (2, 2) and B.shape == (2, 1)
    assert _simulate().shape == (3, 2, 5, 2)
    A_bar, B_bar = dynamics.discretize_exact(*_osc(), 0.1)
    two_inputs = dynamics.simulate_discrete(A_bar, _z(3, 2, 2), _z(3, 2, 5, 2), _z(3, 2, 2))
    assert two_inputs.shape == (3, 2, 5, 2)
    assert _varying().shape == (4, 5, 2)
    for fn in (dynamics.pendulum_derivative, dynamics.pendulum_rk4_step, dynamics.pendulum_step):
        assert _pendulum(fn).shape == (4, 2)
        assert _pendulum(fn, mass=1.0, length=np.float64(2.0), torque=0.5).shape == (4, 2)
        assert _pendulum(fn, mass=torch.tensor(1.0, dtype=F64)).shape == (4, 2)
    assert _pendulum(dynamics.pendulum_step, dt=np.float64(0.1), substeps=np.int64(3),
                     gravity=0.0).shape == (4, 2)
