"""Tests of ssm_metarl.adaptation.metrics: switch-aligned metrics against hand-computed numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssm_metarl.adaptation import (
    event_window_means,
    format_metrics_table,
    paired_window_gain,
    recovery_time,
    switch_aligned_curve,
    switch_aligned_metrics,
)

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
    with pytest.raises(ValueError, match="smoothing must be a positive int"):
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
