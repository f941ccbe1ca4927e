"""Bad inputs of results (stored results): each is refused naming the argument."""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from bad_input_table import _save, table_tests

from ssm_metarl import results

EXEMPT = {
    "ssm_metarl.results.data_dir": "takes no argument: the data folder (SSM_METARL_DATA)",
    "ssm_metarl.results.reference_names": "takes no argument: lists data/reference/*.csv",
    "ssm_metarl.results.result_names": "takes no argument: lists data/results/*.json",
    "ssm_metarl.results.provenance": "takes no argument: versions, date and machine",
}


def _save_with(p, **over):
    saved = os.environ.get("SSM_METARL_DATA")
    os.environ["SSM_METARL_DATA"] = str(p / "data")
    args = {"name": "demo", "metrics": {"m": 0.5}, "command": "x", "seeds": [0],
            "profile": "paper"}
    args.update(over)
    try:
        results.save_result(**args)
    finally:
        if saved is None:
            del os.environ["SSM_METARL_DATA"]
        else:
            os.environ["SSM_METARL_DATA"] = saved
        assert not (p / "data").exists(), "wrote a file"


def _runs(**over):
    args = {"argv": ["a", "--seeds", "0"], "description": "d", "methods": ["a"],
            "iterations": 1, "train": lambda method, seed, iterations: None}
    args.update(over)
    return results.train_runs_main(**args)


def _table(**over):
    args = {"columns": ["mse"], "live": {"MAML": [0.5]}, "profile": "class"}
    args.update(over)
    return results.results_table(**args)


CASES = [
    ("results.save_result profile=weird", lambda p: _save(p, profile="weird"), ValueError,
     "profile"),
    ("results.save_result metrics nan", lambda p: _save(p, metrics={"m": math.nan}), ValueError,
     "metrics['m']"),
    ("results.save_result metrics inf in list",
     lambda p: _save(p, metrics={"m": [1.0, math.inf]}), ValueError, "metrics['m'][1]"),
    ("results.save_result name=../escaped", lambda p: _save(p, name="../escaped"), ValueError,
     "name"),
    ("results.save_result name=a/b", lambda p: _save(p, name="a/b"), ValueError, "name"),
    ("results.save_result metrics=list", lambda p: _save_with(p, metrics=[0.5]), ValueError,
     "metrics"),
    ("results.save_result seeds=['a']", lambda p: _save_with(p, seeds=["a"]), ValueError,
     "seeds[0]"),
    ("results.save_result seeds=0", lambda p: _save_with(p, seeds=0), TypeError, "seeds"),
    ("results.save_result command=None", lambda p: _save_with(p, command=None), TypeError,
     "command"),
    ("results.load_reference name='nope'", lambda p: results.load_reference("nope"), ValueError,
     "name"),
    ("results.load_reference name=../results/x",
     lambda p: results.load_reference("../results/x"), ValueError, "name"),
    ("results.load_reference name=None", lambda p: results.load_reference(None), ValueError,
     "name"),
    ("results.load_result name='nope'", lambda p: results.load_result("nope"), ValueError,
     "name"),
    ("results.load_result name=../reference/x", lambda p: results.load_result("../reference/x"),
     ValueError, "name"),
    ("results.mean_ci values='abc'", lambda p: results.mean_ci("abc"), ValueError, "values"),
    ("results.mean_ci one sample", lambda p: results.mean_ci([1.0]), ValueError, "values"),
    ("results.mean_ci axis=2", lambda p: results.mean_ci(np.zeros((3, 2)), axis=2), ValueError,
     "axis"),
    ("results.mean_ci axis='0'", lambda p: results.mean_ci(np.zeros((3, 2)), axis="0"),
     ValueError, "axis"),
    ("results.seeds_tasks_cells values 2-D",
     lambda p: results.seeds_tasks_cells(np.zeros((2, 3))), ValueError, "values"),
    ("results.seeds_tasks_cells values strings",
     lambda p: results.seeds_tasks_cells([[["a"]]]), ValueError, "values"),
    ("results.seeds_tasks_cells digits=-1",
     lambda p: results.seeds_tasks_cells(np.zeros((2, 2, 1)), digits=-1), ValueError, "digits"),
    ("results.seeds_tasks_cells diverged_above='100'",
     lambda p: results.seeds_tasks_cells(np.zeros((2, 2, 1)), diverged_above="100"), ValueError,
     "diverged_above"),
    ("results.seeds_tasks_cells diverged_above=nan",
     lambda p: results.seeds_tasks_cells(np.zeros((2, 2, 1)), diverged_above=float("nan")),
     ValueError, "diverged_above"),
    ("results.seeds_tasks_ci values 1-D", lambda p: results.seeds_tasks_ci(np.zeros(3)),
     ValueError, "values"),
    ("results.seeds_tasks_ci values ragged", lambda p: results.seeds_tasks_ci([[1.0], [1.0, 2.0]]),
     ValueError, "values"),
    ("results.train_runs_main train=None", lambda p: _runs(train=None), TypeError, "train"),
    ("results.train_runs_main methods='a'", lambda p: _runs(methods="a"), TypeError, "methods"),
    ("results.train_runs_main iterations=0", lambda p: _runs(iterations=0), ValueError,
     "iterations"),
    ("results.train_runs_main argv='a'", lambda p: _runs(argv="a"), TypeError, "argv"),
    ("results.results_table columns='mse'", lambda p: _table(columns="mse"), TypeError,
     "columns"),
    ("results.results_table no source", lambda p: _table(live=None), ValueError, "published"),
    ("results.results_table live without profile", lambda p: _table(profile=None), ValueError,
     "profile"),
    ("results.results_table cells too many", lambda p: _table(live={"MAML": [0.5, 0.6]}),
     ValueError, "live['MAML']"),
    ("results.results_table cell object()", lambda p: _table(live={"MAML": [object()]}),
     TypeError, "live['MAML']['mse']"),
    ("results.results_table digits=-1", lambda p: _table(digits=-1), ValueError, "digits"),
    ("results.results_table group_by='x'", lambda p: _table(group_by="x"), ValueError,
     "group_by"),
    ("results.results_table published without citation",
     lambda p: _table(published={"MAML": [0.4]}), ValueError, "citation"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_results_still_run(tmp_path, monkeypatch):
    """What the checks above must still let through."""
    monkeypatch.setenv("SSM_METARL_DATA", str(tmp_path))
    path = results.save_result("demo", {"m": np.float32(0.5)}, command="x",
                               seeds=np.arange(2), profile="paper")
    assert results.load_result("demo")["seeds"] == [0, 1] and path.exists()
    mean, half = results.mean_ci(torch.ones(3, 2), axis=np.int64(-2))
    assert mean.shape == (2,) and half.shape == (2,)
    assert results.seeds_tasks_ci(np.ones((2, 3)))["mean"] == 1.0
    ran = []
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)  # keep this process's
    results.train_runs_main(["a", "--seeds", "4"], "d", ("a", "b"), np.int64(2),
                            lambda method, seed, iterations: ran.append((method, seed,
                                                                         iterations)))
    assert ran == [("a", 4, 2)]
