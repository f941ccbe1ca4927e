"""Test-time adaptation: online weight updates while a model is being scored.

A forecaster meets dynamics that change at unknown times (the switching tasks
of :mod:`ssm_metarl.tasks`). Frozen, it keeps the weights it was trained with;
adapted at test time it takes a few gradient steps on the transitions it has
just seen, as in GrBAL (Nagabandi et al. 2019, "Learning to Adapt in Dynamic,
Real-World Environments through Meta-Reinforcement Learning", Sec. 4: adapt a
dynamics model on the last M transitions before every prediction). TENT (Wang
et al. 2021) is the same loop with an unsupervised loss (``loss_fn``).

Dimension letters used in shapes:

====  =====================================================================
B     independent sequences, each with its own fast weights
L     time steps of a raw sequence (observations ``y``, inputs ``u``)
H     history: past observations a next-step model sees
N     forecasting examples per sequence, ``N = L - H``
F     features of one example, ``F = H Q + H P``
Q     observation size (1 for the switching tasks)
P     input size (1 for the switching tasks)
M     adaptation window: transitions an update trains on
E     switch events usable for switch-aligned metrics
Dk    key (and query) size of linear attention; Dv value size
C     candidate action sequences of model-predictive control
T     planning horizon; S state size; A action size
D     width of the in-context SSM forecaster; W context length it may use
====  =====================================================================

The forecasting protocol (one-step-ahead)
-----------------------------------------
At time ``t`` the forecaster predicts ``y_t`` from the ``H`` previous
observations ``y_{t-H}, ..., y_{t-1}`` and the ``H`` most recent inputs
``u_{t-H+1}, ..., u_t`` (inputs are known: they are the forces we apply).
:func:`next_step_data` builds these examples; example ``n`` targets time
``t = n + H``. :class:`TestTimeAdapter` then runs predict-then-update: at
every step it (1) predicts with its current weights, (2) stores that
prediction, the one that is scored, (3) receives the true value, (4) takes
``steps_per_update`` clipped gradient steps on the last ``window``
transitions, which now include the one just revealed. No update ever sees
the value it is about to be scored on: the loop hands the update function a
transition only after the prediction for it is stored.

Adapting through the state instead of the weights (ReBAL, same paper):
:class:`InContextSSMForecaster`, a selective-SSM forecaster meta-trained across
regimes by :func:`fit_in_context`. In control: :func:`pendulum_mpc_episodes`
(MPC on a learned model, frozen or adapted online); a MAML-RL policy that
keeps adapting while its goal moves is
:func:`ssm_metarl.meta_rl.evaluate_maml_rl` with one goal per round.

The linear-attention = online-gradient identity (TTT layers, Sun et al. 2024,
"Learning to (Learn at Test Time)", Sec. 2) is here too: linear attention is
an SSM with ``A = I`` and input ``v_t k_t^T``, and the same state is
gradient descent on ``||W k_t - v_t||^2`` with every gradient taken at
``W_0 = 0``; taking it at the current ``W`` gives the delta rule (DeltaNet),
an SSM with the input-dependent transition ``A_t = I - beta_t k_t k_t^T``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .maml import mse_loss, predict, progress_bar, regression_mlp
from .results import mean_ci
from .scan import scan
from .ssm import SelectiveSSM, SelectiveState
from .tasks import pendulum_step

Params = dict[str, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ForwardFn = Callable[[nn.Module, Params, torch.Tensor], Any]

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
WINDOWS: tuple[str, ...] = ("before", "shock", "recovery", "steady")
_VMAP_ERRORS = (RuntimeError, ValueError, NotImplementedError)


# ----------------------------------------------------------------------------- validation


def _check_tensor(name: str, value: Any, ndim: int, shape_text: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shape_text}, "
                        f"got {type(value).__name__}")
    if value.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_text}, got {tuple(value.shape)}")
    return value


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _check_float(name: str, value: Any, *, positive: bool) -> float:
    bound = "> 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _check_rates(lr: Any, params: Params, names: Sequence[str]) -> float | Params:
    """``lr``: a finite float >= 0, or one rate tensor per adapted parameter (Meta-SGD)."""
    if not isinstance(lr, Mapping):
        return _check_float("lr", lr, positive=False)
    missing = [n for n in names if n not in lr]
    if missing:
        raise ValueError(f"lr as a dict of per-parameter rates must cover every adapted "
                         f"parameter; missing {missing}")
    rates = {}
    for name in names:
        rate = torch.as_tensor(lr[name]).detach().to(params[name])
        if rate.shape != params[name].shape or not bool(torch.isfinite(rate).all()):
            raise ValueError(f"lr[{name!r}] must be a finite tensor of shape "
                             f"{tuple(params[name].shape)}, got {tuple(rate.shape)}")
        rates[name] = rate
    return rates


# ----------------------------------------------------------------------------- forecasting data


class NextStepData(NamedTuple):
    """One-step-ahead forecasting examples built by :func:`next_step_data`.

    ``inputs`` (B, N, F) and ``targets`` (B, N, Q); example ``n`` predicts the
    observation at time ``n + history`` of the raw sequence of ``length`` steps.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    history: int
    length: int

    def to_time_frame(self, values: torch.Tensor) -> torch.Tensor:
        """Place per-example ``values`` (B, N, ...) at their target times: (B, L, ...).

        The first ``history`` steps have no prediction and hold NaN, so errors
        line up with the switch times of the raw sequence.
        """
        pad = values.new_full((values.shape[0], self.history, *values.shape[2:]), math.nan)
        return torch.cat([pad, values], dim=1)


def next_step_data(y: torch.Tensor, u: torch.Tensor, history: int) -> NextStepData:
    """Examples ``(y_{t-H..t-1}, u_{t-H+1..t}) -> y_t`` for ``t = H, ..., L - 1``.

    ``y`` (B, L, Q), ``u`` (B, L, P) -> :class:`NextStepData` with inputs
    (B, L - H, H Q + H P): first the ``H`` past observations (oldest first,
    each of size Q), then the ``H`` inputs ending with ``u_t``.
    """
    y = _check_tensor("y", y, 3, "(B, L, Q)")
    u = _check_tensor("u", u, 3, "(B, L, P)")
    if y.shape[:2] != u.shape[:2]:
        raise ValueError(f"y and u must share (B, L), got {tuple(y.shape)} and {tuple(u.shape)}")
    length = y.shape[1]
    if _check_int("history", history, 1) >= length:
        raise ValueError(f"history must be < the sequence length {length}, got {history}")
    past_y = y.unfold(1, history, 1)[:, :-1]  # (B, N, Q, H): y_{t-H..t-1}
    recent_u = u.unfold(1, history, 1)[:, 1:]  # (B, N, P, H): u_{t-H+1..t}
    features = [past_y.transpose(-1, -2).flatten(2), recent_u.transpose(-1, -2).flatten(2)]
    return NextStepData(torch.cat(features, dim=-1), y[:, history:], history, length)


