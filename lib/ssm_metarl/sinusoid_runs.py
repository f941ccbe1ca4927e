"""The MAML sinusoid trainings of notebook 02, over three training seeds, stored in ``data/``.

Notebook 02 trains every method once (seed 0) in its ``paper`` profile. Its
headline table (Finn et al. 2017, Table 2: 5-shot query MSE after 1, 5 and
10 gradient steps) needs several training seeds to say how much retraining
moves each number, and six methods x 15,000 meta-iterations x 3 seeds do
not fit a 30-minute run on a laptop. So the runs are made once with this
module and the notebook loads their weights and evaluates them live. Each
run writes

- ``data/weights/maml_sinusoid/<method>_seed<seed>.pt``: the trained model
  (for the MAML family, a :meth:`~ssm_metarl.maml.MetaMAMLTrainer.save`
  checkpoint with the config and Meta-SGD's learned rates), and
- ``data/weights/maml_sinusoid/<method>_seed<seed>.json``: the command, wall
  time, versions and the training loss every 100 iterations.

Run from the repository root, one torch thread per process::

    python -m ssm_metarl.sinusoid_runs MAML --seeds 0 1 2

The protocol is notebook 02's (Sections 2-4): the 1-40-40-1 ReLU network
(:func:`~ssm_metarl.functional.regression_mlp`), meta-batches of 25 tasks
with K = 10 support and 10 query points, Adam at 1e-3, inner step 0.01
(one step; Reptile 5), 15,000 iterations. Training seed ``s`` initialises the
network with ``s`` and draws its training tasks from
``SinusoidTasks(seed=1 + 1000 s)``, so seed 0 is exactly notebook 02's run.
The pretrained baseline (joint regression on the pooled tasks) adapts with
the step size from :data:`PRETRAINED_LR_GRID` that is best on 200
validation tasks (``SinusoidTasks(seed=500)``), chosen per seed.

Shapes: an evaluation returns losses (seeds S, test tasks N, steps + 1).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ._validate import check_int, check_int_list
from .checkpoints import check_state_dict, load_checkpoint, save_checkpoint
from .functional import regression_mlp
from .maml import MAMLConfig, MetaMAMLTrainer, TaskBatch, adaptation_curve, pretrain
from .profiles import seed_everything
from .results import data_dir, provenance, train_runs_main
from .tasks import SinusoidTasks

__all__ = ["DIVERGED_MSE", "METHODS", "PRETRAINED_LR_GRID", "evaluate_runs", "load_run", "main",
           "run_config", "run_paths", "train_run"]

METHODS = ("MAML", "FOMAML", "Reptile", "Meta-SGD", "ANIL", "pretrained")
"""The stored sinusoid runs: notebook 02's five meta-learners and the pretrained baseline."""

_VARIANTS = {"MAML": {}, "FOMAML": dict(algorithm="fomaml"),
             "Reptile": dict(algorithm="reptile", inner_steps=5),
             "Meta-SGD": dict(algorithm="metasgd"), "ANIL": dict(algorithm="anil")}
ITERATIONS = 15_000
PRETRAINED_LR_GRID = (0.001, 0.003, 0.01, 0.02, 0.05)
"""Inner step sizes tried for the pretrained baseline (notebook 02, Section 4)."""
DIVERGED_MSE = 100.0
"""A test task whose query MSE is above this (or not finite) has diverged: predicting 0
scores about 4.3 on sinusoid tasks, so 100 is a blow-up, not a poor fit."""
_PRETRAINED_FORMAT = "ssm_metarl.sinusoid_runs.pretrained/1"


def _check_method(method: object) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method  # type: ignore[return-value]


def run_config(method: str, seed: int) -> MAMLConfig:
    """The :class:`MAMLConfig` of one stored run (module docstring; the pretrained
    baseline's config records its seed and Adam step, it has no inner loop)."""
    method, seed = _check_method(method), check_int("seed", seed, 0)
    options = _VARIANTS.get(method, {})
    return MAMLConfig(**{**dict(algorithm="maml", meta_lr=1e-3, inner_lr=0.01, inner_steps=1,
                                seed=seed), **options})


def _training_tasks(seed: int) -> SinusoidTasks:
    return SinusoidTasks(seed=1 + 1_000 * seed)


