"""Argument checks and training stops shared by every module (design section 8).

One place for the small rules that every public entry point applies, so that
the same mistake gets the same message everywhere: the argument's name, what
was expected and what was given. Modules call these once at their public
boundary; the mathematics below stays free of checks.

Nothing here imports another module of the package, so every module may import it.

The one rule for tensors at a module's boundary (:func:`check_like`): no
silent conversion. An input that enters a model's parameters must already be
a ``torch.Tensor`` of the model's floating dtype on the model's device; a
NumPy array, a Python list or number, an integer tensor or a tensor of another
floating dtype is refused with a ``TypeError`` that names the argument, the
model's dtype and what was given (convert with ``torch.as_tensor(x,
dtype=..., device=...)``, which is one explicit line at the call site). Data
that only feeds arithmetic of the caller's own dtype (``dones`` flags, a
``last_value`` bootstrap) keeps its documented conversion to that dtype.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "Params",
    "check_binary",
    "check_device",
    "check_dtype",
    "check_finite",
    "check_float",
    "check_int",
    "check_like",
    "check_instance",
    "check_reset",
    "check_rng",
    "check_tensor",
    "raise_if_diverged",
    "training_step",
]

HUGE_LOSS = 1e10
"""A training loss larger than this in size stops the run like NaN/inf does (every loss of
the course is many orders of magnitude smaller when training works)."""

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


def check_instance(name: str, value: Any, kind: type | tuple[type, ...], default: Any = None
                   ) -> Any:
    """``value`` if it is a ``kind`` (``default`` if it is None and one is given).

    Raises ``TypeError`` naming ``name``, the expected type and what was given,
    instead of an ``AttributeError`` from deep inside a trainer.
    """
    if value is None and default is not None:
        return default
    if not isinstance(value, kind):
        kinds = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        none = " or None" if default is not None else ""
        raise TypeError(f"{name} must be a {kinds}{none}, got {type(value).__name__}")
    return value


def check_rng(name: str, rng: Any) -> np.random.Generator:
    """``rng`` as a NumPy ``Generator``: a Generator, a seed (int >= 0) or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is not None and (isinstance(rng, bool) or not isinstance(rng, (int, np.integer))
                            or rng < 0):
        raise ValueError(f"{name} must be a np.random.Generator, a seed (int >= 0) or None, "
                         f"got {rng!r}")
    return np.random.default_rng(rng)


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


def check_device(name: str, device: Any) -> Any:
    """``device`` (None, a string or a ``torch.device``) that this torch can use; returned as given.

    Raises ``ValueError`` naming ``name`` for a string torch cannot parse and
    for ``"cuda"``/``"mps"`` when that backend is not available.
    """
    if device is None:
        return None
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{name} must be None, 'cpu', 'cuda' or a torch.device, "
                         f"got {device!r}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={device!r} but CUDA is not available in this torch "
                         f"({torch.__version__}); use {name}='cpu'")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name}={device!r} but MPS is not available; use {name}='cpu'")
    return device


def check_dtype(name: str, dtype: Any, *, complex_ok: bool = False) -> torch.dtype:
    """``dtype`` must be a real floating ``torch.dtype`` (or complex when ``complex_ok``)."""
    kind = "a floating or complex torch.dtype" if complex_ok else "a real floating torch.dtype"
    if not isinstance(dtype, torch.dtype) or not (
        dtype.is_floating_point or (complex_ok and dtype.is_complex)
    ):
        raise ValueError(f"{name} must be {kind} (e.g. torch.float32), got {dtype!r}")
    return dtype


