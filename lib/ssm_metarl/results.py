"""Published reference tables and our stored ``paper``-profile results.

Two kinds of numbers sit next to each other in every notebook:

- **reference** tables, typed once from the papers into
  ``data/reference/<name>.csv``, each row carrying a ``source`` column
  (paper, table, arXiv id). Notebooks read them with :func:`load_reference`
  and never retype a published number.
- **results** of our own ``paper``-profile runs, saved by :func:`save_result`
  to ``data/results/<name>.json`` with the command, seeds, library version and
  date, so a ``smoke`` or ``class`` run can show the full-scale numbers,
  clearly labelled.

:func:`mean_ci` gives the mean and 95% confidence half-width used for every
number we report, and :func:`results_table` lays published, live and stored
numbers out as one markdown table.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from ._validate import check_callable, check_float, check_int
from .profiles import PROFILES

RESULT_KEYS = ("name", "command", "seeds", "profile", "library_version", "torch_version",
               "date", "machine", "metrics")


def data_dir() -> Path:
    """The repository's ``data/`` folder (override with ``SSM_METARL_DATA``)."""
    override = os.environ.get("SSM_METARL_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "data"


def reference_names() -> list[str]:
    """Names of the published tables available to :func:`load_reference`."""
    return sorted(p.stem for p in (data_dir() / "reference").glob("*.csv"))


def load_reference(name: str) -> list[dict[str, Any]]:
    """Rows of ``data/reference/<name>.csv`` as dicts; numeric fields become floats/ints.

    >>> rows = load_reference("maml_sinusoid")
    >>> [r["mse"] for r in rows if r["method"] == "MAML"]
    [0.67, 0.38, 0.35]
    """
    _check_file_stem(name, "data/reference/")
    path = data_dir() / "reference" / f"{name}.csv"
    if not path.exists():
        raise ValueError(
            f"name={name!r} is not a reference table; expected one of {reference_names()}"
        )
    with path.open(newline="") as handle:
        rows = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    for i, row in enumerate(rows):
        if not str(row.get("source", "")).strip():
            raise ValueError(f"{path}: row {i + 1} has no source; every published number needs one")
    return rows


def _number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def save_result(
    name: str,
    metrics: dict[str, Any],
    *,
    command: str,
    seeds: Sequence[int],
    profile: str,
) -> Path:
    """Write ``data/results/<name>.json`` with the provenance every stored number needs."""
    if not isinstance(metrics, Mapping) or not metrics:
        raise ValueError(f"metrics must be a non-empty dict of measured numbers, got "
                         f"{type(metrics).__name__} {metrics!r:.40}")
    _check_result_name(name)
    if not isinstance(command, str):
        raise TypeError(f"command must be a str (how to rerun this result), got "
                        f"{type(command).__name__}")
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray)):
        raise TypeError(f"seeds must be a list of ints, got {type(seeds).__name__} {seeds!r:.40}")
    seeds = [check_int(f"seeds[{i}]", seed, 0) for i, seed in enumerate(seeds)]
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not a run profile; expected one of "
                         f"{', '.join(PROFILES)}")
    metrics = _jsonable(metrics)
    _check_finite_metrics("metrics", metrics)
    payload = {
        "name": name,
        "command": command,
        "seeds": seeds,
        "profile": profile,
        **provenance(),
        "machine": (f"{platform.machine()}, {os.cpu_count()} cores, "
                    f"torch threads {torch.get_num_threads()}"),
        "metrics": metrics,
    }
    path = data_dir() / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def provenance() -> dict[str, Any]:
    """Where a stored number or run came from: versions, date, machine and torch threads."""
    return {
        "library_version": __version__,
        "torch_version": torch.__version__,
        "date": _dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "torch_threads": torch.get_num_threads(),
    }


