"""MAML-RL and RL^2: short learning runs, meta-gradients, evaluation protocols, determinism, errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from rl_utils import tiny_navigation_tasks

from ssm_metarl.envs import BatchedBernoulliBandit, sample_goals
from ssm_metarl.envs.bandit_baselines import best_arm_means, run_bandit_baseline
from ssm_metarl.meta_rl import (
    MAMLRLConfig,
    RL2Config,
    adapt_policy,
    evaluate_maml_rl,
    evaluate_rl2,
    evaluate_rl2_navigation,
    load_maml_rl_policy,
    make_maml_rl_policy,
    make_rl2_policy,
    navigation_oracle_returns,
    paper_step_sizes,
    policy_gradient_advantages,
    rl2_bandit_rewards,
    save_maml_rl_policy,
    surrogate_loss,
    train_maml_rl,
    train_pretrained,
    train_rl2,
    trial_advantages,
    trial_length,
)
from ssm_metarl.policies import GRUPolicy, MLPPolicy, SSMMetaPolicy
from ssm_metarl.rl import Rollout, collect_rollouts, per_episode_returns

HELD_OUT_GOALS = sample_goals(10, rng=np.random.default_rng(12345))
TINY_MAML = {"num_meta_iterations": 2, "meta_batch_size": 2, "trajectories_per_task": 3,
             "horizon": 10, "hidden_sizes": (16, 16)}
TINY_RL2 = {"num_iterations": 2, "trials_per_iteration": 8, "num_minibatches": 2,
            "hidden_dim": 16, "ssm_state_dim": 4}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- learning


@pytest.mark.slow
def test_maml_rl_post_adaptation_return_beats_pre_adaptation_on_held_out_goals():
    config = MAMLRLConfig(num_meta_iterations=15, meta_batch_size=10, trajectories_per_task=10)
    policy = make_maml_rl_policy(config)
    untrained = evaluate_maml_rl(policy, None, HELD_OUT_GOALS, 1, trajectories_per_task=10,
                                 seed=7).mean(0)
    history = train_maml_rl(policy, config, progress=False)
    pre, post = evaluate_maml_rl(policy, None, HELD_OUT_GOALS, 1, trajectories_per_task=10,
                                 seed=7).mean(0)
    assert post > pre + 5.0  # one inner step on a new goal helps ...
    assert post > untrained[1] + 20.0  # ... far more than from the untrained initialisation
    assert np.mean(history["post_return"][-5:]) > np.mean(history["post_return"][:5]) + 10.0


@pytest.mark.slow
def test_rl2_ssm_policy_beats_random_on_bandits_after_a_short_ppo_run():
    config = RL2Config(k=5, n=10, num_iterations=30, trials_per_iteration=64, num_minibatches=2,
                       lr=1e-2)
    policy = make_rl2_policy(config)
    history = train_rl2(policy, config, progress=False)
    trained = evaluate_rl2(policy, 5, 10, num_instances=500, seed=777).mean()
    random = run_bandit_baseline("random", 5, 10, num_instances=500, seed=777).mean()
    assert trained > random + 0.5, (trained, random)
    assert np.mean(history["trial_reward"][-5:]) > np.mean(history["trial_reward"][:5]) + 0.3


def test_pretrained_baseline_improves_its_return_on_the_goal_mixture():
    config = MAMLRLConfig(num_meta_iterations=8, meta_batch_size=5, trajectories_per_task=5,
                          horizon=50)
    history = train_pretrained(make_maml_rl_policy(config), config, progress=False)
    assert np.mean(history["return"][-3:]) > np.mean(history["return"][:3]) + 3.0


# ----------------------------------------------------------------------------- inner/outer steps


def test_adapt_policy_is_one_sgd_step_on_the_policy_gradient_surrogate():
    policy, pre_tasks, _ = tiny_navigation_tasks()
    rollout, advantages, mask = pre_tasks[0]
    params = {n: p.detach().requires_grad_() for n, p in policy.named_parameters()}
    fast = adapt_policy(policy, params, rollout, advantages, mask, 0.3, create_graph=False)
    # by hand: the diagonal Gaussian log-density, then -masked mean of log pi * A
    mean, log_std = policy(rollout.obs), policy.log_std
    log_pi = (-0.5 * ((rollout.actions - mean) / log_std.exp()) ** 2 - log_std
              - 0.5 * math.log(2 * math.pi)).sum(-1)
    loss = -(log_pi * advantages * mask).sum() / mask.sum()
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    for (name, p), g in zip(policy.named_parameters(), grads, strict=True):
        torch.testing.assert_close(fast[name], p - 0.3 * g, atol=1e-12, rtol=0)


def meta_objective(policy, theta, pre_task, post_task, create_graph):
    fast = adapt_policy(policy, theta, *pre_task, 0.5, create_graph=create_graph)
    return surrogate_loss(policy, fast, *post_task)


def test_second_order_meta_gradient_matches_finite_differences():
    policy, pre_tasks, post_tasks = tiny_navigation_tasks(seed=1)
    theta = {n: p.detach().requires_grad_() for n, p in policy.named_parameters()}
    loss = meta_objective(policy, theta, pre_tasks[0], post_tasks[0], create_graph=True)
    gradient = torch.autograd.grad(loss, list(theta.values()))
    generator, eps = torch.Generator().manual_seed(0), 1e-6
    for _ in range(2):
        direction = {n: torch.randn(p.shape, generator=generator, dtype=p.dtype)
                     for n, p in theta.items()}
        shifted = [meta_objective(policy, {n: p + sign * eps * direction[n]
                                           for n, p in theta.items()},
                                  pre_tasks[0], post_tasks[0], create_graph=False).item()
                   for sign in (1.0, -1.0)]
        finite_difference = (shifted[0] - shifted[1]) / (2 * eps)
        analytic = sum((g * direction[n]).sum().item()
                       for g, n in zip(gradient, theta, strict=True))
        assert abs(finite_difference - analytic) < 1e-5 * max(1.0, abs(analytic))


def test_first_order_meta_gradient_is_the_post_adaptation_gradient_at_theta_prime():
    policy, pre_tasks, post_tasks = tiny_navigation_tasks(seed=2)
    theta = {n: p.detach().requires_grad_() for n, p in policy.named_parameters()}
    first = torch.autograd.grad(
        meta_objective(policy, theta, pre_tasks[1], post_tasks[1], create_graph=False),
        list(theta.values()))
    fast = {n: p.detach().requires_grad_() for n, p in
            adapt_policy(policy, theta, *pre_tasks[1], 0.5, create_graph=False).items()}
    expected = torch.autograd.grad(surrogate_loss(policy, fast, *post_tasks[1]),
                                   list(fast.values()))
    second = torch.autograd.grad(
        meta_objective(policy, theta, pre_tasks[1], post_tasks[1], create_graph=True),
        list(theta.values()))
    for f, e in zip(first, expected, strict=True):
        torch.testing.assert_close(f, e, atol=1e-12, rtol=0)
    assert any(not torch.allclose(f, s) for f, s in zip(first, second, strict=True))


def test_advantages_are_normalised_per_task_with_the_task_baseline():
    _, pre_tasks, _ = tiny_navigation_tasks(num_tasks=3)
    for rollout, advantages, mask in pre_tasks:
        assert rollout.num_envs == 4
        values = advantages[mask]
        assert abs(values.mean().item()) < 1e-9
        assert values.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-6)


# ----------------------------------------------------------------------------- evaluation


def test_paper_step_sizes_halve_after_the_first_step():
    assert paper_step_sizes(0.1, 3) == (0.1, 0.05, 0.05)
    assert paper_step_sizes(0.1, 0) == ()


def test_evaluate_maml_rl_is_seeded_leaves_the_policy_and_global_rng_alone():
    torch.manual_seed(0)
    policy = MLPPolicy(2, 2, hidden_sizes=(8,))
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    rng_state = torch.get_rng_state()
    kwargs = {"trajectories_per_task": 3, "horizon": 20, "seed": 4}
    first = evaluate_maml_rl(policy, None, HELD_OUT_GOALS[:3], 2, **kwargs)
    second = evaluate_maml_rl(policy, None, HELD_OUT_GOALS[:3], 2, **kwargs)
    assert first.shape == (3, 3) and np.array_equal(first, second)
    assert torch.equal(torch.get_rng_state(), rng_state)
    for name, p in policy.named_parameters():
        assert torch.equal(p, before[name])


def test_goals_per_round_a_fixed_goal_and_frozen_rounds():
    config = MAMLRLConfig(hidden_sizes=(8,), seed=0)
    policy = make_maml_rl_policy(config)
    goals = np.array([[0.3, -0.2], [-0.4, 0.1]])
    common = dict(trajectories_per_task=4, horizon=10, seed=3)
    adapted = evaluate_maml_rl(policy, None, goals, 2, step_sizes=(0.1, 0.05), **common)
    # The same goal in every round is the fixed-goal evaluation, number for number.
    rounds = np.repeat(goals[:, None], 3, axis=1)
    np.testing.assert_array_equal(
        evaluate_maml_rl(policy, None, rounds, 2, step_sizes=(0.1, 0.05), **common), adapted)
    # Step sizes 0: every round plays the initial weights (same first round, then other noise).
    frozen = evaluate_maml_rl(policy, None, rounds, 2, step_sizes=(0.0, 0.0), **common)
    np.testing.assert_array_equal(frozen[:, 0], adapted[:, 0])
    assert not np.allclose(frozen[:, 1:], adapted[:, 1:], atol=1e-3)
    # A goal that moves: round 1 is scored on the new goal (an oracle-checked bound).
    moved = rounds.copy()
    moved[:, 1:] = -goals[:, None]
    returns = evaluate_maml_rl(policy, None, moved, 2, step_sizes=(0.0, 0.0), **common)
    assert np.all(returns[:, 1:] <= navigation_oracle_returns(-goals, horizon=10)[:, None] + 1e-9)
    np.testing.assert_array_equal(returns[:, 0], adapted[:, 0])


def test_oracle_returns_by_hand_and_bound_every_policy():
    # goal (0.25, -0.05): positions (0.1, -0.05), (0.2, -0.05), (0.25, -0.05) -> -(0.15 + 0.05)
    assert navigation_oracle_returns(np.array([[0.25, -0.05]]), horizon=10)[0] == \
        pytest.approx(-0.2)
    torch.manual_seed(0)
    random_policy = evaluate_maml_rl(MLPPolicy(2, 2), None, HELD_OUT_GOALS, 0,
                                     trajectories_per_task=5)
    assert np.all(navigation_oracle_returns(HELD_OUT_GOALS) >= random_policy[:, 0])


def test_evaluate_rl2_plays_the_same_bandits_and_noise_as_the_baselines():
    policy = SSMMetaPolicy(8, 5, rl2_inputs=False)
    with torch.no_grad():  # a policy that always pulls arm 0
        policy.heads.actor[-1].weight.zero_()
        policy.heads.actor[-1].bias.copy_(torch.tensor([50.0, 0, 0, 0, 0]))
    got = evaluate_rl2(policy, 5, 10, num_instances=40, seed=11)
    env = BatchedBernoulliBandit(40, k=5, n=10)
    env.reset(seed=11)
    expected = sum(env.step(np.zeros(40, dtype=np.int64))[1] for _ in range(10))
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(got, evaluate_rl2(policy, 5, 10, 40, seed=11, deterministic=True))
    # Pull by pull: the rewards of arm 0 are those of the baselines' env, row sums the totals.
    per_pull = rl2_bandit_rewards(policy, 5, 10, num_instances=40, seed=11)
    env.reset(seed=11)
    by_hand = np.stack([env.step(np.zeros(40, dtype=np.int64))[1] for _ in range(10)], axis=1)
    np.testing.assert_array_equal(per_pull, by_hand)
    np.testing.assert_array_equal(per_pull.sum(1), got)


def test_best_arm_means_are_the_played_bandits_best_arms():
    # Arm 0 always: its mean reward over many pulls converges to p_0 <= p*, and an
    # oracle that knows p* earns at least as much in expectation as any policy.
    env = BatchedBernoulliBandit(300, k=4, n=10)
    env.reset(seed=3)
    best = best_arm_means(4, 10, 300, seed=3)
    np.testing.assert_array_equal(best, env.tasks.max(axis=1))
    totals = run_bandit_baseline("thompson", 4, 10, 300, seed=3)
    assert totals.mean() < 10 * best.mean()


# ----------------------------------------------------------------------------- determinism, NaN


def test_maml_rl_and_pretraining_are_deterministic_under_a_seed():
    """Same seed, same run; an ``on_iteration`` hook that evaluates on held-out goals changes nothing."""
    config = MAMLRLConfig(**TINY_MAML, seed=3)
    runs, calls = [], []

    def evaluate(iteration, history):
        calls.append((iteration, len(next(iter(history.values())))))
        evaluate_maml_rl(policy, None, np.array([[0.3, -0.2]]), 1, trajectories_per_task=2,
                         horizon=TINY_MAML["horizon"], seed=9)

    for hook in (None, evaluate):
        policy = make_maml_rl_policy(config)
        runs.append((train_maml_rl(policy, config, progress=False, on_iteration=hook),
                     train_pretrained(policy, config, progress=False, on_iteration=hook),
                     [p.detach().clone() for p in policy.parameters()]))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    done = list(range(config.num_meta_iterations))
    assert calls == [(i, i + 1) for i in done] * 2, "the hook runs once after each iteration"
    for a, b in zip(runs[0][2], runs[1][2], strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["ssm", "gru"])
def test_rl2_is_deterministic_under_a_seed(kind):
    config = RL2Config(**TINY_RL2, policy=kind, seed=5)
    results = []
    for hook in (None, lambda i, h: evaluate_rl2(policy, 5, 10, 4, seed=i)):  # noqa: B023
        policy = make_rl2_policy(config)
        history = train_rl2(policy, config, progress=False, on_iteration=hook)
        results.append((history, evaluate_rl2(policy, 5, 10, 20, seed=1)))
    assert results[0][0] == results[1][0]
    assert np.array_equal(results[0][1], results[1][1])
    assert isinstance(policy, SSMMetaPolicy if kind == "ssm" else GRUPolicy)


def test_maml_rl_stops_with_a_clear_error_on_divergence():
    config = MAMLRLConfig(**TINY_MAML, inner_lr=1e30)
    with pytest.raises(FloatingPointError, match="train_maml_rl stopped at iteration 0.*too large"):
        train_maml_rl(make_maml_rl_policy(config), config, progress=False)


def test_rl2_stops_with_a_clear_error_on_nan_loss():
    config = RL2Config(**TINY_RL2, lr=1e30)
    with pytest.raises(FloatingPointError, match=r"train_rl2 stopped at iteration \d+: .* is nan"):
        train_rl2(make_rl2_policy(config), config, progress=False)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make, match", [
    (lambda: MAMLRLConfig(inner_lr=0.0), "inner_lr must be a positive finite number"),
    (lambda: MAMLRLConfig(meta_batch_size=2.5), "meta_batch_size must be a positive int"),
    (lambda: MAMLRLConfig(gamma=1.5), r"gamma must be in \[0, 1\]"),
    (lambda: RL2Config(policy="lstm"), "policy must be 'ssm' or 'gru'"),
    (lambda: RL2Config(trials_per_iteration=10, num_minibatches=4), "must divide"),
    (lambda: RL2Config(clip=0.0), r"clip must be in \(0, 1\)"),
])
def test_configs_reject_bad_values(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_evaluation_errors():
    policy = MLPPolicy(2, 2, hidden_sizes=(4,))
    with pytest.raises(ValueError, match=r"goals must have shape \(G, 2\)"):
        evaluate_maml_rl(policy, None, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"step_sizes must be 2 finite numbers >= 0"):
        evaluate_maml_rl(policy, None, HELD_OUT_GOALS, 2, step_sizes=[0.1])
    with pytest.raises(ValueError, match=r"step_sizes must be 1 finite numbers >= 0"):
        evaluate_maml_rl(policy, None, HELD_OUT_GOALS, 1, step_sizes=[-0.1])
    with pytest.raises(ValueError, match=r"goals per round must have shape \(G, steps \+ 1 = 3"):
        evaluate_maml_rl(policy, None, np.zeros((4, 2, 2)), 2)
    with pytest.raises(TypeError, match="recurrent policy"):
        evaluate_rl2(policy, 2, 10, 5, seed=0)
    with pytest.raises(ValueError, match="k=4 arms"):
        evaluate_rl2(SSMMetaPolicy(8, 5), 4, 10, 5, seed=0)
    with pytest.raises(ValueError, match="observation size"):
        evaluate_rl2(SSMMetaPolicy(9, 5, rl2_inputs=False), 5, 10, 5, seed=0)


# ----------------------------------------------------------------------------- RL^2 on navigation


def _two_episode_rollout(rewards, values, valid):
    """A Rollout of one env (E=1) with the given rows; the last valid row ends the trial."""
    rewards = torch.tensor(rewards, dtype=torch.float64)[:, None]
    length = rewards.shape[0]
    falses = torch.zeros(length, 1, dtype=torch.bool)
    valid = torch.tensor(valid)[:, None]
    truncated = falses.clone()
    truncated[1] = truncated[-1] = True  # episodes of 2 steps, autoreset row 2
    return Rollout(obs=torch.zeros(length, 1, 2), actions=torch.zeros(length, 1, 2),
                   log_probs=torch.zeros(length, 1), rewards=rewards, terminated=falses,
                   truncated=truncated, valid=valid,
                   episode_steps=torch.zeros(length, 1, dtype=torch.long), starts=falses,
                   values=torch.tensor(values, dtype=torch.float64)[:, None])


def test_trial_advantages_by_hand_skip_the_autoreset_row_and_cross_episode_ends():
    # Rows: episode 1 (r 1, 2), autoreset row (ignored), episode 2 (r 3, 4); the trial
    # ends only at the last row, so episode 2's reward flows back into episode 1.
    rollout = _two_episode_rollout([1.0, 2.0, 99.0, 3.0, 4.0], [0.5, 0.25, 7.0, 1.0, 2.0],
                                   [True, True, False, True, True])
    gamma, lam = 0.5, 1.0
    got = trial_advantages(rollout, gamma, lam)[:, 0]
    # lam = 1: A_t = sum_{s >= t} gamma^(s-t) r_s - V_t over the valid rows 1, 2, 3, 4.
    r = [1.0, 2.0, 3.0, 4.0]
    want = [sum(gamma ** (s - t) * r[s] for s in range(t, 4)) for t in range(4)]
    want = np.array(want) - np.array([0.5, 0.25, 1.0, 2.0])
    np.testing.assert_allclose(got[[0, 1, 3, 4]].numpy(), want, atol=1e-12)
    assert got[2] == 0.0
    # lam = 0: the one-step TD error, bootstrapping across the episode end into row 3.
    td = trial_advantages(rollout, gamma, 0.0)[:, 0]
    assert td[1].item() == pytest.approx(2.0 + gamma * 1.0 - 0.25)
    assert td[4].item() == pytest.approx(4.0 - 2.0)


def test_trial_advantages_reject_envs_out_of_step():
    rollout = _two_episode_rollout([1.0, 2.0], [0.0, 0.0], [True, True])
    valid = torch.tensor([[True, True], [True, False]])
    out_of_step = dataclasses.replace(rollout, rewards=rollout.rewards.repeat(1, 2),
                                      values=rollout.values.repeat(1, 2), valid=valid)
    with pytest.raises(ValueError, match="same rows"):
        trial_advantages(out_of_step, 0.9, 0.9)


def test_per_episode_returns_by_hand():
    rollout = _two_episode_rollout([1.0, 2.0, 99.0, 3.0, 4.0], [0.0] * 5,
                                   [True, True, False, True, True])
    np.testing.assert_array_equal(per_episode_returns(rollout, 3).numpy(), [[3.0, 7.0, 0.0]])
    with pytest.raises(ValueError, match="num_episodes"):
        per_episode_returns(rollout, 0)


def test_rl2_navigation_trial_length_covers_every_episode_of_every_goal():
    config = RL2Config(env="navigation", episodes_per_trial=3, horizon=7, hidden_dim=8,
                       ssm_state_dim=2)
    assert trial_length(config) == 3 * 7 + 2
    policy = make_rl2_policy(config)
    goals = sample_goals(4, 0)
    returns = evaluate_rl2_navigation(policy, goals, 3, seed=3, horizon=7)
    assert returns.shape == (4, 3)
    assert np.all(returns < 0)  # every one of the 7 steps of all 3 episodes pays a distance
    assert np.array_equal(returns, evaluate_rl2_navigation(policy, goals, 3, seed=3, horizon=7))
    # The first episode of a trial does not depend on how many episodes follow it.
    first = evaluate_rl2_navigation(policy, goals, 1, seed=3, horizon=7)
    np.testing.assert_allclose(first[:, 0], returns[:, 0])


@pytest.mark.slow
def test_rl2_navigation_improves_its_trial_return():
    config = RL2Config(env="navigation", episodes_per_trial=2, horizon=10, num_iterations=40,
                       trials_per_iteration=64, hidden_dim=16, ssm_state_dim=4, lr=1e-2)
    policy = make_rl2_policy(config)
    goals = sample_goals(128, 99)
    before = evaluate_rl2_navigation(policy, goals, 2, seed=5, horizon=10).sum(1).mean()
    history = train_rl2(policy, config, progress=False)
    after = evaluate_rl2_navigation(policy, goals, 2, seed=5, horizon=10).sum(1).mean()
    # Seeds 0, 1, 2 measured: trial return -8.3 -> -6.8, -6.9, -6.0.
    assert after > before + 1.0
    assert np.mean(history["trial_reward"][-5:]) > np.mean(history["trial_reward"][:5]) + 0.5


def test_rl2_navigation_config_and_policy_errors():
    with pytest.raises(ValueError, match="env must be 'bandit' or 'navigation'"):
        RL2Config(env="maze")
    with pytest.raises(ValueError, match="episodes_per_trial must be 1 for env='bandit'"):
        RL2Config(episodes_per_trial=2)
    with pytest.raises(ValueError, match="rl2_inputs=True"):
        evaluate_rl2_navigation(SSMMetaPolicy(2, 2, discrete=False, rl2_inputs=False),
                                sample_goals(2, 0), 2, seed=0)
    with pytest.raises(ValueError, match=r"goals must have shape \(G, 2\)"):
        evaluate_rl2_navigation(SSMMetaPolicy(2, 2, discrete=False), np.zeros((3, 3)), 2, seed=0)
    with pytest.raises(TypeError, match="recurrent"):
        train_rl2(MLPPolicy(2, 2), RL2Config(env="navigation"), progress=False)


# ----------------------------------------------------------------------------- checkpoints


def test_maml_rl_policy_round_trips_and_rejects_bad_files(tmp_path):
    config = MAMLRLConfig(**TINY_MAML)
    policy = make_maml_rl_policy(config)
    with torch.no_grad():
        policy.log_std.fill_(-0.7)
    path = tmp_path / "policy.pt"
    save_maml_rl_policy(policy, config, path)
    loaded, loaded_config = load_maml_rl_policy(path)
    assert loaded_config == config
    obs = torch.randn(5, 2)
    torch.testing.assert_close(loaded(obs), policy(obs), rtol=0, atol=0)
    torch.testing.assert_close(loaded.log_std, policy.log_std, rtol=0, atol=0)

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt: corrupt or unreadable"):
        load_maml_rl_policy(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_maml_rl_policy(tmp_path / "missing.pt")
    other = MAMLRLConfig(**{**TINY_MAML, "hidden_sizes": (8,)})
    save_maml_rl_policy(policy, other, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="config mismatch"):
        load_maml_rl_policy(tmp_path / "mismatch.pt")
    torch.save({"format": "something else", "config": {}, "state_dict": {}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a ssm_metarl.MAMLRLPolicy/1 file"):
        load_maml_rl_policy(tmp_path / "x.pt")


def test_the_shipped_navigation_policy_loads_and_adapts_to_new_goals():
    # data/weights/maml_rl_navigation.pt comes from notebook 03's paper run; notebook 04 uses it.
    from ssm_metarl.results import data_dir

    policy, config = load_maml_rl_policy(data_dir() / "weights" / "maml_rl_navigation.pt")
    assert config.goal_tolerance == 0.01 and config.num_meta_iterations >= 100
    returns = evaluate_maml_rl(policy, None, HELD_OUT_GOALS, 1, trajectories_per_task=10,
                               goal_tolerance=config.goal_tolerance, seed=3).mean(0)
    # Stored paper run: about -36 before and -11 after one step on 40 goals.
    assert returns[1] > returns[0] + 10.0
    assert returns[1] > -20.0


# ----------------------------------------------------------------------------- RL^2 on every core


@pytest.mark.slow
@pytest.mark.parametrize("core", ["selective", "ssd", "s4d", "linear", "gru"])
def test_rl2_ssm_policy_on_every_core_beats_random_on_bandits(core):
    """100 PPO iterations of 64 trials (5-13 s on one shared thread).

    Measured over seeds 0, 1, 2: trained minus random 0.78-1.48 (s4d and linear
    lowest), last-5 minus first-5 training reward 0.63-1.51; the margins below
    hold for every core and seed.
    """
    config = RL2Config(k=5, n=10, num_iterations=100, trials_per_iteration=64,
                       num_minibatches=2, lr=1e-2, core=core)
    policy = make_rl2_policy(config)
    history = train_rl2(policy, config, progress=False)
    trained = evaluate_rl2(policy, 5, 10, num_instances=500, seed=777).mean()
    random = run_bandit_baseline("random", 5, 10, num_instances=500, seed=777).mean()
    assert trained > random + 0.5, (core, trained, random)
    assert np.mean(history["trial_reward"][-5:]) > np.mean(history["trial_reward"][:5]) + 0.3


def test_rl2_config_picks_the_core_of_the_ssm_policy():
    from ssm_metarl.cores import S4DCore, SelectiveCore

    assert RL2Config().core == "selective"
    assert isinstance(make_rl2_policy(RL2Config(**TINY_RL2)).ssm, SelectiveCore)
    config = RL2Config(**TINY_RL2, core="s4d")
    policy = make_rl2_policy(config)
    assert isinstance(policy.ssm, S4DCore) and policy.ssm.state_dim == 4
    history = train_rl2(policy, config, progress=False)  # complex states through rollouts
    assert len(history["trial_reward"]) == 2
    with pytest.raises(ValueError, match="core must be one of 'selective', 'ssd', 's4d'"):
        RL2Config(core="lstm")


def test_whole_trial_advantages_use_a_baseline_on_the_trial_clock():
    """Over a trial of 2 episodes R_t runs to the trial's end, so the linear baseline
    is fitted on the step of the trial (the row), not of the episode: equal to a
    reference written out here (reward-to-go over the trial, baseline on the row
    index, per-task normalisation), and different from fitting on the episode clock."""
    from ssm_metarl.envs.families import NavigationTasks
    from ssm_metarl.meta_rl import rollout_length
    from ssm_metarl.rl import LinearFeatureBaseline, normalize_advantages

    torch.manual_seed(0)
    policy = SSMMetaPolicy(2, 2, discrete=False, hidden_dim=8, ssm_state_dim=2,
                           dtype=torch.float64)
    env = NavigationTasks(horizon=6).make_env(6)
    rollout = collect_rollouts(env, policy, rollout_length(6, 2), seed=0, action_scale=0.1,
                               episodes_per_trial=2)
    got = policy_gradient_advantages(rollout, 2, 0.9, whole_trial=True)
    rows = torch.arange(rollout.num_steps, dtype=torch.long)[:, None].expand(-1, 3)
    for g, (task, advantages, mask) in enumerate(got):
        rewards = (task.rewards * task.valid).numpy()
        returns = np.zeros_like(rewards)
        running = np.zeros(rewards.shape[1])
        for t in reversed(range(len(rewards))):  # one trial per column: no episode ends
            running = rewards[t] + 0.9 * running
            returns[t] = running
        returns = torch.as_tensor(returns)
        assert torch.equal(mask, task.valid)
        for clock, same in ((rows, True), (task.episode_steps, False)):
            baseline = LinearFeatureBaseline(1e-5)
            baseline.fit(task.obs, clock, returns, mask)
            expected = normalize_advantages(returns - baseline.predict(task.obs, clock), mask)
            assert torch.allclose(advantages[mask], expected[mask], atol=1e-8) is same, (g, same)
