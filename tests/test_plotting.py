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


def _labels(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_navigation_rollouts_draw_each_path_its_oracle_line_and_its_rewards():
    rng = np.random.default_rng(0)
    goals = rng.uniform(-0.5, 0.5, size=(4, 2))
    paths = np.cumsum(rng.normal(0, 0.05, size=(6, 2, 2)), axis=0)
    rewards = -np.linalg.norm(paths - goals[None, :2], axis=-1)
    ax, ax_r = plotting.plot_navigation_rollouts(goals, torch.as_tensor(paths), rewards,
                                                 label="random", goals_label="held out",
                                                 title="map", reward_title="rewards")
    lines = ax.get_lines()
    assert len(lines) == 3 * 2 + 1  # per path: path, oracle line, goal; then the start
    np.testing.assert_allclose(lines[0].get_xydata(), paths[:, 0])
    np.testing.assert_allclose(lines[1].get_xydata(), [[0, 0], goals[0]])
    np.testing.assert_allclose(lines[3].get_xydata(), paths[:, 1])
    assert lines[1].get_linestyle() == ":" and lines[3].get_color() == "C1"
    np.testing.assert_allclose(ax.collections[0].get_offsets(), goals)  # every goal
    assert ax.patches[0].get_width() == pytest.approx(1.0)  # the square [-0.5, 0.5]^2
    assert _labels(ax) == ["held out", "random, goal 0", "random, goal 1", "start"]
    assert ax.get_title() == "map" and ax_r.get_title() == "rewards"
    reward_lines = ax_r.get_lines()
    assert len(reward_lines) == 2
    np.testing.assert_allclose(reward_lines[1].get_xydata(),
                               np.stack([np.arange(1, 7), rewards[:, 1]], 1))
    assert _labels(ax_r) == ["random, goal 0", "random, goal 1"]
    with pytest.raises(ValueError, match="P <= G"):
        plotting.plot_navigation_rollouts(goals[:1], paths, rewards)
    plt.close("all")


def test_adaptation_paths_show_the_mean_and_one_path_per_step_in_each_panel():
    rng = np.random.default_rng(1)
    paths = rng.normal(size=(2, 3, 2, 5, 4, 2))
    paths[0, 0, 1, 3:, 0] = np.nan  # the first trajectory ended after 3 steps
    paths[0, 0, 1, 4:, 1:] = np.nan  # all of them by step 4
    goals = rng.uniform(-0.5, 0.5, size=(3, 2))
    grid = plotting.plot_adaptation_paths(paths, goals, ["MAML", "pretrained"],
                                          panel_title="{name}, goal {goal}", title="after k")
    assert grid.shape == (2, 3)
    lines = grid[0, 0].get_lines()
    assert len(lines) == 2 * 2 + 2  # per step: one path (thin), the mean (bold); goal; start
    np.testing.assert_allclose(lines[2].get_xydata(), paths[0, 0, 1, :, 0])
    mean = lines[3].get_xydata()
    np.testing.assert_allclose(mean[:3], paths[0, 0, 1, :3].mean(axis=1))
    np.testing.assert_allclose(mean[3], paths[0, 0, 1, 3, 1:].mean(axis=0))  # the running ones
    assert np.isnan(mean[4]).all()
    assert lines[2].get_linewidth() < lines[3].get_linewidth()
    assert lines[1].get_color() == "0.6" and lines[3].get_color() == "C0"  # STEP_COLORS
    np.testing.assert_allclose(grid[1, 2].get_lines()[-2].get_xydata(), goals[2:3])
    assert grid[1, 2].get_title() == "pretrained, goal 2"
    assert _labels(grid[0, 0]) == ["0 steps", "1 steps", "goal"]
    assert grid[0, 1].get_legend() is None
    assert grid[1, 0].get_xlabel() == "x position (m)" and grid[0, 1].get_ylabel() == ""
    assert grid[0, 0].figure.get_suptitle() == "after k"
    with pytest.raises(ValueError, match="colors"):
        plotting.plot_adaptation_paths(paths, goals, ["a", "b"], colors=["k"])
    plt.close("all")


def test_adaptation_vs_published_pairs_each_curve_with_its_published_line():
    rng = np.random.default_rng(2)
    curves = {"MAML (this run)": rng.normal(size=(6, 4)), "random (this run)": rng.normal(size=(6, 4))}
    published = {"MAML (this run)": ("MAML (paper)", [-40.0, -10.0, -5.0, -4.0])}
    fig, ax = plt.subplots()
    plotting.plot_adaptation_vs_published(np.arange(4), curves, published, ax,
                                          hlines={"oracle (paper)": (-2.3, "--")}, title="t")
    lines = ax.get_lines()
    assert len(lines) == 4  # MAML, its paper line, random, the oracle
    mean, _ = mean_ci(curves["MAML (this run)"])
    np.testing.assert_allclose(lines[0].get_ydata(), mean)
    np.testing.assert_allclose(lines[1].get_xydata(), np.stack([np.arange(4), [-40, -10, -5, -4]], 1))
    assert lines[1].get_color() == lines[0].get_color() == "C0" and lines[2].get_color() == "C1"
    assert lines[1].get_linestyle() == "--" and lines[1].get_marker() == "x"
    np.testing.assert_allclose(lines[3].get_ydata(), [-2.3, -2.3])
    assert len(ax.collections) == 2  # one band per curve
    assert _labels(ax) == ["MAML (this run)", "MAML (paper)", "random (this run)", "oracle (paper)"]
    assert list(ax.get_xticks()) == [0, 1, 2, 3] and ax.get_title() == "t"
    with pytest.raises(ValueError, match="names no curve"):
        plotting.plot_adaptation_vs_published(np.arange(4), curves, {"MAML": ("x", np.zeros(4))})
    plt.close("all")


def test_training_curves_draw_one_run_plainly_and_seeds_as_mean_and_band():
    rng = np.random.default_rng(3)
    single = rng.normal(size=7)
    seeds = rng.normal(size=(3, 5))
    ax = plotting.plot_training_curves({"one run": (np.arange(7), single),
                                        "3 seeds": (10 * np.arange(5), seeds)},
                                       xlabel="steps", ylabel="return", ylim=(-3, 3), lw=1)
    lines = ax.get_lines()
    np.testing.assert_allclose(lines[0].get_xydata(), np.stack([np.arange(7), single], 1))
    mean, half = mean_ci(seeds)
    np.testing.assert_allclose(lines[1].get_xydata(), np.stack([10 * np.arange(5), mean], 1))
    assert len(ax.collections) == 1  # a band only where there are seeds
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx((mean - half).min())
    assert band[:, 1].max() == pytest.approx((mean + half).max())
    assert lines[0].get_linewidth() == 1
    assert _labels(ax) == ["one run", "3 seeds"]
    assert ax.get_xlabel() == "steps" and ax.get_ylim() == (-3, 3)
    quiet = plotting.plot_training_curves({"a": (np.arange(3), np.ones(3))}, legend_fontsize=None)
    assert quiet.get_legend() is None
    with pytest.raises(ValueError, match="I = 3 like its x"):
        plotting.plot_training_curves({"a": (np.arange(3), np.ones((2, 4)))})
    plt.close("all")


def test_trpo_diagnostics_show_returns_kl_per_seed_and_the_policy_std():
    rng = np.random.default_rng(4)
    returns = {"TRPO": rng.normal(size=(3, 6)), "Adam": rng.normal(size=(3, 6))}
    kl = rng.uniform(0, 0.01, size=(3, 6))
    std = {"TRPO": rng.uniform(0.5, 1, size=(3, 6))}
    ax, ax_kl, ax_std = plotting.plot_trpo_diagnostics(returns, kl, std, seeds=(0, 1, 2),
                                                       bound=0.01)
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), mean_ci(returns["Adam"])[0])
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), np.arange(1, 7))
    assert len(ax.collections) == 2 and ax.get_title() == "training curves, 3 seeds (95% CI)"
    kl_lines = ax_kl.get_lines()
    assert len(kl_lines) == 4  # 3 seeds and the bound
    np.testing.assert_allclose(kl_lines[2].get_ydata(), kl[2])
    np.testing.assert_allclose(kl_lines[3].get_ydata(), [0.01, 0.01])
    assert _labels(ax_kl) == ["seed 0", "seed 1", "seed 2", r"bound $\delta$ = 0.01"]
    np.testing.assert_allclose(ax_std.get_lines()[0].get_ydata(), std["TRPO"].mean(axis=0))
    assert _labels(ax_std) == ["TRPO"] and not ax_std.collections
    with pytest.raises(ValueError, match="seeds"):
        plotting.plot_trpo_diagnostics(returns, kl, std, seeds=[0, 1])
    plt.close("all")


