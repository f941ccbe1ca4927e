"""Bad inputs of switching (regime-switching pendulum tasks): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _t, table_tests

from ssm_metarl import switching


def _gen():
    return torch.Generator().manual_seed(0)


def _osc(**kw):
    return switching.SwitchingOscillatorTasks(**{"length": 20, "min_segment": 5, **kw})


def _pend(**kw):
    return switching.SwitchingPendulumTasks(**{"length": 20, "min_segment": 5, **kw})


def _sample():
    return _osc().sample(2)


def _data():
    sample = _sample()
    return switching.next_step_data(sample.y, sample.u, 3)  # N = 17 examples per sequence


def _mask():
    return switching.sample_switch_mask(_gen(), 2, 10)


def _pcp(**over):
    args = {"generator": _gen(), "switch_mask": _mask(), "bounds": [(0.0, 1.0), (1.0, 2.0)],
            "min_jumps": [0.2, None]}
    args.update(over)
    return switching.piecewise_constant_params(**args)


def _simulate(params=None, u=None, initial_state=None):
    return _pend().simulate(torch.ones(2, 5, 2) if params is None else params,
                            _t(2, 5, 1) if u is None else u,
                            _t(2, 2) if initial_state is None else initial_state)


def _windows(**kw):
    return switching.TransitionWindowTasks(_osc(num_switches=0, length=40), **{"history": 2,
                                                                              "past": 4,
                                                                              "future": 4, **kw})


class _NoSample:
    length = 40

    def sample(self, batch):
        return "not a SwitchingSample"


CASES = [
    ("switching.jump_uniform min_jump=0.8",
     lambda p: switching.jump_uniform(torch.Generator().manual_seed(0), _t(3).double(),
                                      (0.0, 1.0), 0.8), ValueError, "min_jump"),
    ("switching.jump_uniform min_jump=-0.1",
     lambda p: switching.jump_uniform(torch.Generator().manual_seed(0), _t(3).double(),
                                      (0.0, 1.0), -0.1), ValueError, "min_jump"),
    ("switching.jump_uniform generator=None",
     lambda p: switching.jump_uniform(None, _t(3).double(), (0.0, 1.0), 0.2), TypeError,
     "generator"),
    ("switching.jump_uniform old numpy",
     lambda p: switching.jump_uniform(_gen(), np.zeros(3), (0.0, 1.0), 0.2), TypeError, "old"),
    ("switching.jump_uniform old int",
     lambda p: switching.jump_uniform(_gen(), _t(3, dtype=torch.long), (0.0, 1.0), 0.2),
     TypeError, "old"),
    ("switching.jump_uniform old outside bounds",
     lambda p: switching.jump_uniform(_gen(), torch.full((3,), 5.0), (0.0, 1.0), 0.2),
     ValueError, "old"),
    ("switching.jump_uniform bounds reversed",
     lambda p: switching.jump_uniform(_gen(), _t(3), (1.0, 0.0), 0.2), ValueError, "bounds"),
    ("switching.jump_uniform bounds=1.0",
     lambda p: switching.jump_uniform(_gen(), _t(3), 1.0, 0.2), TypeError, "bounds"),
    ("switching.sample_switch_mask generator=0",
     lambda p: switching.sample_switch_mask(0, 2, 10), TypeError, "generator"),
    ("switching.sample_switch_mask batch=-1",
     lambda p: switching.sample_switch_mask(_gen(), -1, 10), ValueError, "batch"),
    ("switching.sample_switch_mask length='10'",
     lambda p: switching.sample_switch_mask(_gen(), 2, "10"), ValueError, "length"),
    ("switching.sample_switch_mask switch_prob=nan",
     lambda p: switching.sample_switch_mask(_gen(), 2, 10, num_switches=None,
                                            switch_prob=math.nan), ValueError, "switch_prob"),
    ("switching.sample_switch_mask switch_prob that can never switch",
     lambda p: switching.sample_switch_mask(_gen(), 2, 10, num_switches=None, switch_prob=0.1,
                                            min_segment=20), ValueError, "switch_prob"),
    ("switching.sample_switch_mask both rules",
     lambda p: switching.sample_switch_mask(_gen(), 2, 10, num_switches=1, switch_prob=0.1),
     ValueError, "num_switches"),
    ("switching.piecewise_constant_params generator=None", lambda p: _pcp(generator=None),
     TypeError, "generator"),
    ("switching.piecewise_constant_params switch_mask numpy",
     lambda p: _pcp(switch_mask=_mask().numpy()), TypeError, "switch_mask"),
    ("switching.piecewise_constant_params switch_mask float",
     lambda p: _pcp(switch_mask=_mask().float()), TypeError, "switch_mask"),
    ("switching.piecewise_constant_params switch_mask 1-D",
     lambda p: _pcp(switch_mask=_mask()[0]), ValueError, "switch_mask"),
    ("switching.piecewise_constant_params min_jumps too short",
     lambda p: _pcp(min_jumps=[0.2]), ValueError, "min_jumps"),
    ("switching.piecewise_constant_params bounds=[]",
     lambda p: _pcp(bounds=[], min_jumps=[]), TypeError, "bounds"),
    ("switching.piecewise_constant_params bounds[1] reversed",
     lambda p: _pcp(bounds=[(0.0, 1.0), (2.0, 1.0)]), ValueError, "bounds[1]"),
    ("switching.piecewise_constant_params min_jumps[0]=0.9",
     lambda p: _pcp(min_jumps=[0.9, None]), ValueError, "min_jumps[0]"),
    ("switching.SwitchingOscillatorTasks.sample batch=0",
     lambda p: switching.SwitchingOscillatorTasks().sample(0), ValueError, "batch"),
    ("switching.SwitchingOscillatorTasks device='gpu'", lambda p: _osc(device="gpu"),
     ValueError, "device"),
    ("switching.SwitchingOscillatorTasks dtype=int64", lambda p: _osc(dtype=torch.int64),
     ValueError, "dtype"),
    ("switching.SwitchingOscillatorTasks omega_after_range='fast'",
     lambda p: _osc(omega_after_range="fast"), TypeError, "omega_after_range"),
    ("switching.SwitchingOscillatorTasks switch_prob=2",
     lambda p: _osc(num_switches=None, switch_prob=2.0), ValueError, "switch_prob"),
    ("switching.SwitchingOscillatorTasks.switch_mask batch='a'",
     lambda p: _osc().switch_mask("a"), ValueError, "batch"),
    ("switching.SwitchingOscillatorTasks.discretize numpy",
     lambda p: _osc().discretize(np.ones((2, 3, 2))), TypeError, "params"),
    ("switching.SwitchingOscillatorTasks.discretize (B, L)",
     lambda p: _osc().discretize(torch.ones(2, 3)), ValueError, "params"),
    ("switching.SwitchingOscillatorTasks.discretize 3 parameters",
     lambda p: _osc().discretize(torch.ones(2, 3, 3)), ValueError, "params"),
    ("switching.SwitchingOscillatorTasks.discretize nan",
     lambda p: _osc().discretize(torch.full((2, 3, 2), math.nan)), ValueError, "params"),
    ("switching.SwitchingOscillatorTasks.oracle_forecast tuple",
     lambda p: _osc().oracle_forecast((1, 2)), TypeError, "sample"),
    ("switching.SwitchingOscillatorTasks.oracle_forecast pendulum sample",
     lambda p: _osc().oracle_forecast(_pend().sample(2)), ValueError, "sample"),
    ("switching.SwitchingPendulumTasks switching='angle'", lambda p: _pend(switching="angle"),
     ValueError, "switching"),
    ("switching.SwitchingPendulumTasks device='gpu'", lambda p: _pend(device="gpu"), ValueError,
     "device"),
    ("switching.SwitchingPendulumTasks dtype='float32'", lambda p: _pend(dtype="float32"),
     ValueError, "dtype"),
    ("switching.SwitchingPendulumTasks gravity=nan", lambda p: _pend(gravity=math.nan),
     ValueError, "gravity"),
    ("switching.SwitchingPendulumTasks.sample batch=0", lambda p: _pend().sample(0), ValueError,
     "batch"),
    ("switching.SwitchingPendulumTasks.simulate params numpy",
     lambda p: _simulate(params=np.ones((2, 5, 2))), TypeError, "params"),
    ("switching.SwitchingPendulumTasks.simulate u shorter",
     lambda p: _simulate(u=_t(2, 4, 1)), ValueError, "u"),
    ("switching.SwitchingPendulumTasks.simulate u (B, L)",
     lambda p: _simulate(u=_t(2, 5)), ValueError, "u"),
    ("switching.SwitchingPendulumTasks.simulate u float64",
     lambda p: _simulate(u=_t(2, 5, 1, dtype=torch.float64)), TypeError, "u"),
    ("switching.SwitchingPendulumTasks.simulate initial_state batch",
     lambda p: _simulate(initial_state=_t(3, 2)), ValueError, "initial_state"),
    ("switching.SwitchingPendulumTasks.simulate params (B, L, 3)",
     lambda p: _simulate(params=torch.ones(2, 5, 3)), ValueError, "params"),
    ("switching.SwitchingSample.to device='gpu'", lambda p: _sample().to("gpu"), ValueError,
     "device"),
    ("switching.SwitchingSample.to dtype=int64", lambda p: _sample().to(dtype=torch.int64),
     ValueError, "dtype"),
    ("switching.SwitchingSample.sequence 5", lambda p: _sample().sequence(5), ValueError,
     "index"),
    ("switching.SwitchingSample.sequence -1", lambda p: _sample().sequence(-1), ValueError,
     "index"),
    ("switching.SwitchingSample.sequence '0'", lambda p: _sample().sequence("0"), ValueError,
     "index"),
    ("switching.next_step_data y numpy",
     lambda p: switching.next_step_data(np.zeros((2, 10, 1)), _t(2, 10, 1), 3), TypeError, "y"),
    ("switching.next_step_data u (B, L)",
     lambda p: switching.next_step_data(_t(2, 10, 1), _t(2, 10), 3), ValueError, "u"),
    ("switching.next_step_data u float64",
     lambda p: switching.next_step_data(_t(2, 10, 1), _t(2, 10, 1, dtype=torch.float64), 3),
     TypeError, "u"),
    ("switching.next_step_data y int",
     lambda p: switching.next_step_data(_t(2, 10, 1, dtype=torch.long),
                                        _t(2, 10, 1, dtype=torch.long), 3), TypeError, "y"),
    ("switching.next_step_data history=10",
     lambda p: switching.next_step_data(_t(2, 10, 1), _t(2, 10, 1), 10), ValueError, "history"),
    ("switching.next_step_data history=0",
     lambda p: switching.next_step_data(_t(2, 10, 1), _t(2, 10, 1), 0), ValueError, "history"),
    ("switching.NextStepData.to_time_frame numpy",
     lambda p: _data().to_time_frame(np.zeros((2, 17, 1))), TypeError, "values"),
    ("switching.NextStepData.to_time_frame wrong N",
     lambda p: _data().to_time_frame(_t(2, 10, 1)), ValueError, "values"),
    ("switching.NextStepData.to_time_frame wrong B",
     lambda p: _data().to_time_frame(_t(3, 17, 1)), ValueError, "values"),
    ("switching.NextStepData.to_time_frame int",
     lambda p: _data().to_time_frame(_t(2, 17, 1, dtype=torch.long)), TypeError, "values"),
    ("switching.TransitionWindowTasks.sample num_tasks=0",
     lambda p: switching.TransitionWindowTasks(
         switching.SwitchingOscillatorTasks(num_switches=0), history=2).sample(0),
     ValueError, "num_tasks"),
    ("switching.TransitionWindowTasks.sample k_support='a'",
     lambda p: _windows().sample(2, "a"), ValueError, "k_support"),
    ("switching.TransitionWindowTasks.sample systems give a str",
     lambda p: switching.TransitionWindowTasks(_NoSample(), 2, 4, 4).sample(2), TypeError,
     "systems"),
    ("switching.TransitionWindowTasks systems=object()",
     lambda p: switching.TransitionWindowTasks(object(), 2), TypeError, "systems"),
    ("switching.TransitionWindowTasks systems without length",
     lambda p: switching.TransitionWindowTasks(type("S", (), {"sample": lambda s, b: None})(), 2),
     TypeError, "systems"),
    ("switching.TransitionWindowTasks seed=-1", lambda p: _windows(seed=-1), ValueError, "seed"),
    ("switching.TransitionWindowTasks history=40", lambda p: _windows(history=40), ValueError,
     "history"),
    ("switching.TransitionWindowTasks past + future too long", lambda p: _windows(past=30, future=9),
     ValueError, "past + future"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_switching_still_run():
    """What the checks above must still let through."""
    assert switching.sample_switch_mask(_gen(), 0, 10).shape == (0, 10)
    hazard = switching.sample_switch_mask(_gen(), 2, 10, num_switches=None,
                                          switch_prob=np.float32(0.5), min_segment=5)
    assert hazard.shape == (2, 10)
    assert switching.sample_switch_mask(_gen(), 2, 10, num_switches=None, switch_prob=0.0,
                                        min_segment=20).sum() == 0
    jumped = switching.jump_uniform(_gen(), torch.tensor([0.0, 1.0]), (0.0, 1.0), 0.25)
    assert ((jumped >= 0) & (jumped <= 1)).all()
    assert switching.jump_uniform(_gen(), torch.tensor([2.0]), (2.0, 2.0), 0.25).item() == 2.0
    assert _pcp(bounds=((0.0, 1.0), (1.0, 2.0)), min_jumps=(0.0, 0.5)).shape == (2, 10, 2)
    sample = _osc(seed=np.int64(1), dtype=torch.float64).sample(2)
    assert sample.sequence(np.int64(1)).u.shape == (1, 20, 1)
    assert sample.to(dtype=torch.float32, device=torch.device("cpu")).y.dtype == torch.float32
    assert _osc().oracle_forecast(sample).shape == (2, 20, 1)
    assert _osc().discretize(sample.params)[0].shape == (2, 20, 2, 2)
    assert _simulate().shape == (2, 5, 2)
    data = switching.next_step_data(sample.y, sample.u, 3)
    assert data.to_time_frame(data.targets).shape == (2, 20, 1)
    assert data.to_time_frame(data.targets[..., 0]).shape == (2, 20)
    assert _windows().sample(2, 10, 10).support_x.shape == (2, 4, 4)
