"""Functional MAML and its relatives, written with ``torch.func``.

Parameters are a plain dict ``name -> tensor`` (``dict(model.named_parameters())``)
and every forward pass is ``torch.func.functional_call(model, params, x)``, so
"the model with fast weights" is just the same module called with another dict:
no copied modules, no monkey patching, no ``higher``/``learn2learn``.

Dimension letters used in shapes:

====  =====================================================================
T     tasks in a meta-batch
K     examples per task in its support (or query) set
P     input features of one example (sinusoids: 1)
Q     output features of one example (sinusoids: 1)
L     sequence length, for sequence models whose examples are (L, P)
====  =====================================================================

An example is whatever the model eats, so a task's inputs are (K, P) for an
MLP and (K, L, P) for a sequence model; batches of tasks add a leading T.

Algorithms (each reads like the paper's pseudo-code):

- MAML (Finn et al. 2017, Algorithm 2): ``theta'_t = theta - alpha grad L_support_t(theta)``
  for ``steps`` steps, meta-loss ``(1/T) sum_t L_query_t(theta'_t)``, differentiated
  through the inner steps (second order).
- FOMAML (same paper, Section 5.2): the inner gradients are treated as constants,
  so ``d theta'/d theta = I`` and the meta-gradient is ``grad L_query(theta')``.
- Meta-SGD (Li et al. 2017): a learned per-parameter rate ``alpha`` (same shape
  as ``theta``) replaces the scalar, meta-learned together with ``theta``.
- ANIL (Raghu et al. 2020): only the head is adapted in the inner loop; the
  body is still meta-learned by the outer loop.
- Reptile (Nichol et al. 2018): ``theta <- theta + epsilon (mean_t W_t - theta)``
  where ``W_t`` is ``theta`` after ``k`` SGD steps on task ``t``; no second order.

Stateful sequence models are supported: if the model returns a tuple (for
example ``(y, state)`` from an SSM), the first element is the prediction.
A ``forward_fn(model, params, inputs) -> prediction`` hook covers anything else.

Batching over tasks: :func:`maml_loss` runs the per-task computation under
``torch.func.vmap`` (with ``torch.func.grad`` for the inner gradients). If the
model cannot be vmapped (in-place writes into preallocated tensors, ``.item()``,
random ops, ...) it warns once per model and falls back to a Python loop over
tasks with ``torch.autograd.grad``; both paths give the same meta-gradient.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ._validate import (
    Params,
    check_bool,
    check_callable,
    check_device,
    check_finite,
    check_float,
    check_instance,
    check_int,
    check_like,
    check_params_fit,
    check_tensor,
    raise_if_diverged,
    training_step,
)
from .checkpoints import check_state_dict, load_checkpoint, save_checkpoint
from .envs.families import RLTaskSample
from .functional import _VMAP_UNSUPPORTED as _VMAP_UNSUPPORTED  # noqa: F401 (tests inspect it)
from .functional import (
    ENGINES,
    VMAP_FALLBACK_ERRORS,
    ForwardFn,
    InnerLR,
    LossFn,
    check_engine,
    check_params,
    check_rates,
    mse_loss,
    predict,
    regression_mlp,
    select_params,
    sgd_step,
    support_gradient,
    task_loss,
    vmap_or_loop,
)
from .meta_rl import (
    PolicyMAMLConfig,
    adapt_policy,
    check_family,
    maml_rl_step,
    policy_gradient_advantages,
    rollout_length,
)
from .policies import AdaptedPolicy, MLPPolicy
from .profiles import progress_bar, seed_everything
from .rl import Rollout, collect_rollouts, episode_returns
from .tasks import TaskSample

__all__ = [
    # MAML and its relatives
    "ALGORITHMS", "ANIL", "MAMLConfig", "MetaMAMLTrainer", "MetaSGD", "Reptile", "TaskBatch",
    "adapt_tasks", "adaptation_curve", "inner_adapt", "maml_loss", "map_over_tasks", "pretrain",
    "reptile_pseudo_gradient", "reptile_update",
    # re-exported from ssm_metarl.functional, where they live
    "ENGINES", "VMAP_FALLBACK_ERRORS", "ForwardFn", "InnerLR", "LossFn", "Params", "mse_loss",
    "predict", "regression_mlp", "sgd_step", "support_gradient", "task_loss",
]

ALGORITHMS: tuple[str, ...] = ("maml", "fomaml", "metasgd", "anil", "reptile")
_TRAINER_FORMAT = "ssm_metarl.MetaMAMLTrainer/1"
STEPS_HINT = "number of inner SGD steps"


# ----------------------------------------------------------------------------- validation


def _check_model(model: Any) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_pair(
    name: str, pair: Any, *, batched: bool = False, model: nn.Module | None = None,
    like: torch.Tensor | None = None, finite: bool = False,
) -> tuple[torch.Tensor, ...]:
    """``pair`` must be ``(inputs, targets)`` with matching leading dims (T, K) or (K,), none 0.

    With ``like`` (a parameter of the model) both must be tensors of its
    dtype and device (integer targets, e.g. class labels, keep their dtype);
    with ``model`` their last dims must fit its known widths (:func:`_io_widths`);
    with ``finite`` they must hold no NaN/inf. (Training leaves NaN data to
    its divergence stop, which names the iteration.)
    """
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise TypeError(f"{name} must be an (inputs, targets) pair, got {type(pair).__name__}")
    inputs, targets = pair
    if not (isinstance(inputs, torch.Tensor) and isinstance(targets, torch.Tensor)):
        raise TypeError(f"{name} must hold two tensors (inputs, targets), got "
                        f"{type(inputs).__name__} and {type(targets).__name__}")
    lead = 2 if batched else 1
    shape = "(T, K, ...)" if batched else "(K, ...)"
    if inputs.ndim < lead + 1 or targets.ndim < lead + 1:
        raise ValueError(
            f"{name} inputs and targets must have shape {shape} with at least one feature "
            f"dimension, got {tuple(inputs.shape)} and {tuple(targets.shape)}"
        )
    if inputs.shape[:lead] != targets.shape[:lead]:
        raise ValueError(
            f"{name} inputs and targets must agree on the leading {lead} dim(s) of {shape}, "
            f"got {tuple(inputs.shape)} and {tuple(targets.shape)}"
        )
    if 0 in inputs.shape[:lead]:
        raise ValueError(f"{name} must hold at least one {'task and ' if batched else ''}"
                         f"example, got inputs of shape {tuple(inputs.shape)}")
    if model is not None:
        width_in, width_out = _io_widths(model)
        for part, tensor, width, what in ((0, inputs, width_in, "input"),
                                          (1, targets, width_out, "output")):
            if width is not None and tensor.shape[-1] != width:
                raise ValueError(f"{name}[{part}] must have {width} features in its last "
                                 f"dimension (the {type(model).__name__}'s {what} width), got "
                                 f"shape {tuple(tensor.shape)}")
    if like is not None:
        check_like(f"{name}[0]", inputs, like)
        if targets.is_floating_point() or targets.is_complex():
            check_like(f"{name}[1]", targets, like)
        elif targets.device != like.device:
            raise ValueError(f"{name}[1] must be on the model's device {like.device}, "
                             f"got {targets.device}")
    if finite:
        check_finite(f"{name}[0]", inputs)
        check_finite(f"{name}[1]", targets)
    return inputs, targets


def _io_widths(model: nn.Module) -> tuple[int | None, int | None]:
    """(input, output) feature widths where the model shows them, else None.

    Known for an ``nn.Linear`` and an ``nn.Sequential`` that starts (ends) with
    one (:func:`regression_mlp`); any other model checks its own inputs.
    """
    def end(module: nn.Module, index: int) -> nn.Module | None:
        while isinstance(module, nn.Sequential):
            if not len(module):
                return None
            module = module[index]
        return module

    first, last = end(model, 0), end(model, -1)
    return (first.in_features if isinstance(first, nn.Linear) else None,
            last.out_features if isinstance(last, nn.Linear) else None)


def _check_model_params(
    model: nn.Module, params: Any, forward_fn: ForwardFn | None, name: str = "params"
) -> Params:
    """``params`` as a dict of tensors; without ``forward_fn`` every entry must name a
    parameter (or buffer) of ``model`` and have its shape, dtype and device."""
    params = check_params(params, name)
    if forward_fn is not None:
        return params
    return check_params_fit(name, params, model)


def _check_learner(
    model: Any, params: Any, loss_fn: Any, forward_fn: Any
) -> tuple[Params, torch.Tensor | None, nn.Module | None]:
    """The arguments every MAML function shares: ``(params, like, width_model)``.

    ``like`` (a floating parameter) and ``width_model`` are None with a
    ``forward_fn``, which defines what the inputs are.
    """
    _check_model(model)
    check_callable("loss_fn", loss_fn, what="loss_fn(prediction, target) -> scalar")
    check_callable("forward_fn", forward_fn, optional=True,
                   what="forward_fn(model, params, inputs) -> prediction")
    params = _check_model_params(model, params, forward_fn)
    if forward_fn is not None:
        return params, None, None
    like = next((value for value in params.values() if value.is_floating_point()), None)
    return params, like, model


def inner_adapt(
    model: nn.Module,
    params: Params,
    loss_fn: LossFn,
    support: tuple[torch.Tensor, torch.Tensor],
    steps: int,
    inner_lr: InnerLR,
    first_order: bool = False,
    *,
    adapt_names: Sequence[str] | None = None,
    forward_fn: ForwardFn | None = None,
    engine: str = "autograd",
) -> Params:
    """Fast weights after ``steps`` inner SGD steps on one task's support set.

    ``theta_0 = params``, ``theta_{s+1} = theta_s - alpha grad L_support(theta_s)``
    (Finn et al. 2017, Eq. 1 and Algorithm 2, line 7). ``support`` is
    ``(inputs (K, ...), targets (K, ...))``.

    Second order (default): the returned fast weights stay differentiable with
    respect to ``params`` through the inner gradients (``create_graph=True``).
    First order (FOMAML): the inner gradients are detached, so
    ``d theta_S / d params = I``. ``inner_lr`` is a float or a dict of
    per-parameter tensors (Meta-SGD). ``adapt_names`` restricts adaptation to
    those parameters (ANIL); the others are returned unchanged.
    ``engine`` picks ``torch.autograd.grad`` or ``torch.func.grad`` (needed
    under ``vmap``); the numbers are the same.
    """
    params, like, width_model = _check_learner(model, params, loss_fn, forward_fn)
    support = _check_pair("support", support, model=width_model, like=like, finite=True)
    names = select_params(params, adapt_names, name="adapt_names")
    return _adapt(
        model, params, loss_fn, support, check_int("steps", steps, 0, hint=STEPS_HINT),
        check_rates(inner_lr, params, names), check_bool("first_order", first_order), names,
        forward_fn, check_engine(engine),
    )


def _adapt(
    model: nn.Module, params: Params, loss_fn: LossFn, support: tuple[torch.Tensor, ...],
    steps: int, inner_lr: InnerLR, first_order: bool, names: Sequence[str],
    forward_fn: ForwardFn | None, engine: str,
) -> Params:
    """:func:`inner_adapt` on checked arguments (``names``: the adapted parameters)."""
    fast = params
    for _ in range(steps):
        grads = support_gradient(
            model, fast, names, loss_fn, support,
            create_graph=not first_order, forward_fn=forward_fn, engine=engine,
        )
        fast = sgd_step(fast, grads, inner_lr)
    return fast


# ----------------------------------------------------------------------------- meta-loss


def maml_loss(
    model: nn.Module,
    params: Params,
    loss_fn: LossFn,
    support_batch: tuple[torch.Tensor, torch.Tensor],
    query_batch: tuple[torch.Tensor, torch.Tensor],
    steps: int,
    inner_lr: InnerLR,
    first_order: bool = False,
    vmap: bool = True,
    *,
    adapt_names: Sequence[str] | None = None,
    forward_fn: ForwardFn | None = None,
) -> torch.Tensor:
    """Meta-loss ``(1/T) sum_t L_query_t(inner_adapt(theta, support_t))`` (Finn et al. 2017, Eq. 1).

    ``support_batch`` is ``(inputs (T, K, ...), targets (T, K, ...))``, ``query_batch``
    ``(inputs (T, K_query, ...), targets (T, K_query, ...))``; returns a scalar whose
    gradient with respect to ``params`` (and a Meta-SGD ``inner_lr`` dict) is the
    MAML meta-gradient: second order by default, first order with ``first_order``.

    ``vmap=True`` batches the tasks with ``torch.func.vmap`` and ``torch.func.grad``;
    if the model cannot be vmapped, it warns once per model and uses the loop.
    ``vmap=False`` always loops over tasks with ``torch.autograd.grad``.
    """
    params, like, width_model = _check_learner(model, params, loss_fn, forward_fn)
    support_batch = _check_pair("support_batch", support_batch, batched=True, model=width_model,
                                like=like)
    query_batch = _check_pair("query_batch", query_batch, batched=True, model=width_model,
                              like=like)
    first_order, vmap = check_bool("first_order", first_order), check_bool("vmap", vmap)
    if support_batch[0].shape[0] != query_batch[0].shape[0]:
        raise ValueError(
            f"support_batch and query_batch must hold the same number of tasks T, got "
            f"{support_batch[0].shape[0]} and {query_batch[0].shape[0]}"
        )
    names = select_params(params, adapt_names, name="adapt_names")
    inner_lr = check_rates(inner_lr, params, names)
    steps = check_int("steps", steps, 0, hint=STEPS_HINT)

    def one_task(support_x, support_y, query_x, query_y, engine):
        fast = _adapt(model, params, loss_fn, (support_x, support_y), steps, inner_lr,
                      first_order, names, forward_fn, engine)
        return task_loss(model, fast, loss_fn, query_x, query_y, forward_fn)

    return map_over_tasks(model, one_task, (*support_batch, *query_batch), vmap).mean()


def map_over_tasks(
    model: nn.Module,
    per_task: Callable[..., Any],
    batches: Sequence[torch.Tensor],
    vmap: bool = True,
) -> Any:
    """Run ``per_task(*task_slices, engine=...)`` for every task and stack the results.

    ``batches`` are tensors with a leading task dim T; ``per_task`` returns a
    tensor or a dict of tensors, stacked to (T, ...). With ``vmap`` it runs once
    under ``torch.func.vmap`` (``engine="func"``); if that raises, it loops over
    tasks (``engine="autograd"``) and, only if the loop succeeds (so the model,
    not the input, was the problem), warns and remembers the model as not
    vmappable (:func:`ssm_metarl.functional.vmap_or_loop`).
    """
    _check_model(model)
    check_callable("per_task", per_task, what="per_task(*task_slices, engine=...)")
    if not isinstance(batches, (tuple, list)) or not batches or not all(
            isinstance(batch, torch.Tensor) and batch.ndim >= 1 for batch in batches):
        raise TypeError(f"batches must be a non-empty list or tuple of tensors with a leading "
                        f"task dim T, got {type(batches).__name__}")
    sizes = [batch.shape[0] for batch in batches]
    if len(set(sizes)) != 1 or sizes[0] == 0:
        raise ValueError(f"batches must share one leading task dim T >= 1, got sizes {sizes}")
    return vmap_or_loop(per_task, batches, vmap=check_bool("vmap", vmap), model=model,
                        unit="task")


def adapt_tasks(
    model: nn.Module,
    params: Params,
    loss_fn: LossFn,
    support_batch: tuple[torch.Tensor, torch.Tensor],
    steps: int,
    inner_lr: InnerLR,
    *,
    adapt_names: Sequence[str] | None = None,
    forward_fn: ForwardFn | None = None,
    vmap: bool = True,
) -> list[Params]:
    """Detached fast weights ``W_t`` of every task in a batch (first order; Reptile, testing).

    ``support_batch`` is ``(inputs (T, K, ...), targets (T, K, ...))``; returns a
    list of T dicts with the shapes of ``params``. Tasks run under ``vmap`` where
    the model allows (see :func:`map_over_tasks`).
    """
    params, like, width_model = _check_learner(model, params, loss_fn, forward_fn)
    support_batch = _check_pair("support_batch", support_batch, batched=True, model=width_model,
                                like=like)
    steps = check_int("steps", steps, 0, hint=STEPS_HINT)
    names = select_params(params, adapt_names, name="adapt_names")
    inner_lr = check_rates(inner_lr, params, names)

    def one_task(support_x, support_y, engine):
        fast = _adapt(model, params, loss_fn, (support_x, support_y), steps, inner_lr, True,
                      names, forward_fn, engine)
        return {name: value.detach() for name, value in fast.items()}

    stacked = map_over_tasks(model, one_task, support_batch, vmap)
    return [dict(zip(stacked, task, strict=True)) for task in zip(*stacked.values(), strict=True)]


# ----------------------------------------------------------------------------- variants


class MetaSGD:
    """Meta-SGD (Li et al. 2017): one learned inner learning rate per parameter entry.

    ``alpha[name]`` has the shape of ``params[name]``, starts at ``init_lr``
    everywhere (so step 0 of Meta-SGD is MAML) and is meta-learned with the
    initialization: pass ``meta_sgd.alpha`` as ``inner_lr`` and
    ``meta_sgd.parameters()`` to the outer optimizer.
    """

    def __init__(
        self, params: Params, init_lr: float = 0.01, adapt_names: Sequence[str] | None = None
    ) -> None:
        params = check_params(params)
        if isinstance(init_lr, Mapping):
            raise TypeError("init_lr must be one number (every rate starts there), got a dict")
        init_lr = check_rates(init_lr, params, (), name="init_lr")
        self.alpha: Params = {
            name: torch.full_like(params[name].detach(), init_lr).requires_grad_()
            for name in select_params(params, adapt_names, name="adapt_names")
        }

    def parameters(self) -> list[torch.Tensor]:
        return list(self.alpha.values())


class ANIL:
    """ANIL, "almost no inner loop" (Raghu et al. 2020): adapt only the head.

    ``head`` is a name prefix (or several): parameters whose name starts with
    it are adapted in the inner loop, the body is frozen there but still
    meta-learned by the outer loop. ``ANIL.last_layer(model)`` picks the
    module that owns the last parameter (the output layer).
    """

    def __init__(self, head: str | Sequence[str]) -> None:
        if not isinstance(head, (str, list, tuple)):
            raise TypeError(f"head must be a parameter-name prefix (str) or a list of them, "
                            f"got {type(head).__name__}")
        prefixes = (head,) if isinstance(head, str) else tuple(head)
        if not prefixes or not all(isinstance(p, str) and p for p in prefixes):
            raise ValueError(f"head must be a non-empty parameter-name prefix, got {head!r}")
        self.head = prefixes

    @staticmethod
    def last_layer(model: nn.Module) -> str:
        """Prefix of the module owning the model's last parameter, e.g. ``"4"``."""
        _check_model(model)
        names = [name for name, _ in model.named_parameters()]
        if not names:
            raise ValueError(f"{type(model).__name__} has no parameters to adapt")
        return names[-1].rpartition(".")[0] or names[-1]

    def adapt_names(self, params: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
        """The parameter names in the head, in ``params`` order."""
        return select_params(check_params(params), list(self.head), name="ANIL head")


def reptile_pseudo_gradient(params: Params, fast_weights: Sequence[Params]) -> Params:
    """``g = theta - (1/T) sum_t W_t``: Reptile's update direction, fed to any optimizer.

    Nichol et al. (2018), Section 3: "(theta - W) can be treated as a gradient"; with
    plain SGD of step ``epsilon`` this is exactly :func:`reptile_update`.
    """
    params = check_params(params)
    _check_fast_weights(params, fast_weights)
    return {
        name: value.detach() - torch.stack([w[name].detach() for w in fast_weights]).mean(0)
        for name, value in params.items()
    }


def _check_fast_weights(params: Params, fast_weights: Any) -> None:
    """``fast_weights``: a non-empty list of dicts shaped like ``params`` (one ``W_t`` per task)."""
    if isinstance(fast_weights, (str, Mapping)) or not isinstance(fast_weights, Sequence):
        raise TypeError(f"fast_weights must be a list of dicts name -> tensor (one W_t per "
                        f"task), got {type(fast_weights).__name__}")
    if not fast_weights:
        raise ValueError("fast_weights must hold the adapted weights of at least one task")
    for task, weights in enumerate(fast_weights):
        weights = check_params(weights, f"fast_weights[{task}]")
        missing = [name for name in params if name not in weights]
        if missing:
            raise ValueError(f"fast_weights[{task}] lacks the parameters {missing} of params")
        for name, value in params.items():
            if (weights[name].shape, weights[name].dtype) != (value.shape, value.dtype):
                raise ValueError(
                    f"fast_weights[{task}][{name!r}] must have the shape and dtype of "
                    f"params[{name!r}] ({tuple(value.shape)}, {value.dtype}), got "
                    f"({tuple(weights[name].shape)}, {weights[name].dtype})")


def reptile_update(params: Params, fast_weights: Sequence[Params], epsilon: float) -> Params:
    """``theta <- theta + epsilon (1/T) sum_t (W_t - theta)`` (Nichol et al. 2018, Algorithm 2).

    ``fast_weights`` holds one dict per task (``W_t``, same shapes as ``params``);
    returns new detached tensors.
    """
    epsilon = check_float("epsilon", epsilon, minimum=0, strict=True, maximum=1)
    pseudo_gradient = reptile_pseudo_gradient(params, fast_weights)
    return {name: params[name].detach() - epsilon * g for name, g in pseudo_gradient.items()}


class Reptile:
    """Reptile (Nichol et al. 2018): k inner SGD steps per task, then move toward the results.

    ``adapt`` gives each task's ``W_t`` (first order, detached), ``outer_update``
    applies :func:`reptile_update` with ``epsilon``.
    """

    def __init__(self, inner_steps: int = 5, inner_lr: float = 0.01, epsilon: float = 0.1):
        self.inner_steps = check_int("inner_steps", inner_steps, 0,
                                     hint=STEPS_HINT)
        if isinstance(inner_lr, Mapping):
            raise TypeError("inner_lr of Reptile must be one number, got a dict")
        self.inner_lr = check_rates(inner_lr, {}, ())
        self.epsilon = check_float("epsilon", epsilon, minimum=0, strict=True, maximum=1)

    def adapt(
        self, model: nn.Module, params: Params, loss_fn: LossFn,
        support_batch: tuple[torch.Tensor, torch.Tensor], forward_fn: ForwardFn | None = None,
    ) -> list[Params]:
        """``W_t = SGD(L_t, theta, k)`` for each task of ``support_batch`` (T, K, ...)."""
        return adapt_tasks(
            model, params, loss_fn, support_batch, self.inner_steps, self.inner_lr,
            forward_fn=forward_fn,
        )

    def outer_update(self, params: Params, fast_weights: Sequence[Params]) -> Params:
        """``theta + epsilon * mean_t (W_t - theta)``, as new detached tensors."""
        return reptile_update(params, fast_weights, self.epsilon)


# ----------------------------------------------------------------------------- task batches


class TaskBatch:
    """An endless stream of meta-batches from a task distribution.

    ``tasks`` is anything with ``sample(num_tasks, k_support, k_query, **kw) ->
    TaskSample`` (e.g. :class:`~ssm_metarl.tasks.SinusoidTasks`). ``sample()``
    returns the next meta-batch of ``batch_size`` tasks; iterating yields
    meta-batches forever (stop with ``zip``, ``islice`` or a ``break``).
    """

    def __init__(
        self, tasks: Any, batch_size: int, k_support: int = 10, k_query: int = 10,
        **sample_kwargs: Any,
    ) -> None:
        if not callable(getattr(tasks, "sample", None)):
            raise TypeError(
                f"tasks must have a sample(num_tasks, k_support, k_query) method, got "
                f"{type(tasks).__name__}"
            )
        batch_size, k_support, k_query = (
            check_int(name, value, hint=hint) for name, value, hint in (
                ("batch_size", batch_size, "tasks per meta-batch"),
                ("k_support", k_support, "support examples per task"),
                ("k_query", k_query, "query examples per task")))
        try:
            inspect.signature(tasks.sample).bind(batch_size, k_support, k_query, **sample_kwargs)
        except TypeError as error:
            raise TypeError(f"tasks.sample cannot be called as sample(batch_size, k_support, "
                            f"k_query, **{sorted(sample_kwargs)}): {error}") from None
        except ValueError:
            pass  # no signature to read (a builtin): the first sample() will tell
        self.tasks, self.batch_size = tasks, batch_size
        self.k_support, self.k_query, self.sample_kwargs = k_support, k_query, sample_kwargs

    def sample(self) -> TaskSample:
        """The next meta-batch: support (T, K, ...) and query (T, K_query, ...) stacks."""
        return _check_sample("tasks.sample()", self.tasks.sample(
            self.batch_size, self.k_support, self.k_query, **self.sample_kwargs))

    def __iter__(self) -> Iterator[TaskSample]:
        while True:
            yield self.sample()


def _check_sample(name: str, sample: Any) -> TaskSample | RLTaskSample:
    """``sample`` must be a TaskSample (regression) or an RLTaskSample (a task family's)."""
    if not isinstance(sample, (TaskSample, RLTaskSample)):
        raise TypeError(f"{name} must return a TaskSample (or an RLTaskSample of a task "
                        f"family), got {type(sample).__name__}")
    return sample


def _check_policy_family(policy: nn.Module, family: Any) -> None:
    """The policy must fit the family's observations and actions."""
    want = (family.obs_dim, family.action_dim, family.discrete)
    got = (policy.obs_dim, policy.action_dim, policy.discrete)
    if want != got:
        raise ValueError(f"the policy (obs_dim, action_dim, discrete) = {got} does not fit the "
                         f"task family {family!r}, which needs {want}")


def _trial_return(rollout: Rollout, trials: int) -> float:
    """Mean return per episode of a rollout of one trial per column."""
    if trials == 1:
        return episode_returns(rollout).mean().item()
    return ((rollout.rewards * rollout.valid).sum(0).mean() / trials).item()


# ----------------------------------------------------------------------------- evaluation


def adaptation_curve(
    model: nn.Module,
    params: Params,
    tasks: Any,
    k_shot: int,
    max_steps: int,
    inner_lr: InnerLR,
    *,
    num_tasks: int = 100,
    num_query: int = 100,
    loss_fn: LossFn = mse_loss,
    adapt_names: Sequence[str] | None = None,
    forward_fn: ForwardFn | None = None,
    vmap: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Post-adaptation query loss after 0..max_steps inner steps on held-out tasks.

    The protocol of Finn et al. (2017), Section 5.1: each task gives ``k_shot``
    support points, reused at every gradient step (plain SGD, rate ``inner_lr``),
    and the adapted model is scored on ``num_query`` fresh query points.
    ``tasks`` is a task distribution (sampled here: ``num_tasks`` tasks) or a
    :class:`TaskSample` (so several models can be scored on the same tasks).

    Returns ``steps`` (S + 1,) = 0..max_steps and ``losses`` (T, S + 1) as NumPy
    arrays, one row per task (for means with confidence intervals).
    """
    params, like, width_model = _check_learner(model, params, loss_fn, forward_fn)
    params = {name: value.detach() for name, value in params.items()}
    k_shot, num_tasks, num_query = (check_int(name, value) for name, value in (
        ("k_shot", k_shot), ("num_tasks", num_tasks), ("num_query", num_query)))
    check_int("max_steps", max_steps, 0, hint=STEPS_HINT)
    names = select_params(params, adapt_names, name="adapt_names")
    inner_lr = check_rates(inner_lr, params, names)
    vmap = check_bool("vmap", vmap)
    sample = _evaluation_sample(tasks, k_shot, num_tasks, num_query)
    sample = sample.to(next(iter(params.values())).device)
    for name, pair in (("tasks.support", sample.support), ("tasks.query", sample.query)):
        _check_pair(name, pair, batched=True, model=width_model, like=like, finite=True)

    def curve(support_x, support_y, query_x, query_y, engine):
        fast, losses = params, []
        for step in range(max_steps + 1):
            losses.append(task_loss(model, fast, loss_fn, query_x, query_y, forward_fn).detach())
            if step < max_steps:
                fast = _adapt(model, fast, loss_fn, (support_x, support_y), 1, inner_lr, True,
                              names, forward_fn, engine)
        return torch.stack(losses)

    losses = map_over_tasks(model, curve, (*sample.support, *sample.query), vmap)
    return np.arange(max_steps + 1), losses.cpu().double().numpy()


def _evaluation_sample(tasks: Any, k_shot: int, num_tasks: int, num_query: int) -> TaskSample:
    if isinstance(tasks, TaskSample):
        if tasks.support_x.shape[1] != k_shot:
            raise ValueError(
                f"k_shot={k_shot} but the given TaskSample has {tasks.support_x.shape[1]} "
                "support examples per task"
            )
        return tasks
    if not callable(getattr(tasks, "sample", None)):
        raise TypeError(f"tasks must be a TaskSample or have .sample(), got {type(tasks).__name__}")
    sample = _check_sample("tasks.sample()", tasks.sample(num_tasks, k_shot, num_query))
    if not isinstance(sample, TaskSample):
        raise TypeError("tasks must be a regression task distribution (its sample() returns a "
                        "TaskSample), got an RL task family")
    return sample


# ----------------------------------------------------------------------------- training


def _divergence_cause(hint: str) -> str:
    return (f"the step sizes are too large for this model/task ({hint}); lower them, or "
            "check the task data for NaN/inf.")


def pretrain(
    model: nn.Module,
    task_batch: TaskBatch,
    num_iterations: int,
    *,
    lr: float = 1e-3,
    loss_fn: LossFn = mse_loss,
    forward_fn: ForwardFn | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[float]:
    """The "pretrained on all tasks" baseline of Finn et al. (2017), Section 5.1.

    Joint training with Adam and no inner loop: each iteration pools the support
    and query examples of a meta-batch, (T * (K + K_query), ...), into one
    regression problem. Trains ``model`` in place; returns the loss per iteration.
    """
    _check_model(model)
    if not callable(getattr(task_batch, "sample", None)):
        raise TypeError(f"task_batch must be a TaskBatch (or have a sample() method), got "
                        f"{type(task_batch).__name__}")
    check_int("num_iterations", num_iterations, 0)
    lr = check_float("lr", lr, minimum=0, strict=True)
    check_callable("loss_fn", loss_fn, what="loss_fn(prediction, target) -> scalar")
    check_callable("forward_fn", forward_fn, optional=True,
                   what="forward_fn(model, params, inputs) -> prediction")
    check_bool("progress", progress)
    model.to(check_device("device", device))
    params = dict(model.named_parameters())
    like = None if forward_fn is not None else next(
        (value for value in params.values() if value.is_floating_point()), None)
    optimizer = torch.optim.Adam(params.values(), lr=lr)
    losses: list[float] = []
    for iteration in progress_bar(range(num_iterations), "pretrain", progress):
        batch = _check_sample("task_batch.sample()", task_batch.sample())
        if not isinstance(batch, TaskSample):
            raise TypeError("pretrain trains regression models: task_batch must sample "
                            "TaskSamples, got an RLTaskSample")
        batch = batch.to(device)
        for name, pair in (("task_batch.sample().support", batch.support),
                           ("task_batch.sample().query", batch.query)):
            _check_pair(name, pair, batched=True,
                        model=None if forward_fn is not None else model, like=like)
        inputs = torch.cat([batch.support_x, batch.query_x], dim=1).flatten(0, 1)
        targets = torch.cat([batch.support_y, batch.query_y], dim=1).flatten(0, 1)
        loss = task_loss(model, params, loss_fn, inputs, targets, forward_fn)
        losses.append(training_step(optimizer, loss, "pretrain", iteration,
                                    _divergence_cause(f"lr={lr}")))
    return losses


@dataclass
class MAMLConfig:
    """Every hyperparameter of :class:`MetaMAMLTrainer`, in one place.

    Defaults are the sinusoid setup of Finn et al. (2017), Section 5.1:
    Adam with ``meta_lr=1e-3``, ``inner_lr=0.01``, one inner step, second order.

    - ``algorithm``: ``"maml"``, ``"fomaml"`` (forces ``first_order=True``),
      ``"metasgd"`` (``inner_lr`` is the initial learned rate), ``"anil"``
      (adapts ``anil_head``, default the last layer) or ``"reptile"`` (outer
      step on ``theta - mean W``; with ``outer_optimizer="sgd"`` this is exactly
      ``theta += meta_lr (mean W - theta)``; use ``inner_steps`` >= 5 as in the paper).
    - ``outer_optimizer``: ``"adam"`` or ``"sgd"``.
    - ``vmap``: batch tasks with ``torch.func.vmap`` (falls back to a loop).
    - ``seed``: passed to :func:`~ssm_metarl.profiles.seed_everything` when the
      trainer is built (seed before building the model to fix its init, too).
    """

    algorithm: str = "maml"
    meta_lr: float = 1e-3
    inner_lr: float = 1e-2
    inner_steps: int = 1
    first_order: bool = False
    anil_head: str | tuple[str, ...] | None = None
    outer_optimizer: str = "adam"
    vmap: bool = True
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if self.outer_optimizer not in ("adam", "sgd"):
            raise ValueError(
                f"outer_optimizer must be 'adam' or 'sgd', got {self.outer_optimizer!r}"
            )
        for name in ("meta_lr", "inner_lr"):
            setattr(self, name, check_float(name, getattr(self, name), minimum=0, strict=True))
        self.inner_steps = check_int("inner_steps", self.inner_steps, 0,
                                     hint=STEPS_HINT)
        self.first_order = check_bool("first_order", self.first_order)
        self.vmap = check_bool("vmap", self.vmap)
        self.seed = check_int("seed", self.seed, 0)
        check_device("device", self.device)
        head = self.anil_head
        if head is not None and not (isinstance(head, str) and head or isinstance(
                head, (list, tuple)) and head and all(isinstance(h, str) and h for h in head)):
            raise ValueError(f"anil_head must be None (the last layer), a parameter-name prefix "
                             f"or a list of them, got {head!r}")
        if self.algorithm == "fomaml":
            self.first_order = True
        if isinstance(self.anil_head, list):
            self.anil_head = tuple(self.anil_head)


def is_policy(model: Any) -> bool:
    """Whether ``model`` is an RL policy (MLPPolicy, SSMMetaPolicy, GRUPolicy, ...)."""
    return isinstance(model, MLPPolicy) or getattr(model, "is_recurrent", False)


class MetaMAMLTrainer:
    """Meta-train a model with MAML, FOMAML, Meta-SGD, ANIL or Reptile, or a policy with MAML-RL.

    **RL policies** (``MLPPolicy``, or a recurrent ``SSMMetaPolicy`` /
    ``GRUPolicy`` on any core): keyword arguments are the fields of
    :class:`~ssm_metarl.meta_rl.PolicyMAMLConfig` (``meta_lr``, ``inner_lr``,
    ``episodes_per_trial``, ``outer_epochs``, ...), and ``meta_train`` takes a
    :class:`TaskBatch` over an RL task family (e.g.
    :class:`~ssm_metarl.envs.families.NavigationTasks`): per iteration
    :func:`~ssm_metarl.meta_rl.maml_rl_step` collects ``k_support``
    trajectories per task, takes the inner policy-gradient step, collects
    ``k_query`` trajectories with the fast weights and updates the
    initialisation. ``adapt_to_new_task`` returns an
    :class:`~ssm_metarl.policies.AdaptedPolicy`. The prototype's snippet runs
    as written::

        policy = SSMMetaPolicy(state_dim=2, action_dim=2, discrete=False)
        trainer = MetaMAMLTrainer(policy, meta_lr=1e-3, inner_lr=1e-2)
        task_batch = TaskBatch(NavigationTasks(), batch_size=16)
        meta_losses = trainer.meta_train(task_batch, num_meta_iterations=1000)
        adapted_policy = trainer.adapt_to_new_task(new_task_data)

    **Regression models**:

    ``MetaMAMLTrainer(model, meta_lr=1e-3, inner_lr=1e-2, inner_steps=1,
    algorithm="maml", seed=0)``: keyword arguments are the fields of
    :class:`MAMLConfig` (or pass ``config=MAMLConfig(...)``). ``loss_fn(prediction,
    target)`` defaults to MSE; ``forward_fn`` as in :func:`predict`.

    The model's own parameters are the meta-parameters ``theta`` (``self.params``
    is ``dict(model.named_parameters())``), so after training ``model`` itself is
    the meta-learned initialization. Adapted models are fast-weight dicts used
    with :meth:`predict`; the module is never copied.
    """

    def __init__(
        self,
        model: nn.Module,
        config: MAMLConfig | None = None,
        *,
        loss_fn: LossFn = mse_loss,
        forward_fn: ForwardFn | None = None,
        **overrides: Any,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.is_rl = is_policy(model)
        if self.is_rl:
            self._init_policy(model, config, overrides)
            return
        if config is not None and not isinstance(config, MAMLConfig):
            raise TypeError(
                f"config must be a MAMLConfig or None, got {type(config).__name__}; pass "
                "hyperparameters by keyword, e.g. MetaMAMLTrainer(model, meta_lr=1e-3)"
            )
        fields = {f.name for f in dataclasses.fields(MAMLConfig)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"unknown MetaMAMLTrainer options {unknown}; valid: {sorted(fields)}")
        self.config = dataclasses.replace(config or MAMLConfig(), **overrides)
        seed_everything(self.config.seed)
        self.device = torch.device(self.config.device)
        self.model = model.to(self.device)
        self.loss_fn = check_callable("loss_fn", loss_fn, what="loss_fn(prediction, target)")
        self.forward_fn = check_callable("forward_fn", forward_fn, optional=True,
                                         what="forward_fn(model, params, inputs)")
        self.params: Params = dict(model.named_parameters())
        self.adapt_names = self._adapt_names()
        self.meta_sgd = (
            MetaSGD(self.params, self.config.inner_lr, self.adapt_names)
            if self.config.algorithm == "metasgd" else None
        )
        self.optimizer = self._outer_optimizer()
        self.meta_losses: list[float] = []

    def _init_policy(self, policy: nn.Module, config: Any, overrides: dict[str, Any]) -> None:
        """The RL side: a :class:`PolicyMAMLConfig`, Adam on the policy, a seeded rollout RNG."""
        if config is not None and not isinstance(config, PolicyMAMLConfig):
            raise TypeError(f"config for a policy must be a PolicyMAMLConfig or None, got "
                            f"{type(config).__name__}")
        fields = {f.name for f in dataclasses.fields(PolicyMAMLConfig)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"unknown MetaMAMLTrainer options for a policy {unknown}; valid: "
                            f"{sorted(fields)}")
        self.config = dataclasses.replace(config or PolicyMAMLConfig(), **overrides)
        seed_everything(self.config.seed)
        self.device = torch.device(self.config.device)
        self.model = policy.to(self.device)
        self.params = dict(policy.named_parameters())
        self.optimizer = (None if self.config.outer == "trpo"
                          else torch.optim.Adam(self.params.values(), lr=self.config.meta_lr))
        self.rng = np.random.default_rng(self.config.seed)
        self.meta_losses = []
        self.history: dict[str, list[float]] = {"pre_return": [], "post_return": []}
        self.family: Any = None

    def _rl_meta_step(self, batch: Any) -> float:
        """One MAML-RL meta-iteration on an :class:`RLTaskSample` (Algorithm 3, lines 3-10)."""
        if not isinstance(batch, RLTaskSample):
            raise TypeError(f"a policy meta-trains on RL task batches (TaskBatch over a task "
                            f"family such as NavigationTasks()), got {type(batch).__name__}")
        _check_policy_family(self.model, batch.family)
        self.family = batch.family
        step = maml_rl_step(self.model, self.params, self.optimizer, batch, self.config,
                            self.rng, len(self.meta_losses), "meta_train")
        trials = self.config.episodes_per_trial
        self.history["pre_return"].append(_trial_return(step.pre, trials))
        self.history["post_return"].append(_trial_return(step.post, trials))
        if step.kl is not None:  # TRPO: its KL and accepted step fraction, per iteration
            self.history.setdefault("kl", []).append(step.kl)
            self.history.setdefault("step_fraction", []).append(step.step_fraction)
        self.meta_losses.append(step.meta_loss)
        return step.meta_loss

    def _adapt_names(self) -> tuple[str, ...]:
        if self.config.algorithm != "anil":
            return tuple(self.params)
        head = self.config.anil_head or ANIL.last_layer(self.model)
        return ANIL(head).adapt_names(self.params)

    def _outer_optimizer(self) -> torch.optim.Optimizer:
        meta_parameters = list(self.params.values())
        if self.meta_sgd is not None:
            meta_parameters += self.meta_sgd.parameters()
        optimizer = torch.optim.Adam if self.config.outer_optimizer == "adam" else torch.optim.SGD
        return optimizer(meta_parameters, lr=self.config.meta_lr)

    @property
    def inner_lr(self) -> InnerLR:
        """The inner step size: the config's float, or Meta-SGD's learned ``alpha`` dict."""
        return self.meta_sgd.alpha if self.meta_sgd is not None else self.config.inner_lr

    # ------------------------------------------------------------------ meta-training

    def meta_train(
        self, task_batch: TaskBatch, num_meta_iterations: int, *, progress: bool = True
    ) -> list[float]:
        """Run ``num_meta_iterations`` outer steps; return the meta-loss of each.

        The meta-loss is the mean query loss after adaptation (for Reptile, the
        same quantity measured without gradient). Stops with
        ``FloatingPointError`` (iteration, value, hint) on a NaN/inf loss, before
        the parameters are touched.
        """
        check_int("num_meta_iterations", num_meta_iterations, 0)
        if not callable(getattr(task_batch, "sample", None)):
            raise TypeError(f"task_batch must be a TaskBatch (or have a sample() method), got "
                            f"{type(task_batch).__name__}")
        check_bool("progress", progress)
        losses: list[float] = []
        name = "MAML-RL" if self.is_rl else self.config.algorithm
        bar = progress_bar(range(num_meta_iterations), f"meta-train {name}", progress)
        for _ in bar:
            batch = _check_sample("task_batch.sample()", task_batch.sample())
            losses.append(self.meta_step(batch.to(self.device)))
            if self.is_rl:
                bar.set_postfix(post=f"{self.history['post_return'][-1]:.1f}")
            elif len(losses) % 25 == 0:
                bar.set_postfix(meta_loss=f"{np.mean(losses[-25:]):.3f}")
        return losses

    def meta_step(self, batch: TaskSample) -> float:
        """One outer update on a meta-batch (Finn et al. 2017, Algorithm 2, lines 3-10)."""
        if self.is_rl:
            return self._rl_meta_step(batch)
        if isinstance(batch, RLTaskSample):
            raise TypeError("RL task batches need a policy (MLPPolicy, SSMMetaPolicy, "
                            f"GRUPolicy); got the model {type(self.model).__name__}")
        if not isinstance(batch, TaskSample):
            raise TypeError(f"batch must be a TaskSample (e.g. TaskBatch(...).sample()), got "
                            f"{type(batch).__name__}")
        iteration = len(self.meta_losses)
        if self.config.algorithm == "reptile":
            loss = self._reptile_step(batch, iteration)
        else:
            meta_loss = maml_loss(
                self.model, self.params, self.loss_fn, batch.support, batch.query,
                self.config.inner_steps, self.inner_lr, self.config.first_order,
                self.config.vmap, adapt_names=self.adapt_names, forward_fn=self.forward_fn,
            )
            loss = training_step(self.optimizer, meta_loss, "meta_train", iteration,
                                 _divergence_cause(self._hint()))
        self.meta_losses.append(loss)
        return loss

    def _reptile_step(self, batch: TaskSample, iteration: int) -> float:
        fast_weights = adapt_tasks(
            self.model, self.params, self.loss_fn, batch.support, self.config.inner_steps,
            self.config.inner_lr, forward_fn=self.forward_fn, vmap=self.config.vmap,
        )
        with torch.no_grad():
            loss = float(np.mean([
                task_loss(self.model, fast, self.loss_fn, qx, qy, self.forward_fn).item()
                for fast, qx, qy in zip(fast_weights, *batch.query, strict=True)
            ]))
        raise_if_diverged(loss, "meta_train", iteration, _divergence_cause(self._hint()))
        pseudo_gradient = reptile_pseudo_gradient(self.params, fast_weights)
        for name, value in self.params.items():
            value.grad = pseudo_gradient[name]
        self.optimizer.step()
        return loss

    def _hint(self) -> str:
        return f"inner_lr={self.config.inner_lr}, meta_lr={self.config.meta_lr}"

    # ------------------------------------------------------------------ adaptation

    def adapt_to_new_task(
        self, support_data: Any, steps: int | None = None, **rl_options: Any
    ) -> Params | AdaptedPolicy:
        """Fast weights for one new task: ``steps`` (default ``inner_steps``) SGD steps.

        ``support_data`` is ``(inputs (K, ...), targets (K, ...))``. Uses the
        learned rates for Meta-SGD and adapts only the head for ANIL. Returns a
        detached dict; predict with ``trainer.predict(x, fast_params)``.

        For a policy see :meth:`_adapt_policy` (``support_data`` is the new
        task's rollouts or the task itself); it returns an ``AdaptedPolicy``.
        """
        if self.is_rl:
            unknown = sorted(set(rl_options) - {"trajectories", "family", "seed"})
            if unknown:
                raise TypeError(f"unknown adapt_to_new_task options {unknown} for a policy; "
                                "valid: ['family', 'seed', 'trajectories']")
            return self._adapt_policy(support_data, 1 if steps is None else steps,
                                      **rl_options)
        if rl_options:
            raise TypeError(f"unknown adapt_to_new_task options {sorted(rl_options)}")
        inputs, targets = _check_pair("support_data", support_data)
        support = _check_pair("support_data", (inputs.to(self.device), targets.to(self.device)),
                              finite=True, **self._data_checks())
        steps = self.config.inner_steps if steps is None else check_int("steps", steps, 0,
                                                                        hint=STEPS_HINT)
        fast = _adapt(self.model, self.params, self.loss_fn, support, steps,
                      self._detached_inner_lr(), True, self.adapt_names, self.forward_fn,
                      "autograd")
        return {name: value.detach() for name, value in fast.items()}

    def _adapt_policy(self, new_task_data: Any, steps: int, *, trajectories: int = 20,
                      family: Any = None, seed: int = 0) -> AdaptedPolicy:
        """The policy adapted to one new task by ``steps`` inner policy-gradient steps.

        ``new_task_data`` is either a :class:`~ssm_metarl.rl.Rollout` of the new
        task (its E columns all play that task; one step on it, so ``steps``
        must be 1), or the task itself (a goal (2,), or an ``RLTaskSample`` of
        one task): then each step first collects ``trajectories`` trajectories
        (trials of ``episodes_per_trial`` episodes) with the current fast
        weights, from ``family`` (default: the family meta-training used).
        Step size ``inner_lr``; the initialisation is left untouched.
        """
        steps = check_int("steps", steps)
        seed = check_int("seed", seed, 0)
        trials = self.config.episodes_per_trial
        fast = {name: value.detach() for name, value in self.params.items()}
        if isinstance(new_task_data, Rollout):
            if steps != 1:
                raise ValueError(f"a Rollout supports one inner step (steps=1), got {steps}; "
                                 "pass the task instead to collect fresh data per step")
            return AdaptedPolicy(self.model, self._policy_step(fast, new_task_data, trials))
        if isinstance(new_task_data, RLTaskSample):
            if new_task_data.num_tasks != 1:
                raise ValueError(f"new_task_data must hold one task, got "
                                 f"{new_task_data.num_tasks}")
            family, task = new_task_data.family, new_task_data.tasks[0]
        else:
            family = family or self.family
            if family is None:
                raise ValueError("adapting to a task needs its family: pass family=... (e.g. "
                                 "NavigationTasks()) or meta-train first")
            task = new_task_data
        check_family(family, self.model)
        task = family.check_task(task, "new_task_data")
        if trials > 1 and getattr(family, "goal_tolerance", None) is not None:
            raise ValueError(f"episodes_per_trial={trials} needs fixed-length episodes; the "
                             f"family has goal_tolerance={family.goal_tolerance}")
        trajectories = check_int("trajectories", trajectories)
        rng = np.random.default_rng(seed)
        env = family.make_env(trajectories)
        env.set_task(np.repeat(task[None], trajectories, axis=0))
        length = family.horizon if trials == 1 else rollout_length(family.horizon, trials)
        for _ in range(steps):
            rollout = collect_rollouts(env, self.model, length, params=fast,
                                       seed=int(rng.integers(2**31 - 1)),
                                       action_scale=family.action_scale,
                                       episodes_per_trial=trials)
            fast = self._policy_step(fast, rollout, trials)
        return AdaptedPolicy(self.model, fast)

    def _policy_step(self, fast: Params, rollout: Rollout, trials: int) -> Params:
        (task,) = policy_gradient_advantages(rollout, 1, self.config.gamma,
                                             self.config.baseline_reg, whole_trial=trials > 1)
        adapted = adapt_policy(self.model, fast, *task, self.config.inner_lr, False)
        return {name: value.detach() for name, value in adapted.items()}

    def predict(self, inputs: torch.Tensor, fast_params: Params | None = None) -> torch.Tensor:
        """Prediction (K, ...) of the meta-learned model, or of ``fast_params`` if given."""
        self._regression_only("predict", "act with trainer.adapt_to_new_task(...), an "
                              "AdaptedPolicy")
        check_tensor("inputs", inputs)
        params = self.params if fast_params is None else _check_model_params(
            self.model, fast_params, self.forward_fn, "fast_params")
        inputs = inputs.to(self.device)
        checks = self._data_checks()
        if checks["like"] is not None:
            check_like("inputs", inputs, checks["like"])
        width = _io_widths(self.model)[0] if checks["model"] is not None else None
        if width is not None and (inputs.ndim == 0 or inputs.shape[-1] != width):
            raise ValueError(f"inputs must have {width} features in its last dimension (the "
                             f"model's input width), got shape {tuple(inputs.shape)}")
        with torch.no_grad():
            return predict(self.model, params, inputs, self.forward_fn)

    def _data_checks(self) -> dict[str, Any]:
        """``model``/``like`` for :func:`_check_pair`: none with a ``forward_fn``."""
        if self.forward_fn is not None:
            return {"model": None, "like": None}
        like = next((value for value in self.params.values() if value.is_floating_point()), None)
        return {"model": self.model, "like": like}

    def adaptation_curve(
        self, tasks: Any, k_shot: int, max_steps: int, **kwargs: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`adaptation_curve` with this trainer's model, rates and adapted names."""
        self._regression_only("adaptation_curve", "score a policy with "
                              "ssm_metarl.meta_rl.evaluate_maml_rl")
        return adaptation_curve(
            self.model, self.params, tasks, k_shot, max_steps, self._detached_inner_lr(),
            loss_fn=self.loss_fn, adapt_names=self.adapt_names, forward_fn=self.forward_fn,
            **kwargs,
        )

    def _regression_only(self, method: str, instead: str) -> None:
        if self.is_rl:
            raise NotImplementedError(f"MetaMAMLTrainer.{method} covers regression models, not "
                                      f"the policy {type(self.model).__name__}; {instead}")

    def _detached_inner_lr(self) -> InnerLR:
        rate = self.inner_lr
        return {n: r.detach() for n, r in rate.items()} if isinstance(rate, Mapping) else rate

    # ------------------------------------------------------------------ checkpoints

    def save(self, path: str | os.PathLike) -> None:
        """Write config, model weights, Meta-SGD rates, optimizer state and loss history.

        The file is a :mod:`ssm_metarl.checkpoints` checkpoint of format
        ``ssm_metarl.MetaMAMLTrainer/1`` (regression models; a meta-trained
        policy is saved with :func:`ssm_metarl.system.save_policy`).
        """
        if self.is_rl:
            raise NotImplementedError("MetaMAMLTrainer.save covers regression models; save a "
                                      "meta-trained policy with ssm_metarl.system.save_policy")
        check_instance("path", path, (str, os.PathLike))
        folder = os.path.dirname(os.fspath(path)) or "."
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"path {os.fspath(path)!r}: the folder {folder!r} does not "
                                    "exist")
        save_checkpoint(path, _TRAINER_FORMAT, dataclasses.asdict(self.config), self.model, {
            "alpha": self.meta_sgd.alpha if self.meta_sgd is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "meta_losses": self.meta_losses,
        })

    @classmethod
    def load(
        cls, path: str | os.PathLike, model: nn.Module, *, loss_fn: LossFn = mse_loss,
        forward_fn: ForwardFn | None = None,
    ) -> MetaMAMLTrainer:
        """Rebuild a trainer saved by :meth:`save` around ``model`` (same architecture)."""
        check_instance("path", path, (str, os.PathLike))
        _check_model(model)
        try:
            checkpoint = load_checkpoint(path, _TRAINER_FORMAT, map_location="cpu")
            missing = sorted({"alpha", "optimizer", "meta_losses"} - set(checkpoint))
            if missing:
                raise ValueError(f"it lacks the entries {missing}")
            config = MAMLConfig(**checkpoint["config"])
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path} is not a MetaMAMLTrainer checkpoint ({error})") from error
        trainer = cls(model, config, loss_fn=loss_fn, forward_fn=forward_fn)
        try:
            check_state_dict(path, trainer.model.state_dict(), checkpoint["state_dict"])
        except ValueError as error:
            raise ValueError(f"{path} was saved for a different model architecture: {error}") \
                from error
        trainer.model.load_state_dict(checkpoint["state_dict"])
        if trainer.meta_sgd is not None:
            with torch.no_grad():
                for name, rate in trainer.meta_sgd.alpha.items():
                    rate.copy_(checkpoint["alpha"][name])
        trainer.optimizer.load_state_dict(checkpoint["optimizer"])
        trainer.meta_losses = list(checkpoint["meta_losses"])
        return trainer