class NextStepMLP(nn.Module):
    """Predict ``y_t`` from the window of :func:`next_step_data`: (..., F) -> (..., Q).

    An MLP (``hidden`` widths, ReLU; ``hidden=()`` is a linear ARX model). With
    ``residual=True`` (default) it predicts the change ``y_t - y_{t-1}`` and adds
    ``y_{t-1}`` back, so zero output weights give the persistence forecast and
    a gradient step only has to learn a correction. A damped oscillator is an
    exact ARX(2, 2) model in noise-free data, so a history of a few steps can
    predict it once the coefficients are right; adaptation re-fits them after
    a switch. Parameters are named ``net.0.weight``, ...; :attr:`head` is the
    last layer's prefix (adapt only it with ``params_to_adapt=[model.head]``).
    """

    def __init__(
        self,
        history: int,
        obs_dim: int = 1,
        input_dim: int = 1,
        hidden: Sequence[int] = (32, 32),
        *,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.history = _check_int("history", history, 1)
        self.obs_dim = _check_int("obs_dim", obs_dim, 1)
        self.input_dim = _check_int("input_dim", input_dim, 0)
        self.residual = residual
        self.net = regression_mlp(history * (obs_dim + input_dim), tuple(hidden), obs_dim)
        self.head = f"net.{2 * len(tuple(hidden))}"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        change = self.net(features)
        if not self.residual:
            return change
        last = (self.history - 1) * self.obs_dim
        return features[..., last : last + self.obs_dim] + change


def persistence_forecast(y: torch.Tensor) -> torch.Tensor:
    """The trivial baseline "predict the last observation again": ``y_hat_t = y_{t-1}``.

    ``y`` (B, L, Q) -> (B, L, Q), NaN at ``t = 0`` (nothing to repeat yet).
    """
    y = _check_tensor("y", y, 3, "(B, L, Q)")
    return torch.cat([torch.full_like(y[:, :1], math.nan), y[:, :-1]], dim=1)


def squared_errors(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Squared error per step, averaged over the Q observation entries: (B, L, Q) -> (B, L)."""
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions and targets must have the same shape, got "
                         f"{tuple(predictions.shape)} and {tuple(targets.shape)}")
    return ((predictions - targets) ** 2).mean(dim=-1)


def fit_next_step(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    iterations: int = 2000,
    lr: float = 3e-3,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train ``model`` in place by Adam on minibatches of examples; return the losses.

    ``inputs`` (..., F), ``targets`` (..., Q): every leading dimension is
    pooled into one regression set. This gives the frozen model (trained on
    many systems) and the within-class oracle (trained on the post-switch
    system alone). Stops with ``FloatingPointError`` on a NaN/inf loss.
    """
    x, y = inputs.reshape(-1, inputs.shape[-1]), targets.reshape(-1, targets.shape[-1])
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"inputs and targets must share leading dims, got "
                         f"{tuple(inputs.shape)} and {tuple(targets.shape)}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=_check_float("lr", lr, positive=True))
    losses = []
    for iteration in progress_bar(range(_check_int("iterations", iterations, 0)), "fit",
                                  progress):
        rows = torch.randint(0, x.shape[0], (batch_size,), generator=generator).to(x.device)
        loss = mse_loss(model(x[rows]), y[rows])
        losses.append(_training_step(optimizer, loss, "fit_next_step", iteration, lr))
    return losses


def _training_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, what: str,
                   iteration: int, lr: float) -> float:
    """One optimiser step on ``loss``; a NaN/inf loss stops ``what`` with a clear error."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{what} stopped at iteration {iteration}: loss is "
                                 f"{loss.item()}. Likely cause: lr={lr} too large.")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


# ----------------------------------------------------------------------------- in-context SSM


class InContextSSMForecaster(nn.Module):
    """A next-step forecaster that adapts through its recurrent state alone (ReBAL-like).

    Nagabandi et al. (2019), Sec. 4 ("recurrence-based adaptive learner"): a
    recurrent model meta-trained across regimes infers the current one from
    the transitions it has seen, with no weight update at test time. Here the
    recurrence is a stack of ``num_layers`` :class:`~ssm_metarl.ssm.SelectiveSSM`
    (Mamba) blocks, pre-norm and residual: the input-dependent transition lets
    the state forget an old regime after a switch.

    Input: the examples of :func:`next_step_data` as one sequence per row,
    ``features`` (B, N, F) -> predictions (B, N, Q). Prediction ``n`` depends
    on examples ``0..n`` only (causal), and example ``n`` holds observations
    up to ``y_{t-1}``, so no prediction sees its own target. Residual like
    :class:`NextStepMLP`: it predicts ``y_t - y_{t-1}``.
    """

    def __init__(self, history: int, obs_dim: int = 1, input_dim: int = 1, *,
                 d_model: int = 32, d_state: int = 16, num_layers: int = 2) -> None:
        super().__init__()
        self.history = _check_int("history", history, 1)
        self.obs_dim = _check_int("obs_dim", obs_dim, 1)
        features = history * (obs_dim + _check_int("input_dim", input_dim, 0))
        self.encoder = nn.Linear(features, _check_int("d_model", d_model, 1))
        # dt in [0.01, 0.5]: memories from a few to a few hundred steps
        self.blocks = nn.ModuleList(
            SelectiveSSM(d_model, _check_int("d_state", d_state, 1), dt_min=0.01, dt_max=0.5)
            for _ in range(_check_int("num_layers", num_layers, 1)))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(num_layers))
        self.head = nn.Linear(d_model, obs_dim)

    def _readout(self, features: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """``y_{t-1}`` (the newest past observation in the features) + head(hidden)."""
        last = (self.history - 1) * self.obs_dim
        return features[..., last : last + self.obs_dim] + self.head(hidden)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = _check_tensor("features", features, 3, "(B, N, F)")
        hidden = self.encoder(features)  # (B, N, D)
        for block, norm in zip(self.blocks, self.norms, strict=True):
            hidden = hidden + block(norm(hidden))[0]
        return self._readout(features, hidden)

    def init_state(self, batch: int) -> list[SelectiveState]:
        """Zero recurrent state: one :class:`~ssm_metarl.ssm.SelectiveState` per block."""
        return [block.init_state(batch) for block in self.blocks]

    def step(
        self, features_t: torch.Tensor, state: list[SelectiveState]
    ) -> tuple[torch.Tensor, list[SelectiveState]]:
        """One streaming step: ``features_t`` (B, F) -> (prediction (B, Q), new state).

        Equals :meth:`forward` on the whole past, one example at a time, at a
        cost per step that does not grow with the length of the past: how a
        deployed forecaster runs (the state carries all the evidence).
        """
        features_t = _check_tensor("features_t", features_t, 2, "(B, F)")
        hidden = self.encoder(features_t)  # (B, D)
        new_state = []
        for block, norm, block_state in zip(self.blocks, self.norms, state, strict=True):
            output, block_state = block.step(norm(hidden), block_state)
            hidden = hidden + output
            new_state.append(block_state)
        return self._readout(features_t, hidden), new_state


def fit_in_context(
    model: nn.Module,
    tasks: Any,
    *,
    iterations: int = 1000,
    batch_size: int = 16,
    lr: float = 3e-3,
    progress: bool = True,
) -> list[float]:
    """Meta-train a sequence forecaster across regimes; return the loss per iteration.

    Each iteration draws ``batch_size`` fresh switching sequences
    (``tasks.sample(batch_size)`` -> :class:`~ssm_metarl.tasks.SwitchingSample`),
    builds :func:`next_step_data` with ``model.history`` and takes one Adam step
    on the mean one-step squared error over every step of every sequence: the
    ReBAL objective (Nagabandi et al. 2019, Eq. 3 with the recurrent state as the
    adapted quantity). Stops with ``FloatingPointError`` on a NaN/inf loss.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=_check_float("lr", lr, positive=True))
    losses = []
    for iteration in progress_bar(range(_check_int("iterations", iterations, 0)),
                                  "meta-train in-context", progress):
        sample = tasks.sample(_check_int("batch_size", batch_size, 1))
        data = next_step_data(sample.y, sample.u, model.history)
        loss = mse_loss(model(data.inputs), data.targets)
        losses.append(_training_step(optimizer, loss, "fit_in_context", iteration, lr))
    return losses


