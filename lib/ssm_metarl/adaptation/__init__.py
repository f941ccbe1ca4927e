"""Test-time adaptation: online weight updates while a model is being scored.

A forecaster meets dynamics that change at unknown times (the switching tasks
of :mod:`ssm_metarl.switching`). Frozen, it keeps the weights it was trained
with; adapted at test time it takes a few gradient steps on the transitions
it has just seen, as in GrBAL (Nagabandi et al. 2019, "Learning to Adapt in
Dynamic, Real-World Environments through Meta-Reinforcement Learning", Sec. 4).
Everything notebook 04 uses is importable from here; each idea has its module:

===============  ==============================================================
``forecasters``  one-step forecasters (:class:`NextStepMLP`, the in-context SSM
                 :class:`InContextSSMForecaster`, persistence) and their training
``adapter``      :class:`TestTimeAdapter`, the predict-then-update protocol
``metrics``      switch-aligned metrics: error before, at and after a switch
``ttt``          linear attention = an SSM = online gradient descent (TTT, DeltaNet)
``mpc``          model-predictive control on a learned, adapted pendulum model
``policy``       :class:`PolicyAdapter`, policy-gradient updates between rounds of
                 play (the RL counterpart of ``TestTimeAdapter``)
===============  ==============================================================

The forecasting examples themselves (:func:`next_step_data`) are cut from the
switching sequences by :mod:`ssm_metarl.switching` and re-exported here. A
policy that keeps adapting while its goal moves is :class:`PolicyAdapter`
with one goal per round.

Dimension letters used in shapes (each module lists the ones it uses):

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

Imports go one way: ``forecasters`` <- ``adapter`` <- ``mpc``; ``metrics``
and ``ttt`` stand alone; ``policy`` builds on :mod:`ssm_metarl.meta_rl`; none
imports :mod:`ssm_metarl.maml`.
"""

from __future__ import annotations

# Names that were importable from the single-file module before the split.
from .._validate import Params as Params
from ..dynamics import pendulum_step as pendulum_step
from ..functional import ForwardFn as ForwardFn
from ..functional import LossFn as LossFn
from ..functional import clip_gradient_norm as clip_gradient_norm
from ..functional import mse_loss as mse_loss
from ..functional import predict as predict
from ..functional import regression_mlp as regression_mlp
from ..profiles import progress_bar as progress_bar
from ..results import mean_ci as mean_ci
from ..scan import scan as scan
from ..ssm import SelectiveSSM as SelectiveSSM
from ..ssm import SelectiveState as SelectiveState
from ..switching import NextStepData, next_step_data
from .adapter import (
    OPTIMIZERS,
    AdaptationTrace,
    AdapterState,
    TestTimeAdapter,
    resolve_param_names,
)
from .forecasters import (
    InContextSSMForecaster,
    NextStepMLP,
    context_limited_predictions,
    fit_in_context,
    fit_next_step,
    persistence_forecast,
    squared_errors,
)
from .metrics import (
    WINDOWS,
    event_window_means,
    format_metrics_table,
    paired_window_gain,
    recovery_time,
    smoothed_errors,
    switch_aligned_curve,
    switch_aligned_metrics,
    switch_events,
    window_offsets,
)
from .mpc import (
    CostFn,
    DynamicsFn,
    MPCEpisodes,
    PendulumDynamicsModel,
    angle_tracking_cost,
    cem,
    pendulum_mpc_episodes,
    random_shooting,
    rollout_cost,
)
from .policy import PolicyAdapter
from .ttt import (
    delta_rule,
    delta_rule_as_ssm,
    delta_rule_step,
    linear_attention,
    linear_attention_as_ssm,
    ttt_linear_batch,
    ttt_linear_online,
)

__all__ = [
    # forecasting data (ssm_metarl.switching)
    "NextStepData",
    "next_step_data",
    # forecasters
    "InContextSSMForecaster",
    "NextStepMLP",
    "context_limited_predictions",
    "fit_in_context",
    "fit_next_step",
    "persistence_forecast",
    "squared_errors",
    # adapter
    "OPTIMIZERS",
    "AdaptationTrace",
    "AdapterState",
    "ForwardFn",
    "LossFn",
    "Params",
    "TestTimeAdapter",
    "clip_gradient_norm",
    "resolve_param_names",
    # policies
    "PolicyAdapter",
    # metrics
    "WINDOWS",
    "event_window_means",
    "format_metrics_table",
    "paired_window_gain",
    "recovery_time",
    "smoothed_errors",
    "switch_aligned_curve",
    "switch_aligned_metrics",
    "switch_events",
    "window_offsets",
    # ttt
    "delta_rule",
    "delta_rule_as_ssm",
    "delta_rule_step",
    "linear_attention",
    "linear_attention_as_ssm",
    "ttt_linear_batch",
    "ttt_linear_online",
    # mpc
    "CostFn",
    "DynamicsFn",
    "MPCEpisodes",
    "PendulumDynamicsModel",
    "angle_tracking_cost",
    "cem",
    "pendulum_mpc_episodes",
    "random_shooting",
    "rollout_cost",
]
