"""Checkers for notebook 03 (meta-RL).

Glossary: T time steps, E parallel environments, K arms of a bandit.

Each checker calls the student's function on seeded inputs and compares with
the tested library (:mod:`ssm_metarl.rl`, :mod:`ssm_metarl.envs.bandit_baselines`):

- :func:`check_gae`: generalized advantage estimation with episode ends.
- :func:`check_pg_surrogate`: the REINFORCE surrogate loss and its gradient.
- :func:`check_ucb1_choice`: the UCB1 arm-selection rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..envs.bandit_baselines import select_ucb1
from ..rl import discounted_returns, gae, reinforce_loss
from ._core import (
    ExerciseCheckFailed,
    as_tensor,
    assert_close,
    call_student,
    exercise_check,
    passed,
)

GAE_HINT = (
    "delta_t = r_t + gamma * (1 - d_t) * V_{t+1} - V_t with V_T = last_value, then backwards "
    "A_t = delta_t + gamma * lam * (1 - d_t) * A_{t+1} with A_T = 0; d_t = 1 stops both."
)


def _gae_case(seed: int, lam: float) -> dict[str, Any]:
    """Rewards, values, dones (T=7, E=3; episode ends mid-sequence), last_value (E,)."""
    gen = torch.Generator().manual_seed(seed)
    rewards = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    values = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    dones = torch.zeros(7, 3, dtype=torch.bool)
    dones[2, 0] = dones[4, 1] = dones[6, 1] = True
    last_value = torch.randn(3, generator=gen, dtype=torch.float64)
    return {"rewards": rewards, "values": values, "dones": dones, "last_value": last_value,
            "gamma": 0.9, "lam": lam}


@exercise_check(forbid=(gae,))
def check_gae(fn: Callable[..., Any]) -> None:
    """Check ``fn(rewards, values, dones, last_value, gamma, lam) -> advantages``.

    rewards, values (T, E) float, dones (T, E) bool (the episode ended at t),
    last_value (E,); the result is (T, E) (Schulman et al. 2016, Eq. 16).
    """
    for seed, lam in ((0, 0.95), (1, 0.0), (2, 1.0)):
        case = _gae_case(seed, lam)
        got = call_student("gae", fn, *case.values())
        assert_close(f"gae (lam={lam})", got, gae(**case), atol=1e-10, hint=GAE_HINT)
    passed("gae", "3 cases with episode ends mid-sequence, lam in {0, 0.95, 1}")


@exercise_check(forbid=(reinforce_loss,))
def check_pg_surrogate(fn: Callable[..., Any]) -> None:
    """Check ``fn(log_probs, advantages) -> loss``, the policy-gradient surrogate.

    ``L = -mean(log_probs * advantages)`` over all (T, E) entries, a scalar
    whose gradient w.r.t. the log-probs is ``-advantages / (T E)`` (REINFORCE).
    """
    gen = torch.Generator().manual_seed(3)
    log_probs = torch.randn(6, 4, generator=gen, dtype=torch.float64).requires_grad_()
    advantages = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    got = call_student("pg_surrogate", fn, log_probs, advantages)
    expected = reinforce_loss(log_probs, advantages)
    hint = "L = -(log_probs * advantages).mean(); the minus sign makes gradient descent " \
           "raise the probability of actions with positive advantage."
    assert_close("pg_surrogate", got, expected, atol=1e-10, hint=hint)
    if not isinstance(got, torch.Tensor) or not got.requires_grad:
        raise ExerciseCheckFailed(
            "pg_surrogate: the loss does not depend on log_probs through autograd; compute it "
            "with torch operations on log_probs (no .item(), .detach() or NumPy)."
        )
    (grad,) = torch.autograd.grad(got, log_probs)
    assert_close("d pg_surrogate / d log_probs", grad, -advantages / advantages.numel(),
                 atol=1e-10, hint=hint)
    passed("pg_surrogate", "value and gradient on a (6, 4) batch")


_UCB1_VARIANTS = {  # wrong rules the checker must tell apart from UCB1 (n = counts, t = n.sum())
    "without the factor 2": lambda s, n: s / n + np.sqrt(math.log(n.sum()) / n),
    "with ln(t + 1)": lambda s, n: s / n + np.sqrt(2.0 * math.log(n.sum() + 1) / n),
    "with the bonus over n": lambda s, n: s / n + np.sqrt(2.0 * math.log(n.sum())) / n,
}


def _ucb1_states(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bandit statistics (counts, successes), each (K,): 2 with untried arms, 6 random
    ones without, then, per rule of ``_UCB1_VARIANTS``, 2 states where that rule errs."""
    states = [
        (np.array([0, 3, 1, 2, 0]), np.array([0, 2, 1, 0, 0])),
        (np.array([2, 2, 0, 1]), np.array([2, 0, 0, 1])),
    ]

    def random_state() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts = rng.integers(1, 12, size=int(rng.integers(3, 7)))
        successes = rng.binomial(counts, rng.random(counts.shape))
        return counts, successes, _ucb1_scores(counts, successes)

    while len(states) < 8:
        counts, successes, scores = random_state()
        if _unique_best(scores):
            states.append((counts, successes))
    for wrong in _UCB1_VARIANTS.values():
        found = 0
        while found < 2:
            counts, successes, scores = random_state()
            wrong_scores = wrong(successes, counts)
            if _unique_best(scores) and _unique_best(wrong_scores) and \
                    np.argmax(wrong_scores) != np.argmax(scores):
                states.append((counts, successes))
                found += 1
    return states


