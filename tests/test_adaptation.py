"""Tests of ssm_metarl.adaptation and the notebook-04 checkers in ssm_metarl.exercises.

The adapter is checked against hand-written autograd loops (never against
itself), the protocol against a target sequence that would reveal any leak,
the metrics against hand-computed numbers, the TTT identities against
explicit double loops, and MPC against an analytic optimum.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from ssm_metarl.adaptation import (
    NextStepMLP,
    TestTimeAdapter,
    cem,
    delta_rule,
    delta_rule_as_ssm,
    delta_rule_step,
    event_window_means,
    fit_next_step,
    format_metrics_table,
    linear_attention,
    linear_attention_as_ssm,
    next_step_data,
    paired_window_gain,
    persistence_forecast,
    random_shooting,
    recovery_time,
    squared_errors,
    switch_aligned_curve,
    switch_aligned_metrics,
    ttt_linear_batch,
    ttt_linear_online,
)
from ssm_metarl.exercises import (
    ExerciseCheckFailed,
    check_predict_then_update_step,
    check_recovery_time,
    check_ttt_identity_step,
)
from ssm_metarl.maml import predict
from ssm_metarl.tasks import SwitchingOscillatorTasks

# ----------------------------------------------------------------------------- forecasting data


def test_next_step_data_orders_past_observations_then_inputs():
    y = torch.arange(12.0).reshape(1, 6, 2)  # y_t = (2t, 2t + 1)
    u = 100 + torch.arange(6.0).reshape(1, 6, 1)  # u_t = 100 + t
    data = next_step_data(y, u, history=2)
    assert data.inputs.shape == (1, 4, 2 * 2 + 2 * 1)
    # Example n targets t = n + 2 from y_{t-2}, y_{t-1} and u_{t-1}, u_t.
    t = 3
    expected = [2 * (t - 2), 2 * (t - 2) + 1, 2 * (t - 1), 2 * (t - 1) + 1, 100 + t - 1, 100 + t]
    assert data.inputs[0, t - 2].tolist() == expected
    assert data.targets[0, t - 2].tolist() == [2 * t, 2 * t + 1]
    framed = data.to_time_frame(data.targets)
    assert framed.shape == (1, 6, 2) and torch.isnan(framed[:, :2]).all()
    assert torch.equal(framed[:, 2:], y[:, 2:])


def test_next_step_data_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"y must have shape \(B, L, Q\)"):
        next_step_data(torch.zeros(5, 1), torch.zeros(1, 5, 1), 2)
    with pytest.raises(ValueError, match="history must be < the sequence length 5"):
        next_step_data(torch.zeros(1, 5, 1), torch.zeros(1, 5, 1), 5)


def test_residual_model_with_zero_output_layer_is_persistence():
    model = NextStepMLP(history=3, hidden=(8,))
    with torch.no_grad():
        model.net[-1].weight.zero_()
        model.net[-1].bias.zero_()
    y = torch.randn(2, 10, 1)
    data = next_step_data(y, torch.randn(2, 10, 1), 3)
    assert torch.equal(model(data.inputs), y[:, 2:-1])
    assert model.head == "net.2"
    assert torch.equal(persistence_forecast(y)[:, 3:], y[:, 2:-1])


def test_persistence_and_squared_errors_by_hand():
    y = torch.tensor([[[1.0], [3.0], [2.0], [2.0]]])
    forecast = persistence_forecast(y)
    assert math.isnan(forecast[0, 0, 0]) and forecast[0, 1:, 0].tolist() == [1.0, 3.0, 2.0]
    assert squared_errors(forecast, y)[0, 1:].tolist() == [4.0, 1.0, 0.0]


def test_fit_next_step_learns_an_arx_system():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(512, 4, generator=generator)
    y = x @ torch.tensor([[0.5], [-1.0], [0.25], [2.0]])
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    losses = fit_next_step(model, x, y, iterations=300, lr=3e-2, batch_size=64, progress=False)
    assert losses[-1] < 1e-3 * losses[0]


# ----------------------------------------------------------------------------- protocol


class Constant(nn.Module):
    """``f(x) = w`` whatever x: the easiest model to make leak."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.5], dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w.expand(*x.shape[:-1], 1)


