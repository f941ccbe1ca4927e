"""Classical bandit algorithms, the baselines of RL^2's Table 1 (Duan et al. 2016).

Dimension letters used in shapes:

====  =====================================================================
B     bandit instances played in parallel (``num_instances``)
K     arms
L     pulls per trial (``n`` in the paper)
====  =====================================================================

Every policy sees the same statistics of the pulls so far, ``counts`` (B, K)
(pulls per arm) and ``successes`` (B, K) (rewards of 1 per arm), and returns
one arm per instance (B,) int64. Ties are broken uniformly at random.

==============  ==================================================================
name            rule
==============  ==================================================================
``random``      a uniformly random arm
``ucb1``        UCB1 (Auer, Cesa-Bianchi and Fischer 2002, Figure 1): pull each
                arm once, then ``argmax mean_a + c sqrt(ln t / N_a)`` with
                ``c = sqrt(2)`` (the paper's ``sqrt(2 ln t / N_a)``)
``thompson``    Thompson sampling with a Beta(1, 1) prior: draw
                ``theta_a ~ Beta(1 + S_a, 1 + N_a - S_a)``, pull ``argmax theta``
``greedy``      the best Beta(1, 1) posterior mean ``(S_a + 1) / (N_a + 2)``
                (epsilon = 0), so an unpulled arm counts as 0.5
``ucb_mean``    UCB on the posterior mean, no forced first pulls:
                ``argmax (S_a + 1) / (N_a + 2) + c sqrt(ln(t + 1) / (N_a + 1))``;
                with a tuned small ``c`` it plays like the paper's UCB1 column,
                which standard UCB1 cannot reach when n = k (its first k pulls
                are forced and random)
==============  ==================================================================

:func:`run_bandit_baseline` plays a policy on :class:`BatchedBernoulliBandit`
itself, so baselines and learned policies face the same reward model, and with
the same ``seed`` the very same bandits and reward noise (instance ``i`` is the
env seeded ``seed + i``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .bandit import BatchedBernoulliBandit

ArmSelector = Callable[..., np.ndarray]


def argmax_random_ties(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax of ``scores`` (B, K) -> (B,), ties broken uniformly at random."""
    is_best = scores == scores.max(axis=1, keepdims=True)
    tie_breaker = np.where(is_best, rng.random(scores.shape), -1.0)
    return tie_breaker.argmax(axis=1)


def select_random(counts: np.ndarray, successes: np.ndarray, t: int, rng: np.random.Generator):
    """A uniformly random arm per instance, (B, K) -> (B,)."""
    return rng.integers(counts.shape[1], size=counts.shape[0])


def select_ucb1(
    counts: np.ndarray,
    successes: np.ndarray,
    t: int,
    rng: np.random.Generator,
    c: float = math.sqrt(2.0),
) -> np.ndarray:
    """UCB1: ``argmax S_a / N_a + c sqrt(ln t / N_a)``; unpulled arms first. (B, K) -> (B,).

    ``t`` is the number of pulls made so far (Auer et al. 2002, Figure 1).
    """
    pulled = np.maximum(counts, 1)
    bonus = c * np.sqrt(math.log(max(t, 1)) / pulled)
    scores = np.where(counts > 0, successes / pulled + bonus, np.inf)
    return argmax_random_ties(scores, rng)


def select_thompson(
    counts: np.ndarray, successes: np.ndarray, t: int, rng: np.random.Generator
) -> np.ndarray:
    """Thompson sampling, Beta(1, 1) prior: ``argmax theta``, ``theta ~ Beta(1+S, 1+N-S)``."""
    theta = rng.beta(1.0 + successes, 1.0 + counts - successes)
    return argmax_random_ties(theta, rng)


def select_greedy(
    counts: np.ndarray, successes: np.ndarray, t: int, rng: np.random.Generator
) -> np.ndarray:
    """Greedy (epsilon = 0) on the Beta(1, 1) posterior mean ``(S + 1) / (N + 2)``, (B, K) -> (B,).

    An unpulled arm is worth 0.5, so greedy tries new arms only while the best
    known one looks no better than a coin flip. Forcing one pull of every arm
    first would make greedy exactly random when ``n = k`` (Table 1's n=10, k=10
    row), and valuing unpulled arms at 0 sticks to the first lucky arm; this
    rule comes closest to the paper's Greedy column.
    """
    return argmax_random_ties((successes + 1.0) / (counts + 2.0), rng)


