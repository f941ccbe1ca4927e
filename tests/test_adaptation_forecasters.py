"""Tests of ssm_metarl.adaptation.forecasters: the one-step forecasters and their training.

The residual MLP against the persistence forecast it must reduce to, the
fitter against an exactly learnable ARX system, and the in-context SSM
forecaster for causality, training, streaming and context-limited
predictions (against an explicit loop over windows).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ssm_metarl.adaptation import (
    InContextSSMForecaster,
    NextStepMLP,
    context_limited_predictions,
    fit_in_context,
    fit_next_step,
    persistence_forecast,
    squared_errors,
)
from ssm_metarl.switching import SwitchingOscillatorTasks, next_step_data

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- next-step models


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
    with pytest.raises(ValueError, match="context must be a positive int"):
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
