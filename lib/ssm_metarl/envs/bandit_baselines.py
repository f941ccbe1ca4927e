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

=================  ================================================================
name               rule
=================  ================================================================
``random``         a uniformly random arm
``ucb1``           UCB1 (Auer, Cesa-Bianchi and Fischer 2002, Figure 1): pull each
                   arm once, then ``argmax mean_a + c sqrt(ln t / N_a)`` with
                   ``c = sqrt(2)`` (the paper's ``sqrt(2 ln t / N_a)``)
``thompson``       Thompson sampling with a Beta(1, 1) prior: draw
                   ``theta_a ~ Beta(1 + S_a, 1 + N_a - S_a)``, pull ``argmax theta``
``greedy``         the best Beta(1, 1) posterior mean ``(S_a + 1) / (N_a + 2)``
                   (epsilon = 0), so an unpulled arm counts as 0.5
``ucb_mean``       UCB on the posterior mean, no forced first pulls:
                   ``argmax (S_a + 1) / (N_a + 2) + c sqrt(ln(t + 1) / (N_a + 1))``;
                   with a tuned small ``c`` it plays like the paper's UCB1 column,
                   which standard UCB1 cannot reach when n = k (its first k pulls
                   are forced and random)
``gittins``        the discounted Gittins index ``argmax G_g(1 + S_a, 1 + N_a - S_a)``
                   (Gittins 1979), ``discount`` g = 0.9 unless given
``fh_gittins``     the finite-horizon Gittins index with ``n - t`` pulls left and no
                   discount (Kaufmann 2018, "FH-Gittins"); the natural reading of
                   Table 1's "Gittins" column for the total reward of n pulls
``bayes_optimal``  the Bayes-optimal arm of the exact dynamic programme over the
                   Beta posteriors (small n and k only: n = 10, k = 5 has 1951 states)
=================  ================================================================

The Gittins indices come from the calibration (retirement) method of
:func:`gittins_index`; :func:`bayes_optimal_value` is the optimum the table's
rows are bounded by (6.660 at n = 10, k = 5; Duan et al. list 6.6 for Gittins).
Measured with exact policy evaluation, FH-Gittins is Bayes-optimal at n = 10,
k = 5 (6.65999) and discounted Gittins at 0.9 earns 6.645; on 1000 bandits at
n = 100, k = 5 FH-Gittins earns 78.4 +- 1.0 (Table 1: 78.3).
Selectors that need the trial length (``fh_gittins``, ``bayes_optimal``) take
it as a keyword ``n``, which :func:`baseline_rewards` binds.

:func:`run_bandit_baseline` plays a policy on :class:`BatchedBernoulliBandit`
itself, so baselines and learned policies face the same reward model, and with
the same ``seed`` the very same bandits and reward noise (instance ``i`` is the
env seeded ``seed + i``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._validate import check_float, check_int, check_rng
from .bandit import BatchedBernoulliBandit

ArmSelector = Callable[..., np.ndarray]


def _check_table(name: str, value: Any, allow_inf: bool = False) -> np.ndarray:
    """``value`` as a (B, K) array of real numbers (finite unless ``allow_inf``: no NaN), K >= 1.

    ``TypeError``/``ValueError`` naming ``name``.
    """
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.integer)
                                     or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name} must be a (B, K) array of real numbers, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"{name} must have shape (B, K) with K >= 1 arms, got {array.shape}")
    bad = np.isnan(array) if allow_inf else ~np.isfinite(array)
    if bad.any():
        kind = "free of NaN" if allow_inf else "finite"
        raise ValueError(f"{name} must be {kind}, got {int(bad.sum())} NaN/inf "
                         f"entries of {array.size}")
    return array