def test_bandit_trial_shows_the_pulls_the_most_active_state_entries_and_the_estimates():
    rng = np.random.default_rng(5)
    arms = np.array([0, 2, 1, 2, 2, 0])
    rewards = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    states = rng.normal(size=(6, 10)) * np.arange(1, 11)  # entry 9 varies most
    posterior = rng.uniform(size=(6, 3))
    axes = plotting.plot_bandit_trial(arms, rewards, states, posterior, [0.2, 0.5, 0.9], top=4,
                                      probe_r2=0.87)
    assert len(axes) == 3
    np.testing.assert_allclose(axes[0].collections[0].get_offsets(),
                               np.stack([np.arange(1, 7), arms], 1))
    colours = axes[0].collections[0].get_facecolors()
    np.testing.assert_allclose(colours[0], matplotlib.colors.to_rgba("C2"))  # reward 1
    np.testing.assert_allclose(colours[1], matplotlib.colors.to_rgba("C3"))  # reward 0
    state_lines = axes[1].get_lines()
    assert len(state_lines) == 4
    shown = sorted(np.argsort(states.var(0))[-4:])
    drawn = sorted(int(np.flatnonzero(np.all(np.isclose(states, line.get_ydata()[:, None]), 0))[0])
                   for line in state_lines)
    assert drawn == shown
    np.testing.assert_allclose(axes[2].get_lines()[2].get_ydata(), posterior[:, 2])
    assert _labels(axes[2]) == [f"arm {a}: (S+1)/(n+2)" for a in range(3)]
    assert "R² = 0.87" in axes[2].get_title() and "0.9" in axes[0].get_title()
    assert "the 4 most active" in axes[1].get_title()
    with pytest.raises(ValueError, match=r"ints in \[0, 3\)"):
        plotting.plot_bandit_trial(arms + 1, rewards, states, posterior, [0.2, 0.5, 0.9])
    plt.close("all")


