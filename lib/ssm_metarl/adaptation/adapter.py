"""Predict-then-update: a model's weights adapted online while it is being scored.

A forecaster meets dynamics that change at unknown times (the switching tasks
of :mod:`ssm_metarl.switching`). Frozen, it keeps the weights it was trained
with; adapted at test time it takes a few gradient steps on the transitions
it has just seen, as in GrBAL (Nagabandi et al. 2019, "Learning to Adapt in
Dynamic, Real-World Environments through Meta-Reinforcement Learning", Sec. 4:
adapt a dynamics model on the last M transitions before every prediction).
TENT (Wang et al. 2021) is the same loop with an unsupervised loss (``loss_fn``).

The protocol: at every step :class:`TestTimeAdapter` (1) predicts with its
current weights, (2) stores that prediction, the one that is scored, (3)
receives the true value, (4) takes ``steps_per_update`` clipped gradient
steps on the last ``window`` transitions, which now include the one just
revealed. No update ever sees the value it is about to be scored on: the
loop hands the update function a transition only after the prediction for
it is stored.

Dimension letters used in shapes:

====  =====================================================================
B     independent sequences, each with its own fast weights
N     steps (forecasting examples) of a sequence
F     features of one example
Q     target size of one example
M     adaptation window: transitions an update trains on
====  =====================================================================
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .._validate import (
    Params,
    check_bool,
    check_callable,
    check_finite,
    check_float,
    check_instance,
    check_int,
    check_like,
    check_params_fit,
    check_sized,
    check_tensor,
    raise_if_diverged,
)
from ..functional import (
    ForwardFn,
    LossFn,
    check_params,
    check_rates,
    clip_gradient_norm,
    mse_loss,
    predict,
    rate_of,
    select_params,
    sgd_step,
    vmap_or_loop,
)
from .forecasters import squared_errors

__all__ = [
    "OPTIMIZERS",
    "AdaptationTrace",
    "AdapterState",
    "TestTimeAdapter",
    "resolve_param_names",
]

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")


# ----------------------------------------------------------------------------- parameters


def resolve_param_names(params: Mapping[str, torch.Tensor], selection: Any) -> tuple[str, ...]:
    """Names in ``params`` picked by ``selection``: ``None`` (all), a name, or a list of
    names or prefixes (``"net.4"`` picks ``net.4.weight`` and ``net.4.bias``).

    :func:`ssm_metarl.functional.select_params` under the name ``params_to_adapt``.
    """
    check_instance("params", params, Mapping)
    if selection is not None and not isinstance(selection, str):
        if not isinstance(selection, Iterable):
            raise TypeError(f"params_to_adapt must be None, a name or a list of names/prefixes, "
                            f"got {type(selection).__name__} {selection!r:.40}")
        selection = list(selection)
        if not selection:
            raise ValueError(f"params_to_adapt must not be empty; valid names: {list(params)}")
    return select_params(params, selection, name="params_to_adapt")


# ----------------------------------------------------------------------------- state and trace


@dataclass
class AdapterState:
    """Everything the adapter carries from one step to the next, for B sequences.

    ``fast``: adapted parameters, each (B, ...); ``moments``: Adam's first and
    second moments (same shapes) and its step ``count``, or ``None`` for SGD;
    ``window_x`` (B, <=M, F) and ``window_y`` (B, <=M, Q): the revealed
    transitions the next update trains on; ``last_loss`` (B,): the window loss
    before the most recent update (NaN before any update).
    """

    fast: Params
    moments: dict[str, Any] | None
    window_x: torch.Tensor
    window_y: torch.Tensor
    last_loss: torch.Tensor
    steps_seen: int = 0


class AdaptationTrace(NamedTuple):
    """What :meth:`TestTimeAdapter.run` records at each of the N steps.

    - ``predictions`` (B, N, Q): the scored predictions, made before the target was seen.
    - ``errors`` (B, N): their squared errors (mean over Q).
    - ``window_losses`` (B, N): loss on the window before the update that followed
      prediction ``t`` (NaN when ``lr = 0``).
    - ``weight_drift`` (B, N): ``||theta_t - theta_0||`` over the adapted parameters,
      for the weights that made prediction ``t``.
    - ``step_seconds`` (N,): wall time of predict + update for the whole batch.
    - ``weights``: with ``record_weights=True``, name -> (B, N, ...) weights that
      made prediction ``t``; else ``None``.
    - ``final_params``: adapted parameters after the last update, name -> (B, ...).
    """

    predictions: torch.Tensor
    errors: torch.Tensor
    window_losses: torch.Tensor
    weight_drift: torch.Tensor
    step_seconds: np.ndarray
    weights: dict[str, torch.Tensor] | None
    final_params: Params


# ----------------------------------------------------------------------------- test-time adapter


class TestTimeAdapter:
    """Predict-then-update online adaptation of a model's weights (GrBAL-style).

    ``TestTimeAdapter(model, params_to_adapt=None, lr=1e-2, steps_per_update=1,
    grad_clip=1.0, window=32, reset_to_init=False, loss_fn=mse_loss,
    optimizer="sgd", forward_fn=None)``.

    At each step :meth:`run` predicts with the current weights, stores the
    prediction, reveals the target, then updates on the last ``window``
    transitions with ``steps_per_update`` steps of SGD (or Adam) whose
    gradients are clipped to joint norm ``grad_clip`` per sequence.

    - ``reset_to_init=False``: continual adaptation; each update starts from the
      previous fast weights (and Adam state).
    - ``reset_to_init=True``: GrBAL (Nagabandi et al. 2019, Alg. 2); each update
      starts again from the initial (ideally meta-learned) weights, so the
      weights used at step ``t`` are ``init`` adapted on exactly transitions
      ``t - M, ..., t - 1``.
    - ``lr = 0``: no update at all (the frozen model), at the cost of prediction only.
    - ``lr`` a dict name -> tensor of that parameter's shape: one learned rate per
      weight (Meta-SGD, Li et al. 2017), e.g. ``trainer.meta_sgd.alpha``.

    ``params_to_adapt`` is ``None`` (all), or names / prefixes of
    ``model.named_parameters()``; the rest stay at their initial values.
    ``params`` (default: a detached copy of the model's parameters) is the
    initial point; the model's own weights are never modified, because every
    forward is ``functional_call(model, {...fast weights...}, x)``.

    Batched: the B sequences of ``run`` each have their own fast weights; the
    per-sequence gradients run under ``torch.func.vmap`` (``vmap=True``), or in
    a Python loop over sequences if the model cannot be vmapped (with a warning;
    :func:`ssm_metarl.functional.vmap_or_loop`).
    The model (or ``forward_fn(model, params, x)``, as in
    :func:`ssm_metarl.functional.predict`) therefore sees one sequence at a time:
    features (F,) when predicting and the window (M, F) when adapting.
    """

    __test__ = False  # a class named Test* is not a pytest test class

    def __init__(
        self,
        model: nn.Module,
        params_to_adapt: str | Sequence[str] | None = None,
        *,
        lr: float = 1e-2,
        steps_per_update: int = 1,
        grad_clip: float | None = 1.0,
        window: int = 32,
        reset_to_init: bool = False,
        loss_fn: LossFn = mse_loss,
        optimizer: str = "sgd",
        forward_fn: ForwardFn | None = None,
        params: Mapping[str, torch.Tensor] | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        vmap: bool = True,
    ) -> None:
        check_instance("model", model, nn.Module)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable (prediction, target) -> scalar, "
                            f"got {type(loss_fn).__name__}")
        check_callable("forward_fn", forward_fn, optional=True, what="(model, params, x)")
        self.model, self.loss_fn, self.forward_fn = model, loss_fn, forward_fn
        self.optimizer = optimizer
        if params is None:
            source = dict(model.named_parameters())
            if not source:
                raise ValueError(f"model {type(model).__name__} has no parameters to adapt; "
                                 "pass params (a dict name -> tensor)")
        else:
            source = check_params(params)
            if forward_fn is None:
                check_params_fit("params", source, model, dtype_device=False)
        self.init_params = {name: p.detach().clone() for name, p in source.items()}
        self.adapt_names = resolve_param_names(self.init_params, params_to_adapt)
        self.lr = self._check_lr(lr)
        self.steps_per_update = check_int("steps_per_update", steps_per_update)
        self.grad_clip = None if grad_clip is None else check_float(
            "grad_clip", grad_clip, minimum=0, strict=True)
        self.window = check_int("window", window)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(
                isinstance(beta, (int, float, np.integer, np.floating))
                and not isinstance(beta, bool) and 0 <= beta < 1 for beta in betas)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        self.reset_to_init = check_bool("reset_to_init", reset_to_init)
        self.betas = tuple(betas)
        self.eps = check_float("eps", eps, minimum=0, strict=True)
        self.vmap = check_bool("vmap", vmap)
        self._like = next((p for p in self.init_params.values() if p.is_floating_point()),
                          next(iter(self.init_params.values())))
        widths = (getattr(model, "in_features", None), getattr(model, "out_features", None))
        self._widths = tuple(w if isinstance(w, int) and forward_fn is None else None
                             for w in widths)

    def _check_lr(self, lr: Any) -> float | Params:
        """A float >= 0, or per adapted parameter a rate tensor (detached, in its dtype)."""
        if not isinstance(lr, Mapping):
            return check_rates(check_float("lr", lr, minimum=0), self.init_params,
                               self.adapt_names, name="lr")
        rates = check_rates(lr, self.init_params, self.adapt_names, name="lr")
        return {n: r.detach().to(self.init_params[n]) for n, r in rates.items()}

    # ------------------------------------------------------------------ per-sequence maths

    @property
    def frozen_params(self) -> Params:
        """The parameters no update touches (shared by all sequences)."""
        return {n: p for n, p in self.init_params.items() if n not in self.adapt_names}

    def _predict_one(self, adapted: Params, frozen: Params, x: torch.Tensor) -> torch.Tensor:
        return predict(self.model, {**frozen, **adapted}, x, self.forward_fn)

    def _gradient_one(self, adapted: Params, frozen: Params, x: torch.Tensor, y: torch.Tensor):
        """Clipped ``grad L_window`` and ``L_window`` of one sequence's fast weights."""

        def window_loss(weights: Params) -> torch.Tensor:
            return self.loss_fn(self._predict_one(weights, frozen, x), y)

        grads, loss = torch.func.grad_and_value(window_loss)(adapted)
        return clip_gradient_norm(grads, self.grad_clip), loss

    def _per_sequence(self, fn: Callable, adapted: Params, *batched: torch.Tensor):
        """``fn(adapted_b, frozen, *batched_b)`` for every sequence b, stacked on dim 0.

        Under ``torch.func.vmap`` if ``self.vmap``, else (or if the model cannot
        be vmapped) in a loop over sequences: :func:`~ssm_metarl.functional.vmap_or_loop`.
        """

        def one_sequence(*args: Any, engine: str) -> Any:  # both engines: the same maths
            return fn(*args)

        return vmap_or_loop(one_sequence, (adapted, self.frozen_params, *batched),
                            (0, None, *([0] * len(batched))), vmap=self.vmap, model=self.model,
                            unit="sequence")

    def _optimizer_step(self, fast: Params, grads: Params, moments: dict | None):
        """``theta <- theta - lr g`` (SGD) or the Adam update, elementwise per sequence."""
        if self.optimizer == "sgd":
            return sgd_step(fast, grads, self.lr), None
        beta1, beta2 = self.betas
        count = moments["count"] + 1
        first = {n: beta1 * moments["m"][n] + (1 - beta1) * g for n, g in grads.items()}
        second = {n: beta2 * moments["v"][n] + (1 - beta2) * g**2 for n, g in grads.items()}
        step = {n: (first[n] / (1 - beta1**count))
                / (torch.sqrt(second[n] / (1 - beta2**count)) + self.eps) for n in fast}
        new_moments = {"m": first, "v": second, "count": count}
        return {n: fast[n] - rate_of(self.lr, n) * step[n] for n in fast}, new_moments

    @property
    def updates(self) -> bool:
        """False for the frozen model (``lr = 0``): then :meth:`observe` only slides the window."""
        return isinstance(self.lr, Mapping) or self.lr > 0

    # ------------------------------------------------------------------ streaming API

    def _initial_fast(self, batch: int) -> tuple[Params, dict | None]:
        fast = {n: self.init_params[n].expand(batch, *self.init_params[n].shape).clone()
                for n in self.adapt_names}
        if self.optimizer == "sgd":
            return fast, None
        zeros = {n: torch.zeros_like(w) for n, w in fast.items()}
        return fast, {"m": zeros, "v": dict(zeros), "count": 0}

    def init_state(self, batch: int, feature_dim: int, target_dim: int) -> AdapterState:
        """Fresh state for ``batch`` sequences: initial weights and an empty window."""
        check_int("batch", batch)
        for name, size, width, what in (("feature_dim", feature_dim, self._widths[0], "in"),
                                        ("target_dim", target_dim, self._widths[1], "out")):
            if check_int(name, size) != (size if width is None else width):
                raise ValueError(f"{name} must be the model's {what}_features = {width}, "
                                 f"got {size}")
        return self._init_state(int(batch), int(feature_dim), int(target_dim))

    def _init_state(self, batch: int, feature_dim: int, target_dim: int) -> AdapterState:
        fast, moments = self._initial_fast(batch)
        like = next(iter(self.init_params.values()))
        empty = like.new_zeros(batch, 0, feature_dim)
        return AdapterState(fast, moments, empty, like.new_zeros(batch, 0, target_dim),
                            like.new_full((batch,), math.nan))

    def _check_state(self, state: Any) -> AdapterState:
        """``state`` must be an :class:`AdapterState` of this adapter (its adapted names)."""
        check_instance("state", state, AdapterState)
        if not isinstance(state.fast, Mapping) or set(state.fast) != set(self.adapt_names):
            got = list(state.fast) if isinstance(state.fast, Mapping) else type(state.fast)
            raise ValueError(f"state must come from this adapter's init_state (fast weights "
                             f"{list(self.adapt_names)}), got fast weights {got}")
        return state

    def _check_data(self, name: str, value: Any, letters: tuple[str, ...],
                    sizes: dict) -> torch.Tensor:
        """A (B, ..., F) or (B, ..., Q) tensor agreeing with ``sizes``; the params' dtype and
        device unless a ``forward_fn`` takes the inputs; finite."""
        value = check_sized(name, value, letters, sizes)
        if self.forward_fn is None:
            check_like(name, value, self._like)
        return check_finite(name, value)

    def _step_sizes(self, state: AdapterState) -> dict:
        batch, _, features = state.window_x.shape
        return {"B": (batch, "state"), "F": (features, "state"),
                "Q": (state.window_y.shape[2], "state")}

    def predict(self, state: AdapterState, x: torch.Tensor) -> torch.Tensor:
        """Step (1): predictions (B, Q) for features ``x`` (B, F) with the current weights."""
        state = self._check_state(state)
        x = self._check_data("x", x, ("B", "F"), self._step_sizes(state))
        return self._predict(state, x)

    def _predict(self, state: AdapterState, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._per_sequence(self._predict_one, state.fast, x)

    def observe(self, state: AdapterState, x: torch.Tensor, y: torch.Tensor) -> AdapterState:
        """Steps (3)-(4): reveal one transition ``x`` (B, F) -> ``y`` (B, Q), then update.

        The window keeps the last ``window`` revealed transitions. Raises
        ``FloatingPointError`` (step, loss, likely cause) on a NaN/inf window loss.
        """
        state = self._check_state(state)
        sizes = self._step_sizes(state)
        x = self._check_data("x", x, ("B", "F"), sizes)
        y = self._check_data("y", y, ("B", "Q"), sizes)
        return self._observe(state, x, y)

    def _observe(self, state: AdapterState, x: torch.Tensor, y: torch.Tensor) -> AdapterState:
        window_x = torch.cat([state.window_x, x[:, None]], dim=1)[:, -self.window:]
        window_y = torch.cat([state.window_y, y[:, None]], dim=1)[:, -self.window:]
        fast, moments, first_loss = state.fast, state.moments, state.last_loss
        if self.updates:
            if self.reset_to_init:
                fast, moments = self._initial_fast(x.shape[0])
            for step in range(self.steps_per_update):
                grads, loss = self._per_sequence(self._gradient_one, fast, window_x, window_y)
                self._raise_if_diverged(loss, state.steps_seen)
                first_loss = loss.detach() if step == 0 else first_loss
                fast, moments = self._optimizer_step(fast, grads, moments)
            fast = {n: w.detach() for n, w in fast.items()}
        return AdapterState(fast, moments, window_x, window_y, first_loss, state.steps_seen + 1)

    def _raise_if_diverged(self, loss: torch.Tensor, step: int) -> None:
        """Stop at the first sequence whose window loss (B,) is NaN/inf."""
        finite = torch.isfinite(loss)
        if not finite.all():
            bad = int(torch.nonzero(~finite)[0])
            raise_if_diverged(
                loss[bad], "test-time adaptation", step,
                f"lr={self.lr} too large for this model (grad_clip={self.grad_clip}); lower lr "
                "or set grad_clip, or check the data for NaN/inf.",
                quantity=f"window loss of sequence {bad}", step_word="step")

    def weight_drift(self, state: AdapterState) -> torch.Tensor:
        """``||theta - theta_0||`` (B,) over the adapted parameters."""
        return self._weight_drift(self._check_state(state))

    def _weight_drift(self, state: AdapterState) -> torch.Tensor:
        squares = [((w - self.init_params[n]) ** 2).flatten(1).sum(1)
                   for n, w in state.fast.items()]
        return torch.sqrt(sum(squares))

    # ------------------------------------------------------------------ whole sequences

    def run(
        self, inputs: torch.Tensor, targets: torch.Tensor, *, record_weights: bool = False
    ) -> AdaptationTrace:
        """Predict-then-update over ``inputs`` (B, N, F) with ``targets`` (B, N, Q).

        Step ``t`` predicts from ``inputs[:, t]`` alone and only then hands
        ``(inputs[:, t], targets[:, t])`` to :meth:`observe`; nothing after
        index ``t`` is ever passed on, so prediction ``t`` cannot depend on
        ``targets[:, t:]``. Returns an :class:`AdaptationTrace`.
        """
        record_weights = check_bool("record_weights", record_weights)
        sizes = {"F": (self._widths[0], "the model's in_features"),
                 "Q": (self._widths[1], "the model's out_features")}
        sizes = {letter: size for letter, size in sizes.items() if size[0] is not None}
        inputs = check_tensor("inputs", inputs, 3, "(B, N, F)")
        targets = check_tensor("targets", targets, 3, "(B, N, Q)")
        if inputs.shape[:2] != targets.shape[:2]:
            raise ValueError(f"inputs and targets must share (B, N), got {tuple(inputs.shape)} "
                             f"and {tuple(targets.shape)}")
        inputs = self._check_data("inputs", inputs, ("B", "N", "F"), sizes)
        targets = self._check_data("targets", targets, ("B", "N", "Q"), sizes)
        if inputs.shape[0] == 0 or inputs.shape[1] == 0:
            raise ValueError(f"inputs and targets must hold at least one sequence and one step, "
                             f"got inputs of shape {tuple(inputs.shape)}")
        state = self._init_state(inputs.shape[0], inputs.shape[2], targets.shape[2])
        records: dict[str, list] = {"pred": [], "loss": [], "drift": [], "seconds": []}
        weights: dict[str, list] = {n: [] for n in self.adapt_names}
        for t in range(inputs.shape[1]):
            start = time.perf_counter()
            records["pred"].append(self._predict(state, inputs[:, t]))
            records["drift"].append(self._weight_drift(state))
            for name in weights if record_weights else ():
                weights[name].append(state.fast[name])
            state = self._observe(state, inputs[:, t], targets[:, t])
            records["loss"].append(state.last_loss)
            records["seconds"].append(time.perf_counter() - start)
        predictions = torch.stack(records["pred"], dim=1)
        return AdaptationTrace(
            predictions, squared_errors(predictions, targets),
            torch.stack(records["loss"], dim=1), torch.stack(records["drift"], dim=1),
            np.asarray(records["seconds"]),
            {n: torch.stack(w, dim=1) for n, w in weights.items()} if record_weights else None,
            state.fast,
        )

