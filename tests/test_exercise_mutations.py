"""Mutation tests of every exercise checker (issue #13, "exercises worth grading").

For each public ``check_*`` function: one correct solution, written out here
(not imported from the library code the checker compares with), must pass;
at least five plausible wrong solutions, each a small edit of a correct one,
must be rejected with an :class:`ExerciseCheckFailed` whose message points at
the mistake (the case, the quantity, the hint) and shows at most one entry of
the expected answer (checked for answers with non-integer entries; an arm,
a recovery time or a flag is one number the message may name).
``check_ssd_chunk_state`` has its own tests of this kind in ``tests/test_exercises.py``.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
import torch
from torch.func import functional_call

from ssm_metarl import exercises
from ssm_metarl.exercises import (
    ExerciseCheckFailed,
    check_bandit_reinforce,
    check_discounted_returns,
    check_discretize_zoh_diagonal,
    check_euler_step,
    check_first_order_meta_grad,
    check_gae,
    check_inner_step,
    check_maml_meta_gradient,
    check_multi_step_adapt,
    check_online_forecast,
    check_pg_surrogate,
    check_predict_then_update_step,
    check_recovery_time,
    check_recurrent_inner_step,
    check_reptile_update,
    check_s4d_convolution,
    check_scan_step,
    check_ssd_chunked_head,
    check_ssd_mask,
    check_ssm_kernel,
    check_ssm_recurrence,
    check_trailing_mean,
    check_trial_starts,
    check_ttt_identity_step,
    check_ucb1_choice,
    check_ucb_over_policies,
    check_ucb_policy_choice,
    check_window_returns,
)
from ssm_metarl.exercises.metaworld import (
    check_episode_successes,
    check_goal_from_rewards,
    check_probe_error,
    check_reach_controller,
    check_seed_interval,
)
from ssm_metarl.meta_rl import actor_names

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# ----------------------------------------------------------------------------- notebook 00


def euler_step(x, u, a, b, dt, mistake=""):
    if mistake == "state not carried over":
        return dt * (a * x + b * u)
    if mistake == "dt multiplies only a x":
        return x + dt * a * x + b * u
    if mistake == "wrong sign":
        return x - dt * (a * x + b * u)
    if mistake == "a and b swapped":
        return x + dt * (b * x + a * u)
    if mistake == "backward Euler":
        return (x + dt * b * u) / (1 - dt * a)
    if mistake == "exact exponential step":
        return math.exp(a * dt) * x + (math.exp(a * dt) - 1) / a * b * u
    return x + dt * (a * x + b * u)


# ----------------------------------------------------------------------------- notebooks 01a and 01b


def discretize_zoh(A, B, dt, mistake=""):
    A_bar = torch.exp(dt * A)
    B_bar = (A_bar - 1) / A * B
    if mistake == "Euler A_bar":
        A_bar = 1 + dt * A
    if mistake == "Euler B_bar":
        B_bar = dt * B
    if mistake == "B_bar without B":
        B_bar = (A_bar - 1) / A
    if mistake == "B_bar divided by dt A":
        B_bar = (A_bar - 1) / (dt * A) * B
    if mistake == "B_bar sign flipped":
        B_bar = (1 - A_bar) / A * B
    if mistake == "bilinear instead of ZOH":
        A_bar = (1 + dt * A / 2) / (1 - dt * A / 2)
        B_bar = dt / (1 - dt * A / 2) * B
    if mistake == "dt left out of the exponential":
        A_bar, B_bar = torch.exp(A), torch.expm1(A) / A * B
    if mistake == "real part of A only":
        A_bar = torch.exp(dt * A.real)
    if mistake == "pair swapped":
        return B_bar, A_bar
    return A_bar, B_bar


def ssm_kernel(A_bar, B_bar, C, L, mistake=""):
    steps = torch.arange(L, dtype=torch.float64)
    if mistake == "powers start at 1":
        steps = steps + 1
    if mistake == "only L - 1 powers":
        steps = steps[:-1]
    powers = A_bar[:, None] ** steps                                # (N, L)
    weights = C * B_bar
    if mistake == "C left out":
        weights = B_bar
    if mistake == "B_bar left out":
        weights = C
    if mistake == "C conjugated":
        weights = C.conj() * B_bar
    if mistake == "summed over time, not modes":
        return (weights[:, None] * powers).sum(1)
    K = (weights[:, None] * powers).sum(0)
    if mistake == "real part taken":
        return K.real
    if mistake == "kernel reversed":
        return K.flip(0)
    return K


def scan_step(h_prev, a_t, b_t, reset_t, mistake=""):
    keep = ~reset_t[:, None]
    if mistake == "reset ignored":
        keep = torch.ones_like(keep)
    if mistake == "reset inverted":
        keep = reset_t[:, None]
    if mistake == "reset on the wrong axis":
        keep = ~reset_t[None, :]
    h = torch.where(keep, h_prev, torch.zeros_like(h_prev))
    if mistake == "reset zeroes the output instead of the input":
        return torch.where(reset_t[:, None], 0.0, a_t * h_prev + b_t)
    if mistake == "reset starts from b_t":
        h = torch.where(keep, h_prev, b_t)
    if mistake == "a_t and b_t swapped":
        return b_t * h + a_t
    if mistake == "a_t scales b_t too":
        return a_t * (h + b_t)
    return a_t * h + b_t


# ----------------------------------------------------------------------------- notebook 02


def _mse(model, params, x, y, reduce=torch.mean):
    return reduce((functional_call(model, params, (x,)) - y) ** 2)


def inner_step(model, params, x, y, inner_lr, mistake=""):
    reduce = torch.sum if mistake == "sum of squares, not mean" else torch.mean
    scale = 0.5 if mistake == "half the MSE" else 1.0
    lr = 1.0 if mistake == "inner_lr left out" else inner_lr
    sign = -1.0 if mistake == "gradient ascent" else 1.0
    if mistake == "inner gradient not differentiable":
        loss = _mse(model, params, x, y)
        grads = dict(zip(params, torch.autograd.grad(loss, list(params.values())), strict=True))
    else:
        grads = torch.func.grad(lambda p: scale * _mse(model, p, x, y, reduce))(params)
    fast = {n: params[n] - sign * lr * grads[n] for n in params}
    if mistake == "two inner steps":
        grads = torch.func.grad(lambda p: _mse(model, p, x, y))(fast)
        fast = {n: fast[n] - lr * grads[n] for n in fast}
    if mistake == "fast weights detached":
        fast = {n: w.detach() for n, w in fast.items()}
    return fast


def first_order_meta_grad(model, params, support, query, inner_lr, mistake=""):
    def loss(p, data, reduce=torch.mean):
        return _mse(model, p, *data, reduce=reduce)

    if mistake == "no adaptation":
        return torch.func.grad(loss)(params, query)
    adapt_on = query if mistake == "adapted on the query set" else support
    grads = torch.func.grad(loss)(params, adapt_on)
    sign = -1.0 if mistake == "inner gradient ascent" else 1.0
    fast = {n: (params[n] - sign * inner_lr * grads[n]).detach() for n in params}
    if mistake == "fast weights returned":
        return fast
    if mistake == "second-order gradient":
        leaves = {n: p.detach().requires_grad_() for n, p in params.items()}
        inner = torch.autograd.grad(loss(leaves, support), list(leaves.values()),
                                    create_graph=True)
        fast = {n: leaves[n] - inner_lr * g for n, g in zip(leaves, inner, strict=True)}
        outer = torch.autograd.grad(loss(fast, query), list(leaves.values()))
        return dict(zip(params, outer, strict=True))
    evaluate_on = support if mistake == "support loss at the fast weights" else query
    reduce = torch.sum if mistake == "sum query loss" else torch.mean
    return torch.func.grad(loss)(fast, evaluate_on, reduce)


def reptile_update(params, fast_params_list, epsilon, mistake=""):
    tasks = fast_params_list[-1:] if mistake == "last task only" else fast_params_list
    divisor = {"sum, not mean": 1, "divided by T - 1": len(tasks) - 1}.get(mistake, len(tasks))
    eps = 1.0 if mistake == "epsilon left out" else epsilon
    sign = -1.0 if mistake == "away from the fast weights" else 1.0
    new = {}
    for name, theta in params.items():
        if mistake == "theta not subtracted":
            step = sum(w[name] for w in tasks) / divisor
        else:
            step = sum(w[name] - theta for w in tasks) / divisor
        new[name] = theta + sign * eps * step
    return new


# ----------------------------------------------------------------------------- notebook 03


def gae(rewards, values, dones, last_value, gamma, lam, mistake=""):
    not_done = 1.0 - dones.to(rewards.dtype)
    if mistake == "episode ends ignored":
        not_done = torch.ones_like(not_done)
    if mistake == "done of the next step":
        not_done = torch.cat([not_done[1:], torch.ones_like(not_done[:1])])
    never = torch.ones_like(not_done)
    cut_bootstrap = never if mistake == "ends cut only the trace" else not_done
    cut_trace = never if mistake == "ends cut only the bootstrap" else not_done
    trace = {"lambda left out": gamma, "gamma left out": lam}.get(mistake, gamma * lam)
    advantages = torch.zeros_like(rewards)
    next_value, next_advantage = last_value, torch.zeros_like(last_value)
    order = range(rewards.shape[0]) if mistake == "forward loop" else reversed(
        range(rewards.shape[0]))
    for t in order:
        delta = rewards[t] + gamma * cut_bootstrap[t] * next_value - values[t]
        next_advantage = delta + trace * cut_trace[t] * next_advantage
        advantages[t] = next_advantage
        if mistake != "always bootstraps from last_value":
            next_value = values[t]
    if mistake == "returns, not advantages":
        return advantages + values
    return advantages


def pg_surrogate(log_probs, advantages, mistake=""):
    if mistake == "probabilities, not log-probs":
        log_probs = log_probs.exp()
    if mistake == "log_probs detached":
        log_probs = log_probs.detach()
    if mistake == "advantages normalised":
        advantages = (advantages - advantages.mean()) / advantages.std()
    terms = log_probs * advantages
    if mistake == "minus sign left out":
        return terms.mean()
    if mistake == "sum, not mean":
        return -terms.sum()
    if mistake == "mean over time only":
        return -terms.mean(0)
    if mistake == "returns a float (.item())":
        return -terms.mean().item()
    return -terms.mean()


def ucb1_choice(counts, successes, t, mistake=""):
    untried = np.flatnonzero(counts == 0)
    if untried.size and mistake != "untried arms not first":
        return int(untried[0])
    n = np.maximum(counts, 1)
    means = successes / n
    if mistake == "total successes, not mean":
        means = successes.astype(float)
    log_t = {"ln(t + 1)": np.log(t + 1), "log10 t": np.log10(t)}.get(mistake, np.log(t))
    bonus = np.sqrt(2.0 * log_t / n)
    if mistake == "without the factor 2":
        bonus = np.sqrt(log_t / n)
    if mistake == "bonus over n, not sqrt(n)":
        bonus = np.sqrt(2.0 * log_t) / n
    if mistake == "no bonus (greedy)":
        bonus = 0.0
    if mistake == "argmin":
        return int(np.argmin(means + bonus))
    return int(np.argmax(means + bonus))


# ----------------------------------------------------------------------------- notebook 04


def predict_then_update(model, params, inputs, targets, t, lr, window, mistake=""):
    seen = t - 1 if mistake == "prediction from the previous input" else t
    prediction = functional_call(model, params, (inputs[seen],))
    start, stop = max(0, t - window + 1), t + 1
    if mistake == "window ends before t":
        start, stop = max(0, t - window), t
    if mistake == "window one step too long":
        start = max(0, t - window)
    if mistake == "revealed target left out":
        stop = t
    if mistake == "whole history":
        start = 0
    if mistake == "newest transition only":
        start = t
    x, y = inputs[start:stop], targets[start:stop]
    reduce = torch.sum if mistake == "sum, not mean" else torch.mean
    grads = torch.func.grad(lambda p: _mse(model, p, x, y, reduce))(params)
    sign = -1.0 if mistake == "gradient ascent" else 1.0
    new = {n: params[n] - sign * lr * grads[n] for n in params}
    if mistake == "prediction after the update":
        prediction = functional_call(model, new, (inputs[t],))
    return prediction.detach(), new


def recovery_time(errors, switch_time, before, factor, smoothing, mistake=""):
    pre = errors[switch_time - before : switch_time]
    if mistake == "level over all pre-switch errors":
        pre = errors[:switch_time]
    if mistake == "level window shifted by one":
        pre = errors[switch_time - before - 1 : switch_time - 1]
    if mistake == "level includes the switch step":
        pre = errors[switch_time - before : switch_time + 1]
    level = np.mean(pre)
    width = 1 if mistake == "smoothing ignored" else smoothing
    for k in range(len(errors) - switch_time):
        lo = switch_time + max(0, k - width + 1)
        if mistake == "smoothing reaches before the switch":
            lo = switch_time + k - width + 1
        recent = errors[lo : switch_time + k + 1]
        if mistake == "forward-looking smoothing":
            recent = errors[switch_time + k : switch_time + k + width]
        smoothed = np.mean(recent)
        if (smoothed < factor * level) if mistake == "strict <" else (smoothed <= factor * level):
            return float(k + 1) if mistake == "k counted from 1" else float(k)
    if mistake == "-1 when it never recovers":
        return -1.0
    if mistake == "None when it never recovers":
        return None
    return float("nan")


def ttt_gradient_step(W, k, v, lr, mistake=""):
    error = W @ k - v
    if mistake == "linear-attention update only":
        error = -v
    key = k / (k @ k) if mistake == "key normalised" else k
    step = lr * torch.outer(error, key)
    if mistake == "factor 2 (no 1/2 in the loss)":
        step = 2 * step
    if mistake == "lr left out":
        step = torch.outer(error, key)
    if mistake == "transposed outer product":
        step = lr * torch.outer(key, error)
    if mistake == "gradient ascent":
        return W + step
    return W - step


# ----------------------------------------------------------------------------- notebook 05


def _log_probs(policy, theta, rollout, starts):
    dist, _, _ = functional_call(policy, theta, (rollout.inputs.transpose(0, 1),
                                                 rollout.initial_state, starts.transpose(0, 1)))
    return dist.log_prob(rollout.actions.transpose(0, 1)).transpose(0, 1)


def recurrent_inner_step(policy, params, rollout, advantages, mask, alpha, mistake=""):
    names = actor_names(params)
    theta = {n: p.detach().requires_grad_(n in names) for n, p in params.items()}
    starts = rollout.starts
    if mistake == "memory never reset":
        starts = torch.zeros_like(starts)
        starts[0] = True
    if mistake == "no memory (reset at every step)":
        starts = torch.ones_like(starts)
    if mistake == "memory reset at every episode":
        starts = torch.cat([torch.ones_like(starts[:1]), ~rollout.valid[:-1]])
    log_probs = _log_probs(policy, theta, rollout, starts)
    if mistake == "stored log-probs of the rollout":
        log_probs = rollout.log_probs
    if mistake == "advantages normalised again":
        advantages = (advantages - advantages.mean()) / advantages.std()
    terms = log_probs * advantages
    loss = {
        "mask ignored": lambda: -terms.mean(),
        "mean over every row": lambda: -(terms * mask).mean(),
        "sum, not mean": lambda: -(terms * mask).sum(),
    }.get(mistake, lambda: -(terms * mask).sum() / mask.sum())()
    grads = torch.autograd.grad(loss, [theta[n] for n in names])
    sign = -1.0 if mistake == "gradient ascent" else 1.0
    moved = {n: params[n] - sign * alpha * g for n, g in zip(names, grads, strict=True)}
    if mistake == "critic head left out of the result":
        return moved
    return {**params, **moved}


def trial_starts(dones, valid, episodes_per_trial, mistake=""):
    ended = (dones & valid).long()
    if mistake == "episode ends pooled over envs":
        ended = ended.amax(1, keepdim=True).expand_as(ended)
    finished = torch.cumsum(ended, dim=1 if mistake == "counted along the env axis" else 0)
    if mistake == "count off by one":
        finished = finished + 1
    per_trial = 1 if mistake == "episodes_per_trial ignored" else episodes_per_trial
    starts = torch.zeros_like(dones)
    starts[0] = mistake != "row 0 not a start"
    after = ~valid[:-1]
    if mistake == "start right after the done row":
        after = dones[:-1] & valid[:-1]
    starts[1:] = after & (finished[:-1] % per_trial == 0)
    if mistake == "start on the autoreset row":
        starts[1:] = ~valid[1:] & (finished[1:] % per_trial == 0)
    return starts


def ucb_policy_choice(counts, means, t, scale, mistake=""):
    untried = np.flatnonzero(counts == 0)
    if untried.size and mistake != "untried policies not first":
        return int(untried[-1] if mistake == "last untried policy" else untried[0])
    n = np.maximum(counts, 1)
    log_t = np.log(t + 1) if mistake == "ln(t + 1)" else np.log(t)
    bonus = {
        "without the factor 2": lambda: scale * np.sqrt(log_t / n),
        "without the scale": lambda: np.sqrt(2 * log_t / n),
        "scale inside the square root": lambda: np.sqrt(2 * scale * log_t / n),
        "bonus over n, not sqrt(n)": lambda: scale * np.sqrt(2 * log_t) / n,
        "no bonus (greedy)": lambda: 0.0,
    }.get(mistake, lambda: scale * np.sqrt(2 * log_t / n))()
    return int(np.argmax(means + bonus))


# ----------------------------------------------------------------------------- notebook 06


def episode_successes(rows, valid, dones, k, mistake=""):
    valid, dones = np.asarray(valid, bool), np.asarray(dones, bool)
    ended = (dones & valid).astype(int)
    episode = np.cumsum(ended, axis=0) - (0 if mistake == "done row starts the next episode"
                                          else ended)
    if mistake == "episodes as equal blocks of rows":
        episode = (np.arange(len(rows)) * k // len(rows))[:, None] + 0 * ended
    hit = rows > 0 if mistake == "autoreset rows counted" else (rows > 0) & valid
    if mistake == "success anywhere in the rollout":
        return np.repeat(hit.any(axis=0)[:, None], k, axis=1).astype(float)
    if mistake == "success counted at the episode's last row only":
        hit = hit & (dones & valid)
    per = [(hit & (episode == e)).sum(axis=0) if mistake == "successful steps counted"
           else (hit & (episode == e)).any(axis=0) for e in range(k)]
    return np.stack(per, axis=1).astype(float)


def reach_controller(obs, goal, mistake=""):
    hand = obs[36:39] if mistake == "the goal slot of the observation" else obs[:3]
    target = goal if mistake != "the goal slot of the observation" else hand * 0 + obs[36:39]
    gain = {"a gain too small to arrive": 0.3}.get(mistake, 20.0)
    move = gain * (target - obs[:3])
    if mistake == "away from the goal":
        move = -move
    if mistake != "no clipping":
        move = np.clip(move, -1, 1)
    return move if mistake == "no gripper number" else np.append(move, 0.0)


def ucb_over_policies(play, num_policies, trials, scale, mistake=""):
    counts, totals = np.zeros(num_policies), np.zeros(num_policies)
    chosen, returns = [], []
    for j in range(trials):
        means = totals if mistake == "sums, not means" else totals / np.maximum(counts, 1)
        t = j + 1 if mistake == "ln(j + 1)" else j
        factor = 1.0 if mistake == "without the factor 2" else 2.0
        c = 0.0 if mistake == "greedy (no bonus)" else scale
        untried = np.flatnonzero(counts == 0)
        if untried.size and mistake != "no rule for untried policies":
            i = int(untried[0])
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                bound = means + c * np.sqrt(factor * np.log(max(t, 1)) / counts)
            i = int(np.argmax(np.nan_to_num(bound, nan=-np.inf)))
        r = play(i)
        counts[i] += 1
        totals[i] += r
        chosen.append(i)
        returns.append(r)
    if mistake == "returns sorted":
        returns = sorted(returns)
    return np.array(chosen), np.array(returns)


def window_returns(rewards, k, gamma, mistake=""):
    if mistake == "window of k + 1 rewards":
        k = k + 1
    discounts = gamma ** torch.arange(k, dtype=rewards.dtype)
    if mistake == "discount from gamma^1":
        discounts = discounts * gamma
    if mistake == "no discount":
        discounts = torch.ones_like(discounts)
    if mistake == "discounts reversed":
        discounts = discounts.flip(0)
    last = rewards.shape[0] if mistake == "rows cut at the last reward (the planted bug)" \
        else rewards.shape[0] - k + 1
    out = torch.stack([(rewards[p:p + k] * discounts[:len(rewards[p:p + k]), None]).sum(0)
                       for p in range(last)])
    if mistake == "summed over envs":
        return out.sum(1)
    return out


def goal_from_rewards(positions, rewards, mistake=""):
    p, r = np.asarray(positions, float), np.asarray(rewards, float)
    if mistake == "the best sample":
        return p[np.argmax(r)]
    if mistake == "reward-weighted mean":
        return (p * r[:, None]).sum(0) / r.sum()
    keep = r < 0.999
    p, r = p[keep], r[keep]
    s = np.sqrt(1 / r) / 3 if mistake == "1/r, not 1/r - 1" else np.sqrt(1 / r - 1) / 3
    radius = 0.0 if mistake == "radius left out" else 0.05
    design = np.column_stack([2 * p, -np.ones(len(p)), 2 * radius * s, s**2])
    x, *_ = np.linalg.lstsq(design, (p**2).sum(1) - radius**2, rcond=None)
    g, m = x[:3], max(x[4], 0.05)
    if mistake == "linear solve only":
        return g
    for _ in range(10):
        offset = p - g
        d = np.linalg.norm(offset, axis=1) + 1e-12
        jacobian = np.column_stack([-offset / d[:, None], -s])
        step, *_ = np.linalg.lstsq(jacobian, -(d - radius - m * s), rcond=None)
        step = -step if mistake == "Gauss-Newton step with the wrong sign" else step
        g, m = g + step[:3], m + step[3]
    return g


def probe_error(states, goals, ridge, mistake=""):
    split = len(goals) // 2
    errors = []
    for t in range(states.shape[1]):
        x = states[:, t] if mistake == "no bias" else np.concatenate(
            [states[:, t], np.ones((len(goals), 1))], axis=1)
        lam = 0.0 if mistake == "no ridge" else ridge
        fit = slice(None) if mistake == "fitted on every trial" else slice(None, split)
        w = np.linalg.solve(x[fit].T @ x[fit] + lam * np.eye(x.shape[1]), x[fit].T @ goals[fit])
        score = slice(None) if mistake == "scored on every trial (the planted bug)" else \
            slice(split, None)
        difference = x[score] @ w - goals[score]
        if mistake == "squared distance":
            errors.append((difference**2).sum(1).mean())
        elif mistake == "mean absolute coordinate":
            errors.append(np.abs(difference).mean())
        else:
            errors.append(np.linalg.norm(difference, axis=1).mean())
    return np.array(errors)


def seed_interval(success, mistake=""):
    axis_values = success.mean(axis=0) if mistake == "interval over tasks" else \
        success.mean(axis=1)
    n = len(axis_values)
    ddof = 0 if mistake == "ddof 0" else 1
    quantile = 1.96 if mistake == "1.96 instead of Student's t" else {
        2: 12.706, 3: 4.303, 5: 2.776}.get(n, 2.0)
    half = quantile * axis_values.std(ddof=ddof) / (1 if mistake == "no square root of S"
                                                    else np.sqrt(n))
    if mistake == "the whole width":
        half = 2 * half
    mean = success[0].mean() if mistake == "mean of the first seed" else success.mean()
    return float(mean), float(half)


# ----------------------------------------------------------------------------- find the bug


def ssm_recurrence(A_bar, B_bar, C, u, mistake=""):
    h = torch.zeros_like(A_bar)
    ys = []
    for u_t in u:
        if mistake == "output read before the update (the planted bug)":
            ys.append((C * h).sum())
        if mistake == "state not carried":
            h = B_bar * u_t
        elif mistake == "decay after the input":
            h = A_bar * (h + B_bar * u_t)
        elif mistake == "B_bar left out":
            h = A_bar * h + u_t
        else:
            h = A_bar * h + B_bar * u_t
        if mistake != "output read before the update (the planted bug)":
            ys.append((C.conj() * h).sum() if mistake == "conjugated C" else (C * h).sum())
    y = torch.stack(ys)
    return y.real if mistake == "real part only" else y


def multi_step_adapt(model, params, x, y, inner_lr, steps, mistake=""):
    fast = dict(params)
    for _ in range(1 if mistake == "one step whatever steps" else steps):
        at = params if mistake == "every gradient at theta_0 (the planted bug)" else fast
        out = functional_call(model, at, (x,))
        loss = ((out - y) ** 2).sum() if mistake == "sum, not mean" else ((out - y) ** 2).mean()
        graph = mistake != "inner gradients detached"
        grads = torch.autograd.grad(loss, list(at.values()), create_graph=graph)
        lr = inner_lr / steps if mistake == "inner_lr split over the steps" else inner_lr
        sign = -1.0 if mistake == "gradient ascent" else 1.0
        fast = {n: w - sign * lr * g for (n, w), g in zip(fast.items(), grads, strict=True)}
    return fast


def discounted_returns(rewards, dones, gamma, mistake=""):
    not_done = 1.0 - dones.to(rewards.dtype)
    if mistake == "episode ends ignored (the planted bug)":
        not_done = torch.ones_like(not_done)
    if mistake == "done of the next step":
        not_done = torch.cat([not_done[1:], torch.ones_like(not_done[:1])])
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    order = range(rewards.shape[0]) if mistake == "forward loop" else reversed(
        range(rewards.shape[0]))
    for t in order:
        reward = gamma * rewards[t] if mistake == "reward discounted too" else rewards[t]
        running = reward + gamma * not_done[t] * running
        if mistake == "done zeroes the reward":
            running = not_done[t] * running
        returns[t] = running
    return returns


def trailing_mean(errors, width, mistake=""):
    out = np.empty(len(errors))
    for k in range(len(errors)):
        lo, hi = max(0, k - width + 1), k + 1
        if mistake == "centred window (the planted bug)":
            lo, hi = max(0, k - width // 2), k + width // 2 + 1
        elif mistake == "current step left out":
            lo, hi = max(0, k - width), max(k, 1)
        elif mistake == "one step too many":
            lo = max(0, k - width)
        elif mistake == "looks ahead":
            lo, hi = k, k + width
        elif mistake == "cumulative mean":
            lo = 0
        window = errors[lo:hi]
        out[k] = window.sum() / width if mistake == "divides by width at the start" \
            else window.mean()
    return out


# ----------------------------------------------------------------------------- larger exercises


def s4d_convolution(A, C, dt, u, mistake=""):
    step = torch.ones_like(dt) if mistake == "dt ignored" else dt
    A_bar = torch.exp(step[:, None] * A)
    B_bar = step[:, None] + 0 * A if mistake == "Euler B_bar = dt" else (A_bar - 1) / A
    L = u.shape[1]
    powers = A_bar[..., None] ** torch.arange(L, dtype=torch.float64)  # (H, N, L)
    if mistake == "kernel shifted by one":
        powers = powers * A_bar[..., None]
    K = ((C * B_bar)[..., None] * powers).sum(1)  # (H, L) complex
    K = K.real if mistake == "Re without the 2" else 2 * K.real
    n = L if mistake == "no zero padding (circular)" else 2 * L
    y = torch.fft.irfft(torch.fft.rfft(u, n=n, dim=1) * torch.fft.rfft(K.T, n=n, dim=0), n=n,
                        dim=1)[:, :L]
    return y.to(torch.complex128) if mistake == "complex output" else y


def maml_meta_gradient(model, params, tasks, inner_lr, mistake=""):
    losses = []
    for sx, sy, qx, qy in tasks:
        if mistake == "support and query swapped":
            sx, sy, qx, qy = qx, qy, sx, sy
        support = ((functional_call(model, params, (sx,)) - sy) ** 2).mean()
        grads = torch.autograd.grad(support, list(params.values()),
                                    create_graph=mistake != "first order")
        lr = {"no inner step": 0.0, "inner step ascends": -inner_lr}.get(mistake, inner_lr)
        fast = {n: w - lr * g for (n, w), g in zip(params.items(), grads, strict=True)}
        data = (sx, sy) if mistake == "support loss at the fast weights" else (qx, qy)
        losses.append(((functional_call(model, fast, (data[0],)) - data[1]) ** 2).mean())
    meta = torch.stack(losses).sum() if mistake == "sum over tasks" else torch.stack(losses).mean()
    return dict(zip(params, torch.autograd.grad(meta, list(params.values())), strict=True))


def bandit_reinforce(pull, k, iterations, lr, mistake=""):
    logits = torch.zeros(k, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=lr * 1e-3 if mistake == "lr 1000x too small" else lr)
    for _ in range(iterations):
        dist = torch.distributions.Categorical(logits=logits)
        arms = dist.sample((64,))
        rewards = pull(arms)
        if mistake == "rewards of other arms":
            rewards = rewards[torch.randperm(64)]
        sign = 1.0 if mistake == "minus sign left out" else -1.0
        loss = sign * (dist.log_prob(arms) * (rewards - rewards.mean())).mean()
        optimizer.zero_grad()
        loss.backward()
        if mistake != "no optimizer step":
            optimizer.step()
    if mistake == "probabilities, not logits":
        return torch.softmax(logits.detach(), 0)
    return logits.detach()


def online_forecast(model, params, inputs, targets, lr, window, mistake=""):
    start = {n: p.detach().clone() for n, p in params.items()}
    weights = dict(start)
    predictions = []
    for t in range(inputs.shape[0]):
        lo = 0 if mistake == "whole history" else max(0, t - window + 1)
        hi = t if mistake == "window ends before t" else t + 1
        if mistake == "update before predicting":
            weights = _sgd(model, weights, inputs[lo:hi], targets[lo:hi], lr, mistake)
        with torch.no_grad():
            predictions.append(functional_call(model, weights, (inputs[t],)))
        if mistake == "update before predicting":
            continue
        base = start if mistake == "each update from the initial weights" else weights
        weights = _sgd(model, base, inputs[lo:hi], targets[lo:hi], lr, mistake) if hi > lo \
            else base
    return torch.stack(predictions)


def _sgd(model, weights, x, y, lr, mistake):
    w = {n: v.detach().requires_grad_() for n, v in weights.items()}
    error = (functional_call(model, w, (x,)) - y) ** 2
    loss = error.sum() if mistake == "sum, not mean" else error.mean()
    grads = torch.autograd.grad(loss, list(w.values()))
    return {n: (v - lr * g).detach() for (n, v), g in zip(w.items(), grads, strict=True)}


def ssd_mask(log_a, mistake=""):
    cumulative = log_a.cumsum(0)
    segsum = cumulative[:, None] - cumulative[None, :]
    if mistake == "a_s included (the planted bug)":
        segsum = segsum + log_a[None, :]
    if mistake == "decay from step 0":
        segsum = cumulative[:, None].expand(-1, len(log_a))
    causal = torch.ones(len(log_a), len(log_a), dtype=torch.bool).tril()
    if mistake == "strictly lower":
        causal = causal.tril(-1)
    if mistake == "transposed":
        return torch.where(causal, torch.exp(segsum), 0.0).T
    if mistake == "no causal mask":
        return torch.exp(segsum)
    if mistake == "no decay":
        return causal.to(log_a.dtype)
    return torch.where(causal, torch.exp(segsum), 0.0)


def ssd_chunked_head(x, log_a, B, C, chunk, mistake=""):
    h = x.new_zeros(x.shape[1], B.shape[1])
    ys = []
    for start in range(0, x.shape[0], chunk):
        if mistake == "last partial chunk dropped" and start + chunk > x.shape[0]:
            break
        xc, lc, Bc, Cc = (v[start:start + chunk] for v in (x, log_a, B, C))
        cum = lc.cumsum(0)
        causal = torch.ones(len(lc), len(lc), dtype=torch.bool).tril()
        if mistake == "no causal mask in the chunk":
            causal = torch.ones_like(causal)
        mask = torch.where(causal, torch.exp(cum[:, None] - cum[None, :]), 0.0)
        if mistake == "scores B C^T":
            y_diag = (mask * (Bc @ Cc.T)) @ xc
        else:
            y_diag = (mask * (Cc @ Bc.T)) @ xc
        decay_in = torch.ones_like(cum) if mistake == "carried state not decayed" else torch.exp(cum)
        y_off = decay_in[:, None] * (Cc @ h.T)
        ys.append(y_diag if mistake == "no state between chunks" else y_diag + y_off)
        to_end = torch.exp(cum[-1] - cum)
        if mistake == "inputs not decayed to the chunk end":
            to_end = torch.ones_like(to_end)
        carried = h if mistake == "old state not decayed across the chunk" else torch.exp(cum[-1]) * h
        h = carried + (to_end[:, None] * xc).T @ Bc
    return torch.cat(ys)


# ----------------------------------------------------------------------------- the table

GOOD: dict[Callable[..., None], Callable[..., Any]] = {
    check_euler_step: euler_step,
    check_discretize_zoh_diagonal: discretize_zoh,
    check_ssm_kernel: ssm_kernel,
    check_scan_step: scan_step,
    check_inner_step: inner_step,
    check_first_order_meta_grad: first_order_meta_grad,
    check_reptile_update: reptile_update,
    check_gae: gae,
    check_ssm_recurrence: ssm_recurrence,
    check_ssd_mask: ssd_mask,
    check_ssd_chunked_head: ssd_chunked_head,
    check_multi_step_adapt: multi_step_adapt,
    check_discounted_returns: discounted_returns,
    check_trailing_mean: trailing_mean,
    check_s4d_convolution: s4d_convolution,
    check_maml_meta_gradient: maml_meta_gradient,
    check_bandit_reinforce: bandit_reinforce,
    check_online_forecast: online_forecast,
    check_pg_surrogate: pg_surrogate,
    check_ucb1_choice: ucb1_choice,
    check_predict_then_update_step: predict_then_update,
    check_recovery_time: recovery_time,
    check_ttt_identity_step: ttt_gradient_step,
    check_recurrent_inner_step: recurrent_inner_step,
    check_trial_starts: trial_starts,
    check_ucb_policy_choice: ucb_policy_choice,
    check_episode_successes: episode_successes,
    check_reach_controller: reach_controller,
    check_seed_interval: seed_interval,
    check_window_returns: window_returns,
    check_ucb_over_policies: ucb_over_policies,
    check_probe_error: probe_error,
    check_goal_from_rewards: goal_from_rewards,
}

VALUES = r"values differ, max \|got - expected\| = \S+ at index"
MISTAKES: list[tuple[Callable[..., None], str, str]] = [
    # checker, mistake, what the message must say
    (check_euler_step, "state not carried over", rf"euler_step: {VALUES}.*x_k \+ dt"),
    (check_euler_step, "dt multiplies only a x", rf"euler_step: {VALUES}.*Hint"),
    (check_euler_step, "wrong sign", rf"euler_step: {VALUES}"),
    (check_euler_step, "a and b swapped", rf"euler_step: {VALUES}"),
    (check_euler_step, "backward Euler", rf"euler_step: {VALUES}"),
    (check_euler_step, "exact exponential step", rf"euler_step: {VALUES}"),

    (check_discretize_zoh_diagonal, "Euler A_bar", rf"A_bar \(complex S4D-Lin A.*{VALUES}"),
    (check_discretize_zoh_diagonal, "Euler B_bar", rf"B_bar \(complex S4D-Lin A.*{VALUES}"),
    (check_discretize_zoh_diagonal, "B_bar without B", rf"B_bar \(complex.*{VALUES}.*\* B"),
    (check_discretize_zoh_diagonal, "B_bar divided by dt A", rf"B_bar \(complex.*{VALUES}"),
    (check_discretize_zoh_diagonal, "B_bar sign flipped", rf"B_bar \(complex.*{VALUES}"),
    (check_discretize_zoh_diagonal, "bilinear instead of ZOH", rf"A_bar \(complex.*{VALUES}"),
    (check_discretize_zoh_diagonal, "dt left out of the exponential",
     rf"A_bar \(complex.*{VALUES}.*exp\(dt \* A\)"),
    (check_discretize_zoh_diagonal, "real part of A only",
     r"A_bar \(complex.*expected a complex tensor"),
    (check_discretize_zoh_diagonal, "pair swapped", rf"A_bar \(complex.*{VALUES}"),

    (check_ssm_kernel, "powers start at 1", rf"K: {VALUES}.*K_0 = sum C\*B_bar"),
    (check_ssm_kernel, "only L - 1 powers", r"K: wrong shape, expected \(32,\), got \(31,\)"),
    (check_ssm_kernel, "C left out", rf"K: {VALUES}"),
    (check_ssm_kernel, "B_bar left out", rf"K: {VALUES}"),
    (check_ssm_kernel, "C conjugated", rf"K: {VALUES}"),
    (check_ssm_kernel, "summed over time, not modes",
     r"K: wrong shape, expected \(32,\), got \(8,\)"),
    (check_ssm_kernel, "real part taken", r"K: expected a complex tensor"),
    (check_ssm_kernel, "kernel reversed", rf"K: {VALUES}"),

    (check_scan_step, "reset ignored", rf"h_t: {VALUES} \((1|3), .*reset_t True"),
    (check_scan_step, "reset inverted", rf"h_t: {VALUES}"),
    (check_scan_step, "reset on the wrong axis", r"scan_step: your function raised .*size"),
    (check_scan_step, "reset zeroes the output instead of the input",
     rf"h_t: {VALUES} \((1|3), "),
    (check_scan_step, "reset starts from b_t", rf"h_t: {VALUES} \((1|3), "),
    (check_scan_step, "a_t and b_t swapped", rf"h_t: {VALUES}"),
    (check_scan_step, "a_t scales b_t too", rf"h_t: {VALUES}"),

    (check_inner_step, "gradient ascent", rf"inner_step\['[\w.]+'\]: {VALUES}"),
    (check_inner_step, "sum of squares, not mean", rf"inner_step\['[\w.]+'\]: {VALUES}"),
    (check_inner_step, "half the MSE", rf"inner_step\['[\w.]+'\]: {VALUES}"),
    (check_inner_step, "inner_lr left out", rf"inner_step\['[\w.]+'\]: {VALUES}"),
    (check_inner_step, "two inner steps", rf"inner_step\['[\w.]+'\]: {VALUES}"),
    (check_inner_step, "fast weights detached", r"inner_step: the fast weights are detached"),
    (check_inner_step, "inner gradient not differentiable",
     r"meta-gradient through inner_step .*second-order term is missing"),

    (check_first_order_meta_grad, "no adaptation",
     rf"first_order_meta_grad\['[\w.]+'\]: {VALUES}.*FAST weights"),
    (check_first_order_meta_grad, "support loss at the fast weights",
     rf"first_order_meta_grad\['[\w.]+'\]: {VALUES}.*QUERY loss"),
    (check_first_order_meta_grad, "adapted on the query set",
     rf"first_order_meta_grad\['[\w.]+'\]: {VALUES}"),
    (check_first_order_meta_grad, "inner gradient ascent",
     rf"first_order_meta_grad\['[\w.]+'\]: {VALUES}"),
    (check_first_order_meta_grad, "fast weights returned",
     rf"first_order_meta_grad\['[\w.]+'\]: {VALUES}"),
    (check_first_order_meta_grad, "sum query loss",
     rf"first_order_meta_grad\['[\w.]+'\]: {VALUES}"),
    (check_first_order_meta_grad, "second-order gradient",
     rf"first_order_meta_grad\['[\w.]+'\]: {VALUES}"),

    (check_reptile_update, "sum, not mean", rf"reptile_update\['[\w.]+'\]: {VALUES}.*not a sum"),
    (check_reptile_update, "divided by T - 1", rf"reptile_update\['[\w.]+'\]: {VALUES}"),
    (check_reptile_update, "epsilon left out", rf"reptile_update\['[\w.]+'\]: {VALUES}"),
    (check_reptile_update, "away from the fast weights", rf"reptile_update\['[\w.]+'\]: {VALUES}"),
    (check_reptile_update, "last task only", rf"reptile_update\['[\w.]+'\]: {VALUES}"),
    (check_reptile_update, "theta not subtracted", rf"reptile_update\['[\w.]+'\]: {VALUES}"),

    (check_gae, "episode ends ignored", rf"gae \(lam=0.95\): {VALUES}.*d_t = 1 stops both"),
    (check_gae, "ends cut only the bootstrap", rf"gae \(lam=0.95\): {VALUES}"),
    (check_gae, "ends cut only the trace", rf"gae \(lam=0.95\): {VALUES}"),
    (check_gae, "done of the next step", rf"gae \(lam=0.95\): {VALUES}"),
    (check_gae, "lambda left out", rf"gae \(lam=0.95\): {VALUES}"),
    (check_gae, "gamma left out", rf"gae \(lam=0.95\): {VALUES}"),
    (check_gae, "always bootstraps from last_value", rf"gae \(lam=0.95\): {VALUES}"),
    (check_gae, "forward loop", rf"gae \(lam=0.95\): {VALUES}"),
    (check_gae, "returns, not advantages", rf"gae \(lam=0.95\): {VALUES}"),

    (check_pg_surrogate, "minus sign left out", r"pg_surrogate: values differ.*minus sign"),
    (check_pg_surrogate, "sum, not mean", r"pg_surrogate: values differ.*mean\(\)"),
    (check_pg_surrogate, "mean over time only", r"pg_surrogate: wrong shape, expected \(\)"),
    (check_pg_surrogate, "probabilities, not log-probs", r"pg_surrogate: values differ"),
    (check_pg_surrogate, "advantages normalised", r"pg_surrogate: values differ"),
    (check_pg_surrogate, "log_probs detached", r"pg_surrogate: the loss does not depend"),
    (check_pg_surrogate, "returns a float (.item())", r"pg_surrogate: the loss does not depend"),

    (check_ucb1_choice, "without the factor 2", r"ucb1_choice: with counts=.*expected arm"),
    (check_ucb1_choice, "ln(t + 1)", r"ucb1_choice: with counts=.*expected arm"),
    (check_ucb1_choice, "log10 t", r"ucb1_choice: with counts=.*expected arm"),
    (check_ucb1_choice, "bonus over n, not sqrt(n)", r"ucb1_choice: with counts=.*expected arm"),
    (check_ucb1_choice, "no bonus (greedy)", r"ucb1_choice: with counts=.*expected arm"),
    (check_ucb1_choice, "total successes, not mean", r"ucb1_choice: with counts=.*expected arm"),
    (check_ucb1_choice, "argmin", r"ucb1_choice: with counts=.*expected arm"),
    (check_ucb1_choice, "untried arms not first", r"ucb1_choice: .*untried arm .* first"),

    (check_predict_then_update_step, "prediction after the update",
     r"predict_then_update prediction: values differ.*weights AFTER the update"),
    (check_predict_then_update_step, "prediction from the previous input",
     r"predict_then_update prediction: values differ"),
    (check_predict_then_update_step, "window ends before t",
     r"predict_then_update new_params\['[\w.]+'\]: values differ.*t - window \+ 1 \.\. t"),
    (check_predict_then_update_step, "window one step too long",
     r"predict_then_update new_params\['[\w.]+'\]: values differ"),
    (check_predict_then_update_step, "revealed target left out",
     r"predict_then_update new_params\['[\w.]+'\]: values differ"),
    (check_predict_then_update_step, "whole history",
     r"predict_then_update new_params\['[\w.]+'\]: values differ"),
    (check_predict_then_update_step, "newest transition only",
     r"predict_then_update new_params\['[\w.]+'\]: values differ"),
    (check_predict_then_update_step, "sum, not mean",
     r"predict_then_update new_params\['[\w.]+'\]: values differ.*mean"),
    (check_predict_then_update_step, "gradient ascent",
     r"predict_then_update new_params\['[\w.]+'\]: values differ"),

    (check_recovery_time, "smoothing ignored", r"recovery_time \(noisy recovery.*expected \d"),
    (check_recovery_time, "k counted from 1", r"recovery_time \(exponential recovery.*count k"),
    (check_recovery_time, "strict <",
     r"recovery_time \(smoothed error lands exactly on the bar.*at most that, <="),
    (check_recovery_time, "level over all pre-switch errors",
     r"recovery_time \(high errors before the window.*expected 6.0, got 0.0.*the `before` errors"),
    (check_recovery_time, "level window shifted by one",
     r"recovery_time \(.*the `before` errors just before the switch"),
    (check_recovery_time, "level includes the switch step",
     r"recovery_time \(exponential recovery.*the `before` errors just before the switch"),
    (check_recovery_time, "smoothing reaches before the switch",
     r"recovery_time \(high errors before the window.*expected 6.0, got 0.0.*post-switch errors"),
    (check_recovery_time, "forward-looking smoothing",
     r"recovery_time \(noisy recovery.*smoothing=4\).*smooth only over post-switch errors"),
    (check_recovery_time, "-1 when it never recovers",
     r"recovery_time \(no recovery.*expected nan, got -1"),
    (check_recovery_time, "None when it never recovers",
     r"recovery_time \(no recovery\): expected a number, got NoneType"),

    (check_ttt_identity_step, "factor 2 (no 1/2 in the loss)",
     rf"ttt_gradient_step \(from a random W, lr = 0.3\): {VALUES}.*1/2 \|\|W k - v\|\|"),
    (check_ttt_identity_step, "gradient ascent", rf"ttt_gradient_step \(from a random W.*{VALUES}"),
    (check_ttt_identity_step, "transposed outer product",
     r"ttt_gradient_step: your function raised RuntimeError: The size of tensor a \(4\)"),
    (check_ttt_identity_step, "linear-attention update only",
     rf"ttt_gradient_step \(from a random W.*{VALUES}"),
    (check_ttt_identity_step, "lr left out", rf"ttt_gradient_step \(from a random W.*{VALUES}"),
    (check_ttt_identity_step, "key normalised", rf"ttt_gradient_step \(from a random W.*{VALUES}"),

    (check_recurrent_inner_step, "gradient ascent",
     rf"recurrent_inner_step\['[\w.]+'\] \(ssd core\): {VALUES}"),
    (check_recurrent_inner_step, "mask ignored",
     rf"recurrent_inner_step\['[\w.]+'\] \(ssd core\): {VALUES}.*mask"),
    (check_recurrent_inner_step, "mean over every row",
     rf"recurrent_inner_step\['[\w.]+'\] \(ssd core\): {VALUES}.*mask.sum\(\)"),
    (check_recurrent_inner_step, "sum, not mean",
     rf"recurrent_inner_step\['[\w.]+'\] \(ssd core\): {VALUES}"),
    (check_recurrent_inner_step, "advantages normalised again",
     rf"recurrent_inner_step\['[\w.]+'\] \(ssd core\): {VALUES}"),
    (check_recurrent_inner_step, "memory never reset",
     rf"recurrent_inner_step\['[\w.]+'\] \(selective core, two trials per env\): {VALUES}"
     r".*memory reset at rollout.starts"),
    (check_recurrent_inner_step, "no memory (reset at every step)",
     rf"recurrent_inner_step\['[\w.]+'\] \(ssd core\): {VALUES}"),
    (check_recurrent_inner_step, "memory reset at every episode",
     rf"recurrent_inner_step\['[\w.]+'\] \(ssd core\): {VALUES}"),
    (check_recurrent_inner_step, "stored log-probs of the rollout",
     r"recurrent_inner_step: your function raised RuntimeError"),
    (check_recurrent_inner_step, "critic head left out of the result",
     r"recurrent_inner_step: return a dict with every parameter name"),

    (check_trial_starts, "row 0 not a start",
     r"trial_starts: wrong flags .*the first wrong one is row 0 of env 0: you do not start"),
    (check_trial_starts, "start on the autoreset row",
     r"trial_starts: wrong flags .*row 5 of env 0: you start a trial there.*autoreset row"),
    (check_trial_starts, "start right after the done row",
     r"trial_starts: wrong flags .*row 5 of env 0: you start a trial there"),
    (check_trial_starts, "episodes_per_trial ignored",
     r"trial_starts: wrong flags with episodes_per_trial=2 .*row 6 of env 0: you start"),
    (check_trial_starts, "count off by one",
     r"trial_starts: wrong flags with episodes_per_trial=2 .*row 6 of env 0: you start"),
    (check_trial_starts, "counted along the env axis",
     r"trial_starts: wrong flags with episodes_per_trial=2 .*the episodes this env finished"),
    (check_trial_starts, "episode ends pooled over envs",
     r"trial_starts: wrong flags with episodes_per_trial=2 \(envs 0-1 with episodes of 5 steps"),

    (check_ucb_policy_choice, "without the factor 2", r"ucb_policy_choice: .*expected \d+; the"),
    (check_ucb_policy_choice, "ln(t + 1)", r"ucb_policy_choice: .*expected \d+; the"),
    (check_ucb_policy_choice, "without the scale", r"ucb_policy_choice: .*expected \d+; the"),
    (check_ucb_policy_choice, "scale inside the square root",
     r"ucb_policy_choice: .*expected \d+; the"),
    (check_ucb_policy_choice, "bonus over n, not sqrt(n)",
     r"ucb_policy_choice: .*expected \d+; the"),
    (check_ucb_policy_choice, "no bonus (greedy)", r"ucb_policy_choice: .*expected \d+; the"),
    (check_ucb_policy_choice, "last untried policy",
     r"ucb_policy_choice: counts=\[3, 0, 0\].*untried policy comes first"),
    (check_ucb_policy_choice, "untried policies not first",
     r"ucb_policy_choice: .*untried policy comes first"),

    (check_episode_successes, "autoreset rows counted",
     r"episode_successes: wrong for .*env \d, episode \d is a success.*autoreset rows"),
    (check_episode_successes, "done row starts the next episode",
     r"episode_successes: wrong for .*a row belongs to episode k"),
    (check_episode_successes, "episodes as equal blocks of rows",
     r"episode_successes: wrong for 'env 0: episodes of 3 steps"),
    (check_episode_successes, "success anywhere in the rollout",
     r"episode_successes: wrong for .*episode \d is a success"),
    (check_episode_successes, "successful steps counted",
     r"episode_successes: wrong for .*env \d, episode \d"),
    (check_episode_successes, "success counted at the episode's last row only",
     r"episode_successes: wrong for .*is no success in your answer"),

    (check_reach_controller, "away from the goal",
     r"reach_controller: the hand never came within 5 cm of the goal of test task 0"),
    (check_reach_controller, "the goal slot of the observation",
     r"reach_controller: the hand never came within 5 cm"),
    (check_reach_controller, "no clipping", r"reach_controller: actions must be .*within"),
    (check_reach_controller, "no gripper number", r"reach_controller: the action must be 4"),
    (check_reach_controller, "a gain too small to arrive",
     r"reach_controller: the hand never came within 5 cm .* cm away"),

    (check_seed_interval, "interval over tasks",
     r"seed_interval: wrong half-width for 3 seeds x 20 tasks.*over seeds"),
    (check_seed_interval, "1.96 instead of Student's t",
     r"seed_interval: wrong half-width .*not 1.96"),
    (check_seed_interval, "ddof 0", r"seed_interval: wrong half-width .*ddof=1"),
    (check_seed_interval, "no square root of S", r"seed_interval: wrong half-width"),
    (check_seed_interval, "the whole width", r"seed_interval: wrong half-width"),
    (check_seed_interval, "mean of the first seed", r"seed_interval: wrong mean for 3 seeds"),

    (check_ucb_over_policies, "greedy (no bonus)", r"ucb_over_policies: trial \d+ chose policy"),
    (check_ucb_over_policies, "ln(j + 1)", r"ucb_over_policies: trial \d+ chose policy"),
    (check_ucb_over_policies, "without the factor 2", r"ucb_over_policies: trial \d+ chose"),
    (check_ucb_over_policies, "sums, not means", r"ucb_over_policies: trial \d+ chose policy"),
    (check_ucb_over_policies, "no rule for untried policies",
     r"ucb_over_policies: trial \d+ chose policy .*untried policy first"),
    (check_ucb_over_policies, "returns sorted", r"ucb_over_policies: the choices are right"),

    (check_window_returns, "rows cut at the last reward (the planted bug)",
     r"returns \(V=12, E=3, k=4, gamma=0.9\): wrong shape, expected \(9, 3\), got \(12, 3\)"),
    (check_window_returns, "window of k + 1 rewards", r"returns \(V=12.*wrong shape"),
    (check_window_returns, "discount from gamma^1", rf"returns \(V=12.*{VALUES}.*gamma\^j"),
    (check_window_returns, "no discount", rf"returns \(V=12.*{VALUES}"),
    (check_window_returns, "discounts reversed", rf"returns \(V=12.*{VALUES}"),
    (check_window_returns, "summed over envs", r"returns \(V=12.*wrong shape"),

    (check_goal_from_rewards, "the best sample", r"goal_from_rewards \(goal 1.*cm from the true"),
    (check_goal_from_rewards, "reward-weighted mean", r"goal_from_rewards \(goal 1.*from the true"),
    (check_goal_from_rewards, "1/r, not 1/r - 1", r"goal_from_rewards \(goal 1.*sqrt\(1 / r_i - 1\)"),
    (check_goal_from_rewards, "radius left out", r"goal_from_rewards \(goal 1.*0.05 \+ m s_i"),
    (check_goal_from_rewards, "linear solve only",
     r"goal_from_rewards: on held-out reach task \d the hand never came within 5 cm"),
    (check_goal_from_rewards, "Gauss-Newton step with the wrong sign",
     r"goal_from_rewards: on held-out reach task \d"),

    (check_probe_error, "scored on every trial (the planted bug)",
     r"probe_error \(G=20, T=3, F=8\): at step \d your error is .* lower than it should be.*OTHER"),
    (check_probe_error, "fitted on every trial", r"probe_error \(G=20, T=3, F=8\): .*lower"),
    (check_probe_error, "no bias", r"probe_error \(G=20, T=3, F=8\): at step"),
    (check_probe_error, "no ridge", r"probe_error \(G=20, T=3, F=8\): at step"),
    (check_probe_error, "squared distance", r"probe_error \(G=20, T=3, F=8\): .*lower"),
    (check_probe_error, "mean absolute coordinate", r"probe_error \(G=20, T=3, F=8\): at step"),

    (check_ssm_recurrence, "output read before the update (the planted bug)",
     rf"y \(N=4, L=12\): {VALUES}.*after u_t entered it"),
    (check_ssm_recurrence, "state not carried", rf"y \(N=4, L=12\): {VALUES}"),
    (check_ssm_recurrence, "decay after the input", rf"y \(N=4, L=12\): {VALUES}"),
    (check_ssm_recurrence, "B_bar left out", rf"y \(N=4, L=12\): {VALUES}"),
    (check_ssm_recurrence, "conjugated C", rf"y \(N=4, L=12\): {VALUES}"),
    (check_ssm_recurrence, "real part only", r"y \(N=4, L=12\): expected a complex tensor"),

    (check_ssd_mask, "a_s included (the planted bug)", rf"mask \(L=6\): {VALUES}.*diagonal is 1"),
    (check_ssd_mask, "decay from step 0", rf"mask \(L=6\): {VALUES}"),
    (check_ssd_mask, "strictly lower", rf"mask \(L=6\): {VALUES}.*diagonal is 1"),
    (check_ssd_mask, "transposed", rf"mask \(L=6\): {VALUES}.*above the diagonal"),
    (check_ssd_mask, "no causal mask", rf"mask \(L=6\): {VALUES}.*0 above the diagonal"),
    (check_ssd_mask, "no decay", rf"mask \(L=6\): {VALUES}"),

    (check_ssd_chunked_head, "no state between chunks",
     rf"y \(L=37, chunk=8\): {VALUES}.*what a chunk inherits"),
    (check_ssd_chunked_head, "carried state not decayed", rf"y \(L=37, chunk=8\): {VALUES}"),
    (check_ssd_chunked_head, "inputs not decayed to the chunk end",
     rf"y \(L=37, chunk=8\): {VALUES}"),
    (check_ssd_chunked_head, "old state not decayed across the chunk",
     rf"y \(L=37, chunk=8\): {VALUES}"),
    (check_ssd_chunked_head, "no causal mask in the chunk",
     rf"y \(one chunk: L=8, chunk=8\): {VALUES}.*s <= t"),
    (check_ssd_chunked_head, "scores B C^T", rf"y \(one chunk: L=8, chunk=8\): {VALUES}"),
    (check_ssd_chunked_head, "last partial chunk dropped",
     r"y \(L=37, chunk=8\): wrong shape, expected \(37, 3\), got \(32, 3\)"),

    (check_multi_step_adapt, "every gradient at theta_0 (the planted bug)",
     rf"multi_step_adapt \(steps=3\)\['[\w.]+'\]: {VALUES}.*CURRENT fast weights"),
    (check_multi_step_adapt, "one step whatever steps",
     rf"multi_step_adapt \(steps=3\)\['[\w.]+'\]: {VALUES}"),
    (check_multi_step_adapt, "sum, not mean",
     rf"multi_step_adapt \(steps=1\)\['[\w.]+'\]: {VALUES}"),
    (check_multi_step_adapt, "inner gradients detached",
     r"multi_step_adapt: the fast weights are detached|meta-gradient through 3 steps"),
    (check_multi_step_adapt, "inner_lr split over the steps",
     rf"multi_step_adapt \(steps=3\)\['[\w.]+'\]: {VALUES}"),
    (check_multi_step_adapt, "gradient ascent",
     rf"multi_step_adapt \(steps=1\)\['[\w.]+'\]: {VALUES}"),

    (check_discounted_returns, "episode ends ignored (the planted bug)",
     rf"returns \(gamma=0.9\): {VALUES}.*must not collect the rewards of the next episode"),
    (check_discounted_returns, "done of the next step", rf"returns \(gamma=0.9\): {VALUES}"),
    (check_discounted_returns, "forward loop", rf"returns \(gamma=0.9\): {VALUES}"),
    (check_discounted_returns, "reward discounted too", rf"returns \(gamma=0.9\): {VALUES}"),
    (check_discounted_returns, "done zeroes the reward", rf"returns \(gamma=0.9\): {VALUES}"),

    (check_trailing_mean, "centred window (the planted bug)",
     rf"smoothed errors \(width=4\): {VALUES}.*never a later one"),
    (check_trailing_mean, "current step left out", rf"smoothed errors \(width=1\): {VALUES}"),
    (check_trailing_mean, "one step too many", rf"smoothed errors \(width=1\): {VALUES}"),
    (check_trailing_mean, "looks ahead", rf"smoothed errors \(width=4\): {VALUES}"),
    (check_trailing_mean, "cumulative mean", rf"smoothed errors \(width=1\): {VALUES}"),
    (check_trailing_mean, "divides by width at the start",
     rf"smoothed errors \(width=4\): {VALUES}"),

    (check_s4d_convolution, "no zero padding (circular)",
     rf"y \(H=2, N=4, L=16\): {VALUES}.*CIRCULAR"),
    (check_s4d_convolution, "Euler B_bar = dt", rf"y \(H=2, N=4, L=16\): {VALUES}.*ZOH"),
    (check_s4d_convolution, "Re without the 2", rf"y \(H=2, N=4, L=16\): {VALUES}.*2 Re"),
    (check_s4d_convolution, "dt ignored", rf"y \(H=2, N=4, L=16\): {VALUES}.*exp\(dt A\)"),
    (check_s4d_convolution, "kernel shifted by one", rf"y \(H=2, N=4, L=16\): {VALUES}"),
    (check_s4d_convolution, "complex output", r"s4d_convolution \(H=2.*expected a real y"),

    (check_maml_meta_gradient, "first order",
     rf"maml_meta_gradient \(3 tasks\)\['[\w.]+'\]: {VALUES}.*create_graph=True"),
    (check_maml_meta_gradient, "sum over tasks",
     rf"maml_meta_gradient \(3 tasks\)\['[\w.]+'\]: {VALUES}.*average"),
    (check_maml_meta_gradient, "no inner step",
     rf"maml_meta_gradient \(3 tasks\)\['[\w.]+'\]: {VALUES}"),
    (check_maml_meta_gradient, "inner step ascends",
     rf"maml_meta_gradient \(3 tasks\)\['[\w.]+'\]: {VALUES}"),
    (check_maml_meta_gradient, "support and query swapped",
     rf"maml_meta_gradient \(3 tasks\)\['[\w.]+'\]: {VALUES}.*SUPPORT"),
    (check_maml_meta_gradient, "support loss at the fast weights",
     rf"maml_meta_gradient \(3 tasks\)\['[\w.]+'\]: {VALUES}.*QUERY"),

    (check_bandit_reinforce, "minus sign left out",
     r"bandit_reinforce \(bandit 0, \d+ pulls\): the trained policy earns .*within 0.05"),
    (check_bandit_reinforce, "no optimizer step",
     r"bandit_reinforce \(bandit 0, \d+ pulls\): the trained policy earns"),
    (check_bandit_reinforce, "lr 1000x too small",
     r"bandit_reinforce \(bandit 0, \d+ pulls\): the trained policy earns"),
    (check_bandit_reinforce, "rewards of other arms",
     r"bandit_reinforce \(bandit 0, \d+ pulls\): the trained policy earns"),
    (check_bandit_reinforce, "probabilities, not logits",
     r"bandit_reinforce \(bandit 0, \d+ pulls\): the trained policy earns"),

    (check_online_forecast, "update before predicting",
     rf"online_forecast predictions \(30 steps.*{VALUES}.*CURRENT weights"),
    (check_online_forecast, "window ends before t",
     rf"online_forecast predictions \(30 steps.*{VALUES}"),
    (check_online_forecast, "whole history", rf"online_forecast predictions \(30 steps.*{VALUES}"),
    (check_online_forecast, "each update from the initial weights",
     rf"online_forecast predictions \(30 steps.*{VALUES}.*carry on"),
    (check_online_forecast, "sum, not mean", rf"online_forecast predictions \(30 steps.*{VALUES}"),
]


def _id(checker: Callable[..., None], mistake: str) -> str:
    slug = re.sub(r"\W+", "_", mistake).strip("_")
    return f"{checker.__name__.removeprefix('check_')}-{slug}"


def _spy(good: Callable[..., Any], mistake: str) -> tuple[Callable[..., Any], list[Any]]:
    """The wrong solution, which also records the correct answer on the checker's inputs."""
    answers: list[Any] = []

    def wrong(*args: Any) -> Any:
        # on a copy: an input with state (a seeded play(i) of check_ucb_over_policies) must
        # reach the wrong solution as the checker handed it over
        answers.append(good(*copy.deepcopy(args)))
        return good(*args, mistake=mistake)

    return wrong, answers


