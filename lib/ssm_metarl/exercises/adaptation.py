"""Checkers for notebook 04 (test-time adaptation).

Glossary: N forecasting examples, F features, Q observation size, L steps,
Dk key size, Dv value size.

Each checker runs the student's function on seeded float64 inputs and compares
it with :mod:`ssm_metarl.adaptation`:

- :func:`check_predict_then_update_step`: one step of the predict-then-update
  protocol (predict with the current weights, then one SGD step on the window
  that now includes the revealed target).
- :func:`check_recovery_time`: the recovery time of a switch-aligned error curve.
- :func:`check_ttt_identity_step`: one gradient step of TTT-linear, which is
  the delta-rule state update.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from .. import adaptation
from .._validate import Params
from ..switching import SwitchingOscillatorTasks
from ._core import (
    ExerciseCheckFailed,
    as_tensor,
    assert_close,
    call_student,
    exercise_check,
    passed,
)


def _forecasting_problem(seed: int = 0):
    """A float64 next-step MLP (history 3, 8 hidden units), its params and one sequence."""
    torch.manual_seed(seed)
    model = adaptation.NextStepMLP(history=3, hidden=(8,)).double()
    params = {name: p.detach().clone() for name, p in model.named_parameters()}
    sample = SwitchingOscillatorTasks(length=60, min_segment=20, seed=seed,
                                      dtype=torch.float64).sample(1)
    data = adaptation.next_step_data(sample.y, sample.u, history=3)
    return model, params, data.inputs[0], data.targets[0]


def _library_step(model, params, inputs, targets, t, lr, window):
    """The library's prediction at ``t`` and its weights after revealing ``targets[t]``.

    ``reset_to_init=True`` makes the last update start from ``params`` and
    train on exactly the transitions ``t - window + 1, ..., t``.
    """
    adapter = adaptation.TestTimeAdapter(model, lr=lr, window=window, reset_to_init=True,
                                         grad_clip=None, params=params)
    state = adapter.init_state(1, inputs.shape[-1], targets.shape[-1])
    prediction = adapter.predict(state, inputs[t][None])[0]
    for s in range(max(0, t - window + 1), t + 1):
        state = adapter.observe(state, inputs[s][None], targets[s][None])
    return prediction, {name: state.fast[name][0] for name in params}


def _params_match(got: Any, expected: Params) -> bool:
    return isinstance(got, Mapping) and set(got) == set(expected) and all(
        isinstance(got[n], torch.Tensor) and got[n].shape == expected[n].shape
        and torch.allclose(got[n].detach().to(expected[n].dtype), expected[n], atol=1e-8)
        for n in expected
    )


def _diagnose_step(got_pred, got_params, model, params, inputs, targets, t, lr, window) -> str:
    """Name the usual protocol mistakes by recomputing them with the library."""
    _, after = _library_step(model, params, inputs, targets, t, lr, window)
    leaked = adaptation.predict(model, after, inputs[t])
    if torch.allclose(as_tensor("prediction", got_pred).to(leaked.dtype), leaked, atol=1e-8):
        return ("your prediction used the weights AFTER the update, which were trained on "
                "targets[t]: that is scoring on data the model has already seen. Predict first, "
                "then update.")
    _, stale = _library_step(model, params, inputs[:t], targets[:t], t - 1, lr, window)
    if _params_match(got_params, stale):
        return ("your update trained on transitions t - window .. t - 1; once targets[t] is "
                "revealed the window must include it: t - window + 1 .. t.")
    return ""


@exercise_check(forbid=(adaptation.TestTimeAdapter,))
def check_predict_then_update_step(predict_then_update: Callable[..., Any]) -> None:
    """Check ``predict_then_update(model, params, inputs, targets, t, lr, window)``.

    Must return ``(prediction, new_params)``: ``prediction`` (Q,) is
    ``f_params(inputs[t])``, made before ``targets[t]`` is looked at; then
    ``new_params = params - lr * grad MSE`` on the last ``window`` transitions
    ``inputs[t - window + 1 : t + 1]``, ``targets[...]`` (the revealed one included).
    """
    model, params, inputs, targets = _forecasting_problem()
    t, lr, window = 10, 0.05, 4
    result = call_student("predict_then_update", predict_then_update, model,
                          {n: p.clone() for n, p in params.items()}, inputs, targets, t, lr, window)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ExerciseCheckFailed("predict_then_update: expected a pair (prediction, new_params), "
                                  f"got {type(result).__name__}.")
    got_pred, got_params = result
    expected_pred, expected_params = _library_step(model, params, inputs, targets, t, lr, window)
    hint = _diagnose_step(got_pred, got_params, model, params, inputs, targets, t, lr, window)
    assert_close("predict_then_update prediction", got_pred, expected_pred, atol=1e-8, hint=hint)
    if not isinstance(got_params, Mapping) or set(got_params) != set(expected_params):
        raise ExerciseCheckFailed(
            f"predict_then_update: new_params must be a dict with the keys {sorted(params)}, "
            f"got {sorted(got_params) if isinstance(got_params, Mapping) else type(got_params)}.")
    for name, value in expected_params.items():
        assert_close(f"predict_then_update new_params[{name!r}]", got_params[name], value,
                     atol=1e-8, hint=hint or "one SGD step: params - lr * grad of the mean "
                     "squared error over the window (torch.func.grad or autograd).")
    passed("predict_then_update", "prediction before the update, update on the window ending at t")


def _recovery_cases() -> list[tuple[str, np.ndarray, int, int, float, int]]:
    """Error curves: a clean recovery, a noisy one, one that never recovers, and two
    hand-made ones. In "smoothed error lands exactly on the bar" s_3 = 2 = factor * level
    exactly (a strict < recovers a step later); in "high errors before the window" the
    errors before ``switch_time - before`` are high and those just before the switch
    low, so a level taken over all pre-switch errors (or a window shifted back by one)
    and a smoothing window that reaches back before the switch both recover at k = 0."""
    rng = np.random.default_rng(4)
    decay = np.concatenate([np.full(10, 1.0), 1.0 + 9.0 * np.exp(-np.arange(30) / 4.0)])
    noisy = decay * rng.uniform(0.7, 1.3, size=decay.size)
    stuck = np.concatenate([np.full(10, 1.0), np.full(30, 5.0)])
    on_the_bar = np.array([1.0] * 8 + [6.0, 4.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    slow_start = np.array([5.0] * 6 + [1.0] * 6 + [3.0, 3.0, 3.0, 3.0, 2.5, 1.5, 1.0, 1.0, 1.0])
    return [("exponential recovery", decay, 10, 10, 1.5, 1),
            ("noisy recovery", noisy, 10, 8, 1.5, 4),
            ("no recovery", stuck, 10, 10, 2.0, 3),
            ("smoothed error lands exactly on the bar", on_the_bar, 8, 8, 2.0, 2),
            ("high errors before the window", slow_start, 12, 6, 2.0, 3)]


@exercise_check(forbid=(adaptation.recovery_time,))
def check_recovery_time(recovery_time: Callable[..., Any]) -> None:
    """Check ``recovery_time(errors, switch_time, before, factor, smoothing)``.

    The first ``k >= 0`` at which the trailing mean of the post-switch errors
    ``errors[switch_time + max(0, k - smoothing + 1) : switch_time + k + 1]`` is at
    most ``factor`` times the mean of ``errors[switch_time - before : switch_time]``;
    ``nan`` when that never happens before the end of ``errors``.
    """
    for label, errors, tau, before, factor, smoothing in _recovery_cases():
        got = call_student("recovery_time", recovery_time, errors.copy(), tau, before, factor,
                           smoothing)
        expected = adaptation.recovery_time(errors, tau, before=before, horizon=len(errors) - tau,
                                            factor=factor, smoothing=smoothing)
        try:
            got_value = float(got)
        except (TypeError, ValueError):
            raise ExerciseCheckFailed(f"recovery_time ({label}): expected a number, got "
                                      f"{type(got).__name__}.") from None
        if math.isnan(expected) != math.isnan(got_value) or (
                not math.isnan(expected) and got_value != expected):
            raise ExerciseCheckFailed(
                f"recovery_time ({label}, switch_time={tau}, before={before}, factor={factor}, "
                f"smoothing={smoothing}): expected {expected}, got {got_value}. Hint: count k "
                "from 0 at the switch, smooth only over post-switch errors, compare with "
                "factor * the mean of the `before` errors just before the switch (recovered "
                "when at most that, <=), and return nan if that never happens.")
    passed("recovery_time", "matches the library on 5 error curves (one never recovers, one "
           "lands exactly on the bar)")


@exercise_check(forbid=(adaptation.delta_rule_step,))
def check_ttt_identity_step(ttt_gradient_step: Callable[..., Any]) -> None:
    """Check ``ttt_gradient_step(W, k, v, lr) -> W_new``.

    One gradient step on the TTT inner loss ``1/2 ||W k - v||^2`` at the current
    ``W`` (Dv, Dk): ``W - lr (W k - v) k^T``, which is the delta-rule update
    (:func:`ssm_metarl.adaptation.delta_rule_step`). From ``W = 0`` with
    ``lr = 1`` it is ``v k^T``, the linear-attention state increment.
    """
    generator = torch.Generator().manual_seed(7)
    W = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    k = torch.randn(4, generator=generator, dtype=torch.float64)
    v = torch.randn(3, generator=generator, dtype=torch.float64)
    cases = [("from a random W, lr = 0.3", W, 0.3),
             ("from W = 0, lr = 1", torch.zeros_like(W), 1.0)]
    for label, start, lr in cases:
        got = call_student("ttt_gradient_step", ttt_gradient_step, start.clone(), k, v, lr)
        expected = adaptation.delta_rule_step(start, k, v, lr)
        assert_close(f"ttt_gradient_step ({label})", got, expected, atol=1e-10,
                     hint="the gradient of 1/2 ||W k - v||^2 with respect to W is the outer "
                     "product (W k - v) k^T; step against it.")
    passed("ttt_gradient_step", "equals the delta rule, and v k^T from W = 0 (linear attention)")


TRAILING_HINT = ("s_k = mean(e_j for j in [max(0, k - width + 1), k]): the last `width` "
                 "errors up to and including step k, fewer at the start, never a later one.")


@exercise_check(forbid=(adaptation.metrics,), bug_hunt=True)
def check_trailing_mean(fn: Callable[..., Any]) -> None:
    """Find the bug: check ``fn(errors, width) -> smoothed``, the trailing mean of an error curve.

    errors (L,) float array, width int >= 1; expected (L,) with
    s_k = mean(e_{max(0, k-width+1)..k}) (:func:`ssm_metarl.adaptation.smoothed_errors`,
    the smoothing inside :func:`recovery_time`). A causal metric may not
    look at errors after step k.
    """
    rng = np.random.default_rng(11)
    for width in (1, 4, 7):
        errors = rng.exponential(size=30)
        errors[12:18] += 3.0  # a shock: a window that looks ahead sees it too early
        got = call_student("trailing_mean", fn, errors.copy(), width)
        expected = adaptation.smoothed_errors(errors, width)
        assert_close(f"smoothed errors (width={width})", got, torch.as_tensor(expected),
                     atol=1e-12, hint=TRAILING_HINT)
    passed("trailing_mean", "matches the trailing mean for widths 1, 4 and 7")


ONLINE = {"lr": 0.1, "window": 8, "history": 3, "post": (10, 50)}
ONLINE_HINT = ("at each step t: predict targets[t] from inputs[t] with the CURRENT weights, "
               "then one SGD step (lr) on the mean squared error of the last `window` "
               "transitions inputs[max(0, t - window + 1) : t + 1]; the weights carry on to t + 1.")


def _shifted_forecasting_problem():
    """A next-step MLP fitted on slow oscillators (omega in [1, 1.6]) and 6 test sequences
    that switch from that range to omega > 2.3: a shift the frozen model never saw.

    Returns model, params, the test NextStepData, switch steps (6,) and the observations y.
    """
    h = ONLINE["history"]
    train = SwitchingOscillatorTasks(omega_range=(1.0, 1.6), min_segment=40, length=120,
                                     seed=1, dtype=torch.float64).sample(16)
    data = adaptation.next_step_data(train.y, train.u, history=h)
    torch.manual_seed(0)
    model = adaptation.NextStepMLP(history=h, hidden=(32,)).double()
    adaptation.fit_next_step(model, data.inputs, data.targets, iterations=400, lr=1e-2,
                             progress=False)
    params = {name: p.detach().clone() for name, p in model.named_parameters()}
    test = SwitchingOscillatorTasks(omega_range=(1.0, 3.0), min_jump=0.5, min_segment=40,
                                    length=100, seed=7, dtype=torch.float64).sample(60)
    omega = test.params[..., 0]
    keep = torch.nonzero((omega[:, 0] < 1.6) & (omega[:, -1] > 2.3))[:6, 0]
    y, u = test.y[keep], test.u[keep]
    return model, params, adaptation.next_step_data(y, u, history=h), \
        test.switch_mask[keep].float().argmax(1), y


def _post_switch_error(errors: torch.Tensor, switches: torch.Tensor) -> float:
    """Mean squared error over steps switch + 10 .. switch + 49 of each sequence, errors (B, L)."""
    lo, hi = ONLINE["post"]
    return torch.stack([errors[b, s + lo : s + hi].mean()
                        for b, s in enumerate(switches.tolist())]).mean().item()


@exercise_check(forbid=(adaptation.TestTimeAdapter,))
def check_online_forecast(fn: Callable[..., Any]) -> None:
    """Larger exercise: check ``fn(model, params, inputs, targets, lr, window) -> predictions``.

    The whole predict-then-update loop of continual test-time adaptation on
    one sequence: inputs (T, F), targets (T, Q) -> predictions (T, Q), each
    made before its target is revealed. Checked twice: equal to
    :class:`~ssm_metarl.adaptation.TestTimeAdapter` (SGD, no clipping) on a short
    sequence, then by behaviour: after a switch to dynamics the frozen model
    never saw, your online predictions must beat both the frozen model and
    persistence (repeat the last observation) on steps 10-49 after the switch.
    """
    model, params, inputs, targets = _forecasting_problem()
    got = call_student("online_forecast", fn, model, {n: p.clone() for n, p in params.items()},
                       inputs[:30], targets[:30], 0.05, 4)
    expected = adaptation.TestTimeAdapter(model, lr=0.05, window=4, grad_clip=None,
                                          params=params).run(inputs[None, :30],
                                                             targets[None, :30]).predictions[0]
    assert_close("online_forecast predictions (30 steps, lr=0.05, window=4)", got, expected,
                 atol=1e-8, hint=ONLINE_HINT)

    model, params, data, switches, y = _shifted_forecasting_problem()
    predictions = torch.stack([
        as_tensor("predictions", call_student(
            "online_forecast", fn, model, {n: p.clone() for n, p in params.items()},
            data.inputs[b], data.targets[b], ONLINE["lr"], ONLINE["window"])).reshape(
            data.targets[b].shape)
        for b in range(data.inputs.shape[0])])
    online = _post_switch_error(
        data.to_time_frame(((predictions - data.targets) ** 2).mean(-1, keepdim=True))[..., 0],
        switches)
    frozen_trace = adaptation.TestTimeAdapter(model, lr=0.0, params=params).run(data.inputs,
                                                                                data.targets)
    frozen = _post_switch_error(data.to_time_frame(frozen_trace.errors[..., None])[..., 0],
                                switches)
    persistence = _post_switch_error(
        ((adaptation.persistence_forecast(y) - y) ** 2).mean(-1), switches)
    if not online < min(frozen, persistence):
        raise ExerciseCheckFailed(
            f"online_forecast: after the switch your online predictions have MSE {online:.4f}, "
            f"the frozen model {frozen:.4f} and persistence {persistence:.4f}; online "
            "adaptation must beat both. " + ONLINE_HINT)
    passed("online_forecast", f"exact on a short sequence; after the switch MSE {online:.4f} "
           f"vs frozen {frozen:.4f} and persistence {persistence:.4f} (6 sequences)")
