"""Fixtures shared by the library tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread, then restore the count.

    The CI/laptop CPU is small and shared; the tensors in these tests are tiny,
    so a second thread only adds oversubscription stalls (measured 10-30x).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def scratch_data(tmp_path, monkeypatch):
    """Stored runs written to and read from a temporary data folder, not the repository's,
    on one torch thread (what the runs' command line uses)."""
    monkeypatch.setenv("SSM_METARL_DATA", str(tmp_path))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def graded_checkers(monkeypatch):
    """Checkers raise on an unattempted exercise, as under nbgrader (``SSM_METARL_GRADING=1``).

    In class they print one line instead (tests/test_exercises.py checks both).
    """
    monkeypatch.setenv("SSM_METARL_GRADING", "1")
