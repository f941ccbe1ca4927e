"""Gittins indices and the Bayes-optimal bandit policy (ssm_metarl.envs.bandit_baselines).

The optimum rows of RL^2's Table 1 (Duan et al. 2016): the "Gittins" column is
6.6 at n=10, k=5 and 78.3 at n=100, k=5.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest

from ssm_metarl.envs.bandit_baselines import (
    bayes_optimal_policy,
    bayes_optimal_value,
    gittins_index,
    gittins_index_table,
    run_bandit_baseline,
    select_bayes_optimal,
    select_fh_gittins,
    select_gittins,
)
from ssm_metarl.results import mean_ci

# ---------------------------------------------------------------- Gittins indices


@pytest.mark.parametrize("discount, published", [(0.9, 0.7029), (0.99, 0.8699)])
def test_gittins_index_matches_the_published_tables(discount, published):
    # The Bernoulli index tables of Gittins, Glazebrook and Weber (2011): Beta(1, 1).
    assert gittins_index(1, 1, discount) == pytest.approx(published, abs=1e-4)


def test_finite_horizon_index_matches_hand_computation():
    # One pull left: the index is the posterior mean.
    assert gittins_index(3, 2, 1.0, horizon=1) == pytest.approx(0.6, abs=1e-12)
    # Two pulls left, Beta(1, 1): lambda (1 + g) = 1/2 + g (max(lambda, 2/3) + max(lambda, 1/3)) / 2
    # has its root in [1/3, 2/3] at lambda = (1/2 + g/3) / (1 + g/2); 5/9 undiscounted.
    for g in (1.0, 0.9, 0.5):
        expected = (0.5 + g / 3) / (1 + g / 2)
        assert gittins_index(1, 1, g, horizon=2) == pytest.approx(expected, abs=1e-6)
    # A longer horizon is worth more exploration and approaches the discounted index.
    by_horizon = [gittins_index(1, 1, 0.9, horizon=h) for h in (1, 2, 5, 20, 150)]
    assert np.all(np.diff(by_horizon) > 0)
    assert by_horizon[-1] == pytest.approx(gittins_index(1, 1, 0.9), abs=1e-5)


@pytest.mark.parametrize("discount, horizon", [(0.9, None), (1.0, 6)])
def test_index_rises_with_successes_falls_with_failures_and_tops_the_mean(discount, horizon):
    size = 6
    table = gittins_index_table(size, discount, horizon=horizon)
    s, f = np.meshgrid(np.arange(size + 1), np.arange(size + 1), indexing="ij")
    inside = s + f <= size
    assert np.isnan(table[~inside]).all()
    mean = (s + 1) / (s + f + 2)
    assert np.all(table[inside] > mean[inside]) and np.all(table[inside] < 1.0)
    for i in range(size):
        for j in range(size - i):
            assert table[i + 1, j] > table[i, j]  # one more success
            assert table[i, j + 1] < table[i, j]  # one more failure
    # The table holds exactly the scalar indices.
    assert table[2, 3] == pytest.approx(gittins_index(3, 4, discount, horizon=horizon), abs=2e-7)


def test_gittins_selectors_pick_the_largest_index_and_tie_identical_arms():
    rng = np.random.default_rng(0)
    # Arm 0 is Beta(2, 2), arm 1 unpulled Beta(1, 1): equal means, but the unpulled arm's
    # index is larger while a pull remains to exploit what it teaches.
    counts, successes = np.array([[2.0, 0.0]]), np.array([[1.0, 0.0]])
    assert select_gittins(counts, successes, 2, rng) == [1]
    assert select_fh_gittins(counts, successes, 2, rng, n=4) == [1]
    assert select_bayes_optimal(counts, successes, 2, rng, n=4) == [1]
    # The last pull is greedy on the posterior mean.
    counts, successes = np.array([[3.0, 1.0]]), np.array([[2.0, 0.0]])
    assert select_fh_gittins(counts, successes, 4, rng, n=5) == [0]
    # Identical arms tie and are drawn uniformly.
    picks = select_fh_gittins(np.zeros((3000, 3)), np.zeros((3000, 3)), 0, rng, n=10)
    assert np.bincount(picks, minlength=3) / 3000 == pytest.approx([1 / 3] * 3, abs=0.04)


# ---------------------------------------------------------------- Bayes-optimal DP


def _integral(successes: int, failures: int) -> float:
    """int_0^1 p^s (1 - p)^f dp = s! f! / (s + f + 1)!."""
    return math.factorial(successes) * math.factorial(failures) / math.factorial(
        successes + failures + 1
    )


def _best_policy_tree_value(n: int, k: int) -> float:
    """Max over every deterministic policy tree of the exact expected total reward.

    A policy picks an arm at each reward history (2^n - 1 nodes); its value sums,
    over reward sequences, total reward x prod_a int p_a^{s_a} (1 - p_a)^{f_a} dp_a.
    """
    nodes = [prefix for d in range(n) for prefix in itertools.product((0, 1), repeat=d)]
    best = -1.0
    for choice in itertools.product(range(k), repeat=len(nodes)):
        arm_at = dict(zip(nodes, choice, strict=True))
        value = 0.0
        for rewards in itertools.product((0, 1), repeat=n):
            s, f = [0] * k, [0] * k
            for d, r in enumerate(rewards):
                arm = arm_at[rewards[:d]]
                s[arm] += r
                f[arm] += 1 - r
            value += sum(rewards) * math.prod(_integral(s[a], f[a]) for a in range(k))
        best = max(best, value)
    return best


def _plain_recursion(r: int, arms: list[tuple[int, int]]) -> float:
    """Bayes-optimal value without canonicalisation or memo."""
    if r == 0:
        return 0.0
    best = 0.0
    for a, (s, f) in enumerate(arms):
        p = (s + 1) / (s + f + 2)
        win = arms[:a] + [(s + 1, f)] + arms[a + 1:]
        lose = arms[:a] + [(s, f + 1)] + arms[a + 1:]
        best = max(best, p * (1 + _plain_recursion(r - 1, win))
                   + (1 - p) * _plain_recursion(r - 1, lose))
    return best


def test_bayes_optimal_dp_equals_brute_force():
    assert bayes_optimal_value(3, 2) == pytest.approx(_best_policy_tree_value(3, 2), abs=1e-12)
    assert bayes_optimal_value(3, 2) == pytest.approx(5 / 3, abs=1e-12)
    for n, k in [(4, 3), (5, 2), (3, 4)]:
        expected = _plain_recursion(n, [(0, 0)] * k)
        assert bayes_optimal_value(n, k) == pytest.approx(expected, abs=1e-12)


def test_bayes_optimal_small_cases_and_monotonicity():
    for k in (1, 2, 5):
        assert bayes_optimal_value(1, k) == pytest.approx(0.5, abs=1e-15)
        assert bayes_optimal_value(6, 1) == pytest.approx(3.0, abs=1e-12)
    assert bayes_optimal_value(2, 1) == pytest.approx(1.0, abs=1e-15)
    # First pull 1/2; after a success stay (2/3), after a failure switch (1/2).
    assert bayes_optimal_value(2, 2) == pytest.approx(0.5 + 0.5 * 2 / 3 + 0.5 * 0.5, abs=1e-15)
    values = np.array([[bayes_optimal_value(n, k) for k in range(1, 5)] for n in range(1, 8)])
    assert np.all(np.diff(values, axis=0) > 0)  # more pulls
    # More arms help while there are pulls to try them (k < n); beyond n arms the spares
    # are never used.
    n_grid, k_grid = np.meshgrid(np.arange(1, 8), np.arange(1, 4), indexing="ij")
    gain = np.diff(values, axis=1)
    assert np.all(gain[k_grid < n_grid] > 1e-3)
    assert np.all(np.abs(gain[k_grid >= n_grid]) < 1e-12)
    assert np.all(values < np.arange(1, 8)[:, None] * 1.0)


def test_bayes_optimal_value_at_n10_k5():
    # 1951 canonical states, well under a second; Duan et al. (2016) list 6.6.
    assert bayes_optimal_value(10, 5) == pytest.approx(6.659988, abs=1e-6)


def _exact_index_policy_value(n: int, k: int, score) -> float:
    """Exact expected total reward of an index policy (uniform ties), U[0, 1] priors."""

    @functools.cache
    def value(r, pairs):
        if r == 0:
            return 0.0
        scores = [score(r, s, f) for s, f in pairs]
        tied = [a for a, x in enumerate(scores) if x == max(scores)]
        total = 0.0
        for a in tied:
            s, f = pairs[a]
            p = (s + 1) / (s + f + 2)
            rest = pairs[:a] + pairs[a + 1:]
            total += p * (1 + value(r - 1, tuple(sorted((*rest, (s + 1, f)))))) + (
                1 - p
            ) * value(r - 1, tuple(sorted((*rest, (s, f + 1)))))
        return total / len(tied)

    return value(n, ((0, 0),) * k)


def test_fh_gittins_is_bayes_optimal_at_n10_k5_and_discounted_gittins_nearly():
    n, k = 10, 5
    fh = {left: gittins_index_table(n - left, 1.0, horizon=left, tol=1e-7)
          for left in range(1, n + 1)}
    discounted = gittins_index_table(n, 0.9, tol=1e-7)
    optimum = bayes_optimal_value(n, k)
    fh_value = _exact_index_policy_value(n, k, lambda r, s, f: fh[r][s, f])
    discounted_value = _exact_index_policy_value(n, k, lambda r, s, f: discounted[s, f])
    greedy_value = _exact_index_policy_value(n, k, lambda r, s, f: (s + 1) / (s + f + 2))
    # Measured: 6.659988 (= the optimum), 6.644992, 6.626225.
    assert fh_value == pytest.approx(optimum, abs=1e-9)
    assert greedy_value + 0.01 < discounted_value < optimum - 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fh_gittins_reaches_the_bayes_optimum_on_the_shared_bandits(seed):
    optimum = bayes_optimal_value(10, 5)
    fh = run_bandit_baseline("fh_gittins", 5, 10, 400, seed=seed)
    mean, half_width = mean_ci(fh)
    # Measured over seeds 0-7: |mean - 6.660| <= 0.58 half-widths, and the gaps to UCB1
    # (forced first pulls) and random at least 0.77 and 1.34.
    assert abs(mean - optimum) < half_width
    assert mean > run_bandit_baseline("ucb1", 5, 10, 400, seed=seed).mean() + 0.5
    assert mean > run_bandit_baseline("random", 5, 10, 400, seed=seed).mean() + 1.0
    bayes = run_bandit_baseline("bayes_optimal", 5, 10, 400, seed=seed)
    assert abs(bayes.mean() - optimum) < mean_ci(bayes)[1]
    assert bayes_optimal_policy is select_bayes_optimal


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gittins_index(0, 1, 0.9), "a must be a positive"),
        (lambda: gittins_index(1, -2.0, 0.9), "b must be a positive"),
        (lambda: gittins_index(1, 1, 1.0), "discount must be < 1"),
        (lambda: gittins_index(1, 1, 1.5), "discount must be"),
        (lambda: gittins_index(1, 1, 0.0), "discount must be"),
        (lambda: gittins_index(1, 1, 0.9, horizon=0), "horizon must be a positive int"),
        (lambda: gittins_index(1, 1, 0.9, horizon=2.0), "horizon must be a positive int"),
        (lambda: gittins_index(1, 1, 0.9, tol=0.0), "tol must be"),
        (lambda: gittins_index_table(-1, 0.9), "max_pulls must be an int >= 0"),
        (lambda: bayes_optimal_value(0, 5), "n must be a positive int"),
        (lambda: bayes_optimal_value(10, 0), "k must be a positive int"),
        (lambda: bayes_optimal_value(10, 2.5), "k must be a positive int"),
        (lambda: bayes_optimal_value(30, 5, max_states=1000), "max_states=1000"),
        (lambda: run_bandit_baseline("gittins", 5, 10, 4, 0, discount=1.0), "discount"),
        (lambda: run_bandit_baseline("thompson", 5, 10, 4, 0, discount=0.9), "discount"),
        (lambda: run_bandit_baseline("gittin", 5, 10, 4, 0), "policy_name"),
        (lambda: select_fh_gittins(np.zeros((1, 2)), np.zeros((1, 2)), 5, None, n=5),
         "t must be"),
        (lambda: select_bayes_optimal(np.zeros((1, 2)), np.zeros((1, 2)), 0, None, n=0),
         "n must be a positive int"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
