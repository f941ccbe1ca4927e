"""Tests of the notebook-04 extensions of ssm_metarl.adaptation and ssm_metarl.tasks.

Meta-SGD rates in the adapter (against a hand-written per-weight SGD loop),
GrBAL transition windows, the in-context SSM forecaster (causality, training,
context-limited predictions against an explicit loop), the pendulum step
(against a loop of RK4 steps) and adaptive MPC on a pendulum whose mass changes.
"""

from __future__ import annotations

import copy

import pytest
import torch

from ssm_metarl.adaptation import (
    InContextSSMForecaster,
    NextStepMLP,
    PendulumDynamicsModel,
    TestTimeAdapter,
    angle_tracking_cost,
    context_limited_predictions,
    fit_in_context,
    fit_next_step,
    pendulum_mpc_episodes,
)
from ssm_metarl.maml import MetaMAMLTrainer, TaskBatch
from ssm_metarl.tasks import (
    SwitchingOscillatorTasks,
    TransitionWindowTasks,
    pendulum_rk4_step,
    pendulum_step,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


# ----------------------------------------------------------------------------- GrBAL windows


def stationary_oscillators(seed: int = 0, length: int = 40) -> SwitchingOscillatorTasks:
    return SwitchingOscillatorTasks(seed=seed, num_switches=0, length=length, min_segment=1)


def test_transition_windows_are_consecutive_examples_of_one_sequence():
    windows = TransitionWindowTasks(stationary_oscillators(), history=3, past=5, future=4)
    sample = windows.sample(6)
    assert sample.support_x.shape == (6, 5, 6) and sample.query_y.shape == (6, 4, 1)
    # example n + 1 sees y_t, the target of example n, as its newest past observation
    x = torch.cat([sample.support_x, sample.query_x], dim=1)
    y = torch.cat([sample.support_y, sample.query_y], dim=1)
    assert torch.equal(x[:, 1:, 2], y[:, :-1, 0])


def test_transition_windows_plug_into_meta_sgd_and_the_meta_loss_goes_down():
    windows = TaskBatch(TransitionWindowTasks(stationary_oscillators(length=60), 3, 8, 8), 16)
    torch.manual_seed(0)
    trainer = MetaMAMLTrainer(NextStepMLP(3, hidden=(16,)), algorithm="metasgd", meta_lr=3e-3,
                              inner_lr=0.05, inner_steps=1, seed=0)
    losses = trainer.meta_train(windows, 150, progress=False)
    assert sum(losses[-20:]) < 0.5 * sum(losses[:20])


def test_transition_windows_reject_windows_longer_than_the_sequence():
    with pytest.raises(ValueError, match="do not fit in the 37 examples"):
        TransitionWindowTasks(stationary_oscillators(), history=3, past=30, future=10)
    with pytest.raises(TypeError, match="sample"):
        TransitionWindowTasks(object(), history=3)


# ----------------------------------------------------------------------------- in-context SSM


def test_in_context_forecaster_is_causal_and_residual():
    torch.manual_seed(0)
    model = InContextSSMForecaster(3, d_model=8, d_state=4, num_layers=1)
    features = torch.randn(2, 12, 6)
    changed = features.clone()
    changed[:, 7:] += 1.0
    with torch.no_grad():
        before, after = model(features), model(changed)
        assert torch.allclose(before[:, :7], after[:, :7], atol=1e-6)
        assert not torch.allclose(before[:, 7:], after[:, 7:], atol=1e-3)
        model.head.weight.zero_()
        model.head.bias.zero_()
        assert torch.equal(model(features), features[..., 2:3])  # y_{t-1}: persistence


def test_fit_in_context_lowers_the_one_step_error():
    tasks = SwitchingOscillatorTasks(seed=0, length=60, min_segment=20)
    torch.manual_seed(0)
    model = InContextSSMForecaster(3, d_model=8, d_state=4, num_layers=1)
    losses = fit_in_context(model, tasks, iterations=120, batch_size=8, lr=1e-2, progress=False)
    assert sum(losses[-10:]) < 0.4 * sum(losses[:10])


def test_context_limited_predictions_equal_an_explicit_loop_over_windows():
    torch.manual_seed(0)
    model = InContextSSMForecaster(3, d_model=8, d_state=4, num_layers=1).double()
    features = torch.randn(2, 10, 6, dtype=torch.float64)
    with torch.no_grad():
        for context in (1, 3, 4):
            got = context_limited_predictions(model, features, context, chunk_size=5)
            expected = torch.stack([model(features[:, max(0, n - context + 1) : n + 1])[:, -1]
                                    for n in range(10)], dim=1)
            assert torch.allclose(got, expected, atol=1e-10), context
        assert torch.allclose(context_limited_predictions(model, features, 10), model(features))
    with pytest.raises(ValueError, match="context must be an int >= 1"):
        context_limited_predictions(model, features, 0)


def test_in_context_streaming_steps_equal_the_whole_sequence_pass():
    torch.manual_seed(0)
    model = InContextSSMForecaster(3, d_model=8, d_state=4, num_layers=2).double()
    features = torch.randn(2, 9, 6, dtype=torch.float64)
    state, streamed = model.init_state(2), []
    with torch.no_grad():
        for n in range(9):
            prediction, state = model.step(features[:, n], state)
            streamed.append(prediction)
        assert torch.allclose(torch.stack(streamed, dim=1), model(features), atol=1e-10)
    with pytest.raises(ValueError, match="features_t"):
        model.step(features, state)


# ----------------------------------------------------------------------------- pendulum and MPC


def test_pendulum_step_is_substeps_of_rk4_with_the_torque_held():
    state = torch.tensor([[0.3, -0.2], [1.0, 0.5]], dtype=torch.float64)
    torque, mass, length = (torch.tensor([0.5, -1.0], dtype=torch.float64),
                            torch.tensor([1.0, 2.0], dtype=torch.float64),
                            torch.tensor([0.7, 1.3], dtype=torch.float64))
    expected = state
    for _ in range(4):
        expected = pendulum_rk4_step(expected, torque, mass, length, 0.1 / 4)
    assert torch.allclose(pendulum_step(state, torque, mass, length, 0.1, 4), expected,
                          atol=1e-14)


def test_angle_tracking_cost_by_hand():
    cost = angle_tracking_cost(0.5, 0.01)
    states = torch.tensor([[0.5, 3.0], [1.5, 0.0]])
    actions = torch.tensor([[2.0], [0.0]])
    assert torch.allclose(cost(states, actions), torch.tensor([0.04, 1.0]))


@pytest.fixture(scope="module")
def pendulum_model():
    generator = torch.Generator().manual_seed(0)
    states = torch.stack([4 * torch.rand(2000, generator=generator, dtype=torch.float64) - 2,
                          2 * torch.randn(2000, generator=generator, dtype=torch.float64)], -1)
    torques = 12 * (2 * torch.rand(2000, generator=generator, dtype=torch.float64) - 1)
    one = torch.tensor(1.0, dtype=torch.float64)
    following = pendulum_step(states, torques, one, one, 0.05, 5)
    torch.manual_seed(0)
    model = PendulumDynamicsModel(torque_limit=12.0)
    fit_next_step(model, torch.cat([states, torques[:, None]], -1).float(), following.float(),
                  iterations=1000, lr=1e-2, progress=False)
    return model


def test_adapted_mpc_model_tracks_a_mass_change_that_the_frozen_model_misses(pendulum_model):
    masses = torch.where(torch.arange(60) < 20, 1.0, 2.0).expand(2, -1)
    targets = torch.full((2, 60), 0.6)
    frozen = pendulum_mpc_episodes(TestTimeAdapter(pendulum_model, lr=0.0), masses, targets,
                                   num_candidates=100, seed=0)
    adapted = pendulum_mpc_episodes(
        TestTimeAdapter(pendulum_model, lr=0.01, optimizer="adam", window=16, steps_per_update=2),
        masses, targets, num_candidates=100, seed=0)
    # before the change the learned model is right and MPC holds the target angle
    assert frozen.model_errors[:, :20].mean() < 1e-3
    assert (frozen.states[:, 10:21, 0] - 0.6).abs().max() < 0.1
    # after it, the adapted model's one-step error falls far below the frozen one's
    assert adapted.model_errors[:, 40:].mean() < 0.2 * frozen.model_errors[:, 40:].mean()
    assert frozen.rewards.shape == (2, 60) and frozen.states.shape == (2, 61, 2)


def test_pendulum_mpc_rejects_bad_planner_and_shapes(pendulum_model):
    adapter = TestTimeAdapter(pendulum_model, lr=0.0)
    with pytest.raises(ValueError, match="planner must be one of"):
        pendulum_mpc_episodes(adapter, torch.ones(1, 5), torch.zeros(1, 5), planner="ilqr")
    with pytest.raises(ValueError, match="masses and targets must have the same shape"):
        pendulum_mpc_episodes(adapter, torch.ones(1, 5), torch.zeros(2, 5))
