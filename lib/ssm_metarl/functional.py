"""Parameters as dicts: the functional building blocks shared by MAML, test-time
adaptation and MAML-RL.

Every learner of the course treats a model's weights as a plain dict
``name -> tensor`` and runs the model with ``torch.func.functional_call``, so
"the model with fast weights" is the same module called with another dict.
This module holds the pieces that several learners use: the forward pass and
task loss, the support-set gradient, the SGD step with one rule for
per-parameter rates (Meta-SGD), choosing parameters by name or prefix,
gradient clipping, and running a per-task function under ``torch.func.vmap``
with a loop as fallback.

Dimension letters used in shapes:

====  =====================================================================
T     tasks (or sequences) mapped over by :func:`vmap_or_loop`
K     examples in one task's support or query set
P     input features of one example
Q     output features of one example
====  =====================================================================

It imports only :mod:`ssm_metarl._validate`, so every learner can import it.
"""

from __future__ import annotations

import functools
import math
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ._validate import Params, check_float, check_instance, check_int, check_tensor

__all__ = [
    "ENGINES",
    "VMAP_FALLBACK_ERRORS",
    "ForwardFn",
    "InnerLR",
    "LossFn",
    "Params",
    "check_params",
    "check_rates",
    "clip_gradient_norm",
    "loss_gradient",
    "mse_loss",
    "predict",
    "rate_of",
    "regression_mlp",
    "select_params",
    "sgd_step",
    "stack_results",
    "support_gradient",
    "task_loss",
    "to_numpy",
    "vmap_or_loop",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ForwardFn = Callable[[nn.Module, Params, torch.Tensor], Any]
InnerLR = float | Mapping[str, torch.Tensor]

ENGINES: tuple[str, ...] = ("autograd", "func")
VMAP_FALLBACK_ERRORS = (RuntimeError, ValueError, NotImplementedError)

# Models whose forward failed under vmap once: later calls go straight to the loop.
_VMAP_UNSUPPORTED: weakref.WeakSet[nn.Module] = weakref.WeakSet()


# ----------------------------------------------------------------------------- models and losses


def mse_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every element: the loss of Finn et al. (2017), Section 5.1.

    ``prediction`` and ``target`` must have the same shape (no broadcasting,
    which would silently average over every pair of rows).
    """
    prediction = check_tensor("prediction", prediction)
    target = check_tensor("target", target)
    if target.shape != prediction.shape:
        raise ValueError(f"target must have the shape of prediction {tuple(prediction.shape)}, "
                         f"got {tuple(target.shape)}")
    return F.mse_loss(prediction, target)


def regression_mlp(
    input_dim: int = 1, hidden: Sequence[int] = (40, 40), output_dim: int = 1
) -> nn.Sequential:
    """The sinusoid regressor of Finn et al. (2017): input_dim-40-40-output_dim, ReLU.

    Maps (..., P) -> (..., Q). Layers are named ``0, 2, 4, ...`` so the head is the
    last ``Linear`` (``ANIL(head=str(2 * len(hidden)))``).
    """
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"hidden must be a sequence of positive ints (the hidden widths, "
                        f"e.g. (40, 40)), got {hidden!r}")
    widths = [check_int("input_dim", input_dim),
              *(check_int(f"hidden[{i}]", width) for i, width in enumerate(hidden)),
              check_int("output_dim", output_dim)]
    layers: list[nn.Module] = []
    for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def predict(
    model: nn.Module, params: Params, inputs: torch.Tensor, forward_fn: ForwardFn | None = None
) -> torch.Tensor:
    """``f_params(inputs)`` via ``functional_call``; (K, ...) -> (K, ...).

    If the model returns a tuple (e.g. ``(y, state)`` of a stateful sequence
    model), the first element is the prediction. ``forward_fn(model, params,
    inputs)`` replaces the call entirely when given. ``params`` may hold a
    subset of the model's parameters and buffers (the rest are the model's
    own) but no other name; without ``forward_fn``, ``inputs`` must be a
    tensor of the floating parameters' dtype and device.
    """
    _check_call(model, params, inputs, forward_fn)
    return _predict(model, params, inputs, forward_fn)


def _predict(model: nn.Module, params: Params, inputs: Any,
             forward_fn: ForwardFn | None) -> torch.Tensor:
    """:func:`predict` on checked arguments."""
    if forward_fn is not None:
        output = forward_fn(model, params, inputs)
    else:
        output = functional_call(model, params, (inputs,))
    return output[0] if isinstance(output, tuple) else output


def task_loss(
    model: nn.Module,
    params: Params,
    loss_fn: LossFn,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    forward_fn: ForwardFn | None = None,
) -> torch.Tensor:
    """``L_task(theta) = loss_fn(f_theta(inputs), targets)``: a scalar."""
    _check_call(model, params, inputs, forward_fn)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable (prediction, target) -> scalar tensor, "
                        f"e.g. mse_loss; got {type(loss_fn).__name__}")
    check_tensor("targets", targets)
    return _scalar("loss_fn", loss_fn(_predict(model, params, inputs, forward_fn), targets))


def _check_call(model: Any, params: Any, inputs: Any, forward_fn: Any) -> None:
    """The arguments of :func:`predict`: shapes and dtypes only (values are never read)."""
    check_instance("model", model, nn.Module)
    params = check_params(params)
    if forward_fn is not None:
        if not callable(forward_fn):
            raise TypeError(f"forward_fn must be None or a callable (model, params, inputs), "
                            f"got {type(forward_fn).__name__}")
        return
    known = {name for name, _ in model.named_parameters()}
    known |= {name for name, _ in model.named_buffers()}
    unknown = [name for name in params if name not in known]
    if unknown:
        raise ValueError(f"params holds names that {type(model).__name__} does not have: "
                         f"{unknown[:4]}; its names: {sorted(known)[:8]}")
    like = next((v for v in params.values() if v.is_floating_point()), None)
    if like is None:
        check_tensor("inputs", inputs)
    elif not isinstance(inputs, torch.Tensor) or inputs.dtype != like.dtype \
            or inputs.device != like.device:
        got = f"{inputs.dtype} on {inputs.device}" if isinstance(inputs, torch.Tensor) \
            else type(inputs).__name__
        raise TypeError(f"inputs must be a tensor of the params' dtype {like.dtype} on "
                        f"{like.device}, got {got}; convert with "
                        f"torch.as_tensor(inputs, dtype={like.dtype})")


def _scalar(name: str, loss: Any, zero_dim: bool = False) -> torch.Tensor:
    """``loss`` (what ``name`` returned) must be a one-element tensor (0-dim if ``zero_dim``)."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or (zero_dim and loss.ndim):
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) \
            else type(loss).__name__
        kind = "a 0-dim scalar tensor (engine='func')" if zero_dim else "a scalar tensor"
        raise ValueError(f"{name} must return {kind}, one loss; got {got}")
    return loss