def leaky_targets(length: int) -> torch.Tensor:
    """Huge, all-different targets: predicting y_t after seeing it would score ~0 error."""
    t = torch.arange(length, dtype=torch.float64)
    return (1000.0 * (t + 1) * (-1.0) ** t).reshape(1, length, 1)


def test_adapter_never_trains_on_the_target_it_is_scored_on():
    # With window 1, lr 1/2 and loss (w - y)^2, one step sets w = y exactly. If the
    # prediction at t used y_t, its error would be 0; the protocol must give y_{t-1}.
    targets = leaky_targets(12)
    inputs = torch.zeros(1, 12, 1, dtype=torch.float64)
    trace = TestTimeAdapter(Constant(), lr=0.5, window=1, grad_clip=None).run(inputs, targets)
    assert trace.predictions[0, 0, 0] == 0.5
    assert torch.allclose(trace.predictions[0, 1:], targets[0, :-1], rtol=1e-12)
    assert trace.errors.min() > 1e5


@pytest.mark.parametrize("reset_to_init", [False, True])
def test_prediction_at_t_does_not_depend_on_targets_from_t_on(reset_to_init):
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(2, 15, 6, generator=generator, dtype=torch.float64)
    targets = torch.randn(2, 15, 1, generator=generator, dtype=torch.float64)
    torch.manual_seed(0)
    model = NextStepMLP(3, hidden=(5,)).double()
    adapter = TestTimeAdapter(model, lr=0.1, window=4, steps_per_update=2,
                              reset_to_init=reset_to_init)
    honest = adapter.run(inputs, targets)
    cut = 9
    poisoned = targets.clone()
    poisoned[:, cut:] = 1e6
    attacked = adapter.run(inputs, poisoned)
    assert torch.equal(honest.predictions[:, : cut + 1], attacked.predictions[:, : cut + 1])
    assert not torch.allclose(honest.predictions[:, cut + 1], attacked.predictions[:, cut + 1])


def reference_adapt(model, init, names, xs, ys, lr, steps, clip):
    """Plain autograd SGD with torch's own clip_grad_norm_ on a copied module."""
    module = copy.deepcopy(model)
    module.load_state_dict(init)
    adapted = [p for n, p in module.named_parameters() if n in names]
    for _ in range(steps):
        loss = ((module(xs) - ys) ** 2).mean()
        module.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(adapted, clip)
        with torch.no_grad():
            for p in adapted:
                p -= lr * p.grad
    return {n: p.detach().clone() for n, p in module.named_parameters()}


@pytest.fixture
def small_problem():
    generator = torch.Generator().manual_seed(2)
    inputs = torch.randn(2, 12, 6, generator=generator, dtype=torch.float64)
    targets = torch.randn(2, 12, 1, generator=generator, dtype=torch.float64)
    torch.manual_seed(1)
    model = NextStepMLP(3, hidden=(4,)).double()
    return model, inputs, targets


def test_reset_to_init_uses_init_adapted_on_exactly_the_last_window(small_problem):
    model, inputs, targets = small_problem
    init = copy.deepcopy(model.state_dict())
    lr, window, steps, clip = 0.2, 4, 3, 0.05
    trace = TestTimeAdapter(model, lr=lr, window=window, steps_per_update=steps, grad_clip=clip,
                            reset_to_init=True).run(inputs, targets, record_weights=True)
    names = list(init)
    for b in range(2):
        for t in (0, 1, 4, 7, 11):
            if t == 0:
                expected = init
            else:
                lo = max(0, t - window)
                expected = reference_adapt(model, init, names, inputs[b, lo:t], targets[b, lo:t],
                                           lr, steps, clip)
            for name in names:
                assert torch.allclose(trace.weights[name][b, t], expected[name], atol=1e-12), \
                    (b, t, name)


