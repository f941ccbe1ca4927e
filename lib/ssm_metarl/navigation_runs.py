"""The long MAML-RL trainings on 2D navigation whose weights ship in ``data/weights/``.

Notebook 03 compares MAML with the paper's TRPO outer step, MAML with Adam
and a pretrained baseline over 3 training seeds each. One TRPO run of the
paper's length (500 meta-iterations, meta-batch 20, 20 trajectories of 100
steps per task) takes about half an hour on one CPU core, too long for a
class, so the runs are made once with this module and the notebook loads
their weights and evaluates them live. Each run writes

- ``data/weights/maml_rl_navigation/<method>_seed<seed>.pt`` (policy and
  config, :func:`ssm_metarl.meta_rl.save_maml_rl_policy`), and
- ``data/weights/maml_rl_navigation/<method>_seed<seed>.json``: the command,
  wall time, versions and the training history per iteration (returns before
  and after adaptation, the policy's standard deviation, TRPO's KL and
  accepted step fraction).

Run from the repository root, one torch thread per process::

    python -m ssm_metarl.navigation_runs maml_trpo --seeds 0 1 2

The methods (:data:`METHODS`) share the paper's settings (Finn et al. 2017,
Sec. 5.3 and :class:`~ssm_metarl.meta_rl.MAMLRLConfig`): inner step 0.1, the
authors' early stop within 1 cm of the goal, 500 iterations. ``maml_trpo``:
TRPO with max KL 0.01, its Fisher-vector products on a quarter of the tasks
(to fit the CPU budget; the gradient and the line search use all 20).
``maml_adam``: Adam at 1e-3 (notebook 03's ``paper`` profile).
``pretrained_trpo``: the pretrained baseline trained with the same TRPO step
on the same number of environment steps (40 goals x 20 trajectories per
iteration, the MAML run's support plus query data).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._validate import check_float, check_int, check_int_list
from .meta_rl import (
    MAMLRLConfig,
    check_goals,
    evaluate_maml_rl,
    load_maml_rl_policy,
    make_maml_rl_policy,
    paper_step_sizes,
    save_maml_rl_policy,
    train_maml_rl,
    train_pretrained,
)
from .results import data_dir, provenance, train_runs_main
from .trpo import TRPOConfig

__all__ = ["METHODS", "PRETRAINED_LR_GRID", "evaluate_runs", "load_run", "main", "run_config",
           "run_paths", "train_run"]

METHODS = ("maml_trpo", "maml_adam", "pretrained_trpo")
"""The stored navigation runs (module docstring)."""

GOAL_TOLERANCE = 0.01  # the authors' early stop, as in notebook 03


def run_config(method: str, seed: int, iterations: int = 500) -> MAMLRLConfig:
    """The :class:`MAMLRLConfig` of one stored run (module docstring)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    base = dict(num_meta_iterations=check_int("iterations", iterations), meta_batch_size=20,
                trajectories_per_task=20, inner_lr=0.1, goal_tolerance=GOAL_TOLERANCE,
                seed=check_int("seed", seed, minimum=0))
    if method == "maml_adam":
        return MAMLRLConfig(**base, meta_lr=1e-3)
    trpo = TRPOConfig(max_kl=0.01, subsample=0.25)
    if method == "pretrained_trpo":
        base["meta_batch_size"] = 40
    return MAMLRLConfig(**base, outer="trpo", trpo=trpo)