# ----------------------------------------------------------------------------- parameter dicts


def check_params(params: Any, name: str = "params") -> Params:
    """``params`` as a dict: a non-empty mapping ``name -> tensor``."""
    if not isinstance(params, Mapping) or not params:
        raise TypeError(
            f"{name} must be a non-empty dict name -> tensor, e.g. "
            f"dict(model.named_parameters()); got {type(params).__name__}"
        )
    for key, value in params.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name}[{key!r}] must be a tensor, got {type(value).__name__}")
    return dict(params)


def select_params(
    params: Mapping[str, Any], selection: Any, name: str = "params_to_adapt"
) -> tuple[str, ...]:
    """Names in ``params`` picked by ``selection``, in ``params`` order.

    ``selection`` is ``None`` (all), a name, or a list of names or prefixes
    (``"net.4"`` picks ``net.4.weight`` and ``net.4.bias``). Raises
    ``ValueError`` naming ``name`` for an empty selection or an entry that
    matches no parameter.
    """
    if selection is None:
        return tuple(params)
    entries = [selection] if isinstance(selection, str) else list(selection)
    if not entries or not all(isinstance(e, str) and e for e in entries):
        raise ValueError(f"{name} must be a non-empty name or list of names/prefixes; "
                         f"got {selection!r}; valid names: {list(params)}")

    def picks(key: str, entry: str) -> bool:
        return key == entry or key.startswith(entry + ".")

    unknown = [e for e in entries if not any(picks(key, e) for key in params)]
    if unknown:
        raise ValueError(f"{name} {entries} matches no parameter: unknown names or prefixes "
                         f"{unknown}; valid names: {list(params)}")
    return tuple(key for key in params if any(picks(key, e) for e in entries))