def test_continual_updates_equal_a_sequential_autograd_loop(small_problem):
    model, inputs, targets = small_problem
    lr, window, steps = 0.1, 3, 2
    trace = TestTimeAdapter(model, lr=lr, window=window, steps_per_update=steps, grad_clip=None,
                            ).run(inputs, targets, record_weights=True)
    state = copy.deepcopy(model.state_dict())
    names = list(state)
    for t in range(inputs.shape[1]):
        for name in names:
            assert torch.allclose(trace.weights[name][1, t], state[name], atol=1e-12)
        lo = max(0, t + 1 - window)
        state = reference_adapt(model, state, names, inputs[1, lo : t + 1],
                                targets[1, lo : t + 1], lr, steps, None)
    for name in names:
        assert torch.allclose(trace.final_params[name][1], state[name], atol=1e-12)


def test_adam_matches_torch_optim_adam(small_problem):
    model, inputs, targets = small_problem
    lr, window = 0.01, 5
    trace = TestTimeAdapter(model, lr=lr, window=window, optimizer="adam", grad_clip=None,
                            ).run(inputs[:1], targets[:1], record_weights=True)
    module = copy.deepcopy(model)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    for t in range(inputs.shape[1]):
        for name, p in module.named_parameters():
            assert torch.allclose(trace.weights[name][0, t], p.detach(), atol=1e-10)
        lo = max(0, t + 1 - window)
        loss = ((module(inputs[0, lo : t + 1]) - targets[0, lo : t + 1]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_params_to_adapt_leaves_the_rest_and_the_model_untouched(small_problem):
    model, inputs, targets = small_problem
    before = copy.deepcopy(model.state_dict())
    adapter = TestTimeAdapter(model, [model.head], lr=0.3, window=4)
    assert adapter.adapt_names == ("net.2.weight", "net.2.bias")
    trace = adapter.run(inputs, targets, record_weights=True)
    assert set(trace.weights) == {"net.2.weight", "net.2.bias"}
    assert not torch.allclose(trace.final_params["net.2.weight"][0], before["net.2.weight"])
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])
    # Only the head moved: the body's output on every input is unchanged, so the
    # adapted model equals the frozen body plus the recorded head.
    for t in (3, 9):
        params = {**before, **{n: w[0, t] for n, w in trace.weights.items()}}
        assert torch.allclose(predict(model, params, inputs[0, t]), trace.predictions[0, t])


def test_sequences_are_adapted_independently_and_the_loop_equals_vmap(small_problem):
    model, inputs, targets = small_problem
    settings = dict(lr=0.2, window=4, steps_per_update=2, optimizer="adam")
    together = TestTimeAdapter(model, **settings).run(inputs, targets)
    for b in range(2):
        alone = TestTimeAdapter(model, **settings).run(inputs[b : b + 1], targets[b : b + 1])
        assert torch.allclose(together.predictions[b], alone.predictions[0], atol=1e-12)
    looped = TestTimeAdapter(model, vmap=False, **settings).run(inputs, targets)
    assert torch.allclose(looped.predictions, together.predictions, atol=1e-12)


def test_runs_are_deterministic_and_record_drift(small_problem):
    model, inputs, targets = small_problem
    adapter = TestTimeAdapter(model, lr=0.1, window=4)
    first, second = adapter.run(inputs, targets), adapter.run(inputs, targets)
    assert torch.equal(first.predictions, second.predictions)
    assert first.weight_drift[:, 0].eq(0).all() and (first.weight_drift[:, 1:] > 0).all()
    assert first.step_seconds.shape == (12,) and (first.step_seconds > 0).all()
    frozen = TestTimeAdapter(model, lr=0.0).run(inputs, targets)
    assert torch.allclose(frozen.predictions, predict(model, dict(model.named_parameters()),
                                                      inputs).detach())
    assert torch.isnan(frozen.window_losses).all() and frozen.weight_drift.eq(0).all()


