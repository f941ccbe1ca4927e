"""The figures every notebook shares.

Glossary: T time steps, N state dimension, S samples (seeds or tasks) that a
confidence band is computed over, K steps of adaptation (points of an
adaptation curve, step 0 included), Q chunk size, I training iterations (or
other points of a training curve), X points of a curve's x-axis, G goals (one
panel each), P paths or goals shown, M methods (one row of panels each), E
trajectories sampled per adaptation step (or episodes of a trial), A arms of
a bandit, D entries of a recurrent state (H x N flattened).

Each function draws on a given ``ax`` (or a new one) and returns the axes, so
notebooks compose figures with ``plt.subplots`` and keep labels next to the
idea they show; a figure of several panels takes ``axes`` (or makes and lays
out a new figure) and returns them as an array. Every axis gets a label with
units where there are units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, NullFormatter

from ._validate import check_float, check_instance, check_int
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


# ---------------------------------------------------------------------------------------------
# Figures of one experiment each (notebooks 02, 03, 05 and 06). The checks below are shared.


def _array(name: str, value: Any, shape_text: str, ndims: tuple[int, ...]) -> np.ndarray:
    """``value`` as a non-empty float array with one of ``ndims`` dimensions."""
    arr = _np(value, name)
    if arr.ndim not in ndims or arr.size == 0:
        raise ValueError(f"{name} must have shape {shape_text} and not be empty, got {arr.shape}")
    return arr


def _labelled(name: str, value: Any) -> Mapping[str, Any]:
    """``value`` must be a non-empty dict whose keys are str labels."""
    if not isinstance(value, Mapping) or not value:
        raise TypeError(f"{name} must be a non-empty dict label -> data, got "
                        f"{type(value).__name__} {value!r:.40}")
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"{name} must have str labels as keys, got {key!r:.40}")
    return value


def _text(name: str, value: Any) -> str:
    return check_instance(name, value, str)


def _pair(name: str, value: Any, what: str = "(x, values)") -> tuple[Any, Any]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair {what}, got {value!r:.60}")
    return value[0], value[1]


def _grid(axes: Any, shape: tuple[int, int], figsize: tuple[float, float], **subplots_kw: Any
          ) -> tuple[np.ndarray, bool]:
    """``axes`` (Axes in a ``shape`` grid, or None: a new figure) as an array of that shape,
    and whether the figure is new (then the plotting function lays it out: ``tight_layout``)."""
    if axes is None:
        axes = plt.subplots(*shape, figsize=figsize, squeeze=False, **subplots_kw)[1]
        return axes.reshape(shape), True
    grid = np.asarray(axes, dtype=object)
    if grid.size != shape[0] * shape[1] or not all(isinstance(a, plt.Axes) for a in grid.flat):
        raise TypeError(f"axes must be None or {shape[0] * shape[1]} matplotlib Axes (a "
                        f"{shape[0]} x {shape[1]} grid), got {axes!r:.80}")
    return grid.reshape(shape), False


def _returned(grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The axes in the shape ``plt.subplots`` gives them (a row or a column: 1-D)."""
    return grid.reshape(-1) if 1 in shape else grid


def _band(ax: plt.Axes, x: np.ndarray, values: np.ndarray, label: str, alpha: float,
          **line_kwargs: Any) -> None:
    """The mean of ``values`` (S, X) with its 95% CI band in the line's colour (as
    :func:`plot_adaptation_curve` draws it), or one line for ``values`` (X,)."""
    if values.ndim == 2 and values.shape[0] == 1:
        values = values[0]
    if values.ndim == 1:
        ax.plot(x, values, label=label, **line_kwargs)
        return
    mean, half = mean_ci(values, axis=0)
    (line,) = ax.plot(x, mean, label=label, **line_kwargs)
    ax.fill_between(x, mean - half, mean + half, color=line.get_color(), alpha=alpha, linewidth=0)


