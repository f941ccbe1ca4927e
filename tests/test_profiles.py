"""Run profiles and seeding (ssm_metarl.profiles)."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from ssm_metarl import profiles


def test_default_profile_is_class(monkeypatch):
    monkeypatch.delenv("SSM_METARL_PROFILE", raising=False)
    assert profiles.current() == "class"
    monkeypatch.setenv("SSM_METARL_PROFILE", "")
    assert profiles.current() == "class"


@pytest.mark.parametrize("name", ["smoke", "class", "paper", " Paper "])
def test_each_profile_is_read_from_the_environment(monkeypatch, name):
    monkeypatch.setenv("SSM_METARL_PROFILE", name)
    assert profiles.current() == name.strip().lower()


def test_unknown_profile_fails_listing_the_valid_ones(monkeypatch):
    monkeypatch.setenv("SSM_METARL_PROFILE", "bogus")
    with pytest.raises(ValueError, match=r"'bogus'.*smoke, class, paper"):
        profiles.current()


def test_unknown_profile_fails_from_a_fresh_interpreter():
    # The command the README shows; nothing may fall back silently.
    proc = subprocess.run(
        [sys.executable, "-c", "import ssm_metarl.profiles as p; p.current()"],
        env={"SSM_METARL_PROFILE": "bogus", "PATH": ""}, capture_output=True, text=True,
    )
    assert proc.returncode != 0
    assert "smoke, class, paper" in proc.stderr


def test_pick_returns_the_value_of_the_active_profile(monkeypatch):
    for name, expected in [("smoke", 1), ("class", 2), ("paper", 3)]:
        monkeypatch.setenv("SSM_METARL_PROFILE", name)
        assert profiles.pick(smoke=1, class_=2, paper=3) == expected
    assert profiles.pick(1, 2, 3, profile="paper") == 3
    with pytest.raises(ValueError, match="profile='huge'"):
        profiles.pick(1, 2, 3, profile="huge")


def test_seed_everything_makes_python_numpy_and_torch_repeat():
    def draw():
        gen = profiles.seed_everything(123)
        return (random.random(), np.random.rand(),  # noqa: NPY002 torch.rand(1).item(),
                torch.rand(1, generator=gen).item())

    first, second = draw(), draw()
    assert first == second
    profiles.seed_everything(124)
    assert torch.rand(1).item() != first[2]


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        profiles.seed_everything(bad)


def test_describe_names_profile_and_threads(monkeypatch):
    monkeypatch.setenv("SSM_METARL_PROFILE", "smoke")
    line = profiles.describe()
    assert "profile=smoke" in line and f"threads={torch.get_num_threads()}" in line


@pytest.mark.parametrize("profile, warned", [("smoke", True), ("class", False), ("paper", False)])
def test_describe_warns_that_smoke_numbers_mean_nothing(monkeypatch, profile, warned):
    monkeypatch.setenv("SSM_METARL_PROFILE", profile)
    assert ("numbers mean nothing" in profiles.describe()) is warned


@pytest.mark.parametrize("value, hidden", [("1", True), ("true", True), ("", False), ("0", False)])
def test_progress_bar_follows_tqdm_disable(monkeypatch, value, hidden):
    monkeypatch.setenv("TQDM_DISABLE", value)
    assert profiles.progress_bar(range(3), "x").disable is hidden
    assert profiles.progress_bar(range(3), "x", enabled=False).disable is True


def test_progress_bar_is_hidden_in_a_notebook_kernel_too(monkeypatch):
    # tqdm.notebook forces disable=False unless told otherwise (tqdm 4.70).
    from tqdm.notebook import tqdm as notebook_tqdm

    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setattr(profiles, "tqdm", notebook_tqdm)
    assert profiles.progress_bar(range(3), "x").disable is True


def test_best_time_is_the_shortest_of_the_runs(monkeypatch):
    ticks = iter([0.0, 5.0, 10.0, 12.0, 20.0, 23.0])  # runs of 5, 2 and 3 "seconds"
    monkeypatch.setattr(profiles.time, "perf_counter", lambda: next(ticks))
    calls = []
    assert profiles.best_time(lambda: calls.append(1), repeats=3) == 2.0
    assert len(calls) == 3