def run_paths(method: str, seed: int) -> tuple[Path, Path]:
    """(weights ``.pt``, record ``.json``) of one stored run under ``data/weights/``."""
    method, seed = _check_method(method), check_int("seed", seed, 0)
    stem = data_dir() / "weights" / "maml_sinusoid" / f"{method.lower()}_seed{seed}"
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def train_run(method: str, seed: int, iterations: int = ITERATIONS) -> Path:
    """Train one run, write its weights and record (module docstring); returns the record."""
    config = run_config(method, seed)
    iterations = check_int("iterations", iterations)
    weights, record = run_paths(method, seed)
    weights.parent.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    model = regression_mlp()
    start = time.perf_counter()
    if method == "pretrained":
        losses = pretrain(model, TaskBatch(_training_tasks(seed), batch_size=25), iterations,
                          lr=config.meta_lr, progress=False)
        seconds = time.perf_counter() - start
        save_checkpoint(weights, _PRETRAINED_FORMAT, {"seed": seed, "lr": config.meta_lr},
                        model)
    else:
        trainer = MetaMAMLTrainer(model, config)
        batches = TaskBatch(_training_tasks(seed), batch_size=25, k_support=10, k_query=10)
        losses = trainer.meta_train(batches, iterations, progress=False)
        seconds = time.perf_counter() - start
        trainer.meta_losses = []  # the record keeps them every 100 iterations; 150 kB less
        trainer.save(weights)
    record.write_text(json.dumps({
        "method": method,
        "seed": seed,
        "command": f"python -m ssm_metarl.sinusoid_runs {method} --seeds {seed}"
                   + ("" if iterations == ITERATIONS else f" --iterations {iterations}"),
        "iterations": iterations,
        "train_seconds": round(seconds, 1),
        **provenance(),
        "loss_every_100": [float(np.mean(losses[i:i + 100])) for i in range(0, len(losses), 100)],
    }, indent=0))
    return record


def load_run(method: str, seed: int) -> tuple[MetaMAMLTrainer | torch.nn.Module, dict]:
    """(trainer, or the pretrained model, record) of a stored run.

    ``FileNotFoundError`` names the command that makes the missing run.
    """
    weights, record = run_paths(method, seed)
    if not weights.exists() or not record.exists():
        raise FileNotFoundError(f"{weights} is missing: train it with `python -m "
                                f"ssm_metarl.sinusoid_runs {method} --seeds {seed}`")
    info = json.loads(record.read_text())
    if method != "pretrained":
        return MetaMAMLTrainer.load(weights, regression_mlp()), info
    model = regression_mlp()
    payload = load_checkpoint(weights, _PRETRAINED_FORMAT, map_location="cpu")
    check_state_dict(weights, model.state_dict(), payload["state_dict"])
    model.load_state_dict(payload["state_dict"])
    return model, info


def evaluate_runs(
    seeds: Sequence[int] = (0, 1, 2), num_tasks: int = 1_000, shots: int = 5, steps: int = 10,
) -> dict:
    """Every stored run adapted to the same ``num_tasks`` test tasks with ``shots`` points.

    Returns ``{"losses": {method: (seeds, num_tasks, steps + 1)}, "pretrained_lr":
    (seeds,), "pretrained_grid": (seeds, len(PRETRAINED_LR_GRID))}`` (NumPy): the
    query MSE of each task after 0..``steps`` inner steps, on notebook 02's test
    tasks (``SinusoidTasks(seed=1000 + shots)``, 100 query points each).
    """
    seeds = check_int_list("seeds", seeds)
    num_tasks = check_int("num_tasks", num_tasks)
    shots = check_int("shots", shots)
    steps = check_int("steps", steps, 0)
    tests = SinusoidTasks(seed=1_000 + shots).sample(num_tasks, shots, 100)
    validation = SinusoidTasks(seed=500).sample(200, 5, 100)
    losses: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
    grids, chosen = [], []
    for seed in seeds:
        for method in METHODS[:-1]:
            trainer, _ = load_run(method, seed)
            losses[method].append(trainer.adaptation_curve(tests, shots, steps)[1])
        model, _ = load_run("pretrained", seed)
        params = dict(model.named_parameters())
        scores = [adaptation_curve(model, params, validation, 5, 10, lr)[1][:, 1:].mean()
                  for lr in PRETRAINED_LR_GRID]
        best = PRETRAINED_LR_GRID[int(np.nanargmin(scores))]
        grids.append(scores)
        chosen.append(best)
        losses["pretrained"].append(adaptation_curve(model, params, tests, shots, steps, best)[1])
    return {"losses": {m: np.stack(v) for m, v in losses.items()},
            "pretrained_lr": np.asarray(chosen), "pretrained_grid": np.asarray(grids)}


def main(argv: list[str] | None = None) -> None:
    """The command line (module docstring); ``argv`` None reads ``sys.argv``."""
    train_runs_main(argv, __doc__.splitlines()[0], METHODS, ITERATIONS, train_run)


if __name__ == "__main__":
    main(sys.argv[1:])