def plot_navigation_rollouts(
    goals: Any,
    paths: Any,
    rewards: Any,
    axes: Any = None,
    *,
    label: str = "policy",
    goals_label: str = "goals",
    title: str = "",
    reward_title: str = "",
    region: float = 0.5,
) -> np.ndarray:
    """2D navigation: the goals, one episode toward each of the first P goals, its rewards.

    Left: the goal region (the dashed square of half-side ``region``), every
    goal (grey stars), path p in colour ``Cp`` with the straight line from the
    start (the origin) to its goal, dotted: the oracle's path, and that goal
    (a large star). Right: the reward of each path per time step.

    ``goals`` (G, 2) in m; ``paths`` (T, P, 2) positions, path p heading for
    ``goals[p]`` (P <= G); ``rewards`` (T, P). ``label`` names the policy in the
    legend; ``axes`` is None (a new 1 x 2 figure) or two Axes. Returns the two Axes.
    """
    g = _array("goals", goals, "(G, 2)", (2,))
    if g.shape[1] != 2:
        raise ValueError(f"goals must have shape (G, 2), got {g.shape}")
    x = _array("paths", paths, "(T, P, 2)", (3,))
    if x.shape[2] != 2 or x.shape[1] > g.shape[0]:
        raise ValueError(f"paths must have shape (T, P, 2) with P <= G = {g.shape[0]} goals, "
                         f"got {x.shape}")
    r = _array("rewards", rewards, "(T, P)", (2,))
    if r.shape != x.shape[:2]:
        raise ValueError(f"rewards must have shape (T, P) = {x.shape[:2]} like paths, got "
                         f"{r.shape}")
    for name, value in (("label", label), ("goals_label", goals_label), ("title", title),
                        ("reward_title", reward_title)):
        _text(name, value)
    region = check_float("region", region, minimum=0, strict=True)
    grid, made = _grid(axes, (1, 2), (11, 4.6))
    ax, ax_r = grid[0]
    ax.add_patch(Rectangle((-region, -region), 2 * region, 2 * region, fill=False, ls="--",
                           color="0.5"))
    ax.scatter(*g.T, marker="*", s=60, color="0.6", label=goals_label)
    for p in range(x.shape[1]):
        ax.plot(x[:, p, 0], x[:, p, 1], color=f"C{p}", lw=1, label=f"{label}, goal {p}")
        ax.plot([0, g[p, 0]], [0, g[p, 1]], color=f"C{p}", ls=":", lw=1.5)
        ax.plot(*g[p], marker="*", ms=14, color=f"C{p}", mec="k")
    ax.plot(0, 0, "ko", label="start")
    ax.set(xlabel="x position (m)", ylabel="y position (m)", aspect="equal", title=title)
    ax.legend(fontsize="small", loc="lower left")
    for p in range(r.shape[1]):
        ax_r.plot(np.arange(1, r.shape[0] + 1), r[:, p], color=f"C{p}", label=f"{label}, goal {p}")
    ax_r.set(xlabel="time step t", ylabel="reward $r_t$ = -distance to goal (m)",
             title=reward_title)
    ax_r.legend(fontsize="small")
    if made:
        ax.figure.tight_layout()
    return grid[0]


def _mean_path(path: np.ndarray) -> np.ndarray:
    """(T, E, 2) positions, NaN after an episode ended -> (T, 2): mean over the paths still
    running (NaN once none is)."""
    running = np.isfinite(path[..., 0])
    total = np.where(running[..., None], path, 0.0).sum(axis=1)
    count = running.sum(axis=1)[:, None]
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


STEP_COLORS = ("0.6", "C0", "C1", "C3")
"""Colours of 0, 1, 2, 3 adaptation steps: four distinct hues (steps 1 and 2 must not look
alike)."""


def plot_adaptation_paths(
    paths: Any,
    goals: Any,
    names: Sequence[str],
    axes: Any = None,
    *,
    colors: Sequence[str] = STEP_COLORS,
    panel_title: str = "{name}, goal {goal}",
    title: str = "",
    limit: float = 0.8,
) -> np.ndarray:
    """Trajectories toward a goal after 0, 1, ... adaptation steps; methods in rows, goals in
    columns.

    Each panel shows, per step k (colour ``colors[k]``), the mean position of the
    trajectories still running (bold) and the first trajectory (thin), the goal
    (a gold star) and the start (the origin). ``paths`` (M, G, K, T, E, 2):
    positions of the E trajectories sampled after k steps, NaN after an
    episode ended; ``goals`` (G, 2); ``names`` the M methods. ``panel_title``
    is formatted with ``name`` and ``goal`` (the goal's index); ``title`` is the
    figure's. ``axes`` is None (a new M x G figure) or M x G Axes; returns them
    as an (M, G) array.
    """
    x = _array("paths", paths, "(M, G, K, T, E, 2)", (6,))
    if x.shape[-1] != 2:
        raise ValueError(f"paths must have shape (M, G, K, T, E, 2), got {x.shape}")
    m_count, g_count, k_count = x.shape[:3]
    g = _array("goals", goals, "(G, 2)", (2,))
    if g.shape != (g_count, 2):
        raise ValueError(f"goals must have shape (G, 2) = ({g_count}, 2) like paths, got "
                         f"{g.shape}")
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) != m_count \
            or not all(isinstance(n, str) for n in names):
        raise ValueError(f"names must be a list of {m_count} str (one per method, paths' first "
                         f"axis), got {names!r:.60}")
    if isinstance(colors, str) or not isinstance(colors, Sequence) or len(colors) < k_count:
        raise ValueError(f"colors must be a list of at least K = {k_count} colours (one per "
                         f"number of steps), got {colors!r:.60}")
    _text("panel_title", panel_title)
    _text("title", title)
    try:
        panel_title.format(name="", goal=0)
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"panel_title must be a format string with only {{name}} and {{goal}}, "
                         f"got {panel_title!r}") from None
    limit = check_float("limit", limit, minimum=0, strict=True)
    grid, made = _grid(axes, (m_count, g_count), (4 * g_count, 3.8 * m_count), sharex=True,
                       sharey=True)
    for row in range(m_count):
        for col in range(g_count):
            ax = grid[row, col]
            for step in range(k_count):
                path = x[row, col, step]
                ax.plot(path[:, 0, 0], path[:, 0, 1], color=colors[step], lw=0.7, alpha=0.5)
                ax.plot(*_mean_path(path).T, color=colors[step], lw=2.2, label=f"{step} steps")
            ax.plot(*g[col], marker="*", ms=15, color="gold", mec="k", label="goal")
            ax.plot(0, 0, "ko", ms=4)
            ax.set(title=panel_title.format(name=names[row], goal=col), aspect="equal",
                   xlim=(-limit, limit), ylim=(-limit, limit))
    for ax in grid[-1]:
        ax.set_xlabel("x position (m)")
    for ax in grid[:, 0]:
        ax.set_ylabel("y position (m)")
    grid[0, 0].legend(fontsize="x-small", loc="lower left")
    if title:
        grid[0, 0].figure.suptitle(title)
    if made:
        grid[0, 0].figure.tight_layout()
    return grid


