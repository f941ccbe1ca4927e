"""Rollouts, returns, GAE, REINFORCE, PPO, the linear feature baseline, and notebook 03's checkers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssm_metarl.envs import BatchedBernoulliBandit, BatchedNavigation2D
from ssm_metarl.envs.bandit_baselines import select_ucb1
from ssm_metarl.exercises import (
    ExerciseCheckFailed,
    check_gae,
    check_pg_surrogate,
    check_ucb1_choice,
)
from ssm_metarl.policies import GRUPolicy, MLPPolicy, SSMMetaPolicy
from ssm_metarl.rl import (
    LinearFeatureBaseline,
    collect_rollouts,
    discounted_returns,
    episode_returns,
    first_episode_mask,
    gae,
    normalize_advantages,
    ppo_loss,
    reinforce_loss,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- returns and GAE


def test_discounted_returns_by_hand_with_an_episode_end_in_the_middle():
    rewards = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    dones = torch.tensor([[False], [True], [False], [False]])
    # R3 = 4, R2 = 3 + 0.5 * 4 = 5, R1 = 2 (episode ends), R0 = 1 + 0.5 * 2 = 2
    expected = torch.tensor([[2.0], [2.0], [5.0], [4.0]])
    torch.testing.assert_close(discounted_returns(rewards, dones, 0.5), expected)
    # bootstrapping from V_T = 10 changes only the unfinished episode: R3 = 9, R2 = 7.5
    bootstrapped = discounted_returns(rewards, dones, 0.5, last_value=torch.tensor([10.0]))
    torch.testing.assert_close(bootstrapped, torch.tensor([[2.0], [2.0], [7.5], [9.0]]))


def test_gae_by_hand_with_an_episode_end_in_the_middle():
    rewards = torch.tensor([1.0, 0.0, 2.0])
    values = torch.tensor([0.5, 1.0, -1.0])
    dones = torch.tensor([False, True, False])
    last_value = torch.tensor(4.0)
    gamma, lam = 0.9, 0.5
    delta2 = 2.0 + 0.9 * 4.0 - (-1.0)  # 6.6
    delta1 = 0.0 - 1.0  # the episode ends: no bootstrap
    delta0 = 1.0 + 0.9 * 1.0 - 0.5  # 1.4
    a2, a1 = delta2, delta1  # the trace stops at the end of the episode
    a0 = delta0 + gamma * lam * a1
    got = gae(rewards, values, dones, last_value, gamma, lam)
    torch.testing.assert_close(got, torch.tensor([a0, a1, a2]))


def test_gae_lambda_one_is_return_minus_value_and_lambda_zero_is_the_td_error():
    gen = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(9, 3, generator=gen), torch.randn(9, 3, generator=gen)
    dones = torch.rand(9, 3, generator=gen) < 0.25
    last_value = torch.randn(3, generator=gen)
    returns = discounted_returns(rewards, dones, 0.95, last_value)
    torch.testing.assert_close(gae(rewards, values, dones, last_value, 0.95, 1.0),
                               returns - values)
    next_values = torch.cat([values[1:], last_value[None]])
    td = rewards + 0.95 * (~dones) * next_values - values
    torch.testing.assert_close(gae(rewards, values, dones, last_value, 0.95, 0.0), td)


@pytest.mark.parametrize("call, match", [
    (lambda: gae(torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3, 2, dtype=torch.bool),
                 torch.zeros(2), 0.9, 0.9), "values must have the shape of rewards"),
    (lambda: gae(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.bool),
                 torch.zeros(3), 0.9, 0.9), r"last_value must have shape \(2,\)"),
    (lambda: gae(torch.zeros(3), torch.zeros(3), torch.zeros(3, dtype=torch.bool),
                 torch.tensor(0.0), 0.9, 1.5), r"lam must be a float in \[0, 1\]"),
    (lambda: discounted_returns(torch.zeros(3), torch.zeros(3, dtype=torch.bool), -0.1),
     r"gamma must be a float in \[0, 1\]"),
    (lambda: discounted_returns(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 0.9),
     "T >= 1"),
])
def test_returns_and_gae_reject_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- losses


def test_reinforce_loss_value_gradient_and_constant_advantages():
    log_probs = torch.tensor([-0.5, -1.0, -2.0, -0.1], requires_grad=True)
    advantages = torch.tensor([1.0, -2.0, 0.5, 3.0], requires_grad=True)
    loss = reinforce_loss(log_probs, advantages)
    torch.testing.assert_close(loss, -(log_probs * advantages).mean())
    grad_log_probs, grad_advantages = torch.autograd.grad(
        loss, [log_probs, advantages], allow_unused=True
    )
    torch.testing.assert_close(grad_log_probs, -advantages.detach() / 4)
    assert grad_advantages is None  # the estimator treats advantages as constants


def test_losses_ignore_masked_entries():
    log_probs, advantages = torch.tensor([-1.0, -2.0, -3.0]), torch.tensor([1.0, 1.0, 100.0])
    mask = torch.tensor([True, True, False])
    torch.testing.assert_close(reinforce_loss(log_probs, advantages, mask), torch.tensor(1.5))
    old = torch.tensor([-1.0, -2.0, 5.0])
    torch.testing.assert_close(ppo_loss(log_probs, old, advantages, 0.2, mask), torch.tensor(-1.0))


@pytest.mark.parametrize("advantage, log_ratio, clipped", [
    (1.0, 0.5, True),  # r = 1.65 > 1.2 and A > 0: no incentive to grow further
    (-1.0, -0.5, True),  # r = 0.61 < 0.8 and A < 0: no incentive to shrink further
    (1.0, -0.5, False),  # r < 0.8 but A > 0: the unclipped term is the minimum
    (-1.0, 0.5, False),  # r > 1.2 but A < 0: the unclipped term is the minimum
    (2.0, 0.1, False),  # inside the range
])
def test_ppo_gradient_vanishes_exactly_where_the_clip_binds(advantage, log_ratio, clipped):
    new = torch.tensor([log_ratio - 1.0], requires_grad=True)
    old, adv = torch.tensor([-1.0]), torch.tensor([advantage])
    loss = ppo_loss(new, old, adv, clip=0.2)
    (grad,) = torch.autograd.grad(loss, new)
    ratio = np.exp(log_ratio)
    if clipped:
        assert grad.item() == 0.0
        assert loss.item() == pytest.approx(-np.clip(ratio, 0.8, 1.2) * advantage)
    else:
        # the plain ratio objective -r A and its gradient -r A (d r / d log pi = r)
        assert loss.item() == pytest.approx(-ratio * advantage)
        assert grad.item() == pytest.approx(-ratio * advantage)


def test_ppo_equals_the_policy_gradient_at_ratio_one():
    gen = torch.Generator().manual_seed(0)
    log_probs = torch.randn(10, generator=gen).requires_grad_()
    advantages = torch.randn(10, generator=gen)
    (g_ppo,) = torch.autograd.grad(ppo_loss(log_probs, log_probs.detach(), advantages), log_probs)
    (g_pg,) = torch.autograd.grad(reinforce_loss(log_probs, advantages), log_probs)
    torch.testing.assert_close(g_ppo, g_pg)


def test_loss_input_errors():
    with pytest.raises(ValueError, match="share one shape"):
        reinforce_loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"clip must be a float in \(0, 1\)"):
        ppo_loss(torch.zeros(3), torch.zeros(3), torch.zeros(3), clip=1.5)
    with pytest.raises(ValueError, match=r"mask must have shape \(3,\)"):
        reinforce_loss(torch.zeros(3), torch.zeros(3), torch.ones(2, dtype=torch.bool))


def test_normalize_advantages_uses_only_the_masked_entries():
    adv = torch.tensor([1.0, 3.0, 1000.0])
    out = normalize_advantages(adv, torch.tensor([True, True, False]))
    torch.testing.assert_close(out[:2], torch.tensor([-1.0, 1.0]), atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------- baseline


def test_linear_feature_baseline_features_are_rllabs():
    obs, t = torch.tensor([[2.0, -20.0]]), torch.tensor([50])
    phi = LinearFeatureBaseline.features(obs, t)
    torch.testing.assert_close(
        phi, torch.tensor([[2.0, -10.0, 4.0, 100.0, 0.5, 0.25, 0.125, 1.0]])
    )


def test_linear_feature_baseline_fits_a_linear_target_exactly():
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(100, 20, 2, generator=gen, dtype=torch.float64)
    t = torch.arange(100)[:, None].expand(100, 20)
    w_true = torch.randn(8, generator=gen, dtype=torch.float64)
    target = LinearFeatureBaseline.features(obs, t) @ w_true
    baseline = LinearFeatureBaseline(reg_coeff=0.0).fit(obs, t, target)
    torch.testing.assert_close(baseline.weights, w_true, atol=1e-8, rtol=0)
    torch.testing.assert_close(baseline.predict(obs, t), target, atol=1e-8, rtol=0)
    masked = LinearFeatureBaseline(1e-5).fit(obs, t, target + 1e6 * (t > 80), mask=t <= 80)
    torch.testing.assert_close(masked.predict(obs, t)[t <= 80], target[t <= 80], atol=1e-3, rtol=0)


def test_linear_feature_baseline_errors_and_unfitted_prediction():
    baseline = LinearFeatureBaseline()
    assert torch.equal(baseline.predict(torch.ones(3, 2), torch.zeros(3)), torch.zeros(3))
    with pytest.raises(ValueError, match="time_steps must have shape"):
        baseline.fit(torch.ones(3, 2), torch.zeros(4), torch.zeros(3))
    with pytest.raises(ValueError, match="reg_coeff"):
        LinearFeatureBaseline(-1.0)


# ----------------------------------------------------------------------------- rollouts


def test_navigation_rollout_matches_stepping_the_env_by_hand():
    torch.manual_seed(0)
    policy = MLPPolicy(2, 2, hidden_sizes=(16,))
    goals = np.array([[0.3, -0.2], [-0.4, 0.1], [0.0, 0.5]])
    rollout = collect_rollouts(BatchedNavigation2D(3, horizon=20, task=goals), policy, 20,
                               seed=5, action_scale=0.1, deterministic=True)
    position = np.zeros((3, 2))
    for t in range(20):
        np.testing.assert_allclose(rollout.obs[t].numpy(), position, atol=1e-6)
        with torch.no_grad():
            mean = policy(torch.as_tensor(position, dtype=torch.float32)).numpy()
        position = position + np.clip(0.1 * mean, -0.1, 0.1)
        reward = -np.linalg.norm(position - goals, axis=1)
        np.testing.assert_allclose(rollout.rewards[t].numpy(), reward, atol=1e-5)
    assert rollout.truncated[-1].all() and not rollout.dones[:-1].any() and rollout.valid.all()
    torch.testing.assert_close(rollout.log_probs,
                               policy.distribution(rollout.obs).log_prob(rollout.actions))
    torch.testing.assert_close(episode_returns(rollout), rollout.rewards.sum(0))


def test_autoreset_rows_are_invalid_and_episode_steps_restart():
    policy = MLPPolicy(2, 2, hidden_sizes=(4,))
    rollout = collect_rollouts(BatchedNavigation2D(2, horizon=4), policy, 11, seed=0)
    assert rollout.valid[:, 0].tolist() == [True] * 4 + [False] + [True] * 4 + [False, True]
    assert rollout.episode_steps[:, 0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0]
    assert rollout.rewards[4].eq(0).all() and rollout.obs[5].eq(0).all()
    mask = first_episode_mask(rollout.dones, rollout.valid)
    assert mask[:, 0].tolist() == [True] * 4 + [False] * 7
    torch.testing.assert_close(episode_returns(rollout), rollout.rewards[:4].sum(0))


def test_first_episode_mask_by_hand():
    dones = torch.tensor([[False], [True], [False], [True], [False]])
    assert first_episode_mask(dones)[:, 0].tolist() == [True, True, False, False, False]


@pytest.mark.parametrize("cls", [SSMMetaPolicy, GRUPolicy])
def test_recurrent_rollout_replays_exactly_in_sequence_mode_across_trials(cls):
    torch.manual_seed(0)
    env = BatchedBernoulliBandit(6, k=3, n=4)
    policy = cls(env.single_observation_space.shape[0], 3, rl2_inputs=True, dtype=torch.float64)
    rollout = collect_rollouts(env, policy, 11, seed=3)  # trials of 4 pulls + autoreset rows
    assert rollout.starts[:, 0].tolist() == [True] + [False] * 4 + [True] + [False] * 4 + [True]
    dist, values, _ = policy(rollout.inputs.transpose(0, 1), rollout.initial_state,
                             rollout.starts.transpose(0, 1))
    replayed = dist.log_prob(rollout.actions.transpose(0, 1)).transpose(0, 1)
    torch.testing.assert_close(replayed, rollout.log_probs, atol=1e-12, rtol=0)
    torch.testing.assert_close(values.transpose(0, 1), rollout.values, atol=1e-12, rtol=0)


def test_rl2_inputs_hold_the_previous_valid_step_and_zeros_at_trial_starts():
    torch.manual_seed(1)
    env = BatchedBernoulliBandit(5, k=3, n=3, time_feature=False)
    policy = SSMMetaPolicy(5, 3, rl2_inputs=True)
    rollout = collect_rollouts(env, policy, 8, seed=2)
    x = rollout.inputs  # (T, E, obs 5 + one-hot 3 + reward + done)
    for t in range(8):
        if rollout.starts[t].all():
            assert x[t, :, 5:].eq(0).all()
        elif rollout.valid[t - 1].all():
            one_hot = torch.nn.functional.one_hot(rollout.actions[t - 1], 3).float()
            torch.testing.assert_close(x[t, :, 5:8], one_hot)
            torch.testing.assert_close(x[t, :, 8], rollout.rewards[t - 1])
            torch.testing.assert_close(x[t, :, 9], rollout.dones[t - 1].float())
        # the env's own observation repeats the previous pull in RL^2's layout
        torch.testing.assert_close(x[t, :, :5], rollout.obs[t])


def test_episodes_per_trial_keeps_memory_across_episodes():
    policy = SSMMetaPolicy(2, 2, discrete=False)
    rollout = collect_rollouts(BatchedNavigation2D(2, horizon=3), policy, 12, seed=0,
                               episodes_per_trial=2)
    # episodes end at rows 2 and 6 (autoreset rows 3 and 7); the second trial starts at row 8
    assert rollout.starts[:, 0].nonzero().flatten().tolist() == [0, 8]


def test_per_task_fast_weights_drive_their_own_group_of_envs():
    torch.manual_seed(0)
    policy = MLPPolicy(2, 2, hidden_sizes=(8,))
    base = {n: p.detach() for n, p in policy.named_parameters()}
    shifted = {**base, "net.2.bias": base["net.2.bias"] + torch.tensor([0.5, -0.5])}
    rollout = collect_rollouts(BatchedNavigation2D(4, horizon=5), policy, 2,
                               params=[base, shifted], deterministic=True, seed=0)
    first = rollout.actions[0]  # every robot starts at the origin
    torch.testing.assert_close(first[2:] - first[:2], torch.tensor([[0.5, -0.5]] * 2))


def test_collect_rollouts_stops_on_non_finite_actions():
    policy = MLPPolicy(2, 2, hidden_sizes=(4,))
    with torch.no_grad():
        policy.net[0].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="stopped at step 0.*NaN/inf"):
        collect_rollouts(BatchedNavigation2D(2), policy, 5)


def test_collect_rollouts_errors():
    policy, env = MLPPolicy(2, 2, hidden_sizes=(4,)), BatchedNavigation2D(4)
    with pytest.raises(TypeError, match="env must be a gymnasium VectorEnv"):
        collect_rollouts(object(), policy, 5)
    with pytest.raises(ValueError, match="num_steps must be a positive int"):
        collect_rollouts(env, policy, 0)
    with pytest.raises(ValueError, match="action_scale"):
        collect_rollouts(env, policy, 5, action_scale=-1.0)
    params = dict(policy.named_parameters())
    with pytest.raises(ValueError, match="divisible"):
        collect_rollouts(env, policy, 5, params=[params] * 3)
    with pytest.raises(ValueError, match="lacks the policy parameters"):
        collect_rollouts(BatchedBernoulliBandit(2), SSMMetaPolicy(8, 5), 5, params={})
    rollout = collect_rollouts(env, policy, 3)
    with pytest.raises(ValueError, match="must divide"):
        rollout.split(3)


# ----------------------------------------------------------------------------- checkers


def good_gae(rewards, values, dones, last_value, gamma, lam):
    advantages, running, next_value = torch.zeros_like(rewards), 0.0, last_value
    for t in reversed(range(len(rewards))):
        live = 1.0 - dones[t].double()
        delta = rewards[t] + gamma * live * next_value - values[t]
        running = delta + gamma * lam * live * running
        advantages[t], next_value = running, values[t]
    return advantages


def gae_without_episode_ends(rewards, values, dones, last_value, gamma, lam):
    return good_gae(rewards, values, torch.zeros_like(dones), last_value, gamma, lam)


def not_implemented(*args):
    raise NotImplementedError


def good_ucb1(counts, successes, t):
    if (counts == 0).any():
        return int(np.flatnonzero(counts == 0)[-1])
    return np.argmax(successes / counts + np.sqrt(2 * np.log(t) / counts))  # a NumPy int


def ucb1_greedy(counts, successes, t):
    return int(np.argmax(successes / np.maximum(counts, 1)))


def ucb1_without_untried_first(counts, successes, t):
    return int(np.argmax(successes / np.maximum(counts, 1) + np.sqrt(2 * np.log(t) / np.maximum(counts, 1))))


def test_checkers_pass_correct_solutions(capsys):
    check_gae(good_gae)
    check_pg_surrogate(lambda log_probs, advantages: -(log_probs * advantages).mean())
    check_ucb1_choice(good_ucb1)
    assert capsys.readouterr().out.count("\u2713") == 3
    with pytest.raises(ExerciseCheckFailed, match="calls ssm_metarl.envs.bandit_baselines"):
        check_ucb1_choice(lambda c, s, t: select_ucb1(c[None], s[None], t,
                                                      np.random.default_rng(0)))


@pytest.mark.parametrize("checker, wrong, message", [
    (check_gae, not_implemented, "not implemented"),
    (check_gae, gae_without_episode_ends, "values differ"),
    (check_gae, lambda r, v, d, lv, g, lam: r - v, "values differ"),
    (check_pg_surrogate, not_implemented, "not implemented"),
    (check_pg_surrogate, lambda lp, adv: (lp * adv).mean(), "values differ"),
    (check_pg_surrogate, lambda lp, adv: -(lp * adv).sum(), "values differ"),
    (check_pg_surrogate, lambda lp, adv: -(lp.detach() * adv).mean(), "does not depend"),
    (check_ucb1_choice, not_implemented, "not implemented"),
    (check_ucb1_choice, ucb1_greedy, "untried arm|expected arm"),
    (check_ucb1_choice, ucb1_without_untried_first, "untried arm"),
    (check_ucb1_choice, lambda c, s, t: 99, "not in 0.."),
])
def test_checkers_fail_wrong_solutions_with_a_message(checker, wrong, message):
    with pytest.raises(ExerciseCheckFailed, match=message):
        checker(wrong)
