"""Benchmark: environment steps per second, batched NumPy envs vs gymnasium's SyncVectorEnv.

Environments: ``ssm_metarl/Navigation2D-v0`` (horizon 100) and
``ssm_metarl/BernoulliBandit-v0`` (k = 5 arms, n = 100 pulls per trial), at 64
and 1024 parallel tasks. Both sides are built with ``gymnasium.make_vec``:

- ``batched``: the vector entry point (``BatchedNavigation2D`` /
  ``BatchedBernoulliBandit``), one NumPy call per step for all tasks;
- ``sync``: ``vectorization_mode="sync"``, a Python loop over gymnasium envs
  (each wrapped by ``gymnasium.make`` in its checker and order wrappers, as a
  user gets them).

Same seeds and the same pre-drawn random actions on both sides; episodes end
and autoreset inside the timed loop, so the cost of new tasks is included.
Steps/s counts environment transitions (tasks x vector steps); the best of
``--repeats`` runs is reported to damp noise from other processes. The target
of issue 5 is a ratio of at least 20 at 1024 tasks.

Usage: python benchmarks/bench_envs.py --threads 1 [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

from ssm_metarl.envs import BANDIT_ID, NAVIGATION_ID

ENV_KWARGS = {NAVIGATION_ID: {"horizon": 100}, BANDIT_ID: {"k": 5, "n": 100}}
NUM_TASKS = (64, 1024)
ACTION_POOL = 16


def action_pool(env_id: str, num_envs: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A few random action batches to cycle through, so drawing them is not timed."""
    if env_id == NAVIGATION_ID:  # half of them outside the [-0.1, 0.1] box: clipping is timed
        return [rng.uniform(-0.2, 0.2, size=(num_envs, 2)) for _ in range(ACTION_POOL)]
    k = ENV_KWARGS[BANDIT_ID]["k"]
    return [rng.integers(k, size=num_envs) for _ in range(ACTION_POOL)]


def steps_per_second(envs, actions: list[np.ndarray], num_steps: int, repeats: int) -> float:
    """Best-of-``repeats`` environment transitions per second over ``num_steps`` vector steps."""
    best = float("inf")
    for repeat in range(repeats):
        envs.reset(seed=repeat)
        start = time.perf_counter()
        for step in range(num_steps):
            envs.step(actions[step % ACTION_POOL])
        best = min(best, time.perf_counter() - start)
    return envs.num_envs * num_steps / best


def measure(env_id: str, num_envs: int, num_steps: int, repeats: int) -> tuple[float, float]:
    """(batched, sync) steps/s for ``env_id`` with ``num_envs`` parallel tasks."""
    actions = action_pool(env_id, num_envs, np.random.default_rng(0))
    rates = []
    for mode in ("vector_entry_point", "sync"):
        envs = gym.make_vec(env_id, num_envs, vectorization_mode=mode, **ENV_KWARGS[env_id])
        rates.append(steps_per_second(envs, actions, num_steps, repeats))
        envs.close()
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--quick", action="store_true", help="120 vector steps, one run (default: 300, three)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per setting")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Both lengths pass step 101, where every episode (100 steps) autoresets.
    num_steps = 120 if args.quick else 300
    repeats = args.repeats or (1 if args.quick else 3)
    print(
        f"gymnasium {gym.__version__}, numpy {np.__version__}, "
        f"threads={torch.get_num_threads()} (the envs are NumPy; torch threads unused), "
        f"{num_steps} vector steps, best of {repeats}\n"
    )
    print("| env | tasks | batched steps/s | SyncVectorEnv steps/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    for env_id in (NAVIGATION_ID, BANDIT_ID):
        for num_envs in NUM_TASKS:
            batched, sync = measure(env_id, num_envs, num_steps, repeats)
            name = env_id.split("/")[1]
            print(f"| {name} | {num_envs} | {batched:,.0f} | {sync:,.0f} | {batched / sync:.1f}x |")


if __name__ == "__main__":
    main()