def test_memory_vs_gradient_puts_episodes_and_gradient_steps_on_the_episode_axis():
    rng = np.random.default_rng(6)
    memory, gradient = rng.normal(size=(8, 3)), rng.normal(size=(8, 4))
    ax_m, ax_g = plotting.plot_memory_vs_gradient(memory, gradient, 20, oracle=-5.0, title="budget")
    np.testing.assert_allclose(ax_m.get_lines()[0].get_xydata(),
                               np.stack([np.arange(3), mean_ci(memory)[0]], 1))
    np.testing.assert_allclose(ax_g.get_lines()[0].get_xdata(), [0, 20, 40, 60])
    np.testing.assert_allclose(ax_g.get_lines()[0].get_ydata(), mean_ci(gradient)[0])
    for ax in (ax_m, ax_g):
        np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [-5.0, -5.0])
        assert len(_labels(ax)) == 2 and _labels(ax)[1] == "straight-line oracle"
    assert list(ax_g.get_xticks()) == [0, 20, 40, 60] and "20 per gradient step" in ax_g.get_xlabel()
    assert ax_m.get_lines()[0].get_color() == "C1" and ax_g.get_lines()[0].get_color() == "C0"
    assert ax_m.figure.get_suptitle() == "budget"
    with pytest.raises(ValueError, match="episodes_per_step"):
        plotting.plot_memory_vs_gradient(memory, gradient, 0)
    plt.close("all")


