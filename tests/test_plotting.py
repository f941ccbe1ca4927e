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


def test_semiseparable_mask_image_leaves_exact_zeros_white_and_has_a_colorbar():
    mask = np.tril(np.full((6, 6), 0.5)) + 0.5 * np.eye(6)
    mask[3:, :3] = 0.0  # a reset at step 3 zeroes this block
    fig, ax = plt.subplots()
    plotting.plot_semiseparable_mask(mask, ax, title="reset")
    image = ax.get_images()[0].get_array()
    assert image.mask[0, 5] and image.mask[4, 1] and not image.mask[4, 4]
    np.testing.assert_allclose(image.data, mask)
    assert ax.get_xlabel() == "source step s" and ax.get_ylabel() == "target step t"
    assert len(fig.axes) == 2  # the colorbar
    with pytest.raises(ValueError, match=r"shape \(T, T\)"):
        plotting.plot_semiseparable_mask(np.zeros((3, 4)))
    plt.close("all")


def test_chunk_blocks_shows_diagonal_blocks_and_shades_the_blocks_below():
    mask = np.tril(np.ones((10, 10)))
    fig, ax = plt.subplots()
    plotting.plot_chunk_blocks(mask, 4, ax)
    image = ax.get_images()[0].get_array()
    assert not image.mask[5, 4] and image.mask[4, 3] and image.mask[9, 0]  # chunks 0-3, 4-7, 8-9
    assert len(ax.patches) == 3  # (1, 0), (2, 0), (2, 1)
    assert ax.patches[1].get_height() == 2  # the last chunk is short
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith("diagonal block: attention (4 x 4)")
    assert "through the chunk states" in labels[1]
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        plotting.plot_chunk_blocks(mask, 0)
    plt.close("all")


def test_cost_vs_length_draws_each_method_on_log_axes():
    ax = plotting.plot_cost_vs_length({"a": ([10, 100], [1e-3, 1e-2]), "b": ([10], [5e-4])})
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert [label.get_text() for label in ax.get_xticklabels()] == ["10", "100"]
    with pytest.raises(ValueError, match="2 lengths but 1 times"):
        plotting.plot_cost_vs_length({"a": ([10, 100], [1e-3])})
    plt.close("all")


def test_plain_log_ticks_writes_numbers_without_powers_of_ten():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [0.3, 1.0, 4.0])
    ax.set_yscale("log")
    plotting.plain_log_ticks(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels()
              if t.get_text()]
    assert labels and not any("10" in label and "^" in label or "×" in label for label in labels)
    assert {"0.3", "1", "2", "3"} <= set(labels)
    assert not {"0.4", "4", "0.9"} & set(labels)  # only 2, 3 and 5 of each decade: no crowding
    with pytest.raises(ValueError, match="axis"):
        plotting.plain_log_ticks(ax, axis="z")
    plt.close(fig)
