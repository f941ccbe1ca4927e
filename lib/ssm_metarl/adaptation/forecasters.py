"""One-step-ahead forecasters of switching sequences, and how they are trained.

At time ``t`` a forecaster predicts ``y_t`` from the ``H`` previous
observations ``y_{t-H}, ..., y_{t-1}`` and the ``H`` most recent inputs
``u_{t-H+1}, ..., u_t`` (inputs are known: they are the forces we apply);
:func:`ssm_metarl.switching.next_step_data` builds these examples, and
example ``n`` targets time ``t = n + H``.

- :class:`NextStepMLP` maps one example to its prediction. Trained once on
  many systems (:func:`fit_next_step`) it is the frozen model; adapted online
  by :class:`~ssm_metarl.adaptation.adapter.TestTimeAdapter` it follows a switch.
- :class:`InContextSSMForecaster` adapts through its recurrent state instead
  of its weights (ReBAL, Nagabandi et al. 2019, Sec. 4): a selective-SSM
  forecaster meta-trained across regimes by :func:`fit_in_context`;
  :func:`context_limited_predictions` bounds how much of the past it may use.
- :func:`persistence_forecast` ("repeat the last observation") and
  :func:`squared_errors` are the baseline and the score of every table.

Dimension letters used in shapes:

====  =====================================================================
B     independent sequences
L     time steps of a raw sequence (observations ``y``, inputs ``u``)
H     history: past observations a next-step model sees
N     forecasting examples per sequence, ``N = L - H``
F     features of one example, ``F = H Q + H P``
Q     observation size (1 for the switching tasks)
P     input size (1 for the switching tasks)
D     width of the in-context SSM forecaster; W context length it may use
====  =====================================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._validate import (
    check_bool,
    check_callable,
    check_finite,
    check_float,
    check_instance,
    check_int,
    check_like,
    check_tensor,
    training_step,
)
from ..functional import mse_loss, regression_mlp
from ..profiles import progress_bar
from ..ssm import SelectiveSSM, SelectiveState
from ..switching import next_step_data

__all__ = [
    "InContextSSMForecaster",
    "NextStepMLP",
    "context_limited_predictions",
    "fit_in_context",
    "fit_next_step",
    "persistence_forecast",
    "squared_errors",
]

# ----------------------------------------------------------------------------- next-step models


def _widths(hidden: Any) -> tuple:
    """``hidden`` as a tuple; ``regression_mlp`` then checks each width by name."""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"hidden must be a sequence of positive ints (the hidden widths, "
                        f"e.g. (32, 32)), got {hidden!r}")
    return tuple(hidden)


def _check_features(name: str, features: Any, width: int, like: torch.Tensor,
                    ndim: int | None = None, shape_text: str = "(..., F)") -> torch.Tensor:
    """``features`` (..., F): a tensor of ``like``'s dtype and device with F = ``width``."""
    features = check_tensor(name, features, ndim, shape_text)
    if features.ndim == 0 or features.shape[-1] != width:
        raise ValueError(f"{name} must have shape {shape_text} with F = {width} (the model's "
                         f"features per example), got {tuple(features.shape)}")
    return check_finite(name, check_like(name, features, like))


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
    ``in_features`` (F) and ``out_features`` (Q) are its input and output widths.
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
        self.history = check_int("history", history)
        self.obs_dim = check_int("obs_dim", obs_dim)
        self.input_dim = check_int("input_dim", input_dim, 0)
        self.residual = check_bool("residual", residual)
        self.in_features = self.history * (self.obs_dim + self.input_dim)
        self.out_features = self.obs_dim
        self.net = regression_mlp(self.in_features, _widths(hidden), self.obs_dim)
        self.head = f"net.{2 * len(tuple(hidden))}"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        _check_features("features", features, self.in_features, self.net[0].weight)
        change = self.net(features)
        if not self.residual:
            return change
        last = (self.history - 1) * self.obs_dim
        return features[..., last : last + self.obs_dim] + change


def persistence_forecast(y: torch.Tensor) -> torch.Tensor:
    """The trivial baseline "predict the last observation again": ``y_hat_t = y_{t-1}``.

    ``y`` (B, L, Q) -> (B, L, Q), NaN at ``t = 0`` (nothing to repeat yet).
    """
    y = check_tensor("y", y, 3, "(B, L, Q)")
    if not y.is_floating_point():
        raise TypeError(f"y must be a floating tensor (it gets NaN at t = 0), got {y.dtype}")
    return torch.cat([torch.full_like(y[:, :1], math.nan), y[:, :-1]], dim=1)