def plot_adaptation_vs_published(
    steps: Any,
    curves: Mapping[str, Any],
    published: Mapping[str, tuple[str, Any]],
    ax: plt.Axes | None = None,
    *,
    hlines: Mapping[str, tuple[float, str]] | None = None,
    xlabel: str = "gradient steps",
    ylabel: str = "return",
    title: str = "",
) -> plt.Axes:
    """Adaptation curves of this run next to the published numbers, and reference levels.

    Curve i (colour ``Ci``) is the mean with its 95% CI band
    (:func:`plot_adaptation_curve`); its published counterpart, if any, is a
    dashed line with crosses in the same colour. ``steps`` (K,); ``curves``
    maps a label to its values (S, K); ``published`` maps a label of
    ``curves`` to (the published line's label, its values (K,)); ``hlines``
    maps a label to (a level, a line style) drawn across in black (e.g. an
    oracle's return).
    """
    k = _array("steps", steps, "(K,)", (1,))
    _labelled("curves", curves)
    checked = {}
    for label, values in curves.items():
        v = _array(f"curves[{label!r}]", values, "(S, K)", (2,))
        if v.shape[1] != k.shape[0]:
            raise ValueError(f"curves[{label!r}] must have shape (S, K) with K = {k.shape[0]} "
                             f"like steps, got {v.shape}")
        checked[label] = v
    if not isinstance(published, Mapping):
        raise TypeError(f"published must be a dict curve label -> (label, values (K,)), got "
                        f"{type(published).__name__}")
    for key, entry in published.items():
        if key not in curves:
            raise ValueError(f"published[{key!r}] names no curve; curves: {list(curves)}")
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2
                and isinstance(entry[0], str)):
            raise TypeError(f"published[{key!r}] must be a pair (label, values (K,)), got "
                            f"{entry!r:.60}")
        values = _np(entry[1], f"published[{key!r}]")
        if values.shape != k.shape:
            raise ValueError(f"published[{key!r}] values must have shape (K,) = {k.shape} like "
                             f"steps, got {values.shape}")
    hlines = {} if hlines is None else _labelled("hlines", hlines)
    for key, entry in hlines.items():
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2
                and isinstance(entry[1], str)):
            raise TypeError(f"hlines[{key!r}] must be a pair (level, line style), got "
                            f"{entry!r:.60}")
        check_float(f"hlines[{key!r}] level", entry[0])
    for name, value in (("xlabel", xlabel), ("ylabel", ylabel), ("title", title)):
        _text(name, value)
    ax = _axes(ax)
    for i, (label, values) in enumerate(checked.items()):
        plot_adaptation_curve(k, values, label, ax, color=f"C{i}",
                              xlabel=xlabel, ylabel=ylabel)
        if label in published:
            paper_label, paper = published[label]
            ax.plot(k, _np(paper), ls="--", marker="x", color=f"C{i}", label=paper_label)
    for label, (level, style) in hlines.items():
        ax.axhline(level, color="k", ls=style, lw=1, label=label)
    ax.set_xticks(k)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="x-small", ncol=2)
    return ax


