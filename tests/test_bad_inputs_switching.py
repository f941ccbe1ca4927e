"""Bad inputs of switching (regime-switching pendulum tasks): each is refused naming the argument."""

from __future__ import annotations

import torch
from bad_input_table import _t, table_tests

from ssm_metarl import switching

CASES = [
    ("switching.jump_uniform min_jump=0.8",
     lambda p: switching.jump_uniform(torch.Generator().manual_seed(0), _t(3).double(),
                                      (0.0, 1.0), 0.8), ValueError, "min_jump"),
    ("switching.jump_uniform min_jump=-0.1",
     lambda p: switching.jump_uniform(torch.Generator().manual_seed(0), _t(3).double(),
                                      (0.0, 1.0), -0.1), ValueError, "min_jump"),
    ("switching.SwitchingOscillatorTasks batch=0",
     lambda p: switching.SwitchingOscillatorTasks().sample(0), ValueError, "batch"),
    ("switching.TransitionWindowTasks num_tasks=0",
     lambda p: switching.TransitionWindowTasks(
         switching.SwitchingOscillatorTasks(num_switches=0), history=2).sample(0),
     ValueError, "num_tasks"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