def _check_stats(counts: Any, successes: Any, t: Any, rng: Any, *, whole: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, int, np.random.Generator]:
    """The arguments every selector shares, checked once at its entry (module docstring).

    ``counts`` and ``successes`` (B, K) with ``0 <= successes <= counts``
    (whole numbers when ``whole``: the index tables are looked up by them),
    ``t`` an int >= 0 and ``rng`` a Generator (or a seed).
    """
    counts, successes = _check_table("counts", counts), _check_table("successes", successes)
    if successes.shape != counts.shape:
        raise ValueError(f"successes must have the shape of counts {counts.shape}, "
                         f"got {successes.shape}")
    if (counts < 0).any() or (successes < 0).any() or (successes > counts).any():
        raise ValueError("counts and successes must satisfy 0 <= successes <= counts per arm "
                         "(pulls, and rewards of 1 among them)")
    if whole and ((counts != np.rint(counts)).any() or (successes != np.rint(successes)).any()):
        raise ValueError("counts and successes must be whole numbers for this index policy")
    return counts, successes, check_int("t", t, 0, hint="pulls made so far"), check_rng("rng", rng)


def argmax_random_ties(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax of ``scores`` (B, K) -> (B,), ties broken uniformly at random."""
    scores = _check_table("scores", scores, allow_inf=True)
    return _argmax_random_ties(scores, check_rng("rng", rng))


def _argmax_random_ties(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    is_best = scores == scores.max(axis=1, keepdims=True)
    tie_breaker = np.where(is_best, rng.random(scores.shape), -1.0)
    return tie_breaker.argmax(axis=1)


def select_random(counts: np.ndarray, successes: np.ndarray, t: int, rng: np.random.Generator):
    """A uniformly random arm per instance, (B, K) -> (B,)."""
    counts, successes, t, rng = _check_stats(counts, successes, t, rng)
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
    counts, successes, t, rng = _check_stats(counts, successes, t, rng)
    c = check_float("c", c, minimum=0)
    pulled = np.maximum(counts, 1)
    bonus = c * np.sqrt(math.log(max(t, 1)) / pulled)
    scores = np.where(counts > 0, successes / pulled + bonus, np.inf)
    return _argmax_random_ties(scores, rng)


def select_thompson(
    counts: np.ndarray, successes: np.ndarray, t: int, rng: np.random.Generator
) -> np.ndarray:
    """Thompson sampling, Beta(1, 1) prior: ``argmax theta``, ``theta ~ Beta(1+S, 1+N-S)``."""
    counts, successes, t, rng = _check_stats(counts, successes, t, rng)
    theta = rng.beta(1.0 + successes, 1.0 + counts - successes)
    return _argmax_random_ties(theta, rng)


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
    counts, successes, t, rng = _check_stats(counts, successes, t, rng)
    return _argmax_random_ties((successes + 1.0) / (counts + 2.0), rng)


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
    counts, successes, t, rng = _check_stats(counts, successes, t, rng)
    c = check_float("c", c, minimum=0)
    bonus = c * np.sqrt(math.log(t + 1.0) / (counts + 1.0))
    return _argmax_random_ties((successes + 1.0) / (counts + 2.0) + bonus, rng)


# ---------------------------------------------------------------- Gittins indices

_SELECTOR_TOL = 1e-7  # accuracy of the indices the selectors compare


def gittins_index(
    a: float,
    b: float,
    discount: float,
    *,
    horizon: int | None = None,
    tol: float = 1e-6,
) -> float:
    """Gittins index of a Bernoulli arm with a Beta(``a``, ``b``) posterior, by calibration.

    Whittle's retirement formulation (Gittins 1979; Gittins, Glazebrook and
    Weber 2011, "Multi-armed Bandit Allocation Indices", 2nd ed., Wiley).
    The arm is played against a retirement option that pays ``lambda`` per
    remaining step. With ``p(a, b) = a / (a + b)`` the posterior mean and
    ``A_d`` the value of retiring at depth ``d`` (``d`` pulls after the root),

        V_d(a, b) = max(lambda A_d,
                        p (1 + g V_{d+1}(a + 1, b)) + (1 - p) g V_{d+1}(a, b + 1)),

    ``g`` the discount. The index is the ``lambda`` at which, at the root,
    retiring now (``lambda A_0``) equals playing once and continuing optimally.
    ``f(lambda) = lambda A_0 - Q_0(lambda)`` increases with slope at least 1,
    so bisection on ``lambda`` in ``[p, 1]`` converges to within ``tol / 2``.

    ``horizon=None`` is the infinite-horizon discounted index,
    ``A_d = 1 / (1 - g)``, ``0 < g < 1``. The backward induction is truncated
    at depth ``N`` with ``V_N = max(lambda, p) / (1 - g)`` (retire, or play the
    arm at its posterior mean forever). The truth lies between that and
    ``E[max(lambda, theta)] / (1 - g)``, at most ``sd(theta) / 2 / (1 - g)``
    above it, so the root is off by at most
    ``g^N / (4 (1 - g) sqrt(a + b + N + 1))``; ``N`` is the smallest depth that
    makes this ``<= tol / 2``. The index is then within ``tol`` of the exact one.
    Cost ``O(N^2 log(1 / tol))``: ``N`` is about 150 for ``g = 0.9`` and 1600
    for ``g = 0.99`` at ``tol = 1e-6``.

    ``horizon=T`` is the finite-horizon index with ``T`` pulls left, the current
    one included: exact backward induction over the ``T``-step tree with
    ``A_d = (1 - g^(T - d)) / (1 - g)`` (``T - d`` when ``g = 1``). With
    ``discount=1`` this is the FH-Gittins index of Kaufmann (2018), "On
    Bayesian index policies for sequential resource allocation", Ann. Statist.
    46(2): ``sup over 1 <= tau <= T of E[sum_{s < tau} X_s] / E[tau]``;
    ``horizon=1`` gives the posterior mean.

    Check values (the Bernoulli index tables of Gittins et al. 2011): Beta(1, 1)
    has index 0.7029 at ``discount=0.9`` and 0.8699 at ``discount=0.99``.
    Results are memoised.
    """
    a = check_float("a", a, minimum=0.0, strict=True)
    b = check_float("b", b, minimum=0.0, strict=True)
    discount, horizon, tol = _check_index_args(discount, horizon, tol)
    return _gittins_index_cached(a, b, discount, horizon, tol)


def gittins_index_table(
    max_pulls: int,
    discount: float = 0.9,
    *,
    horizon: int | None = None,
    tol: float = 1e-6,
) -> np.ndarray:
    """Gittins indices (M+1, M+1) of every Beta(1, 1) arm after ``<= max_pulls`` pulls.

    Entry ``[s, f]`` is ``gittins_index(1 + s, 1 + f, discount, horizon=horizon,
    tol=tol)`` for ``s + f <= max_pulls`` (``s`` successes, ``f`` failures) and
    NaN elsewhere. All roots are solved together (vectorised bisection); the
    table is cached per ``(discount, horizon, tol)`` and grown on demand, so the
    selectors compute each index once. The array returned is read-only.
    """
    max_pulls = check_int("max_pulls", max_pulls, minimum=0)
    discount, horizon, tol = _check_index_args(discount, horizon, tol)
    return _index_table(max_pulls, discount, horizon, tol)[: max_pulls + 1, : max_pulls + 1]


def _check_index_args(discount: Any, horizon: Any, tol: Any) -> tuple[float, int | None, float]:
    discount = check_float("discount", discount, minimum=0.0, strict=True, maximum=1.0)
    if horizon is None:
        if discount == 1.0:
            raise ValueError(
                "discount must be < 1 for the infinite-horizon index (horizon=None), got 1.0; "
                "pass horizon=T for the undiscounted finite-horizon index"
            )
    else:
        horizon = check_int("horizon", horizon, hint="pulls left, the current one included")
    tol = check_float("tol", tol, minimum=1e-12, maximum=0.1)
    return discount, horizon, tol


def _truncation_depth(min_a_plus_b: float, discount: float, tol: float) -> int:
    """Smallest N with ``g^N / (4 (1 - g) sqrt(a + b + N + 1)) <= tol / 2``."""
    depth = 1
    while discount**depth / (4.0 * (1.0 - discount) * math.sqrt(min_a_plus_b + depth + 1)) \
            > tol / 2:
        depth += 1
    return depth


def _calibrate(
    a: np.ndarray, b: np.ndarray, discount: float, horizon: int | None, tol: float
) -> np.ndarray:
    """Gittins indices (R,) of the Beta(a, b) roots (R,), bisection vectorised over roots.

    Node ``(a + i, b + d - i)`` of root r at depth ``d`` is column ``i`` of the
    (R, d + 1) value array of diagonal ``d``.
    """
    g = discount
    a_plus_b = a + b
    if horizon == 1:  # one pull left: play iff p > lambda, so the index is p
        return a / a_plus_b
    if horizon is None:
        depth = _truncation_depth(float(a_plus_b.min()), g, tol)

        def annuity(d: int) -> float:
            return 1.0 / (1.0 - g)
    else:
        depth = horizon - 1

        def annuity(d: int) -> float:
            steps = horizon - d
            return float(steps) if g == 1.0 else (1.0 - g**steps) / (1.0 - g)

    columns = np.arange(depth + 1)
    low, high = a / a_plus_b, np.ones_like(a)
    while True:
        lam = 0.5 * (low + high)
        if np.max(high - low) <= tol:
            return lam
        lam_col = lam[:, None]
        # Terminal diagonal: retire, or play at the posterior mean for the A_N steps left.
        p = (a[:, None] + columns) / (a_plus_b + depth)[:, None]
        value = np.maximum(lam_col, p) * annuity(depth)
        for d in range(depth - 1, -1, -1):
            p = (a[:, None] + columns[: d + 1]) / (a_plus_b + d)[:, None]
            value = p * (1.0 + g * value[:, 1:]) + (1.0 - p) * g * value[:, :-1]
            if d:
                np.maximum(value, lam_col * annuity(d), out=value)
        retire_better = lam * annuity(0) >= value[:, 0]
        high = np.where(retire_better, lam, high)
        low = np.where(retire_better, low, lam)


@functools.lru_cache(maxsize=4096)
def _gittins_index_cached(
    a: float, b: float, discount: float, horizon: int | None, tol: float
) -> float:
    return float(_calibrate(np.array([a]), np.array([b]), discount, horizon, tol)[0])


_INDEX_TABLES: dict[tuple[float, int | None, float], np.ndarray] = {}
_TABLE_GROWTH = 16  # pulls added at once when a cached table must grow


def _index_table(
    max_pulls: int, discount: float, horizon: int | None, tol: float
) -> np.ndarray:
    """The cached (M'+1, M'+1) index table of ``(discount, horizon, tol)``, ``M' >= max_pulls``.

    A first request is solved exactly; a table that must grow gains at least
    ``_TABLE_GROWTH`` new diagonals ``s + f`` in one vectorised solve.
    """
    key = (discount, horizon, tol)
    table = _INDEX_TABLES.get(key)
    have = -1 if table is None else table.shape[0] - 1
    if max_pulls <= have:
        return table
    new = max_pulls if table is None else max(max_pulls, have + _TABLE_GROWTH)
    s, f = np.array([(s, m - s) for m in range(have + 1, new + 1) for s in range(m + 1)]).T
    grown = np.full((new + 1, new + 1), np.nan)
    if table is not None:
        grown[: have + 1, : have + 1] = table
    grown[s, f] = _calibrate(1.0 + s, 1.0 + f, discount, horizon, tol)
    grown.setflags(write=False)
    _INDEX_TABLES[key] = grown
    return grown


def _table_scores(table: np.ndarray, counts: np.ndarray, successes: np.ndarray) -> np.ndarray:
    s = np.rint(successes).astype(np.int64)
    return table[s, np.rint(counts).astype(np.int64) - s]


def select_gittins(
    counts: np.ndarray,
    successes: np.ndarray,
    t: int,
    rng: np.random.Generator,
    discount: float = 0.9,
) -> np.ndarray:
    """Discounted Gittins index policy, Beta(1, 1) prior, (B, K) -> (B,).

    ``argmax_a G_g(1 + S_a, 1 + N_a - S_a)`` with the infinite-horizon index of
    :func:`gittins_index` at ``discount`` ``g``, which is Bayes-optimal for the
    discounted reward ``sum_t g^t r_t`` (Gittins 1979), not for the total
    reward of ``n`` pulls that Table 1 scores. Identical arms tie exactly.
    """
    counts, successes, t, rng = _check_stats(counts, successes, t, rng, whole=True)
    discount, _, _ = _check_index_args(discount, None, _SELECTOR_TOL)
    table = _index_table(int(counts.max()), discount, None, _SELECTOR_TOL)
    return _argmax_random_ties(_table_scores(table, counts, successes), rng)


def select_fh_gittins(
    counts: np.ndarray,
    successes: np.ndarray,
    t: int,
    rng: np.random.Generator,
    n: int,
) -> np.ndarray:
    """Finite-horizon Gittins index policy for ``n`` pulls, Beta(1, 1) prior, (B, K) -> (B,).

    At pull ``t`` (pulls made so far) with ``T = n - t`` pulls left:
    ``argmax_a G^FH_T(1 + S_a, 1 + N_a - S_a)``, the undiscounted index of
    :func:`gittins_index` with ``horizon=T``, ``discount=1``: Kaufmann's (2018)
    FH-Gittins, the natural index for Table 1's total reward (the paper's
    "Gittins" column). The last pull is greedy on the posterior mean.
    """
    counts, successes, t, rng = _check_stats(counts, successes, t, rng, whole=True)
    n = check_int("n", n)
    if not 0 <= t < n:
        raise ValueError(f"t must be a pull index in [0, n) = [0, {n}), got {t!r}")
    table = _index_table(int(counts.max()), 1.0, n - t, _SELECTOR_TOL)
    return _argmax_random_ties(_table_scores(table, counts, successes), rng)



# ---------------------------------------------------------------- Bayes-optimal DP

_BAYES_VALUES: dict[tuple[int, tuple[tuple[int, int], ...]], float] = {}
"""``(pulls left r, sorted per-arm (successes, failures)) -> V_r``, shared by every call."""


def bayes_optimal_value(n: int, k: int, *, max_states: int = 2_000_000) -> float:
    """Expected total reward of the Bayes-optimal policy: ``n`` pulls, ``k`` U[0, 1] arms.

    Backward induction over the posterior state, the per-arm counts
    ``(s_a, f_a)`` (arm ``a`` is Beta(1 + s_a, 1 + f_a)) with ``r`` pulls left:

        V_0 = 0,
        V_r(x) = max_a [p_a (1 + V_{r-1}(x + e_a^s)) + (1 - p_a) V_{r-1}(x + e_a^f)],
        p_a = (s_a + 1) / (s_a + f_a + 2).

    The arms are exchangeable, so a state is the multiset of its pairs (sorted
    tuple) and only distinct pairs are branched on; every value is memoised for
    all later calls and for :func:`select_bayes_optimal`. ``n=10, k=5`` gives
    6.65999 (1951 states, about 0.02 s); Duan et al. (2016) Table 1 lists 6.6
    for "Gittins" there (78.3 at n=100, k=5, out of reach of this exact DP).
    ``ValueError`` when more than ``max_states`` states would be needed.
    """
    n = check_int("n", n, hint="pulls per trial")
    k = check_int("k", k, hint="arms")
    max_states = check_int("max_states", max_states)
    root = ((0, 0),) * k
    _solve_bayes(n, root, max_states, f"n={n}, k={k}")
    return _BAYES_VALUES[(n, root)]


def _bayes_value(r: int, pairs: tuple[tuple[int, int], ...]) -> float:
    return 0.0 if r == 0 else _BAYES_VALUES[(r, pairs)]


def _arm_q_values(
    r: int, pairs: tuple[tuple[int, int], ...]
) -> dict[tuple[int, int], float]:
    """Q-value of pulling an arm in each distinct state ``(s, f)`` of ``pairs``, ``r`` pulls left.

    Needs the values of the children (``r - 1`` pulls left) in ``_BAYES_VALUES``.
    """
    q = {}
    for i, (s, f) in enumerate(pairs):
        if (s, f) in q:
            continue
        rest = pairs[:i] + pairs[i + 1:]
        p = (s + 1) / (s + f + 2)
        win = _bayes_value(r - 1, tuple(sorted((*rest, (s + 1, f)))))
        lose = _bayes_value(r - 1, tuple(sorted((*rest, (s, f + 1)))))
        q[(s, f)] = p * (1.0 + win) + (1.0 - p) * lose
    return q


def _children(pairs: tuple[tuple[int, int], ...]):
    for i, (s, f) in enumerate(pairs):
        if i and pairs[i - 1] == (s, f):
            continue
        rest = pairs[:i] + pairs[i + 1:]
        yield tuple(sorted((*rest, (s + 1, f))))
        yield tuple(sorted((*rest, (s, f + 1))))


def _solve_bayes(
    r: int, root: tuple[tuple[int, int], ...], max_states: int, what: str
) -> None:
    """Fill ``_BAYES_VALUES`` for ``root`` with ``r`` pulls left and the states below it.

    Forward: the canonical states reachable level by level (skipping the
    subtrees of states already solved); backward: their values.
    """
    if r == 0 or (r, root) in _BAYES_VALUES:
        return
    levels = [{root}]
    total = 1
    for depth in range(r - 1):
        below = set()
        for pairs in levels[-1]:
            if (r - depth, pairs) not in _BAYES_VALUES:
                below.update(_children(pairs))
        total += len(below)
        if total > max_states:
            raise ValueError(
                f"the Bayes-optimal DP for {what} needs more than max_states={max_states} "
                "states; use smaller n or k (or raise max_states)"
            )
        levels.append(below)
    for depth in range(r - 1, -1, -1):
        left = r - depth
        for pairs in levels[depth]:
            if (left, pairs) not in _BAYES_VALUES:
                _BAYES_VALUES[(left, pairs)] = max(_arm_q_values(left, pairs).values())


def select_bayes_optimal(
    counts: np.ndarray,
    successes: np.ndarray,
    t: int,
    rng: np.random.Generator,
    n: int,
) -> np.ndarray:
    """The Bayes-optimal arm for ``n`` pulls with U[0, 1] priors, (B, K) -> (B,).

    ``argmax_a Q_{n-t}(x, a)`` of :func:`bayes_optimal_value`'s DP at the
    posterior state ``x`` (counts rounded to ints); arms whose Q-values agree to
    1e-12 tie (identical arms tie exactly). Feasible while the DP is (n of
    about 20 at k=5).
    """
    counts, successes, t, rng = _check_stats(counts, successes, t, rng, whole=True)
    n = check_int("n", n)
    if not 0 <= t < n:
        raise ValueError(f"t must be a pull index in [0, n) = [0, {n}), got {t!r}")
    k = counts.shape[1]
    bayes_optimal_value(n, k)  # solves every state of a trial
    s_all = np.rint(successes).astype(np.int64)
    f_all = np.rint(counts).astype(np.int64) - s_all
    scores = np.empty(counts.shape)
    for row, (s_row, f_row) in enumerate(zip(s_all.tolist(), f_all.tolist(), strict=True)):
        arms = list(zip(s_row, f_row, strict=True))
        pairs = tuple(sorted(arms))
        if (n - t, pairs) not in _BAYES_VALUES:  # a state no trial of n pulls reaches
            _solve_bayes(n - t, pairs, 2_000_000, f"n={n}, k={k}")
        q = _arm_q_values(n - t, pairs)
        scores[row] = [q[arm] for arm in arms]
    return _argmax_random_ties(np.round(scores, 12), rng)


bayes_optimal_policy = select_bayes_optimal
"""Alias of :func:`select_bayes_optimal`."""


BANDIT_BASELINES: dict[str, ArmSelector] = {
    "random": select_random,
    "ucb1": select_ucb1,
    "ucb_mean": select_ucb_mean,
    "thompson": select_thompson,
    "greedy": select_greedy,
    "gittins": select_gittins,
    "fh_gittins": select_fh_gittins,
    "bayes_optimal": select_bayes_optimal,
}

_NEEDS_N = ("fh_gittins", "bayes_optimal")  # selectors that take the trial length n


def baseline_rewards(
    policy_name: str,
    k: int,
    n: int,
    num_instances: int,
    seed: int,
    *,
    ucb_c: float | None = None,
    discount: float | None = None,
) -> np.ndarray:
    """Rewards (B, L) of ``policy_name`` on ``num_instances`` bandits with ``k`` arms, ``n`` pulls.

    Instance ``i`` is ``BatchedBernoulliBandit`` env ``i`` reset with ``seed``;
    the policy's own randomness comes from a separate stream of ``seed``.
    ``ucb_c`` is the exploration constant of ``ucb1`` (Auer et al. use sqrt(2))
    and of ``ucb_mean``; ``discount`` that of ``gittins`` (default 0.9).
    """
    select = _selector(policy_name, ucb_c, discount, n)
    env, seed = _bandits(k, n, num_instances, seed)
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
    return _bandits(k, n, num_instances, seed)[0].tasks.max(axis=1)


def _bandits(k: Any, n: Any, num_instances: Any, seed: Any
             ) -> tuple[BatchedBernoulliBandit, int]:
    """The ``num_instances`` bandits of ``seed`` (reset) and the seed, checked by name."""
    num_instances = check_int("num_instances", num_instances, hint="bandits played")
    seed = check_int("seed", seed, 0)
    env = BatchedBernoulliBandit(num_instances, k=k, n=n, time_feature=False)
    env.reset(seed=seed)
    return env, seed


def run_bandit_baseline(
    policy_name: str,
    k: int,
    n: int,
    num_instances: int,
    seed: int,
    *,
    ucb_c: float | None = None,
    discount: float | None = None,
) -> np.ndarray:
    """Total reward (B,) of ``policy_name`` over one trial of ``n`` pulls per instance.

    The mean over 1000 instances is what RL^2's Table 1 reports.
    """
    return baseline_rewards(
        policy_name, k, n, num_instances, seed, ucb_c=ucb_c, discount=discount
    ).sum(axis=1)


def _selector(
    policy_name: str, ucb_c: float | None, discount: float | None, n: int
) -> ArmSelector:
    """The arm rule of ``policy_name``; ``ucb_c``/``discount`` None mean the rule's default.

    ``fh_gittins`` and ``bayes_optimal`` get the trial length ``n`` bound.
    """
    if not isinstance(policy_name, str) or policy_name not in BANDIT_BASELINES:
        raise ValueError(
            f"policy_name must be one of {sorted(BANDIT_BASELINES)}, got {policy_name!r}"
        )
    rule = BANDIT_BASELINES[policy_name]
    options: dict[str, Any] = {}
    if ucb_c is not None:
        ucb_c = check_float("ucb_c", ucb_c, minimum=0)
        if policy_name not in ("ucb1", "ucb_mean"):
            raise ValueError(
                f"ucb_c applies to 'ucb1' and 'ucb_mean' only, got policy_name={policy_name!r}"
            )
        options["c"] = float(ucb_c)
    if discount is not None:
        if policy_name != "gittins":
            raise ValueError(
                f"discount applies to 'gittins' only, got policy_name={policy_name!r}"
            )
        options["discount"], _, _ = _check_index_args(discount, None, _SELECTOR_TOL)
    if policy_name in _NEEDS_N:
        options["n"] = n
    return functools.partial(rule, **options) if options else rule


__all__ = [
    "BANDIT_BASELINES",
    "argmax_random_ties",
    "baseline_rewards",
    "bayes_optimal_policy",
    "bayes_optimal_value",
    "best_arm_means",
    "gittins_index",
    "gittins_index_table",
    "run_bandit_baseline",
    "select_bayes_optimal",
    "select_fh_gittins",
    "select_gittins",
    "select_greedy",
    "select_random",
    "select_thompson",
    "select_ucb1",
    "select_ucb_mean",
]