def plot_training_curves(
    curves: Mapping[str, tuple[Any, Any]],
    ax: plt.Axes | None = None,
    *,
    xlabel: str = "iteration",
    ylabel: str = "return",
    title: str = "",
    band_alpha: float = 0.2,
    legend_fontsize: str | float | None = "small",
    ylim: tuple[float, float] | None = None,
    **line_kwargs: Any,
) -> plt.Axes:
    """Training curves, one line per run or method, each against its own x values.

    ``curves`` maps a label to (x, values): x (I,) and values (I,) for one run
    (a plain line) or (S, I) for S runs (seeds): their mean with a 95% CI band
    (S >= 2; one row is a plain line), the band ``band_alpha`` opaque.
    ``line_kwargs`` go to every line; ``legend_fontsize`` None draws no legend.
    """
    _labelled("curves", curves)
    checked = {}
    for label, pair in curves.items():
        x_raw, values_raw = _pair(f"curves[{label!r}]", pair)
        x = _array(f"curves[{label!r}] x", x_raw, "(I,)", (1,))
        values = _array(f"curves[{label!r}] values", values_raw, "(I,) or (S, I)", (1, 2))
        if values.shape[-1] != x.shape[0]:
            raise ValueError(f"curves[{label!r}] values must have shape (I,) or (S, I) with "
                             f"I = {x.shape[0]} like its x, got {values.shape}")
        checked[label] = (x, values)
    band_alpha = check_float("band_alpha", band_alpha, minimum=0, maximum=1)
    if legend_fontsize is not None and (isinstance(legend_fontsize, bool) or not isinstance(
            legend_fontsize, (str, int, float))):
        raise TypeError(f"legend_fontsize must be None, a size name or a number, got "
                        f"{legend_fontsize!r}")
    if ylim is not None and (not isinstance(ylim, (tuple, list)) or len(ylim) != 2):
        raise TypeError(f"ylim must be None or a pair (bottom, top), got {ylim!r:.40}")
    for name, value in (("xlabel", xlabel), ("ylabel", ylabel), ("title", title)):
        _text(name, value)
    ax = _axes(ax)
    for label, (x, values) in checked.items():
        _band(ax, x, values, label, band_alpha, **line_kwargs)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if legend_fontsize is not None:
        ax.legend(fontsize=legend_fontsize)
    return ax


def plot_trpo_diagnostics(
    returns: Mapping[str, Any],
    kl: Any,
    policy_std: Mapping[str, Any],
    axes: Any = None,
    *,
    seeds: Sequence[Any] | None = None,
    bound: float = 0.01,
    trpo_name: str = "MAML-TRPO",
) -> np.ndarray:
    """Three panels of meta-training runs over S seeds, against the meta-iteration.

    Left: the return of each method, mean and 95% CI band over seeds
    (``returns`` maps a label to (S, I)). Middle: the KL divergence of each
    accepted TRPO step, one line per seed (``kl`` (S, I)), and the trust region's
    ``bound``. Right: the policy's standard deviation, mean over seeds
    (``policy_std`` maps a label to (S, I)). ``seeds`` names the S seeds (default
    0, 1, ...). ``axes`` is None (a new 1 x 3 figure) or three Axes; returns them.
    """
    _labelled("returns", returns)
    _labelled("policy_std", policy_std)
    k = _array("kl", kl, "(S, I)", (2,))
    arrays = {f"returns[{label!r}]": v for label, v in returns.items()}
    arrays |= {f"policy_std[{label!r}]": v for label, v in policy_std.items()}
    checked = {name: _array(name, v, "(S, I)", (2,)) for name, v in arrays.items()}
    seeds = list(range(k.shape[0])) if seeds is None else seeds
    if isinstance(seeds, str) or not isinstance(seeds, Sequence) or len(seeds) != k.shape[0]:
        raise ValueError(f"seeds must be None or {k.shape[0]} seed names (one per row of kl), "
                         f"got {seeds!r:.60}")
    bound = check_float("bound", bound, minimum=0, strict=True)
    _text("trpo_name", trpo_name)
    grid, made = _grid(axes, (1, 3), (14, 3.9))
    ax, ax_kl, ax_std = grid[0]
    runs = next(iter(checked.values())).shape[0]

    def iterations(values: np.ndarray) -> np.ndarray:
        return np.arange(1, values.shape[-1] + 1)

    plot_training_curves({label: (iterations(v), checked[f"returns[{label!r}]"])
                          for label, v in returns.items()}, ax, lw=1,
                         xlabel="meta-iteration", ylabel="mean return of the sampled trajectories",
                         title=f"training curves, {runs} seeds (95% CI)", legend_fontsize="x-small")
    for seed, row in zip(seeds, k, strict=True):
        ax_kl.plot(iterations(k), row, lw=0.5, label=f"seed {seed}")
    ax_kl.axhline(bound, color="k", ls="--", lw=1, label=rf"bound $\delta$ = {bound:g}")
    ax_kl.set(xlabel="meta-iteration", ylabel="KL(old || new) of the accepted step",
              title=f"{trpo_name}: KL per iteration")
    ax_kl.legend(fontsize="x-small")
    plot_training_curves({label: (iterations(v), checked[f"policy_std[{label!r}]"].mean(axis=0))
                          for label, v in policy_std.items()}, ax_std, xlabel="meta-iteration",
                         ylabel=r"policy std $e^{\log\sigma}$ (mean of 2)",
                         title="exploration noise of the initialisation", legend_fontsize="x-small")
    if made:
        ax.figure.tight_layout()
    return grid[0]


