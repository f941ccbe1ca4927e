"""Tests of ssm_metarl.sinusoid_runs: the stored MAML sinusoid runs over training seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ssm_metarl import sinusoid_runs
from ssm_metarl.functional import regression_mlp
from ssm_metarl.maml import MAMLConfig, MetaMAMLTrainer, TaskBatch, pretrain
from ssm_metarl.profiles import seed_everything
from ssm_metarl.tasks import SinusoidTasks


def test_seed_zero_is_notebook_02s_run(scratch_data):
    """Same init, same task stream, same protocol: the stored seed-0 weights are notebook 02's."""
    record = sinusoid_runs.train_run("MAML", 0, iterations=15)
    trainer, info = sinusoid_runs.load_run("MAML", 0)
    seed_everything(0)
    notebook = MetaMAMLTrainer(regression_mlp(), MAMLConfig(
        algorithm="maml", meta_lr=1e-3, inner_lr=0.01, inner_steps=1, seed=0))
    notebook.meta_train(TaskBatch(SinusoidTasks(seed=1), batch_size=25, k_support=10,
                                  k_query=10), 15, progress=False)
    for name, value in notebook.params.items():
        assert torch.equal(trainer.params[name], value), name
    assert info["iterations"] == 15 and info["command"].endswith("--seeds 0 --iterations 15")
    assert json.loads(record.read_text())["seed"] == 0

    sinusoid_runs.train_run("pretrained", 0, iterations=15)
    model, _ = sinusoid_runs.load_run("pretrained", 0)
    seed_everything(0)
    reference = regression_mlp()
    pretrain(reference, TaskBatch(SinusoidTasks(seed=1), batch_size=25), 15, progress=False)
    for (name, got), want in zip(model.state_dict().items(), reference.state_dict().values(),
                                 strict=True):
        assert torch.equal(got, want), name


def test_other_seeds_train_other_weights_and_meta_sgd_keeps_its_rates(scratch_data):
    sinusoid_runs.train_run("Meta-SGD", 0, iterations=10)
    sinusoid_runs.train_run("Meta-SGD", 1, iterations=10)
    zero, _ = sinusoid_runs.load_run("Meta-SGD", 0)
    one, _ = sinusoid_runs.load_run("Meta-SGD", 1)
    assert not torch.equal(zero.params["0.weight"], one.params["0.weight"])
    rates = zero.meta_sgd.alpha["0.weight"]
    assert not torch.allclose(rates, torch.full_like(rates, 0.01))  # learned, not the init


def test_evaluation_is_repeatable_and_picks_the_pretrained_step_on_validation(scratch_data):
    for method in sinusoid_runs.METHODS:
        sinusoid_runs.train_run(method, 0, iterations=5)
    first = sinusoid_runs.evaluate_runs(seeds=[0], num_tasks=8, steps=3)
    second = sinusoid_runs.evaluate_runs(seeds=(0,), num_tasks=8, steps=3)
    for method in sinusoid_runs.METHODS:
        assert first["losses"][method].shape == (1, 8, 4)
        np.testing.assert_array_equal(first["losses"][method], second["losses"][method])
    grid = first["pretrained_grid"][0]
    assert first["pretrained_lr"][0] == sinusoid_runs.PRETRAINED_LR_GRID[int(np.nanargmin(grid))]


def test_missing_run_names_the_command_that_makes_it(scratch_data):
    with pytest.raises(FileNotFoundError, match="python -m ssm_metarl.sinusoid_runs ANIL "
                                                "--seeds 2"):
        sinusoid_runs.load_run("ANIL", 2)


def test_shipped_runs_load_and_maml_adapts_better_than_the_pretrained_baseline():
    """The 18 shipped runs (6 methods x seeds 0-2) evaluate; MAML's one step beats pretraining."""
    runs = sinusoid_runs.evaluate_runs(seeds=(0, 1, 2), num_tasks=40, steps=1)
    maml, pretrained = runs["losses"]["MAML"], runs["losses"]["pretrained"]
    assert maml.shape == (3, 40, 2)
    for seed in range(3):
        assert maml[seed, :, 1].mean() < 0.5 * maml[seed, :, 0].mean()  # it adapts
        assert maml[seed, :, 1].mean() < pretrained[seed, :, 1].mean()
    for method in sinusoid_runs.METHODS:
        _, info = sinusoid_runs.load_run(method, 1)
        assert info["iterations"] == sinusoid_runs.ITERATIONS and info["torch_threads"] == 1
