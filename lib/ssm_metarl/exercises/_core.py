"""The machinery every ``check_*`` function shares.

A checker calls the student's function on seeded inputs, compares with the
library's tested implementation and either prints one line that starts with
a tick, or raises :class:`ExerciseCheckFailed` whose message says exactly
what differs (which argument, shape, value, tolerance). A checker that
cannot fail is a defect: ``tests/test_exercises.py`` runs the student
version of every notebook and asserts that no check cell passes.

An exercise not attempted yet (the student's function still raises
``NotImplementedError``) is not an error in class: the checker prints one
line, ``… <exercise>: not implemented yet …``, and returns ``False``, so
"Run All" of a student notebook goes on to the end (:func:`exercise_check`).
For grading (nbgrader's autograde, where a cell earns its points when it
raises nothing) set ``SSM_METARL_GRADING=1``: then it raises
:class:`NotImplementedYet` like any other failure.

A *find-the-bug* exercise (``@exercise_check(bug_hunt=True)``) hands the
student a function with one planted bug. Its unsolved state is the buggy
code, not ``NotImplementedError``: in class the failure prints as one line
(``✗ <what differs> ...``) and the notebook goes on; under grading it raises.

A checker names the library code its exercise asks the student to write
(``@exercise_check(forbid=(rl.gae,))``, functions or whole modules); a
solution that calls it, however it was imported, is refused
(:func:`calls_into`).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


class ExerciseCheckFailed(AssertionError):
    """Raised by a ``check_*`` function; the message is meant for a student."""


class NotImplementedYet(ExerciseCheckFailed):
    """The student's function still raises ``NotImplementedError`` (exercise not attempted)."""


def grading() -> bool:
    """Whether checkers run under a grader (``SSM_METARL_GRADING=1``): unsolved ones then raise."""
    return os.environ.get("SSM_METARL_GRADING", "0") not in ("", "0")


_FORBIDDEN: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar(
    "exercise_forbidden", default=())


def exercise_check(check: Callable[..., Any] | None = None, *,
                   forbid: tuple[Any, ...] = (), bug_hunt: bool = False) -> Any:
    """Decorate a ``check_*`` function (``@exercise_check`` or ``@exercise_check(forbid=...)``).

    Outside grading (:func:`grading`) :class:`NotImplementedYet` becomes the
    line ``✗ <exercise>: not implemented yet (...)``, the checker returns
    False and the notebook goes on; every other failure still raises
    :class:`ExerciseCheckFailed`. ``forbid``: library functions or modules the
    student's function must not call (:func:`call_student` refuses it).
    ``bug_hunt``: a find-the-bug exercise; outside grading any failure prints
    one line (the bug is still there) instead of raising.
    """
    if check is None:
        return functools.partial(exercise_check, forbid=tuple(forbid), bug_hunt=bug_hunt)

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _FORBIDDEN.set(tuple(forbid))
        try:
            return check(*args, **kwargs)
        except NotImplementedYet as unsolved:
            if grading():
                raise
            print(f"\u2717 {unsolved}")
            return False
        except ExerciseCheckFailed as failure:
            if grading() or not bug_hunt:
                raise
            print(f"\u2717 the bug is still there: {' '.join(str(failure).split())}")
            return False
        finally:
            _FORBIDDEN.reset(token)

    wrapper.forbidden = tuple(forbid)
    wrapper.bug_hunt = bug_hunt
    return wrapper


def _code_objects(targets: tuple[Any, ...]) -> dict[types.CodeType, str]:
    """Code object -> qualified name of every function in ``targets`` (nested ones included).

    A module stands for every function defined in it.
    """
    functions = []
    for target in targets:
        if inspect.ismodule(target):
            functions += [obj for obj in vars(target).values()
                          if inspect.isfunction(obj) and obj.__module__ == target.__name__]
        elif inspect.isclass(target):  # a class stands for its methods
            functions += [inspect.unwrap(obj) for obj in vars(target).values()
                          if inspect.isfunction(inspect.unwrap(obj))]
        else:
            functions.append(inspect.unwrap(target))
    codes: dict[types.CodeType, str] = {}
    for function in functions:
        name = f"{function.__module__}.{function.__qualname__}"
        pending = [function.__code__]
        while pending:
            code = pending.pop()
            codes[code] = name
            pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return codes


@contextmanager
def calls_into(*targets: Any) -> Iterator[list[str]]:
    """Record which of the ``targets`` (functions or modules) run inside the ``with`` block.

    A profile hook sees every Python call, however the function was reached
    (``module.f``, ``from module import f``, an alias, a default argument),
    so a solution that hands the work to the library cannot hide it. Yields
    the list of qualified names called (first call only); the previous hook
    is restored on exit.
    """
    codes = _code_objects(targets)
    called: list[str] = []
    previous = sys.getprofile()

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and not called and frame.f_code in codes:
            called.append(codes[frame.f_code])

    sys.setprofile(hook)
    try:
        yield called
    finally:
        sys.setprofile(previous)


def call_student(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's ``fn``; turn any exception into a readable failure.

    Inside a checker declared with ``forbid=``, a call into the forbidden
    library code is refused (even when the student's function then fails).
    """
    if not callable(fn):
        raise ExerciseCheckFailed(f"{name}: expected a function, got {type(fn).__name__}.")
    forbidden = _FORBIDDEN.get()
    if not forbidden:
        return _call(name, fn, args, kwargs)
    with calls_into(*forbidden) as called:
        try:
            result = _call(name, fn, args, kwargs)
        except ExerciseCheckFailed:
            if not called:
                raise
    if called:
        raise ExerciseCheckFailed(
            f"{name}: your function calls {called[0]}, the library code this exercise asks "
            "you to write. Write it with torch / NumPy operations instead.")
    return result


def _call(name: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotImplementedYet(
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