def test_diverging_adaptation_stops_with_a_clear_error():
    inputs = torch.ones(1, 10, 1)
    targets = leaky_targets(10).float()
    adapter = TestTimeAdapter(nn.Linear(1, 1), lr=1e18, window=3, grad_clip=None)
    with pytest.raises(FloatingPointError, match=r"test-time adaptation stopped at step \d+"):
        adapter.run(inputs, targets)


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-0.1), "lr must be a finite number >= 0"),
    (dict(window=0), "window must be an int >= 1"),
    (dict(steps_per_update=0), "steps_per_update must be an int >= 1"),
    (dict(grad_clip=0.0), "grad_clip must be a finite number > 0"),
    (dict(grad_clip=-1.0), "grad_clip must be a finite number > 0"),
    (dict(optimizer="rmsprop"), "optimizer must be one of"),
    (dict(params_to_adapt=["net.9"]), r"unknown names or prefixes \['net.9'\]; valid names"),
    (dict(params_to_adapt=[]), "params_to_adapt must not be empty"),
])
def test_adapter_rejects_bad_configurations(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TestTimeAdapter(NextStepMLP(2, hidden=(3,)), **kwargs)


def test_run_rejects_bad_shapes():
    adapter = TestTimeAdapter(NextStepMLP(2, hidden=(3,)))
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, N, F\)"):
        adapter.run(torch.zeros(5, 4), torch.zeros(1, 5, 1))
    with pytest.raises(ValueError, match="must share"):
        adapter.run(torch.zeros(1, 5, 4), torch.zeros(1, 6, 1))


def test_adaptation_beats_the_frozen_model_after_a_switch():
    tasks = dict(length=150, min_segment=60, noise_std=0.02, dt=0.5)
    train = SwitchingOscillatorTasks(seed=1, **tasks).sample(64)
    data = next_step_data(train.y, train.u, 3)
    torch.manual_seed(0)
    model = NextStepMLP(3, hidden=())
    fit_next_step(model, data.inputs, data.targets, iterations=300, lr=2e-2, progress=False)
    test = SwitchingOscillatorTasks(seed=0, **tasks).sample(6)
    data = next_step_data(test.y, test.u, 3)
    errors = {}
    for name, lr in (("frozen", 0.0), ("adapted", 0.03)):
        trace = TestTimeAdapter(model, lr=lr, optimizer="adam", window=16, steps_per_update=4,
                                ).run(data.inputs, data.targets)
        errors[name] = data.to_time_frame(trace.errors[..., None])[..., 0]
    errors["persistence"] = squared_errors(persistence_forecast(test.y), test.y)
    table = switch_aligned_metrics(errors, test.switch_mask, before=20, shock=5, recovery=15,
                                   steady=20)
    assert table["adapted"]["events"] == 6
    assert table["adapted"]["steady"] < 0.3 * table["frozen"]["steady"]
    assert table["adapted"]["steady"] < 0.1 * table["persistence"]["steady"]
    assert table["adapted"]["before"] < 0.3 * table["frozen"]["before"]


# ----------------------------------------------------------------------------- switch-aligned metrics


def test_recovery_time_by_hand():
    errors = np.array([1.0] * 5 + [10.0, 8.0, 4.0, 1.2, 1.0, 1.0])
    # Pre-switch level 1, bar 1.5: raw errors 10, 8, 4, 1.2 -> first below at k = 3.
    assert recovery_time(errors, 5, before=5, horizon=6, factor=1.5, smoothing=1) == 3
    # Trailing means over 2 steps: 10, 9, 6, 2.6, 1.1 -> first below at k = 4.
    assert recovery_time(errors, 5, before=5, horizon=6, factor=1.5, smoothing=2) == 4
    assert math.isnan(recovery_time(errors, 5, before=5, horizon=4, factor=1.5, smoothing=2))
    # Against a reference curve: the bar is 1.5 * reference, step by step.
    reference = np.array([0.0] * 5 + [8.0, 8.0, 1.0, 1.0, 1.0, 1.0])
    assert recovery_time(errors, 5, before=5, horizon=6, smoothing=1, reference=reference) == 0
    with pytest.raises(ValueError, match="must lie in"):
        recovery_time(errors, 3, before=5, horizon=2)


