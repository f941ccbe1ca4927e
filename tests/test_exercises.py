"""Exercise tooling: instructor notebooks pass every check, student versions fail every check.

For speed, both directions run only the exercise part of each notebook (cells
tagged ``setup``, ``exercise`` and ``check``); the full instructor notebooks
also run under nbval. A check that cannot fail is a defect.
"""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from notebook_utils import ROOT, cell_tags, code_cells, notebook_paths, read
from ssm_metarl.exercises import student

WITH_EXERCISES = [p for p in notebook_paths() if any("check" in cell_tags(c) for c in code_cells(read(p)))]
IDS = [p.name for p in WITH_EXERCISES]


def run(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    return nb


def check_cells(nb):
    return [c for c in nb.cells if "check" in cell_tags(c)]


def test_every_solution_cell_is_tagged_and_every_notebook_has_a_check():
    assert WITH_EXERCISES, "no notebook has exercises"
    for path in notebook_paths():
        for cell in code_cells(read(path)):
            if student.has_solution(cell.source):
                assert "exercise" in cell_tags(cell), f"{path.name}: untagged solution cell"
            if "check" in cell_tags(cell):
                assert "check_" in cell.source, f"{path.name}: check cell calls no check_ function"
            if "exercise" in cell_tags(cell):
                assert student.has_solution(cell.source), f"{path.name}: exercise without markers"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=IDS)
def test_instructor_version_passes_every_check(path):
    nb = run(student.exercise_cells_only(read(path)))
    for cell in nb.cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
    for cell in check_cells(nb):
        printed = "".join(o.get("text", "") for o in cell.outputs)
        assert "\u2713" in printed and "passed" in printed, f"{path.name}: {cell.source!r}"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=IDS)
def test_student_version_fails_every_check_with_a_readable_message(path):
    nb = run(student.exercise_cells_only(student.student_notebook(read(path))))
    checks = check_cells(nb)
    assert checks
    for cell in checks:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors, f"{path.name}: check cell passed without a solution: {cell.source!r}"
        assert errors[0].ename == "ExerciseCheckFailed", (path.name, errors[0].ename, errors[0].evalue)
        assert "not implemented" in errors[0].evalue, errors[0].evalue


def test_strip_solutions_keeps_indentation_and_code_around():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
    out = student.strip_solutions(src)
    assert out == f"def f(x):\n    y = 1\n    {student.STUB}"
    namespace: dict = {}
    exec(out, namespace)
    with pytest.raises(NotImplementedError, match="Exercise"):
        namespace["f"](1)


@pytest.mark.parametrize("src, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without a matching"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside an open"),
])
def test_strip_solutions_rejects_broken_markers(src, message):
    with pytest.raises(ValueError, match=message):
        student.strip_solutions(src)


def test_make_student_writes_stripped_notebooks_with_no_outputs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ssm_metarl.exercises.student",
                           str(ROOT / "notebooks"), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    written = sorted(tmp_path.glob("*.ipynb"))
    assert [p.name for p in written] == [p.name for p in notebook_paths()]
    for path in written:
        nb = read(path)
        for cell in code_cells(nb):
            assert "### BEGIN SOLUTION" not in cell.source
            assert cell.outputs == [] and cell.execution_count is None
