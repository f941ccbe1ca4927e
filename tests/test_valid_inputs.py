"""Valid inputs still run: the bad-input checks refuse nothing the modules computed correctly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from bad_input_table import (
    A2,
    B2,
    _adapter,
    _adapter_run,
    _evaluate,
    _families,
    _fit,
    _gae,
    _grads,
    _gru,
    _lin,
    _meta,
    _mlp,
    _returns,
    _s4d,
    _sample,
    _sel,
    _t,
    _trainer,
)

from ssm_metarl import functional, policies, results, ssm, switching


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
