"""The machinery every ``check_*`` function shares.

A checker calls the student's function on seeded inputs, compares with the
library's tested implementation and either prints one line that starts with
a tick, or raises :class:`ExerciseCheckFailed` whose message says exactly
what differs (which argument, shape, value, tolerance). A checker that
cannot fail is a defect: ``tests/test_exercises.py`` runs the student
version of every notebook and asserts that every check cell fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch


class ExerciseCheckFailed(AssertionError):
    """Raised by a ``check_*`` function; the message is meant for a student."""


def call_student(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's ``fn``; turn any exception into a readable failure."""
    if not callable(fn):
        raise ExerciseCheckFailed(f"{name}: expected a function, got {type(fn).__name__}.")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseCheckFailed(
            f"{name}: not implemented yet. Replace `raise NotImplementedError` in the "
            "exercise cell with your solution, run that cell, then run this check again."
        ) from None
    except Exception as exc:  # noqa: BLE001 - the student needs to see any error
        raise ExerciseCheckFailed(
            f"{name}: your function raised {type(exc).__name__}: {exc}"
        ) from exc


def as_tensor(name: str, value: Any) -> torch.Tensor:
    """Accept a tensor, NumPy array or number from the student; refuse anything else."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (np.ndarray, float, int, np.floating, list, tuple)):
        return torch.as_tensor(np.asarray(value))
    raise ExerciseCheckFailed(
        f"{name}: expected a tensor (or array/number), got {type(value).__name__}."
    )


def assert_close(
    name: str,
    got: Any,
    expected: torch.Tensor,
    *,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    hint: str = "",
) -> None:
    """Compare shape, dtype family and values; raise with a precise message."""
    got_t = as_tensor(name, got)
    expected = expected.detach()
    if tuple(got_t.shape) != tuple(expected.shape):
        raise ExerciseCheckFailed(
            f"{name}: wrong shape, expected {tuple(expected.shape)}, got {tuple(got_t.shape)}."
            + (f" Hint: {hint}" if hint else "")
        )
    if got_t.is_complex() != expected.is_complex():
        kind = "complex" if expected.is_complex() else "real"
        raise ExerciseCheckFailed(f"{name}: expected a {kind} tensor, got dtype {got_t.dtype}.")
    got_c = got_t.to(expected.dtype)
    if not torch.isfinite(torch.view_as_real(got_c) if got_c.is_complex() else got_c).all():
        raise ExerciseCheckFailed(f"{name}: your result contains NaN or inf.")
    if not torch.allclose(got_c, expected, atol=atol, rtol=rtol):
        diff = (got_c - expected).abs()
        idx = np.unravel_index(int(diff.argmax()), tuple(diff.shape)) if diff.ndim else ()
        idx_txt = f" at index {tuple(int(i) for i in idx)}" if diff.ndim else ""
        raise ExerciseCheckFailed(
            f"{name}: values differ, max |got - expected| = {float(diff.max()):.3e}{idx_txt} "
            f"(got {_fmt(got_c[idx] if diff.ndim else got_c)}, expected "
            f"{_fmt(expected[idx] if diff.ndim else expected)}); tolerance atol={atol:g}, "
            f"rtol={rtol:g}." + (f" Hint: {hint}" if hint else "")
        )


def _fmt(x: torch.Tensor) -> str:
    value = x.item()
    return f"{value:.6g}" if not isinstance(value, complex) else f"{value:.6g}"


def passed(name: str, detail: str) -> None:
    """Print the success line a student sees under a check cell."""
    print(f"\u2713 {name}: passed ({detail})")