def _unique_best(scores: np.ndarray) -> bool:
    return bool(np.sort(scores)[-1] - np.sort(scores)[-2] > 1e-6)


def _ucb1_scores(counts: np.ndarray, successes: np.ndarray) -> np.ndarray:
    return successes / counts + np.sqrt(2.0 * math.log(counts.sum()) / counts)


def _as_arm(value: Any, num_arms: int) -> int:
    """The student's arm as an int; NumPy scalars (np.argmax returns np.int64) are fine."""
    tensor = as_tensor("ucb1_choice", value.item() if isinstance(value, np.generic) else value)
    if tensor.numel() != 1 or (tensor.is_floating_point() and tensor.item() != int(tensor.item())):
        raise ExerciseCheckFailed(
            f"ucb1_choice: expected one arm index (an int), got {value!r}."
        )
    arm = int(tensor.item())
    if not 0 <= arm < num_arms:
        raise ExerciseCheckFailed(f"ucb1_choice: arm {arm} is not in 0..{num_arms - 1}.")
    return arm


@exercise_check(forbid=(select_ucb1,))
def check_ucb1_choice(fn: Callable[..., Any]) -> None:
    """Check ``fn(counts, successes, t) -> arm``: one UCB1 decision (Auer et al. 2002).

    counts (K,) pulls per arm and successes (K,) rewards of 1 per arm (NumPy
    int arrays), t the number of pulls so far. An arm never pulled must be
    chosen first (any of them); otherwise the arm maximising
    ``successes / counts + sqrt(2 ln t / counts)``.
    """
    rng = np.random.default_rng(4)
    states = _ucb1_states(rng)
    for counts, successes in states:
        t = int(counts.sum())
        arm = _as_arm(call_student("ucb1_choice", fn, counts.copy(), successes.copy(), t),
                      len(counts))
        state = f"counts={counts.tolist()}, successes={successes.tolist()}, t={t}"
        if (counts == 0).any():
            if counts[arm] != 0:
                raise ExerciseCheckFailed(
                    f"ucb1_choice: with {state} you chose arm {arm}, but an untried arm "
                    f"({np.flatnonzero(counts == 0).tolist()}) must be pulled first."
                )
            continue
        expected = int(select_ucb1(counts[None], successes[None], t, rng)[0])
        if arm != expected:
            scores = np.round(_ucb1_scores(counts, successes), 4).tolist()
            raise ExerciseCheckFailed(
                f"ucb1_choice: with {state} you chose arm {arm}, expected arm {expected}; "
                f"the UCB1 scores mean + sqrt(2 ln t / n) are {scores}."
            )
    passed("ucb1_choice", f"{len(states)} bandit states, 2 of them with untried arms, 6 where "
           "a rule without the factor 2, with ln(t + 1) or with the bonus over n errs")


RETURNS_HINT = ("R_t = r_t + gamma * (1 - d_t) * R_{t+1} backwards from R_T = 0: an episode "
                "that ended at t (d_t = 1) must not collect the rewards of the next episode.")


