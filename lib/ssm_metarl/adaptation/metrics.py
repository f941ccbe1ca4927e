"""Switch-aligned metrics: how a forecaster's error behaves around each switch.

A single mean squared error hides what test-time adaptation is for: how
large the error gets right after the dynamics change and how fast it comes
back. Every metric here aligns the per-step errors (B, L) on the switch
events of the sequences and splits the time around each switch ``tau``
into four windows (:func:`window_offsets`): ``before`` the switch, the
``shock`` just after it, the ``recovery`` and the ``steady`` state.
:func:`switch_aligned_metrics` reports the mean error per window with 95%
confidence intervals and the :func:`recovery_time`;
:func:`paired_window_gain` compares two methods event by event;
:func:`switch_aligned_curve` gives the mean error curve with a band.

Dimension letters used in shapes:

====  =====================================================================
B     sequences
L     time steps of a sequence
E     switch events usable for switch-aligned metrics
K     offsets from the switch of an aligned curve
====  =====================================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from .._validate import check_float, check_instance, check_int
from ..functional import to_numpy
from ..results import mean_ci

__all__ = [
    "WINDOWS",
    "event_window_means",
    "format_metrics_table",
    "paired_window_gain",
    "recovery_time",
    "smoothed_errors",
    "switch_aligned_curve",
    "switch_aligned_metrics",
    "switch_events",
    "window_offsets",
]

WINDOWS: tuple[str, ...] = ("before", "shock", "recovery", "steady")


# ----------------------------------------------------------------------------- switch events


def _array(name: str, value: Any, ndim: int) -> np.ndarray:
    """``value`` (array, tensor or nested list of numbers) as a float64 array of ``ndim`` dims."""
    try:
        array = to_numpy(value, name, dtype=float)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be an array of numbers with {ndim} dimensions, got "
                         f"{type(value).__name__} {value!r:.60}") from None
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    return array


def _step_lists(switch_times: Any, name: str = "switch_times",
                mask_ok: bool = True) -> list[list[int]]:
    """One list of integer switch steps per sequence (NumPy integers and whole floats too)."""
    kind = f"{name} must be {'a (B, L) bool mask or ' if mask_ok else ''}one list of switch " \
           "steps per sequence"
    if isinstance(switch_times, (str, bytes)) or not isinstance(switch_times, Iterable):
        raise TypeError(f"{kind}, got {type(switch_times).__name__}")
    lists = []
    for b, row in enumerate(switch_times):
        if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
            raise TypeError(f"{kind}; {name}[{b}] is a {type(row).__name__}, not a list")
        steps = []
        for tau in row:
            whole = isinstance(tau, (int, np.integer)) or (
                isinstance(tau, (float, np.floating)) and float(tau).is_integer())
            if isinstance(tau, (bool, np.bool_)) or not whole:
                raise ValueError(f"{name}[{b}] must hold integer time steps, got {tau!r}")
            steps.append(int(tau))
        lists.append(steps)
    return lists


def _switch_lists(switch_times: Any, batch: int, length: int) -> list[list[int]]:
    """Accept a (B, L) bool mask or one list of switch steps per sequence."""
    if isinstance(switch_times, (torch.Tensor, np.ndarray)):
        mask = _array("switch_times", switch_times, 2).astype(bool)
        if mask.shape != (batch, length):
            raise ValueError(f"switch_times mask must have shape {(batch, length)} like the "
                             f"errors, got {mask.shape}")
        return [np.flatnonzero(row).tolist() for row in mask]
    lists = _step_lists(switch_times)
    if len(lists) != batch:
        raise ValueError(f"switch_times must hold one list per sequence ({batch}), "
                         f"got {len(lists)}")
    return lists


def window_offsets(before: int, shock: int, recovery: int, steady: int) -> dict[str, tuple]:
    """Offsets ``[start, end)`` from the switch step ``tau`` of the four windows.

    ``before = [-before, 0)``, ``shock = [0, shock)``,
    ``recovery = [shock, shock + recovery)``, ``steady`` the next ``steady`` steps.
    """
    before, shock, recovery, steady = (check_int(name, value) for name, value in (
        ("before", before), ("shock", shock), ("recovery", recovery), ("steady", steady)))
    end_recovery = shock + recovery
    return {"before": (-before, 0), "shock": (0, shock), "recovery": (shock, end_recovery),
            "steady": (end_recovery, end_recovery + steady)}


def switch_events(switch_lists: list[list[int]], length: int, before: int, after: int):
    """The ``(sequence, tau)`` pairs whose window ``[tau - before, tau + after)`` fits in
    the sequence and contains no other switch (so each window sees one system change).

    ``switch_lists``: one list of integer steps per sequence; ``length``,
    ``before``, ``after``: ints >= 0.
    """
    switch_lists = _step_lists(switch_lists, "switch_lists", mask_ok=False)
    length, before, after = (check_int(name, value, 0) for name, value in (
        ("length", length), ("before", before), ("after", after)))
    return _switch_events(switch_lists, length, before, after)


def _switch_events(switch_lists: list[list[int]], length: int, before: int, after: int):
    events = []
    for b, taus in enumerate(switch_lists):
        for tau in taus:
            clean = all(not (tau - before < other < tau + after) for other in taus if other != tau)
            if tau - before >= 0 and tau + after <= length and clean:
                events.append((b, tau))
    return events


def smoothed_errors(errors: np.ndarray, smoothing: int) -> np.ndarray:
    """Trailing mean over at most ``smoothing`` steps: ``s_k = mean(e_{max(0, k-w+1)..k})``.

    ``errors`` (L,) (NaN entries are skipped), ``smoothing`` a positive int.
    """
    return _smoothed(_array("errors", errors, 1), check_int("smoothing", smoothing))


def _smoothed(errors: np.ndarray, smoothing: int) -> np.ndarray:
    out = np.empty_like(errors, dtype=float)
    for k in range(len(errors)):
        out[k] = np.nanmean(errors[max(0, k - smoothing + 1) : k + 1])
    return out


# ----------------------------------------------------------------------------- metrics


def recovery_time(
    errors: Any,
    switch_time: int,
    *,
    before: int,
    horizon: int,
    factor: float = 1.5,
    smoothing: int = 5,
    reference: Any = None,
) -> float:
    """Steps after a switch until the smoothed error is back near its target level.

    With ``e_k = errors[tau + k]`` (``tau = switch_time``, ``errors`` (L,)) and
    ``s_k`` the trailing mean of ``e_0..e_k`` over at most ``smoothing`` steps
    (only post-switch errors), the recovery time is the smallest
    ``k in [0, horizon)`` with ``s_k <= factor * level``, where ``level`` is
    the mean error over ``[tau - before, tau)`` (the method's own pre-switch
    level), or, when ``reference`` (L,) is given (e.g. the oracle's errors),
    that reference's own ``s_k`` at the same ``k``. NaN if never within the horizon.
    A recovery time of 0 means the switch never pushed the error above the bar.
    """
    errors = _array("errors", errors, 1)
    switch_time = check_int("switch_time", switch_time, 0)
    before, horizon = check_int("before", before), check_int("horizon", horizon)
    if switch_time - before < 0 or switch_time + horizon > len(errors):
        raise ValueError(f"the window [switch_time - before, switch_time + horizon) = "
                         f"[{switch_time - before}, {switch_time + horizon}) must lie in "
                         f"[0, {len(errors)})")
    factor = check_float("factor", factor, minimum=0, strict=True)
    smoothing = check_int("smoothing", smoothing)
    if reference is not None:
        reference = _array("reference", reference, 1)
        if reference.shape != errors.shape:
            raise ValueError(f"reference must have the shape of errors {errors.shape}, got "
                             f"{reference.shape}")
    return _recovery_time(errors, switch_time, before, horizon, factor, smoothing, reference)


def _recovery_time(errors: np.ndarray, switch_time: int, before: int, horizon: int,
                   factor: float, smoothing: int, reference: np.ndarray | None) -> float:
    after = _smoothed(errors[switch_time : switch_time + horizon], smoothing)
    if reference is None:
        threshold = factor * np.nanmean(errors[switch_time - before : switch_time])
    else:
        threshold = factor * _smoothed(reference[switch_time : switch_time + horizon], smoothing)
    below = np.flatnonzero(after <= threshold)
    return float(below[0]) if below.size else math.nan


def _window_means(array: np.ndarray, events: list, span: tuple[int, int]) -> np.ndarray:
    """Mean (NaN-ignoring) error of each event over ``[tau + start, tau + end)``: (E,)."""
    start, end = span
    return np.array([np.nanmean(array[b, tau + start : tau + end]) for b, tau in events])


def _events_and_offsets(shape: tuple[int, int], switch_times: Any, windows: dict):
    """Usable events (the whole ``before .. steady`` span fits) and the window offsets."""
    offsets = window_offsets(**windows)
    events = _switch_events(_switch_lists(switch_times, *shape), shape[1],
                            -offsets["before"][0], offsets["steady"][1])
    return events, offsets


def event_window_means(
    errors: Any, switch_times: Any, window: str, *, before: int = 20, shock: int = 5,
    recovery: int = 25, steady: int = 30,
) -> np.ndarray:
    """Mean error of every usable switch event over one window: (E,).

    ``errors`` (B, L) and ``switch_times`` as in :func:`switch_aligned_metrics`,
    whose per-window rows are the mean and CI of exactly these values (same
    events, same offsets from :func:`window_offsets`); ``window`` one of
    :data:`WINDOWS`.
    """
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
    array = _array("errors", errors, 2)
    events, offsets = _events_and_offsets(
        array.shape, switch_times,
        dict(before=before, shock=shock, recovery=recovery, steady=steady))
    return _window_means(array, events, offsets[window])


def paired_window_gain(
    errors: Any, baseline_errors: Any, switch_times: Any, window: str, **windows: int
) -> tuple[float, float]:
    """How much lower a method's error is than a baseline's in one window, paired by event.

    ``d_e = mean_window(baseline_e) - mean_window(method_e)`` for every usable
    switch event ``e`` (:func:`event_window_means`; ``errors`` and
    ``baseline_errors`` (B, L) of the same sequences), then the mean of ``d``
    and its 95% CI half-width (Student's t). ``> 0``: the method is better.
    Pairing removes the spread between sequences that both methods share, so
    a small gain can be resolved where the two rows' CIs of
    :func:`switch_aligned_metrics` overlap. ``windows``: the window sizes.
    """
    unknown = sorted(set(windows) - {"before", "shock", "recovery", "steady"})
    if unknown:
        raise TypeError(f"paired_window_gain got unknown window sizes {unknown}; the windows are "
                        f"before, shock, recovery and steady")
    method = _array("errors", errors, 2)
    baseline = _array("baseline_errors", baseline_errors, 2)
    if method.shape != baseline.shape:
        raise ValueError(f"errors and baseline_errors must have the same shape (B, L), got "
                         f"{method.shape} and {baseline.shape}")
    differences = (event_window_means(baseline, switch_times, window, **windows)
                   - event_window_means(method, switch_times, window, **windows))
    return _mean_and_ci(differences)


def _mean_and_ci(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    if values.size == 1:
        return float(values[0]), math.nan
    mean, half = mean_ci(values)
    return float(mean), float(half)


def switch_aligned_metrics(
    errors: Mapping[str, Any] | Any,
    switch_times: Any,
    *,
    before: int = 20,
    shock: int = 5,
    recovery: int = 25,
    steady: int = 30,
    factor: float = 1.5,
    smoothing: int = 5,
    recovery_reference: str | None = None,
) -> dict[str, dict[str, float]]:
    """Per-method error before, at and after each switch: a table as a dict of rows.

    ``errors`` maps a method name to its squared errors (B, L) in the time frame
    of the raw sequences (NaN where it made no prediction; a bare array is
    named ``"model"``); ``switch_times`` is the (B, L) bool mask or one list of
    steps per sequence. Each usable event (:func:`switch_events`) contributes,
    per window of :func:`window_offsets`, the mean (NaN-ignoring) error over that
    window; rows report the mean over events and its 95% CI half-width
    (``"<window>_ci"``, Student's t, NaN with one event). ``recovery_time``
    (:func:`recovery_time` over ``shock + recovery + steady`` steps, relative
    to the method's own pre-switch level or to the method named
    ``recovery_reference``) is averaged over the events that recovered;
    ``recovered_fraction`` says how many did, ``events`` how many were used.
    """
    named = dict(errors) if isinstance(errors, Mapping) else {"model": errors}
    if not named:
        raise ValueError("errors must name at least one method (a dict name -> (B, L) errors)")
    arrays = {name: _array(f"errors[{name!r}]", e, 2) for name, e in named.items()}
    factor = check_float("factor", factor, minimum=0, strict=True)
    smoothing = check_int("smoothing", smoothing)
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise ValueError(f"every error array must have the same shape (B, L), got {shapes}")
    if recovery_reference is not None and recovery_reference not in arrays:
        raise ValueError(f"recovery_reference={recovery_reference!r} is not one of {list(arrays)}")
    events, offsets = _events_and_offsets(
        shapes.pop(), switch_times, dict(before=before, shock=shock, recovery=recovery,
                                         steady=steady))
    horizon = offsets["steady"][1]
    table = {}
    for name, array in arrays.items():
        row: dict[str, float] = {}
        for window, span in offsets.items():
            row[window], row[f"{window}_ci"] = _mean_and_ci(_window_means(array, events, span))
        times = np.array([_recovery_time(
            array[b], tau, -offsets["before"][0], horizon, factor, smoothing,
            None if recovery_reference is None else arrays[recovery_reference][b],
        ) for b, tau in events])
        row["recovery_time"], row["recovery_time_ci"] = _mean_and_ci(times)
        row["recovered_fraction"] = float(np.isfinite(times).mean()) if events else math.nan
        row["events"] = len(events)
        table[name] = row
    return table


def switch_aligned_curve(
    errors: Any, switch_times: Any, *, before: int = 20, after: int = 60, smoothing: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Errors aligned on the switches: offsets (K,), mean (K,) and 95% CI half-width (K,).

    ``errors`` (B, L), ``switch_times`` as in :func:`switch_aligned_metrics`;
    ``K = before + after`` offsets ``-before, ..., after - 1`` from each usable
    event (:func:`switch_events`); for adaptation curves with confidence bands.
    ``smoothing = w > 1`` first replaces each event's curve by its trailing mean
    over at most ``w`` steps (:func:`smoothed_errors`), taken separately before
    and after the switch so that no point mixes the two regimes; mean and CI are
    then over these smoothed per-event curves.
    """
    array = _array("errors", errors, 2)
    before, after = check_int("before", before), check_int("after", after)
    smoothing = check_int("smoothing", smoothing)
    events = _switch_events(_switch_lists(switch_times, *array.shape), array.shape[1],
                            before, after)
    if len(events) < 2:
        raise ValueError(f"need at least 2 usable switch events for a CI, found {len(events)}")
    aligned = np.stack([array[b, tau - before : tau + after] for b, tau in events])
    if smoothing > 1:
        aligned = np.stack([np.concatenate([_smoothed(row[:before], smoothing),
                                            _smoothed(row[before:], smoothing)])
                            for row in aligned])
    mean, half = mean_ci(aligned)
    return np.arange(-before, after), mean, half


def format_metrics_table(table: Mapping[str, Mapping[str, float]], digits: int = 4) -> str:
    """The dict of :func:`switch_aligned_metrics` as aligned text, ``mean +- CI`` per window."""
    columns = [*WINDOWS, "recovery_time"]
    check_instance("table", table, Mapping)
    check_int("digits", digits)
    needed = [*columns, *(c + "_ci" for c in columns), "recovered_fraction"]
    for name, row in table.items():
        check_instance(f"table[{name!r}]", row, Mapping)
        missing = [key for key in needed if key not in row]
        if missing:
            raise ValueError(f"table[{name!r}] must be a row of switch_aligned_metrics, "
                             f"missing {missing[:3]}")
        for key in needed:
            if isinstance(row[key], bool) or not isinstance(row[key], (int, float, np.integer,
                                                                         np.floating)):
                raise TypeError(f"table[{name!r}][{key!r}] must be a number, got "
                                f"{row[key]!r:.40}")
    header = f"{'method':<22}" + "".join(f"{c:>22}" for c in columns) + f"{'recovered':>11}"
    lines = [header]
    for name, row in table.items():
        cells = "".join(f"{row[c]:>11.{digits}g} +-{row[c + '_ci']:<8.2g}" for c in columns)
        lines.append(f"{name:<22}{cells}{row['recovered_fraction']:>11.2f}")
    return "\n".join(lines)

