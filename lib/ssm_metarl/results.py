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
number we report.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__

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
    if not metrics:
        raise ValueError("metrics must be a non-empty dict of measured numbers")
    payload = {
        "name": name,
        "command": command,
        "seeds": [int(s) for s in seeds],
        "profile": profile,
        "library_version": __version__,
        "torch_version": torch.__version__,
        "date": _dt.date.today().isoformat(),
        "machine": (f"{platform.machine()}, {os.cpu_count()} cores, "
                    f"torch threads {torch.get_num_threads()}"),
        "metrics": _jsonable(metrics),
    }
    path = data_dir() / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


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
    arr = np.asarray(values, dtype=float)
    n = arr.shape[axis]
    if n < 2:
        raise ValueError(f"values needs at least 2 samples along axis {axis}, got {n}")
    quantile = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    mean = arr.mean(axis=axis)
    half = quantile * arr.std(axis=axis, ddof=1) / math.sqrt(n)
    return mean, half
