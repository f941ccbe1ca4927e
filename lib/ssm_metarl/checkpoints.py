"""Checkpoints: ``torch.save`` of a config + state dict, loaded safely (design section 8).

A checkpoint file is a dict ``{"format": "<kind>/<version>", "config": {...},
"state_dict": {...}}``. :func:`load_checkpoint` reads it with
``torch.load(..., weights_only=True)`` (no pickled code runs) and rejects a
missing, corrupt or foreign file with an error that names the path;
:func:`check_config` and :func:`check_state_dict` reject a checkpoint whose
config or tensor shapes differ from what the caller expects. The one
checkpoint format of the package: used by :class:`ssm_metarl.ssm.LinearSSM`,
:class:`ssm_metarl.maml.MetaMAMLTrainer` and the MAML-RL policy of
:mod:`ssm_metarl.meta_rl`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from ._validate import check_device, check_instance

__all__ = ["check_config", "check_state_dict", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(
    path: str | os.PathLike, fmt: str, config: Mapping[str, Any], module: torch.nn.Module,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``{"format": fmt, "config": config, "state_dict": module.state_dict(), **extra}``.

    ``extra`` holds further entries that ``weights_only`` loading accepts
    (tensors, numbers, strings, lists and dicts of them), e.g. an optimizer's
    state dict; its keys must not clash with the three above.
    """
    path = _check_path(path)
    fmt = _check_format(fmt)
    check_instance("config", config, Mapping)
    check_instance("module", module, torch.nn.Module)
    if extra is not None:
        check_instance("extra", extra, Mapping)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"path {path}: the folder {folder} does not exist")
    extra = dict(extra or {})
    clash = sorted(set(extra) & {"format", "config", "state_dict"})
    if clash:
        raise ValueError(f"extra must not use the reserved keys {clash}")
    torch.save({"format": fmt, "config": dict(config), "state_dict": module.state_dict(),
                **extra}, path)


def load_checkpoint(path: str | os.PathLike, fmt: str, map_location: Any = None) -> dict[str, Any]:
    """The payload of a checkpoint of format ``fmt``; FileNotFoundError / ValueError otherwise.

    ``map_location`` is None, a device (string or ``torch.device``, checked
    before the file is read) or anything else ``torch.load`` takes (a dict or
    a function).
    """
    path = _check_path(path)
    fmt = _check_format(fmt)
    if isinstance(map_location, (str, torch.device)):
        check_device("map_location", map_location)
    elif not (map_location is None or isinstance(map_location, Mapping)
              or callable(map_location)):
        raise TypeError(f"map_location must be None, a device ('cpu', 'cuda', torch.device), "
                        f"a dict or a function, got {type(map_location).__name__}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad bytes
        raise ValueError(
            f"{path}: corrupt or unreadable checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    if (
        not isinstance(payload, dict)
        or payload.get("format") != fmt
        or not isinstance(payload.get("config"), dict)
        or not isinstance(payload.get("state_dict"), dict)
    ):
        raise ValueError(f"{path}: corrupt checkpoint: not a {fmt} file")
    return payload


def check_config(
    path: Any, config: Mapping[str, Any], expected_config: Mapping[str, Any] | None
) -> None:
    """Name the first key of ``expected_config`` whose stored value differs (or is missing)."""
    check_instance("config", config, Mapping)
    if expected_config is not None:
        check_instance("expected_config", expected_config, Mapping)
    for key, expected in (expected_config or {}).items():
        if key not in config or config[key] != expected:
            stored = repr(config[key]) if key in config else "no such key"
            raise ValueError(
                f"{path}: config mismatch for {key!r}: expected {expected!r}, "
                f"checkpoint has {stored}"
            )


def check_state_dict(
    path: Any, expected: Mapping[str, torch.Tensor], got: Mapping[str, Any]
) -> None:
    """Name the first key whose presence, type, shape or finiteness is not the config's model's.

    Every stored entry must be a tensor of the expected shape; floating ones
    must hold no NaN/inf (a diverged run's weights are refused, not loaded).
    """
    check_instance("expected", expected, Mapping)
    check_instance("got", got, Mapping)
    for key in sorted(set(expected) | set(got), key=str):
        if key not in got or key not in expected:
            where = "missing from" if key not in got else "unexpected in"
            raise ValueError(f"{path}: config mismatch: parameter {key!r} {where} the checkpoint")
        if not isinstance(got[key], torch.Tensor):
            raise ValueError(f"{path}: corrupt checkpoint: parameter {key!r} is a "
                             f"{type(got[key]).__name__}, not a tensor")
        if (got[key].is_floating_point() or got[key].is_complex()) and not bool(
            torch.isfinite(got[key]).all()
        ):
            raise ValueError(f"{path}: parameter {key!r} holds NaN/inf values (saved from a "
                             "diverged run?); refusing to load it")
        if tuple(got[key].shape) != tuple(expected[key].shape):
            raise ValueError(
                f"{path}: config mismatch for {key!r}: the config implies shape "
                f"{tuple(expected[key].shape)}, the checkpoint holds {tuple(got[key].shape)}"
            )


def _check_path(path: Any) -> str | os.PathLike:
    """``path`` must be a str or an ``os.PathLike`` (not a file descriptor or None)."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)) or path == "":
        raise TypeError(f"path must be a non-empty str or os.PathLike (a file name), "
                        f"got {path!r}")
    return path


def _check_format(fmt: Any) -> str:
    """``fmt`` must be a non-empty str such as ``"ssm_metarl.LinearSSM/1"``."""
    if not isinstance(fmt, str) or not fmt:
        raise TypeError(f"fmt must be a non-empty str (the checkpoint kind/version), got {fmt!r}")
    return fmt