def context_limited_predictions(
    model: nn.Module, features: torch.Tensor, context: int, *, chunk_size: int = 256
) -> torch.Tensor:
    """Predictions (B, N, Q) of a sequence forecaster that sees at most ``context`` examples.

    Prediction ``n`` comes from running ``model`` afresh (zero state) on examples
    ``max(0, n - W + 1), ..., n`` (``W = context``), so the state can carry at
    most ``W`` steps of evidence about the regime; ``W >= N`` is the whole past.
    ``features`` (B, N, F). Runs the windows as (B (N - W + 1), W, F), at most
    ``chunk_size`` windows per call to bound memory.
    """
    features = _check_tensor("features", features, 3, "(B, N, F)")
    batch, length = features.shape[:2]
    if _check_int("context", context, 1) >= length:
        return model(features)
    # predictions 0..W-2 see the whole (short) past: one causal pass gives them
    early = model(features[:, : context - 1]) if context > 1 else features[:, :0, :0]
    windows = features.unfold(1, context, 1).permute(0, 1, 3, 2)  # (B, N-W+1, W, F)
    windows = windows.reshape(-1, context, features.shape[-1])
    late = torch.cat([model(part)[:, -1] for part in windows.split(
        _check_int("chunk_size", chunk_size, 1))])
    late = late.reshape(batch, length - context + 1, -1)
    return torch.cat([early.reshape(batch, -1, late.shape[-1]), late], dim=1)


# ----------------------------------------------------------------------------- test-time adapter


def resolve_param_names(params: Mapping[str, torch.Tensor], selection: Any) -> tuple[str, ...]:
    """Names in ``params`` picked by ``selection``: ``None`` (all), a name, or a list of
    names or prefixes (``"net.4"`` picks ``net.4.weight`` and ``net.4.bias``)."""
    if selection is None:
        return tuple(params)
    selection = [selection] if isinstance(selection, str) else list(selection)
    if not selection:
        raise ValueError(f"params_to_adapt must not be empty; valid names: {list(params)}")

    def picks(name: str, entry: str) -> bool:
        return name == entry or name.startswith(entry + ".")

    unknown = [e for e in selection if not any(picks(name, e) for name in params)]
    if unknown:
        raise ValueError(f"params_to_adapt has unknown names or prefixes {unknown}; "
                         f"valid names: {list(params)}")
    return tuple(name for name in params if any(picks(name, e) for e in selection))


def clip_gradient_norm(grads: Params, max_norm: float | None) -> Params:
    """Scale ``grads`` so their joint L2 norm is at most ``max_norm`` (``None``: unchanged).

    The rule of ``torch.nn.utils.clip_grad_norm_``: multiply by
    ``min(1, max_norm / (norm + 1e-6))``. Written without data-dependent
    branches so that it runs per sequence under ``torch.func.vmap``.
    """
    if max_norm is None:
        return grads
    norm = torch.sqrt(sum((g**2).sum() for g in grads.values()))
    scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    return {name: g * scale for name, g in grads.items()}