def _entries(answer: Any) -> list[float | complex]:
    """The non-integer numbers of an answer (a tensor, a dict or tuple of them, a float)."""
    if isinstance(answer, Mapping):
        return [v for value in answer.values() for v in _entries(value)]
    if isinstance(answer, (tuple, list)):
        return [v for value in answer for v in _entries(value)]
    values = torch.as_tensor(answer).detach().flatten().tolist()
    return [v for v in values if isinstance(v, complex) or (isinstance(v, float)
                                                             and math.isfinite(v) and v != int(v))]


def _answer_entries_shown(message: str, answers: list[Any]) -> set[str]:
    """The distinct entries of the correct answers that the message prints (``.6g``)."""
    shown_by_checker = re.sub(r"got [^,;)]*", "", message)  # the student's own value is fine
    shown = set()
    for value in (v for answer in answers for v in _entries(answer)):
        text = f"{value:.6g}"
        if re.search(rf"(?<![\d.]){re.escape(text)}(?![\d])", shown_by_checker):
            shown.add(text)
    return shown


def test_every_public_checker_but_the_ssd_one_is_in_the_table():
    public = {getattr(exercises, name) for name in exercises.__all__ if name.startswith("check_")}
    assert public - {exercises.check_ssd_chunk_state} == set(GOOD)