def train_runs_main(argv: Sequence[str] | None, description: str, methods: Sequence[str],
                    iterations: int | None, train: Any) -> None:
    """The command line of the stored-run modules: ``<method> --seeds ... --iterations N``.

    One torch thread per process (two runs side by side on a 2-core laptop);
    ``train(method, seed, iterations)`` trains and writes one run. ``iterations``
    is the default of ``--iterations``; None leaves it to ``train`` (a
    protocol whose length differs between methods).
    """
    import argparse
    import time

    if argv is not None and (isinstance(argv, str) or not isinstance(argv, Sequence)
                             or not all(isinstance(a, str) for a in argv)):
        raise TypeError(f"argv must be None (sys.argv) or a list of str, got {argv!r:.60}")
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {type(description).__name__}")
    if isinstance(methods, str) or not isinstance(methods, Sequence) or not methods or not all(
            isinstance(m, str) for m in methods):
        raise TypeError(f"methods must be a non-empty list of str, got {methods!r:.60}")
    iterations = None if iterations is None else check_int("iterations", iterations)
    check_callable("train", train, what="train(method, seed, iterations)")
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("method", choices=methods)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=iterations)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for seed in args.seeds:
        start = time.perf_counter()
        train(args.method, seed, args.iterations)
        print(f"{args.method} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


def _check_result_name(name: Any) -> None:
    """``name`` must be a plain file stem, so the result stays inside ``data/results/``."""
    _check_file_stem(name, "data/results/")


def _check_file_stem(name: Any, folder: str) -> None:
    """``name`` must be a plain file stem, so the file stays inside ``folder``."""
    if not isinstance(name, str) or not name or name != Path(name).name or name.startswith(".") \
            or "\\" in name:
        raise ValueError(f"name must be a plain file name (no folders, not starting with '.'), "
                         f"so the result stays in {folder}, got {name!r}")


def _check_finite_metrics(where: str, value: Any) -> None:
    """No NaN/inf anywhere in ``value`` (JSON has no such numbers)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite_metrics(f"{where}[{key!r}]", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite_metrics(f"{where}[{i}]", item)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}; JSON has no NaN/inf, so "
                         f"store a failed run's number as None")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, torch.Tensor)):
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        return np.asarray(array).tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def result_names() -> list[str]:
    """Names of the stored results available to :func:`load_result`."""
    return sorted(p.stem for p in (data_dir() / "results").glob("*.json"))


def load_result(name: str) -> dict[str, Any]:
    """Load ``data/results/<name>.json`` and check it carries every provenance key."""
    _check_file_stem(name, "data/results/")
    path = data_dir() / "results" / f"{name}.json"
    if not path.exists():
        raise ValueError(
            f"name={name!r} has no stored result; expected one of {result_names()} "
            f"(run the notebook in the paper profile to create it)"
        )
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    missing = [k for k in RESULT_KEYS if k not in payload]
    if missing:
        raise ValueError(f"{path} lacks the keys {missing}; expected all of {list(RESULT_KEYS)}")
    return payload


def _numbers(name: str, values: Any) -> np.ndarray:
    """``values`` (an array, tensor or nested list of numbers) as a float array."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(values).__name__} "
                         f"{values!r:.40}") from None


