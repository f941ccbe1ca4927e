"""Tasks that move and weights that learn during a trial (rl.collect_rollouts hooks,
meta_rl.adapt_within_trial, adaptation.PolicyAdapter.run_trial)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssm_metarl.adaptation import PolicyAdapter
from ssm_metarl.envs import BatchedNavigation2D, sample_goals
from ssm_metarl.envs.families import NavigationTasks
from ssm_metarl.meta_rl import _windowed_advantages, adapt_within_trial, load_maml_rl_policy
from ssm_metarl.policies import MLPPolicy, SSMMetaPolicy
from ssm_metarl.results import data_dir
from ssm_metarl.rl import collect_rollouts


def _policy(seed=0):
    torch.manual_seed(seed)
    return MLPPolicy(2, 2, (8,), init_log_std=-1.0, dtype=torch.float64)


def test_a_task_change_moves_the_reward_to_the_new_goal_and_keeps_the_robot_in_place():
    policy = _policy()
    old, new = np.array([0.3, 0.3]), np.array([-0.4, 0.1])
    env = BatchedNavigation2D(3, horizon=12, task=old)
    rollout = collect_rollouts(env, policy, 12, seed=0, action_scale=0.1,
                               task_changes={5: new})
    positions = rollout.obs.numpy()  # obs at row t is the position before action t
    after = np.concatenate([positions[1:], positions[-1:] + 0.0], axis=0)
    after[-1] = positions[-1] + np.clip(0.1 * rollout.actions[-1].numpy(), -0.1, 0.1)
    goal = np.where(np.arange(12)[:, None, None] < 5, old, new)
    expected = -np.linalg.norm(after - goal, axis=-1)
    np.testing.assert_allclose(rollout.rewards.numpy(), expected, atol=1e-6)
    # the robot did not jump back to the start at the change
    assert np.abs(positions[5] - positions[4]).max() <= 0.1 + 1e-9


def test_on_step_weights_act_from_the_next_row_on():
    policy = _policy()
    env = BatchedNavigation2D(4, horizon=8, task=np.array([0.2, -0.2]))
    own = {n: p.detach() for n, p in policy.named_parameters()}
    wider = {**own, "log_std": own["log_std"] + 1.0}

    def swap(t, so_far):
        assert so_far().num_steps == t + 1  # the rollout so far ends at the current row
        return wider if t == 3 else None

    rollout = collect_rollouts(env, policy, 8, seed=1, action_scale=0.1, on_step=swap)
    for params, rows in ((own, slice(0, 4)), (wider, slice(4, 8))):
        log_probs = policy.distribution(rollout.obs[rows], params).log_prob(rollout.actions[rows])
        torch.testing.assert_close(rollout.log_probs[rows], log_probs)


@pytest.mark.parametrize("changes, match", [
    ({20: np.zeros(2)}, r"rows in \[0, num_steps=8\)"), ([1], "dict row -> tasks")])
def test_collect_rollouts_refuses_bad_task_changes(changes, match):
    env = BatchedNavigation2D(2, horizon=8)
    with pytest.raises((ValueError, TypeError), match=match):
        collect_rollouts(env, _policy(), 8, task_changes=changes)
    with pytest.raises(TypeError, match="on_step"):
        collect_rollouts(env, _policy(), 8, on_step=3)


def test_windowed_returns_are_k_step_sums_of_rewards_already_received():
    policy = _policy()
    env = BatchedNavigation2D(2, horizon=30, task=np.array([0.1, 0.1]))
    rollout = collect_rollouts(env, policy, 30, seed=0, action_scale=0.1)
    partial = rollout.columns(slice(None))
    partial = type(partial)(**{f: (v[:25] if v is not None and f not in (
        "initial_state", "last_value") else v) for f, v in vars(partial).items()})
    returns, mask = _windowed_advantages(partial, 5, 0.9)
    rows = torch.nonzero(mask[:, 0]).squeeze(1).tolist()
    assert rows == list(range(16, 21))  # the last 5 rows whose 5 rewards arrived by row 24
    r = partial.rewards
    for row in rows:
        expected = sum(0.9**j * r[row + j] for j in range(5))
        torch.testing.assert_close(returns[row], expected)


def _trial(jump_row, horizon=29, every=10):
    return adapt_within_trial(_policy(), None, sample_goals(3, rng=0),
                              NavigationTasks(horizon=horizon), every_steps=every,
                              step_size=0.05, jump_row=jump_row,
                              jump_goals=sample_goals(3, rng=1), trajectories_per_task=4, seed=2)


def test_within_trial_updates_never_use_rewards_not_yet_received():
    # with 29 rows and k = 10 the only update follows row 19 (real step 20)
    quiet, late, early = _trial(None), _trial(25), _trial(15)
    assert quiet.updates == late.updates == early.updates == 1
    np.testing.assert_array_equal(quiet.rewards[:, :25], late.rewards[:, :25])
    assert not np.allclose(quiet.rewards[:, 25:], late.rewards[:, 25:])
    for name in quiet.params[0]:
        # a jump after the update cannot have changed it ...
        torch.testing.assert_close(quiet.params[0][name], late.params[0][name], rtol=0, atol=0)
    # ... one before it must have
    assert any(not torch.equal(quiet.params[0][n], early.params[0][n]) for n in quiet.params[0])


def test_frozen_trial_matches_a_plain_rollout_and_is_seeded():
    frozen = adapt_within_trial(_policy(), None, sample_goals(2, rng=0), NavigationTasks(
        horizon=10), trajectories_per_task=3, seed=4)
    assert frozen.updates == 0 and frozen.valid.all()
    again = adapt_within_trial(_policy(), None, sample_goals(2, rng=0), NavigationTasks(
        horizon=10), trajectories_per_task=3, seed=4)
    np.testing.assert_array_equal(frozen.rewards, again.rewards)


def test_online_updates_recover_faster_than_frozen_weights_after_a_mid_episode_jump():
    policy, _ = load_maml_rl_policy(data_dir() / "weights" / "maml_rl_navigation.pt")
    start, jump = sample_goals(12, rng=1), sample_goals(12, rng=2)
    runs = {every: PolicyAdapter(lr=0.03, trajectories=10, every_steps=every).run_trial(
        policy, start, jump_row=50, jump_goals=jump, seed=0) for every in (None, 10)}
    late = {every: np.nanmean(run.rewards[:, 75:]) for every, run in runs.items()}
    before = {every: np.nanmean(run.rewards[:, 30:50]) for every, run in runs.items()}
    assert before[10] > before[None] + 0.05  # it adapts to the first goal ...
    assert late[10] > late[None] + 0.02  # ... and to the one it jumped to


def test_a_recurrent_policy_carries_its_memory_across_the_jump_and_updates():
    policy = SSMMetaPolicy(state_dim=2, action_dim=2, discrete=False, hidden_dim=8,
                           core="ssd")
    run = PolicyAdapter(lr=0.01, trajectories=3, every_steps=5).run_trial(
        policy, sample_goals(2, rng=0), episodes=2, jump_row=15, jump_goals=sample_goals(
            2, rng=1), family=NavigationTasks(horizon=10), seed=0)
    assert run.rewards.shape == (2, 21) and np.isnan(run.rewards[:, 10]).all()  # autoreset row
    assert run.updates == 3 and not run.valid[10]


@pytest.mark.parametrize("kwargs, match", [
    ({"every_steps": 0}, "every_steps"), ({"jump_row": 500}, "jump_row"),
    ({"jump_row": 3}, "jump_goals"), ({"step_size": -1.0}, "step_size"),
    ({"episodes": 0}, "episodes")])
def test_adapt_within_trial_refuses_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        adapt_within_trial(_policy(), None, sample_goals(2, rng=0), NavigationTasks(horizon=10),
                           **kwargs)