def plot_bandit_trial(
    arms: Any,
    rewards: Any,
    states: Any,
    posterior: Any,
    p_true: Any,
    axes: Any = None,
    *,
    top: int = 8,
    probe_r2: float | None = None,
) -> np.ndarray:
    """One bandit trial of a recurrent policy, in three stacked panels against the pull t.

    Top: the arm pulled at each pull, green for reward 1, red for 0 (the title
    gives the true success probabilities ``p_true`` (A,)). Middle: the ``top``
    state entries that vary most over the trial (``states`` (T, D), the state
    after each pull, flattened). Bottom: each arm's posterior mean
    ``posterior`` (T, A), with the pooled R² of a linear probe in the title if
    ``probe_r2`` is given. ``arms`` (T,) ints in [0, A), ``rewards`` (T,).
    ``axes`` is None (a new 3 x 1 figure) or three Axes; returns them.
    """
    a = _array("arms", arms, "(T,)", (1,))
    r = _array("rewards", rewards, "(T,)", (1,))
    h = _array("states", states, "(T, D)", (2,))
    q = _array("posterior", posterior, "(T, A)", (2,))
    p = _array("p_true", p_true, "(A,)", (1,))
    length, k = a.shape[0], q.shape[1]
    for name, arr in (("rewards", r), ("states", h), ("posterior", q)):
        if arr.shape[0] != length:
            raise ValueError(f"{name} must have T = {length} rows like arms, got shape {arr.shape}")
    if p.shape != (k,):
        raise ValueError(f"p_true must have shape (A,) = ({k},), one per arm of posterior, got "
                         f"{p.shape}")
    if not np.all((a == np.round(a)) & (a >= 0) & (a < k)):
        raise ValueError(f"arms must hold arm indices (ints in [0, {k})), got "
                         f"{a[:6].tolist()}")
    top = check_int("top", top)
    if probe_r2 is not None:
        probe_r2 = check_float("probe_r2", probe_r2)
    grid, made = _grid(axes, (3, 1), (10, 7.5), sharex=True,
                       gridspec_kw={"height_ratios": [1, 1.3, 1.3]})
    axes_ = grid[:, 0]
    pulls = np.arange(1, length + 1)
    axes_[0].scatter(pulls, a, c=np.where(r > 0, "C2", "C3"), s=25)
    axes_[0].set(ylabel="arm pulled", yticks=range(k),
                 title=f"one trial: green = reward 1, red = 0; true p = {np.round(p, 2)}")
    active = np.argsort(h.var(0))[-top:]
    axes_[1].plot(pulls, h[:, active], lw=1)
    axes_[1].set(ylabel="state entries $h_t$",
                 title=f"the {len(active)} most active of the H x N state entries")
    for arm in range(k):
        axes_[2].plot(pulls, q[:, arm], color=f"C{arm}", label=f"arm {arm}: (S+1)/(n+2)")
    probe = "" if probe_r2 is None else \
        f"; a linear probe reads them from h_t with pooled R² = {probe_r2:.2f}"
    axes_[2].set(xlabel="pull t", ylabel="posterior mean", title="arm estimates" + probe)
    axes_[2].legend(fontsize="x-small", ncol=k)
    if made:
        axes_[0].figure.tight_layout()
    return axes_


def plot_memory_vs_gradient(
    memory_returns: Any,
    gradient_returns: Any,
    episodes_per_step: int,
    axes: Any = None,
    *,
    oracle: float | None = None,
    memory_label: str = "RL² SSM, episode e of a trial",
    gradient_label: str = "MAML-RL, after s gradient steps",
    title: str = "",
) -> np.ndarray:
    """Memory-based against gradient-based adaptation, by the episodes of a goal already played.

    Two panels sharing the return axis, each a mean curve with its 95% CI band
    over the S goals (:func:`plot_adaptation_curve`): left, the return of
    episode e of a trial with memory (``memory_returns`` (S, E), e = 0 .. E-1,
    colour C1); right, the return after s gradient steps, each on
    ``episodes_per_step`` new episodes (``gradient_returns`` (S, K), colour C0).
    ``oracle`` is a return level drawn on both. ``axes`` is None (a new 1 x 2
    figure, the right panel wider) or two Axes; returns them.
    """
    memory = _array("memory_returns", memory_returns, "(S, E)", (2,))
    gradient = _array("gradient_returns", gradient_returns, "(S, K)", (2,))
    episodes_per_step = check_int("episodes_per_step", episodes_per_step)
    if oracle is not None:
        oracle = check_float("oracle", oracle)
    for name, value in (("memory_label", memory_label), ("gradient_label", gradient_label),
                        ("title", title)):
        _text(name, value)
    grid, made = _grid(axes, (1, 2), (11, 4.2), sharey=True,
                       gridspec_kw={"width_ratios": [1, 1.6]})
    ax_m, ax_g = grid[0]
    episodes = np.arange(memory.shape[1])
    seen = episodes_per_step * np.arange(gradient.shape[1])  # step s has used s rounds
    plot_adaptation_curve(episodes, memory, memory_label, ax_m,
                          xlabel="episodes of the goal already played (same trial)",
                          ylabel="return of the next episode", color="C1")
    plot_adaptation_curve(seen, gradient, gradient_label, ax_g,
                          xlabel=f"episodes of the goal already played ({episodes_per_step} "
                          "per gradient step)", ylabel="", color="C0")
    ax_m.set_xticks(episodes)
    ax_g.set_xticks(seen)
    for ax in grid[0]:
        if oracle is not None:
            ax.axhline(oracle, color="k", lw=1, label="straight-line oracle")
        ax.legend(fontsize="small")
    if title:
        ax_m.figure.suptitle(title)
    if made:
        ax_m.figure.tight_layout()
    return grid[0]


