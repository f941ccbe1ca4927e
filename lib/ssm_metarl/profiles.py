"""Run profiles: one environment variable picks the scale of every notebook.

``SSM_METARL_PROFILE`` is one of

========  ==========================  =======================================
profile   used by                     budget on a 2-core laptop CPU
========  ==========================  =======================================
smoke     nbval in CI, ``make test``  each notebook under 90 s
class     students (the default)      each notebook under 5 min
paper     reproducing published        each notebook under 30 min
          tables
========  ==========================  =======================================

Notebooks never choose sizes themselves: they call :func:`pick` with one
value per profile, so the three scales of an experiment sit side by side in
one line, and they print :func:`describe` so a reader always knows which
scale produced the numbers on screen.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from ._validate import check_bool, check_callable, check_int

PROFILES: tuple[str, ...] = ("smoke", "class", "paper")
DEFAULT_PROFILE = "class"
ENV_VAR = "SSM_METARL_PROFILE"

T = TypeVar("T")


def current() -> str:
    """Return the active profile name, read from ``SSM_METARL_PROFILE``.

    Unset or empty means ``"class"``. Anything else outside :data:`PROFILES`
    raises ``ValueError`` listing the valid names (never a silent fallback).
    """
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        return DEFAULT_PROFILE
    if value not in PROFILES:
        raise ValueError(
            f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a run profile; "
            f"expected one of {', '.join(PROFILES)} (default: {DEFAULT_PROFILE})."
        )
    return value


def pick(smoke: T, class_: T, paper: T, *, profile: str | None = None) -> T:
    """Return the value for the active profile.

    ``pick(smoke=200, class_=2_000, paper=70_000)`` reads as a table row:
    the same experiment at three scales. ``class_`` carries an underscore
    because ``class`` is a Python keyword. ``profile`` overrides the
    environment (tests use it).
    """
    name = current() if profile is None else _validate(profile)
    return {"smoke": smoke, "class": class_, "paper": paper}[name]


def _validate(profile: str) -> str:
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(
            f"profile={profile!r} is not a run profile; expected one of {', '.join(PROFILES)}."
        )
    return profile


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy's global RNG and torch; return a torch generator.

    The returned ``torch.Generator`` is seeded too, for code that prefers an
    explicit generator over global state. Same seed, same machine: same numbers.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the legacy global RNG is the point
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def progress_bar(iterable: Any, desc: str, enabled: bool = True) -> tqdm:
    """A ``tqdm.auto`` bar for long loops, hidden when ``TQDM_DISABLE`` is set (CI, nbval).

    The notebook flavour of tqdm passes ``disable=False`` itself, which would
    override the environment variable, so the variable is read here.
    """
    if not hasattr(iterable, "__iter__"):
        raise TypeError(f"iterable must be something to loop over (e.g. range(n)), got "
                        f"{type(iterable).__name__} {iterable!r:.40}")
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a str (the bar's label), got {type(desc).__name__}")
    check_bool("enabled", enabled)
    flag = os.environ.get("TQDM_DISABLE", "").strip().lower()
    hidden = not enabled or flag not in ("", "0", "false")
    return tqdm(iterable, desc=desc, disable=hidden)


def best_time(fn: Callable[[], Any], repeats: int = 3) -> float:
    """The shortest of ``repeats`` wall-clock times of ``fn()``, in seconds.

    Timings shown in a notebook are *of this machine, now*: other programs,
    the clock speed and the caches move single runs by tens of percent. The
    minimum over a few runs is the least disturbed of them (each run is the
    true cost plus interference, which is never negative), so notebooks print
    best-of-``repeats`` and say so. Side-by-side comparisons with ratios and
    medians live in ``benchmarks/``.
    """
    check_callable("fn", fn)
    check_int("repeats", repeats)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


SMOKE_CAVEAT = (
    "smoke profile: sizes so small that this only checks the notebook runs; its numbers "
    "mean nothing and the prose describes the class run (committed outputs) and the stored "
    "paper results"
)


def describe() -> str:
    """One line for the top of every notebook: profile, versions, threads, device.

    In ``smoke`` a second line says that the numbers below mean nothing.
    """
    line = (
        f"profile={current()} (set {ENV_VAR}=smoke|class|paper) | "
        f"torch {torch.__version__}, numpy {np.__version__} | "
        f"torch threads={torch.get_num_threads()} | device=cpu"
    )
    return line + ("\n" + SMOKE_CAVEAT if current() == "smoke" else "")
