"""Checkers for notebook 06 (Meta-World ML1 reach).

Glossary: T rows of a rollout, E parallel environments, K episodes, S
training seeds, G test tasks.

- :func:`check_episode_successes`: Meta-World's success of each episode from
  the per-step success flags of a rollout (autoreset rows left out).
- :func:`check_reach_controller`: a scripted controller that knows the goal
  (the oracle row of notebook 06's table) must reach 4 held-out goals.
- :func:`check_seed_interval`: the mean success and its 95% interval over
  training seeds (Student's t), the first interval of every headline table.
- :func:`check_goal_from_rewards` (larger exercise 6.B): infer the hidden goal
  from rewards at known hand positions, then reach it.
- :func:`check_probe_error` (find the bug 6.A): a linear probe of the goal
  from the policy's state, scored on trials it was not fitted on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..envs.metaworld import MetaWorldEnv, MetaWorldTasks, episode_successes
from ..metaworld_runs import (
    REACH_RADIUS,
    family,
    goal_from_rewards,
    oracle_action,
    reach_by_inference,
    reach_reward,
)
from ..results import mean_ci, seeds_tasks_ci
from ..system import linear_probe_error
from ._core import ExerciseCheckFailed, call_student, exercise_check, passed

__all__ = ["check_episode_successes", "check_goal_from_rewards", "check_probe_error",
           "check_reach_controller", "check_seed_interval"]


def _success_cases() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, int]]:
    """(label, success_rows, valid, dones, K): synthetic rollouts with autoreset rows."""
    rng = np.random.default_rng(6)
    cases = []
    # 3 episodes of 4 steps, an autoreset row between episodes (15 rows, 3 envs)
    valid = np.ones((14, 3), bool)
    dones = np.zeros((14, 3), bool)
    for end in (3, 8):
        dones[end] = True
        valid[end + 1] = False
    dones[13] = True
    flags = (rng.random((14, 3)) < 0.15).astype(float)
    flags[:, 2] = 0.0
    flags[12, 2] = 1.0      # env 2 succeeds only at the end of episode 3 ...
    flags[4] = 1.0          # ... and on an autoreset row, which never counts
    flags[0:2, 0] = 1.0     # two successful steps are still one success
    cases.append(("3 episodes of 4 steps per env", flags, valid, dones, 3))
    # envs whose episodes end on different rows, and one episode never reached
    valid = np.ones((9, 2), bool)
    dones = np.zeros((9, 2), bool)
    dones[2, 0], valid[3, 0], dones[6, 0] = True, False, True
    dones[5, 1], valid[6, 1] = True, False
    flags = np.zeros((9, 2))
    flags[[1, 5], 0] = 1.0
    flags[[3, 8], 1] = 1.0
    cases.append(("env 0: episodes of 3 steps, env 1: of 6 steps; K = 3, one episode "
                  "never reached", flags, valid, dones, 3))
    return cases


@exercise_check(forbid=(episode_successes,))
def check_episode_successes(fn: Callable[..., Any]) -> None:
    """Check ``fn(success_rows, valid, dones, num_episodes) -> (E, K)`` of 0/1.

    Episode k of env e is a success if its success flag was on at any *valid*
    row of that episode; rows belong to episode k when k valid done rows came
    before them; an episode the rollout never reached counts 0. Compared with
    :func:`ssm_metarl.envs.metaworld.episode_successes`.
    """
    for label, flags, valid, dones, k in _success_cases():
        expected = episode_successes(flags, valid, dones, k)
        got = call_student("episode_successes", fn, flags.copy(), valid.copy(), dones.copy(), k)
        got = np.asarray(got, dtype=float)
        if got.shape != expected.shape:
            raise ExerciseCheckFailed(
                f"episode_successes: wrong shape for '{label}', expected {expected.shape} "
                f"(one number per env and episode), got {got.shape}.")
        wrong = np.argwhere(got != expected)
        if len(wrong):
            env, episode = (int(i) for i in wrong[0])
            yours = "a success" if got[env, episode] else "no success"
            raise ExerciseCheckFailed(
                f"episode_successes: wrong for '{label}': env {env}, episode {episode} is "
                f"{yours} in your answer. An episode is a success if the flag is on at any "
                "valid row of it (rows with valid False, the autoreset rows, never count); "
                "a row belongs to episode k when k valid done rows came before it.")
    passed("episode_successes", "rollouts with autoreset rows, episodes of different "
           "lengths and an episode never reached")


REACH_TASKS = (0, 13, 27, 41)  # test tasks of ML1 reach-v3 (benchmark seed 0)
REACH_STEPS = 60


@exercise_check(forbid=(oracle_action,))
def check_reach_controller(fn: Callable[..., Any]) -> None:
    """Check ``fn(obs (39,), goal (3,)) -> action (4,)`` in [-1, 1]: it must reach the goal.

    Runs the controller on 4 held-out reach-v3 tasks for 60 steps each; every
    action must be 4 finite numbers within [-1, 1] (the env would clip them,
    the check does not), and the hand must come within Meta-World's 5 cm of
    every goal (``info["success"]``) at some step.
    """
    tasks = MetaWorldTasks("reach-v3", "test", horizon=REACH_STEPS).tasks()
    for index in REACH_TASKS:
        task = tasks[index]
        env = MetaWorldEnv("reach-v3", task=task, horizon=REACH_STEPS)
        obs, _ = env.reset(seed=0)
        reached = False
        for step in range(REACH_STEPS):
            action = np.asarray(call_student("reach_controller", fn, obs.copy(),
                                             task[3:].copy()), dtype=float)
            if action.shape != (4,):
                raise ExerciseCheckFailed(
                    f"reach_controller: the action must be 4 numbers (hand dx, dy, dz and "
                    f"the gripper), got shape {action.shape}.")
            if not np.isfinite(action).all() or np.abs(action).max() > 1 + 1e-6:
                raise ExerciseCheckFailed(
                    f"reach_controller: actions must be finite and within [-1, 1]; at step "
                    f"{step} of test task {index} you returned {np.round(action, 3)}. Clip them.")
            obs, _, _, _, info = env.step(action.astype(np.float32))
            reached = reached or info["success"] > 0
        env.close()
        if not reached:
            distance = float(np.linalg.norm(obs[:3] - task[3:]))
            raise ExerciseCheckFailed(
                f"reach_controller: the hand never came within 5 cm of the goal of test task "
                f"{index} in {REACH_STEPS} steps (it ended {100 * distance:.1f} cm away). The "
                "hand position is obs[:3]; move it toward the goal, fast enough (the action "
                "is a displacement, scaled by the env).")
    passed("reach_controller", f"{len(REACH_TASKS)} held-out goals reached within "
           f"{REACH_STEPS} steps")


def _interval_cases() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(66)
    return [("3 seeds x 20 tasks", (rng.random((3, 20)) < [[0.2], [0.35], [0.3]]).astype(float)),
            ("5 seeds x 8 tasks", (rng.random((5, 8)) < 0.5).astype(float)),
            ("2 seeds x 12 tasks", rng.random((2, 12)))]


@exercise_check(forbid=(mean_ci, seeds_tasks_ci))
def check_seed_interval(fn: Callable[..., Any]) -> None:
    """Check ``fn(success (S, G)) -> (mean, half_width)`` over training seeds.

    Average each seed over its G tasks, then the mean of the S seed averages
    and the 95% half-width of Student's t with S - 1 degrees of freedom:
    ``t * std(ddof=1) / sqrt(S)`` (:func:`ssm_metarl.results.mean_ci`; t to 3 decimals).
    """
    for label, success in _interval_cases():
        mean, half = mean_ci(success.mean(axis=1))
        got = call_student("seed_interval", fn, success.copy())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseCheckFailed("seed_interval: return two numbers, (mean, half_width).")
        try:
            got_mean, got_half = (float(np.asarray(v)) for v in got)
        except (TypeError, ValueError):
            raise ExerciseCheckFailed("seed_interval: mean and half_width must be single "
                                      "numbers (floats).") from None
        if not np.isclose(got_mean, float(mean), atol=1e-9):
            raise ExerciseCheckFailed(
                f"seed_interval: wrong mean for {label}, got {got_mean:.4f}: the mean over "
                "seeds of each seed's mean over tasks.")
        if not np.isclose(got_half, float(half), rtol=1e-3):  # t quantiles to 3 decimals
            raise ExerciseCheckFailed(
                f"seed_interval: wrong half-width for {label}, got {got_half:.4f}. The "
                "interval is over seeds: one number per seed (its task average), then "
                "t_{0.975, S-1} * std(ddof=1) / sqrt(S), with Student's t, not 1.96.")
    passed("seed_interval", "3, 5 and 2 seeds, Student's t")


PROBE_HINT = ("at each step t fit goal ~ W s_t + b (ridge) on the first G // 2 trials only and "
              "report the mean Euclidean distance between decoded and true goal on the OTHER "
              "trials: an error measured on the trials the probe was fitted on says how well it "
              "memorises them, not whether the state holds the goal")


@exercise_check(forbid=(linear_probe_error,), bug_hunt=True)
def check_probe_error(fn: Callable[..., Any]) -> None:
    """Find the bug: check ``fn(states, goals, ridge) -> errors``, a held-out linear probe.

    states (G, T, F) the policy's state at every step of G trials, goals (G, 3);
    expected errors (T,): per step, a ridge regression with a bias fitted on the
    first G // 2 trials and scored on the rest (mean distance, in m), as
    :func:`ssm_metarl.system.linear_probe_error` computes it (notebook 06, section 4).
    """
    rng = np.random.default_rng(61)
    for label, trials, steps, features in (("G=20, T=3, F=8", 20, 3, 8),
                                           ("G=40, T=5, F=16", 40, 5, 16)):
        goals = rng.uniform(-0.1, 0.1, (trials, 3))
        mix = rng.normal(size=(3, features))
        states = (goals @ mix)[:, None] * np.linspace(0.2, 1, steps)[None, :, None] \
            + 0.3 * rng.normal(size=(trials, steps, features))
        got = call_student("probe_error", fn, states.copy(), goals.copy(), 0.1)
        expected = linear_probe_error(states, goals, ridge=0.1)
        got = np.asarray(got, dtype=float)
        if got.shape != expected.shape:
            raise ExerciseCheckFailed(f"probe_error ({label}): wrong shape, expected "
                                      f"{expected.shape} (one error per step), got {got.shape}.")
        if not np.allclose(got, expected, atol=1e-9):
            t = int(np.argmax(np.abs(got - expected)))
            lower = "lower" if got[t] < expected[t] else "higher"
            raise ExerciseCheckFailed(
                f"probe_error ({label}): at step {t} your error is {got[t]:.4f} m, {lower} than "
                f"it should be. Hint: {PROBE_HINT}.")
    passed("probe_error", "fits on the first half of the trials and scores on the rest, "
           "G = 20 and 40")


INFERENCE_HINT = ("invert the reward: d_i = 0.05 + m s_i with s_i = sqrt(1 / r_i - 1) / 3; then "
                  "||p_i||^2 - 0.05^2 = 2 p_i . g - ||g||^2 + 0.1 m s_i + m^2 s_i^2 is linear in "
                  "(g, ||g||^2, m, m^2): solve it by least squares, then refine (g, m) by "
                  "Gauss-Newton on ||p_i - g|| - 0.05 - m s_i")


@exercise_check(forbid=(goal_from_rewards,))
def check_goal_from_rewards(fn: Callable[..., Any]) -> None:
    """Larger exercise: check ``fn(positions, rewards) -> goal``, task inference from rewards.

    positions (N, 3) hand positions, rewards (N,) reach-v3 rewards there (a
    known function of the distance to the hidden goal with an unknown margin,
    :func:`ssm_metarl.metaworld_runs.reach_reward`); expected the goal (3,).
    Checked on exact rewards of two synthetic goals (to 1 mm), then by
    behaviour: :func:`~ssm_metarl.metaworld_runs.reach_by_inference` with
    ``infer=fn`` must reach each of 4 held-out ML1 reach goals within one
    150-step episode. A solution that calls ``goal_from_rewards`` is refused.
    """
    rng = np.random.default_rng(62)
    for label, goal, margin in (("goal 1", np.array([0.03, 0.84, 0.19]), 0.24),
                                ("goal 2", np.array([-0.09, 0.82, 0.27]), 0.31)):
        start = np.array([0.0, 0.6, 0.2])
        positions = start + rng.uniform(-0.05, 0.05, (30, 3))
        rewards = reach_reward(np.linalg.norm(positions - goal, axis=1), margin)
        got = np.asarray(call_student("goal_from_rewards", fn, positions.copy(), rewards.copy()),
                         dtype=float)
        if got.shape != (3,):
            raise ExerciseCheckFailed(f"goal_from_rewards ({label}): expected a goal of shape "
                                      f"(3,), got {got.shape}.")
        error = float(np.linalg.norm(got - goal))
        if not error < 1e-3:
            raise ExerciseCheckFailed(
                f"goal_from_rewards ({label}, 30 exact rewards, margin {margin} m): your goal is "
                f"{100 * error:.1f} cm from the true one (needed < 0.1 cm). "
                f"Hint: {INFERENCE_HINT}.")
    for index, task in enumerate(family("test").tasks()[:4]):
        run = reach_by_inference(task, infer=fn)
        if not run.success:
            raise ExerciseCheckFailed(
                f"goal_from_rewards: on held-out reach task {index} the hand never came within "
                f"{100 * REACH_RADIUS:.0f} cm of the goal; your final estimate is "
                f"{100 * float(np.linalg.norm(run.estimate - run.goal)):.1f} cm away from it (the "
                f"gripper sits about 4 cm below the hand, so a good estimate is that far above the "
                f"goal). Hint: {INFERENCE_HINT}.")
    passed("goal_from_rewards", "two synthetic goals to 1 mm; 4 of 4 held-out reach goals "
           "reached from rewards alone")