def test_switch_aligned_metrics_by_hand():
    length = 14
    model = np.full((2, length), 1.0)
    model[0, 6:8], model[0, 8:10], model[0, 10:12] = 9.0, 3.0, 2.0  # switch at 6
    model[1, 4:6], model[1, 6:8], model[1, 8:10] = 5.0, 1.0, 4.0  # switch at 4
    model[1, 0] = math.nan  # no prediction at t = 0: ignored
    mask = np.zeros((2, length), dtype=bool)
    mask[0, 6], mask[1, 4] = True, True
    table = switch_aligned_metrics({"model": model, "twice": 2 * model}, mask, before=2, shock=2,
                                   recovery=2, steady=2, factor=1.5, smoothing=1)
    row = table["model"]
    assert row["events"] == 2
    assert row["before"] == 1.0 and row["shock"] == 7.0
    assert row["recovery"] == 2.0 and row["steady"] == 3.0
    # Shock per event 9 and 5: mean 7, CI = t_{0.975, 1} * std / sqrt(2) = 12.706 * 2.
    assert row["shock_ci"] == pytest.approx(12.706 * np.std([9, 5], ddof=1) / np.sqrt(2))
    # Recovery: event 0 first <= 1.5 at k = 6 (none: 9 9 3 3 2 2) -> NaN; event 1 at k = 2.
    assert row["recovery_time"] == 2.0 and row["recovered_fraction"] == 0.5
    assert table["twice"]["steady"] == 6.0 and table["twice"]["recovery_time"] == 2.0
    text = format_metrics_table(table)
    assert "model" in text and "twice" in text and "recovery_time" in text


def test_switch_events_skip_windows_that_do_not_fit_or_hold_two_switches():
    errors = np.ones((3, 30))
    switch_lists = [[3], [10, 14], [12]]  # too early; two switches too close; usable
    table = switch_aligned_metrics(errors, switch_lists, before=5, shock=2, recovery=2, steady=2)
    assert table["model"]["events"] == 1
    with pytest.raises(ValueError, match="recovery_reference='oracle' is not one of"):
        switch_aligned_metrics(errors, switch_lists, recovery_reference="oracle")
    with pytest.raises(ValueError, match="switch_times mask must have shape"):
        switch_aligned_metrics(errors, np.zeros((3, 29), dtype=bool))


def test_switch_aligned_curve_by_hand():
    errors = np.arange(40.0).reshape(2, 20)
    offsets, mean, half = switch_aligned_curve(errors, [[8], [12]], before=2, after=3)
    assert offsets.tolist() == [-2, -1, 0, 1, 2]
    # Aligned rows: 6..10 and 30..34; means 18..22.
    assert mean.tolist() == [18.0, 19.0, 20.0, 21.0, 22.0]
    assert half == pytest.approx(np.full(5, 12.706 * np.std([6, 30], ddof=1) / np.sqrt(2)))


def test_smoothed_switch_aligned_curve_never_averages_across_the_switch():
    errors = np.zeros((2, 12))
    errors[0, 2:8] = [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]  # switch at 4
    errors[1, 4:10] = [3.0, 1.0, 1.0, 4.0, 0.0, 2.0]  # switch at 6
    offsets, mean, half = switch_aligned_curve(errors, [[4], [6]], before=2, after=4, smoothing=2)
    assert offsets.tolist() == [-2, -1, 0, 1, 2, 3]
    # Trailing means over <= 2 steps, restarted at the switch:
    # event 0: before (1, 2), after (5, 3.5, 3, 5); event 1: before (3, 2), after (1, 2.5, 2, 1).
    assert mean.tolist() == [2.0, 2.0, 3.0, 3.0, 2.5, 3.0]
    assert half[2] == pytest.approx(12.706 * np.std([5, 1], ddof=1) / np.sqrt(2), rel=1e-4)
    with pytest.raises(ValueError, match="smoothing must be an int >= 1"):
        switch_aligned_curve(errors, [[4], [6]], before=2, after=4, smoothing=0)