def test_jump_aligned_curves_skip_rows_without_a_step_and_mark_the_jump():
    rng = np.random.default_rng(7)
    x = np.arange(8) - 4
    values = rng.normal(size=(5, 8))
    values[:, 3] = np.nan  # a row of the rollout that holds no step
    fig, ax = plt.subplots()
    plotting.plot_jump_aligned(x, {"state only": values, "online": values + 1}, ax, jump=-0.5,
                               boundary=2.5, legend_ncol=2, lw=1)
    lines = ax.get_lines()
    assert len(lines) == 4  # two curves, the jump, the boundary
    keep = np.arange(8) != 3
    mean, half = mean_ci(values[:, keep])
    np.testing.assert_allclose(lines[0].get_xydata(), np.stack([x[keep], mean], 1))
    np.testing.assert_allclose(lines[1].get_ydata(), mean + 1)
    assert lines[0].get_linewidth() == 1
    np.testing.assert_allclose(lines[2].get_xdata(), [-0.5, -0.5])
    np.testing.assert_allclose(lines[3].get_xdata(), [2.5, 2.5])
    assert lines[3].get_linestyle() == ":"
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx((mean - half).min())
    assert _labels(ax) == ["state only", "online"] and ax.get_legend()._ncols == 2
    with pytest.raises(ValueError, match="S >= 2"):
        plotting.plot_jump_aligned(x, {"a": values[:1]})
    plt.close("all")


def test_adapted_fit_draws_truth_each_prediction_in_its_style_and_the_support():
    x = np.linspace(-5, 5, 20)[:, None]
    truth = np.sin(x)
    predictions = {0: 0 * x, 1: 0.5 * truth, 10: 0.9 * truth}
    support = (x[::7], truth[::7])
    fig, ax = plt.subplots()
    plotting.plot_adapted_fit(x, torch.as_tensor(truth), predictions, ax, support=support,
                              color="C3", label_prefix="SSM ", ylabel="output y", title="task 1")
    lines = ax.get_lines()
    assert len(lines) == 5
    np.testing.assert_allclose(lines[0].get_xydata(), np.concatenate([x, truth], 1))
    np.testing.assert_allclose(lines[3].get_ydata(), 0.9 * truth[:, 0])
    assert [line.get_linestyle() for line in lines[1:4]] == [":", "--", "-"]
    assert lines[0].get_color() == "k" and lines[2].get_color() == "C3"
    np.testing.assert_allclose(lines[4].get_xydata(), np.concatenate(support, 1))
    assert _labels(ax) == ["ground truth", "SSM before adaptation", "SSM after 1 step",
                           "SSM after 10 steps", "3 support points"]
    assert ax.get_ylabel() == "output y" and ax.get_title() == "task 1"
    with pytest.raises(ValueError, match="linestyles"):
        plotting.plot_adapted_fit(x, truth, predictions, linestyles=("-",))
    plt.close("all")