def _stack_results(results: list) -> Any:
    """Stack a list of per-sequence results (tensors, or tuples/dicts of them) on dim 0."""
    first = results[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(results)
    if isinstance(first, Mapping):
        return {key: torch.stack([r[key] for r in results]) for key in first}
    return tuple(_stack_results(list(parts)) for parts in zip(*results, strict=True))


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
    a Python loop over sequences if the model cannot be vmapped (with a warning).
    The model (or ``forward_fn(model, params, x)``, as in
    :func:`ssm_metarl.maml.predict`) therefore sees one sequence at a time:
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
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable (prediction, target) -> scalar, "
                            f"got {type(loss_fn).__name__}")
        self.model, self.loss_fn, self.forward_fn = model, loss_fn, forward_fn
        self.optimizer = optimizer
        source = dict(model.named_parameters()) if params is None else dict(params)
        self.init_params = {name: p.detach().clone() for name, p in source.items()}
        self.adapt_names = resolve_param_names(self.init_params, params_to_adapt)
        self.lr = _check_rates(lr, self.init_params, self.adapt_names)
        self.steps_per_update = _check_int("steps_per_update", steps_per_update, 1)
        self.grad_clip = None if grad_clip is None else _check_float("grad_clip", grad_clip,
                                                                     positive=True)
        self.window = _check_int("window", window, 1)
        if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        self.reset_to_init, self.betas = bool(reset_to_init), tuple(betas)
        self.eps = _check_float("eps", eps, positive=True)
        self.vmap = vmap

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
        """``fn(adapted_b, frozen, *batched_b)`` for every sequence b, stacked on dim 0."""
        frozen = self.frozen_params
        if self.vmap:
            try:
                in_dims = (0, None, *([0] * len(batched)))
                return torch.func.vmap(fn, in_dims=in_dims)(adapted, frozen, *batched)
            except _VMAP_ERRORS as error:
                warnings.warn(f"TestTimeAdapter: the model cannot run under torch.func.vmap "
                              f"({type(error).__name__}: {error}); looping over sequences "
                              "instead (same numbers, slower).", stacklevel=3)
                self.vmap = False
        results = [fn({n: w[b] for n, w in adapted.items()}, frozen, *(t[b] for t in batched))
                   for b in range(batched[0].shape[0])]
        return _stack_results(results)

    def _optimizer_step(self, fast: Params, grads: Params, moments: dict | None):
        """``theta <- theta - lr g`` (SGD) or the Adam update, elementwise per sequence."""
        if self.optimizer == "sgd":
            return {n: fast[n] - self._rate(n) * grads[n] for n in fast}, None
        beta1, beta2 = self.betas
        count = moments["count"] + 1
        first = {n: beta1 * moments["m"][n] + (1 - beta1) * g for n, g in grads.items()}
        second = {n: beta2 * moments["v"][n] + (1 - beta2) * g**2 for n, g in grads.items()}
        step = {n: (first[n] / (1 - beta1**count))
                / (torch.sqrt(second[n] / (1 - beta2**count)) + self.eps) for n in fast}
        new_moments = {"m": first, "v": second, "count": count}
        return {n: fast[n] - self._rate(n) * step[n] for n in fast}, new_moments

    def _rate(self, name: str) -> Any:
        """The step size of parameter ``name``: the float ``lr`` or its learned rate tensor."""
        return self.lr[name] if isinstance(self.lr, Mapping) else self.lr

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
        _check_int("batch", batch, 1)
        fast, moments = self._initial_fast(batch)
        like = next(iter(self.init_params.values()))
        empty = like.new_zeros(batch, 0, feature_dim)
        return AdapterState(fast, moments, empty, like.new_zeros(batch, 0, target_dim),
                            like.new_full((batch,), math.nan))

    def predict(self, state: AdapterState, x: torch.Tensor) -> torch.Tensor:
        """Step (1): predictions (B, Q) for features ``x`` (B, F) with the current weights."""
        with torch.no_grad():
            return self._per_sequence(self._predict_one, state.fast, x)

    def observe(self, state: AdapterState, x: torch.Tensor, y: torch.Tensor) -> AdapterState:
        """Steps (3)-(4): reveal one transition ``x`` (B, F) -> ``y`` (B, Q), then update.

        The window keeps the last ``window`` revealed transitions. Raises
        ``FloatingPointError`` (step, loss, likely cause) on a NaN/inf window loss.
        """
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
        if not torch.isfinite(loss).all():
            bad = int(torch.nonzero(~torch.isfinite(loss))[0])
            raise FloatingPointError(
                f"test-time adaptation stopped at step {step}: window loss of sequence {bad} "
                f"is {loss[bad].item()}. Likely cause: lr={self.lr} too large for this model "
                f"(grad_clip={self.grad_clip}); lower lr or set grad_clip, or check the data "
                "for NaN/inf.")

    def weight_drift(self, state: AdapterState) -> torch.Tensor:
        """``||theta - theta_0||`` (B,) over the adapted parameters."""
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
        inputs = _check_tensor("inputs", inputs, 3, "(B, N, F)")
        targets = _check_tensor("targets", targets, 3, "(B, N, Q)")
        if inputs.shape[:2] != targets.shape[:2]:
            raise ValueError(f"inputs and targets must share (B, N), got {tuple(inputs.shape)} "
                             f"and {tuple(targets.shape)}")
        state = self.init_state(inputs.shape[0], inputs.shape[2], targets.shape[2])
        records: dict[str, list] = {"pred": [], "loss": [], "drift": [], "seconds": []}
        weights: dict[str, list] = {n: [] for n in self.adapt_names}
        for t in range(inputs.shape[1]):
            start = time.perf_counter()
            records["pred"].append(self.predict(state, inputs[:, t]))
            records["drift"].append(self.weight_drift(state))
            for name in weights if record_weights else ():
                weights[name].append(state.fast[name])
            state = self.observe(state, inputs[:, t], targets[:, t])
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


# ------------------------------------------------------------------------ switch-aligned metrics


def _as_numpy(name: str, values: Any, ndim: int) -> np.ndarray:
    array = values.detach().cpu().double().numpy() if isinstance(values, torch.Tensor) \
        else np.asarray(values, dtype=float)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    return array


def _switch_lists(switch_times: Any, batch: int, length: int) -> list[list[int]]:
    """Accept a (B, L) bool mask or one list of switch steps per sequence."""
    if isinstance(switch_times, (torch.Tensor, np.ndarray)):
        mask = _as_numpy("switch_times", switch_times, 2).astype(bool)
        if mask.shape != (batch, length):
            raise ValueError(f"switch_times mask must have shape {(batch, length)} like the "
                             f"errors, got {mask.shape}")
        return [np.flatnonzero(row).tolist() for row in mask]
    lists = [list(map(int, row)) for row in switch_times]
    if len(lists) != batch:
        raise ValueError(f"switch_times must hold one list per sequence ({batch}), "
                         f"got {len(lists)}")
    return lists


def window_offsets(before: int, shock: int, recovery: int, steady: int) -> dict[str, tuple]:
    """Offsets ``[start, end)`` from the switch step ``tau`` of the four windows.

    ``before = [-before, 0)``, ``shock = [0, shock)``,
    ``recovery = [shock, shock + recovery)``, ``steady`` the next ``steady`` steps.
    """
    for name, value in (("before", before), ("shock", shock), ("recovery", recovery),
                        ("steady", steady)):
        _check_int(name, value, 1)
    end_recovery = shock + recovery
    return {"before": (-before, 0), "shock": (0, shock), "recovery": (shock, end_recovery),
            "steady": (end_recovery, end_recovery + steady)}


def switch_events(switch_lists: list[list[int]], length: int, before: int, after: int):
    """The ``(sequence, tau)`` pairs whose window ``[tau - before, tau + after)`` fits in
    the sequence and contains no other switch (so each window sees one system change)."""
    events = []
    for b, taus in enumerate(switch_lists):
        for tau in taus:
            clean = all(not (tau - before < other < tau + after) for other in taus if other != tau)
            if tau - before >= 0 and tau + after <= length and clean:
                events.append((b, tau))
    return events


def smoothed_errors(errors: np.ndarray, smoothing: int) -> np.ndarray:
    """Trailing mean over at most ``smoothing`` steps: ``s_k = mean(e_{max(0, k-w+1)..k})``."""
    out = np.empty_like(errors, dtype=float)
    for k in range(len(errors)):
        out[k] = np.nanmean(errors[max(0, k - smoothing + 1) : k + 1])
    return out