def plot_jump_aligned(
    x: Any,
    curves: Mapping[str, Any],
    ax: plt.Axes | None = None,
    *,
    jump: float = 0.0,
    boundary: float | None = None,
    xlabel: str = "steps relative to the jump",
    ylabel: str = "return",
    title: str = "",
    band_alpha: float = 0.15,
    legend_ncol: int = 1,
    **line_kwargs: Any,
) -> plt.Axes:
    """Curves aligned at a change of the task (a goal that jumps), with 95% CI bands.

    ``x`` (X,) positions relative to the change; ``curves`` maps a label to
    values (S, X) over S tasks: the mean with its 95% CI band, drawn where the
    first row is not NaN (rows of a rollout that hold no step are NaN). A black
    line marks the ``jump``, a dotted grey one the optional ``boundary`` (e.g.
    where a new episode begins). ``line_kwargs`` go to every mean line.
    """
    xs = _array("x", x, "(X,)", (1,))
    _labelled("curves", curves)
    checked = {}
    for label, values in curves.items():
        v = _array(f"curves[{label!r}]", values, "(S, X)", (2,))
        if v.shape[1] != xs.shape[0] or v.shape[0] < 2:
            raise ValueError(f"curves[{label!r}] must have shape (S, X) with S >= 2 and X = "
                             f"{xs.shape[0]} like x, got {v.shape}")
        checked[label] = v
    jump = check_float("jump", jump)
    if boundary is not None:
        boundary = check_float("boundary", boundary)
    band_alpha = check_float("band_alpha", band_alpha, minimum=0, maximum=1)
    legend_ncol = check_int("legend_ncol", legend_ncol)
    for name, value in (("xlabel", xlabel), ("ylabel", ylabel), ("title", title)):
        _text(name, value)
    ax = _axes(ax)
    for label, values in checked.items():
        keep = ~np.isnan(values[0])
        mean, half = mean_ci(values[:, keep], axis=0)
        (line,) = ax.plot(xs[keep], mean, label=label, **line_kwargs)
        ax.fill_between(xs[keep], mean - half, mean + half, color=line.get_color(),
                        alpha=band_alpha, linewidth=0)
    ax.axvline(jump, color="black", lw=0.8)
    if boundary is not None:
        ax.axvline(boundary, color="0.5", ls=":", lw=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize="small", ncol=legend_ncol)
    return ax


def plot_adapted_fit(
    x: Any,
    truth: Any,
    predictions: Mapping[int, Any],
    ax: plt.Axes | None = None,
    *,
    support: tuple[Any, Any] | None = None,
    color: str = "C0",
    label_prefix: str = "",
    truth_label: str = "ground truth",
    linestyles: Sequence[str] = (":", "--", "-"),
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    legend_fontsize: str | float = "small",
) -> plt.Axes:
    """A model's prediction of one task before and after k adaptation steps, against the truth.

    ``x`` (T,) inputs or times and ``truth`` (T,), drawn in black (each may be (T, 1));
    ``predictions`` maps a number of steps k to the prediction (T,) (or (T, 1))
    after k steps, drawn in ``color`` with the i-th of ``linestyles`` and labelled
    "before adaptation" (k = 0) or "after k steps", after ``label_prefix``;
    ``support`` = (x (P,), y (P,)) the points adapted on, black triangles.
    """
    length = _array("x", x, "(T,) or (T, 1)", (1, 2)).shape[0]

    def curve(name: str, value: Any) -> np.ndarray:
        arr = _array(name, value, "(T,) or (T, 1)", (1, 2))
        if arr.shape[0] != length or (arr.ndim == 2 and arr.shape[1] != 1):
            raise ValueError(f"{name} must have shape (T,) or (T, 1) with T = {length} like x, "
                             f"got {arr.shape}")
        return arr.reshape(-1)

    xs, y = curve("x", x), curve("truth", truth)
    if not isinstance(predictions, Mapping) or not predictions:
        raise TypeError(f"predictions must be a non-empty dict steps -> prediction (T,), got "
                        f"{type(predictions).__name__}")
    fits = {check_int("predictions key (number of steps)", steps, minimum=0):
            curve(f"predictions[{steps!r}]", value) for steps, value in predictions.items()}
    if isinstance(linestyles, str) or not isinstance(linestyles, Sequence) \
            or len(linestyles) < len(fits):
        raise ValueError(f"linestyles must be a list of at least {len(fits)} line styles (one "
                         f"per prediction), got {linestyles!r:.60}")
    if support is not None:
        sx, sy = _pair("support", support, "(x (P,), y (P,))")
        sx = _array("support x", sx, "(P,)", (1, 2)).reshape(-1)
        sy = _array("support y", sy, "(P,)", (1, 2)).reshape(-1)
        if sx.shape != sy.shape:
            raise ValueError(f"support must be a pair (x (P,), y (P,)) of one length, got "
                             f"{sx.shape} and {sy.shape}")
    for name, value in (("color", color), ("label_prefix", label_prefix),
                        ("truth_label", truth_label), ("xlabel", xlabel), ("ylabel", ylabel),
                        ("title", title)):
        _text(name, value)
    ax = _axes(ax)
    ax.plot(xs, y, color="k", lw=2, label=truth_label)
    for (steps, fit), style in zip(fits.items(), linestyles, strict=False):
        what = f"after {steps} step{'s' * (steps > 1)}" if steps else "before adaptation"
        ax.plot(xs, fit, linestyle=style, color=color, label=label_prefix + what)
    if support is not None:
        ax.plot(sx, sy, "^", color="k", ms=8, label=f"{sx.shape[0]} support points")
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=legend_fontsize, loc="best")
    return ax


