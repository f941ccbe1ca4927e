"""Every bad input gets a clear error at the public boundary (design section 8).

One table of (callable, expected exception type, substring of the message that
names the argument) over the public callables of ssm, scan, cores, policies,
rl, checkpoints and functional, a second table (MORE_CASES) for results,
switching/tasks, meta_rl and maml, and a third (THIRD_CASES) for trpo, the
envs and task families, adaptation.PolicyAdapter, system and navigation_runs. Each case builds its own small objects, so a
case fails alone.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from ssm_metarl import (
    checkpoints,
    cores,
    functional,
    maml,
    meta_rl,
    policies,
    results,
    rl,
    scan,
    ssm,
    switching,
    tasks,
)

F32 = torch.float32


def _t(*shape, dtype=F32):
    return torch.zeros(*shape, dtype=dtype)


def _lin():
    return ssm.LinearSSM(2, 1, 1, seed=0)


def _s4d():
    return ssm.S4DLayer(3, 4)


def _sel():
    return ssm.SelectiveSSM(4, d_state=4)


def _adaptation():
    from ssm_metarl import adaptation

    return adaptation


def _plotting():
    import matplotlib

    matplotlib.use("Agg")
    from ssm_metarl import plotting

    return plotting


def _mlp():
    return policies.MLPPolicy(3, 2, (8,))


def _meta(**kw):
    return policies.SSMMetaPolicy(obs_dim=2, action_dim=2, hidden_dim=8, ssm_state_dim=4, **kw)


def _gru(**kw):
    return policies.GRUPolicy(obs_dim=2, action_dim=2, hidden_dim=8, **kw)


def _core(name="selective"):
    return cores.make_core(name, 8, 4)


def _saved(tmp_path, mutate):
    """A LinearSSM checkpoint at tmp_path whose payload went through ``mutate``."""
    path = tmp_path / "lin.pt"
    _lin().save(path)
    payload = torch.load(path, weights_only=True)
    mutate(payload)
    torch.save(payload, path)
    return path


def _nan_weights(payload):
    payload["state_dict"]["A"] = torch.full_like(payload["state_dict"]["A"], math.nan)


def _list_weights(payload):
    payload["state_dict"]["C"] = payload["state_dict"]["C"].tolist()


def _fit(**over):
    args = {"obs": _t(4, 2, 3), "time_steps": torch.zeros(4, 2, dtype=torch.long),
            "returns": _t(4, 2)}
    args.update(over)
    return rl.LinearFeatureBaseline().fit(**args)


def _gae(**over):
    args = {"rewards": _t(4, 2), "values": _t(4, 2), "dones": _t(4, 2), "last_value": _t(2),
            "gamma": 0.9, "lam": 0.95}
    args.update(over)
    return rl.gae(**args)


def _returns(**over):
    args = {"rewards": _t(4, 2), "dones": _t(4, 2), "gamma": 0.9}
    args.update(over)
    return rl.discounted_returns(**args)


def _ppo(**over):
    args = {"new_log_probs": _t(5), "old_log_probs": _t(5), "advantages": _t(5)}
    args.update(over)
    return rl.ppo_loss(**args)


def _scan(fn=scan.scan, **over):
    args = {"a": _t(2, 5, 3), "b": _t(2, 5, 3)}
    args.update(over)
    return fn(**args)


def _grads():
    return {"w": torch.ones(3)}


class _FakeEnv:
    num_envs = 2

    def reset(self, seed=None):
        return np.zeros((2, 3)), {}

    def step(self, action):
        return np.zeros((2, 3)), np.zeros(2), np.zeros(2, bool), np.zeros(2, bool), {}


A2, B2 = -torch.eye(2), torch.ones(2, 1)

# (id, thunk taking tmp_path, expected type, substring naming the argument)
CASES = [
    # ------------------------------------------------------------------ ssm
    ("ssm.LinearSSM state_dim=0", lambda p: ssm.LinearSSM(0), ValueError, "state_dim"),
    ("ssm.LinearSSM input_dim=1.5", lambda p: ssm.LinearSSM(2, 1.5), ValueError, "input_dim"),
    ("ssm.LinearSSM dt='0.1'", lambda p: ssm.LinearSSM(2, dt="0.1"), ValueError, "dt"),
    ("ssm.LinearSSM dt=nan", lambda p: ssm.LinearSSM(2, dt=math.nan), ValueError, "dt"),
    ("ssm.LinearSSM dtype=complex64",
     lambda p: ssm.LinearSSM(2, dtype=torch.complex64), ValueError, "dtype"),
    ("ssm.LinearSSM dtype=int64",
     lambda p: ssm.LinearSSM(2, dtype=torch.int64), ValueError, "dtype"),
    ("ssm.LinearSSM device=cuda", lambda p: ssm.LinearSSM(2, device="cuda"), ValueError, "device"),
    ("ssm.LinearSSM device=foo", lambda p: ssm.LinearSSM(2, device="foo"), ValueError, "device"),
    ("ssm.LinearSSM method=rk4", lambda p: ssm.LinearSSM(2, method="rk4"), ValueError, "method"),
    ("ssm.LinearSSM seed=-1", lambda p: ssm.LinearSSM(2, seed=-1), ValueError, "seed"),
    ("ssm.LinearSSM u float64", lambda p: _lin()(_t(1, 5, 1, dtype=torch.float64)),
     TypeError, "u"),
    ("ssm.LinearSSM u int64", lambda p: _lin()(torch.zeros(1, 5, 1, dtype=torch.long)),
     TypeError, "u"),
    ("ssm.LinearSSM u numpy", lambda p: _lin()(np.zeros((1, 5, 1))), TypeError, "u"),
    ("ssm.LinearSSM u width", lambda p: _lin()(_t(1, 5, 3)), ValueError, "u"),
    ("ssm.LinearSSM mode=fft", lambda p: _lin()(_t(1, 5, 1), mode="fft"), ValueError, "mode"),
    ("ssm.LinearSSM state shape", lambda p: _lin()(_t(1, 5, 1), _t(1, 3)), ValueError, "state"),
    ("ssm.LinearSSM state float64",
     lambda p: _lin()(_t(1, 5, 1), _t(1, 2, dtype=torch.float64)), TypeError, "state"),
    ("ssm.LinearSSM.step u_t float64",
     lambda p: _lin().step(_t(1, 1, dtype=torch.float64)), TypeError, "u_t"),
    ("ssm.LinearSSM.init_state batch=0", lambda p: _lin().init_state(0), ValueError, "batch"),
    ("ssm.S4DLayer d_state=3", lambda p: ssm.S4DLayer(3, 3), ValueError, "d_state"),
    ("ssm.S4DLayer dt_min='0.1'", lambda p: ssm.S4DLayer(3, 4, dt_min="0.1"), ValueError,
     "dt_min"),
    ("ssm.S4DLayer dtype=complex64",
     lambda p: ssm.S4DLayer(3, 4, dtype=torch.complex64), ValueError, "dtype"),
    ("ssm.S4DLayer device=cuda", lambda p: ssm.S4DLayer(3, 4, device="cuda"), ValueError,
     "device"),
    ("ssm.S4DLayer init=foo", lambda p: ssm.S4DLayer(3, 4, init="foo"), ValueError, "kind"),
    ("ssm.S4DLayer x float64", lambda p: _s4d()(_t(1, 5, 3, dtype=torch.float64)), TypeError,
     "x"),
    ("ssm.S4DLayer x numpy", lambda p: _s4d()(np.zeros((1, 5, 3))), TypeError, "x"),
    ("ssm.S4DLayer x width", lambda p: _s4d()(_t(1, 5, 2)), ValueError, "x"),
    ("ssm.S4DLayer.kernel L=0", lambda p: _s4d().kernel(0), ValueError, "L"),
    ("ssm.SelectiveSSM d_conv=0", lambda p: ssm.SelectiveSSM(4, d_conv=0), ValueError, "d_conv"),
    ("ssm.SelectiveSSM dt_max='1'", lambda p: ssm.SelectiveSSM(4, dt_max="1"), ValueError,
     "dt_max"),
    ("ssm.SelectiveSSM dtype=int64", lambda p: ssm.SelectiveSSM(4, dtype=torch.int64),
     ValueError, "dtype"),
    ("ssm.SelectiveSSM device=cuda", lambda p: ssm.SelectiveSSM(4, device="cuda"), ValueError,
     "device"),
    ("ssm.SelectiveSSM x float64", lambda p: _sel()(_t(1, 5, 4, dtype=torch.float64)),
     TypeError, "x"),
    ("ssm.SelectiveSSM x int64", lambda p: _sel()(torch.zeros(1, 5, 4, dtype=torch.long)),
     TypeError, "x"),
    ("ssm.SelectiveSSM x width", lambda p: _sel()(_t(1, 5, 3)), ValueError, "x"),
    ("ssm.SelectiveSSM reset int", lambda p: _sel()(_t(1, 5, 4), reset=torch.zeros(1, 5)),
     TypeError, "reset"),
    ("ssm.SelectiveSSM.step x_t float64", lambda p: _sel().step(_t(1, 4, dtype=torch.float64)),
     TypeError, "x_t"),
    ("ssm.SelectiveSSM state tuple", lambda p: _sel()(_t(1, 5, 4), state=(1, 2)), TypeError,
     "state"),
    ("ssm.discretize dt='0.1'", lambda p: ssm.discretize(A2, B2, "0.1"), TypeError, "dt"),
    ("ssm.discretize dt=-1", lambda p: ssm.discretize(A2, B2, -1.0), ValueError, "dt"),
    ("ssm.discretize method", lambda p: ssm.discretize(A2, B2, 0.1, "rk4"), ValueError, "method"),
    ("ssm.discretize A list", lambda p: ssm.discretize([[1.0]], B2, 0.1), TypeError, "A"),
    ("ssm.discretize B shape", lambda p: ssm.discretize(A2, torch.ones(3, 1), 0.1), ValueError,
     "B"),
    ("ssm.discretize dt complex", lambda p: ssm.discretize(A2, B2, torch.tensor(0.1 + 1j)),
     ValueError, "dt"),
    ("ssm.hippo_legs N=0", lambda p: ssm.hippo_legs(0), ValueError, "N"),
    ("ssm.hippo_legs dtype=int64", lambda p: ssm.hippo_legs(3, dtype=torch.int64), ValueError,
     "dtype"),
    ("ssm.hippo_legs dtype=complex64", lambda p: ssm.hippo_legs(3, dtype=torch.complex64),
     ValueError, "dtype"),
    ("ssm.hippo_legs device=cuda", lambda p: ssm.hippo_legs(3, device="cuda"), ValueError,
     "device"),
    ("ssm.ssm_kernel L=0", lambda p: ssm.ssm_kernel(A2, B2, torch.ones(1, 2), 0), ValueError,
     "L"),
    ("ssm.ssm_kernel C numpy", lambda p: ssm.ssm_kernel(A2, B2, np.ones((1, 2)), 4), TypeError,
     "C"),
    ("ssm.ssm_kernel C shape", lambda p: ssm.ssm_kernel(A2, B2, torch.ones(1, 3), 4), ValueError,
     "C"),
    ("ssm.causal_conv u numpy", lambda p: ssm.causal_conv(np.zeros((5, 3)), _t(3, 5)), TypeError,
     "u"),
    ("ssm.causal_conv K width", lambda p: ssm.causal_conv(_t(5, 3), _t(2, 5)), ValueError, "K"),
    # ------------------------------------------------------------------ scan
    ("scan.scan a numpy", lambda p: _scan(a=np.zeros((2, 5, 3))), TypeError, "a"),
    ("scan.scan a 2-D", lambda p: _scan(a=_t(5, 3)), ValueError, "a"),
    ("scan.scan b float64", lambda p: _scan(b=_t(2, 5, 3, dtype=torch.float64)), TypeError, "b"),
    ("scan.scan a int", lambda p: _scan(a=torch.zeros(2, 5, 3, dtype=torch.long),
                                         b=torch.zeros(2, 5, 3, dtype=torch.long)),
     TypeError, "a"),
    ("scan.scan h0 shape", lambda p: _scan(h0=_t(2, 4)), ValueError, "h0"),
    ("scan.scan h0 float64", lambda p: _scan(h0=_t(2, 3, dtype=torch.float64)), TypeError, "h0"),
    ("scan.scan reset float", lambda p: _scan(reset=_t(2, 5)), TypeError, "reset"),
    ("scan.scan reset shape", lambda p: _scan(reset=torch.zeros(2, 4, dtype=torch.bool)),
     ValueError, "reset"),
    ("scan.scan chunk_size=0", lambda p: _scan(chunk_size=0), ValueError, "chunk_size"),
    ("scan.scan chunk_size='8'", lambda p: _scan(chunk_size="8"), ValueError, "chunk_size"),
    ("scan.scan_reference a list", lambda p: _scan(scan.scan_reference, a=[[[1.0]]]), TypeError,
     "a"),
    ("scan.scan_doubling b L=0", lambda p: _scan(scan.scan_doubling, a=_t(2, 0, 3),
                                                 b=_t(2, 0, 3)), ValueError, "L"),
    # ------------------------------------------------------------------ cores
    ("cores.make_core name", lambda p: cores.make_core("lstm", 8), ValueError, "core"),
    ("cores.make_core hidden_dim=0", lambda p: cores.make_core("selective", 0), ValueError,
     "hidden_dim"),
    ("cores.make_core dtype=int64", lambda p: cores.make_core("selective", 8, dtype=torch.int64),
     ValueError, "dtype"),
    ("cores.make_core s4d dtype=complex",
     lambda p: cores.make_core("s4d", 8, 4, dtype=torch.complex64), ValueError, "dtype"),
    ("cores.make_core gru device=cuda", lambda p: cores.make_core("gru", 8, device="cuda"),
     ValueError, "device"),
    ("cores.make_core s4d device=cuda", lambda p: cores.make_core("s4d", 8, 4, device="cuda"),
     ValueError, "device"),
    ("cores.make_core dt_min='1e-3'", lambda p: cores.make_core("ssd", 8, 4, dt_min="1e-3"),
     ValueError, "dt_min"),
    ("cores.SelectiveCore u float64", lambda p: _core()(_t(2, 5, 8, dtype=torch.float64)),
     TypeError, "u"),
    ("cores.SelectiveCore u numpy", lambda p: _core()(np.zeros((2, 5, 8))), TypeError, "u"),
    ("cores.SelectiveCore u width", lambda p: _core()(_t(2, 5, 7)), ValueError, "u"),
    ("cores.SSDCore.step u_t float64",
     lambda p: _core("ssd").step(_t(2, 8, dtype=torch.float64)), TypeError, "u_t"),
    ("cores.S4DCore state shape", lambda p: _core("s4d")(_t(2, 5, 8), _t(2, 3)), ValueError,
     "state"),
    ("cores.LinearCore u int", lambda p: _core("linear")(torch.zeros(2, 5, 8, dtype=torch.long)),
     TypeError, "u"),
    ("cores.GRUCore reset float", lambda p: _core("gru")(_t(2, 5, 8), reset=_t(2, 5)),
     TypeError, "reset"),
    ("cores.GRUCore state float64",
     lambda p: _core("gru")(_t(2, 5, 8), _t(2, 8, dtype=torch.float64)), TypeError, "state"),
    # ------------------------------------------------------------------ policies
    ("policies.MLPPolicy obs_dim=0", lambda p: policies.MLPPolicy(0, 2), ValueError, "obs_dim"),
    ("policies.MLPPolicy init_log_std='0'", lambda p: policies.MLPPolicy(3, 2, init_log_std="0"),
     ValueError, "init_log_std"),
    ("policies.MLPPolicy dtype=int64", lambda p: policies.MLPPolicy(3, 2, dtype=torch.int64),
     ValueError, "dtype"),
    ("policies.MLPPolicy device=cuda", lambda p: policies.MLPPolicy(3, 2, device="cuda"),
     ValueError, "device"),
    ("policies.MLPPolicy.distribution obs numpy",
     lambda p: _mlp().distribution(np.zeros((4, 3))), TypeError, "obs"),
    ("policies.MLPPolicy.distribution obs float64",
     lambda p: _mlp().distribution(_t(4, 3, dtype=torch.float64)), TypeError, "obs"),
    ("policies.MLPPolicy.distribution obs int",
     lambda p: _mlp().distribution(torch.zeros(4, 3, dtype=torch.long)), TypeError, "obs"),
    ("policies.MLPPolicy.distribution obs width",
     lambda p: _mlp().distribution(_t(4, 5)), ValueError, "obs"),
    ("policies.MLPPolicy.distribution params list",
     lambda p: _mlp().distribution(_t(4, 3), params=[1, 2]), TypeError, "params"),
    ("policies.MLPPolicy.act obs numpy", lambda p: _mlp().act(np.zeros((4, 3))), TypeError,
     "obs"),
    ("policies.SSMMetaPolicy hidden_dim=0", lambda p: policies.SSMMetaPolicy(2, 2, hidden_dim=0),
     ValueError, "hidden_dim"),
    ("policies.SSMMetaPolicy dt_min='1'", lambda p: _meta(dt_min="1"), ValueError, "dt_min"),
    ("policies.SSMMetaPolicy device=cuda", lambda p: _meta(device="cuda"), ValueError, "device"),
    ("policies.SSMMetaPolicy dtype=complex", lambda p: _meta(dtype=torch.complex64), ValueError,
     "dtype"),
    ("policies.SSMMetaPolicy x float64", lambda p: _meta()(_t(2, 5, 6, dtype=torch.float64)),
     TypeError, "x"),
    ("policies.SSMMetaPolicy x width", lambda p: _meta()(_t(2, 5, 5)), ValueError, "x"),
    ("policies.SSMMetaPolicy.step x_t numpy", lambda p: _meta().step(np.zeros((2, 6))),
     TypeError, "x_t"),
    ("policies.SSMMetaPolicy.step state shape", lambda p: _meta().step(_t(2, 6), _t(2, 3)),
     ValueError, "state"),
    ("policies.SSMMetaPolicy.act reset float", lambda p: _meta().act(_t(2, 6), reset=_t(2)),
     TypeError, "reset"),
    ("policies.GRUPolicy device=cuda", lambda p: _gru(device="cuda"), ValueError, "device"),
    ("policies.GRUPolicy x int", lambda p: _gru()(torch.zeros(2, 5, 6, dtype=torch.long)),
     TypeError, "x"),
    ("policies.GRUPolicy.step x_t float64", lambda p: _gru().step(_t(2, 6, dtype=torch.float64)),
     TypeError, "x_t"),
    ("policies.stack_params empty", lambda p: policies.stack_params([]), ValueError, "params"),
    # ------------------------------------------------------------------ rl
    ("rl.discounted_returns gamma='0.9'", lambda p: _returns(gamma="0.9"), ValueError, "gamma"),
    ("rl.discounted_returns gamma=1.5", lambda p: _returns(gamma=1.5), ValueError, "gamma"),
    ("rl.discounted_returns rewards numpy", lambda p: _returns(rewards=np.zeros((4, 2))),
     TypeError, "rewards"),
    ("rl.discounted_returns dones shape", lambda p: _returns(dones=_t(4, 3)), ValueError, "dones"),
    ("rl.discounted_returns dones=2", lambda p: _returns(dones=torch.full((4, 2), 2.0)),
     ValueError, "dones"),
    ("rl.discounted_returns last_value numpy", lambda p: _returns(last_value=np.zeros(2)),
     TypeError, "last_value"),
    ("rl.discounted_returns last_value shape", lambda p: _returns(last_value=_t(3)), ValueError,
     "last_value"),
    ("rl.gae lam='0.95'", lambda p: _gae(lam="0.95"), ValueError, "lam"),
    ("rl.gae values shape", lambda p: _gae(values=_t(4, 3)), ValueError, "values"),
    ("rl.gae last_value numpy", lambda p: _gae(last_value=np.zeros(2)), TypeError, "last_value"),
    ("rl.gae dones=-1", lambda p: _gae(dones=torch.full((4, 2), -1.0)), ValueError, "dones"),
    ("rl.gae rewards complex", lambda p: _gae(rewards=_t(4, 2, dtype=torch.complex64)),
     TypeError, "rewards"),
    ("rl.ppo_loss clip=1.5", lambda p: _ppo(clip=1.5), ValueError, "clip"),
    ("rl.ppo_loss clip='0.2'", lambda p: _ppo(clip="0.2"), ValueError, "clip"),
    ("rl.ppo_loss advantages shape", lambda p: _ppo(advantages=_t(4)), ValueError, "advantages"),
    ("rl.ppo_loss old_log_probs numpy", lambda p: _ppo(old_log_probs=np.zeros(5)), TypeError,
     "old_log_probs"),
    ("rl.ppo_loss mask float", lambda p: _ppo(mask=_t(5)), TypeError, "mask"),
    ("rl.reinforce_loss log_probs list",
     lambda p: rl.reinforce_loss([0.0], _t(1)), TypeError, "log_probs"),
    ("rl.LinearFeatureBaseline reg_coeff='1'",
     lambda p: rl.LinearFeatureBaseline(reg_coeff="1"), ValueError, "reg_coeff"),
    ("rl.LinearFeatureBaseline.fit returns nan",
     lambda p: _fit(returns=torch.full((4, 2), math.nan)), ValueError, "returns"),
    ("rl.LinearFeatureBaseline.fit obs nan",
     lambda p: _fit(obs=torch.full((4, 2, 3), math.nan)), ValueError, "obs"),
    ("rl.LinearFeatureBaseline.fit obs numpy", lambda p: _fit(obs=np.zeros((4, 2, 3))),
     TypeError, "obs"),
    ("rl.LinearFeatureBaseline.fit returns shape", lambda p: _fit(returns=_t(4, 3)), ValueError,
     "returns"),
    ("rl.LinearFeatureBaseline.fit mask shape",
     lambda p: _fit(mask=torch.ones(4, 3, dtype=torch.bool)), ValueError, "mask"),
    ("rl.collect_rollouts env", lambda p: rl.collect_rollouts(object(), _mlp(), 3), TypeError,
     "env"),
    ("rl.collect_rollouts num_steps=0", lambda p: rl.collect_rollouts(_FakeEnv(), _mlp(), 0),
     ValueError, "num_steps"),
    ("rl.collect_rollouts action_scale='1'",
     lambda p: rl.collect_rollouts(_FakeEnv(), _mlp(), 3, action_scale="1"), ValueError,
     "action_scale"),
    ("rl.collect_rollouts num_steps=2.0", lambda p: rl.collect_rollouts(_FakeEnv(), _mlp(), 2.0),
     ValueError, "num_steps"),
    # ------------------------------------------------------------------ checkpoints
    ("checkpoints.load missing", lambda p: ssm.LinearSSM.load(p / "none.pt"), FileNotFoundError,
     "none.pt"),
    ("checkpoints.load map_location=foo",
     lambda p: ssm.LinearSSM.load(_saved(p, lambda d: None), map_location="foo"), ValueError,
     "map_location"),
    ("checkpoints.load map_location=cuda",
     lambda p: ssm.LinearSSM.load(_saved(p, lambda d: None), map_location="cuda"), ValueError,
     "map_location"),
    ("checkpoints.load list weights", lambda p: ssm.LinearSSM.load(_saved(p, _list_weights)),
     ValueError, "'C'"),
    ("checkpoints.load nan weights", lambda p: ssm.LinearSSM.load(_saved(p, _nan_weights)),
     ValueError, "'A'"),
    ("checkpoints.load expected_config",
     lambda p: ssm.LinearSSM.load(_saved(p, lambda d: None), expected_config={"state_dim": 3}),
     ValueError, "state_dim"),
    ("checkpoints.check_state_dict list",
     lambda p: checkpoints.check_state_dict("x.pt", {"w": _t(2)}, {"w": [0.0, 0.0]}),
     ValueError, "'w'"),
    ("checkpoints.save_checkpoint extra",
     lambda p: checkpoints.save_checkpoint(p / "x.pt", "f/1", {}, _lin(), {"config": 1}),
     ValueError, "extra"),
    # ------------------------------------------------------------------ functional
    ("functional.clip_gradient_norm max_norm=-1",
     lambda p: functional.clip_gradient_norm(_grads(), -1), ValueError, "max_norm"),
    ("functional.clip_gradient_norm max_norm='1'",
     lambda p: functional.clip_gradient_norm(_grads(), "1"), ValueError, "max_norm"),
    ("functional.clip_gradient_norm max_norm=nan",
     lambda p: functional.clip_gradient_norm(_grads(), math.nan), ValueError, "max_norm"),
    ("functional.support_gradient engine=jax",
     lambda p: functional.support_gradient(
         torch.nn.Linear(1, 1), dict(torch.nn.Linear(1, 1).named_parameters()), ["weight"],
         functional.mse_loss, (_t(2, 1), _t(2, 1)), create_graph=False, engine="jax"),
     ValueError, "engine"),
    ("functional.check_engine jax", lambda p: functional.check_engine("jax"), ValueError,
     "engine"),
    ("functional.check_params list", lambda p: functional.check_params([1]), TypeError, "params"),
    ("functional.check_rates nan",
     lambda p: functional.check_rates(math.nan, _grads(), ["w"]), ValueError, "inner_lr"),
    ("functional.select_params unknown",
     lambda p: functional.select_params(_grads(), ["v"]), ValueError, "params_to_adapt"),
    ("functional.to_numpy ndim", lambda p: functional.to_numpy(_t(2, 2), ndim=1), ValueError,
     "values"),
]



def _save(p, name="demo", metrics=None, profile="paper"):
    """save_result into a data dir under p; every rejection must come before any write."""
    saved = os.environ.get("SSM_METARL_DATA")
    os.environ["SSM_METARL_DATA"] = str(p / "data")
    try:
        results.save_result(name, {"m": 0.5} if metrics is None else metrics, command="x",
                            seeds=[0], profile=profile)
    finally:
        if saved is None:
            del os.environ["SSM_METARL_DATA"]
        else:
            os.environ["SSM_METARL_DATA"] = saved
        assert not (p / "data").exists() and not (p / "escaped.json").exists(), "wrote a file"


def _sample():
    return tasks.SinusoidTasks(seed=0).sample(3, 2, 2)


def _evaluate(**over):
    args = {"policy": policies.MLPPolicy(2, 2, (8,)), "params": None, "goals": np.zeros((2, 2)),
            "steps": 1, "trajectories_per_task": 2, "horizon": 3}
    args.update(over)
    return meta_rl.evaluate_maml_rl(**args)


def _trainer():
    return maml.MetaMAMLTrainer(torch.nn.Linear(1, 1))


MORE_CASES = [
    # ------------------------------------------------------------------ results
    ("results.save_result profile=weird", lambda p: _save(p, profile="weird"), ValueError,
     "profile"),
    ("results.save_result metrics nan", lambda p: _save(p, metrics={"m": math.nan}), ValueError,
     "metrics['m']"),
    ("results.save_result metrics inf in list",
     lambda p: _save(p, metrics={"m": [1.0, math.inf]}), ValueError, "metrics['m'][1]"),
    ("results.save_result name=../escaped", lambda p: _save(p, name="../escaped"), ValueError,
     "name"),
    ("results.save_result name=a/b", lambda p: _save(p, name="a/b"), ValueError, "name"),
    # ------------------------------------------------------------------ switching / tasks
    ("switching.jump_uniform min_jump=0.8",
     lambda p: switching.jump_uniform(torch.Generator().manual_seed(0), _t(3).double(),
                                      (0.0, 1.0), 0.8), ValueError, "min_jump"),
    ("switching.jump_uniform min_jump=-0.1",
     lambda p: switching.jump_uniform(torch.Generator().manual_seed(0), _t(3).double(),
                                      (0.0, 1.0), -0.1), ValueError, "min_jump"),
    ("ssm.random_stable_matrix min_decay=-5", lambda p: ssm.random_stable_matrix(3, min_decay=-5),
     ValueError, "min_decay"),
    ("tasks.TaskSample.task(5)", lambda p: _sample().task(5), ValueError, "3 tasks"),
    ("tasks.TaskSample.task(-1)", lambda p: _sample().task(-1), ValueError, "index"),
    ("tasks.TaskSample.task('1')", lambda p: _sample().task("1"), ValueError, "index"),
    ("tasks.SinusoidTasks num_tasks=0", lambda p: tasks.SinusoidTasks().sample(0, 2, 2),
     ValueError, "num_tasks"),
    ("tasks.DampedOscillatorTasks num_tasks=0",
     lambda p: tasks.DampedOscillatorTasks().sample(0, 2, 2), ValueError, "num_tasks"),
    ("tasks.OscillatorIdentification num_tasks=0",
     lambda p: tasks.OscillatorIdentification(0, 5, 5).sample(0, 2, 2), ValueError, "num_tasks"),
    ("switching.SwitchingOscillatorTasks batch=0",
     lambda p: switching.SwitchingOscillatorTasks().sample(0), ValueError, "batch"),
    ("switching.TransitionWindowTasks num_tasks=0",
     lambda p: switching.TransitionWindowTasks(
         switching.SwitchingOscillatorTasks(num_switches=0), history=2).sample(0),
     ValueError, "num_tasks"),
    # ------------------------------------------------------------------ meta_rl
    ("meta_rl.evaluate_maml_rl params missing keys",
     lambda p: _evaluate(params={"log_std": torch.zeros(2)}), ValueError, "net.0.weight"),
    ("meta_rl.evaluate_maml_rl params=list", lambda p: _evaluate(params=[1]), TypeError,
     "params"),
    ("meta_rl.evaluate_maml_rl trajectories_per_task=0",
     lambda p: _evaluate(trajectories_per_task=0), ValueError, "trajectories_per_task"),
    ("meta_rl.evaluate_maml_rl goals nan", lambda p: _evaluate(goals=np.full((2, 2), math.nan)),
     ValueError, "goals"),
    ("meta_rl.evaluate_maml_rl per-round goals nan",
     lambda p: _evaluate(goals=np.full((2, 2, 2), math.nan)), ValueError, "goals"),
    ("meta_rl.navigation_oracle_returns goals nan",
     lambda p: meta_rl.navigation_oracle_returns(np.full((2, 2), math.nan)), ValueError, "goals"),
    ("meta_rl.policy_gradient_advantages num_tasks=0",
     lambda p: meta_rl.policy_gradient_advantages(
         rl.collect_rollouts(_FakeEnv(), _mlp(), 2), 0, 0.99), ValueError, "num_tasks"),
    # ------------------------------------------------------------------ maml
    ("maml.MetaMAMLTrainer.predict numpy", lambda p: _trainer().predict(np.zeros((2, 1))),
     TypeError, "inputs"),
    ("maml.MetaMAMLTrainer config='x'",
     lambda p: maml.MetaMAMLTrainer(torch.nn.Linear(1, 1), config="x"), TypeError, "config"),
    ("maml.MetaMAMLTrainer.meta_train task_batch=object()",
     lambda p: _trainer().meta_train(object(), 1, progress=False), TypeError, "task_batch"),
    ("maml.TaskBatch tasks=object()", lambda p: maml.TaskBatch(tasks=object(), batch_size=2),
     TypeError, "tasks"),
]


def _adapter(**over):
    from ssm_metarl.adaptation import PolicyAdapter

    return PolicyAdapter(**over)


def _adapter_run(adapter=None, **over):
    args = {"policy": policies.MLPPolicy(2, 2, (8,)), "goals": np.zeros((2, 2)), "rounds": 2}
    args.update(over)
    return (adapter or _adapter()).run(args.pop("policy"), args.pop("goals"), args.pop("rounds"),
                                       **args)


def _trpo_args():
    def evaluate(params):
        return params["x"].sum(), (params["x"],)

    return evaluate, lambda a, b: ((a[0] - b[0]) ** 2).sum(), {"x": torch.ones(2)}


def _nav_env():
    from ssm_metarl.envs import BatchedNavigation2D

    env = BatchedNavigation2D(2)
    env.reset(seed=0)
    return env


def _families():
    from ssm_metarl.envs import families

    return families


def _trpo():
    from ssm_metarl import trpo

    return trpo


THIRD_CASES = [
    # ------------------------------------------------------------------ trpo
    ("trpo.conjugate_gradient b=list", lambda p: _trpo().conjugate_gradient(lambda v: v, [1.0]),
     TypeError, "b must be"),
    ("trpo.conjugate_gradient matvec=None",
     lambda p: _trpo().conjugate_gradient(None, torch.ones(2)), TypeError, "matvec"),
    ("trpo.conjugate_gradient iterations=0",
     lambda p: _trpo().conjugate_gradient(lambda v: v, torch.ones(2), 0), ValueError,
     "iterations"),
    ("trpo.unflatten wrong size",
     lambda p: _trpo().unflatten(torch.ones(3), {"a": torch.ones(2)}), ValueError, "vector"),
    ("trpo.distribution_tensors object()", lambda p: _trpo().distribution_tensors(object()),
     TypeError, "dist"),
    ("trpo.trpo_step config=1", lambda p: _trpo().trpo_step(*_trpo_args(), config=1), TypeError,
     "config"),
    ("trpo.trpo_step params=list",
     lambda p: _trpo().trpo_step(*_trpo_args()[:2], [torch.ones(2)]), TypeError, "params"),
    ("trpo.line_search max_kl=-1",
     lambda p: _trpo().line_search(lambda c: (0.0, 0.0), {"x": torch.ones(1)},
                                   {"x": torch.ones(1)}, 1.0, -1), ValueError, "max_kl"),
    ("trpo.line_search backtrack_ratio=2",
     lambda p: _trpo().line_search(lambda c: (0.0, 0.0), {"x": torch.ones(1)},
                                   {"x": torch.ones(1)}, 1.0, 0.01, backtrack_ratio=2),
     ValueError, "backtrack_ratio"),
    ("trpo.line_search steps=0",
     lambda p: _trpo().line_search(lambda c: (0.0, 0.0), {"x": torch.ones(1)},
                                   {"x": torch.ones(1)}, 1.0, 0.01, steps=0), ValueError, "steps"),
    ("trpo.TRPOConfig max_kl='a'", lambda p: _trpo().TRPOConfig(max_kl="a"), ValueError,
     "max_kl"),
    ("trpo.TRPOConfig cg_damping=nan", lambda p: _trpo().TRPOConfig(cg_damping=math.nan),
     ValueError, "cg_damping"),
    ("meta_rl.MAMLRLConfig outer=sgd", lambda p: meta_rl.MAMLRLConfig(outer="sgd"), ValueError,
     "outer"),
    ("meta_rl.PolicyMAMLConfig trpo=1", lambda p: meta_rl.PolicyMAMLConfig(trpo=1), TypeError,
     "trpo"),
    ("meta_rl.maml_rl_step config=1",
     lambda p: meta_rl.maml_rl_step(_mlp(), {}, None, _families().NavigationTasks().sample(2), 1,
                                    np.random.default_rng(0), 0), TypeError, "config"),
    ("meta_rl.maml_rl_step batch=goals",
     lambda p: meta_rl.maml_rl_step(_mlp(), {}, None, np.zeros((2, 2)),
                                    meta_rl.PolicyMAMLConfig(), np.random.default_rng(0), 0),
     TypeError, "batch"),
    ("meta_rl.train_maml_rl on_iteration=1",
     lambda p: meta_rl.train_maml_rl(_mlp(), meta_rl.MAMLRLConfig(num_meta_iterations=1),
                                     progress=False, on_iteration=1), TypeError, "on_iteration"),
    ("meta_rl.train_pretrained on_iteration='every 10'",
     lambda p: meta_rl.train_pretrained(_mlp(), progress=False, on_iteration="every 10"),
     TypeError, "on_iteration"),
    ("meta_rl.train_rl2 on_iteration=[]",
     lambda p: meta_rl.train_rl2(_meta(), progress=False, on_iteration=[]), TypeError,
     "on_iteration"),
    # ------------------------------------------------------------------ adaptation.ttt, metrics
    ("adaptation.linear_attention k of another width",
     lambda p: _adaptation().linear_attention(_t(2, 5, 3), _t(2, 5, 4), _t(2, 5, 3)), ValueError,
     "q and k must have the same shape"),
    ("adaptation.linear_attention 1-d", lambda p: _adaptation().linear_attention(_t(5), _t(5),
                                                                              _t(5)),
     ValueError, "q must be a tensor of shape"),
    ("adaptation.delta_rule_step state shape",
     lambda p: _adaptation().delta_rule_step(_t(3, 3), _t(4), _t(3), 0.1), ValueError, "state"),
    ("adaptation.delta_rule_step k=list",
     lambda p: _adaptation().delta_rule_step(_t(3, 4), [0.0] * 4, _t(3), 0.1), TypeError, "k"),
    ("adaptation.delta_rule_step beta nan",
     lambda p: _adaptation().delta_rule_step(_t(3, 4), _t(4), _t(3), math.nan), ValueError,
     "step size"),
    ("adaptation.delta_rule beta nan",
     lambda p: _adaptation().delta_rule(_t(1, 5, 3), _t(1, 5, 3), _t(1, 5, 3), math.nan),
     ValueError, "step size"),
    ("adaptation.ttt_linear_online lr=inf",
     lambda p: _adaptation().ttt_linear_online(_t(1, 5, 3), _t(1, 5, 3), _t(1, 5, 3), math.inf),
     ValueError, "step size"),
    ("adaptation.ttt_linear_batch lr='a'",
     lambda p: _adaptation().ttt_linear_batch(_t(1, 5, 3), _t(1, 5, 3), _t(1, 5, 3), "a"),
     TypeError, "step size"),
    ("adaptation.format_metrics_table digits=-1",
     lambda p: _adaptation().format_metrics_table({}, digits=-1), ValueError, "digits"),
    ("adaptation.format_metrics_table row of another table",
     lambda p: _adaptation().format_metrics_table({"frozen": {"mse": 1.0}}), ValueError,
     "table['frozen']"),
    # ------------------------------------------------------------------ plotting
    ("plotting.plot_state_trajectories states='abc'",
     lambda p: _plotting().plot_state_trajectories(np.arange(3), "abc"), ValueError, "states"),
    ("plotting.plot_adaptation_curve label=3",
     lambda p: _plotting().plot_adaptation_curve(np.arange(3), np.zeros((2, 3)), 3), TypeError,
     "label"),
    ("plotting.plot_adaptation_curve values (2, 4)",
     lambda p: _plotting().plot_adaptation_curve(np.arange(3), np.zeros((2, 4)), "x"),
     ValueError, "values"),
    ("plotting.plot_cost_vs_length timings=list",
     lambda p: _plotting().plot_cost_vs_length([1, 2, 3]), TypeError, "timings"),
    ("plotting.plot_system_diagram ax=1", lambda p: _plotting().plot_system_diagram(ax=1),
     TypeError, "ax"),
    ("plotting.plot_semiseparable_mask 3x4",
     lambda p: _plotting().plot_semiseparable_mask(np.zeros((3, 4))), ValueError, "mask"),
    # ------------------------------------------------------------------ envs and task families
    ("envs.sample_goals rng='x'", lambda p: _families().sample_goals(2, rng="x"), ValueError,
     "rng"),
    ("envs.sample_goals rng=-1", lambda p: _families().sample_goals(2, rng=-1), ValueError, "rng"),
    ("families.NavigationTasks.sample rng='x'",
     lambda p: _families().NavigationTasks().sample(2, rng="x"), ValueError, "rng"),
    ("families.NavigationTasks radius=(0.5, 0.2)",
     lambda p: _families().NavigationTasks(radius=(0.5, 0.2)), ValueError, "radius"),
    ("families.NavigationTasks radius='ab'", lambda p: _families().NavigationTasks(radius="ab"),
     TypeError, "radius"),
    ("families.NavigationTasks goal_tolerance='a'",
     lambda p: _families().NavigationTasks(goal_tolerance="a"), ValueError, "goal_tolerance"),
    ("families.NavigationTasks seed=-1", lambda p: _families().NavigationTasks(seed=-1),
     ValueError, "seed"),
    ("families.NavigationTasks.sample k_query=0",
     lambda p: _families().NavigationTasks().sample(2, 2, 0), ValueError, "k_query"),
    ("families.NavigationTasks.check_task nan",
     lambda p: _families().NavigationTasks().check_task([math.nan, 0.0]), ValueError, "task"),
    ("envs.BatchedNavigation2D.reset seed='a'", lambda p: _nav_env().reset(seed="a"), TypeError,
     "seed"),
    ("envs.BatchedNavigation2D.reset seed=[0, -1]", lambda p: _nav_env().reset(seed=[0, -1]),
     ValueError, "seed"),
    ("envs.BatchedNavigation2D.reset seed=[0]", lambda p: _nav_env().reset(seed=[0]),
     ValueError, "num_envs=2"),
    ("envs.BatchedNavigation2D.step actions (3, 2)",
     lambda p: _nav_env().step(np.zeros((3, 2))), ValueError, "actions"),
    ("envs.BatchedNavigation2D.step actions nan",
     lambda p: _nav_env().step(np.full((2, 2), math.nan)), ValueError, "actions"),
    # ------------------------------------------------------------------ adaptation.PolicyAdapter
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
    # ------------------------------------------------------------------ system, stored runs
    ("system.train_mode config=1",
     lambda p: __import__("ssm_metarl.system").system.train_mode("none", 1), TypeError, "config"),
    ("system.SystemConfig episodes_per_trial=3",
     lambda p: __import__("ssm_metarl.system").system.SystemConfig(episodes_per_trial=3),
     ValueError, "episodes_per_trial"),
    ("navigation_runs.run_config method='sgd'",
     lambda p: __import__("ssm_metarl.navigation_runs").navigation_runs.run_config("sgd", 0),
     ValueError, "method"),
    ("navigation_runs.evaluate_runs grid=(-1,)",
     lambda p: __import__("ssm_metarl.navigation_runs").navigation_runs.evaluate_runs(
         np.zeros((2, 2)), np.zeros((2, 2)), grid=(-1,)), ValueError, "grid"),
]
CASES = CASES + MORE_CASES + THIRD_CASES

@pytest.mark.parametrize(("thunk", "kind", "needle"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(tmp_path, thunk, kind, needle):
    with pytest.raises(kind) as caught:
        thunk(tmp_path)
    assert needle in str(caught.value), str(caught.value)


def test_no_bad_input_gives_an_internal_error(tmp_path):
    internal = (AttributeError, KeyError, IndexError, ZeroDivisionError)
    leaked = []
    for i, (name, thunk, _, _) in enumerate(CASES):
        folder = tmp_path / str(i)
        folder.mkdir()
        try:
            thunk(folder)
        except internal as exc:
            leaked.append(f"{name}: {type(exc).__name__}: {exc}")
        except Exception:  # noqa: BLE001 - only the internal kinds count here
            pass
    assert not leaked, "\n".join(leaked)


def test_valid_inputs_still_run():
    """The checks refuse nothing the modules accepted and computed correctly."""
    _lin()(_t(1, 5, 1))
    _s4d()(_t(1, 5, 3))
    _sel()(_t(1, 5, 4))
    _mlp().distribution(_t(4, 3))
    _meta()(_t(2, 5, 6))
    _gru()(_t(2, 5, 6))
    _returns(dones=torch.zeros(4, 2, dtype=torch.bool), last_value=_t(2))
    _gae(dones=torch.ones(4, 2))
    _fit(obs=torch.full((4, 2, 3), math.inf))  # rllab clips observations to [-10, 10]
    functional.clip_gradient_norm(_grads(), 1.0)
    ssm.hippo_legs(3, dtype=torch.float32)
    ssm.discretize(A2, B2, 0.1)


def test_valid_inputs_of_the_second_table_still_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SSM_METARL_DATA", str(tmp_path))
    path = results.save_result("demo", {"m": 0.5, "none": None}, command="x", seeds=[0],
                               profile="smoke")
    assert path == tmp_path / "results" / "demo.json"
    switching.jump_uniform(torch.Generator().manual_seed(0), _t(3).double(), (0.0, 1.0), 0.5)
    assert _sample().task(np.int64(2)).num_tasks == 1
    policy = policies.MLPPolicy(2, 2, (8,))
    own = dict(policy.named_parameters())
    assert _evaluate(policy=policy, params=own).shape == (2, 2)
    assert _trainer().predict(_t(2, 1)).shape == (2, 1)


def test_valid_inputs_of_the_third_table_still_run():
    families = _families()
    assert families.sample_goals(2, rng=np.int64(3)).shape == (2, 2)
    assert families.sample_goals(2, rng=np.random.default_rng(0)).shape == (2, 2)
    assert families.NavigationTasks().sample(2, rng=None).num_tasks == 2
    env = families.BatchedNavigation2D(2)
    env.reset(seed=[0, None])
    env.reset(seed=np.array([1, 2]))
    run = _adapter_run(_adapter(adapt=["log_std"], carry_state=False, baseline_reg=0.0))
    assert run.returns.shape == (2, 2, 1)


def test_a_huge_finite_loss_stops_training_like_nan_does():
    from ssm_metarl._validate import HUGE_LOSS, raise_if_diverged, training_step

    raise_if_diverged(HUGE_LOSS / 10, "demo", 0, "-")  # large but plausible: goes on
    with pytest.raises(FloatingPointError, match=r"demo stopped at iteration 3: loss is -2000+\.0 "
                                                 r"\(above 1e\+10 in size: diverging\)"):
        raise_if_diverged(-2e11, "demo", 3, "-")
    weight = torch.nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    with pytest.raises(FloatingPointError, match="lr=1 too large"):
        training_step(optimizer, (weight * 1e12).sum(), "demo", 0, "lr=1 too large")
    assert weight.item() == 1.0  # stopped before the parameters were touched