def recovery_time(
    errors: Any,
    switch_time: int,
    *,
    before: int,
    horizon: int,
    factor: float = 1.5,
    smoothing: int = 5,
    reference: Any = None,
) -> float:
    """Steps after a switch until the smoothed error is back near its target level.

    With ``e_k = errors[tau + k]`` (``tau = switch_time``, ``errors`` (L,)) and
    ``s_k`` the trailing mean of ``e_0..e_k`` over at most ``smoothing`` steps
    (only post-switch errors), the recovery time is the smallest
    ``k in [0, horizon)`` with ``s_k <= factor * level``, where ``level`` is
    the mean error over ``[tau - before, tau)`` (the method's own pre-switch
    level), or, when ``reference`` (L,) is given (e.g. the oracle's errors),
    that reference's own ``s_k`` at the same ``k``. NaN if never within the horizon.
    A recovery time of 0 means the switch never pushed the error above the bar.
    """
    errors = _as_numpy("errors", errors, 1)
    _check_int("switch_time", switch_time, 0)
    if switch_time - _check_int("before", before, 1) < 0 or \
            switch_time + _check_int("horizon", horizon, 1) > len(errors):
        raise ValueError(f"the window [switch_time - before, switch_time + horizon) = "
                         f"[{switch_time - before}, {switch_time + horizon}) must lie in "
                         f"[0, {len(errors)})")
    after = smoothed_errors(errors[switch_time : switch_time + horizon],
                            _check_int("smoothing", smoothing, 1))
    if reference is None:
        threshold = factor * np.nanmean(errors[switch_time - before : switch_time])
    else:
        ref = _as_numpy("reference", reference, 1)
        threshold = factor * smoothed_errors(ref[switch_time : switch_time + horizon], smoothing)
    below = np.flatnonzero(after <= threshold)
    return float(below[0]) if below.size else math.nan


def _window_means(array: np.ndarray, events: list, span: tuple[int, int]) -> np.ndarray:
    """Mean (NaN-ignoring) error of each event over ``[tau + start, tau + end)``: (E,)."""
    start, end = span
    return np.array([np.nanmean(array[b, tau + start : tau + end]) for b, tau in events])


def _events_and_offsets(shape: tuple[int, int], switch_times: Any, windows: dict):
    """Usable events (the whole ``before .. steady`` span fits) and the window offsets."""
    offsets = window_offsets(**windows)
    events = switch_events(_switch_lists(switch_times, *shape), shape[1], windows["before"],
                           offsets["steady"][1])
    return events, offsets


def event_window_means(
    errors: Any, switch_times: Any, window: str, *, before: int = 20, shock: int = 5,
    recovery: int = 25, steady: int = 30,
) -> np.ndarray:
    """Mean error of every usable switch event over one window: (E,).

    ``errors`` (B, L) and ``switch_times`` as in :func:`switch_aligned_metrics`,
    whose per-window rows are the mean and CI of exactly these values (same
    events, same offsets from :func:`window_offsets`); ``window`` one of
    :data:`WINDOWS`.
    """
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
    array = _as_numpy("errors", errors, 2)
    events, offsets = _events_and_offsets(
        array.shape, switch_times,
        dict(before=before, shock=shock, recovery=recovery, steady=steady))
    return _window_means(array, events, offsets[window])


def paired_window_gain(
    errors: Any, baseline_errors: Any, switch_times: Any, window: str, **windows: int
) -> tuple[float, float]:
    """How much lower a method's error is than a baseline's in one window, paired by event.

    ``d_e = mean_window(baseline_e) - mean_window(method_e)`` for every usable
    switch event ``e`` (:func:`event_window_means`; ``errors`` and
    ``baseline_errors`` (B, L) of the same sequences), then the mean of ``d``
    and its 95% CI half-width (Student's t). ``> 0``: the method is better.
    Pairing removes the spread between sequences that both methods share, so
    a small gain can be resolved where the two rows' CIs of
    :func:`switch_aligned_metrics` overlap. ``windows``: the window sizes.
    """
    method = _as_numpy("errors", errors, 2)
    baseline = _as_numpy("baseline_errors", baseline_errors, 2)
    if method.shape != baseline.shape:
        raise ValueError(f"errors and baseline_errors must have the same shape (B, L), got "
                         f"{method.shape} and {baseline.shape}")
    differences = (event_window_means(baseline, switch_times, window, **windows)
                   - event_window_means(method, switch_times, window, **windows))
    return _mean_and_ci(differences)