def test_event_window_means_and_paired_gain_by_hand():
    method, baseline = np.ones((3, 16)), np.full((3, 16), 2.0)
    method[0, 7:9], method[1, 5:7] = [5.0, 3.0], [0.0, 2.0]  # shock windows of events 0, 1
    baseline[2, 9:11] = [4.0, 4.0]
    switch_lists = [[7], [5], [9]]
    windows = dict(before=2, shock=2, recovery=2, steady=2)
    assert event_window_means(method, switch_lists, "shock", **windows).tolist() == [4.0, 1.0, 1.0]
    # Per-event gains baseline - method in the shock window: 2 - 4, 2 - 1, 4 - 1.
    gain, half = paired_window_gain(method, baseline, switch_lists, "shock", **windows)
    assert gain == pytest.approx(2 / 3)
    assert half == pytest.approx(4.303 * np.std([-2, 1, 3], ddof=1) / np.sqrt(3), rel=1e-4)
    # The table's rows are the mean of the same per-event values.
    table = switch_aligned_metrics(method, switch_lists, **windows)
    assert table["model"]["shock"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="window must be one of"):
        event_window_means(method, switch_lists, "after", **windows)
    with pytest.raises(ValueError, match="errors and baseline_errors must have the same shape"):
        paired_window_gain(method, baseline[:2], switch_lists, "shock", **windows)


# ----------------------------------------------------------------------------- TTT identity


@pytest.fixture
def qkv():
    generator = torch.Generator().manual_seed(3)
    q, k = (torch.randn(2, 7, 4, generator=generator, dtype=torch.float64) for _ in range(2))
    v = torch.randn(2, 7, 3, generator=generator, dtype=torch.float64)
    return q, k, v


def test_linear_attention_equals_ssm_equals_batch_ttt(qkv):
    q, k, v = qkv
    expected = torch.zeros_like(v)  # o_t = sum_{s<=t} (q_t . k_s) v_s, as a double loop
    for b in range(2):
        for t in range(7):
            for s in range(t + 1):
                expected[b, t] += torch.dot(q[b, t], k[b, s]) * v[b, s]
    attention = linear_attention(q, k, v)
    assert torch.allclose(attention, expected, atol=1e-12)
    assert torch.allclose(linear_attention_as_ssm(q, k, v), expected, atol=1e-12)
    assert torch.allclose(ttt_linear_batch(q, k, v, lr=0.5), expected, atol=1e-12)
    # A different step scales the state: lr = 1/4 halves it.
    assert torch.allclose(ttt_linear_batch(q, k, v, lr=0.25), expected / 2, atol=1e-12)
    # Unbatched inputs work the same way.
    assert torch.allclose(linear_attention_as_ssm(q[0], k[0], v[0]), expected[0], atol=1e-12)


