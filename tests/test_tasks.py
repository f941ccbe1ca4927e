"""Tests of ssm_metarl.tasks: the sinusoid protocol, the damped oscillators, their identification."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssm_metarl.tasks import (
    DampedOscillatorTasks,
    OscillatorIdentification,
    SinusoidTasks,
    TaskSample,
    unit_power,
)

# ----------------------------------------------------------------------------- sinusoids


def test_sinusoid_follows_the_maml_protocol():
    sample = SinusoidTasks(seed=0).sample(2000, 10, 20)
    amplitude, phase = sample.info["amplitude"], sample.info["phase"]
    assert amplitude.min() >= 0.1 and amplitude.max() <= 5.0
    assert phase.min() >= 0.0 and phase.max() <= math.pi
    for x in (sample.support_x, sample.query_x):
        assert x.min() >= -5.0 and x.max() <= 5.0
    # Uniform draws: means near the interval centres, extremes near the ends.
    assert abs(amplitude.mean().item() - 2.55) < 0.1
    assert abs(phase.mean().item() - math.pi / 2) < 0.06
    assert amplitude.min() < 0.2 and amplitude.max() > 4.9
    assert abs(sample.support_x.mean().item()) < 0.1
    # Targets follow y = A sin(x - phi), recomputed here in NumPy float64.
    a, p = amplitude.double().numpy(), phase.double().numpy()
    x = sample.query_x.double().numpy()
    expected = a[:, None, None] * np.sin(x - p[:, None, None])
    np.testing.assert_allclose(sample.query_y.numpy(), expected, atol=1e-5)


def test_sinusoid_is_reproducible_under_its_own_seed():
    first = SinusoidTasks(seed=3).sample(5, 4, 6)
    second = SinusoidTasks(seed=3).sample(5, 4, 6)
    other = SinusoidTasks(seed=4).sample(5, 4, 6)
    for a, b in zip(first[:4], second[:4], strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(first.support_x, other.support_x)
    # The distribution's generator is its own: global torch RNG is untouched.
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    SinusoidTasks(seed=0).sample(5, 4, 6)
    assert torch.equal(torch.rand(3), expected)


def test_sinusoid_query_grid_and_dtype():
    sample = SinusoidTasks(seed=0, dtype=torch.float64).sample(3, 5, 11, query_grid=True)
    assert sample.query_x.dtype == torch.float64
    expected_grid = torch.linspace(-5, 5, 11, dtype=torch.float64)
    for task in range(3):
        assert torch.equal(sample.query_x[task, :, 0], expected_grid)
    assert isinstance(sample.task(1), TaskSample)
    assert torch.equal(sample.task(1).support_x[0], sample.support_x[1])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"amplitude_range": (5.0, 0.1)}, ValueError, "amplitude_range"),
        ({"amplitude_range": (-1.0, 1.0)}, ValueError, "amplitude_range"),
        ({"phase_range": (0.0, float("nan"))}, ValueError, "phase_range"),
        ({"x_range": (1.0, 1.0)}, ValueError, "x_range"),
        ({"x_range": "wide"}, TypeError, "x_range"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_sinusoid_rejects_bad_ranges(kwargs, error, match):
    with pytest.raises(error, match=match):
        SinusoidTasks(**kwargs)


def test_sinusoid_rejects_bad_counts():
    tasks = SinusoidTasks()
    with pytest.raises(ValueError, match="num_tasks"):
        tasks.sample(0, 5, 5)
    with pytest.raises(ValueError, match="k_support"):
        tasks.sample(2, 2.5, 5)
    with pytest.raises(ValueError, match="k_query"):
        tasks.sample(2, 5, -1)


# ----------------------------------------------------------------------------- oscillators


def rk4_oscillator(omega, zeta, u, dt, substeps=40):
    """Fine RK4 integration of x'' + 2 zeta omega x' + omega^2 x = u, u held per step.

    omega, zeta (T,), u (T, K, L) NumPy float64 -> states (T, K, L, 2) at times
    dt, 2 dt, ..., L dt, starting from rest.
    """
    w, z = omega[:, None], zeta[:, None]
    x = np.zeros(u.shape[:2])
    v = np.zeros(u.shape[:2])
    h = dt / substeps
    states = []

    def f(x, v, u_k):
        return v, u_k - 2 * z * w * v - w**2 * x

    for k in range(u.shape[2]):
        u_k = u[:, :, k]
        for _ in range(substeps):
            k1 = f(x, v, u_k)
            k2 = f(x + h / 2 * k1[0], v + h / 2 * k1[1], u_k)
            k3 = f(x + h / 2 * k2[0], v + h / 2 * k2[1], u_k)
            k4 = f(x + h * k3[0], v + h * k3[1], u_k)
            x = x + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            v = v + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        states.append(np.stack([x, v], -1))
    return np.stack(states, axis=2)


@pytest.mark.parametrize("kind", ["smooth", "noise", "impulse"])
def test_oscillator_matches_fine_rk4_integration(kind):
    tasks = DampedOscillatorTasks(
        omega_range=(0.5, 4.0), zeta_range=(0.02, 0.9), dt=0.1, length=60, input_kind=kind,
        seed=1, dtype=torch.float64,
    )
    sample = tasks.sample(4, 3, 1)
    reference = rk4_oscillator(
        sample.info["omega"].numpy(), sample.info["zeta"].numpy(),
        sample.support_x[..., 0].numpy(), tasks.dt,
    )
    states = sample.info["support_states"].numpy()
    scale = np.abs(reference).max()
    np.testing.assert_allclose(states, reference, atol=1e-9 * max(scale, 1.0))
    torch.testing.assert_close(sample.support_y[..., 0], sample.info["support_states"][..., 0])


def test_oscillator_free_response_matches_closed_form_and_decays():
    tasks = DampedOscillatorTasks(dt=0.05, seed=0, dtype=torch.float64)
    omega = torch.tensor([1.0, 2.5], dtype=torch.float64)
    zeta = torch.tensor([0.1, 0.4], dtype=torch.float64)
    u = torch.zeros(2, 1, 400, 1, dtype=torch.float64)
    start = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]], dtype=torch.float64)
    y, _ = tasks.simulate(omega, zeta, u, initial_state=start)
    t = 0.05 * torch.arange(1, 401, dtype=torch.float64)
    w, z = omega[:, None], zeta[:, None]
    w_d = w * torch.sqrt(1 - z**2)
    closed_form = torch.exp(-z * w * t) * (torch.cos(w_d * t) + z * w / w_d * torch.sin(w_d * t))
    torch.testing.assert_close(y[:, 0, :, 0], closed_form, atol=1e-10, rtol=0)
    assert y[:, 0, -40:].abs().max() < 0.2 * y[:, 0, :40].abs().max()


def test_oscillator_discretization_is_stable_for_the_whole_range():
    tasks = DampedOscillatorTasks(omega_range=(0.5, 5.0), zeta_range=(0.01, 1.0), seed=0,
                                  length=500, input_kind="noise")
    sample = tasks.sample(64, 2, 1)
    assert torch.isfinite(sample.support_y).all()
    # A noise-driven stable system stays bounded: |x| <= sum_k |h_k| max|u| (h: impulse response).
    assert sample.support_y.abs().max() < 100.0


def test_oscillator_sampling_is_seeded_and_validates():
    first = DampedOscillatorTasks(seed=5).sample(3, 2, 2)
    second = DampedOscillatorTasks(seed=5).sample(3, 2, 2)
    assert torch.equal(first.support_x, second.support_x)
    assert torch.equal(first.info["omega"], second.info["omega"])
    assert first.support_x.shape == (3, 2, 100, 1)
    assert first.info["query_states"].shape == (3, 2, 100, 2)
    omega = first.info["omega"]
    assert (omega >= 1.0).all() and (omega <= 3.0).all()
    impulses = DampedOscillatorTasks(input_kind="impulse", seed=0).sample_inputs((5,))
    assert ((impulses != 0).sum(dim=(1, 2)) == 1).all()
    with pytest.raises(ValueError, match="input_kind"):
        DampedOscillatorTasks(input_kind="chirp")
    with pytest.raises(ValueError, match="omega_range"):
        DampedOscillatorTasks(omega_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="dt"):
        DampedOscillatorTasks(dt=-0.1)
    with pytest.raises(ValueError, match=r"\(T, K, L, 1\)"):
        DampedOscillatorTasks().simulate(omega, omega, torch.zeros(3, 10, 1))


# ----------------------------------------------------------------------------- identification


def test_identification_samples_are_the_trajectories_of_the_oscillators_they_name():
    sample = OscillatorIdentification(3, 50, 120).sample(4, 2, 1)
    assert isinstance(sample, TaskSample)
    assert sample.support_x.shape == (4, 2, 50, 1) and sample.query_x.shape == (4, 1, 120, 1)
    assert sample.support_y.dtype == torch.float32 and sample.query_y.dtype == torch.float32
    omega, zeta = sample.info["omega"], sample.info["zeta"]
    assert (omega >= 1.0).all() and (omega <= 3.0).all()
    assert (zeta >= 0.2).all() and (zeta <= 0.5).all()
    # every run is driven at unit power and starts at rest
    for u in (sample.support_x, sample.query_x):
        torch.testing.assert_close(u.pow(2).mean(dim=-2), torch.ones(*u.shape[:2], 1))
    # positions are those of a fine RK4 integration of the named oscillator, dt = 0.1 s
    for u, y in ((sample.support_x, sample.support_y), (sample.query_x, sample.query_y)):
        reference = rk4_oscillator(omega.numpy(), zeta.numpy(), u[..., 0].double().numpy(), 0.1)
        np.testing.assert_allclose(y[..., 0].numpy(), reference[..., 0], atol=1e-5)
    torch.testing.assert_close(sample.query_y[..., 0], sample.info["query_states"][..., 0])


def test_identification_is_reproducible_under_its_own_seed():
    first = OscillatorIdentification(7, 20, 30).sample(3, 1, 2)
    second = OscillatorIdentification(7, 20, 30).sample(3, 1, 2)
    other = OscillatorIdentification(8, 20, 30).sample(3, 1, 2)
    for a, b in zip(first[:4], second[:4], strict=True):
        assert torch.equal(a, b)
    assert torch.equal(first.info["omega"], second.info["omega"])
    assert not torch.equal(first.info["omega"], other.info["omega"])
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    OscillatorIdentification(0, 10, 10).sample(2, 1, 1)
    assert torch.equal(torch.rand(3), expected)


def test_unit_power_scales_each_sequence():
    u = torch.tensor([[[2.0], [-2.0]], [[0.5], [0.0]]])
    torch.testing.assert_close(unit_power(u), torch.tensor([[[1.0], [-1.0]], [[2**0.5], [0.0]]]))


@pytest.mark.parametrize(
    ("args", "sample_args", "match"),
    [
        ((-1, 5, 5), None, "seed"),
        ((0, 0, 5), None, "support_length"),
        ((0, 5, 2.5), None, "query_length"),
        ((0, 5, 5), (0, 1, 1), "num_tasks"),
        ((0, 5, 5), (2, 0, 1), "k_support"),
        ((0, 5, 5), (2, 1, -1), "k_query"),
    ],
)
def test_identification_rejects_bad_arguments_by_name(args, sample_args, match):
    with pytest.raises(ValueError, match=match):
        OscillatorIdentification(*args).sample(*(sample_args or (1, 1, 1)))
