"""Checkers for notebook 05 (the whole system: state, weights, both).

Glossary: T rows of a rollout, E parallel environments, P candidate policies.

- :func:`check_recurrent_inner_step`: one MAML inner step on the fast weights
  of a recurrent SSM policy, its log-probs from sequence mode.
- :func:`check_trial_starts`: where a recurrent policy's memory is reset
  (trial starts), given episode ends and the episodes per trial.
- :func:`check_ucb_policy_choice`: UCB1 over a population of policies, with
  the bonus in return units (the test-time choice of notebook 05, section 5).
- :func:`check_ucb_over_policies` (larger exercise 5.B): the whole test-time
  loop of choosing among policies by UCB, checked against the library's rule
  and by how often it ends up playing the best policy.
- :func:`check_window_returns` (find the bug 5.A): the k-step returns an
  online update within a trial may learn from, only rows whose k rewards
  have all arrived.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import meta_rl
from ..envs.families import NavigationTasks
from ..meta_rl import adapt_policy, policy_gradient_advantages, rollout_length
from ..policies import SSMMetaPolicy
from ..rl import collect_rollouts
from ..system import choose_by_ucb, ucb_choice
from ._core import (
    ExerciseCheckFailed,
    as_tensor,
    assert_close,
    call_student,
    exercise_check,
    passed,
)

__all__ = ["check_recurrent_inner_step", "check_trial_starts", "check_ucb_policy_choice",
           "check_ucb_over_policies", "check_window_returns"]


def _navigation_rollout(core: str, episodes_per_trial: int, seed: int, goals: int = 2,
                        per_goal: int = 3, trials: int = 1):  # for check_recurrent_inner_step
    """A small float64 SSM policy and one rollout of ``goals`` x ``per_goal`` envs, each
    playing ``trials`` trials of ``episodes_per_trial`` episodes (the memory is reset at
    each trial start)."""
    torch.manual_seed(seed)
    policy = SSMMetaPolicy(2, 2, discrete=False, core=core, hidden_dim=8, ssm_state_dim=3,
                           dtype=torch.float64)
    family = NavigationTasks(horizon=6)
    env = family.make_env(goals * per_goal)
    env.set_task(np.repeat(family.sample_tasks(goals, seed), per_goal, axis=0))
    rollout = collect_rollouts(env, policy, rollout_length(6, episodes_per_trial * trials),
                               seed=seed, action_scale=0.1, episodes_per_trial=episodes_per_trial)
    return policy, rollout


STEP_HINT = ("log-probs from policy_log_probs(policy, params, rollout) (sequence mode, the "
             "memory reset at rollout.starts), "
             "loss = -(log_probs * advantages * mask).sum() / mask.sum(), gradients w.r.t. "
             "every parameter except the critic's (heads.critic.*), then theta - alpha * g.")


@exercise_check(forbid=(adapt_policy,))
def check_recurrent_inner_step(fn: Callable[..., Any]) -> None:
    """Check ``fn(policy, params, rollout, advantages, mask, alpha) -> fast weights``.

    One vanilla policy-gradient step on a recurrent policy's fast weights
    (Finn et al. 2017, Eq. 1): ``theta' = theta - alpha grad L(theta)`` with
    ``L = -masked mean of log pi_theta(a_t | history) A_t``, the critic head
    left as it is. Two cores, trials of two episodes (memory carried), and one
    rollout of two such trials per env (memory reset at the second trial's start).
    """
    cases = (("ssd core", "ssd", 0, 1), ("selective core", "selective", 1, 1),
             ("selective core, two trials per env", "selective", 3, 2))
    for label, core, seed, trials in cases:
        policy, rollout = _navigation_rollout(core, 2, seed, trials=trials)
        (task,) = policy_gradient_advantages(rollout, 1, 0.99, whole_trial=True)
        params = {name: value.detach() for name, value in policy.named_parameters()}
        got = call_student("recurrent_inner_step", fn, policy, dict(params), *task, 0.5)
        if not isinstance(got, dict) or set(got) != set(params):
            raise ExerciseCheckFailed(
                "recurrent_inner_step: return a dict with every parameter name of the policy "
                f"({len(params)} names), got {type(got).__name__}"
                + (f" with {len(got)} names" if isinstance(got, dict) else ""))
        expected = adapt_policy(policy, params, *task, 0.5, create_graph=False)
        for name in params:
            assert_close(f"recurrent_inner_step[{name!r}] ({label})", got[name],
                         expected[name], atol=1e-9, rtol=1e-7, hint=STEP_HINT)
    passed("recurrent_inner_step", "SSD and selective cores, trials of 2 episodes, and 2 trials "
           "per env")


def _trial_rollout(horizon: int, num_envs: int, episodes_per_trial: int, core: str, seed: int):
    """A float32 SSM policy's rollout of 6 episodes of ``horizon`` steps on each env."""
    torch.manual_seed(seed)
    policy = SSMMetaPolicy(2, 2, discrete=False, core=core, hidden_dim=8, ssm_state_dim=3)
    env = NavigationTasks(horizon=horizon).make_env(num_envs)
    return collect_rollouts(env, policy, rollout_length(horizon, 6), seed=seed,
                            action_scale=0.1, episodes_per_trial=episodes_per_trial)


def _trial_cases() -> list[tuple[str, int, Any, Any]]:
    """(label, episodes_per_trial, rollout dones and valid (T, E), recorded starts (T, E)).

    The first three have 3 envs in step (episodes of 5 steps); the last puts 2 envs with
    episodes of 5 steps next to 2 with episodes of 3 steps (cut to the shorter rollout),
    so that env columns end episodes, and start trials, on different rows.
    """
    cases = []
    for episodes_per_trial, core in ((1, "ssd"), (2, "ssd"), (3, "selective")):
        rollout = _trial_rollout(5, 3, episodes_per_trial, core, episodes_per_trial)
        cases.append(("6 episodes of 5 steps", episodes_per_trial, rollout.dones,
                      rollout.valid, rollout.starts))
    long, short = _trial_rollout(5, 2, 2, "ssd", 4), _trial_rollout(3, 2, 2, "ssd", 5)
    rows = short.num_steps
    pair = lambda name: torch.cat([getattr(long, name)[:rows], getattr(short, name)], dim=1)
    cases.append(("envs 0-1 with episodes of 5 steps, envs 2-3 of 3 steps", 2,
                  pair("dones"), pair("valid"), pair("starts")))
    return cases


@exercise_check
def check_trial_starts(fn: Callable[..., Any]) -> None:
    """Check ``fn(dones, valid, episodes_per_trial) -> starts``, the memory-reset flags.

    dones, valid (T, E) bool as in a :class:`~ssm_metarl.rl.Rollout`. A trial
    starts at row 0 and on the first real row after every
    ``episodes_per_trial``-th finished episode of an env (the row after its
    autoreset row, which has ``valid`` False); the result is (T, E) bool,
    compared with the ``starts`` that :func:`~ssm_metarl.rl.collect_rollouts`
    recorded on rollouts of 6 episodes, and on one whose envs end their
    episodes on different rows.
    """
    for label, episodes_per_trial, dones, valid, expected in _trial_cases():
        got = call_student("trial_starts", fn, dones.clone(), valid.clone(), episodes_per_trial)
        got = as_tensor("trial_starts", got)
        if got.dtype != torch.bool:
            got = got != 0
        where = f"episodes_per_trial={episodes_per_trial} ({label})"
        if tuple(got.shape) != tuple(expected.shape):
            raise ExerciseCheckFailed(
                f"trial_starts: wrong shape with {where}, expected {tuple(expected.shape)} "
                f"(one flag per row and env, like dones), got {tuple(got.shape)}.")
        if not torch.equal(got, expected):
            row, env = (int(i) for i in torch.nonzero(got != expected)[0])
            yours = "start a trial there" if got[row, env] else "do not start a trial there"
            raise ExerciseCheckFailed(
                f"trial_starts: wrong flags with {where}; the first wrong one is row {row} of "
                f"env {env}: you {yours}. Row t starts a trial if t = 0, or if row t - 1 is an "
                f"autoreset row (not valid) and the episodes this env finished before row t "
                f"are a multiple of episodes_per_trial.")
    passed("trial_starts", "episodes_per_trial in {1, 2, 3}, rollouts of 6 episodes, and envs "
           "whose episodes end on different rows")


_UCB_VARIANTS = {  # wrong rules a checker must tell apart from UCB1
    "without the factor 2": lambda m, n, t, c: m + c * np.sqrt(np.log(t) / n),
    "with ln(t + 1)": lambda m, n, t, c: m + c * np.sqrt(2 * np.log(t + 1) / n),
    "without the scale": lambda m, n, t, c: m + np.sqrt(2 * np.log(t) / n),
    "with the bonus over n^2": lambda m, n, t, c: m + c * np.sqrt(2 * np.log(t)) / n,
}


def _ucb_cases(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, int, float]]:
    """Two states with untried policies, then, per wrong rule, 2 states where it errs."""
    # untried policies carry a low stand-in mean: only the untried-first rule picks them
    cases = [(np.array([0, 2, 1]), np.array([-50.0, -20.0, -35.0]), 3, 10.0),
             (np.array([3, 0, 0]), np.array([-12.0, -60.0, -60.0]), 3, 5.0)]
    for wrong in _UCB_VARIANTS.values():
        found = 0
        while found < 2:
            counts = rng.integers(1, 8, size=4)
            means = rng.uniform(-40, -5, size=4)
            t, scale = int(counts.sum()), float(rng.choice([5.0, 10.0, 30.0]))
            if int(np.argmax(wrong(means, counts, t, scale))) != ucb_choice(counts, means, t,
                                                                              scale):
                cases.append((counts, means, t, scale))
                found += 1
    return cases


