"""What every task distribution shares: the sample it returns and how it draws.

:mod:`ssm_metarl.tasks` (sinusoids, damped oscillators) and
:mod:`ssm_metarl.switching` (systems whose parameters jump) both build on
these pieces, so they sit below both and ``tasks`` can re-export the
switching families without an import cycle:

- :class:`TaskSample`, the support and query sets of ``T`` tasks
  (public as :class:`ssm_metarl.tasks.TaskSample`);
- :func:`uniform`, ``U[lo, hi]`` draws from a distribution's own generator,
  so that sampling never touches global random state;
- :func:`input_signals`, the input sequences ``u`` that drive the simulated
  systems (``"smooth"``, ``"impulse"`` or ``"noise"``);
- the argument checks these share (ranges, ``dt``, ``input_kind``).

Dimension letters used in shapes:

====  =====================================================================
T     tasks in a sample (the meta-batch)
K     examples per task in the support (or query) set
L     sequence length (time steps) of an input signal
====  =====================================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "INPUT_KINDS",
    "TaskSample",
    "check_dt",
    "check_input_kind",
    "check_oscillator_ranges",
    "check_range",
    "input_signals",
    "uniform",
]

INPUT_KINDS: tuple[str, ...] = ("smooth", "impulse", "noise")


class TaskSample(NamedTuple):
    """Support and query sets of ``T`` tasks, stacked along the first dimension.

    ``support_x`` (T, K, ...) and ``support_y`` (T, K, ...) are what a learner
    adapts on; ``query_x``/``query_y`` (T, K_query, ...) are what it is scored on.
    ``info`` holds the true task parameters (each (T,)) and any extras needed
    for plotting (for example the oscillator states).
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    info: dict[str, torch.Tensor]

    @property
    def support(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(inputs, targets)`` pair that inner-loop adaptation uses."""
        return self.support_x, self.support_y

    @property
    def query(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(inputs, targets)`` pair the adapted model is evaluated on."""
        return self.query_x, self.query_y

    @property
    def num_tasks(self) -> int:
        return self.support_x.shape[0]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Move every tensor (floating tensors also to ``dtype``); returns a new sample."""

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        return TaskSample(
            move(self.support_x),
            move(self.support_y),
            move(self.query_x),
            move(self.query_y),
            {name: move(value) for name, value in self.info.items()},
        )

    def task(self, index: int) -> TaskSample:
        """The sample of task ``index`` alone, keeping a task dimension of size 1."""
        count = self.num_tasks
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < count:
            raise ValueError(f"index must be an int in [0, {count}) for this sample of "
                             f"{count} tasks, got {index!r}")
        index = int(index)
        pick = slice(index, index + 1)
        return TaskSample(
            self.support_x[pick],
            self.support_y[pick],
            self.query_x[pick],
            self.query_y[pick],
            {name: value[pick] for name, value in self.info.items()},
        )


# ----------------------------------------------------------------------------- validation


def check_range(name: str, value: Sequence[float], *, low: float | None = None) -> tuple:
    """Validate a ``(lo, hi)`` pair with ``lo <= hi`` (and ``lo >= low`` if given)."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must be a finite pair with low <= high, got ({lo}, {hi})")
    if low is not None and lo < low:
        raise ValueError(f"{name} must lie in [{low}, inf), got ({lo}, {hi})")
    return lo, hi


def check_oscillator_ranges(omega_range: Sequence[float], zeta_range: Sequence[float]):
    """The checked pairs ``omega_range`` (``lo > 0``, rad/s) and ``zeta_range`` (``lo >= 0``)."""
    omega_range = check_range("omega_range", omega_range, low=0.0)
    zeta_range = check_range("zeta_range", zeta_range, low=0.0)
    if omega_range[0] <= 0:
        raise ValueError(f"omega_range must be positive, got {omega_range}")
    return omega_range, zeta_range


def check_dt(dt: float) -> float:
    """The sampling interval ``dt`` as a positive, finite ``float`` (seconds)."""
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    return float(dt)


def check_input_kind(kind: str) -> str:
    """``kind`` must be one of :data:`INPUT_KINDS`."""
    if kind not in INPUT_KINDS:
        raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {kind!r}")
    return kind


# ----------------------------------------------------------------------------- draws


def uniform(gen: torch.Generator, shape: tuple, bounds: tuple, dtype: torch.dtype):
    """Draw ``U[lo, hi]`` samples on the CPU from the distribution's own generator."""
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=dtype)


def input_signals(
    gen: torch.Generator, shape: tuple[int, ...], length: int, dt: float, kind: str
) -> torch.Tensor:
    """Input sequences ``u`` (*shape, L, 1) in float64, sampled at ``dt`` seconds.

    ``"smooth"``: a sum of three random sinusoids below 0.5 Hz (unit variance
    in total); ``"impulse"``: one pulse of height ``N(0, 1) / dt`` in the first
    half (an approximate Dirac impulse); ``"noise"``: white ``N(0, 1)``.
    """
    t = torch.arange(length, dtype=torch.float64) * dt
    if kind == "noise":
        return torch.randn(*shape, length, 1, generator=gen, dtype=torch.float64)
    if kind == "impulse":
        height = torch.randn(*shape, 1, generator=gen, dtype=torch.float64)
        start = torch.randint(0, max(1, length // 2), (*shape, 1), generator=gen)
        pulse = (torch.arange(length) == start).to(torch.float64)
        return (pulse * height / dt)[..., None]
    freq = uniform(gen, (*shape, 3, 1), (0.05, 0.5), torch.float64)
    phase = uniform(gen, (*shape, 3, 1), (0.0, 2 * math.pi), torch.float64)
    weight = torch.randn(*shape, 3, 1, generator=gen, dtype=torch.float64)
    waves = weight * torch.sin(2 * math.pi * freq * t + phase) / math.sqrt(3)
    return waves.sum(dim=-2)[..., None]
