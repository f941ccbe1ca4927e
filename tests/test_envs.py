"""Meta-RL environments and bandit baselines (ssm_metarl.envs)."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from ssm_metarl.envs import (
    BANDIT_ID,
    NAVIGATION_ID,
    BatchedBernoulliBandit,
    BatchedNavigation2D,
    BernoulliBandit,
    Navigation2D,
)
from ssm_metarl.envs.bandit_baselines import (
    run_bandit_baseline,
    select_greedy,
    select_thompson,
    select_ucb1,
    select_ucb_mean,
)

# ---------------------------------------------------------------- gymnasium API


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        (NAVIGATION_ID, {}),
        (NAVIGATION_ID, {"goal_tolerance": 0.01, "horizon": 3}),
        (BANDIT_ID, {"k": 5, "n": 10}),
        (BANDIT_ID, {"k": 2, "n": 1, "time_feature": False}),
    ],
)
def test_check_env_passes_with_warnings_as_errors(env_id, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id, **kwargs)
        check_env(env.unwrapped)


@pytest.mark.parametrize(
    "env_id, single, batched",
    [
        (NAVIGATION_ID, Navigation2D, BatchedNavigation2D),
        (BANDIT_ID, BernoulliBandit, BatchedBernoulliBandit),
    ],
)
def test_ids_make_the_single_and_the_batched_env(env_id, single, batched):
    # A full episode through gym.make's PassiveEnvChecker must not warn either.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id)
        assert isinstance(env.unwrapped, single)
        env.reset(seed=0)
        env.action_space.seed(0)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
        vec = gym.make_vec(env_id, num_envs=3)
        assert isinstance(vec, batched) and vec.num_envs == 3


# ---------------------------------------------------------------- navigation dynamics


def test_navigation_reward_is_minus_distance_after_the_move():
    env = Navigation2D(task=[0.3, -0.2])
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0.0, 0.0])
    # (0.5, -0.5) is outside the box and moves by (0.1, -0.1).
    actions = [(0.05, 0.0), (0.5, -0.5), (-0.02, 0.03)]
    positions = [(0.05, 0.0), (0.15, -0.1), (0.13, -0.07)]
    for action, (x, y) in zip(actions, positions, strict=True):
        obs, reward, terminated, truncated, _ = env.step(np.array(action))
        np.testing.assert_allclose(obs, [x, y], atol=1e-7)
        assert reward == pytest.approx(-math.hypot(x - 0.3, y + 0.2), abs=1e-12)
        assert not terminated and not truncated


def test_out_of_box_actions_are_clipped_per_coordinate():
    env = Navigation2D(task=[0.0, 0.0])
    env.reset(seed=0)
    obs, *_ = env.step([5.0, -0.03])
    np.testing.assert_allclose(obs, [0.1, -0.03], atol=1e-7)
    obs, *_ = env.step(np.array([-1e9, 1e9], dtype=np.float32))
    np.testing.assert_allclose(obs, [0.0, 0.07], atol=1e-7)


def test_navigation_truncates_at_step_100_and_never_terminates_by_default():
    env = Navigation2D(task=[0.0, 0.0])  # standing on the goal the whole episode
    env.reset(seed=0)
    flags = [env.step([0.0, 0.0])[2:4] for _ in range(100)]
    assert [f for f in flags[:-1] if any(f)] == []
    assert flags[-1] == (False, True)
    with pytest.raises(RuntimeError, match="reset"):
        env.step([0.0, 0.0])


def test_goal_tolerance_terminates_like_the_authors_code():
    env = Navigation2D(task=[0.25, 0.0], goal_tolerance=0.01)
    env.reset(seed=0)
    # Positions 0.1, 0.2, 0.245: only the last is within 0.01 of the goal in both axes.
    terminated = [env.step(a)[2] for a in ([0.1, 0.0], [0.1, 0.0], [0.045, 0.005])]
    assert terminated == [False, False, True]


# ---------------------------------------------------------------- batched == gymnasium


def _compare_step_for_step(sync, batched, actions, seed, options=None):
    obs_s, _ = sync.reset(seed=seed, options=options)
    obs_b, _ = batched.reset(seed=seed, options=options)
    np.testing.assert_array_equal(obs_b, obs_s)
    episode_ends = 0
    for action in actions:
        out_s, out_b = sync.step(action), batched.step(action)
        for got, expected in zip(out_b[:4], out_s[:4], strict=True):
            np.testing.assert_array_equal(got, expected)
        episode_ends += int(np.sum(out_s[2] | out_s[3]))
    np.testing.assert_array_equal(batched.tasks, np.stack(sync.get_attr("task")))
    return episode_ends


@pytest.mark.parametrize("seed", [0, 1, 12345])
@pytest.mark.parametrize("kwargs", [{"horizon": 6}, {"horizon": 9, "goal_tolerance": 0.12}])
def test_batched_navigation_equals_sync_vector_env(seed, kwargs):
    num_envs = 5
    sync = gym.make_vec(NAVIGATION_ID, num_envs, vectorization_mode="sync", **kwargs)
    batched = BatchedNavigation2D(num_envs, **kwargs)
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-0.3, 0.3, size=(40, num_envs, 2))  # many outside the box
    ends = _compare_step_for_step(sync, batched, actions, seed)
    assert ends >= num_envs * 3  # autoreset was exercised


def test_batched_navigation_equals_sync_with_pinned_goals_and_terminations():
    # Goals a few steps away so that goal_tolerance terminations occur.
    kwargs = {"horizon": 20, "goal_tolerance": 0.05, "resample_task_on_reset": True}
    sync = gym.make_vec(NAVIGATION_ID, 4, vectorization_mode="sync", **kwargs)
    batched = BatchedNavigation2D(4, **kwargs)
    actions = np.full((30, 4, 2), 0.1)
    actions[::3] = -0.02
    _compare_step_for_step(sync, batched, actions, seed=3, options={"task": [0.2, 0.2]})
    terminations = [batched.step(np.full((4, 2), 0.1))[2] for _ in range(5)]
    assert np.any(terminations)


def test_batched_set_task_equals_sync_set_attr_per_env():
    goals = np.array([[0.3, 0.1], [-0.2, 0.45], [0.0, -0.5]])
    sync = gym.make_vec(NAVIGATION_ID, 3, vectorization_mode="sync", horizon=5)
    batched = BatchedNavigation2D(3, horizon=5)
    sync.set_attr("task", list(goals))
    batched.set_task(goals)
    actions = np.random.default_rng(1).uniform(-0.15, 0.15, size=(17, 3, 2))
    _compare_step_for_step(sync, batched, actions, seed=8)  # the seed does not unpin
    np.testing.assert_array_equal(batched.tasks, goals)


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("time_feature", [True, False])
def test_batched_bandit_equals_sync_vector_env(seed, time_feature):
    num_envs, k, n = 6, 3, 4
    kwargs = {"k": k, "n": n, "time_feature": time_feature}
    sync = gym.make_vec(BANDIT_ID, num_envs, vectorization_mode="sync", **kwargs)
    batched = BatchedBernoulliBandit(num_envs, **kwargs)
    arms = np.random.default_rng(seed).integers(k, size=(27, num_envs))
    ends = _compare_step_for_step(sync, batched, arms, seed)
    assert ends >= num_envs * 4


def test_batched_bandit_equals_sync_with_a_pinned_task_and_per_env_seeds():
    kwargs = {"k": 4, "n": 3}
    sync = gym.make_vec(BANDIT_ID, 3, vectorization_mode="sync", **kwargs)
    batched = BatchedBernoulliBandit(3, **kwargs)
    arms = np.random.default_rng(0).integers(4, size=(20, 3))
    options = {"task": [0.1, 0.4, 0.6, 0.9]}
    _compare_step_for_step(sync, batched, arms, seed=[5, 99, 5], options=options)


def test_batched_envs_accept_torch_actions():
    torch = pytest.importorskip("torch")
    nav, nav_ref = BatchedNavigation2D(2), BatchedNavigation2D(2)
    nav.reset(seed=0), nav_ref.reset(seed=0)
    action = torch.tensor([[0.05, -0.2], [0.0, 0.03]], requires_grad=True)
    np.testing.assert_array_equal(nav.step(action)[1], nav_ref.step(action.detach().numpy())[1])
    bandit = BatchedBernoulliBandit(2, k=3, n=2, task=[0.0, 1.0, 0.0])
    bandit.reset(seed=0)
    np.testing.assert_array_equal(bandit.step(torch.tensor([1, 0]))[1], [1.0, 0.0])


# ---------------------------------------------------------------- task persistence


def test_vector_autoreset_keeps_the_navigation_goal():
    envs = gym.make_vec(NAVIGATION_ID, 3, vectorization_mode="sync", horizon=4)
    envs.reset(seed=0)
    goals = np.stack(envs.get_attr("task"))
    assert len({tuple(g) for g in goals}) == 3  # each env drew its own goal
    for _ in range(13):  # three episodes and a bit, through next-step autoresets
        envs.step(np.zeros((3, 2)))
    np.testing.assert_array_equal(np.stack(envs.get_attr("task")), goals)
    # Per-env goals pinned with set_attr survive even a seeded reset.
    pinned = np.array([[0.1, 0.2], [-0.3, 0.4], [0.5, -0.5]])
    envs.set_attr("task", list(pinned))
    envs.reset(seed=42)
    for _ in range(9):
        envs.step(np.zeros((3, 2)))
    np.testing.assert_array_equal(np.stack(envs.get_attr("task")), pinned)


def test_bandit_draws_a_new_task_per_trial_unless_pinned():
    envs = gym.make_vec(BANDIT_ID, 2, vectorization_mode="sync", k=3, n=2)
    envs.reset(seed=0)
    first = np.stack(envs.get_attr("task"))
    for _ in range(3):  # two pulls, then the autoreset step starts trial 2
        envs.step(np.zeros(2, dtype=np.int64))
    assert not np.any(np.stack(envs.get_attr("task")) == first)
    pinned = np.array([0.2, 0.5, 0.8])
    envs.reset(options={"task": pinned})
    for _ in range(7):
        envs.step(np.zeros(2, dtype=np.int64))
    np.testing.assert_array_equal(np.stack(envs.get_attr("task")), [pinned, pinned])


def test_seeded_reset_is_reproducible_whatever_ran_before():
    fresh = Navigation2D()
    fresh.reset(seed=3)
    used = Navigation2D()
    used.reset(seed=11)
    used.step([0.1, 0.1])
    used.reset()
    used.reset(seed=3)
    np.testing.assert_array_equal(used.task, fresh.task)
    assert used.step([0.05, 0.0])[1] == fresh.step([0.05, 0.0])[1]


def test_sampled_goals_follow_the_task_distribution():
    goals = Navigation2D().sample_tasks(4000, rng=0)
    assert goals.shape == (4000, 2)
    assert goals.min() >= -0.5 and goals.max() <= 0.5
    # U[-0.5, 0.5]: mean 0, variance 1/12; bounds are ~6 standard errors.
    np.testing.assert_allclose(goals.mean(axis=0), 0.0, atol=0.03)
    np.testing.assert_allclose(goals.var(axis=0), 1 / 12, atol=0.01)
    np.testing.assert_array_equal(
        Navigation2D().sample_tasks(5, rng=1), Navigation2D().sample_tasks(5, rng=1)
    )


# ---------------------------------------------------------------- bandit


def test_bandit_observation_carries_previous_arm_reward_done_and_time():
    env = BernoulliBandit(k=3, n=4, task=[0.0, 1.0, 0.0])  # deterministic rewards
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, np.zeros(6))
    expected = {1: [0, 1, 0, 1, 1, 0.25], 0: [1, 0, 0, 0, 1, 0.5], 2: [0, 0, 1, 0, 1, 0.75]}
    for arm in (1, 0, 2):
        obs, reward, terminated, truncated, _ = env.step(arm)
        np.testing.assert_array_equal(obs, np.array(expected[arm], dtype=np.float32))
        assert reward == float(arm == 1) and not terminated and not truncated
    obs, reward, terminated, truncated, _ = env.step(1)
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert obs[-1] == 1.0
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_bandit_reward_frequency_matches_arm_probability():
    p = np.array([0.1, 0.5, 0.85])
    env = BatchedBernoulliBandit(3000, k=3, n=20, task=p)
    env.reset(seed=0)
    arms = np.repeat(np.arange(3), 1000)
    rewards = np.stack([env.step(arms)[1] for _ in range(20)])  # (20, 3000)
    freq = rewards.reshape(20, 3, 1000).mean(axis=(0, 2))
    # 20000 pulls per arm: standard error <= 0.0036; 5 standard errors allowed.
    np.testing.assert_allclose(freq, p, atol=0.018)


def test_bandit_tasks_are_uniform_on_the_unit_interval():
    env = BatchedBernoulliBandit(2000, k=5, n=1)
    env.reset(seed=1)
    p = env.tasks
    assert p.min() >= 0.0 and p.max() <= 1.0
    np.testing.assert_allclose(p.mean(), 0.5, atol=0.02)
    np.testing.assert_allclose(np.mean(p < 0.25), 0.25, atol=0.025)


def test_same_seed_same_numbers():
    def trial(seed):
        env = BatchedBernoulliBandit(8, k=4, n=5)
        env.reset(seed=seed)
        arms = np.random.default_rng(0).integers(4, size=(12, 8))
        return np.stack([env.step(a)[1] for a in arms])

    np.testing.assert_array_equal(trial(2), trial(2))
    assert not np.array_equal(trial(2), trial(3))
    np.testing.assert_array_equal(
        run_bandit_baseline("thompson", 5, 20, 50, seed=4),
        run_bandit_baseline("thompson", 5, 20, 50, seed=4),
    )


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: Navigation2D(task=[0.1, 0.2, 0.3]), ValueError, r"task.*shape \(2,\)"),
        (lambda: Navigation2D(task=[0.1, np.nan]), ValueError, "task must be finite"),
        (lambda: Navigation2D(horizon=0), ValueError, "horizon must be a positive int"),
        (lambda: Navigation2D(goal_tolerance=-1.0), ValueError, "goal_tolerance"),
        (lambda: BernoulliBandit(k=3, task=[0.1, 1.2, 0.5]), ValueError, r"task.*\[0, 1\]"),
        (lambda: BernoulliBandit(k=3, task=[0.1, 0.5]), ValueError, r"task.*shape \(3,\)"),
        (lambda: BernoulliBandit(k=3, task=[0.1, np.nan, 0.5]), ValueError, r"\[0, 1\]"),
        (lambda: BernoulliBandit(n=0), ValueError, "n must be a positive int"),
        (lambda: BatchedNavigation2D(2, task=np.zeros((3, 2))), ValueError, r"\(2, 2\)"),
        (lambda: BatchedNavigation2D(2, task=[[0, 0], [0, np.inf]]), ValueError, r"task\[1\]"),
        (
            lambda: BatchedBernoulliBandit(2, k=2, task=[[0.5, 0.5], [0.5, -0.1]]),
            ValueError,
            r"task\[1\]",
        ),
        (lambda: run_bandit_baseline("ucb", 5, 10, 4, 0), ValueError, "policy_name"),
        (lambda: run_bandit_baseline("ucb1", 5, 10, 4, 0, ucb_c=-1.0), ValueError, "ucb_c"),
        (lambda: run_bandit_baseline("thompson", 5, 10, 4, 0, ucb_c=0.1), ValueError, "ucb_c"),
    ],
)
def test_invalid_arguments_raise_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    "make, action, error, match",
    [
        (lambda: Navigation2D(), [0.1, 0.1, 0.1], ValueError, r"action.*shape \(2,\)"),
        (lambda: Navigation2D(), [np.nan, 0.0], ValueError, "action must be finite"),
        (lambda: Navigation2D(), [np.inf, 0.0], ValueError, "action must be finite"),
        (lambda: BernoulliBandit(k=3), 3, ValueError, r"action.*\[0, 2\]"),
        (lambda: BernoulliBandit(k=3), -1, ValueError, r"action.*\[0, 2\]"),
        (lambda: BernoulliBandit(k=3), 1.0, TypeError, "integer"),
        (lambda: BernoulliBandit(k=3), [1], ValueError, r"action must have shape \(\)"),
        (lambda: BatchedNavigation2D(3), np.zeros((2, 2)), ValueError, r"actions.*\(3, 2\)"),
        (lambda: BatchedBernoulliBandit(2, k=3), [0, 5], ValueError, r"actions.*\[0, 2\]"),
    ],
)
def test_invalid_actions_raise_naming_the_argument(make, action, error, match):
    env = make()
    env.reset(seed=0)
    with pytest.raises(error, match=match):
        env.step(action)


def test_bad_reset_options_and_seeds_raise():
    with pytest.raises(ValueError, match="unknown keys"):
        Navigation2D().reset(options={"goal": [0.0, 0.0]})
    with pytest.raises(ValueError, match="num_envs=3"):
        BatchedNavigation2D(3).reset(seed=[1, 2])
    with pytest.raises(RuntimeError, match="reset"):
        BatchedBernoulliBandit(2).step([0, 0])


# ---------------------------------------------------------------- baselines


def test_ucb1_index_matches_hand_computation():
    rng = np.random.default_rng(0)
    # Arm 2 was never pulled: UCB1 pulls it before anything else.
    assert select_ucb1(np.array([[1.0, 2.0, 0.0]]), np.array([[1.0, 1.0, 0.0]]), 3, rng) == [2]
    # mean 0.6 + sqrt(2 ln 11 / 10) = 1.29 < 0 + sqrt(2 ln 11 / 1) = 2.19.
    counts, successes = np.array([[10.0, 1.0]]), np.array([[6.0, 0.0]])
    assert select_ucb1(counts, successes, 11, rng) == [1]
    # With little exploration (c = 0.1) the better mean wins: 0.6 + 0.049 > 0.155.
    assert select_ucb1(counts, successes, 11, rng, c=0.1) == [0]


def test_ucb_mean_index_matches_hand_computation():
    rng = np.random.default_rng(0)
    counts, successes = np.array([[4.0, 0.0]]), np.array([[3.0, 0.0]])
    # t = 4: arm 0 scores 4/6 + c sqrt(ln 5 / 5) = 0.667 + 0.567 c, the unpulled arm
    # 1/2 + c sqrt(ln 5) = 0.5 + 1.269 c; they cross at c = 0.237.
    assert select_ucb_mean(counts, successes, 4, rng, c=0.2) == [0]
    assert select_ucb_mean(counts, successes, 4, rng, c=0.3) == [1]
    # c = 0 is greedy on the posterior mean, draw for draw.
    many_counts = np.random.default_rng(1).integers(0, 5, (200, 4)).astype(float)
    many_successes = np.floor(many_counts * np.random.default_rng(2).random((200, 4)))
    np.testing.assert_array_equal(
        select_ucb_mean(many_counts, many_successes, 7, np.random.default_rng(3), c=0.0),
        select_greedy(many_counts, many_successes, 7, np.random.default_rng(3)),
    )


def test_greedy_and_thompson_follow_the_evidence():
    rng = np.random.default_rng(0)
    counts = np.array([[1000.0, 1000.0, 0.0]])
    successes = np.array([[900.0, 100.0, 0.0]])
    # Posterior means 0.899, 0.101 and 0.5 for the unpulled arm.
    assert select_greedy(counts, successes, 2000, rng) == [0]
    # Thompson picks arm 0 when theta_0 ~ Beta(901, 101) (about 0.9) beats the unpulled
    # arm's theta_2 ~ U[0, 1]: probability about 0.9; arm 1 (about 0.1) practically never.
    picks = select_thompson(counts.repeat(4000, 0), successes.repeat(4000, 0), 2000, rng)
    assert np.mean(picks == 0) == pytest.approx(0.9, abs=0.03)
    assert np.mean(picks == 1) < 0.001
    # An unpulled arm (0.5) beats one that failed once (1/3).
    assert select_greedy(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]]), 1, rng) == [1]


def test_ucb1_and_thompson_beat_random_by_a_clear_margin():
    totals = {
        name: run_bandit_baseline(name, 5, 100, 400, seed=0).mean()
        for name in ("random", "ucb1", "thompson")
    }
    # Expected: random 50, UCB1 (c = sqrt 2) about 66, Thompson about 75.
    assert abs(totals["random"] - 50.0) < 3.0
    assert totals["ucb1"] > totals["random"] + 10.0
    assert totals["thompson"] > totals["random"] + 18.0


def test_thompson_sampling_reproduces_rl2_table_1():
    # Duan et al. (2016), Table 1: TS earns 74.7 at n=100, k=5 over 1000 instances.
    total = run_bandit_baseline("thompson", 5, 100, 1000, seed=0)
    half_width = 1.96 * total.std(ddof=1) / math.sqrt(total.size)
    assert abs(total.mean() - 74.7) < 2 * half_width + 0.5
