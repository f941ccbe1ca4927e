"""Bad inputs of adaptation (test-time adaptation: adapters, TTT, metrics): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _adaptation, _adapter, _adapter_run, _t, table_tests
from torch import nn

from ssm_metarl import policies

EXEMPT = {
    "ssm_metarl.adaptation.adapter.AdaptationTrace": "record that TestTimeAdapter.run builds "
                                                     "and returns (checked there)",
    "ssm_metarl.adaptation.adapter.AdapterState": "record that TestTimeAdapter.init_state and "
                                                  "observe build; predict/observe/weight_drift "
                                                  "check the state they are given",
    "ssm_metarl.adaptation.mpc.MPCEpisodes": "record that pendulum_mpc_episodes builds and "
                                             "returns (checked there)",
}


def _mlp(**kw):
    return _adaptation().NextStepMLP(2, hidden=(3,), **kw)  # F = 4, Q = 1


def _tta(model=None, **kw):
    return _adaptation().TestTimeAdapter(_mlp() if model is None else model, **kw)


def _state(adapter=None):
    return (adapter or _tta()).init_state(2, 4, 1)


def _predict(x=None, state=None):
    adapter = _tta()
    return adapter.predict(_state(adapter) if state is None else state,
                           _t(2, 4) if x is None else x)


def _observe(x=None, y=None, state=None, adapter=None):
    adapter = adapter or _tta()
    return adapter.observe(_state(adapter) if state is None else state,
                           _t(2, 4) if x is None else x, _t(2, 1) if y is None else y)


def _run(inputs=None, targets=None, **kw):
    return _tta().run(_t(1, 5, 4) if inputs is None else inputs,
                      _t(1, 5, 1) if targets is None else targets, **kw)


def _other_state():
    """A state of an adapter that adapts only the head: not this adapter's."""
    model = _mlp()
    return _tta(model, params_to_adapt=[model.head]).init_state(2, 4, 1)


def _ic():
    return _adaptation().InContextSSMForecaster(2, d_model=4, d_state=2, num_layers=1)


class _Tasks:
    """A task family whose sample() must never be reached by a refused call."""

    def sample(self, batch_size):
        raise AssertionError("sampled tasks: the bad input was not refused first")


def _fit(**over):
    args = {"model": _mlp(), "inputs": _t(5, 4), "targets": _t(5, 1), "iterations": 1,
            "progress": False}
    args.update(over)
    return _adaptation().fit_next_step(args.pop("model"), args.pop("inputs"),
                                       args.pop("targets"), **args)


def _clp(model=None, features=None, context=2, **kw):
    return _adaptation().context_limited_predictions(
        _ic() if model is None else model, _t(1, 5, 4) if features is None else features,
        context, **kw)


E, SW = np.zeros((2, 100)), [[50], [40]]


def _dynamics(s, a):
    return s + a.sum(-1, keepdim=True)


def _cost(s, a):
    return (s**2).sum(-1)


def _rollout(**over):
    args = {"dynamics_fn": _dynamics, "state": _t(2), "actions": _t(5, 3, 1), "cost_fn": _cost}
    args.update(over)
    return _adaptation().rollout_cost(**args)


def _plan(fn="random_shooting", **over):
    args = {"dynamics_fn": _dynamics, "state": _t(2), "horizon": 3, "num_candidates": 20,
            "action_low": -1.0, "action_high": 1.0, "cost_fn": _cost}
    args.update(over)
    return getattr(_adaptation(), fn)(**args)


def _pendulum_adapter():
    return _adaptation().TestTimeAdapter(_adaptation().PendulumDynamicsModel(), lr=0.0)


def _mpc(adapter=None, masses=None, targets=None, **kw):
    return _adaptation().pendulum_mpc_episodes(
        _pendulum_adapter() if adapter is None else adapter,
        torch.ones(1, 2) if masses is None else masses,
        _t(1, 2) if targets is None else targets, num_candidates=5, horizon=2, **kw)


def _qkv(fn, q=None, k=None, v=None, *rest):
    return getattr(_adaptation(), fn)(_t(1, 3, 2) if q is None else q,
                                      _t(1, 3, 2) if k is None else k,
                                      _t(1, 3, 2) if v is None else v, *rest)


def _trial(policy=None, goals=None, **kw):
    from ssm_metarl.envs.families import NavigationTasks

    kw.setdefault("family", NavigationTasks(horizon=3))
    adapter = kw.pop("adapter", None) or _adapter(trajectories=2)
    return adapter.run_trial(policies.MLPPolicy(2, 2, (8,)) if policy is None else policy,
                             np.zeros((2, 2)) if goals is None else goals, **kw)


def _row(**over):
    row = {key: 0.5 for key in ("before", "shock", "recovery", "steady", "recovery_time",
                                "before_ci", "shock_ci", "recovery_ci", "steady_ci",
                                "recovery_time_ci", "recovered_fraction")}
    row.update(over)
    return row