def _mean_and_ci(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    if values.size == 1:
        return float(values[0]), math.nan
    mean, half = mean_ci(values)
    return float(mean), float(half)


def switch_aligned_metrics(
    errors: Mapping[str, Any] | Any,
    switch_times: Any,
    *,
    before: int = 20,
    shock: int = 5,
    recovery: int = 25,
    steady: int = 30,
    factor: float = 1.5,
    smoothing: int = 5,
    recovery_reference: str | None = None,
) -> dict[str, dict[str, float]]:
    """Per-method error before, at and after each switch: a table as a dict of rows.

    ``errors`` maps a method name to its squared errors (B, L) in the time frame
    of the raw sequences (NaN where it made no prediction; a bare array is
    named ``"model"``); ``switch_times`` is the (B, L) bool mask or one list of
    steps per sequence. Each usable event (:func:`switch_events`) contributes,
    per window of :func:`window_offsets`, the mean (NaN-ignoring) error over that
    window; rows report the mean over events and its 95% CI half-width
    (``"<window>_ci"``, Student's t, NaN with one event). ``recovery_time``
    (:func:`recovery_time` over ``shock + recovery + steady`` steps, relative
    to the method's own pre-switch level or to the method named
    ``recovery_reference``) is averaged over the events that recovered;
    ``recovered_fraction`` says how many did, ``events`` how many were used.
    """
    named = dict(errors) if isinstance(errors, Mapping) else {"model": errors}
    arrays = {name: _as_numpy(f"errors[{name!r}]", e, 2) for name, e in named.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise ValueError(f"every error array must have the same shape (B, L), got {shapes}")
    if recovery_reference is not None and recovery_reference not in arrays:
        raise ValueError(f"recovery_reference={recovery_reference!r} is not one of {list(arrays)}")
    events, offsets = _events_and_offsets(
        shapes.pop(), switch_times, dict(before=before, shock=shock, recovery=recovery,
                                         steady=steady))
    horizon = offsets["steady"][1]
    table = {}
    for name, array in arrays.items():
        row: dict[str, float] = {}
        for window, span in offsets.items():
            row[window], row[f"{window}_ci"] = _mean_and_ci(_window_means(array, events, span))
        times = np.array([recovery_time(
            array[b], tau, before=before, horizon=horizon, factor=factor, smoothing=smoothing,
            reference=None if recovery_reference is None else arrays[recovery_reference][b],
        ) for b, tau in events])
        row["recovery_time"], row["recovery_time_ci"] = _mean_and_ci(times)
        row["recovered_fraction"] = float(np.isfinite(times).mean()) if events else math.nan
        row["events"] = len(events)
        table[name] = row
    return table


def switch_aligned_curve(
    errors: Any, switch_times: Any, *, before: int = 20, after: int = 60, smoothing: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Errors aligned on the switches: offsets (K,), mean (K,) and 95% CI half-width (K,).

    ``errors`` (B, L), ``switch_times`` as in :func:`switch_aligned_metrics`;
    ``K = before + after`` offsets ``-before, ..., after - 1`` from each usable
    event (:func:`switch_events`); for adaptation curves with confidence bands.
    ``smoothing = w > 1`` first replaces each event's curve by its trailing mean
    over at most ``w`` steps (:func:`smoothed_errors`), taken separately before
    and after the switch so that no point mixes the two regimes; mean and CI are
    then over these smoothed per-event curves.
    """
    array = _as_numpy("errors", errors, 2)
    events = switch_events(_switch_lists(switch_times, *array.shape), array.shape[1],
                           _check_int("before", before, 1), _check_int("after", after, 1))
    if len(events) < 2:
        raise ValueError(f"need at least 2 usable switch events for a CI, found {len(events)}")
    aligned = np.stack([array[b, tau - before : tau + after] for b, tau in events])
    if _check_int("smoothing", smoothing, 1) > 1:
        aligned = np.stack([np.concatenate([smoothed_errors(row[:before], smoothing),
                                            smoothed_errors(row[before:], smoothing)])
                            for row in aligned])
    mean, half = mean_ci(aligned)
    return np.arange(-before, after), mean, half


def format_metrics_table(table: Mapping[str, Mapping[str, float]], digits: int = 4) -> str:
    """The dict of :func:`switch_aligned_metrics` as aligned text, ``mean +- CI`` per window."""
    columns = [*WINDOWS, "recovery_time"]
    header = f"{'method':<22}" + "".join(f"{c:>22}" for c in columns) + f"{'recovered':>11}"
    lines = [header]
    for name, row in table.items():
        cells = "".join(f"{row[c]:>11.{digits}g} +-{row[c + '_ci']:<8.2g}" for c in columns)
        lines.append(f"{name:<22}{cells}{row['recovered_fraction']:>11.2f}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- TTT identity


def _flatten_batch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """Check ``q``, ``k`` (..., L, Dk) and ``v`` (..., L, Dv); flatten ``...`` to one dim."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.ndim < 2:
            raise ValueError(f"{name} must be a tensor of shape (..., L, D), got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
    if q.shape != k.shape or v.shape[:-1] != k.shape[:-1]:
        raise ValueError(f"q and k must have the same shape (..., L, Dk) and v (..., L, Dv), "
                         f"got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    lead = q.shape[:-2]
    return q.reshape(-1, *q.shape[-2:]), k.reshape(-1, *k.shape[-2:]), \
        v.reshape(-1, *v.shape[-2:]), lead


def _per_token_rate(rate: Any, lead: torch.Size, length: int, like: torch.Tensor):
    """A float or a tensor broadcastable to (..., L) -> (B', L), ``...`` flattened."""
    rate = torch.as_tensor(rate, dtype=like.dtype, device=like.device)
    try:
        return rate.expand(*lead, length).reshape(-1, length)
    except RuntimeError:
        raise ValueError(f"the step size must be a float or broadcastable to (..., L) = "
                         f"{(*lead, length)}, got shape {tuple(rate.shape)}") from None


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal, unnormalised linear attention ``o_t = sum_{s<=t} (q_t . k_s) v_s``.

    ``q``, ``k`` (..., L, Dk), ``v`` (..., L, Dv) -> (..., L, Dv). The
    "attention" form: an (L, L) score matrix masked to ``s <= t``
    (Katharopoulos et al. 2020, Eq. 2 without the normaliser and feature map).
    """
    scores = q @ k.transpose(-1, -2)
    causal = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
    return scores.masked_fill(~causal, 0) @ v


def linear_attention_as_ssm(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The same outputs from the recurrence ``S_t = S_{t-1} + v_t k_t^T``, ``o_t = S_t q_t``.

    An SSM whose state ``S`` (Dv, Dk) has transition ``A = I`` and input
    ``v_t k_t^T``; run with :func:`ssm_metarl.scan.scan` (``a = 1``) over the
    flattened state. Shapes as in :func:`linear_attention`.
    """
    q, k, v, lead = _flatten_batch(q, k, v)
    inputs = (v[..., :, None] * k[..., None, :]).flatten(2)  # (B', L, Dv Dk)
    states = scan(torch.ones_like(inputs), inputs).unflatten(2, (v.shape[-1], k.shape[-1]))
    return torch.einsum("blvk,blk->blv", states, q).reshape(*lead, *v.shape[-2:])


def ttt_linear_batch(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    lr: float = 0.5,
    initial_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """TTT-linear in its batch form: every token's gradient taken at ``W_0``.

    Inner loss of token ``s``: ``l_s(W) = ||W k_s - v_s||^2`` (no 1/2), with
    gradient ``2 (W k_s - v_s) k_s^T``, computed by ``torch.func.grad``.
    ``W_t = W_0 - lr sum_{s<=t} grad l_s(W_0)``, ``o_t = W_t q_t``. With
    ``W_0 = 0`` (default) and ``lr = 1/2``, ``W_t = sum_{s<=t} v_s k_s^T``:
    linear attention exactly. Shapes as in :func:`linear_attention`;
    ``initial_weights`` (Dv, Dk).
    """
    q, k, v, lead = _flatten_batch(q, k, v)
    batch, length = k.shape[:2]
    if initial_weights is None:
        initial_weights = k.new_zeros(v.shape[-1], k.shape[-1])

    def token_loss(weights: torch.Tensor, key: torch.Tensor, value: torch.Tensor):
        return ((weights @ key - value) ** 2).sum()

    grads = torch.func.vmap(torch.func.grad(token_loss), in_dims=(None, 0, 0))(
        initial_weights, k.flatten(0, 1), v.flatten(0, 1))
    weights = initial_weights - lr * grads.unflatten(0, (batch, length)).cumsum(dim=1)
    return torch.einsum("blvk,blk->blv", weights, q).reshape(*lead, *v.shape[-2:])


def delta_rule_step(
    state: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: Any
) -> torch.Tensor:
    """One delta-rule update ``S' = S + beta (v - S k) k^T``.

    ``state`` (..., Dv, Dk), ``k`` (..., Dk), ``v`` (..., Dv), ``beta`` a float or
    (...). Equal to one gradient step of size ``beta`` on ``1/2 ||S k - v||^2``
    at the current ``S`` (Schlag et al. 2021; Yang et al. 2024, DeltaNet).
    """
    beta = torch.as_tensor(beta, dtype=state.dtype, device=state.device)
    error = v - torch.einsum("...vk,...k->...v", state, k)
    return state + beta[..., None, None] * error[..., :, None] * k[..., None, :]


def delta_rule(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: Any) -> torch.Tensor:
    """DeltaNet: ``o_t = S_t q_t``, ``S_t`` = :func:`delta_rule_step` from ``S_{-1} = 0``.

    Expanded, ``S_t = S_{t-1} (I - beta_t k_t k_t^T) + beta_t v_t k_t^T``.
    ``beta``: a float or (..., L). Shapes as in :func:`linear_attention`.
    """
    q, k, v, lead = _flatten_batch(q, k, v)
    rate = _per_token_rate(beta, lead, k.shape[1], k)
    state, outputs = k.new_zeros(k.shape[0], v.shape[-1], k.shape[-1]), []
    for t in range(k.shape[1]):
        state = delta_rule_step(state, k[:, t], v[:, t], rate[:, t])
        outputs.append(torch.einsum("bvk,bk->bv", state, q[:, t]))
    return torch.stack(outputs, dim=1).reshape(*lead, *v.shape[-2:])


def ttt_linear_online(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lr: Any) -> torch.Tensor:
    """TTT-linear online: ``W_t = W_{t-1} - lr_t grad (1/2 ||W k_t - v_t||^2)`` at ``W_{t-1}``.

    Gradients by ``torch.func.grad`` (not the closed form), ``W_{-1} = 0``,
    ``o_t = W_t q_t``. Equals :func:`delta_rule` with ``beta = lr``.
    ``lr``: a float or (..., L). Shapes as in :func:`linear_attention`.
    """
    q, k, v, lead = _flatten_batch(q, k, v)
    rate = _per_token_rate(lr, lead, k.shape[1], k)

    def token_loss(weights: torch.Tensor, key: torch.Tensor, value: torch.Tensor):
        return 0.5 * ((weights @ key - value) ** 2).sum()

    gradient = torch.func.vmap(torch.func.grad(token_loss))
    weights, outputs = k.new_zeros(k.shape[0], v.shape[-1], k.shape[-1]), []
    for t in range(k.shape[1]):
        weights = weights - rate[:, t, None, None] * gradient(weights, k[:, t], v[:, t])
        outputs.append(torch.einsum("bvk,bk->bv", weights, q[:, t]))
    return torch.stack(outputs, dim=1).reshape(*lead, *v.shape[-2:])


def delta_rule_as_ssm(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: Any
) -> torch.Tensor:
    """The delta rule as a time-varying SSM: ``S_t = S_{t-1} A_t + B_t``, ``o_t = S_t q_t``.

    Transition ``A_t = I - beta_t k_t k_t^T`` (Dk, Dk), input
    ``B_t = beta_t v_t k_t^T`` (Dv, Dk), both built explicitly and applied in
    a loop. Shapes as in :func:`delta_rule`.
    """
    q, k, v, lead = _flatten_batch(q, k, v)
    rate = _per_token_rate(beta, lead, k.shape[1], k)[..., None, None]
    eye = torch.eye(k.shape[-1], dtype=k.dtype, device=k.device)
    transitions = eye - rate * k[..., :, None] * k[..., None, :]  # (B', L, Dk, Dk)
    drives = rate * v[..., :, None] * k[..., None, :]  # (B', L, Dv, Dk)
    state, outputs = k.new_zeros(k.shape[0], v.shape[-1], k.shape[-1]), []
    for t in range(k.shape[1]):
        state = state @ transitions[:, t] + drives[:, t]
        outputs.append(torch.einsum("bvk,bk->bv", state, q[:, t]))
    return torch.stack(outputs, dim=1).reshape(*lead, *v.shape[-2:])


# ----------------------------------------------------------------------- model-predictive control

DynamicsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
CostFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _action_bounds(low: Any, high: Any, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds as (A,) tensors; floats mean a single action dimension."""
    low = torch.as_tensor(low, dtype=like.dtype, device=like.device).reshape(-1)
    high = torch.as_tensor(high, dtype=like.dtype, device=like.device).reshape(-1)
    if low.shape != high.shape or not bool((low < high).all()):
        raise ValueError(f"action_low and action_high must have the same shape (A,) with "
                         f"low < high, got {low.tolist()} and {high.tolist()}")
    return low, high


def rollout_cost(
    dynamics_fn: DynamicsFn, state: torch.Tensor, actions: torch.Tensor, cost_fn: CostFn
) -> torch.Tensor:
    """Total cost (C,) of action sequences ``actions`` (C, T, A) from ``state`` (S,).

    ``s_{j+1} = dynamics_fn(s_j, a_j)`` on (C, S), (C, A) -> (C, S); the cost
    sums ``cost_fn(s_{j+1}, a_j)`` -> (C,) over the horizon.
    """
    states = state.expand(actions.shape[0], *state.shape)
    total = actions.new_zeros(actions.shape[0])
    for step in range(actions.shape[1]):
        states = dynamics_fn(states, actions[:, step])
        total = total + cost_fn(states, actions[:, step])
    return total


def random_shooting(
    dynamics_fn: DynamicsFn,
    state: torch.Tensor,
    horizon: int,
    num_candidates: int,
    action_low: Any,
    action_high: Any,
    cost_fn: CostFn,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random-shooting MPC (Nagabandi et al. 2018, Sec. IV.C): the first action (A,) of
    the cheapest of ``num_candidates`` uniform action sequences (C, T, A).

    Rolls all candidates through the (learned) model at once with
    :func:`rollout_cost`; ``generator`` makes the draw reproducible.
    """
    _check_int("horizon", horizon, 1)
    _check_int("num_candidates", num_candidates, 1)
    low, high = _action_bounds(action_low, action_high, state)
    draws = torch.rand(num_candidates, horizon, low.shape[0], generator=generator,
                       dtype=state.dtype).to(state.device)
    actions = low + (high - low) * draws
    cost = rollout_cost(dynamics_fn, state, actions, cost_fn)
    return actions[int(torch.argmin(cost)), 0]


def cem(
    dynamics_fn: DynamicsFn,
    state: torch.Tensor,
    horizon: int,
    num_candidates: int,
    action_low: Any,
    action_high: Any,
    cost_fn: CostFn,
    *,
    num_elites: int = 10,
    iterations: int = 5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Cross-entropy-method MPC: the first action (A,) of the final mean plan.

    Start from a Gaussian over (T, A) plans centred in the box with std half
    its width; each iteration samples ``num_candidates`` plans, clips them to
    the bounds, and refits mean and std to the ``num_elites`` cheapest
    (Botev et al. 2013; Chua et al. 2018, PETS).
    """
    _check_int("horizon", horizon, 1)
    if _check_int("num_elites", num_elites, 1) > _check_int("num_candidates", num_candidates, 1):
        raise ValueError(f"num_elites ({num_elites}) must be <= num_candidates "
                         f"({num_candidates})")
    low, high = _action_bounds(action_low, action_high, state)
    mean = ((low + high) / 2).expand(horizon, -1)
    std = ((high - low) / 2).expand(horizon, -1)
    for _ in range(_check_int("iterations", iterations, 1)):
        noise = torch.randn(num_candidates, *mean.shape, generator=generator,
                            dtype=state.dtype).to(state.device)
        actions = torch.maximum(torch.minimum(mean + std * noise, high), low)
        cost = rollout_cost(dynamics_fn, state, actions, cost_fn)
        elites = actions[torch.topk(cost, num_elites, largest=False).indices]
        mean, std = elites.mean(dim=0), elites.std(dim=0, unbiased=False)
    return mean[0]


# ----------------------------------------------------------------------- adaptive MPC on a pendulum


class PendulumDynamicsModel(nn.Module):
    """Learned pendulum dynamics ``s_{t+1} = s_t + f_w(sin theta, cos theta, theta', u / u_max)``.

    ``x`` (..., 3) = (angle, angular velocity, torque) -> next state (..., 2).
    ``hidden=()`` makes ``f_w`` linear in these features, which contain the
    true right-hand side up to discretisation, so a change of mass shows up as
    a change of the torque coefficient alone. ``torque_limit`` scales the torque
    feature to [-1, 1]. Plugs into :class:`TestTimeAdapter` (features ``x``,
    target ``s_{t+1}``) and, as ``(s, a) -> model(cat(s, a))``, into the planners.
    """

    def __init__(self, hidden: Sequence[int] = (), torque_limit: float = 1.0) -> None:
        super().__init__()
        self.torque_limit = _check_float("torque_limit", torque_limit, positive=True)
        self.net = regression_mlp(4, tuple(hidden), 2)
        self.head = f"net.{2 * len(tuple(hidden))}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angle, velocity, torque = x[..., 0], x[..., 1], x[..., 2]
        features = torch.stack([torch.sin(angle), torch.cos(angle), velocity,
                                torque / self.torque_limit], dim=-1)
        return x[..., :2] + self.net(features)


def angle_tracking_cost(target: float, torque_cost: float) -> CostFn:
    """Stage cost ``(theta - target)^2 + torque_cost u^2``: states (C, 2), actions (C, 1) -> (C,)"""

    def cost(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return (states[:, 0] - target) ** 2 + torque_cost * actions[:, 0] ** 2

    return cost


class MPCEpisodes(NamedTuple):
    """What :func:`pendulum_mpc_episodes` records for B episodes of L steps.

    ``states`` (B, L + 1, 2), ``actions`` (B, L, 1), ``rewards`` (B, L),
    ``model_errors`` (B, L): squared error of the model's one-step prediction of
    the state, made with the weights that planned the action (before the new
    state was seen), and ``step_seconds`` (L,) for planning + update of all B.
    """

    states: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    model_errors: torch.Tensor
    step_seconds: np.ndarray


def pendulum_mpc_episodes(
    adapter: TestTimeAdapter,
    masses: torch.Tensor,
    targets: torch.Tensor,
    *,
    pendulum_length: float = 1.0,
    dt: float = 0.05,
    substeps: int = 5,
    horizon: int = 10,
    num_candidates: int = 200,
    torque_limit: float = 12.0,
    torque_cost: float = 1e-4,
    planner: str = "random_shooting",
    seed: int = 0,
) -> MPCEpisodes:
    """Hold a pendulum at target angles by MPC on a learned model, adapted online or not.

    ``masses`` (B, L) kg and ``targets`` (B, L) rad say what the true pendulum
    (:func:`ssm_metarl.tasks.pendulum_step`, unknown to the controller) and the
    goal are at each step. At step ``t`` the planner (``"random_shooting"`` or
    ``"cem"``) picks a torque in ``[-torque_limit, torque_limit]`` minimising
    ``sum_j (theta_j - target_t)^2 + torque_cost u_j^2`` over ``horizon`` steps of
    the adapter's model with its current fast weights (Nagabandi et al. 2019,
    Alg. 2: GrBAL with MPC); the torque is applied, and the revealed transition
    goes to :meth:`TestTimeAdapter.observe` (``lr = 0``: the frozen model).
    Reward ``r_t = -(theta_{t+1} - target_t)^2 - torque_cost u_t^2``. Episodes
    start at rest at the first target.
    """
    masses = _check_tensor("masses", masses, 2, "(B, L)").double()
    targets = _check_tensor("targets", targets, 2, "(B, L)").double()
    if masses.shape != targets.shape:
        raise ValueError(f"masses and targets must have the same shape (B, L), got "
                         f"{tuple(masses.shape)} and {tuple(targets.shape)}")
    planners = {"random_shooting": random_shooting, "cem": cem}
    if planner not in planners:
        raise ValueError(f"planner must be one of {sorted(planners)}, got {planner!r}")
    batch, length = masses.shape
    generator = torch.Generator().manual_seed(seed)
    state = torch.stack([targets[:, 0], torch.zeros_like(targets[:, 0])], dim=-1)
    memory = adapter.init_state(batch, 3, 2)
    dtype = next(iter(adapter.init_params.values())).dtype
    records: dict[str, list] = {"s": [state], "a": [], "r": [], "err": [], "sec": []}
    for t in range(length):
        start = time.perf_counter()
        actions = []
        for b in range(batch):
            weights = {**adapter.frozen_params, **{n: w[b] for n, w in memory.fast.items()}}
            cost = angle_tracking_cost(float(targets[b, t]), torque_cost)

            def dynamics(s: torch.Tensor, a: torch.Tensor, weights=weights) -> torch.Tensor:
                return predict(adapter.model, weights, torch.cat([s, a], dim=-1),
                               adapter.forward_fn)

            actions.append(planners[planner](dynamics, state[b].to(dtype), horizon,
                                             num_candidates, -torque_limit, torque_limit, cost,
                                             generator=generator))
        action = torch.stack(actions).double()  # (B, 1)
        x = torch.cat([state, action], dim=-1).to(dtype)
        predicted = adapter.predict(memory, x)
        next_state = pendulum_step(state, action[:, 0], masses[:, t],
                                   torch.full_like(masses[:, t], pendulum_length), dt, substeps)
        memory = adapter.observe(memory, x, next_state.to(dtype))
        records["err"].append(((predicted.double() - next_state) ** 2).mean(-1))
        records["r"].append(-(next_state[:, 0] - targets[:, t]) ** 2
                            - torque_cost * action[:, 0] ** 2)
        records["s"].append(next_state)
        records["a"].append(action)
        records["sec"].append(time.perf_counter() - start)
        state = next_state
    return MPCEpisodes(torch.stack(records["s"], 1), torch.stack(records["a"], 1),
                       torch.stack(records["r"], 1), torch.stack(records["err"], 1),
                       np.asarray(records["sec"]))