def squared_errors(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Squared error per step, averaged over the Q observation entries: (B, L, Q) -> (B, L)."""
    check_tensor("predictions", predictions)
    check_tensor("targets", targets)
    if predictions.ndim == 0:
        raise ValueError("predictions must have shape (..., Q), got a 0-dim tensor")
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions and targets must have the same shape, got "
                         f"{tuple(predictions.shape)} and {tuple(targets.shape)}")
    return ((predictions - targets) ** 2).mean(dim=-1)


def _check_not_empty(features: torch.Tensor) -> None:
    if features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"features must hold at least one sequence and one step (B, N >= 1), "
                         f"got {tuple(features.shape)}")


def _first_parameter(name: str, model: Any) -> torch.Tensor:
    """``model`` must be an ``nn.Module`` with parameters; its first one (dtype and device)."""
    check_instance(name, model, nn.Module)
    like = next(model.parameters(), None)
    if like is None:
        raise ValueError(f"{name} {type(model).__name__} has no parameters to train")
    return like


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
    like = _first_parameter("model", model)
    inputs, targets = check_tensor("inputs", inputs), check_tensor("targets", targets)
    for name, value in (("inputs", inputs), ("targets", targets)):
        if value.ndim == 0:
            raise ValueError(f"{name} must have shape (..., F) / (..., Q), got a 0-dim tensor")
        check_finite(name, check_like(name, value, like))
    for name, value, letter, attribute in (("inputs", inputs, "F", "in_features"),
                                           ("targets", targets, "Q", "out_features")):
        width = getattr(model, attribute, None)
        if isinstance(width, int) and value.shape[-1] != width:
            raise ValueError(f"{name} must have shape (..., {letter}) with {letter} = {width} "
                             f"(the model's {attribute}), got {tuple(value.shape)}")
    x, y = inputs.reshape(-1, inputs.shape[-1]), targets.reshape(-1, targets.shape[-1])
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"inputs and targets must share leading dims, got "
                         f"{tuple(inputs.shape)} and {tuple(targets.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"inputs must hold at least one example, got {tuple(inputs.shape)}")
    batch_size = check_int("batch_size", batch_size)
    seed = check_int("seed", seed, 0)
    progress = check_bool("progress", progress)
    generator = torch.Generator().manual_seed(seed)
    lr = check_float("lr", lr, minimum=0, strict=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for iteration in progress_bar(range(check_int("iterations", iterations, 0)), "fit",
                                  progress):
        rows = torch.randint(0, x.shape[0], (batch_size,), generator=generator).to(x.device)
        loss = mse_loss(model(x[rows]), y[rows])
        losses.append(training_step(optimizer, loss, "fit_next_step", iteration,
                                    cause=f"lr={lr} too large."))
    return losses



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
    :class:`NextStepMLP`: it predicts ``y_t - y_{t-1}``. ``in_features`` (F) and
    ``out_features`` (Q) are its widths.
    """

    def __init__(self, history: int, obs_dim: int = 1, input_dim: int = 1, *,
                 d_model: int = 32, d_state: int = 16, num_layers: int = 2) -> None:
        super().__init__()
        self.history = check_int("history", history)
        self.obs_dim = check_int("obs_dim", obs_dim)
        features = self.history * (self.obs_dim + check_int("input_dim", input_dim, 0))
        self.in_features, self.out_features = features, self.obs_dim
        self.encoder = nn.Linear(features, check_int("d_model", d_model))
        # dt in [0.01, 0.5]: memories from a few to a few hundred steps
        self.blocks = nn.ModuleList(
            SelectiveSSM(d_model, check_int("d_state", d_state), dt_min=0.01, dt_max=0.5)
            for _ in range(check_int("num_layers", num_layers)))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(num_layers))
        self.head = nn.Linear(d_model, obs_dim)

    def _readout(self, features: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """``y_{t-1}`` (the newest past observation in the features) + head(hidden)."""
        last = (self.history - 1) * self.obs_dim
        return features[..., last : last + self.obs_dim] + self.head(hidden)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = _check_features("features", features, self.in_features,
                                   self.encoder.weight, 3, "(B, N, F)")
        _check_not_empty(features)
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
        features_t = _check_features("features_t", features_t, self.in_features,
                                     self.encoder.weight, 2, "(B, F)")
        if not isinstance(state, (list, tuple)) or len(state) != len(self.blocks):
            got = f"{len(state)} entries" if isinstance(state, (list, tuple)) \
                else type(state).__name__
            raise ValueError(f"state must be the list of {len(self.blocks)} SelectiveStates "
                             f"of init_state (one per block), got {got}")
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
    _first_parameter("model", model)
    if not isinstance(getattr(model, "history", None), int):
        raise TypeError(f"model must be a sequence forecaster with a history (e.g. "
                        f"InContextSSMForecaster), got {type(model).__name__}")
    if not callable(getattr(tasks, "sample", None)):
        raise TypeError(f"tasks must be a task family with sample(batch_size) -> "
                        f"SwitchingSample (e.g. SwitchingOscillatorTasks), got "
                        f"{type(tasks).__name__}")
    lr = check_float("lr", lr, minimum=0, strict=True)
    iterations = check_int("iterations", iterations, 0)
    batch_size = check_int("batch_size", batch_size)
    progress = check_bool("progress", progress)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for iteration in progress_bar(range(iterations), "meta-train in-context", progress):
        sample = tasks.sample(batch_size)
        data = next_step_data(sample.y, sample.u, model.history)
        loss = mse_loss(model(data.inputs), data.targets)
        losses.append(training_step(optimizer, loss, "fit_in_context", iteration,
                                    cause=f"lr={lr} too large."))
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
    check_callable("model", model, what="(features (B, N, F)) -> predictions (B, N, Q)")
    features = check_tensor("features", features, 3, "(B, N, F)")
    like = next(model.parameters(), None) if isinstance(model, nn.Module) else None
    if isinstance(getattr(model, "in_features", None), int) and like is not None:
        features = _check_features("features", features, model.in_features, like, 3,
                                   "(B, N, F)")
    _check_not_empty(features)
    batch, length = features.shape[:2]
    chunk_size = check_int("chunk_size", chunk_size)
    if check_int("context", context) >= length:
        return model(features)
    # predictions 0..W-2 see the whole (short) past: one causal pass gives them
    early = model(features[:, : context - 1]) if context > 1 else features[:, :0, :0]
    windows = features.unfold(1, context, 1).permute(0, 1, 3, 2)  # (B, N-W+1, W, F)
    windows = windows.reshape(-1, context, features.shape[-1])
    late = torch.cat([model(part)[:, -1] for part in windows.split(chunk_size)])
    late = late.reshape(batch, length - context + 1, -1)
    return torch.cat([early.reshape(batch, -1, late.shape[-1]), late], dim=1)