CASES = [
    # ttt
    ("adaptation.linear_attention k of another width",
     lambda p: _adaptation().linear_attention(_t(2, 5, 3), _t(2, 5, 4), _t(2, 5, 3)), ValueError,
     "q and k must have the same shape"),
    ("adaptation.linear_attention 1-d", lambda p: _adaptation().linear_attention(_t(5), _t(5),
                                                                              _t(5)),
     ValueError, "q must be a tensor of shape"),
    ("adaptation.linear_attention no tokens", lambda p: _qkv("linear_attention", _t(1, 0, 2),
                                                            _t(1, 0, 2), _t(1, 0, 2)),
     ValueError, "at least one token"),
    ("adaptation.linear_attention_as_ssm k float64",
     lambda p: _qkv("linear_attention_as_ssm", None, _t(1, 3, 2, dtype=torch.float64)),
     TypeError, "q, k and v must share one floating dtype"),
    ("adaptation.linear_attention_as_ssm q=list",
     lambda p: _qkv("linear_attention_as_ssm", [[0.0, 0.0]]), TypeError, "q must be a tensor"),
    ("adaptation.linear_attention_as_ssm int tensors",
     lambda p: _qkv("linear_attention_as_ssm", *(torch.zeros(1, 3, 2, dtype=torch.long),) * 3),
     TypeError, "floating dtype"),
    ("adaptation.delta_rule_step state shape",
     lambda p: _adaptation().delta_rule_step(_t(3, 3), _t(4), _t(3), 0.1), ValueError, "state"),
    ("adaptation.delta_rule_step k=list",
     lambda p: _adaptation().delta_rule_step(_t(3, 4), [0.0] * 4, _t(3), 0.1), TypeError, "k"),
    ("adaptation.delta_rule_step beta nan",
     lambda p: _adaptation().delta_rule_step(_t(3, 4), _t(4), _t(3), math.nan), ValueError,
     "step size"),
    ("adaptation.delta_rule_step beta of 5 for one state",
     lambda p: _adaptation().delta_rule_step(_t(3, 4), _t(4), _t(3), _t(5)), ValueError,
     "beta (the step size) must be a float or broadcastable to (...) = ()"),
    ("adaptation.delta_rule_step k of another batch",
     lambda p: _adaptation().delta_rule_step(_t(2, 3, 4), _t(5, 4), _t(2, 3), 0.1), ValueError,
     "k must have shape (..., Dk)"),
    ("adaptation.delta_rule_step k float64",
     lambda p: _adaptation().delta_rule_step(_t(3, 4), _t(4, dtype=torch.float64), _t(3), 0.1),
     TypeError, "state, k and v must share one floating dtype"),
    ("adaptation.delta_rule beta nan",
     lambda p: _adaptation().delta_rule(_t(1, 5, 3), _t(1, 5, 3), _t(1, 5, 3), math.nan),
     ValueError, "step size"),
    ("adaptation.delta_rule_as_ssm beta nan",
     lambda p: _qkv("delta_rule_as_ssm", None, None, None, math.nan), ValueError,
     "beta (the step size) must be finite"),
    ("adaptation.delta_rule_as_ssm beta of 4 tokens",
     lambda p: _qkv("delta_rule_as_ssm", None, None, None, _t(4)), ValueError,
     "beta (the step size) must be a float or broadcastable"),
    ("adaptation.delta_rule_as_ssm v float64",
     lambda p: _qkv("delta_rule_as_ssm", None, None, _t(1, 3, 2, dtype=torch.float64), 0.1),
     TypeError, "q, k and v must share one floating dtype"),
    ("adaptation.ttt_linear_online lr=inf",
     lambda p: _adaptation().ttt_linear_online(_t(1, 5, 3), _t(1, 5, 3), _t(1, 5, 3), math.inf),
     ValueError, "step size"),
    ("adaptation.ttt_linear_batch lr='a'",
     lambda p: _adaptation().ttt_linear_batch(_t(1, 5, 3), _t(1, 5, 3), _t(1, 5, 3), "a"),
     TypeError, "step size"),
    ("adaptation.ttt_linear_batch initial_weights shape",
     lambda p: _qkv("ttt_linear_batch", None, None, None, 0.5, _t(3, 3)), ValueError,
     "initial_weights must have shape (Dv, Dk) = (2, 2)"),
    ("adaptation.ttt_linear_batch initial_weights numpy",
     lambda p: _qkv("ttt_linear_batch", None, None, None, 0.5, np.zeros((2, 2))), TypeError,
     "initial_weights must be a tensor"),
    # metrics
    ("adaptation.format_metrics_table digits=-1",
     lambda p: _adaptation().format_metrics_table({}, digits=-1), ValueError, "digits"),
    ("adaptation.format_metrics_table row of another table",
     lambda p: _adaptation().format_metrics_table({"frozen": {"mse": 1.0}}), ValueError,
     "table['frozen']"),
    ("adaptation.format_metrics_table table=5",
     lambda p: _adaptation().format_metrics_table(5), TypeError, "table must be a Mapping"),
    ("adaptation.format_metrics_table row=5",
     lambda p: _adaptation().format_metrics_table({"m": 5}), TypeError, "table['m']"),
    ("adaptation.format_metrics_table value 'x'",
     lambda p: _adaptation().format_metrics_table({"m": _row(shock="x")}), TypeError,
     "table['m']['shock'] must be a number"),
    ("adaptation.event_window_means errors='ab'",
     lambda p: _adaptation().event_window_means("ab", SW, "shock"), ValueError,
     "errors must be an array of numbers"),
    ("adaptation.event_window_means errors 1-d",
     lambda p: _adaptation().event_window_means(np.zeros(100), SW, "shock"), ValueError,
     "errors must have 2 dimensions"),
    ("adaptation.event_window_means switch_times=5",
     lambda p: _adaptation().event_window_means(E, 5, "shock"), TypeError, "switch_times"),
    ("adaptation.event_window_means flat switch list",
     lambda p: _adaptation().event_window_means(E, [50, 40], "shock"), TypeError,
     "switch_times[0] is a int, not a list"),
    ("adaptation.event_window_means switch at 50.5",
     lambda p: _adaptation().event_window_means(E, [[50.5], [40]], "shock"), ValueError,
     "switch_times[0] must hold integer time steps"),
    ("adaptation.event_window_means mask of another shape",
     lambda p: _adaptation().event_window_means(E, np.zeros((2, 99), bool), "shock"), ValueError,
     "switch_times mask must have shape (2, 100)"),
    ("adaptation.event_window_means window='middle'",
     lambda p: _adaptation().event_window_means(E, SW, "middle"), ValueError, "window"),
    ("adaptation.event_window_means before=0",
     lambda p: _adaptation().event_window_means(E, SW, "shock", before=0), ValueError,
     "before must be a positive int"),
    ("adaptation.paired_window_gain unknown window size",
     lambda p: _adaptation().paired_window_gain(E, E, SW, "shock", middle=3), TypeError,
     "unknown window sizes ['middle']"),
    ("adaptation.paired_window_gain baseline of another shape",
     lambda p: _adaptation().paired_window_gain(E, np.zeros((3, 100)), SW, "shock"), ValueError,
     "errors and baseline_errors must have the same shape"),
    ("adaptation.paired_window_gain baseline='x'",
     lambda p: _adaptation().paired_window_gain(E, "x", SW, "shock"), ValueError,
     "baseline_errors must be an array of numbers"),
    ("adaptation.recovery_time factor nan",
     lambda p: _adaptation().recovery_time(E[0], 50, before=20, horizon=30, factor=math.nan),
     ValueError, "factor"),
    ("adaptation.recovery_time reference of 60 steps",
     lambda p: _adaptation().recovery_time(E[0], 50, before=20, horizon=30,
                                           reference=np.zeros(60)), ValueError,
     "reference must have the shape of errors"),
    ("adaptation.recovery_time errors 2-d",
     lambda p: _adaptation().recovery_time(E, 50, before=20, horizon=30), ValueError,
     "errors must have 1 dimensions"),
    ("adaptation.recovery_time switch_time past the end",
     lambda p: _adaptation().recovery_time(E[0], 90, before=20, horizon=30), ValueError,
     "switch_time + horizon"),
    ("adaptation.recovery_time smoothing=0",
     lambda p: _adaptation().recovery_time(E[0], 50, before=20, horizon=30, smoothing=0),
     ValueError, "smoothing must be a positive int"),
    ("adaptation.smoothed_errors smoothing=0",
     lambda p: _adaptation().smoothed_errors(np.zeros(5), 0), ValueError, "smoothing"),
    ("adaptation.smoothed_errors errors 2-d",
     lambda p: _adaptation().smoothed_errors(np.zeros((2, 5)), 2), ValueError,
     "errors must have 1 dimensions"),
    ("adaptation.smoothed_errors errors=5",
     lambda p: _adaptation().smoothed_errors(5, 2), ValueError, "errors must have 1 dimensions"),
    ("adaptation.switch_aligned_curve after=0",
     lambda p: _adaptation().switch_aligned_curve(E, SW, after=0), ValueError, "after"),
    ("adaptation.switch_aligned_curve errors='x'",
     lambda p: _adaptation().switch_aligned_curve("x", SW), ValueError,
     "errors must be an array of numbers"),
    ("adaptation.switch_aligned_curve smoothing=0",
     lambda p: _adaptation().switch_aligned_curve(E, SW, smoothing=0), ValueError,
     "smoothing must be a positive int"),
    ("adaptation.switch_aligned_metrics no method",
     lambda p: _adaptation().switch_aligned_metrics({}, SW), ValueError,
     "errors must name at least one method"),
    ("adaptation.switch_aligned_metrics factor nan",
     lambda p: _adaptation().switch_aligned_metrics(E, SW, factor=math.nan), ValueError,
     "factor"),
    ("adaptation.switch_aligned_metrics recovery_reference unknown",
     lambda p: _adaptation().switch_aligned_metrics(E, SW, recovery_reference="oracle"),
     ValueError, "recovery_reference"),
    ("adaptation.switch_aligned_metrics errors 3-d",
     lambda p: _adaptation().switch_aligned_metrics(np.zeros((2, 2, 100)), SW), ValueError,
     "errors['model'] must have 2 dimensions"),
    ("adaptation.switch_events flat list",
     lambda p: _adaptation().switch_events([5], 100, 20, 30), TypeError, "switch_lists[0]"),
    ("adaptation.switch_events length=-1",
     lambda p: _adaptation().switch_events(SW, -1, 20, 30), ValueError, "length"),
    ("adaptation.switch_events before='a'",
     lambda p: _adaptation().switch_events(SW, 100, "a", 30), ValueError, "before"),
    ("adaptation.window_offsets before=0",
     lambda p: _adaptation().window_offsets(0, 1, 1, 1), ValueError, "before"),
    ("adaptation.window_offsets steady=1.5",
     lambda p: _adaptation().window_offsets(1, 1, 1, 1.5), ValueError, "steady"),
    # policy adapter
    ("adaptation.PolicyAdapter baseline_reg=-1", lambda p: _adapter(baseline_reg=-1),
     ValueError, "baseline_reg"),
    ("adaptation.PolicyAdapter carry_state='yes'", lambda p: _adapter(carry_state="yes"),
     TypeError, "carry_state"),
    ("adaptation.PolicyAdapter lr=-1", lambda p: _adapter(lr=-1), ValueError, "lr"),
    ("adaptation.PolicyAdapter adapt='net'", lambda p: _adapter(adapt="net"), TypeError,
     "adapt"),
    ("adaptation.PolicyAdapter.run policy=object()",
     lambda p: _adapter_run(policy=object()), TypeError, "policy"),
    ("adaptation.PolicyAdapter.run goals='ab'", lambda p: _adapter_run(goals="ab"), ValueError,
     "goals"),
    ("adaptation.PolicyAdapter.run goals nan",
     lambda p: _adapter_run(goals=np.full((2, 2), math.nan)), ValueError, "goals"),
    ("adaptation.PolicyAdapter.run family=object()", lambda p: _adapter_run(family=object()),
     TypeError, "family"),
    ("adaptation.PolicyAdapter.run seed=-1", lambda p: _adapter_run(seed=-1), ValueError, "seed"),
    ("adaptation.PolicyAdapter.run adapt unknown",
     lambda p: _adapter_run(_adapter(adapt=["nope"])), ValueError, "adapt"),
    ("adaptation.PolicyAdapter.run_trial episodes=0", lambda p: _trial(episodes=0), ValueError,
     "episodes"),
    ("adaptation.PolicyAdapter.run_trial jump_goals of 3 goals",
     lambda p: _trial(jump_row=1, jump_goals=np.zeros((3, 2))), ValueError, "jump_goals"),
    ("adaptation.PolicyAdapter.run_trial jump_row without jump_goals",
     lambda p: _trial(jump_row=1), ValueError, "jump_goals"),
    ("adaptation.PolicyAdapter.run_trial policy=object()", lambda p: _trial(object()),
     TypeError, "policy"),
    ("adaptation.PolicyAdapter.run_trial goals 1-d", lambda p: _trial(goals=np.zeros(2)),
     ValueError, "goals"),
    ("adaptation.PolicyAdapter.run_trial family=object()", lambda p: _trial(family=object()),
     TypeError, "family"),
    ("adaptation.PolicyAdapter.run_trial adapt unknown",
     lambda p: _trial(adapter=_adapter(trajectories=2, adapt=["nope"])), ValueError, "adapt"),
    # adapter
    ("adaptation.resolve_param_names selection=1",
     lambda p: _adaptation().resolve_param_names(dict(_mlp().named_parameters()), 1), TypeError,
     "params_to_adapt"),
    ("adaptation.resolve_param_names params=list",
     lambda p: _adaptation().resolve_param_names([1, 2], None), TypeError, "params"),
    ("adaptation.resolve_param_names unknown prefix",
     lambda p: _adaptation().resolve_param_names(dict(_mlp().named_parameters()), ["net.9"]),
     ValueError, "params_to_adapt"),
    ("adaptation.TestTimeAdapter model=object()",
     lambda p: _adaptation().TestTimeAdapter(object()), TypeError, "model"),
    ("adaptation.TestTimeAdapter model without parameters",
     lambda p: _tta(nn.ReLU()), ValueError, "has no parameters"),
    ("adaptation.TestTimeAdapter params of another model",
     lambda p: _tta(params={"w": _t(2)}), ValueError, "params holds names"),
    ("adaptation.TestTimeAdapter params of another shape",
     lambda p: _tta(params={"net.0.bias": _t(5)}), ValueError, "params['net.0.bias']"),
    ("adaptation.TestTimeAdapter params value=1",
     lambda p: _tta(params={"net.0.bias": 1}), TypeError, "params['net.0.bias']"),
    ("adaptation.TestTimeAdapter params={}", lambda p: _tta(params={}), TypeError, "params"),
    ("adaptation.TestTimeAdapter betas=0.9", lambda p: _tta(betas=0.9), ValueError, "betas"),
    ("adaptation.TestTimeAdapter betas nan", lambda p: _tta(betas=(math.nan, 0.9)), ValueError,
     "betas"),
    ("adaptation.TestTimeAdapter reset_to_init='no'", lambda p: _tta(reset_to_init="no"),
     TypeError, "reset_to_init"),
    ("adaptation.TestTimeAdapter vmap='no'", lambda p: _tta(vmap="no"), TypeError, "vmap"),
    ("adaptation.TestTimeAdapter forward_fn=1", lambda p: _tta(forward_fn=1), TypeError,
     "forward_fn"),
    ("adaptation.TestTimeAdapter loss_fn='mse'", lambda p: _tta(loss_fn="mse"), TypeError,
     "loss_fn"),
    ("adaptation.TestTimeAdapter lr='a'", lambda p: _tta(lr="a"), ValueError, "lr"),
    ("adaptation.TestTimeAdapter.init_state feature_dim of another model",
     lambda p: _tta().init_state(2, 5, 1), ValueError, "feature_dim must be the model's"),
    ("adaptation.TestTimeAdapter.init_state target_dim=-1",
     lambda p: _tta().init_state(2, 4, -1), ValueError, "target_dim"),
    ("adaptation.TestTimeAdapter.init_state feature_dim='a'",
     lambda p: _tta().init_state(2, "a", 1), ValueError, "feature_dim"),
    ("adaptation.TestTimeAdapter.init_state batch=0",
     lambda p: _tta().init_state(0, 4, 1), ValueError, "batch"),
    ("adaptation.TestTimeAdapter.predict x numpy",
     lambda p: _predict(np.zeros((2, 4))), TypeError, "x must be a torch.Tensor"),
    ("adaptation.TestTimeAdapter.predict x float64",
     lambda p: _predict(_t(2, 4, dtype=torch.float64)), TypeError, "x must have the model's"),
    ("adaptation.TestTimeAdapter.predict x of 5 features",
     lambda p: _predict(_t(2, 5)), ValueError, "x must have shape (B, F) with F = 4"),
    ("adaptation.TestTimeAdapter.predict x of 3 sequences",
     lambda p: _predict(_t(3, 4)), ValueError, "x must have shape (B, F) with B = 2"),
    ("adaptation.TestTimeAdapter.predict state=None",
     lambda p: _tta().predict(None, _t(2, 4)), TypeError, "state"),
    ("adaptation.TestTimeAdapter.observe y of 2 entries",
     lambda p: _observe(y=_t(2, 2)), ValueError, "y must have shape (B, Q) with Q = 1"),
    ("adaptation.TestTimeAdapter.observe y float64",
     lambda p: _observe(y=_t(2, 1, dtype=torch.float64)), TypeError, "y must have the model's"),
    ("adaptation.TestTimeAdapter.observe y numpy",
     lambda p: _observe(y=np.zeros((2, 1))), TypeError, "y must be a torch.Tensor"),
    ("adaptation.TestTimeAdapter.observe x nan",
     lambda p: _observe(x=torch.full((2, 4), math.nan)), ValueError, "x must be finite"),
    ("adaptation.TestTimeAdapter.observe state of another adapter",
     lambda p: _observe(state=_other_state()), ValueError, "state must come from this adapter"),
    ("adaptation.TestTimeAdapter.weight_drift state=dict",
     lambda p: _tta().weight_drift({}), TypeError, "state"),
    ("adaptation.TestTimeAdapter.run inputs numpy",
     lambda p: _run(np.zeros((1, 5, 4))), TypeError, "inputs"),
    ("adaptation.TestTimeAdapter.run inputs float64",
     lambda p: _run(_t(1, 5, 4, dtype=torch.float64)), TypeError, "inputs must have the model's"),
    ("adaptation.TestTimeAdapter.run targets float64",
     lambda p: _run(targets=_t(1, 5, 1, dtype=torch.float64)), TypeError,
     "targets must have the model's"),
    ("adaptation.TestTimeAdapter.run inputs of 3 features",
     lambda p: _run(_t(1, 5, 3)), ValueError, "inputs must have shape (B, N, F) with F = 4"),
    ("adaptation.TestTimeAdapter.run targets of 2 entries",
     lambda p: _run(targets=_t(1, 5, 2)), ValueError, "targets must have shape (B, N, Q)"),
    ("adaptation.TestTimeAdapter.run no steps",
     lambda p: _run(_t(1, 0, 4), _t(1, 0, 1)), ValueError, "at least one sequence and one step"),
    ("adaptation.TestTimeAdapter.run targets nan",
     lambda p: _run(targets=torch.full((1, 5, 1), math.nan)), ValueError,
     "targets must be finite"),
    ("adaptation.TestTimeAdapter.run record_weights='yes'",
     lambda p: _run(record_weights="yes"), TypeError, "record_weights"),
    ("adaptation.TestTimeAdapter.run steps of another length",
     lambda p: _run(targets=_t(1, 6, 1)), ValueError, "inputs and targets must share"),
    # forecasters
    ("adaptation.NextStepMLP hidden=3",
     lambda p: _adaptation().NextStepMLP(2, hidden=3), TypeError, "hidden"),
    ("adaptation.NextStepMLP residual='no'", lambda p: _mlp(residual="no"), TypeError,
     "residual"),
    ("adaptation.NextStepMLP history=0", lambda p: _adaptation().NextStepMLP(0), ValueError,
     "history"),
    ("adaptation.NextStepMLP.forward features of 5",
     lambda p: _mlp()(_t(3, 5)), ValueError, "features must have shape (..., F) with F = 4"),
    ("adaptation.NextStepMLP.forward features nan",
     lambda p: _mlp()(torch.full((3, 4), math.nan)), ValueError, "features must be finite"),
    ("adaptation.NextStepMLP.forward features float64",
     lambda p: _mlp()(_t(3, 4, dtype=torch.float64)), TypeError, "features must have the model's"),
    ("adaptation.NextStepMLP.forward features numpy",
     lambda p: _mlp()(np.zeros((3, 4))), TypeError, "features must be a torch.Tensor"),
    ("adaptation.InContextSSMForecaster d_model=0",
     lambda p: _adaptation().InContextSSMForecaster(2, d_model=0), ValueError, "d_model"),
    ("adaptation.InContextSSMForecaster num_layers=0",
     lambda p: _adaptation().InContextSSMForecaster(2, d_model=4, num_layers=0), ValueError,
     "num_layers"),
    ("adaptation.InContextSSMForecaster.forward features of 5",
     lambda p: _ic()(_t(1, 3, 5)), ValueError, "features must have shape (B, N, F) with F = 4"),
    ("adaptation.InContextSSMForecaster.forward features float64",
     lambda p: _ic()(_t(1, 3, 4, dtype=torch.float64)), TypeError,
     "features must have the model's"),
    ("adaptation.InContextSSMForecaster.forward no steps",
     lambda p: _ic()(_t(1, 0, 4)), ValueError, "features must hold at least one"),
    ("adaptation.InContextSSMForecaster.init_state batch=0",
     lambda p: _ic().init_state(0), ValueError, "batch"),
    ("adaptation.InContextSSMForecaster.step features_t of 5",
     lambda p: _ic().step(_t(2, 5), _ic().init_state(2)), ValueError, "features_t"),
    ("adaptation.InContextSSMForecaster.step state=None",
     lambda p: _ic().step(_t(2, 4), None), ValueError, "state must be the list of 1"),
    ("adaptation.InContextSSMForecaster.step features_t float64",
     lambda p: _ic().step(_t(2, 4, dtype=torch.float64), _ic().init_state(2)), TypeError,
     "features_t"),
    ("adaptation.context_limited_predictions model=object()",
     lambda p: _clp(object()), TypeError, "model"),
    ("adaptation.context_limited_predictions chunk_size=0",
     lambda p: _clp(context=9, chunk_size=0), ValueError, "chunk_size"),
    ("adaptation.context_limited_predictions features of 3",
     lambda p: _clp(features=_t(1, 5, 3)), ValueError, "features must have shape (B, N, F)"),
    ("adaptation.context_limited_predictions context=0",
     lambda p: _clp(context=0), ValueError, "context"),
    ("adaptation.context_limited_predictions no steps",
     lambda p: _clp(features=_t(1, 0, 4)), ValueError, "features must hold at least one"),
    ("adaptation.fit_in_context tasks=None",
     lambda p: _adaptation().fit_in_context(_ic(), None, iterations=1, progress=False),
     TypeError, "tasks"),
    ("adaptation.fit_in_context model=object()",
     lambda p: _adaptation().fit_in_context(object(), None, iterations=1), TypeError, "model"),
    ("adaptation.fit_in_context batch_size=0",
     lambda p: _adaptation().fit_in_context(_ic(), _Tasks(), iterations=0, batch_size=0),
     ValueError, "batch_size"),
    ("adaptation.fit_in_context lr=0",
     lambda p: _adaptation().fit_in_context(_ic(), _Tasks(), lr=0), ValueError, "lr"),
    ("adaptation.fit_in_context iterations=-1",
     lambda p: _adaptation().fit_in_context(_ic(), _Tasks(), iterations=-1), ValueError,
     "iterations"),
    ("adaptation.fit_next_step model=object()", lambda p: _fit(model=object()), TypeError,
     "model"),
    ("adaptation.fit_next_step inputs float64", lambda p: _fit(inputs=_t(5, 4, dtype=torch.float64)),
     TypeError, "inputs must have the model's"),
    ("adaptation.fit_next_step inputs numpy", lambda p: _fit(inputs=np.zeros((5, 4))),
     TypeError, "inputs must be a torch.Tensor"),
    ("adaptation.fit_next_step inputs of 3 features", lambda p: _fit(inputs=_t(5, 3)),
     ValueError, "inputs must have shape (..., F) with F = 4"),
    ("adaptation.fit_next_step targets of 2 entries", lambda p: _fit(targets=_t(5, 2)),
     ValueError, "targets must have shape (..., Q) with Q = 1"),
    ("adaptation.fit_next_step inputs nan", lambda p: _fit(inputs=torch.full((5, 4), math.nan)),
     ValueError, "inputs must be finite"),
    ("adaptation.fit_next_step no examples", lambda p: _fit(inputs=_t(0, 4), targets=_t(0, 1)),
     ValueError, "inputs must hold at least one example"),
    ("adaptation.fit_next_step batch_size=0", lambda p: _fit(batch_size=0), ValueError,
     "batch_size"),
    ("adaptation.fit_next_step seed=-1", lambda p: _fit(seed=-1), ValueError, "seed"),
    ("adaptation.fit_next_step lr=0", lambda p: _fit(lr=0), ValueError, "lr"),
    ("adaptation.persistence_forecast int tensor",
     lambda p: _adaptation().persistence_forecast(torch.zeros(1, 3, 1, dtype=torch.long)),
     TypeError, "y must be a floating tensor"),
    ("adaptation.persistence_forecast numpy",
     lambda p: _adaptation().persistence_forecast(np.zeros((1, 3, 1))), TypeError, "y"),
    ("adaptation.squared_errors predictions numpy",
     lambda p: _adaptation().squared_errors(np.zeros((1, 3, 1)), _t(1, 3, 1)), TypeError,
     "predictions"),
    ("adaptation.squared_errors targets list",
     lambda p: _adaptation().squared_errors(_t(1, 3, 1), [0.0]), TypeError, "targets"),
    ("adaptation.squared_errors shapes differ",
     lambda p: _adaptation().squared_errors(_t(1, 3, 1), _t(1, 4, 1)), ValueError,
     "predictions and targets must have the same shape"),
    # mpc
    ("adaptation.rollout_cost state numpy", lambda p: _rollout(state=np.zeros(2)), TypeError,
     "state"),
    ("adaptation.rollout_cost actions 2-d", lambda p: _rollout(actions=_t(5, 3)), ValueError,
     "actions must have shape (C, T, A)"),
    ("adaptation.rollout_cost actions float64",
     lambda p: _rollout(actions=_t(5, 3, 1, dtype=torch.float64)), TypeError,
     "actions must have the dtype and device of state"),
    ("adaptation.rollout_cost cost of shape (C, 1)",
     lambda p: _rollout(cost_fn=lambda s, a: s[:, :1]), ValueError, "cost_fn must return"),
    ("adaptation.rollout_cost dynamics of another state size",
     lambda p: _rollout(dynamics_fn=lambda s, a: s[:, :1]), ValueError,
     "dynamics_fn must return"),
    ("adaptation.rollout_cost dynamics_fn=1", lambda p: _rollout(dynamics_fn=1), TypeError,
     "dynamics_fn"),
    ("adaptation.random_shooting action_low='a'", lambda p: _plan(action_low="a"), TypeError,
     "action_low"),
    ("adaptation.random_shooting action_low=-inf", lambda p: _plan(action_low=-math.inf),
     ValueError, "action_low and action_high must be finite"),
    ("adaptation.random_shooting generator=0", lambda p: _plan(generator=0), TypeError,
     "generator must be a Generator"),
    ("adaptation.random_shooting state int",
     lambda p: _plan(state=torch.zeros(2, dtype=torch.long)), TypeError,
     "state must be a floating tensor"),
    ("adaptation.random_shooting cost_fn=None", lambda p: _plan(cost_fn=None), TypeError,
     "cost_fn"),
    ("adaptation.random_shooting num_candidates=0", lambda p: _plan(num_candidates=0),
     ValueError, "num_candidates"),
    ("adaptation.cem num_elites > num_candidates", lambda p: _plan("cem", num_elites=30),
     ValueError, "num_elites"),
    ("adaptation.cem generator='x'", lambda p: _plan("cem", generator="x"), TypeError,
     "generator must be a Generator"),
    ("adaptation.cem iterations=0", lambda p: _plan("cem", iterations=0), ValueError,
     "iterations"),
    ("adaptation.cem bounds of two shapes",
     lambda p: _plan("cem", action_low=[0.0, 0.0], action_high=[1.0]), ValueError,
     "action_low and action_high must have the same shape"),
    ("adaptation.PendulumDynamicsModel torque_limit=0",
     lambda p: _adaptation().PendulumDynamicsModel(torque_limit=0), ValueError, "torque_limit"),
    ("adaptation.PendulumDynamicsModel hidden='a'",
     lambda p: _adaptation().PendulumDynamicsModel(hidden="a"), TypeError, "hidden"),
    ("adaptation.PendulumDynamicsModel.forward x of 2 features",
     lambda p: _adaptation().PendulumDynamicsModel()(_t(4, 2)), ValueError,
     "x must have shape (..., F) with F = 3"),
    ("adaptation.PendulumDynamicsModel.forward x of 4 features",
     lambda p: _adaptation().PendulumDynamicsModel()(_t(4, 4)), ValueError,
     "x must have shape (..., F) with F = 3"),
    ("adaptation.PendulumDynamicsModel.forward x float64",
     lambda p: _adaptation().PendulumDynamicsModel()(_t(4, 3, dtype=torch.float64)), TypeError,
     "x must have the model's"),
    ("adaptation.angle_tracking_cost target nan",
     lambda p: _adaptation().angle_tracking_cost(math.nan, 0.1), ValueError, "target"),
    ("adaptation.angle_tracking_cost torque_cost=-1",
     lambda p: _adaptation().angle_tracking_cost(0.0, -1), ValueError, "torque_cost"),
    ("adaptation.pendulum_mpc_episodes adapter=None",
     lambda p: _adaptation().pendulum_mpc_episodes(None, torch.ones(1, 2), _t(1, 2)), TypeError,
     "adapter"),
    ("adaptation.pendulum_mpc_episodes adapter of a forecaster",
     lambda p: _mpc(adapter=_tta()), ValueError, "adapter must adapt a pendulum model"),
    ("adaptation.pendulum_mpc_episodes masses=0", lambda p: _mpc(masses=_t(1, 2)), ValueError,
     "masses must be finite and > 0"),
    ("adaptation.pendulum_mpc_episodes masses numpy", lambda p: _mpc(masses=np.ones((1, 2))),
     TypeError, "masses"),
    ("adaptation.pendulum_mpc_episodes targets nan",
     lambda p: _mpc(targets=torch.full((1, 2), math.nan)), ValueError, "targets must be finite"),
    ("adaptation.pendulum_mpc_episodes no steps",
     lambda p: _mpc(masses=torch.ones(1, 0), targets=_t(1, 0)), ValueError,
     "at least one episode and one step"),
    ("adaptation.pendulum_mpc_episodes pendulum_length=0",
     lambda p: _mpc(pendulum_length=0), ValueError, "pendulum_length"),
    ("adaptation.pendulum_mpc_episodes torque_limit=-1", lambda p: _mpc(torque_limit=-1),
     ValueError, "torque_limit"),
    ("adaptation.pendulum_mpc_episodes torque_cost nan", lambda p: _mpc(torque_cost=math.nan),
     ValueError, "torque_cost"),
    ("adaptation.pendulum_mpc_episodes planner=['cem']", lambda p: _mpc(planner=["cem"]),
     ValueError, "planner"),
    ("adaptation.pendulum_mpc_episodes seed=-1", lambda p: _mpc(seed=-1), ValueError, "seed"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_adaptation_still_run():
    a = _adaptation()
    torch.manual_seed(0)
    model = a.NextStepMLP(np.int64(2), hidden=[3]).double()
    adapter = a.TestTimeAdapter(model, lr=np.float32(0.1), betas=[0.9, 0.99], optimizer="adam",
                                reset_to_init=np.bool_(True), window=np.int64(3))
    inputs, targets = torch.randn(2, 6, 4, dtype=torch.float64), torch.zeros(2, 6, 1,
                                                                             dtype=torch.float64)
    trace = adapter.run(inputs, targets, record_weights=True)
    assert trace.predictions.shape == (2, 6, 1) and trace.weights is not None
    state = adapter.init_state(np.int64(2), np.int64(4), 1)
    assert adapter.predict(state, inputs[:, 0]).shape == (2, 1)
    state = adapter.observe(state, inputs[:, 0], targets[:, 0])
    assert adapter.weight_drift(state).shape == (2,)
    # a model without in_features, params given, and a forward_fn that converts the inputs
    linear = nn.Linear(3, 1)
    frozen = a.TestTimeAdapter(linear, "weight", lr=0.0, params=dict(linear.named_parameters()))
    assert frozen.run(_t(1, 4, 3), _t(1, 4, 1)).errors.shape == (1, 4)
    converting = a.TestTimeAdapter(linear, forward_fn=lambda m, w, x: torch.func.functional_call(
        m, w, (x.float(),)), lr=0.1)
    assert converting.run(_t(1, 4, 3), _t(1, 4, 1)).errors.shape == (1, 4)
    # forecasters: features of any leading shape; NaN in predictions is data, not an error
    assert model(torch.zeros(4, dtype=torch.float64)).shape == (1,)
    assert model(torch.zeros(2, 3, 4, dtype=torch.float64)).shape == (2, 3, 1)
    assert a.fit_next_step(_mlp(), _t(2, 3, 4), _t(2, 3, 1), iterations=np.int64(1),
                           batch_size=4, progress=False)[0] >= 0
    y = torch.randn(1, 5, 1)
    assert torch.isnan(a.squared_errors(a.persistence_forecast(y), y)[0, 0])
    ic = _ic()
    assert a.context_limited_predictions(ic, _t(1, 5, 4), np.int64(2), chunk_size=2).shape == \
        (1, 5, 1)
    assert a.context_limited_predictions(lambda f: f[..., :1], _t(1, 5, 4), 9).shape == (1, 5, 1)
    assert ic.step(_t(2, 4), [None])[0].shape == (2, 1)
    # metrics: NaN errors, NumPy ints and whole floats as switch steps, tensor masks
    errors = np.random.default_rng(0).random((2, 100))
    errors[:, :3] = np.nan
    switches = [[np.int64(50)], [40.0]]
    windows = {"before": 10, "steady": 10}
    assert a.event_window_means(errors, switches, "shock", **windows).shape == (2,)
    mask = torch.zeros(2, 100, dtype=torch.bool)
    mask[0, 50], mask[1, 40] = True, True
    np.testing.assert_array_equal(
        a.event_window_means(torch.as_tensor(errors), mask, "steady", **windows),
        a.event_window_means(errors, switches, "steady", **windows))
    table = a.switch_aligned_metrics({"m": errors, "o": errors}, switches,
                                     recovery_reference="o", factor=np.float32(1.5), **windows)
    assert table["m"]["events"] == 2 and "m" in a.format_metrics_table(table)
    assert a.recovery_time(errors[0], 50, before=20, horizon=30, reference=errors[0]) == 0.0
    assert a.smoothed_errors([1.0, 3.0], 2).tolist() == [1.0, 2.0]
    assert a.smoothed_errors(torch.tensor([1.0, 3.0]), np.int64(1)).tolist() == [1.0, 3.0]
    assert a.switch_aligned_curve(errors, switches, before=10, after=30,
                                  smoothing=3)[1].shape == (40,)
    assert a.switch_events(switches, 100, 0, 0) == [(0, 50), (1, 40)]
    assert a.window_offsets(np.int64(2), 1, 1, 1)["before"] == (-2, 0)
    assert a.paired_window_gain(errors, errors, switches, "shock", **windows)[0] == 0.0
    # mpc: tensor bounds, a generator, float64 states
    state64 = torch.zeros(2, dtype=torch.float64)
    assert a.rollout_cost(_dynamics, state64, torch.zeros(4, 3, 1, dtype=torch.float64),
                          _cost).shape == (4,)
    assert _plan(generator=torch.Generator().manual_seed(0), num_candidates=np.int64(5)).shape \
        == (1,)
    assert _plan("cem", action_low=torch.tensor([-1.0]), action_high=torch.tensor([1.0]),
                 num_elites=np.int64(3)).shape == (1,)
    assert a.angle_tracking_cost(np.float32(0.5), 0)(_t(3, 2), _t(3, 1)).shape == (3,)
    assert _mpc(masses=torch.ones(1, 2, dtype=torch.long)).rewards.shape == (1, 2)
    # ttt: batched delta rule with one rate per state; initial weights
    assert a.delta_rule_step(_t(5, 3, 4), _t(5, 4), _t(5, 3), _t(5)).shape == (5, 3, 4)
    assert a.delta_rule_step(_t(3, 4), _t(4), _t(3), torch.tensor(0.5)).shape == (3, 4)
    assert _qkv("ttt_linear_batch", None, None, None, 0.5, _t(2, 2)).shape == (1, 3, 2)
    assert _qkv("delta_rule_as_ssm", None, None, None, _t(1, 3)).shape == (1, 3, 2)
