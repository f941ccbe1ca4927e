"""Tests of ssm_metarl.bandit_runs: the stored RL^2 bandit runs over training seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ssm_metarl import bandit_runs
from ssm_metarl.envs.bandit_baselines import baseline_rewards
from ssm_metarl.meta_rl import RL2Config, make_rl2_policy, rl2_bandit_rewards, train_rl2


def test_method_names_spell_the_setting_and_the_protocol():
    assert [bandit_runs.setting(m) for m in bandit_runs.METHODS] == [
        (10, 5), (10, 5), (10, 5), (10, 10), (100, 5)]
    short = bandit_runs.run_config("gru_n10_k5", 3)
    assert (short.policy, short.k, short.n, short.seed) == ("gru", 5, 10, 3)
    assert (short.num_iterations, short.trials_per_iteration, short.gamma) == (1_000, 256, 1.0)
    long = bandit_runs.run_config("ssm_n100_k5", 0, iterations=7, trials_per_iteration=8)
    assert (long.n, long.num_iterations, long.trials_per_iteration, long.gae_lambda) == (
        100, 7, 8, 0.3)
    assert bandit_runs.run_config("ssd_n10_k5", 0).core == "ssd"


def test_a_stored_run_is_the_run_trained_by_hand_and_loads_back(scratch_data):
    """Same config, same seed: the stored weights are those of train_rl2 called directly."""
    record = bandit_runs.train_run("ssd_n10_k5", 1, iterations=2)
    policy, config, info = bandit_runs.load_run("ssd_n10_k5", 1)
    by_hand_config = RL2Config(k=5, n=10, num_iterations=2, trials_per_iteration=256, lr=3e-3,
                               gamma=1.0, gae_lambda=0.95, policy="ssm", core="ssd", seed=1)
    assert config == by_hand_config
    by_hand = make_rl2_policy(by_hand_config)
    history = train_rl2(by_hand, by_hand_config, progress=False)
    for (name, got), want in zip(policy.state_dict().items(), by_hand.state_dict().values(),
                                 strict=True):
        assert torch.equal(got, want), name
    assert info["command"] == ("python -m ssm_metarl.bandit_runs ssd_n10_k5 --seeds 1 "
                               "--iterations 2")
    assert json.loads(record.read_text())["iterations"] == 2
    assert info["trial_reward_every_10"] == [round(float(np.mean(history["trial_reward"])), 4)]


def test_evaluation_is_repeatable_and_plays_the_baselines_bandits(scratch_data):
    for seed in (0, 1):
        bandit_runs.train_run("gru_n10_k5", seed, iterations=1)
    first = bandit_runs.evaluate_runs(["gru_n10_k5"], seeds=[0, 1], num_instances=50, seed=5)
    second = bandit_runs.evaluate_runs(("gru_n10_k5",), seeds=(0, 1), num_instances=50, seed=5)
    rewards = first["gru_n10_k5"]
    assert rewards.shape == (2, 50, 10)
    np.testing.assert_array_equal(rewards, second["gru_n10_k5"])
    assert not np.array_equal(rewards[0], rewards[1])  # two seeds, two policies
    policy, _, _ = bandit_runs.load_run("gru_n10_k5", 1)
    np.testing.assert_array_equal(rewards[1], rl2_bandit_rewards(policy, 5, 10, 50, seed=5))


def test_a_checkpoint_of_another_method_is_refused(scratch_data):
    bandit_runs.train_run("ssm_n10_k5", 0, iterations=1)
    source, record = bandit_runs.run_paths("ssm_n10_k5", 0)
    target, target_record = bandit_runs.run_paths("ssm_n10_k10", 0)
    target.write_bytes(source.read_bytes())
    target_record.write_text(record.read_text())
    with pytest.raises(ValueError, match="another method, not 'ssm_n10_k10'"):
        bandit_runs.load_run("ssm_n10_k10", 0)


def test_missing_run_names_the_command_that_makes_it(scratch_data):
    with pytest.raises(FileNotFoundError, match="python -m ssm_metarl.bandit_runs ssm_n100_k5 "
                                                "--seeds 2"):
        bandit_runs.load_run("ssm_n100_k5", 2)


def test_shipped_runs_load_and_beat_random_and_ucb1():
    """The 15 shipped runs (5 methods x seeds 0-2) play; each beats random and UCB1 on n=10."""
    runs = bandit_runs.evaluate_runs(["ssm_n10_k5", "gru_n10_k5", "ssd_n10_k5"],
                                     num_instances=300, seed=11)
    baselines = {name: baseline_rewards(name, 5, 10, 300, seed=11).sum(1)
                 for name in ("random", "ucb1")}
    for method, rewards in runs.items():
        totals = rewards.sum(2)  # (seeds, bandits)
        for seed in range(3):
            assert totals[seed].mean() > baselines["ucb1"].mean() + 0.3, (method, seed)
            assert totals[seed].mean() > baselines["random"].mean() + 1.0, (method, seed)
    for method in bandit_runs.METHODS:
        _, config, info = bandit_runs.load_run(method, 2)
        assert info["iterations"] == config.num_iterations and info["torch_threads"] == 1
