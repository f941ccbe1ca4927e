"""Tests of ssm_metarl.adaptation.adapter: the predict-then-update TestTimeAdapter.

The adapter is checked against hand-written autograd loops (never against
itself), the protocol against a target sequence that would reveal any leak,
Meta-SGD rates against a hand-written per-weight SGD loop, and the whole
loop against the frozen model on switching oscillators.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ssm_metarl.adaptation import (
    NextStepMLP,
    TestTimeAdapter,
    fit_next_step,
    next_step_data,
    persistence_forecast,
    squared_errors,
    switch_aligned_metrics,
)
from ssm_metarl.functional import predict
from ssm_metarl.switching import SwitchingOscillatorTasks

pytestmark = pytest.mark.usefixtures("one_torch_thread")


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
    (dict(window=0), "window must be a positive int"),
    (dict(steps_per_update=0), "steps_per_update must be a positive int"),
    (dict(grad_clip=0.0), "grad_clip must be a positive finite number"),
    (dict(grad_clip=-1.0), "grad_clip must be a positive finite number"),
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


# ----------------------------------------------------------------------------- Meta-SGD rates


def test_per_parameter_rates_equal_a_hand_written_per_weight_sgd_loop():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(2, 9, 6, generator=generator, dtype=torch.float64)
    targets = torch.randn(2, 9, 1, generator=generator, dtype=torch.float64)
    torch.manual_seed(0)
    model = NextStepMLP(3, hidden=(4,)).double()
    rates = {n: 0.05 + 0.1 * torch.rand(p.shape, generator=generator, dtype=torch.float64)
             for n, p in model.named_parameters()}
    window, steps = 3, 2
    trace = TestTimeAdapter(model, lr=rates, window=window, steps_per_update=steps,
                            grad_clip=None).run(inputs, targets)
    for b in range(2):
        module = copy.deepcopy(model)
        for t in range(inputs.shape[1]):
            lo = max(0, t - window + 1)
            for _ in range(steps):
                module.zero_grad()
                loss = ((module(inputs[b, lo : t + 1]) - targets[b, lo : t + 1]) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    for name, p in module.named_parameters():
                        p -= rates[name] * p.grad
        for name, p in module.named_parameters():
            assert torch.allclose(trace.final_params[name][b], p, atol=1e-12), (b, name)


def test_per_parameter_rates_must_cover_every_adapted_parameter_with_its_shape():
    model = NextStepMLP(3, hidden=(4,))
    good = {n: torch.full_like(p, 0.1) for n, p in model.named_parameters()}
    with pytest.raises(ValueError, match="missing"):
        TestTimeAdapter(model, lr={"net.0.weight": good["net.0.weight"]})
    bad = {**good, "net.0.bias": torch.ones(3)}
    with pytest.raises(ValueError, match=r"lr\['net.0.bias'\] must be a finite tensor of shape"):
        TestTimeAdapter(model, lr=bad)
    # adapting only the head needs only the head's rates
    head = {n: r for n, r in good.items() if n.startswith(model.head)}
    TestTimeAdapter(model, [model.head], lr=head)