@exercise_check(forbid=(ucb_choice,))
def check_ucb_policy_choice(fn: Callable[..., Any]) -> None:
    """Check ``fn(counts, means, t, scale) -> index``: UCB1 over candidate policies.

    counts (P,) trials each policy played, means (P,) their mean trial return,
    t trials so far, scale the bonus in return units: an untried policy first
    (the lowest index), else argmax ``means + scale * sqrt(2 ln t / counts)``.
    """
    cases = _ucb_cases(np.random.default_rng(11))
    for counts, means, t, scale in cases:
        got = call_student("ucb_policy_choice", fn, counts.copy(), means.copy(), t, scale)
        expected = ucb_choice(counts, means, t, scale)
        if not isinstance(got, (int, np.integer)) or int(got) != expected:
            bonus = np.round(means + scale * np.sqrt(2 * np.log(t) / np.maximum(counts, 1)), 2)
            raise ExerciseCheckFailed(
                f"ucb_policy_choice: counts={counts.tolist()}, means={np.round(means, 2).tolist()},"
                f" t={t}, scale={scale}: you chose {got!r}, expected {expected}"
                + (" (an untried policy comes first)" if (counts == 0).any() else
                   f"; the scores mean + scale sqrt(2 ln t / n) are {bonus.tolist()}"))
    passed("ucb_policy_choice", f"{len(cases)} states, 2 with untried policies, 8 where a "
           "rule without the factor 2, with ln(t + 1), without the scale or over n errs")