# Two-sided 97.5% quantiles of Student's t for small samples (df = 1..30).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def mean_ci(values: Any, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 95% confidence half-width (Student's t) along ``axis``.

    ``values`` (S, ...) with S independent samples (seeds or test tasks);
    returns ``(mean, half_width)`` each of shape ``(...)``, so the interval is
    ``mean +- half_width``.
    """
    arr = _numbers("values", values)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis must be an int in [{-arr.ndim}, {arr.ndim}) for values of shape "
                         f"{arr.shape}, got {axis!r}")
    n = arr.shape[axis]
    if n < 2:
        raise ValueError(f"values needs at least 2 samples along axis {axis}, got {n}")
    quantile = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    mean = arr.mean(axis=axis)
    half = quantile * arr.std(axis=axis, ddof=1) / math.sqrt(n)
    return mean, half


def seeds_tasks_ci(values: Any) -> dict[str, np.ndarray]:
    """Mean and both 95% intervals of ``values`` (R seeds, N test tasks, ...).

    ``mean`` over everything; ``ci_seeds``: the half-width across the R
    training seeds of their task-averaged results (how much retraining
    moves the number, R >= 2); ``ci_tasks``: across the N tasks of their
    seed-averaged results (how much the choice of test tasks moves it).
    Each of shape ``(...)``.
    """
    arr = _numbers("values", values)
    if arr.ndim < 2:
        raise ValueError(f"values must have shape (seeds, tasks, ...), got {arr.shape}")
    mean, ci_seeds = mean_ci(arr.mean(axis=1), axis=0)
    _, ci_tasks = mean_ci(arr.mean(axis=0), axis=0)
    return {"mean": mean, "ci_seeds": ci_seeds, "ci_tasks": ci_tasks}


def seeds_tasks_cells(values: Any, digits: int = 2,
                      diverged_above: float | None = None) -> list[str]:
    """Table cells of ``values`` (R seeds, N tasks, K columns), one per column.

    A column reads ``mean ± ci_seeds (± ci_tasks)`` (:func:`seeds_tasks_ci`).
    Where some (seed, task) entry is not finite or, with ``diverged_above``,
    above it, a mean and a symmetric interval would be dominated by the
    blow-ups, so the cell gives the median over all seeds and tasks and the
    share of diverged entries instead: ``median 1.27 (3.2% diverged)``.
    """
    arr = _numbers("values", values)
    if arr.ndim != 3:
        raise ValueError(f"values must have shape (seeds, tasks, columns), got {arr.shape}")
    digits = check_int("digits", digits, 0)
    limit = np.inf if diverged_above is None else check_float("diverged_above", diverged_above)
    with np.errstate(invalid="ignore"):
        diverged = ~np.isfinite(arr) | (arr > limit)
    cells = []
    for k in range(arr.shape[2]):
        column, bad = arr[:, :, k], diverged[:, :, k]
        if bad.any():
            median = np.median(np.where(np.isnan(column), np.inf, column))
            shown = f"{median:.{digits}f}" if abs(median) < 1e4 else f"{median:.1e}"  # inf: "inf"
            cells.append(f"median {shown} ({bad.mean():.1%} diverged)")
        else:
            stats = seeds_tasks_ci(column)
            cells.append(f"{stats['mean']:.{digits}f} ± {stats['ci_seeds']:.{digits}f} "
                         f"(± {stats['ci_tasks']:.{digits}f})")
    return cells


# ----------------------------------------------------------------------------------------------
# One markdown table: published numbers, this run and the stored paper-profile run.

_SOURCES = ("published", "live", "stored")


def results_table(
    columns: Sequence[str] | Mapping[str, str],
    *,
    published: Mapping[str, Any] | None = None,
    live: Mapping[str, Any] | None = None,
    stored: Mapping[str, Any] | None = None,
    citation: str | Mapping[str, str] | None = None,
    profile: str | None = None,
    stored_result: Mapping[str, Any] | None = None,
    rows: Sequence[str] | None = None,
    label: str = "method",
    digits: int = 2,
    column_digits: Mapping[str, int] | None = None,
    published_digits: int | None = None,
    group_by: str = "source",
) -> str:
    """Markdown table of published numbers, this run and the stored ``paper`` run.

    The table's columns are ``label | source | <columns>``. Each line is one
    row (a method, a setting, ...) of one source, and its ``source`` cell says
    which:

    - ``published``: ``citation`` (one string, or a dict ``row -> string``);
    - ``live``: ``**this run**, profile=<profile>``;
    - ``stored``: ``stored run, profile=<profile>, <date>``, both read from
      ``stored_result``, the dict :func:`load_result` returned.

    Args:
        columns: the value columns after ``source``: a sequence of headers, or
            a dict ``key -> header`` when the sources' keys are not the
            headers (e.g. ``{"thompson": "TS"}``).
        published, live, stored: dicts ``row name -> cells`` (``None``: no
            lines from that source). ``cells`` is either a sequence with one
            cell per column, or a dict ``column key -> cell`` in which missing
            columns stay empty.
        citation: source of the published lines; required with ``published``.
        profile: the live run's profile; required with ``live``.
        stored_result: the stored payload (with ``"profile"`` and ``"date"``);
            required with ``stored``.
        rows: which rows to show, in this order. ``None`` (default): every row
            of every source, each source in its own (dict) order. Given, a
            source shows the listed rows it has and no others; each listed row
            must be in at least one source.
        label: header of the first column.
        digits: decimals of floats and ``mean ± CI`` pairs.
        column_digits: decimals per column (by key), overriding ``digits``.
        published_digits: decimals of every published cell (default: the
            same as the live and stored cells).
        group_by: ``"source"``: the published lines, then the live lines, then
            the stored lines; ``"row"``: for each row its published, live and
            stored lines together.

    Cells: ``None`` is shown empty; a string as it is; an int (a count) as an
    int; a float with the column's decimals; a pair ``(mean, half_width)`` or
    a dict ``{"mean": m, "ci95": h}`` (as stored results keep them) as
    ``"m ± h"``. NumPy scalars and 0-d arrays or tensors count as numbers.

    Returns the table as lines joined by ``"\\n"`` (no trailing newline):
    header, ``|---|`` separator, then one line per (source, row).

    Raises:
        TypeError: a source, cells or a cell of an unsupported type; the
            message names the argument, the row and the column.
        ValueError: no source; repeated columns or rows; a listed row that no
            source has; cells whose sequence length differs from ``columns``
            or whose dict names a column not in ``columns``; a source without
            its ``citation``, ``profile`` or ``stored_result``; a bad
            ``digits``, ``column_digits``, ``published_digits`` or
            ``group_by``; text containing ``|`` or a newline.

    >>> print(results_table(["1 step", "5 steps"],
    ...                     published={"MAML": [0.67, 0.38]}, citation="Finn et al. 2017",
    ...                     live={"MAML": [(1.0, 0.12), (0.6, 0.09)]}, profile="class"))
    | method | source | 1 step | 5 steps |
    |---|---|---|---|
    | MAML | Finn et al. 2017 | 0.67 | 0.38 |
    | MAML | **this run**, profile=class | 1.00 ± 0.12 | 0.60 ± 0.09 |
    """
    if isinstance(columns, Mapping):
        keys = _check_names("columns", list(columns))
        headers = [_check_text(f"columns[{k!r}]", columns[k]) for k in keys]
    else:
        keys = headers = _check_names("columns", columns)
    label = _check_text("label", label)
    default_digits = _check_digits("digits", digits)
    per_column = {}
    if column_digits is not None:
        if not isinstance(column_digits, Mapping):
            raise TypeError(f"column_digits must be a dict column -> int, got "
                            f"{type(column_digits).__name__}")
        unknown = [k for k in column_digits if k not in keys]
        if unknown:
            raise ValueError(f"column_digits names {unknown}, which are not in columns {keys}")
        per_column = {k: _check_digits(f"column_digits[{k!r}]", v)
                      for k, v in column_digits.items()}
    column_decimals = [per_column.get(k, default_digits) for k in keys]
    published_decimals = (column_decimals if published_digits is None
                          else [_check_digits("published_digits", published_digits)] * len(keys))
    if group_by not in ("source", "row"):
        raise ValueError(f"group_by must be 'source' or 'row', got {group_by!r}")

    sources = {"published": published, "live": live, "stored": stored}
    for name, source in sources.items():
        if source is not None and not isinstance(source, Mapping):
            raise TypeError(f"{name} must be a dict row -> cells or None, got "
                            f"{type(source).__name__}")
    given = {name: source for name, source in sources.items() if source is not None}
    if not given:
        raise ValueError("give at least one of published, live, stored")
    if rows is None:
        shown = {name: list(source) for name, source in given.items()}
        row_order = list(dict.fromkeys(r for source in shown.values() for r in source))
    else:
        row_order = _check_names("rows", rows)
        missing = [r for r in row_order if not any(r in source for source in given.values())]
        if missing:
            raise ValueError(f"rows {missing} are in none of {' / '.join(given)}")
        shown = {name: [r for r in row_order if r in source] for name, source in given.items()}

    where = {name: {r: f"{name}[{r!r}]" for r in names} for name, names in shown.items()}
    for name, names in shown.items():
        for r in names:
            _check_text(f"the row name {where[name][r]}", r)
    labels = {"live": _live_label(live, profile),
              "stored": _stored_label(stored, stored_result)}
    published_labels = _published_labels(published, citation, shown.get("published", []))

    def line(name: str, row: str) -> str:
        decimals = published_decimals if name == "published" else column_decimals
        cells = _row_cells(where[name][row], given[name][row], keys, decimals)
        source = published_labels[row] if name == "published" else labels[name]
        return "| " + " | ".join([row, source, *cells]) + " |"

    if group_by == "source":
        order = [(name, r) for name in _SOURCES if name in shown for r in shown[name]]
    else:
        order = [(name, r) for r in row_order for name in _SOURCES
                 if name in shown and r in shown[name]]
    lines = ["| " + " | ".join([label, "source", *headers]) + " |",
             "|" + "---|" * (len(keys) + 2)]
    return "\n".join(lines + [line(name, r) for name, r in order])


def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    if "|" in value or "\n" in value:
        raise ValueError(f"{name} must not contain '|' or a newline (it would break the "
                         f"markdown table), got {value!r}")
    return value


def _check_names(name: str, values: Any) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a list of str, got {type(values).__name__} {values!r}")
    names = [_check_text(f"{name}[{i}]", v) for i, v in enumerate(values)]
    if not names:
        raise ValueError(f"{name} must not be empty")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{name} repeats {repeated}")
    return names


def _check_digits(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _live_label(live: Mapping | None, profile: Any) -> str | None:
    if live is None:
        return None
    if profile is None:
        raise ValueError("profile is required with live (it labels the rows of this run)")
    return f"**this run**, profile={_check_text('profile', profile)}"


def _stored_label(stored: Mapping | None, stored_result: Any) -> str | None:
    if stored is None:
        return None
    if not isinstance(stored_result, Mapping) or not {"profile", "date"} <= set(stored_result):
        raise ValueError("stored_result must be the dict load_result returned (with 'profile' "
                         "and 'date'); it is required with stored, got "
                         f"{type(stored_result).__name__}")
    return (f"stored run, profile={_check_text('stored_result[profile]', stored_result['profile'])}"
            f", {_check_text('stored_result[date]', stored_result['date'])}")


def _published_labels(published: Mapping | None, citation: Any, shown: list[str]) -> dict:
    if published is None:
        return {}
    if isinstance(citation, str):
        return {r: _check_text("citation", citation) for r in shown}
    if isinstance(citation, Mapping):
        missing = [r for r in shown if r not in citation]
        if missing:
            raise ValueError(f"citation has no entry for the published rows {missing}")
        return {r: _check_text(f"citation[{r!r}]", citation[r]) for r in shown}
    if citation is None:
        raise ValueError("citation is required with published (it labels the published rows)")
    raise TypeError(f"citation must be a str or a dict row -> str, got {type(citation).__name__}")


def _row_cells(where: str, cells: Any, keys: list[str], decimals: list[int]) -> list[str]:
    if isinstance(cells, Mapping):
        unknown = [k for k in cells if k not in keys]
        if unknown:
            raise ValueError(f"{where} has the columns {unknown}, which are not in columns {keys}")
        values = [cells.get(k) for k in keys]
    elif isinstance(cells, Sequence) and not isinstance(cells, (str, bytes)):
        if len(cells) != len(keys):
            raise ValueError(f"{where} has {len(cells)} cells but columns has {len(keys)} "
                             f"({keys})")
        values = list(cells)
    else:
        raise TypeError(f"{where} must be a list of cells or a dict column -> cell, got "
                        f"{type(cells).__name__}")
    return [_cell_text(f"{where}[{key!r}]", value, places)
            for key, value, places in zip(keys, values, decimals, strict=True)]


def _cell_text(where: str, value: Any, decimals: int) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _check_text(where, value)
    if isinstance(value, Mapping) and set(value) >= {"mean", "ci95"}:
        value = (value["mean"], value["ci95"])
    if isinstance(value, (tuple, list)) and len(value) == 2:
        mean, half = (_scalar(v) for v in value)
        if mean is not None and half is not None:
            return f"{mean:.{decimals}f} ± {half:.{decimals}f}"
    else:
        number = _scalar(value)
        if isinstance(number, int):
            return str(number)
        if number is not None:
            return f"{number:.{decimals}f}"
    raise TypeError(f"{where} must be None, a str, a number, a pair (mean, half_width) or a dict "
                    f"with 'mean' and 'ci95', got {type(value).__name__} {value!r}")


def _scalar(value: Any) -> int | float | None:
    # a number as int or float; None for anything that is not one
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return None