def run_paths(method: str, seed: int) -> tuple[Path, Path]:
    """(weights ``.pt``, record ``.json``) of one stored run under ``data/weights/``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    seed = check_int("seed", seed, 0)
    stem = data_dir() / "weights" / "maml_rl_navigation" / f"{method}_seed{seed}"
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def load_run(method: str, seed: int, map_location: str | None = None):
    """(policy, config, record) of a stored run; ``FileNotFoundError`` names the command."""
    weights, record = run_paths(method, seed)
    if not weights.exists() or not record.exists():
        raise FileNotFoundError(
            f"{weights} is missing: train it with `python -m ssm_metarl.navigation_runs "
            f"{method} --seeds {seed}`")
    policy, config = load_maml_rl_policy(weights, map_location)
    return policy, config, json.loads(record.read_text())


def train_run(method: str, seed: int, iterations: int = 500, progress: bool = False) -> Path:
    """Train one run (:func:`run_config`) and write its weights and record; returns the record."""
    config = run_config(method, seed, iterations)
    policy = make_maml_rl_policy(config)
    trainer = train_pretrained if method == "pretrained_trpo" else train_maml_rl
    start = time.perf_counter()
    history = trainer(policy, config, progress=progress)
    seconds = time.perf_counter() - start
    weights, record = run_paths(method, seed)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_maml_rl_policy(policy, config, weights)
    record.write_text(json.dumps({
        "method": method,
        "seed": seed,
        "command": f"python -m ssm_metarl.navigation_runs {method} --seeds {seed}"
                   + ("" if iterations == 500 else f" --iterations {iterations}"),
        "train_seconds": round(seconds, 1),
        **provenance(),
        "history": history,
    }, indent=0))
    return record


PRETRAINED_LR_GRID = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)
"""First inner step sizes tried for the pretrained policy (halved after the first step)."""


def evaluate_runs(
    test_goals: np.ndarray,
    validation_goals: np.ndarray,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 3,
    trajectories_per_task: int = 20,
    grid: Sequence[float] = PRETRAINED_LR_GRID,
    seed: int = 1,
) -> dict:
    """Table 4 over training seeds: every stored run adapted to every test goal.

    Returns ``{"returns": {method: (seeds, goals, steps + 1)}, "pretrained_grid":
    (seeds, len(grid)), "pretrained_lr": (seeds,)}`` (NumPy arrays). MAML
    (TRPO and Adam) and a random initialisation (``MLPPolicy`` of the run's
    seed) adapt with the paper's step sizes (0.1, then 0.05); the pretrained
    policy with the first step size from ``grid`` whose mean return over
    steps 1..S is best on ``validation_goals`` (chosen per seed, never on the
    test goals; a step size that makes the policy diverge scores NaN), halved
    after the first step as in the paper.
    """
    test_goals, validation_goals = check_goals(test_goals), check_goals(validation_goals)
    seeds = check_int_list("seeds", seeds)
    grid = grid.tolist() if isinstance(grid, np.ndarray) and grid.ndim == 1 else grid
    if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence) or not grid:
        raise TypeError(f"grid must be a non-empty sequence of step sizes, got {grid!r}")
    grid = tuple(check_float("grid", a, minimum=0, strict=True) for a in grid)
    steps = check_int("steps", steps, 0)
    trajectories_per_task = check_int("trajectories_per_task", trajectories_per_task)
    seed = check_int("seed", seed, 0)
    evaluate = dict(trajectories_per_task=trajectories_per_task, goal_tolerance=GOAL_TOLERANCE,
                    seed=seed)
    returns: dict[str, list[np.ndarray]] = {m: [] for m in (*METHODS, "random_init")}
    tuning, chosen = [], []
    for run_seed in seeds:
        for method in ("maml_trpo", "maml_adam"):
            policy, _, _ = load_run(method, run_seed)
            returns[method].append(evaluate_maml_rl(policy, None, test_goals, steps, **evaluate))
        random_policy = make_maml_rl_policy(MAMLRLConfig(seed=run_seed))
        returns["random_init"].append(evaluate_maml_rl(random_policy, None, test_goals, steps,
                                                       **evaluate))
        pretrained, _, _ = load_run("pretrained_trpo", run_seed)
        scores = [_validation_score(pretrained, validation_goals, steps, lr, evaluate)
                  for lr in grid]
        best = grid[int(np.nanargmax(scores))]
        tuning.append(scores)
        chosen.append(best)
        returns["pretrained_trpo"].append(evaluate_maml_rl(
            pretrained, None, test_goals, steps, step_sizes=paper_step_sizes(best, steps),
            **evaluate))
    return {"returns": {m: np.stack(r) for m, r in returns.items()},
            "pretrained_grid": np.asarray(tuning), "pretrained_lr": np.asarray(chosen)}


def _validation_score(policy, goals, steps: int, lr: float, evaluate: dict) -> float:
    """Mean return over steps 1..S on the validation goals; NaN if the step size diverges."""
    try:
        returns = evaluate_maml_rl(policy, None, goals, steps,
                                   step_sizes=paper_step_sizes(lr, steps), **evaluate)
    except FloatingPointError:
        return float("nan")
    return float(returns[:, 1:].mean())


def main(argv: list[str] | None = None) -> None:
    """The command line (module docstring); ``argv`` None reads ``sys.argv``."""
    if argv is not None and not (isinstance(argv, (list, tuple))
                                 and all(isinstance(a, str) for a in argv)):
        raise TypeError(f"argv must be None or a list of str (the command-line words), "
                        f"got {argv!r}")
    train_runs_main(argv, __doc__.splitlines()[0], METHODS, 500, train_run)


if __name__ == "__main__":
    main(sys.argv[1:])
