"""Small RL fixtures shared by the MAML-RL and TRPO tests."""

from __future__ import annotations

import numpy as np
import torch

from ssm_metarl.envs import BatchedNavigation2D, sample_goals
from ssm_metarl.meta_rl import policy_gradient_advantages
from ssm_metarl.policies import MLPPolicy
from ssm_metarl.rl import collect_rollouts


def tiny_navigation_tasks(seed=0, num_tasks=2, per_task=4, horizon=8, hidden=(8,),
                          init_log_std=-1.0):
    """A float64 MLP policy and per-task (rollout, advantages, mask) of two rollouts D, D'."""
    torch.manual_seed(seed)
    policy = MLPPolicy(2, 2, hidden_sizes=hidden, init_log_std=init_log_std, dtype=torch.float64)
    goals = np.repeat(sample_goals(num_tasks, rng=seed), per_task, axis=0)
    env = BatchedNavigation2D(num_tasks * per_task, horizon=horizon, task=goals)
    pre = collect_rollouts(env, policy, horizon, seed=seed, action_scale=0.1)
    post = collect_rollouts(env, policy, horizon, seed=seed + 1, action_scale=0.1)
    return (policy, policy_gradient_advantages(pre, num_tasks, 0.99),
            policy_gradient_advantages(post, num_tasks, 0.99))
