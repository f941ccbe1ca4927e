"""Benchmark: a recurrent RL^2 policy acting step by step vs in sequence mode over whole trials.

Setup: bandit trials (k = 5 arms, observation 8 features), B = 64 trials of
L = 100 and L = 500 pulls, memory reset at the start of each trial, policy
width H = 64 (SSM state N = 16). Policies: :class:`SSMMetaPolicy` on every
core of :mod:`ssm_metarl.cores` (selective, ssd, s4d, linear, gru; ``--cores``
picks some) and :class:`GRUPolicy`, side by side in one process with the same
inputs and threads:

- ``step``: ``policy.step`` called L times, as when acting (and, with
  backward, BPTT through the unrolled loop).
- ``sequence``: one ``policy(x, reset=...)`` call, as in PPO's update
  (each core's sequence mode: the chunked scan, the chunked SSD, the dense
  loop, ``nn.GRU`` on the pieces between resets).

"forward" runs under ``torch.no_grad``; "forward+backward" backpropagates the
sum of the log-probs of fixed actions and the values. Within one (L, pass)
cell every policy and mode is timed in turn, repeat after repeat, so a shared
CPU's load swings hit all alike. The last column is GRUPolicy's sequence time
over this row's sequence time (above 1: faster than the GRU baseline's
training pass).

Measured earlier on the shared 2-core course CPU (1 thread, medians of 10),
selective core only: step/sequence 1.0x forward and 1.2x forward+backward at
L = 100, 0.7x and 0.8x at L = 500 (the sequence mode is memory-bound: it
writes (B, L, H, N) tensors the step loop never holds); GRU 2.1-2.4x in
favour of ``nn.GRU``'s sequence call. MAML-RL with the defaults took 0.7 s
per meta-iteration, RL^2 100 iterations of 64 trials about 12 s per policy.

Optionally it also times the trainers of :mod:`ssm_metarl.meta_rl` with their
defaults, for sizing notebook 03's profiles: ``--maml-rl N`` meta-trains
MAML-RL for N meta-iterations on 2D navigation and evaluates 0..3 inner steps
on 40 held-out goals next to the pretrained, random-init and oracle
baselines; ``--rl2 N`` trains RL^2 (SSM and GRU policies) for N iterations
of 64 trials on bandits n = 10, k = 5 and evaluates them on 1000 instances
next to random, greedy, UCB1 and Thompson sampling.

Usage: python benchmarks/bench_rl.py --threads 1 [--quick] [--cores selective,ssd]
       [--maml-rl 100] [--rl2 100]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numpy as np
import torch

from ssm_metarl.cores import CORE_NAMES
from ssm_metarl.envs import sample_goals
from ssm_metarl.envs.bandit_baselines import run_bandit_baseline
from ssm_metarl.meta_rl import (
    MAMLRLConfig,
    RL2Config,
    evaluate_maml_rl,
    evaluate_rl2,
    make_maml_rl_policy,
    make_rl2_policy,
    navigation_oracle_returns,
    train_maml_rl,
    train_pretrained,
    train_rl2,
)
from ssm_metarl.policies import GRUPolicy, MLPPolicy, SSMMetaPolicy
from ssm_metarl.profiles import seed_everything
from ssm_metarl.results import load_reference, mean_ci

NUM_TRIALS, NUM_ARMS, OBS_DIM = 64, 5, 8


def time_interleaved(fns, repeats: int) -> list[float]:
    """Median wall time (ms) of each of ``fns`` after one warm-up call each.

    The calls alternate (a, b, a, b, ...), so a shared CPU's load swings hit
    every method alike and the ratios stay meaningful.
    """
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, samples in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            samples.append(1000 * (time.perf_counter() - start))
    return [statistics.median(samples) for samples in times]


def step_mode(policy, x, reset, actions):
    """Log-probs and values (B, L) by L calls of ``policy.step``."""
    state, log_probs, values = None, [], []
    for t in range(x.shape[1]):
        dist, value, state = policy.step(x[:, t], state, reset[:, t])
        log_probs.append(dist.log_prob(actions[:, t]))
        values.append(value)
    return torch.stack(log_probs, 1), torch.stack(values, 1)


def sequence_mode(policy, x, reset, actions):
    """Log-probs and values (B, L) by one whole-sequence call."""
    dist, values, _ = policy(x, reset=reset)
    return dist.log_prob(actions), values


def recurrent_policies(cores: list[str]) -> dict[str, torch.nn.Module]:
    """SSMMetaPolicy on each of ``cores`` and GRUPolicy, each seeded the same way."""
    policies = {}
    for core in cores:
        seed_everything(0)
        policies[f"SSMMetaPolicy(core={core})"] = SSMMetaPolicy(OBS_DIM, NUM_ARMS, core=core,
                                                                rl2_inputs=False)
    seed_everything(0)
    policies["GRUPolicy"] = GRUPolicy(OBS_DIM, NUM_ARMS, rl2_inputs=False)
    return policies


def bench_modes(lengths: list[int], repeats: int, cores: list[str]) -> None:
    print(f"\nRecurrent policy over {NUM_TRIALS} bandit trials, H=64, N=16 "
          f"(median of {repeats} runs, ms)\n")
    print("| policy | L | pass | step mode | sequence mode | step / sequence "
          "| GRUPolicy sequence / sequence |")
    print("|---|---|---|---|---|---|---|")
    policies = recurrent_policies(cores)
    for length in lengths:
        x = torch.rand(NUM_TRIALS, length, OBS_DIM)
        actions = torch.randint(NUM_ARMS, (NUM_TRIALS, length))
        reset = torch.zeros(NUM_TRIALS, length, dtype=torch.bool)
        reset[:, 0] = True
        for label, backward in (("forward", False), ("forward+backward", True)):
            fns = [functools.partial(run_mode, policy, mode, x, reset, actions, backward)
                   for policy in policies.values() for mode in (step_mode, sequence_mode)]
            times = iter(time_interleaved(fns, repeats))
            rows = {name: (next(times), next(times)) for name in policies}
            gru_sequence = rows["GRUPolicy"][1]
            for name, (step, sequence) in rows.items():
                print(f"| {name} | {length} | {label} | {step:.1f} | {sequence:.1f} "
                      f"| {step / sequence:.1f}x | {gru_sequence / sequence:.2f}x |")


def run_mode(policy, mode, x, reset, actions, backward: bool) -> None:
    if not backward:
        with torch.no_grad():
            mode(policy, x, reset, actions)
        return
    policy.zero_grad(set_to_none=True)
    log_probs, values = mode(policy, x, reset, actions)
    (log_probs.sum() + values.sum()).backward()


def bench_maml_rl(iterations: int) -> None:
    config = MAMLRLConfig(num_meta_iterations=iterations)
    policy = make_maml_rl_policy(config)
    start = time.perf_counter()
    history = train_maml_rl(policy, config)
    seconds = time.perf_counter() - start
    pretrained = make_maml_rl_policy(config)
    start = time.perf_counter()
    train_pretrained(pretrained, config)
    pretrain_seconds = time.perf_counter() - start
    print(f"\nMAML-RL 2D navigation, defaults (meta-batch {config.meta_batch_size}, K = "
          f"{config.trajectories_per_task}, alpha = {config.inner_lr}), {iterations} "
          f"meta-iterations: {seconds:.1f} s ({seconds / iterations:.2f} s each); pretrained "
          f"baseline {pretrain_seconds:.1f} s\n")
    print("| meta-iterations (fresh goals each) | return before adaptation | after 1 step |")
    print("|---|---|---|")
    window = max(1, iterations // 10)
    for start in range(0, iterations, window):
        pre = np.mean(history["pre_return"][start : start + window])
        post = np.mean(history["post_return"][start : start + window])
        print(f"| {start}-{min(start + window, iterations) - 1} | {pre:.2f} | {post:.2f} |")
    print()
    goals = sample_goals(40, rng=np.random.default_rng(2017))
    seed_everything(1)
    rows = {"MAML (ours)": policy, "pretrained (ours)": pretrained,
            "random init (ours)": MLPPolicy(2, 2)}
    print("| 40 held-out goals, return (mean +- 95% CI) | 0 steps | 1 step | 2 steps "
          "| 3 steps |")
    print("|---|---|---|---|---|")
    for name, net in rows.items():
        print_returns(name, evaluate_maml_rl(net, None, goals, 3, seed=3))
    print_returns("MAML (ours, authors' stop within 0.01 of the goal)",
                  evaluate_maml_rl(policy, None, goals, 3, seed=3, goal_tolerance=0.01))
    oracle_mean, oracle_ci = mean_ci(navigation_oracle_returns(goals))
    print(f"| analytic oracle (ours) | {float(oracle_mean):.2f} +- {float(oracle_ci):.2f} "
          "| | | |")
    for method in ("MAML", "pretrained", "random_init", "oracle"):
        values = [row["return"] for row in load_reference("maml_rl_navigation")
                  if row["method"] == method]
        print(f"| {method} (paper) | " + " | ".join(f"{v:.2f}" for v in values)
              + " |" * (5 - len(values)))


def print_returns(name: str, returns: np.ndarray) -> None:
    """One table row: mean +- 95% CI over goals of returns (G, S + 1)."""
    means, half_widths = mean_ci(returns)
    cells = [f"{m:.2f} +- {h:.2f}" for m, h in zip(means, half_widths, strict=True)]
    print(f"| {name} | " + " | ".join(cells) + " |")


def bench_rl2(iterations: int) -> None:
    ours = {}
    for kind in ("ssm", "gru"):
        config = RL2Config(num_iterations=iterations, policy=kind)
        policy = make_rl2_policy(config)
        start = time.perf_counter()
        history = train_rl2(policy, config)
        seconds = time.perf_counter() - start
        trials = iterations * config.trials_per_iteration
        print(f"\nRL^2 bandits n = {config.n}, k = {config.k}, {kind} policy, {iterations} "
              f"iterations x {config.trials_per_iteration} trials = {trials} trials: "
              f"{seconds:.1f} s; training reward of the last 10 iterations "
              f"{np.mean(history['trial_reward'][-10:]):.2f}")
        ours[f"RL2 ({kind})"] = evaluate_rl2(policy, config.k, config.n, 1000, seed=2016)
    print("\n| total reward, 1000 instances (mean +- 95% CI) | ours | paper |")
    print("|---|---|---|")
    paper = {row["method"]: row["total_reward"] for row in load_reference("rl2_bandits")
             if row["n"] == config.n and row["k"] == config.k}
    for name, paper_name in (("random", "Random"), ("greedy", "Greedy"), ("ucb1", "UCB1"),
                             ("thompson", "TS")):
        ours[paper_name] = run_bandit_baseline(name, config.k, config.n, 1000, seed=2016)
    for name, rewards in ours.items():
        mean, half_width = mean_ci(rewards)
        reference = paper["RL2" if name.startswith("RL2") else name]
        print(f"| {name} | {float(mean):.2f} +- {float(half_width):.2f} | {reference} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--quick", action="store_true", help="L = 100 only, 5 repeats")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per cell")
    parser.add_argument("--cores", default=",".join(CORE_NAMES),
                        help="comma-separated cores of SSMMetaPolicy to time (default: all)")
    parser.add_argument("--maml-rl", type=int, default=0,
                        help="also meta-train MAML-RL this many iterations (0: skip)")
    parser.add_argument("--rl2", type=int, default=0,
                        help="also train RL^2 this many iterations (0: skip)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, device=cpu")
    cores = [core for core in args.cores.split(",") if core]
    unknown = sorted(set(cores) - set(CORE_NAMES))
    if unknown:
        parser.error(f"unknown cores {unknown}; choose from {', '.join(CORE_NAMES)}")
    bench_modes([100] if args.quick else [100, 500], 5 if args.quick else args.repeats, cores)
    if args.maml_rl:
        bench_maml_rl(args.maml_rl)
    if args.rl2:
        bench_rl2(args.rl2)


if __name__ == "__main__":
    main()
