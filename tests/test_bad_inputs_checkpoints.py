"""Bad inputs of checkpoints (the one loader): each is refused naming the argument."""

from __future__ import annotations

import torch
from bad_input_table import _lin, _list_weights, _nan_weights, _saved, _t, table_tests

from ssm_metarl import checkpoints, ssm

FMT = "ssm_metarl.LinearSSM/1"

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
    ("checkpoints.save_checkpoint module str",
     lambda p: checkpoints.save_checkpoint(p / "x.pt", "f/1", {}, "net"), TypeError, "module"),
    ("checkpoints.save_checkpoint config list",
     lambda p: checkpoints.save_checkpoint(p / "x.pt", "f/1", [1], _lin()), TypeError, "config"),
    ("checkpoints.save_checkpoint path int",
     lambda p: checkpoints.save_checkpoint(5, "f/1", {}, _lin()), TypeError, "path"),
    ("checkpoints.save_checkpoint folder missing",
     lambda p: checkpoints.save_checkpoint(p / "no" / "x.pt", "f/1", {}, _lin()),
     FileNotFoundError, "no"),
    ("checkpoints.save_checkpoint fmt int",
     lambda p: checkpoints.save_checkpoint(p / "x.pt", 1, {}, _lin()), TypeError, "fmt"),
    ("checkpoints.load_checkpoint path int", lambda p: checkpoints.load_checkpoint(0, FMT),
     TypeError, "path"),
    ("checkpoints.load_checkpoint path None", lambda p: checkpoints.load_checkpoint(None, FMT),
     TypeError, "path"),
    ("checkpoints.load_checkpoint missing",
     lambda p: checkpoints.load_checkpoint(p / "none.pt", FMT), FileNotFoundError, "none.pt"),
    ("checkpoints.load_checkpoint fmt int",
     lambda p: checkpoints.load_checkpoint(_saved(p, lambda d: None), 1), TypeError, "fmt"),
    ("checkpoints.load_checkpoint other format",
     lambda p: checkpoints.load_checkpoint(_saved(p, lambda d: None), "foo/1"), ValueError,
     "foo/1"),
    ("checkpoints.load_checkpoint map_location=3",
     lambda p: checkpoints.load_checkpoint(_saved(p, lambda d: None), FMT, map_location=3),
     TypeError, "map_location"),
    ("checkpoints.check_config config list",
     lambda p: checkpoints.check_config("x.pt", [1], {"a": 1}), TypeError, "config"),
    ("checkpoints.check_config expected_config str",
     lambda p: checkpoints.check_config("x.pt", {"a": 1}, "a"), TypeError, "expected_config"),
    ("checkpoints.check_config missing key expected None",
     lambda p: checkpoints.check_config("x.pt", {"a": 1}, {"b": None}), ValueError, "'b'"),
    ("checkpoints.check_state_dict got list",
     lambda p: checkpoints.check_state_dict("x.pt", {"w": _t(2)}, [1]), TypeError, "got"),
    ("checkpoints.load expected_config list",
     lambda p: ssm.LinearSSM.load(_saved(p, lambda d: None), expected_config=[("state_dim", 2)]),
     TypeError, "expected_config"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_checkpoints_still_run(tmp_path):
    path = _saved(tmp_path, lambda d: None)
    payload = checkpoints.load_checkpoint(str(path), FMT, map_location=torch.device("cpu"))
    checkpoints.check_config(path, payload["config"], None)
    checkpoints.check_config(path, payload["config"], {"state_dim": 2})
    assert ssm.LinearSSM.load(path, map_location={"cpu": "cpu"}).state_dim == 2
    assert ssm.LinearSSM.load(path, map_location=lambda storage, where: storage).state_dim == 2
    checkpoints.save_checkpoint(str(tmp_path / "y.pt"), "f/1", {"a": 1}, _lin(), {"step": 3})
    assert checkpoints.load_checkpoint(tmp_path / "y.pt", "f/1")["step"] == 3
