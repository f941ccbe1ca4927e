"""Bad inputs of checkpoints (the one loader): each is refused naming the argument."""

from __future__ import annotations

from bad_input_table import _lin, _list_weights, _nan_weights, _saved, _t, table_tests

from ssm_metarl import checkpoints, ssm

CASES = [
    ("checkpoints.load missing", lambda p: ssm.LinearSSM.load(p / "none.pt"), FileNotFoundError,
     "none.pt"),
    ("checkpoints.load map_location=foo",
     lambda p: ssm.LinearSSM.load(_saved(p, lambda d: None), map_location="foo"), ValueError,
     "map_location"),
    ("checkpoints.load map_location=cuda",
     lambda p: ssm.LinearSSM.load(_saved(p, lambda d: None), map_location="cuda"), ValueError,
     "map_location"),
    ("checkpoints.load list weights", lambda p: ssm.LinearSSM.load(_saved(p, _list_weights)),
     ValueError, "'C'"),
    ("checkpoints.load nan weights", lambda p: ssm.LinearSSM.load(_saved(p, _nan_weights)),
     ValueError, "'A'"),
    ("checkpoints.load expected_config",
     lambda p: ssm.LinearSSM.load(_saved(p, lambda d: None), expected_config={"state_dim": 3}),
     ValueError, "state_dim"),
    ("checkpoints.check_state_dict list",
     lambda p: checkpoints.check_state_dict("x.pt", {"w": _t(2)}, {"w": [0.0, 0.0]}),
     ValueError, "'w'"),
    ("checkpoints.save_checkpoint extra",
     lambda p: checkpoints.save_checkpoint(p / "x.pt", "f/1", {}, _lin(), {"config": 1}),
     ValueError, "extra"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