# ---------------------------------------------------------------------------------------------
# Figures of notebooks 01b and 04.


def plot_compute_sweep(
    knob: Any,
    mean: Any,
    half: Any,
    milliseconds: Any,
    baseline: float,
    ax: plt.Axes | None = None,
    *,
    xlabel: str,
    label: str,
    baseline_label: str = "frozen",
    ylabel: str = "error after the switch [position²]",
    color: str | None = None,
    time_digits: int = 1,
) -> plt.Axes:
    """Error against a test-time knob, each point labelled with its wall time.

    ``knob`` (X,) the knob's values (gradient steps, window, context length),
    ``mean`` and ``half`` (X,) the error and its 95% CI half-width at each,
    ``milliseconds`` (X,) the time each costs, written next to its point;
    ``baseline`` a horizontal reference (the frozen model). Log-log axes with
    the knob's values as the only tick labels (notebook 04, Section 3).
    """
    ax = _axes(ax)
    x = _array("knob", knob, "(X,)", (1,))
    sizes = {"mean": _np(mean, "mean"), "half": _np(half, "half"),
             "milliseconds": _np(milliseconds, "milliseconds")}
    for name, values in sizes.items():
        if values.shape != x.shape:
            raise ValueError(f"{name} must have the shape of knob {x.shape}, got {values.shape}")
    if (x <= 0).any() or (sizes["mean"] <= 0).any():
        raise ValueError("knob and mean must be positive: the axes are logarithmic")
    baseline = check_float("baseline", baseline, minimum=0.0, strict=True)
    time_digits = check_int("time_digits", time_digits, 0)
    for name, text in (("xlabel", xlabel), ("label", label), ("baseline_label", baseline_label),
                       ("ylabel", ylabel)):
        _text(name, text)
    ax.errorbar(x, sizes["mean"], yerr=sizes["half"], marker="o", capsize=3, color=color,
                label=label)
    for xi, yi, ms in zip(x, sizes["mean"], sizes["milliseconds"], strict=True):
        ax.annotate(f"{ms:.{time_digits}f} ms", (xi, yi), textcoords="offset points",
                    xytext=(4, 6), fontsize="x-small")
    ax.axhline(baseline, color="C3", ls="--", label=baseline_label)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
    ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.xaxis.set_minor_formatter(NullFormatter())  # only the knob's values as tick labels
    ax.legend(fontsize="small")
    return ax


def plot_mpc_episodes(
    t: Any,
    rewards: Mapping[str, Mapping[str, Any]],
    angles: Mapping[str, Mapping[str, Any]],
    target: Any,
    switch_time: float,
    axes: Any = None,
    *,
    colors: Mapping[str, str] | None = None,
    reward_label: str = "reward per step\n(mean of the episodes, 95% CI)",
    angle_label: str = "angle φ [rad], episode 0",
    title: str = "",
) -> np.ndarray:
    """Controllers of a pendulum over time: reward per step (top) and angle (bottom).

    One column per setting (``rewards`` and ``angles`` map a column title,
    e.g. a torque limit, to a dict controller -> data): ``rewards[c][name]``
    (E, T) per episode, drawn as the mean with its 95% CI band;
    ``angles[c][name]`` (T,) one episode's angle; ``target`` (T,) the target
    angle (dashed); ``t`` (T,) seconds; a dotted line at ``switch_time`` s
    (notebook 04, Section 5). Returns the (2, C) axes.
    """
    t = _array("t", t, "(T,)", (1,))
    rewards, angles = _labelled("rewards", rewards), _labelled("angles", angles)
    if list(rewards) != list(angles):
        raise ValueError(f"rewards and angles must have the same columns, got {list(rewards)} "
                         f"and {list(angles)}")
    target = _array("target", target, "(T,)", (1,))
    if target.shape != t.shape:
        raise ValueError(f"target must have the shape of t {t.shape}, got {target.shape}")
    switch_time = check_float("switch_time", switch_time)
    colors = {} if colors is None else _labelled("colors", colors)
    grid, new = _grid(axes, (2, len(rewards)), (6.5 * len(rewards), 6.5), sharex=True,
                      sharey="row")
    for column, (setting, by_name) in enumerate(rewards.items()):
        for name, values in _labelled(f"rewards[{setting!r}]", by_name).items():
            values = _array(f"rewards[{setting!r}][{name!r}]", values, "(E, T)", (2,))
            angle = _array(f"angles[{setting!r}][{name!r}]",
                           _labelled(f"angles[{setting!r}]", angles[setting]).get(name),
                           "(T,)", (1,)) if name in angles[setting] else None
            if values.shape[1] != t.size or (angle is not None and angle.shape != t.shape):
                raise ValueError(f"rewards[{setting!r}][{name!r}] must be (E, {t.size}) and its "
                                 f"angle ({t.size},), got {values.shape} and "
                                 f"{None if angle is None else angle.shape}")
            _band(grid[0, column], t, values, name, 0.2, color=colors.get(name))
            if angle is not None:
                grid[1, column].plot(t, angle, color=colors.get(name), label=name)
        grid[1, column].plot(t, target, "k--", lw=1, label="target angle")
        grid[0, column].set_title(setting)
        grid[1, column].set(xlabel="time [s]")
        for ax in grid[:, column]:
            ax.axvline(switch_time, color="0.5", ls=":")
    grid[0, 0].set(ylabel=reward_label)
    grid[1, 0].set(ylabel=angle_label)
    handles, labels = grid[1, 0].get_legend_handles_labels()
    figure = grid[0, 0].figure
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize="small")
    if title:
        figure.suptitle(_text("title", title))
    if new:
        figure.tight_layout(rect=(0, 0.05, 1, 1))
    return grid