def check_rates(
    rates: Any, params: Mapping[str, torch.Tensor], names: Sequence[str], name: str = "inner_lr"
) -> InnerLR:
    """One rule for SGD step sizes: a finite float >= 0, or one rate per adapted parameter.

    A dict (Meta-SGD, Li et al. 2017) must cover every name in ``names``; each
    rate is a finite tensor (or number) that is a scalar or has its
    parameter's shape. Tensors are returned as given (still differentiable,
    so Meta-SGD can learn them); numbers become tensors of the parameter's dtype.
    """
    if isinstance(rates, Mapping):
        missing = [n for n in names if n not in rates]
        if missing:
            raise ValueError(f"{name} as a dict of per-parameter rates must cover every "
                             f"adapted parameter; missing {missing}")
        checked = {}
        for key in names:
            rate, param = rates[key], params[key]
            if not isinstance(rate, torch.Tensor):
                try:
                    rate = torch.as_tensor(rate, dtype=param.dtype, device=param.device)
                except (TypeError, ValueError, RuntimeError):
                    rate = None
            if rate is None or (rate.ndim and rate.shape != param.shape) or not bool(
                torch.isfinite(rate.detach()).all()
            ):
                got = tuple(rate.shape) if isinstance(rate, torch.Tensor) else rates[key]
                raise ValueError(f"{name}[{key!r}] must be a finite tensor of shape "
                                 f"{tuple(param.shape)} (or a scalar), got {got!r}")
            checked[key] = rate
        return checked
    if isinstance(rates, bool) or not isinstance(rates, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a float or a dict of tensors, got {rates!r}")
    if not (math.isfinite(rates) and rates >= 0):
        raise ValueError(f"{name} must be a finite float >= 0, got {rates!r}")
    return float(rates)


def rate_of(rates: InnerLR, name: str) -> Any:
    """The step size of parameter ``name``: the float, or its entry of a rate dict."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a parameter name (str), got {name!r}")
    if isinstance(rates, Mapping):
        if name not in rates:
            raise ValueError(f"rates has no rate for parameter {name!r}; it has {list(rates)}")
        return rates[name]
    return rates if isinstance(rates, torch.Tensor) else check_float("rates", rates, minimum=0)


def sgd_step(fast: Params, grads: Params, inner_lr: InnerLR) -> Params:
    """``theta' = theta - alpha * g`` on the parameters in ``grads`` (Finn et al. 2017, Eq. 1).

    ``alpha`` is a float, or per parameter a tensor of its shape (Meta-SGD,
    Li et al. 2017, Eq. 3: ``theta' = theta - alpha o grad L``).
    """
    fast, grads = check_params(fast, "fast"), check_params(grads, "grads")
    for name, g in grads.items():
        if name not in fast:
            raise ValueError(f"grads[{name!r}] has no parameter in fast (names: {list(fast)})")
        if g.shape != fast[name].shape:
            raise ValueError(f"grads[{name!r}] must have the shape of fast[{name!r}] "
                             f"{tuple(fast[name].shape)}, got {tuple(g.shape)}")
    if isinstance(inner_lr, Mapping):
        missing = [name for name in grads if name not in inner_lr]
        if missing:
            raise ValueError(f"inner_lr as a dict must hold a rate for every parameter in "
                             f"grads; missing {missing}")
    elif not isinstance(inner_lr, torch.Tensor):
        inner_lr = check_float("inner_lr", inner_lr, minimum=0)
    rate = (lambda name: inner_lr[name]) if isinstance(inner_lr, Mapping) else \
        (lambda name: inner_lr)
    return {**fast, **{name: fast[name] - rate(name) * g for name, g in grads.items()}}


def clip_gradient_norm(grads: Params, max_norm: float | None) -> Params:
    """Scale ``grads`` so their joint L2 norm is at most ``max_norm`` (``None``: unchanged).

    The rule of ``torch.nn.utils.clip_grad_norm_``: multiply by
    ``min(1, max_norm / (norm + 1e-6))``. Written without data-dependent
    branches so that it runs per sequence under ``torch.func.vmap``.
    """
    if max_norm is None:
        return grads
    check_float("max_norm", max_norm, minimum=0, strict=True)
    norm = torch.sqrt(sum((g**2).sum() for g in grads.values()))
    scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    return {name: g * scale for name, g in grads.items()}


# ----------------------------------------------------------------------------- gradients


def check_engine(engine: Any) -> str:
    """``engine`` must be one of :data:`ENGINES`."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    return engine


def loss_gradient(
    loss_of: Callable[[Params], torch.Tensor],
    fast: Params,
    names: Sequence[str],
    *,
    create_graph: bool,
    engine: str = "autograd",
) -> Params:
    """``grad_theta loss_of(theta)`` at ``theta = fast`` for the parameters in ``names``.

    ``loss_of(params)`` is any scalar function of a full parameter dict (a
    regression loss, a policy-gradient surrogate). ``engine="func"`` uses
    ``torch.func.grad`` (composes with ``vmap``; the result is differentiable
    by outer autograd unless detached). ``engine="autograd"`` uses
    ``torch.autograd.grad(create_graph=...)``, the classic eager loop. Without
    ``create_graph`` the gradient is a constant (first order).
    """
    if not callable(loss_of):
        raise TypeError(f"loss_of must be a callable params -> scalar tensor, "
                        f"got {type(loss_of).__name__}")
    fast = check_params(fast, "fast")
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or not names:
        raise TypeError(f"names must be a non-empty list of parameter names, got {names!r}")
    unknown = [name for name in names if name not in fast]
    if unknown:
        raise ValueError(f"names {unknown} are not in fast (names: {list(fast)})")
    if not isinstance(create_graph, bool):
        raise TypeError(f"create_graph must be a bool, got {create_graph!r}")
    if check_engine(engine) == "func":

        def loss_of_adapted(adapted: Params) -> torch.Tensor:
            return _scalar("loss_of", loss_of({**fast, **adapted}), zero_dim=True)

        grads = torch.func.grad(loss_of_adapted)({name: fast[name] for name in names})
        return grads if create_graph else {name: g.detach() for name, g in grads.items()}
    with torch.enable_grad():  # adaptation must work inside a caller's no_grad block
        leaves = {
            name: fast[name] if fast[name].requires_grad else fast[name].detach().requires_grad_()
            for name in names
        }
        loss = _scalar("loss_of", loss_of({**fast, **leaves}))
        grads = torch.autograd.grad(loss, list(leaves.values()), create_graph=create_graph)
    return dict(zip(names, grads, strict=True))


def support_gradient(
    model: nn.Module,
    fast: Params,
    names: Sequence[str],
    loss_fn: LossFn,
    support: tuple[torch.Tensor, torch.Tensor],
    *,
    create_graph: bool,
    forward_fn: ForwardFn | None = None,
    engine: str = "autograd",
) -> Params:
    """``grad_theta L_support(theta)`` for the parameters in ``names`` (:func:`loss_gradient`).

    ``L_support(theta) = loss_fn(f_theta(inputs), targets)`` with ``support =
    (inputs, targets)``.
    """
    if not isinstance(support, (tuple, list)) or len(support) != 2:
        raise TypeError(f"support must be a pair (inputs, targets), got {type(support).__name__}")
    inputs, targets = support

    def support_loss(params: Params) -> torch.Tensor:
        return task_loss(model, params, loss_fn, inputs, targets, forward_fn)

    return loss_gradient(support_loss, fast, names, create_graph=create_graph, engine=engine)


# ----------------------------------------------------------------------------- batching


def stack_results(results: list) -> Any:
    """Stack a list of per-task results (tensors, or tuples/dicts of them) on dim 0."""
    if not isinstance(results, (list, tuple)) or not results:
        raise ValueError(f"results must be a non-empty list of per-task results, "
                         f"got {results!r:.80}")
    return _stack(list(results), "results")


def _stack(results: list, name: str) -> Any:
    """:func:`stack_results`; ``name`` says where a bad entry sits (``results[i][j]``)."""
    first = results[0]
    if isinstance(first, torch.Tensor):
        for i, r in enumerate(results):
            if not isinstance(r, torch.Tensor) or r.shape != first.shape:
                got = tuple(r.shape) if isinstance(r, torch.Tensor) else type(r).__name__
                raise ValueError(f"{name}[{i}] must be a tensor of the shape of {name}[0] "
                                 f"{tuple(first.shape)}, got {got}")
        return torch.stack(results)
    if isinstance(first, Mapping):
        for i, r in enumerate(results):
            if not isinstance(r, Mapping) or set(r) != set(first):
                got = sorted(r) if isinstance(r, Mapping) else type(r).__name__
                raise ValueError(f"{name}[{i}] must be a dict with the keys of {name}[0] "
                                 f"{sorted(first)}, got {got}")
        return {key: _stack([r[key] for r in results], f"{name}[...][{key!r}]")
                for key in first}
    if not isinstance(first, tuple):
        raise TypeError(f"{name}[0] must be a tensor, or a tuple or dict of tensors, "
                        f"got {type(first).__name__}")
    for i, r in enumerate(results):
        if not isinstance(r, tuple) or len(r) != len(first):
            got = f"{len(r)} items" if isinstance(r, tuple) else type(r).__name__
            raise ValueError(f"{name}[{i}] must be a tuple of {len(first)} like {name}[0], "
                             f"got {got}")
    return tuple(_stack(list(parts), f"{name}[...][{j}]")
                 for j, parts in enumerate(zip(*results, strict=True)))


def _slice(arg: Any, dim: int | None, index: int) -> Any:
    if dim is None:
        return arg
    if isinstance(arg, Mapping):
        return {key: value[index] for key, value in arg.items()}
    return arg[index]


def vmap_or_loop(
    fn: Callable[..., Any],
    args: Sequence[Any],
    in_dims: Sequence[int | None] | None = None,
    *,
    vmap: bool = True,
    model: nn.Module | None = None,
    unit: str = "task",
) -> Any:
    """``fn(*args_t, engine=...)`` for every t along dim 0 of the batched ``args``, stacked.

    ``in_dims`` marks each argument batched (``0``; a dict's values are
    batched) or shared (``None``); default: all batched. With ``vmap`` it runs
    once under ``torch.func.vmap`` (``engine="func"``). If that raises, it loops
    (``engine="autograd"``) and, only if the loop succeeds (so ``model``, not
    the input, was the problem), warns and remembers ``model`` as not
    vmappable, so later calls loop at once. A bad input therefore raises the
    loop's own error and changes nothing for later calls.
    """
    dims, batch = _check_batched(fn, args, in_dims)
    if model is not None:
        check_instance("model", model, nn.Module)
    if not isinstance(vmap, bool):
        raise TypeError(f"vmap must be a bool, got {vmap!r}")
    if not isinstance(unit, str):
        raise TypeError(f"unit must be a str (the word for one slice, e.g. 'task'), "
                        f"got {unit!r}")
    vmap_error = None
    if vmap and (model is None or model not in _VMAP_UNSUPPORTED):
        try:
            return torch.func.vmap(functools.partial(fn, engine="func"), in_dims=dims)(*args)
        except VMAP_FALLBACK_ERRORS as error:
            vmap_error = error
    results = [fn(*(_slice(a, d, t) for a, d in zip(args, dims, strict=True)), engine="autograd")
               for t in range(batch)]
    if vmap_error is not None and model is not None:
        _VMAP_UNSUPPORTED.add(model)
        first_line = str(vmap_error).splitlines()[0] if str(vmap_error) else ""
        warnings.warn(
            f"{type(model).__name__} could not be run under torch.func.vmap "
            f"({type(vmap_error).__name__}: {first_line}); using the per-{unit} loop instead "
            "(same result, slower). Pass vmap=False to skip this attempt.",
            RuntimeWarning,
            stacklevel=3,
        )
    return _stack(results, "the results of fn")


def _check_batched(fn: Any, args: Any, in_dims: Any) -> tuple[tuple, int]:
    """:func:`vmap_or_loop`'s ``fn``, ``args`` and ``in_dims``; returns (dims, batch size)."""
    if not callable(fn):
        raise TypeError(f"fn must be a callable (*args, engine=...), got {type(fn).__name__}")
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"args must be a tuple or list of fn's arguments, "
                        f"got {type(args).__name__}")
    dims = tuple(in_dims) if in_dims is not None else (0,) * len(args)
    if len(dims) != len(args) or any(d not in (0, None) or isinstance(d, bool) for d in dims):
        raise ValueError(f"in_dims must hold one entry per argument ({len(args)}), each 0 "
                         f"(batched on dim 0) or None (shared), got {in_dims!r}")
    sizes = {}
    for i, (arg, dim) in enumerate(zip(args, dims, strict=True)):
        if dim is None:
            continue
        values = list(arg.values()) if isinstance(arg, Mapping) else [arg]
        if not values or not all(isinstance(v, torch.Tensor) and v.ndim >= 1 for v in values):
            raise TypeError(f"args[{i}] is batched (in_dims 0), so it must be a tensor or a "
                            f"non-empty dict of tensors with the batch on dim 0, "
                            f"got {type(arg).__name__}")
        for v in values:
            sizes.setdefault(int(v.shape[0]), i)
    if not sizes:
        raise ValueError("at least one argument must be batched (in_dims 0), got in_dims "
                         f"{dims}")
    if len(sizes) > 1 or 0 in sizes:
        raise ValueError(f"the batched args must share one batch size >= 1 on dim 0, got "
                         f"sizes {sorted(sizes)} (args[{max(sizes.values())}])")
    return dims, next(iter(sizes))


# ----------------------------------------------------------------------------- conversion


def to_numpy(value: Any, name: str = "values", ndim: int | None = None,
             dtype: Any = None) -> np.ndarray:
    """``value`` as a NumPy array (tensors detached and moved to the CPU).

    ``ndim``: the number of dimensions required (``ValueError`` naming ``name``
    otherwise); ``dtype``: converted to it.
    """
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.double() if dtype in (float, np.float64) and value.is_floating_point() \
            else value
        value = value.numpy()
    array = np.asarray(value, dtype=dtype)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    return array