WINDOW_HINT = ("R_p = sum_{j=0}^{k-1} gamma^j r_{p+j} for the rows p = 0 .. V-k only: a row "
               "whose k rewards have not all arrived has no complete k-step return yet, and a "
               "return cut at the last row would favour late rows over early ones")


def _window_oracle(rewards: torch.Tensor, k: int, gamma: float) -> torch.Tensor:
    """(V, E) rewards -> (V - k + 1, E) complete k-step returns, entry by entry."""
    rows, envs = rewards.shape
    out = torch.zeros(rows - k + 1, envs, dtype=rewards.dtype)
    for p in range(rows - k + 1):
        for j in range(k):
            out[p] += gamma**j * rewards[p + j]
    return out


@exercise_check(forbid=(meta_rl._windowed_advantages,), bug_hunt=True)
def check_window_returns(fn: Callable[..., Any]) -> None:
    """Find the bug: check ``fn(rewards, k, gamma) -> returns``, complete k-step returns.

    rewards (V, E) of the real rows of a trial so far, k the window, gamma the
    discount; expected (V - k + 1, E) with R_p = sum_{j<k} gamma^j r_{p+j}, only
    for rows whose k rewards have all arrived: what ``PolicyAdapter(every_steps=k)``
    learns from within a trial (notebook 05, section 5).
    """
    gen = torch.Generator().manual_seed(51)
    for label, rows, envs, k, gamma in (("V=12, E=3, k=4", 12, 3, 4, 0.9),
                                        ("V=30, E=2, k=10", 30, 2, 10, 0.99)):
        rewards = -torch.rand(rows, envs, generator=gen, dtype=torch.float64)
        got = call_student("window_returns", fn, rewards.clone(), k, gamma)
        assert_close(f"returns ({label}, gamma={gamma})", got, _window_oracle(rewards, k, gamma),
                     atol=1e-10, hint=WINDOW_HINT)
    passed("window_returns", "complete k-step returns for k = 4 and 10, only rows whose k "
           "rewards have arrived")