def test_batch_ttt_from_a_nonzero_start(qkv):
    q, k, v = qkv
    W0 = torch.randn(3, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    W, expected = W0.clone(), []
    for t in range(7):
        W = W - 0.1 * 2 * torch.outer(W0 @ k[0, t] - v[0, t], k[0, t])
        expected.append(W @ q[0, t])
    got = ttt_linear_batch(q[0], k[0], v[0], lr=0.1, initial_weights=W0)
    assert torch.allclose(got, torch.stack(expected), atol=1e-12)


def test_delta_rule_equals_online_gradient_descent_equals_its_ssm(qkv):
    q, k, v = qkv
    beta = torch.rand(2, 7, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    expected = delta_rule(q, k, v, beta)
    assert torch.allclose(ttt_linear_online(q, k, v, beta), expected, atol=1e-12)
    assert torch.allclose(delta_rule_as_ssm(q, k, v, beta), expected, atol=1e-12)
    assert torch.allclose(delta_rule(q, k, v, 0.3), ttt_linear_online(q, k, v, 0.3), atol=1e-12)
    # One step by hand: S' = S + beta (v - S k) k^T reduces 1/2 ||S k - v||^2 for small beta.
    S = torch.randn(3, 4, dtype=torch.float64)
    kk, vv = k[0, 0], v[0, 0]
    hand = S + 0.1 * torch.outer(vv - S @ kk, kk)
    assert torch.allclose(delta_rule_step(S, kk, vv, 0.1), hand, atol=1e-14)
    assert ((hand @ kk - vv) ** 2).sum() < ((S @ kk - vv) ** 2).sum()


def test_delta_rule_differs_from_linear_attention_unless_keys_are_orthonormal(qkv):
    q, k, v = qkv
    assert (delta_rule(q, k, v, 1.0) - linear_attention(q, k, v)).abs().max() > 1e-2
    orthonormal = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))[0].T[None]
    q4, v4 = q[:1, :4], v[:1, :4]
    assert torch.allclose(delta_rule(q4, orthonormal, v4, 1.0),
                          linear_attention(q4, orthonormal, v4), atol=1e-12)


def test_ttt_functions_reject_bad_shapes(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="q and k must have the same shape"):
        linear_attention_as_ssm(q, k[:, :5], v)
    with pytest.raises(ValueError, match="broadcastable to"):
        delta_rule(q, k, v, torch.ones(3))


# ----------------------------------------------------------------------------- MPC


def linear_system(a: float, b: float):
    return lambda x, u: a * x + b * u


def test_random_shooting_and_cem_find_the_one_step_lqr_optimum():
    # x' = a x + b u, cost x'^2 + r u^2: d/du = 2 b (a x + b u) + 2 r u = 0.
    a, b, r, x = 0.9, 0.5, 0.1, torch.tensor([2.0], dtype=torch.float64)
    optimum = -a * b * x / (b**2 + r)
    cost = lambda nxt, u: (nxt**2).sum(-1) + r * (u**2).sum(-1)
    generator = torch.Generator().manual_seed(0)
    shot = random_shooting(linear_system(a, b), x, 1, 20000, -3.0, 3.0, cost, generator)
    assert abs(shot.item() - optimum.item()) < 2e-3
    planned = cem(linear_system(a, b), x, 1, 200, -3.0, 3.0, cost, num_elites=20, iterations=8,
                  generator=generator)
    assert abs(planned.item() - optimum.item()) < 1e-3
    # With the optimum outside the box the best action is the bound.
    bounded = cem(linear_system(a, b), x, 1, 200, -0.5, 3.0, cost, num_elites=20, iterations=8,
                  generator=generator)
    assert abs(bounded.item() + 0.5) < 1e-6


def test_mpc_rejects_bad_arguments():
    dynamics, cost = linear_system(1.0, 1.0), lambda nxt, u: (nxt**2).sum(-1)
    x = torch.zeros(1)
    with pytest.raises(ValueError, match="low < high"):
        random_shooting(dynamics, x, 1, 10, 1.0, -1.0, cost)
    with pytest.raises(ValueError, match="num_elites"):
        cem(dynamics, x, 1, 10, -1.0, 1.0, cost, num_elites=20)
    with pytest.raises(ValueError, match="horizon must be an int >= 1"):
        random_shooting(dynamics, x, 0, 10, -1.0, 1.0, cost)


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
    return recovery_time(errors, switch_time, before=before, horizon=len(errors) - switch_time,
                         factor=factor, smoothing=smoothing)


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
