"""Policies: step mode equals sequence mode across resets, resets cut memory, heads are right."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from ssm_metarl.cores import SSDCore
from ssm_metarl.policies import (
    GRUPolicy,
    MLPPolicy,
    SelectiveDiagonalSSM,
    SSMMetaPolicy,
    rl2_input,
    stack_params,
)

RECURRENT = [SSMMetaPolicy, GRUPolicy]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def seeded(cls, *args, seed=0, **kwargs):
    torch.manual_seed(seed)
    return cls(*args, dtype=torch.float64, **kwargs)


def random_sequence(policy, batch=4, length=23, seed=1, reset_rate=0.15):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, policy.input_dim, generator=gen, dtype=torch.float64)
    reset = torch.rand(batch, length, generator=gen) < reset_rate
    reset[0, 0] = True
    return x, reset


def head_output(dist):
    return dist.logits if hasattr(dist, "logits") else dist.mean


def run_steps(policy, x, reset, state=None):
    heads, values = [], []
    for t in range(x.shape[1]):
        dist, value, state = policy.step(x[:, t], state, reset[:, t])
        heads.append(head_output(dist))
        values.append(value)
    return torch.stack(heads, 1), torch.stack(values, 1), state


# ----------------------------------------------------------------------------- recurrent modes


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize("discrete, resets", [(True, "random"), (False, "random"),
                                              (True, "first step only")])
def test_step_mode_equals_sequence_mode_across_resets(cls, discrete, resets):
    policy = seeded(cls, 6, 3, discrete=discrete)
    x, reset = random_sequence(policy)
    if resets == "first step only":  # some sequences start a trial, others carry h0 on
        reset[:, 1:] = False
        reset[:, 0] = torch.tensor([True, False, True, False])
    h0 = 0.3 * torch.randn_like(policy.initial_state(x.shape[0]))
    dist, values, last_state = policy(x, h0, reset)
    step_heads, step_values, step_state = run_steps(policy, x, reset, h0)
    torch.testing.assert_close(step_heads, head_output(dist), atol=1e-12, rtol=0)
    torch.testing.assert_close(step_values, values, atol=1e-12, rtol=0)
    torch.testing.assert_close(step_state, last_state, atol=1e-12, rtol=0)


@pytest.mark.parametrize("cls", RECURRENT)
def test_a_reset_makes_the_rest_of_the_sequence_a_fresh_run(cls):
    policy = seeded(cls, 5, 4)
    x, _ = random_sequence(policy, reset_rate=0.0)
    reset = torch.zeros(x.shape[:2], dtype=torch.bool)
    reset[:, 9] = True
    dist, values, _ = policy(x, policy.initial_state(x.shape[0]) + 1.0, reset)
    fresh_dist, fresh_values, _ = policy(x[:, 9:])
    torch.testing.assert_close(dist.logits[:, 9:], fresh_dist.logits, atol=1e-12, rtol=0)
    torch.testing.assert_close(values[:, 9:], fresh_values, atol=1e-12, rtol=0)
    assert not torch.allclose(dist.logits[:, :9], fresh_dist.logits[:, :9])


@pytest.mark.parametrize("cls", RECURRENT)
def test_memory_carries_information_within_a_trial_and_not_across_trials(cls):
    policy = seeded(cls, 3, 2)
    x, _ = random_sequence(policy, batch=1, length=8, reset_rate=0.0)
    x.requires_grad_()
    reset = torch.zeros(1, 8, dtype=torch.bool)
    reset[0, 5] = True
    dist, _, _ = policy(x, reset=reset)
    (within,) = torch.autograd.grad(dist.logits[0, 4].sum(), x, retain_graph=True)
    (across,) = torch.autograd.grad(dist.logits[0, 7].sum(), x)
    assert within[0, 0].abs().sum() > 1e-6  # step 4 remembers step 0
    assert torch.all(across[0, :5] == 0)  # step 7 is in the next trial
    assert across[0, 5:].abs().sum() > 1e-6


def test_selective_ssm_matches_its_equations_written_out():
    torch.manual_seed(3)
    core = SelectiveDiagonalSSM(4, 3, dtype=torch.float64)
    u = torch.randn(2, 6, 4, dtype=torch.float64)
    reset = torch.tensor([[False, False, True, False, False, False]] * 2)
    y, h_last = core(u, core.initial_state(2), reset)
    A = -torch.exp(core.A_log)
    h = torch.zeros(2, 4, 3, dtype=torch.float64)
    for t in range(6):
        u_t = u[:, t]
        dt = torch.log1p(torch.exp(u_t @ core.dt_proj.weight.T + core.dt_proj.bias))
        B_t, C_t = u_t @ core.B_proj.weight.T, u_t @ core.C_proj.weight.T
        if reset[0, t]:
            h = torch.zeros_like(h)
        h = torch.exp(dt[..., None] * A) * h + (dt * u_t)[..., None] * B_t[:, None, :]
        y_t = torch.einsum("bhn,bn->bh", h, C_t) + core.D * u_t
        torch.testing.assert_close(y[:, t], y_t, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_last, h, atol=1e-12, rtol=0)


def test_ssm_initial_decays_keep_memory_over_a_bandit_trial():
    policy = SSMMetaPolicy(8, 5)
    dt = F.softplus(policy.ssm.dt_proj.bias)
    assert 1e-3 * 0.99 <= dt.min() and dt.max() <= 0.1 * 1.01
    slowest_decay = torch.exp(-dt.min() * 1.0)
    assert slowest_decay ** 100 > 0.5  # the slowest channel still holds half after 100 steps


def test_default_signature_and_rl2_input_layout():
    policy = SSMMetaPolicy(2, 4)
    assert policy.discrete and policy.rl2_inputs and policy.input_dim == 2 + 4 + 2
    obs = torch.tensor([[0.5, -1.0], [2.0, 3.0]])
    x = policy.rl2_input(obs, torch.tensor([3, -1]), torch.tensor([1.0, 0.0]),
                         torch.tensor([1.0, 0.0]))
    # row 2 starts a trial: no previous action (-1) is all zeros, unlike arm 0
    expected = torch.tensor([[0.5, -1.0, 0, 0, 0, 1, 1.0, 1.0], [2.0, 3.0, 0, 0, 0, 0, 0.0, 0.0]])
    torch.testing.assert_close(x, expected)
    continuous = rl2_input(obs, torch.tensor([[0.1, 0.2]] * 2), torch.zeros(2), torch.zeros(2),
                           2, discrete=False)
    torch.testing.assert_close(continuous[:, 2:4], torch.tensor([[0.1, 0.2]] * 2))
    plain = SSMMetaPolicy(8, 5, rl2_inputs=False)
    assert plain.input_dim == 8 and plain.rl2_input(obs, None, None, None) is obs


@pytest.mark.parametrize("cls", RECURRENT)
def test_act_samples_valid_actions_and_deterministic_takes_the_mode(cls):
    policy = seeded(cls, 4, 3)
    x = torch.randn(64, policy.input_dim, dtype=torch.float64)
    action, log_prob, value, state = policy.act(x)
    assert action.dtype == torch.long and action.min() >= 0 and action.max() < 3
    dist, expected_value, _ = policy.step(x)
    torch.testing.assert_close(log_prob, dist.log_prob(action))
    torch.testing.assert_close(value, expected_value)
    greedy, _, _, _ = policy.act(x, deterministic=True)
    assert torch.equal(greedy, dist.logits.argmax(-1))


# ----------------------------------------------------------------------------- MLP policy


def test_mlp_policy_is_the_maml_rl_architecture_with_state_independent_std():
    policy = MLPPolicy(2, 2)
    linears = [m for m in policy.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2, 100), (100, 100), (100, 2)]
    assert sum(isinstance(m, torch.nn.ReLU) for m in policy.net) == 2
    obs = torch.randn(5, 2)
    dist = policy.distribution(obs)
    assert torch.allclose(dist.stddev, torch.ones(5, 2))  # log_std starts at 0, same for all s


def test_gaussian_log_prob_is_the_diagonal_normal_density():
    torch.manual_seed(0)
    policy = MLPPolicy(3, 2, init_log_std=-0.5, dtype=torch.float64)
    obs, action = torch.randn(7, 3, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
    mean, std = policy(obs), math.exp(-0.5)
    by_hand = (-0.5 * ((action - mean) / std) ** 2 - math.log(std)
               - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(policy.distribution(obs).log_prob(action), by_hand)


def test_categorical_head_log_prob_is_log_softmax():
    torch.manual_seed(0)
    policy = MLPPolicy(3, 4, discrete=True, dtype=torch.float64)
    obs = torch.randn(6, 3, dtype=torch.float64)
    action, log_prob = policy.act(obs)
    expected = torch.log_softmax(policy(obs), -1).gather(1, action[:, None])[:, 0]
    torch.testing.assert_close(log_prob, expected)
    assert not hasattr(policy, "log_std")


def test_fast_weights_drive_the_distribution_and_per_task_vmap_equals_a_loop():
    torch.manual_seed(0)
    policy = MLPPolicy(2, 2, hidden_sizes=(8, 8), dtype=torch.float64)
    tasks = [{n: p.detach() + 0.1 * (g + 1) * torch.randn_like(p)
              for n, p in policy.named_parameters()} for g in range(3)]
    obs = torch.randn(3, 5, 2, dtype=torch.float64)
    per_task = policy.distribution(obs, stack_params(tasks), per_task=True)
    for g, fast in enumerate(tasks):
        single = policy.distribution(obs[g], fast)
        torch.testing.assert_close(per_task.mean[g], functional_call(policy, fast, (obs[g],)))
        torch.testing.assert_close(per_task.stddev[g], single.stddev)
        torch.testing.assert_close(per_task.log_prob(obs)[g], single.log_prob(obs[g]))


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_policies_reject_bad_inputs_with_clear_errors(cls):
    policy = cls(4, 3)
    with pytest.raises(ValueError, match=r"x_t must have shape \(\?, 9\)"):
        policy.step(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"x must have shape \(\?, \?, 9\)"):
        policy(torch.zeros(9))
    with pytest.raises(ValueError, match=r"x_t must have shape \(\?, 9\)"):
        policy(torch.zeros(2, 4))  # a 2-D input is one step
    with pytest.raises(ValueError, match=r"reset must have shape \(2, 5\)"):
        policy(torch.zeros(2, 5, 9), reset=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="reset must be a bool tensor"):
        policy.step(torch.zeros(2, 9), reset=torch.zeros(2))
    with pytest.raises(ValueError, match="state must be a tensor of shape"):
        policy.step(torch.zeros(2, 9), state=torch.zeros(3, 7))
    with pytest.raises(TypeError, match="floating"):
        policy.step(torch.zeros(2, 9, dtype=torch.long))


@pytest.mark.parametrize("kwargs, match", [
    ({"state_dim": 0, "action_dim": 2}, "state_dim must be a positive int"),
    ({"state_dim": 2, "action_dim": 2.5}, "action_dim must be a positive int"),
    ({"state_dim": 2, "action_dim": 2, "hidden_dim": -1}, "hidden_dim must be a positive int"),
])
def test_recurrent_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SSMMetaPolicy(**kwargs)


def test_mlp_constructor_and_input_errors():
    with pytest.raises(ValueError, match="obs_dim must be a positive int"):
        MLPPolicy(0, 2)
    with pytest.raises(ValueError, match=r"hidden_sizes\[1\] must be a positive int"):
        MLPPolicy(2, 2, hidden_sizes=(10, 0))
    with pytest.raises(ValueError, match="obs must have shape"):
        MLPPolicy(2, 2).distribution(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least one fast-weight dict"):
        stack_params([])
    with pytest.raises(ValueError, match="dt_min <= dt_max"):
        SSMMetaPolicy(2, 2, dt_min=0.5, dt_max=0.1)


# ----------------------------------------------------------------------------- cores


DEFAULT_SSM_KEYS = [
    "embed.weight", "embed.bias", "ssm.A_log", "ssm.D", "ssm.dt_proj.weight", "ssm.dt_proj.bias",
    "ssm.B_proj.weight", "ssm.C_proj.weight", "out_proj.weight", "out_proj.bias",
    "heads.actor.0.weight", "heads.actor.0.bias", "heads.actor.2.weight", "heads.actor.2.bias",
    "heads.critic.0.weight", "heads.critic.0.bias", "heads.critic.2.weight",
    "heads.critic.2.bias",
]
GRU_KEYS = ["embed.weight", "embed.bias", "gru.weight_ih_l0", "gru.weight_hh_l0",
            "gru.bias_ih_l0", "gru.bias_hh_l0", *DEFAULT_SSM_KEYS[10:]]


@pytest.mark.parametrize("discrete", [True, False])
def test_default_core_is_the_selective_one_with_the_stored_weight_names(discrete):
    """Stored results and shipped weights load into the default policy, name for name."""
    default, named = (seeded(SSMMetaPolicy, 6, 3, discrete=discrete, **kwargs)
                      for kwargs in ({}, {"core": "selective"}))
    log_std = [] if discrete else ["heads.log_std"]  # a head's own parameter comes first
    keys = DEFAULT_SSM_KEYS[:10] + log_std + DEFAULT_SSM_KEYS[10:]
    assert list(default.state_dict()) == list(named.state_dict()) == keys
    assert default.core_name == "selective" and isinstance(default.ssm, SelectiveDiagonalSSM)
    x, reset = random_sequence(default)
    (dist, values, state), (named_dist, named_values, named_state) = (
        policy(x, None, reset) for policy in (default, named))
    assert torch.equal(head_output(dist), head_output(named_dist))
    assert torch.equal(values, named_values) and torch.equal(state, named_state)
    assert list(seeded(GRUPolicy, 6, 3).state_dict()) == GRU_KEYS


@pytest.mark.parametrize("core, options", [("selective", {}), ("ssd", {}),
                                           ("ssd", {"heads": 4, "chunk_size": 5}),
                                           ("s4d", {}), ("s4d", {"init": "real"}),
                                           ("linear", {}), ("gru", {})])
def test_every_core_gives_the_same_numbers_in_step_and_sequence_mode(core, options):
    policy = seeded(SSMMetaPolicy, 6, 3, core=core, hidden_dim=8, ssm_state_dim=4,
                    core_options=options)
    x, reset = random_sequence(policy)
    reset[1, 12:14] = True  # consecutive resets
    h0 = policy.initial_state(x.shape[0])
    h0 = h0 + 0.3 * torch.randn_like(h0)
    dist, values, last_state = policy(x, h0, reset)
    step_heads, step_values, step_state = run_steps(policy, x, reset, h0)
    torch.testing.assert_close(step_heads, head_output(dist), atol=1e-10, rtol=0)
    torch.testing.assert_close(step_values, values, atol=1e-10, rtol=0)
    torch.testing.assert_close(step_state, last_state, atol=1e-10, rtol=0)
    fresh, _, _ = policy(x[:, 9:])
    cut = torch.zeros_like(reset)
    cut[:, 9] = True
    torch.testing.assert_close(policy(x, 1e3 * h0, cut)[0].logits[:, 9:], fresh.logits,
                               atol=1e-10, rtol=0)


def test_a_core_instance_is_the_policy_memory_and_bad_cores_raise():
    torch.manual_seed(0)
    core = SSDCore(16, 8, heads=4)
    policy = SSMMetaPolicy(5, 3, core=core, hidden_dim=16)
    assert policy.ssm is core and policy.core_name == "SSDCore"
    assert policy.init_state(2).shape == (2, 4, 4, 8)
    dist, _, state = policy.step(torch.zeros(2, policy.input_dim))
    assert dist.logits.shape == (2, 3) and state.shape == (2, 4, 4, 8)
    with pytest.raises(ValueError, match="core must be one of 'selective', 'ssd'"):
        SSMMetaPolicy(5, 3, core="lstm")
    with pytest.raises(TypeError, match="nn.Module with init_state"):
        SSMMetaPolicy(5, 3, core=torch.nn.Linear(64, 64))
    with pytest.raises(ValueError, match="has hidden_dim=16, but the policy has hidden_dim=64"):
        SSMMetaPolicy(5, 3, core=core)
    with pytest.raises(TypeError, match="core_options build a core by name"):
        SSMMetaPolicy(5, 3, core=core, hidden_dim=16, core_options={"heads": 2})
    with pytest.raises(ValueError, match=r"state must be a tensor of shape \(2, 4, 4, 8\)"):
        policy.step(torch.zeros(2, policy.input_dim), torch.zeros(2, 16, 8))

    class TupleStateCore(SSDCore):
        def init_state(self, batch_size):
            return (super().init_state(batch_size),)

    with pytest.raises(TypeError, match="init_state must return one tensor"):
        SSMMetaPolicy(5, 3, core=TupleStateCore(16, 8), hidden_dim=16)