def plot_selective_trace(
    tokens: Any,
    data_mask: Any,
    log_dt: Any,
    state_norms: Any,
    query_start: int,
    axes: Any = None,
    *,
    title: str = "",
    dt_title: str = "step size $\\Delta_t$: large = write, small = keep",
) -> np.ndarray:
    """What a selective SSM does along one sequence (notebook 01b, Section 6).

    ``tokens`` (L,) the token ids, ``data_mask`` (L,) bool where a data token
    sits, ``log_dt`` (L, D) the log10 step size of D channels (an image, one
    row per channel), ``state_norms`` (L, D') the norm of D' channels'
    states; queries start at ``query_start``. Three panels: the input, the
    step sizes, the state norms, with the data positions marked.
    """
    tokens = _array("tokens", tokens, "(L,)", (1,))
    data_mask = np.asarray(data_mask.cpu() if isinstance(data_mask, torch.Tensor) else data_mask)
    if data_mask.dtype != bool or data_mask.shape != tokens.shape:
        raise ValueError(f"data_mask must be a bool array of the shape of tokens {tokens.shape}, "
                         f"got {data_mask.dtype} {data_mask.shape}")
    log_dt = _array("log_dt", log_dt, "(L, D)", (2,))
    state_norms = _array("state_norms", state_norms, "(L, D')", (2,))
    for name, values in (("log_dt", log_dt), ("state_norms", state_norms)):
        if values.shape[0] != tokens.size:
            raise ValueError(f"{name} must have {tokens.size} rows (one per token), got "
                             f"{values.shape}")
    query_start = check_int("query_start", query_start, 0)
    if query_start > tokens.size:
        raise ValueError(f"query_start must be at most L = {tokens.size}, got {query_start}")
    grid, new = _grid(axes, (3, 1), (12, 8), sharex=True,
                      gridspec_kw={"height_ratios": [0.7, 1.1, 1.3]})
    top, middle, bottom = grid[:, 0]
    steps = np.arange(tokens.size)
    top.stem(steps[data_mask], tokens[data_mask], basefmt=" ", label="data token")
    top.plot(steps[query_start:], np.zeros(tokens.size - query_start), "rv", ms=8, label="query")
    top.set(ylabel="token id", title=_text("title", title))
    top.legend(fontsize="small", loc="upper left")
    channels = log_dt.shape[1]
    image = middle.imshow(log_dt.T, aspect="auto", cmap="viridis", interpolation="nearest",
                          extent=(-0.5, steps[-1] + 0.5, channels - 0.5, -0.5))
    middle.figure.colorbar(image, cax=middle.inset_axes([1.01, 0.0, 0.015, 1.0]),
                           label="$\\log_{10} \\Delta_t$")
    middle.set_yticks(range(0, channels, 5))
    middle.set(ylabel=f"channel ({channels} most selective)", title=_text("dt_title", dt_title))
    for column in state_norms.T:
        bottom.plot(steps, column, lw=1.3)
    bottom.set(ylabel=f"$\\|h_t\\|$ ({state_norms.shape[1]} most selective channels)",
               xlabel="time step t",
               title="hidden-state trajectories: jumps at data tokens, flat over blanks")
    for ax in (top, bottom):
        for position in steps[data_mask]:
            ax.axvline(position, color="tab:blue", alpha=0.25)
    if new:
        top.figure.tight_layout()
    return grid[:, 0]