def select_ucb_mean(
    counts: np.ndarray,
    successes: np.ndarray,
    t: int,
    rng: np.random.Generator,
    c: float = 0.2,
) -> np.ndarray:
    """UCB on the Beta(1, 1) posterior mean, (B, K) -> (B,).

    ``argmax (S + 1) / (N + 2) + c sqrt(ln(t + 1) / (N + 1))``: the greedy
    rule of :func:`select_greedy` plus an optimism bonus that shrinks with the
    pulls of the arm; ``c = 0`` is greedy. No arm is forced first.
    """
    bonus = c * np.sqrt(math.log(t + 1.0) / (counts + 1.0))
    return argmax_random_ties((successes + 1.0) / (counts + 2.0) + bonus, rng)


BANDIT_BASELINES: dict[str, ArmSelector] = {
    "random": select_random,
    "ucb1": select_ucb1,
    "ucb_mean": select_ucb_mean,
    "thompson": select_thompson,
    "greedy": select_greedy,
}


def baseline_rewards(
    policy_name: str,
    k: int,
    n: int,
    num_instances: int,
    seed: int,
    *,
    ucb_c: float | None = None,
) -> np.ndarray:
    """Rewards (B, L) of ``policy_name`` on ``num_instances`` bandits with ``k`` arms, ``n`` pulls.

    Instance ``i`` is ``BatchedBernoulliBandit`` env ``i`` reset with ``seed``;
    the policy's own randomness comes from a separate stream of ``seed``.
    ``ucb_c`` is the exploration constant of ``ucb1`` (Auer et al. use sqrt(2))
    and of ``ucb_mean``.
    """
    select = _selector(policy_name, ucb_c)
    env = BatchedBernoulliBandit(num_instances, k=k, n=n, time_feature=False)
    env.reset(seed=seed)
    policy_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    counts = np.zeros((env.num_envs, env.k))
    successes = np.zeros((env.num_envs, env.k))
    rows = np.arange(env.num_envs)
    rewards = np.zeros((env.num_envs, env.n))
    for t in range(env.n):
        arms = select(counts, successes, t, policy_rng)
        _, rewards[:, t], _, _, _ = env.step(arms)
        counts[rows, arms] += 1
        successes[rows, arms] += rewards[:, t]
    return rewards


def best_arm_means(k: int, n: int, num_instances: int, seed: int) -> np.ndarray:
    """p* = max_a p_a (B,) of the bandits that ``baseline_rewards(..., seed)`` plays.

    The expected cumulative regret after t pulls is ``t p* - E[sum of rewards]``
    (Lai and Robbins 1985); with the realised rewards it is the pseudo-regret
    plotted in notebook 03.
    """
    env = BatchedBernoulliBandit(num_instances, k=k, n=n, time_feature=False)
    env.reset(seed=seed)
    return env.tasks.max(axis=1)


def run_bandit_baseline(
    policy_name: str,
    k: int,
    n: int,
    num_instances: int,
    seed: int,
    *,
    ucb_c: float | None = None,
) -> np.ndarray:
    """Total reward (B,) of ``policy_name`` over one trial of ``n`` pulls per instance.

    The mean over 1000 instances is what RL^2's Table 1 reports.
    """
    return baseline_rewards(policy_name, k, n, num_instances, seed, ucb_c=ucb_c).sum(axis=1)


def _selector(policy_name: str, ucb_c: float | None) -> ArmSelector:
    """The arm rule of ``policy_name``; ``ucb_c`` None means each UCB rule's default."""
    if policy_name not in BANDIT_BASELINES:
        raise ValueError(
            f"policy_name must be one of {sorted(BANDIT_BASELINES)}, got {policy_name!r}"
        )
    if ucb_c is None:
        return BANDIT_BASELINES[policy_name]
    if not (isinstance(ucb_c, (int, float)) and math.isfinite(ucb_c) and ucb_c >= 0):
        raise ValueError(f"ucb_c must be a finite non-negative float, got {ucb_c}")
    if policy_name in ("ucb1", "ucb_mean"):
        rule = BANDIT_BASELINES[policy_name]
        return lambda counts, successes, t, rng: rule(counts, successes, t, rng, ucb_c)
    raise ValueError(
        f"ucb_c applies to 'ucb1' and 'ucb_mean' only, got policy_name={policy_name!r}"
    )


__all__ = [
    "BANDIT_BASELINES",
    "argmax_random_ties",
    "baseline_rewards",
    "best_arm_means",
    "run_bandit_baseline",
    "select_greedy",
    "select_random",
    "select_thompson",
    "select_ucb1",
    "select_ucb_mean",
]
