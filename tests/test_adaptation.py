"""Tests of the ssm_metarl.adaptation package and the notebook-04 checkers in ssm_metarl.exercises.

Each module of the package has its own test file (test_adaptation_<module>.py);
here: the package re-exports them and never imports MAML, and the exercise
checkers pass a right answer and fail a wrong or missing one.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from ssm_metarl import adaptation
from ssm_metarl.exercises import (
    ExerciseCheckFailed,
    check_predict_then_update_step,
    check_recovery_time,
    check_ttt_identity_step,
)
from ssm_metarl.functional import predict

# ----------------------------------------------------------------------------- package


def test_the_package_reexports_every_module_and_imports_no_maml():
    # One subprocess: a fresh interpreter, so earlier tests' imports do not count.
    code = ("import sys, ssm_metarl.adaptation as a; "
            "print('ssm_metarl.maml' in sys.modules, sorted(set(a.__all__) - set(dir(a))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["False", "[]"]
    for module in (adaptation.adapter, adaptation.forecasters, adaptation.metrics,
                   adaptation.mpc, adaptation.ttt):
        for name in module.__all__:
            assert getattr(adaptation, name) is getattr(module, name), (module.__name__, name)


# ----------------------------------------------------------------------------- checkers


def good_predict_then_update(model, params, inputs, targets, t, lr, window):
    prediction = predict(model, params, inputs[t])
    lo = max(0, t - window + 1)
    leaves = {n: p.detach().clone().requires_grad_() for n, p in params.items()}
    loss = ((predict(model, leaves, inputs[lo : t + 1]) - targets[lo : t + 1]) ** 2).mean()
    grads = torch.autograd.grad(loss, list(leaves.values()))
    return prediction, {n: p.detach() - lr * g for (n, p), g in zip(leaves.items(), grads,
                                                                    strict=True)}


def leaky_predict_then_update(model, params, inputs, targets, t, lr, window):
    _, new = good_predict_then_update(model, params, inputs, targets, t, lr, window)
    return predict(model, new, inputs[t]), new


def good_recovery_time(errors, switch_time, before, factor, smoothing):
    """Written out (the checker refuses a call to the library's ``recovery_time``)."""
    level = np.mean(errors[switch_time - before:switch_time])
    for k in range(len(errors) - switch_time):
        recent = errors[switch_time + max(0, k - smoothing + 1):switch_time + k + 1]
        if np.mean(recent) <= factor * level:
            return float(k)
    return float("nan")


def todo(*args):
    raise NotImplementedError


@pytest.mark.parametrize("checker, good, wrong, message", [
    (check_predict_then_update_step, good_predict_then_update, leaky_predict_then_update,
     "weights AFTER the update"),
    (check_recovery_time, good_recovery_time,
     lambda e, tau, before, f, s: good_recovery_time(e, tau, before, f, 1), "expected"),
    (check_ttt_identity_step, lambda W, k, v, lr: W - lr * torch.outer(W @ k - v, k),
     lambda W, k, v, lr: W - 2 * lr * torch.outer(W @ k - v, k), "outer"),
])
def test_checkers_pass_good_and_fail_wrong_or_missing_answers(checker, good, wrong, message,
                                                              capsys):
    checker(good)
    assert "\u2713" in capsys.readouterr().out
    with pytest.raises(ExerciseCheckFailed, match=message):
        checker(wrong)
    with pytest.raises(ExerciseCheckFailed, match="not implemented yet"):
        checker(todo)
