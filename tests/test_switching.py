"""Tests of ssm_metarl.switching: switching task families, forecasting examples, GrBAL windows.

Trajectories are checked against independent NumPy RK4 integrations with a
much finer step, switch times against the parameter paths, the Kalman
oracle against the noise floor it must reach, the forecasting examples
against a hand-built sequence, and the GrBAL windows against the sequences
they are cut from.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssm_metarl.adaptation import NextStepMLP
from ssm_metarl.maml import MetaMAMLTrainer, TaskBatch
from ssm_metarl.switching import (
    SwitchingOscillatorTasks,
    SwitchingPendulumTasks,
    SwitchingSample,
    TransitionWindowTasks,
    jump_uniform,
    next_step_data,
    sample_switch_mask,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def rk4_numpy(derivative, state, dt, steps):
    """Classical RK4 in NumPy float64, written independently of the library."""
    for _ in range(steps):
        k1 = derivative(state)
        k2 = derivative(state + 0.5 * dt * k1)
        k3 = derivative(state + 0.5 * dt * k2)
        k4 = derivative(state + dt * k3)
        state = state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return state


def fine_trajectory(derivative_at, initial, u, dt, substeps):
    """Integrate with the input and parameters of step k held over [k dt, (k+1) dt)."""
    state, states = np.array(initial, dtype=float), []
    for k in range(len(u)):
        state = rk4_numpy(lambda s, k=k: derivative_at(k, s), state, dt / substeps, substeps)
        states.append(state)
    return np.array(states)


# ----------------------------------------------------------------------------- switch times


@pytest.mark.parametrize("tasks", [
    SwitchingOscillatorTasks(num_switches=2, length=120, min_segment=30, seed=3),
    SwitchingOscillatorTasks(num_switches=None, switch_prob=0.05, length=150, min_segment=10,
                             seed=4),
    SwitchingPendulumTasks(switching="both", num_switches=2, length=90, min_segment=25, seed=5,
                           substeps=2),
], ids=["oscillator-fixed", "oscillator-hazard", "pendulum-both"])
def test_switch_times_are_exactly_where_the_parameters_jump(tasks):
    sample = tasks.sample(16)
    jumps = (sample.params[:, 1:] != sample.params[:, :-1]).any(dim=-1)
    assert torch.equal(jumps, sample.switch_mask[:, 1:])
    assert not sample.switch_mask[:, 0].any()
    for row in sample.switch_times:
        edges = [0, *row, tasks.length]
        assert min(np.diff(edges)) >= tasks.min_segment
    if tasks.num_switches is not None:
        assert (sample.switch_mask.sum(dim=1) == tasks.num_switches).all()
    else:
        assert sample.switch_mask.any()


def test_oscillator_params_stay_in_range_and_omega_moves_by_min_jump():
    tasks = SwitchingOscillatorTasks((1.0, 3.0), (0.1, 0.4), num_switches=3, min_segment=20,
                                     length=100, min_jump=0.3, seed=0)
    sample = tasks.sample(64)
    omega, zeta = sample.params[..., 0], sample.params[..., 1]
    assert omega.min() >= 1.0 and omega.max() <= 3.0
    assert zeta.min() >= 0.1 and zeta.max() <= 0.4
    for b, taus in enumerate(sample.switch_times):
        for tau in taus:
            change = abs(float(omega[b, tau] - omega[b, tau - 1]))
            circular = min(change, 2.0 - change)  # jump_uniform measures on the circle
            assert circular >= 0.3 * 2.0 - 1e-5


def test_omega_after_range_puts_every_later_regime_outside_the_training_range():
    shifted = SwitchingOscillatorTasks((1.0, 2.0), num_switches=2, min_segment=20, length=100,
                                       omega_after_range=(2.4, 3.0), seed=0).sample(64)
    omega, segment = shifted.params[..., 0], torch.cumsum(shifted.switch_mask.long(), 1)
    first, later = omega[segment == 0], omega[segment > 0]
    assert first.min() >= 1.0 and first.max() <= 2.0
    assert later.min() >= 2.4 and later.max() <= 3.0
    # constant within a segment, redrawn at each switch, spread over the whole range
    for b, taus in enumerate(shifted.switch_times):
        bounds = [0, *taus, 100]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            assert torch.unique(omega[b, lo:hi]).numel() == 1
    assert later.min() < 2.5 and later.max() > 2.9
    # the pre-switch draws are those of the same tasks without the option
    plain = SwitchingOscillatorTasks((1.0, 2.0), num_switches=2, min_segment=20, length=100,
                                     seed=0).sample(64)
    torch.testing.assert_close(omega[:, 0], plain.params[:, 0, 0])


def test_pendulum_switches_only_the_requested_parameter():
    sample = SwitchingPendulumTasks(switching="length", num_switches=2, length=80,
                                    min_segment=20, substeps=2, seed=1).sample(8)
    mass, length = sample.params[..., 0], sample.params[..., 1]
    assert (mass == mass[:, :1]).all()
    for b, taus in enumerate(sample.switch_times):
        assert all(length[b, tau] != length[b, tau - 1] for tau in taus)
    assert sample.param_names == ("mass", "length")


def test_switch_mask_fixed_count_covers_the_whole_admissible_range():
    generator = torch.Generator().manual_seed(0)
    mask = sample_switch_mask(generator, 4000, 20, num_switches=1, min_segment=5)
    taus = torch.nonzero(mask)[:, 1]
    # tau = p + 5 with p uniform on {0, ..., 10}: every admissible step appears, evenly.
    counts = torch.bincount(taus, minlength=20)
    assert counts[:5].sum() == 0 and counts[16:].sum() == 0
    assert counts[5:16].min() > 4000 / 11 * 0.75


def test_switch_hazard_matches_its_rate():
    generator = torch.Generator().manual_seed(1)
    mask = sample_switch_mask(generator, 2000, 200, num_switches=None, switch_prob=0.02,
                              min_segment=1)
    # With min_segment = 1 every step t = 1, ..., 199 may switch: 0.02 * 199 = 3.98 expected.
    assert not mask[:, 0].any()
    rate = mask.sum(dim=1).double().mean().item()
    assert abs(rate - 3.98) < 0.15


def test_jump_uniform_keeps_the_distance_and_a_uniform_marginal():
    generator = torch.Generator().manual_seed(2)
    old = torch.rand(20000, generator=generator, dtype=torch.float64) * 2 + 1
    new = jump_uniform(generator, old, (1.0, 3.0), 0.25)
    distance = torch.remainder(new - old, 2.0)
    assert distance.min() >= 0.5 - 1e-12 and distance.max() <= 1.5 + 1e-12
    assert new.min() >= 1.0 and new.max() < 3.0
    histogram = torch.histc(new, bins=4, min=1.0, max=3.0) / new.numel()
    assert torch.allclose(histogram, torch.full((4,), 0.25, dtype=torch.float64), atol=0.02)


# ----------------------------------------------------------------------------- trajectories


def test_oscillator_trajectory_matches_a_fine_rk4_integration():
    tasks = SwitchingOscillatorTasks(num_switches=2, length=60, min_segment=15, dt=0.5,
                                     noise_std=0.0, input_kind="smooth", seed=7,
                                     dtype=torch.float64)
    sample = tasks.sample(3)
    for b in range(3):
        params, u = sample.params[b].numpy(), sample.u[b, :, 0].numpy()

        def derivative(k, s, params=params, u=u):
            omega, zeta = params[k + 1]
            return np.array([s[1], -2 * zeta * omega * s[1] - omega**2 * s[0] + u[k + 1]])

        # s_{-1} is not returned, so integrate from the first stored state onwards.
        expected = fine_trajectory(derivative, sample.states[b, 0].numpy(), u[1:], 0.5, 200)
        np.testing.assert_allclose(sample.states[b, 1:].numpy(), expected, atol=1e-8)
    assert torch.equal(sample.y[..., 0], sample.states[..., 0])  # noise_std = 0


def test_pendulum_trajectory_matches_a_finer_rk4_integration():
    tasks = SwitchingPendulumTasks(switching="both", num_switches=1, length=40, min_segment=10,
                                   dt=0.05, substeps=10, noise_std=0.0, damping=0.3,
                                   initial_angle=2.5, seed=8, dtype=torch.float64)
    sample = tasks.sample(3)
    g, damping = 9.81, 0.3
    for b in range(3):
        params, u = sample.params[b].numpy(), sample.u[b, :, 0].numpy()

        def derivative(k, s, params=params, u=u):
            mass, length = params[k]
            return np.array([s[1], -(g / length) * np.sin(s[0]) - damping * s[1]
                             + u[k] / (mass * length**2)])

        # theta_{-1} is not returned, so integrate from the first stored state onwards.
        expected = fine_trajectory(lambda k, s: derivative(k + 1, s), sample.states[b, 0].numpy(),
                                   u[1:], 0.05, 200)
        np.testing.assert_allclose(sample.states[b, 1:].numpy(), expected, atol=1e-7)
    assert sample.states[..., 0].abs().max() > 1.0  # large angles: the nonlinearity matters


def test_observation_noise_has_the_requested_scale():
    sample = SwitchingOscillatorTasks(noise_std=0.1, length=100, min_segment=20, seed=9,
                                      dtype=torch.float64).sample(40)
    noise = (sample.y[..., 0] - sample.states[..., 0]).flatten()
    assert abs(noise.mean().item()) < 0.01
    assert abs(noise.std().item() - 0.1) < 0.005


def test_oracle_is_exact_without_noise_and_reaches_the_noise_floor_with_it():
    exact = SwitchingOscillatorTasks(noise_std=0.0, initial_std=0.0, length=80, min_segment=20,
                                     seed=10, dtype=torch.float64)
    sample = exact.sample(4)
    assert torch.allclose(exact.oracle_forecast(sample), sample.y, atol=1e-10)
    noisy = SwitchingOscillatorTasks(noise_std=0.05, length=200, min_segment=50, seed=11,
                                     dtype=torch.float64)
    sample = noisy.sample(64)
    errors = (noisy.oracle_forecast(sample) - sample.y)[:, 50:] ** 2
    # After the prior is forgotten the only error left is the observation noise.
    assert 0.9 * 0.05**2 < errors.mean().item() < 1.15 * 0.05**2
    persistence = ((sample.y[:, 51:] - sample.y[:, 50:-1]) ** 2).mean().item()
    assert errors.mean().item() < persistence / 10


# ----------------------------------------------------------------------------- sample API


def test_same_seed_same_sample_and_global_rng_untouched():
    first = SwitchingPendulumTasks(length=30, min_segment=10, substeps=2, seed=3).sample(4)
    second = SwitchingPendulumTasks(length=30, min_segment=10, substeps=2, seed=3).sample(4)
    other = SwitchingPendulumTasks(length=30, min_segment=10, substeps=2, seed=4).sample(4)
    for a, b in zip(first[:5], second[:5], strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(first.y, other.y)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    SwitchingOscillatorTasks(seed=0).sample(2)
    assert torch.equal(torch.rand(3), expected)


def test_sample_to_sequence_and_switch_times():
    sample = SwitchingOscillatorTasks(num_switches=2, length=90, min_segment=30, seed=2).sample(3)
    assert isinstance(sample, SwitchingSample)
    moved = sample.to(dtype=torch.float64)
    assert moved.y.dtype == torch.float64 and moved.switch_mask.dtype == torch.bool
    one = sample.sequence(1)
    assert one.u.shape == (1, 90, 1) and torch.equal(one.states[0], sample.states[1])
    assert one.switch_times == [sample.switch_times[1]]
    assert sample.switch_times[1] == torch.nonzero(sample.switch_mask[1]).flatten().tolist()


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_switches=1, switch_prob=0.1), "exactly one of num_switches"),
    (dict(num_switches=None, switch_prob=None), "exactly one of num_switches"),
    (dict(num_switches=3, min_segment=60, length=200), "need length >= 240"),
    (dict(num_switches=None, switch_prob=1.5), "switch_prob must be a probability"),
    (dict(min_jump=0.7), "min_jump is a fraction"),
    (dict(noise_std=-0.1), "noise_std must be a finite number >= 0"),
    (dict(omega_range=(0.0, 1.0)), "omega_range must be positive"),
    (dict(omega_after_range=(0.0, 1.0)), "omega_after_range must be positive"),
    (dict(omega_after_range=(3.0, 2.0)), "omega_after_range must be a finite pair"),
    (dict(dt=0.0), "dt must be a positive number"),
    (dict(input_kind="square"), "input_kind must be one of"),
    (dict(min_segment=0), "min_segment must be a positive int"),
])
def test_oscillator_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SwitchingOscillatorTasks(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(switching="gravity"), "switching must be one of"),
    (dict(mass_range=(0.0, 1.0)), "must be positive"),
    (dict(substeps=0), "substeps must be a positive int"),
    (dict(gravity=0.0), "gravity must be a positive finite number"),
    (dict(damping=-1.0), "damping must be a finite number >= 0"),
])
def test_pendulum_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SwitchingPendulumTasks(**kwargs)


def test_sample_rejects_a_bad_batch():
    with pytest.raises(ValueError, match="batch must be a positive int"):
        SwitchingOscillatorTasks().sample(0)


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
