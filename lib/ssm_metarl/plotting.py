"""The figures every notebook shares.

Glossary: T time steps, N state dimension, S samples (seeds or tasks) that a
confidence band is computed over, K steps of adaptation.

Each function draws on a given ``ax`` (or a new one) and returns the axes, so
notebooks compose figures with ``plt.subplots`` and keep labels next to the
idea they show. Every axis gets a label with units where there are units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from .results import mean_ci


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_complex():
            x = x.real
    return np.asarray(x, dtype=float)


def _axes(ax: plt.Axes | None) -> plt.Axes:
    return ax if ax is not None else plt.subplots(figsize=(6, 3.5))[1]


def plot_state_trajectories(
    t: Any,
    states: Any,
    labels: Sequence[str] | None = None,
    ax: plt.Axes | None = None,
    *,
    title: str = "",
    time_unit: str = "s",
    **line_kwargs: Any,
) -> plt.Axes:
    """Plot each state component against time.

    ``t`` (T,), ``states`` (T, N) or (T,). ``labels`` names the N components.
    """
    t_np, x = _np(t), _np(states)
    x = x[:, None] if x.ndim == 1 else x
    if x.shape[0] != t_np.shape[0]:
        raise ValueError(f"states must have T={t_np.shape[0]} rows like t, got shape {x.shape}")
    ax = _axes(ax)
    names = labels if labels is not None else [f"$x_{i + 1}$" for i in range(x.shape[1])]
    for i in range(x.shape[1]):
        ax.plot(t_np, x[:, i], label=names[i], **line_kwargs)
    ax.set_xlabel(f"time t [{time_unit}]" if time_unit else "time step t")
    ax.set_ylabel("state")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_phase_portrait(
    states: Any,
    ax: plt.Axes | None = None,
    *,
    labels: tuple[str, str] = ("position $x_1$", "velocity $x_2$"),
    title: str = "",
    **line_kwargs: Any,
) -> plt.Axes:
    """Plot a 2-D state trajectory ``states`` (T, 2) in the plane, start marked by a dot."""
    x = _np(states)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"states must have shape (T, 2), got {x.shape}")
    ax = _axes(ax)
    (line,) = ax.plot(x[:, 0], x[:, 1], **line_kwargs)
    ax.plot(x[0, 0], x[0, 1], "o", color=line.get_color())
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if title:
        ax.set_title(title)
    return ax


def plot_adaptation_curve(
    steps: Any,
    values: Any,
    label: str,
    ax: plt.Axes | None = None,
    *,
    xlabel: str = "gradient steps",
    ylabel: str = "MSE",
    **line_kwargs: Any,
) -> plt.Axes:
    """Mean curve with a 95% confidence band over samples.

    ``steps`` (K,), ``values`` (S, K): one row per seed or test task.
    """
    k, v = _np(steps), _np(values)
    if v.ndim != 2 or v.shape[1] != k.shape[0]:
        raise ValueError(f"values must have shape (S, {k.shape[0]}), got {v.shape}")
    mean, half = mean_ci(v, axis=0)
    ax = _axes(ax)
    (line,) = ax.plot(k, mean, marker="o", markersize=3, label=label, **line_kwargs)
    ax.fill_between(k, mean - half, mean + half, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize="small")
    return ax
