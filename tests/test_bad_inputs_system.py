"""Bad inputs of system (notebook 05's modes): each is refused naming the argument."""

from __future__ import annotations

from bad_input_table import table_tests

CASES = [
    ("system.train_mode config=1",
     lambda p: __import__("ssm_metarl.system").system.train_mode("none", 1), TypeError, "config"),
    ("system.SystemConfig episodes_per_trial=3",
     lambda p: __import__("ssm_metarl.system").system.SystemConfig(episodes_per_trial=3),
     ValueError, "episodes_per_trial"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
