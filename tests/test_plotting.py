"""Shared figures (ssm_metarl.plotting): they draw the data they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ssm_metarl import plotting
from ssm_metarl.results import mean_ci


def test_state_trajectories_draw_each_component_against_time():
    t = torch.linspace(0, 1, 50)
    states = torch.stack([torch.sin(t), torch.cos(t)], dim=1)
    ax = plotting.plot_state_trajectories(t, states, labels=["x", "v"])
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["x", "v"]
    np.testing.assert_allclose(lines[1].get_ydata(), torch.cos(t).numpy())
    assert "time" in ax.get_xlabel()
    plt.close("all")


def test_adaptation_curve_band_is_the_95_percent_interval():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(20, 4)) + np.arange(4)
    ax = plotting.plot_adaptation_curve(np.arange(4), values, label="MAML")
    mean, half = mean_ci(values)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), mean)
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx((mean - half).min())
    assert band[:, 1].max() == pytest.approx((mean + half).max())
    plt.close("all")


def test_phase_portrait_and_shape_errors():
    x = np.stack([np.cos(np.linspace(0, 6, 30)), np.sin(np.linspace(0, 6, 30))], 1)
    ax = plotting.plot_phase_portrait(x)
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), x[:, 0])
    with pytest.raises(ValueError, match=r"shape \(T, 2\)"):
        plotting.plot_phase_portrait(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="T=3 rows"):
        plotting.plot_state_trajectories(np.arange(3), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"shape \(S, 3\)"):
        plotting.plot_adaptation_curve(np.arange(3), np.zeros((5, 2)), label="x")
    plt.close("all")