@pytest.mark.parametrize("checker", list(GOOD), ids=[c.__name__ for c in GOOD])
def test_checker_accepts_a_correct_solution(checker, capsys):
    checker(GOOD[checker])
    assert "\u2713" in capsys.readouterr().out


@pytest.mark.parametrize("checker", list(GOOD), ids=[c.__name__ for c in GOOD])
def test_checker_is_tried_on_at_least_five_plausible_mistakes(checker):
    assert sum(c is checker for c, _, _ in MISTAKES) >= 5


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on a wrong solution's empty slice
@pytest.mark.parametrize("checker, mistake, message", MISTAKES,
                         ids=[_id(c, m) for c, m, _ in MISTAKES])
def test_checker_rejects_a_plausible_mistake(checker, mistake, message, capsys):
    wrong, answers = _spy(GOOD[checker], mistake)
    with pytest.raises(ExerciseCheckFailed, match=message) as failure:
        checker(wrong)
    assert "\u2713" not in capsys.readouterr().out
    shown = _answer_entries_shown(str(failure.value), answers)
    assert len(shown) <= 1, f"the message shows {len(shown)} entries of the answer: {failure.value}"


def _forbidden_functions(checker) -> list[Callable[..., Any]]:
    import inspect

    functions = []
    for target in checker.forbidden:
        if inspect.ismodule(target):
            functions += [f for f in vars(target).values()
                          if inspect.isfunction(f) and f.__module__ == target.__name__][:1]
        elif inspect.isclass(target):
            functions.append(target.__init__)
        else:
            functions.append(target)
    return functions