@exercise_check(forbid=(discounted_returns, gae), bug_hunt=True)
def check_discounted_returns(fn: Callable[..., Any]) -> None:
    """Find the bug: check ``fn(rewards, dones, gamma) -> returns``, the reward-to-go.

    rewards (T, E) float, dones (T, E) bool (the episode ended with r_t);
    expected (T, E) with R_t = r_t + gamma (1 - d_t) R_{t+1}, R_T = 0
    (Williams 1992; :func:`ssm_metarl.rl.discounted_returns`).
    """
    for seed, gamma in ((3, 0.9), (4, 0.99)):
        case = _gae_case(seed, 0.95)
        got = call_student("discounted_returns", fn, case["rewards"], case["dones"], gamma)
        expected = discounted_returns(case["rewards"], case["dones"], gamma)
        assert_close(f"returns (gamma={gamma})", got, expected, atol=1e-10, hint=RETURNS_HINT)
    passed("discounted_returns", "matches the library on trials with episode ends mid-sequence")


BANDIT_TRAINING = {"k": 5, "iterations": 100, "lr": 0.1, "within": 0.05, "bandits": 3}
BANDIT_HINT = ("each iteration: logits -> torch.distributions.Categorical, sample a batch of "
               "arms, rewards = pull(arms), loss = -(log_prob(arms) * (rewards - "
               "rewards.mean())).mean(), then an optimizer step on the logits.")


def _hidden_bandit(seed: int, k: int) -> tuple[Callable[[torch.Tensor], torch.Tensor], np.ndarray,
                                                list[int]]:
    """``pull(arms) -> rewards`` of a Bernoulli bandit whose probabilities the caller keeps."""
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.0, 1.0, size=k)
    gen = torch.Generator().manual_seed(seed)
    pulls = [0]

    def pull(arms: Any) -> torch.Tensor:
        arms = torch.as_tensor(arms)
        if arms.dtype not in (torch.int64, torch.int32) or arms.ndim != 1:
            raise TypeError(f"pull expects a 1-D integer tensor of arms, got {arms.dtype} "
                            f"with shape {tuple(arms.shape)}")
        if arms.numel() and (arms.min() < 0 or arms.max() >= k):
            raise ValueError(f"pull: arms must be in 0..{k - 1}")
        pulls[0] += arms.numel()
        p = torch.as_tensor(probs)[arms.long()]
        return torch.bernoulli(p, generator=gen).float()

    return pull, probs, pulls


@exercise_check(forbid=(reinforce_loss,))
def check_bandit_reinforce(fn: Callable[..., Any]) -> None:
    """Larger exercise: check ``fn(pull, k, iterations, lr) -> logits``, REINFORCE on a bandit.

    ``pull(arms)`` takes a 1-D integer tensor of arm indices and returns their
    0/1 rewards (float, same shape); the arm probabilities are hidden. The
    result is the trained policy's logits (k,). Checked by behaviour on 3
    bandits with k = 5 arms: the softmax policy's expected reward per pull must
    be within ``BANDIT_TRAINING["within"]`` of the best arm's probability
    (random play earns the mean probability).
    """
    s = BANDIT_TRAINING
    for seed in range(s["bandits"]):
        pull, probs, pulls = _hidden_bandit(100 + seed, s["k"])
        torch.manual_seed(seed)
        logits = as_tensor("logits", call_student("bandit_reinforce", fn, pull, s["k"],
                                                  s["iterations"], s["lr"]))
        if tuple(logits.shape) != (s["k"],):
            raise ExerciseCheckFailed(f"bandit_reinforce: expected logits of shape ({s['k']},), "
                                      f"got {tuple(logits.shape)}.")
        if not torch.isfinite(logits).all():
            raise ExerciseCheckFailed("bandit_reinforce: the logits contain NaN or inf.")
        if pulls[0] == 0:
            raise ExerciseCheckFailed("bandit_reinforce: the policy never pulled an arm; learn "
                                      "from the rewards of pull(arms).")
        policy = torch.softmax(logits.double(), dim=0).numpy()
        earned, best = float(policy @ probs), float(probs.max())
        if earned < best - s["within"]:
            raise ExerciseCheckFailed(
                f"bandit_reinforce (bandit {seed}, {pulls[0]} pulls): the trained policy earns "
                f"{earned:.3f} per pull, the best arm {best:.3f} and random play "
                f"{probs.mean():.3f}; it must come within {s['within']} of the best arm. "
                + BANDIT_HINT)
    passed("bandit_reinforce", f"within {s['within']} of the best arm on {s['bandits']} bandits "
           f"after {s['iterations']} iterations")
