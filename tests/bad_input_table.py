"""Builders and the shared test of the bad-input tables (design section 8).

Each ``tests/test_bad_inputs_<module>.py`` holds one table of
``(id, thunk taking tmp_path, expected exception type, substring naming the
argument)`` and runs it through :func:`table_tests`; the builders below make
the small valid objects the cases then spoil, so a case fails alone.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from ssm_metarl import (
    cores,
    maml,
    meta_rl,
    policies,
    results,
    rl,
    scan,
    ssm,
    tasks,
)

F32 = torch.float32
INTERNAL_ERRORS = (AttributeError, KeyError, IndexError, ZeroDivisionError)


def table_tests(cases):
    """The two tests of one table: each case raises its type naming the argument,
    and no case raises an internal error (AttributeError, KeyError, IndexError,
    ZeroDivisionError) whatever its expected type."""

    @pytest.mark.parametrize(("thunk", "kind", "needle"), [c[1:] for c in cases],
                             ids=[c[0] for c in cases])
    def refused_clearly(tmp_path, thunk, kind, needle):
        with pytest.raises(kind) as caught:
            thunk(tmp_path)
        assert needle in str(caught.value), str(caught.value)

    def no_internal_error(tmp_path):
        leaked = []
        for i, (name, thunk, _, _) in enumerate(cases):
            folder = tmp_path / str(i)
            folder.mkdir()
            try:
                thunk(folder)
            except INTERNAL_ERRORS as exc:
                leaked.append(f"{name}: {type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001 - only the internal kinds count here
                pass
        assert not leaked, "\n".join(leaked)

    return refused_clearly, no_internal_error


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