@pytest.mark.parametrize("checker", list(GOOD), ids=[c.__name__ for c in GOOD])
def test_checker_refuses_a_solution_that_calls_the_library(checker, capsys):
    """A correct answer that also calls the code under exercise is refused, naming that code.

    The cheat calls the library function (with None for every required
    argument, so it fails at once) and then returns the correct answer: the
    call alone must be caught.
    """
    import inspect

    if checker in (check_euler_step, check_trial_starts):
        # no library function to hand the work to: a one-line formula, and flags that
        # collect_rollouts computes inline (the checker compares with recorded rollouts)
        assert checker.forbidden == ()
        return
    assert checker.forbidden, f"{checker.__name__} names no library code it refuses"
    for library in _forbidden_functions(checker):
        required = [p for p in inspect.signature(library).parameters.values()
                    if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        dummies = [None] * sum(p.kind != p.KEYWORD_ONLY for p in required)
        keywords = {p.name: None for p in required if p.kind == p.KEYWORD_ONLY}

        def cheat(*args, _library=library, _dummies=dummies, _keywords=keywords, **kwargs):
            try:
                _library(*_dummies, **_keywords)
            except Exception:  # noqa: BLE001 - only the call matters
                pass
            return GOOD[checker](*args, **kwargs)

        with pytest.raises(ExerciseCheckFailed, match=rf"calls {library.__module__}\.\S+, the "
                                                      "library code"):
            checker(cheat)
        assert "\u2713" not in capsys.readouterr().out
