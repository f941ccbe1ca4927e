"""The RL^2 bandit trainings of notebook 03, over three training seeds, stored in ``data/``.

Notebook 03's ``paper`` profile trains each RL^2 policy of its Table 1 once
(seed 0). A headline table needs several training seeds to say how much
retraining moves each number (Duan et al. 2016, Table 1, report one run),
and five policies x 3 seeds do not fit a 30-minute run next to the rest of
the notebook. So the runs are made once with this module and the notebook
loads their weights and plays them live on its evaluation bandits. Each run
writes

- ``data/weights/rl2_bandits/<method>_seed<seed>.pt``: the policy and its
  :class:`~ssm_metarl.meta_rl.RL2Config` (:func:`ssm_metarl.checkpoints.save_checkpoint`), and
- ``data/weights/rl2_bandits/<method>_seed<seed>.json``: the command, wall
  time, versions and the mean trial reward every 10 iterations.

Run from the repository root, one torch thread per process::

    python -m ssm_metarl.bandit_runs ssm_n10_k5 --seeds 0 1 2

A method is ``<core>_n<pulls>_k<arms>`` (:data:`METHODS`): the SSM policy
(selective core), the GRU baseline and the SSD core on n = 10 pulls of
k = 5 arms, the SSM policy on (10, 10) and (100, 5), the settings of the
paper's table. The protocol is notebook 03's (:func:`run_config`): PPO,
Adam at 3e-3, short trials (n = 10) with 256 trials per iteration for 1,000
iterations and the whole trial's return (gamma 1, lambda 0.95); long trials
(n = 100) with 64 trials per iteration for 500 iterations and a short GAE
horizon (gamma 0.99, lambda 0.3). Training seed ``s`` is ``RL2Config(seed=s)``:
the policy's initialisation and the training bandits, so seed 0 is exactly
notebook 03's paper-profile run.

Shapes: an evaluation returns rewards (seeds S, bandits N, pulls n).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._validate import check_int, check_int_list
from .checkpoints import check_state_dict, load_checkpoint, save_checkpoint
from .meta_rl import RL2Config, make_rl2_policy, rl2_bandit_rewards, train_rl2
from .policies import GRUPolicy, SSMMetaPolicy
from .results import data_dir, provenance, train_runs_main

__all__ = ["METHODS", "evaluate_runs", "load_run", "main", "run_config", "run_paths",
           "setting", "train_run"]

_KINDS = {"ssm": dict(policy="ssm"), "gru": dict(policy="gru"),
          "ssd": dict(policy="ssm", core="ssd")}
METHODS = ("ssm_n10_k5", "gru_n10_k5", "ssd_n10_k5", "ssm_n10_k10", "ssm_n100_k5")
"""The stored bandit runs: ``<core>_n<pulls>_k<arms>`` (module docstring)."""
_FORMAT = "ssm_metarl.bandit_runs/1"


def _check_method(method: object) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method  # type: ignore[return-value]


def setting(method: str) -> tuple[int, int]:
    """(n pulls, k arms) of a stored run, read from its name: ``"ssm_n100_k5"`` -> (100, 5)."""
    _, n, k = _check_method(method).split("_")
    return int(n[1:]), int(k[1:])


def run_config(method: str, seed: int, iterations: int | None = None,
               trials_per_iteration: int | None = None) -> RL2Config:
    """The :class:`RL2Config` of one stored run (module docstring).

    ``iterations`` and ``trials_per_iteration`` None keep the protocol's
    (1,000 x 256 for n = 10, 500 x 64 for n = 100); notebook 03 shortens
    them in its smaller profiles and keeps everything else.
    """
    kind, seed = _check_method(method).split("_")[0], check_int("seed", seed, 0)
    n, k = setting(method)
    if n <= 10:
        protocol = dict(num_iterations=1_000, trials_per_iteration=256, gamma=1.0,
                        gae_lambda=0.95)
    else:
        protocol = dict(num_iterations=500, trials_per_iteration=64, gamma=0.99, gae_lambda=0.3)
    if iterations is not None:
        protocol["num_iterations"] = check_int("iterations", iterations)
    if trials_per_iteration is not None:
        protocol["trials_per_iteration"] = check_int("trials_per_iteration",
                                                     trials_per_iteration)
    return RL2Config(k=k, n=n, lr=3e-3, seed=seed, **protocol, **_KINDS[kind])


def run_paths(method: str, seed: int) -> tuple[Path, Path]:
    """(weights ``.pt``, record ``.json``) of one stored run under ``data/weights/``."""
    method, seed = _check_method(method), check_int("seed", seed, 0)
    stem = data_dir() / "weights" / "rl2_bandits" / f"{method}_seed{seed}"
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def train_run(method: str, seed: int, iterations: int | None = None) -> Path:
    """Train one run, write its weights and record (module docstring); returns the record."""
    config = run_config(method, seed, iterations)
    weights, record = run_paths(method, seed)
    weights.parent.mkdir(parents=True, exist_ok=True)
    policy = make_rl2_policy(config)
    start = time.perf_counter()
    history = train_rl2(policy, config, progress=False)
    seconds = time.perf_counter() - start
    save_checkpoint(weights, _FORMAT, {"method": method, **dataclasses.asdict(config)}, policy)
    rewards = history["trial_reward"]
    record.write_text(json.dumps({
        "method": method,
        "seed": seed,
        "command": f"python -m ssm_metarl.bandit_runs {method} --seeds {seed}"
                   + ("" if iterations is None else f" --iterations {iterations}"),
        "iterations": config.num_iterations,
        "trials_per_iteration": config.trials_per_iteration,
        "train_seconds": round(seconds, 1),
        **provenance(),
        "trial_reward_every_10": [round(float(np.mean(rewards[i:i + 10])), 4)
                                  for i in range(0, len(rewards), 10)],
    }, indent=0))
    return record


def load_run(method: str, seed: int) -> tuple[SSMMetaPolicy | GRUPolicy, RL2Config, dict]:
    """(policy, config, record) of a stored run; ``FileNotFoundError`` names the command."""
    weights, record = run_paths(method, seed)
    if not weights.exists() or not record.exists():
        raise FileNotFoundError(f"{weights} is missing: train it with `python -m "
                                f"ssm_metarl.bandit_runs {method} --seeds {seed}`")
    payload = load_checkpoint(weights, _FORMAT, map_location="cpu")
    options = dict(payload["config"])
    if options.pop("method", None) != method:
        raise ValueError(f"{weights}: holds a run of another method, not {method!r}")
    config = RL2Config(**options)
    policy = make_rl2_policy(config)
    check_state_dict(weights, policy.state_dict(), payload["state_dict"])
    policy.load_state_dict(payload["state_dict"])
    policy.eval()
    return policy, config, json.loads(record.read_text())


def evaluate_runs(methods: Sequence[str] = METHODS, seeds: Sequence[int] = (0, 1, 2),
                  num_instances: int = 1_000, seed: int = 2_024) -> dict[str, np.ndarray]:
    """Every stored run of ``methods`` played on the same ``num_instances`` bandits.

    Returns ``{method: rewards (seeds, num_instances, n)}`` (NumPy): the reward
    of every pull of one trial per bandit, from
    :func:`~ssm_metarl.meta_rl.rl2_bandit_rewards` with ``seed`` (notebook 03's
    evaluation bandits, the ones its baselines play), for each training seed.
    """
    if isinstance(methods, str) or not isinstance(methods, Sequence) or not methods:
        raise TypeError(f"methods must be a non-empty sequence of {METHODS}, got {methods!r}")
    methods = tuple(_check_method(m) for m in methods)
    seeds = check_int_list("seeds", seeds)
    num_instances = check_int("num_instances", num_instances)
    seed = check_int("seed", seed, 0)
    rewards = {}
    for method in methods:
        n, k = setting(method)
        rewards[method] = np.stack([rl2_bandit_rewards(load_run(method, s)[0], k, n,
                                                       num_instances, seed) for s in seeds])
    return rewards


def main(argv: list[str] | None = None) -> None:
    """The command line (module docstring); ``argv`` None reads ``sys.argv``."""
    train_runs_main(argv, __doc__.splitlines()[0], METHODS, None, train_run)


if __name__ == "__main__":
    main(sys.argv[1:])
