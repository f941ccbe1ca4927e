"""The figures every notebook shares.

Glossary: T time steps, N state dimension, S samples (seeds or tasks) that a
confidence band is computed over, K steps of adaptation, Q chunk size.

Each function draws on a given ``ax`` (or a new one) and returns the axes, so
notebooks compose figures with ``plt.subplots`` and keep labels next to the
idea they show. Every axis gets a label with units where there are units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, NullFormatter

from ._validate import check_int
from .results import mean_ci


def _np(x: Any, name: str = "input") -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_complex():
            x = x.real
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__} "
                         f"{x!r:.40}") from None


def _axes(ax: plt.Axes | None) -> plt.Axes:
    if ax is not None and not isinstance(ax, plt.Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
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
    t_np, x = _np(t, "t"), _np(states, "states")
    if t_np.ndim != 1:
        raise ValueError(f"t must have shape (T,), got {t_np.shape}")
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2:
        raise ValueError(f"states must have shape (T, N) or (T,), got {x.shape}")
    if x.shape[0] != t_np.shape[0]:
        raise ValueError(f"states must have T={t_np.shape[0]} rows like t, got shape {x.shape}")
    if labels is not None and (isinstance(labels, str) or not isinstance(labels, Sequence)
                               or len(labels) != x.shape[1]):
        raise ValueError(f"labels must be None or a list of {x.shape[1]} names (one per state "
                         f"component), got {labels!r:.60}")
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
    x = _np(states, "states")
    if x.ndim != 2 or x.shape[1] != 2 or x.shape[0] == 0:
        raise ValueError(f"states must have shape (T, 2) with T >= 1, got {x.shape}")
    if isinstance(labels, str) or not isinstance(labels, Sequence) or len(labels) != 2 \
            or not all(isinstance(label, str) for label in labels):
        raise TypeError(f"labels must be two axis labels (x, y) as str, got {labels!r:.60}")
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
    k, v = _np(steps, "steps"), _np(values, "values")
    if not isinstance(label, str):
        raise TypeError(f"label must be a str, got {type(label).__name__}")
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


def _square(name: str, matrix: Any) -> np.ndarray:
    m = _np(matrix, name)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"{name} must have shape (T, T) with T >= 1, got {m.shape}")
    return m


def plot_semiseparable_mask(
    mask: Any,
    ax: plt.Axes | None = None,
    *,
    title: str = "",
) -> plt.Axes:
    """Draw an SSD decay mask ``mask`` (T, T), ``L[t, s] = prod_{s<r<=t} a_r``, as an image.

    Rows are target steps t, columns source steps s; exact zeros (above the
    diagonal, and the block a reset cuts off) are left white.
    """
    m = _square("mask", mask)
    ax = _axes(ax)
    image = ax.imshow(np.ma.masked_equal(m, 0.0), cmap="viridis", vmin=0.0,
                      vmax=max(1.0, float(m.max())), interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="decay $L[t, s]$")
    ax.set_xlabel("source step s")
    ax.set_ylabel("target step t")
    if title:
        ax.set_title(title)
    return ax


def plot_chunk_blocks(
    mask: Any,
    chunk_size: int,
    ax: plt.Axes | None = None,
    *,
    title: str = "",
) -> plt.Axes:
    """The chunked SSD's split of the (T, T) matrix into (Q, Q) blocks, ``Q = chunk_size``.

    Diagonal blocks show the mask values (computed as attention inside a
    chunk); blocks below the diagonal are shaded (computed through the chunk
    states, never formed); blocks above it are zero (causal).
    """
    m = _square("mask", mask)
    chunk_size = check_int("chunk_size", chunk_size)
    length = m.shape[0]
    chunk = np.arange(length) // chunk_size
    diagonal = chunk[:, None] == chunk[None, :]
    ax = _axes(ax)
    image = ax.imshow(np.ma.masked_where(~diagonal | (m == 0.0), m), cmap="viridis",
                      vmin=0.0, vmax=max(1.0, float(m.max())), interpolation="nearest")
    shade = {"facecolor": "0.85", "edgecolor": "0.45", "hatch": "//", "linewidth": 0.8}
    n_chunks = int(chunk[-1]) + 1
    for row in range(1, n_chunks):
        for col in range(row):
            top, left = row * chunk_size - 0.5, col * chunk_size - 0.5
            height = min(chunk_size, length - row * chunk_size)
            ax.add_patch(Rectangle((left, top), chunk_size, height, **shade))
            ax.text(left + chunk_size / 2, top + height / 2, "via\nstates", ha="center",
                    va="center", fontsize="x-small", color="0.2")
    for edge in range(chunk_size, length, chunk_size):
        ax.axhline(edge - 0.5, color="0.45", linewidth=0.8)
        ax.axvline(edge - 0.5, color="0.45", linewidth=0.8)
    ax.set_xlim(-0.5, length - 0.5)
    ax.set_ylim(length - 0.5, -0.5)
    ax.figure.colorbar(image, ax=ax, label="$L[t, s]$ inside a chunk")
    ax.legend(handles=[
        Patch(facecolor=image.cmap(0.7), label=f"diagonal block: attention ({chunk_size} x "
              f"{chunk_size})"),
        Patch(label="off-diagonal block: low rank,\nthrough the chunk states", **shade),
        Patch(facecolor="white", edgecolor="0.45", label="zero (causal)"),
    ], loc="upper right", fontsize="x-small")
    ax.set_xlabel("source step s")
    ax.set_ylabel("target step t")
    if title:
        ax.set_title(title)
    return ax


def plot_cost_vs_length(
    timings: dict[str, tuple[Sequence[int], Sequence[float]]],
    ax: plt.Axes | None = None,
    *,
    title: str = "",
) -> plt.Axes:
    """Wall-clock time against sequence length on log-log axes, one line per method.

    ``timings`` maps a method's name to (lengths, seconds), two equal-length
    sequences; a method may cover fewer lengths than the others.
    """
    if not isinstance(timings, Mapping) or not timings:
        raise TypeError(f"timings must be a non-empty dict name -> (lengths, seconds), got "
                        f"{type(timings).__name__}")
    for name, pair in timings.items():
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and all(isinstance(part, (Sequence, np.ndarray)) for part in pair)):
            raise TypeError(f"timings[{name!r}] must be a pair (lengths, seconds) of sequences, "
                            f"got {pair!r:.60}")
    ax = _axes(ax)
    for (name, (lengths, seconds)), marker in zip(timings.items(), "os^vDP*", strict=False):
        if len(lengths) != len(seconds):
            raise ValueError(f"{name}: {len(lengths)} lengths but {len(seconds)} times")
        ax.loglog(lengths, seconds, marker=marker, label=name)
    measured = sorted({int(length) for lengths, _ in timings.values() for length in lengths})
    ax.set_xticks(measured, [str(length) for length in measured])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("sequence length L [steps]")
    ax.set_ylabel("wall-clock time [s]")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return ax


def plain_log_ticks(ax: plt.Axes, axis: str = "y") -> plt.Axes:
    """Label a log axis with plain numbers (``0.1``, ``0.3``, ``1``, ``2``, ``5``), not ``4×10⁰``.

    Matplotlib writes the labels of a log axis in scientific notation, and
    labels every minor tick when the axis spans little more than a decade.
    Here the powers of ten are written with ``%g`` and, of the minor ticks,
    only 2, 3 and 5 times a power of ten are labelled, so labels never crowd.
    ``axis`` is ``"x"``, ``"y"`` or ``"both"``.
    """
    ax = _axes(ax)
    if axis not in ("x", "y", "both"):
        raise ValueError(f"axis must be 'x', 'y' or 'both', got {axis!r}")
    major = FuncFormatter(lambda value, _: f"{value:g}")
    minor = FuncFormatter(lambda value, _: f"{value:g}" if _leading_digit(value) in (2, 3, 5)
                          else "")
    for name in ("x", "y") if axis == "both" else (axis,):
        target = ax.xaxis if name == "x" else ax.yaxis
        target.set_major_formatter(major)
        target.set_minor_formatter(minor)
    return ax


def _leading_digit(value: float) -> int:
    """The first significant digit of a positive tick value (0 for anything else)."""
    if not value > 0 or not np.isfinite(value):
        return 0
    mantissa = value / 10 ** np.floor(np.log10(value))
    return int(round(mantissa)) if abs(mantissa - round(mantissa)) < 1e-6 else 0


def plot_system_diagram(ax: plt.Axes | None = None) -> plt.Axes:
    """The SSM meta-policy as two memories: state (fast, within a trial), weights (slow).

    Boxes for the environment, the SSM state h_t, the weights theta and the
    meta-trainer; arrows for what flows each step (observation, reward, action),
    each trial (the inner gradient step theta -> theta') and each meta-iteration
    (the outer step on theta's initialisation).
    """
    ax = _axes(ax)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")
    boxes = {
        "env": (0.3, 2.3, "environment\n(a task: a goal)", "#dddddd"),
        "state": (4.0, 3.6, "SSM state $h_t$\nfast memory:\nchanges every step", "#cfe3f7"),
        "weights": (4.0, 0.6, "weights $\\theta'$\nslow memory: a gradient\nstep between trials",
                    "#f7dfc7"),
        "meta": (7.6, 0.6, "meta-training\nlearns $\\theta$ (the init)\nand how $h$ updates",
                 "#dcefd6"),
    }
    for x, y, text, color in boxes.values():
        ax.add_patch(Rectangle((x, y), 2.2, 1.6, facecolor=color, edgecolor="black"))
        ax.text(x + 1.1, y + 0.8, text, ha="center", va="center", fontsize=8)
    arrows = [((2.5, 3.5), (4.0, 4.3), "obs, reward"), ((4.0, 4.0), (2.5, 3.2), "action"),
              ((5.1, 3.6), (5.1, 2.2), "act with $\\theta'$"),
              ((2.5, 2.6), (4.0, 1.5), "trial's returns\n(policy gradient)"),
              ((7.6, 1.4), (6.2, 1.4), "outer step")]
    for start, end, text in arrows:
        ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->"})
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.15, text, fontsize=7,
                ha="center")
    return ax