def check_like(name: str, value: Any, like: torch.Tensor) -> torch.Tensor:
    """``value`` must be a tensor of ``like``'s dtype on ``like``'s device (module rule above).

    ``TypeError`` naming ``name``, the expected and the given dtype (or type);
    ``ValueError`` for another device.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of dtype {like.dtype} (the model's "
                        f"dtype), got {type(value).__name__}; convert with "
                        f"torch.as_tensor({name}, dtype={like.dtype})")
    if value.dtype != like.dtype:
        raise TypeError(f"{name} must have the model's dtype {like.dtype}, got {value.dtype}; "
                        f"convert with {name}.to({like.dtype})")
    if value.device != like.device:
        raise ValueError(f"{name} must be on the model's device {like.device}, "
                         f"got {value.device}")
    return value


def _values_readable(value: torch.Tensor) -> bool:
    """False under torch.func transforms (vmap/grad), where values cannot be read."""
    try:
        bool(value.reshape(-1)[:1].sum() == 0)
    except RuntimeError:
        return False
    return True


def check_finite(name: str, value: torch.Tensor) -> torch.Tensor:
    """``value`` (a tensor) must hold no NaN/inf; ``ValueError`` naming ``name``."""
    if (value.is_floating_point() or value.is_complex()) and _values_readable(value) \
            and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN/inf entries of "
                         f"{value.numel()}")
    return value


def check_binary(name: str, value: torch.Tensor) -> torch.Tensor:
    """``value`` (a tensor) must be bool or hold only 0 and 1; ``ValueError`` naming ``name``."""
    if value.dtype != torch.bool and _values_readable(value) \
            and not bool(((value == 0) | (value == 1)).all()):
        shown = value[(value != 0) & (value != 1)].flatten()[:4].tolist()
        raise ValueError(f"{name} must be bool or hold only 0 and 1, got values {shown}")
    return value


def raise_if_diverged(
    value: Any, what: str, iteration: int, cause: str, *, quantity: str = "loss",
    step_word: str = "iteration",
) -> None:
    """Stop ``what`` with ``FloatingPointError`` if ``value`` (a number or tensor) is NaN/inf
    or larger in size than :data:`HUGE_LOSS` (a run that is diverging but not yet overflowed).

    The message names the iteration, the value and ``cause``, the likely cause
    in the caller's own terms (e.g. ``"lr=0.1 too large"``).
    """
    number = value.item() if isinstance(value, torch.Tensor) else float(value)
    if not math.isfinite(number) or abs(number) > HUGE_LOSS:
        size = "" if not math.isfinite(number) else f" (above {HUGE_LOSS:.0e} in size: diverging)"
        raise FloatingPointError(
            f"{what} stopped at {step_word} {iteration}: {quantity} is {number}{size}. "
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


def check_sized(
    name: str, value: Any, letters: tuple[str, ...], sizes: dict[str, tuple[int, str]],
    like: torch.Tensor | None = None, like_name: str = "",
) -> torch.Tensor:
    """``value`` as a tensor of shape ``letters`` (e.g. ``("T", "S", "S")``) that agrees
    with the sizes seen so far.

    ``sizes`` maps a letter to (its size, the argument it was read from); a new
    letter is added, a clash raises ``ValueError`` naming ``name`` and where the
    size came from. With ``like``: ``TypeError`` unless ``value`` has its dtype
    and device (``like_name`` names it).
    """
    text = "(" + ", ".join(letters) + ")"
    value = check_tensor(name, value, len(letters), text)
    clashes = [f"{letter} = {sizes[letter][0]} from {sizes[letter][1]}"
               for letter, size in zip(letters, value.shape, strict=True)
               if sizes.setdefault(letter, (size, name))[0] != size]
    if clashes:
        raise ValueError(f"{name} must have shape {text} with {', '.join(clashes)}, "
                         f"got {tuple(value.shape)}")
    if like is not None and (value.dtype != like.dtype or value.device != like.device):
        raise TypeError(f"{name} must have the dtype and device of {like_name} ({like.dtype} on "
                        f"{like.device}), got {value.dtype} on {value.device}")
    return value


def check_positive(name: str, value: torch.Tensor) -> torch.Tensor:
    """``value`` (a real tensor) must be finite and > 0 everywhere; ``ValueError`` naming ``name``.

    Skipped under torch.func transforms, where values cannot be read.
    """
    if _values_readable(value) and not bool((torch.isfinite(value) & (value > 0)).all()):
        shown = value[~(torch.isfinite(value) & (value > 0))].flatten()[:4].tolist()
        raise ValueError(f"{name} must be finite and > 0 everywhere, got values {shown}")
    return value


def check_callable(name: str, value: Any, *, optional: bool = False, what: str = "") -> Any:
    """``value`` if it is callable (or None when ``optional``); ``TypeError`` naming ``name``.

    ``what`` describes the expected signature, e.g. ``"loss_fn(prediction, target)"``.
    """
    if (value is None and optional) or callable(value):
        return value
    kind = f"a function {what}" if what else "a function"
    none = " or None" if optional else ""
    raise TypeError(f"{name} must be {kind}{none}, got {type(value).__name__}")


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a ``bool`` (NumPy bools too); ``TypeError`` naming ``name`` otherwise
    (a string such as ``"no"`` or a number would silently count as a flag)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_params_fit(name: str, params: Mapping[str, torch.Tensor], module: torch.nn.Module, *,
                     dtype_device: bool = True) -> Mapping[str, torch.Tensor]:
    """Every tensor of ``params`` must name a parameter or buffer of ``module`` and have its
    shape (and, with ``dtype_device``, its dtype and device).

    The one check behind every "weights for this model" argument (MAML's
    ``params``, the adapter's ``params``, an adapted policy's ``fast_params``);
    ``ValueError`` for an unknown name or a shape, ``TypeError`` for a dtype or device,
    each naming ``name[key]``.
    """
    own = {**dict(module.named_buffers()), **dict(module.named_parameters())}
    unknown = [key for key in params if key not in own]
    if unknown:
        names = list(dict(module.named_parameters()))[:8]
        raise ValueError(f"{name} holds names that {type(module).__name__} does not have: "
                         f"{unknown[:4]}; its parameters: {names}; pass "
                         "dict(model.named_parameters()) of this model")
    for key, value in params.items():
        mine = own[key]
        if value.shape != mine.shape:
            raise ValueError(f"{name}[{key!r}] must have the model's shape {tuple(mine.shape)}, "
                             f"got {tuple(value.shape)}")
        if dtype_device and (value.dtype != mine.dtype or value.device != mine.device):
            raise TypeError(f"{name}[{key!r}] must have the model's dtype and device "
                            f"({mine.dtype} on {mine.device}), got {value.dtype} on "
                            f"{value.device}")
    return params


def check_int_list(name: str, values: Any, minimum: int = 0) -> list[int]:
    """``values`` (a sequence or 1-D array) as a non-empty list of ints >= ``minimum``.

    A non-sequence or an empty one is a ``TypeError`` naming ``name``; a bad
    entry a ``ValueError`` naming ``name[i]`` (e.g. the training seeds of
    the stored-run modules).
    """
    values = values.tolist() if isinstance(values, np.ndarray) and values.ndim == 1 else values
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"{name} must be a non-empty sequence of ints >= {minimum}, "
                        f"got {values!r}")
    return [check_int(f"{name}[{i}]", v, minimum) for i, v in enumerate(values)]