def test_compute_sweep_draws_each_point_with_its_time_and_the_baseline():
    knob, mean, half, ms = [1, 2, 4], [0.02, 0.01, 0.008], [0.002, 0.001, 0.001], [2.8, 4.7, 7.5]
    fig, ax = plt.subplots()
    plotting.plot_compute_sweep(knob, mean, half, torch.tensor(ms), 0.015, ax, xlabel="steps S",
                                label="online TTA", time_digits=2)
    curve, baseline = ax.get_lines()[0], ax.get_lines()[-1]  # the errorbar's line, the axhline
    np.testing.assert_allclose(curve.get_xydata(), np.stack([knob, mean], 1))
    np.testing.assert_allclose(baseline.get_ydata(), [0.015, 0.015])
    assert [t.get_text() for t in ax.texts] == ["2.80 ms", "4.70 ms", "7.50 ms"]
    assert _labels(ax) == ["frozen", "online TTA"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4"]
    assert ax.get_xscale() == ax.get_yscale() == "log" and ax.get_xlabel() == "steps S"
    with pytest.raises(ValueError, match="half must have the shape of knob"):
        plotting.plot_compute_sweep(knob, mean, half[:2], ms, 0.015, xlabel="S", label="x")
    plt.close("all")


def test_mpc_episodes_draw_mean_bands_angles_target_and_the_change():
    t = 0.05 * np.arange(1, 11)
    rewards = {"12 N m": {"frozen": np.ones((3, 10)), "adapted": np.arange(30.0).reshape(3, 10)},
               "20 N m": {"frozen": np.zeros((3, 10)), "adapted": np.ones((3, 10))}}
    angles = {c: {n: 0.1 * np.arange(10) for n in by} for c, by in rewards.items()}
    axes = plotting.plot_mpc_episodes(t, rewards, angles, np.full(10, 0.6), 0.25,
                                      colors={"frozen": "C3", "adapted": "C0"}, title="mass 1 → 2")
    assert axes.shape == (2, 2) and [a.get_title() for a in axes[0]] == ["12 N m", "20 N m"]
    mean, _ = mean_ci(rewards["12 N m"]["adapted"])
    adapted = [line for line in axes[0, 0].get_lines() if line.get_label() == "adapted"][0]
    np.testing.assert_allclose(adapted.get_xydata(), np.stack([t, mean], 1))
    assert adapted.get_color() == "C0" and len(axes[0, 0].collections) == 2  # two bands
    target = [line for line in axes[1, 1].get_lines() if line.get_label() == "target angle"][0]
    np.testing.assert_allclose(target.get_ydata(), 0.6)
    assert all(any(len(line.get_xdata()) == 2 and np.allclose(line.get_xdata(), 0.25)
                   for line in ax.get_lines()) for ax in axes.flat)
    assert axes[0, 0].figure._suptitle.get_text() == "mass 1 → 2"
    with pytest.raises(ValueError, match="same columns"):
        plotting.plot_mpc_episodes(t, rewards, {"12 N m": angles["12 N m"]}, np.zeros(10), 0.25)
    plt.close("all")


def test_selective_trace_shows_tokens_step_sizes_and_states():
    tokens = np.array([0, 3, 0, 0, 5, 0, 9, 9])
    data = (tokens > 0) & (tokens < 9)
    log_dt = np.arange(16.0).reshape(8, 2)
    norms = np.linspace(0, 1, 24).reshape(8, 3)
    top, middle, bottom = plotting.plot_selective_trace(tokens, torch.as_tensor(data), log_dt,
                                                        norms, 6, title="one input")
    assert top.get_title() == "one input"
    np.testing.assert_allclose(middle.images[0].get_array(), log_dt.T)
    curves = [line for line in bottom.get_lines() if len(line.get_xdata()) == 8]
    assert len(curves) == 3
    np.testing.assert_allclose(curves[2].get_ydata(), norms[:, 2])
    marks = [line for line in bottom.get_lines() if len(line.get_xdata()) == 2]
    assert sorted(line.get_xdata()[0] for line in marks) == [1, 4]  # the two data tokens
    with pytest.raises(ValueError, match="data_mask must be a bool array"):
        plotting.plot_selective_trace(tokens, tokens, log_dt, norms, 6)
    plt.close("all")
