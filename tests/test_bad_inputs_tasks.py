"""Bad inputs of tasks (sinusoid regression tasks): each is refused naming the argument."""

from __future__ import annotations

from bad_input_table import _sample, table_tests

from ssm_metarl import tasks

CASES = [
    ("tasks.TaskSample.task(5)", lambda p: _sample().task(5), ValueError, "3 tasks"),
    ("tasks.TaskSample.task(-1)", lambda p: _sample().task(-1), ValueError, "index"),
    ("tasks.TaskSample.task('1')", lambda p: _sample().task("1"), ValueError, "index"),
    ("tasks.SinusoidTasks num_tasks=0", lambda p: tasks.SinusoidTasks().sample(0, 2, 2),
     ValueError, "num_tasks"),
    ("tasks.DampedOscillatorTasks num_tasks=0",
     lambda p: tasks.DampedOscillatorTasks().sample(0, 2, 2), ValueError, "num_tasks"),
    ("tasks.OscillatorIdentification num_tasks=0",
     lambda p: tasks.OscillatorIdentification(0, 5, 5).sample(0, 2, 2), ValueError, "num_tasks"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