UCB_LOOP_HINT = ("trial j = 0, 1, ...: choose i with UCB1 from the counts and running means "
                 "of trials < j (an untried policy first, the lowest index; else the largest "
                 "mean + scale * sqrt(2 ln j / n_i)), play it once, then update n_i and the "
                 "running mean of policy i with the return")


class _Population:
    """A seeded stand-in for a population of policies: ``play(i)`` -> one Gaussian trial
    return of policy i (an object, not a closure, so a copy replays the same returns)."""

    def __init__(self, seed: int, means: tuple[float, ...], spread: float) -> None:
        self.rng, self.means, self.spread = np.random.default_rng(seed), means, spread

    def __call__(self, i: int) -> float:
        return float(self.rng.normal(self.means[int(i)], self.spread))


def _population(seed: int, means: tuple[float, ...], spread: float) -> _Population:
    return _Population(seed, means, spread)


def _oracle_ucb_loop(play, num_policies: int, trials: int, scale: float):
    counts, means, chosen, returns = np.zeros(num_policies), np.zeros(num_policies), [], []
    for j in range(trials):
        i = ucb_choice(counts, means, j, scale)
        r = play(i)
        counts[i] += 1
        means[i] += (r - means[i]) / counts[i]
        chosen.append(i)
        returns.append(r)
    return np.array(chosen), np.array(returns)


@exercise_check(forbid=(ucb_choice, choose_by_ucb))
def check_ucb_over_policies(fn: Callable[..., Any]) -> None:
    """Larger exercise: check ``fn(play, num_policies, trials, scale) -> (chosen, returns)``.

    The test-time loop of notebook 05, section 5: ``play(i)`` plays one trial of
    policy i and returns its return; ``fn`` plays ``trials`` trials, each time
    choosing by UCB1 from what it has seen, and returns the chosen indices
    (trials,) and the returns (trials,). Checked twice: the same choices as
    the library's rule on a seeded population, then by behaviour: on a
    population whose best policy earns -12 against -25 to -30 for the others
    (trial returns with a spread of 5), at least 80% of 300 trials go to the
    best one. A solution that calls :func:`ssm_metarl.system.ucb_choice` or
    ``choose_by_ucb`` is refused.
    """
    means = (-30.0, -25.0, -12.0, -28.0)
    got = call_student("ucb_over_policies", fn, _population(5, means, 5.0), 4, 40, 10.0)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise ExerciseCheckFailed(f"ucb_over_policies: expected a pair (chosen, returns), got "
                                  f"{type(got).__name__}.")
    chosen, returns = (np.asarray(v) for v in got)
    expected, expected_returns = _oracle_ucb_loop(_population(5, means, 5.0), 4, 40, 10.0)
    if chosen.shape != expected.shape or returns.shape != expected.shape:
        raise ExerciseCheckFailed(f"ucb_over_policies: expected chosen and returns of shape "
                                  f"(40,) for 40 trials, got {chosen.shape} and {returns.shape}.")
    if not np.array_equal(chosen, expected):
        j = int(np.argmax(chosen != expected))
        raise ExerciseCheckFailed(f"ucb_over_policies: trial {j} chose policy {int(chosen[j])}, "
                                  f"not the one UCB1 picks from trials 0..{j - 1}. Hint: "
                                  f"{UCB_LOOP_HINT}.")
    if not np.allclose(returns, expected_returns):
        raise ExerciseCheckFailed("ucb_over_policies: the choices are right but the returns "
                                  "are not those play(i) gave: return what each trial earned, "
                                  "in order.")
    chosen, _ = (np.asarray(v) for v in call_student(
        "ucb_over_policies", fn, _population(6, means, 5.0), 4, 300, 10.0))
    share = float(np.mean(chosen == 2))
    if share < 0.8:
        raise ExerciseCheckFailed(f"ucb_over_policies: only {share:.0%} of 300 trials played the "
                                  f"best policy (needed 80%). Hint: {UCB_LOOP_HINT}.")
    passed("ucb_over_policies", f"the library's choices on 40 trials; {share:.0%} of 300 trials "
           "on the best of 4 policies")
