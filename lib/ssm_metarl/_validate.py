"""Argument checks and training stops shared by every module (design section 8).

One place for the small rules that every public entry point applies, so that
the same mistake gets the same message everywhere: the argument's name, what
was expected and what was given. Modules call these once at their public
boundary; the mathematics below stays free of checks.

Nothing here imports another module of the package, so every module may import it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "Params",
    "check_float",
    "check_int",
    "check_reset",
    "check_tensor",
    "raise_if_diverged",
    "training_step",
]

Params = dict[str, torch.Tensor]
"""Parameters as a dict ``name -> tensor`` (``dict(model.named_parameters())``)."""


def check_int(name: str, value: Any, minimum: int = 1, *, hint: str | None = None) -> int:
    """``value`` as an ``int`` (NumPy integers too) that is at least ``minimum``.

    Raises ``ValueError`` naming ``name``: "must be a positive int" for
    ``minimum = 1``, "must be an int >= m" otherwise; ``hint`` says what the
    number counts, in brackets.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        extra = f" ({hint})" if hint else ""
        raise ValueError(f"{name} must be {kind}{extra}, got {value!r}")
    return int(value)


def check_float(
    name: str, value: Any, *, minimum: float | None = None, strict: bool = False,
    maximum: float | None = None,
) -> float:
    """``value`` as a finite ``float`` in ``[minimum, maximum]`` (``(minimum, ...`` if ``strict``).

    Ints and NumPy scalars are accepted; bools, strings, NaN and inf are not.
    Raises ``ValueError`` naming ``name`` and the range ("must be a positive
    finite number" for ``minimum=0, strict=True``).
    """
    low = "" if minimum is None else (f" > {minimum:g}" if strict else f" >= {minimum:g}")
    high = "" if maximum is None else f" <= {maximum:g}"
    kind = "a finite number" + low + ("" if not (low and high) else " and") + high
    if minimum == 0 and strict and maximum is None:
        kind = "a positive finite number"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if (minimum is not None and (value < minimum or (strict and value == minimum))) or (
        maximum is not None and value > maximum
    ):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return float(value)


def check_tensor(
    name: str, value: Any, ndim: int | None = None, shape_text: str = ""
) -> torch.Tensor:
    """``value`` must be a ``torch.Tensor`` (of ``ndim`` dims, described by ``shape_text``)."""
    shape = f" of shape {shape_text}" if shape_text else ""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor{shape}, got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_text}, got {tuple(value.shape)}")
    return value


def check_reset(reset: Any, shape: tuple[int, ...]) -> torch.Tensor | None:
    """``reset`` must be ``None`` or a bool tensor of ``shape`` (steps that start a new trial)."""
    if reset is None:
        return None
    if not isinstance(reset, torch.Tensor) or reset.dtype != torch.bool:
        raise TypeError(f"reset must be a bool tensor of shape {shape}, got {reset!r:.80}")
    if tuple(reset.shape) != shape:
        raise ValueError(f"reset must have shape {shape}, got {tuple(reset.shape)}")
    return reset


def raise_if_diverged(
    value: Any, what: str, iteration: int, cause: str, *, quantity: str = "loss",
    step_word: str = "iteration",
) -> None:
    """Stop ``what`` with ``FloatingPointError`` if ``value`` (a number or tensor) is NaN/inf.

    The message names the iteration, the value and ``cause``, the likely cause
    in the caller's own terms (e.g. ``"lr=0.1 too large"``).
    """
    number = value.item() if isinstance(value, torch.Tensor) else float(value)
    if not math.isfinite(number):
        raise FloatingPointError(
            f"{what} stopped at {step_word} {iteration}: {quantity} is {number}. "
            f"Likely cause: {cause}"
        )


def training_step(
    optimizer: torch.optim.Optimizer, loss: torch.Tensor, what: str, iteration: int, cause: str
) -> float:
    """One optimiser step on ``loss`` (zero_grad, backward, step); returns ``loss.item()``.

    A NaN/inf loss stops ``what`` before the parameters are touched
    (:func:`raise_if_diverged`).
    """
    value = loss.item()
    raise_if_diverged(value, what, iteration, cause)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return value
