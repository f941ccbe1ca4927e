"""Exercise tooling: instructor notebooks pass every check, student versions pass none and run on.

The instructor direction is proven by nbval: ``make test`` runs every full
instructor notebook with ``SSM_METARL_GRADING=1``, so a check cell that does
not pass raises and fails the run. The student direction runs only the
exercise part of each notebook (cells tagged ``setup``, ``exercise`` and
``check``) here. A check that cannot fail is a defect.
"""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest
import torch
from nbclient import NotebookClient

import ssm_metarl.exercises as exercises
import ssm_metarl.ssd as ssd_module
from notebook_utils import ROOT, cell_tags, code_cells, notebook_paths, read
from ssm_metarl.exercises import ExerciseCheckFailed, check_ssd_chunk_state, student
from ssm_metarl.exercises.ssm import _chunk_case
from ssm_metarl.ssd import ssd_chunked

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
def test_student_version_runs_on_with_one_line_per_unsolved_exercise(path, monkeypatch):
    """In class (not grading) "Run All" of a student notebook is not stopped by an exercise."""
    monkeypatch.delenv("SSM_METARL_GRADING")
    nb = run(student.exercise_cells_only(student.student_notebook(read(path))))
    checks = check_cells(nb)
    assert checks
    for cell in nb.cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
    for cell in checks:
        printed = "".join(o.get("text", "") for o in cell.outputs).strip()
        assert "passed" not in printed, f"{path.name}: passed without a solution: {cell.source!r}"
        # a find-the-bug exercise starts from its buggy code: the check names what differs
        expected = ("\u2717 the bug is still there: " if _bug_hunt(cell.source)
                    else "not implemented yet")
        assert printed.count("\n") == 0 and expected in printed, (path.name, printed)


def _bug_hunt(source: str) -> bool:
    import ssm_metarl.exercises as exercises

    return any(getattr(getattr(exercises, name), "bug_hunt", False)
               for name in re.findall(r"^(check_\w+)\(", source, re.M))


def test_every_checker_prints_one_line_in_class_and_raises_when_grading(capsys, monkeypatch):
    import ssm_metarl.exercises as exercises

    def unsolved(*args, **kwargs):
        raise NotImplementedError("Exercise: write your solution here")

    checkers = [getattr(exercises, n) for n in exercises.__all__ if n.startswith("check_")]
    assert len(checkers) >= 20
    for checker in checkers:
        with pytest.raises(exercises.NotImplementedYet, match="not implemented yet"):
            checker(unsolved)
    monkeypatch.delenv("SSM_METARL_GRADING")
    capsys.readouterr()
    for checker in checkers:
        assert checker(unsolved) is False, checker.__name__
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 1 and "not implemented yet" in lines[0], (checker.__name__, lines)
    with pytest.raises(ExerciseCheckFailed, match="expected a function"):
        exercises.check_gae(3)


def test_no_cell_outside_the_exercises_needs_a_solution():
    """Run All of a student notebook can finish: no later cell uses a name an exercise defines."""
    import ast

    for path in WITH_EXERCISES:
        defined: set[str] = set()
        for cell in code_cells(read(path)):
            source = student.strip_solutions(cell.source)
            tree = ast.parse("\n".join("" if line.lstrip().startswith(("%", "!")) else line
                                       for line in source.splitlines()))
            if "exercise" in cell_tags(cell):
                defined |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
                defined |= {t.id for n in tree.body if isinstance(n, ast.Assign)
                            for t in n.targets if isinstance(t, ast.Name)}
                continue
            if "check" in cell_tags(cell):
                continue
            used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & defined
            assert not used, f"{path.name}: a cell outside the exercises uses {sorted(used)}"


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


# ----------------------------------------------------------------------------
# check_ssd_chunk_state (notebook 01b, exercise 1.4): the reference passes, each
# plausible mistake fails with a message, and so does handing the work to the library.
# ----------------------------------------------------------------------------


def _chunk_end_state(h_in, x, log_a, B, reset, mistake=""):
    """The state after one SSD chunk, written out; ``mistake`` plants one error."""
    cumulative = log_a.cumsum(0)                                 # (Q,)
    segment = reset.long().cumsum(0)                             # (Q,) resets so far
    exponent = cumulative[-1] - cumulative                       # sum_{s < r < Q} log_a_r
    if mistake == "input decays from its own step":
        exponent = exponent + log_a
    if mistake == "exclusive cumulative sum":
        exponent = cumulative[-1] - (cumulative - log_a)
    keep = segment == segment[-1]
    if mistake == "reset also drops its own step's input":
        keep = keep & ~(reset & (segment == segment[-1]))
    if mistake == "reset ignored":
        keep = torch.ones_like(keep)
    to_end = torch.where(keep, torch.exp(exponent), 0.0)         # (Q,)
    carried = torch.exp(cumulative[-1]) * (segment[-1] == 0)
    if mistake == "incoming state not decayed":
        carried = 1.0 * (segment[-1] == 0)
    if mistake == "incoming state decayed over Q - 1 steps":
        carried = torch.exp(cumulative[-2]) * (segment[-1] == 0)
    if mistake in ("reset ignored", "reset keeps the incoming state"):
        carried = torch.exp(cumulative[-1])
    if mistake == "transposed outer product":
        return carried * h_in.T + B.T @ (to_end[:, None] * x)    # (N, P)
    return carried * h_in + (to_end[:, None] * x).T @ B          # (P, N)


def test_ssd_chunk_state_checker_accepts_the_reference(capsys):
    check_ssd_chunk_state(_chunk_end_state)
    assert "\u2713 chunk_end_state: passed" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, message", [
    ("input decays from its own step", r"h_out \(no reset\): values differ.*a_\{s\+1\}"),
    ("exclusive cumulative sum", r"h_out \(no reset\): values differ"),
    ("incoming state not decayed", r"h_out \(no reset\): values differ.*tolerance atol=1e-10"),
    ("incoming state decayed over Q - 1 steps", r"h_out \(no reset\): values differ"),
    ("transposed outer product", r"wrong shape, expected \(3, 5\), got \(5, 3\).*outer product"),
    ("reset ignored", r"h_out \(a reset at step 3\): values differ.*last reset"),
    ("reset keeps the incoming state", r"h_out \(a reset at step 3\): values differ"),
    ("reset also drops its own step's input", r"h_out \(a reset at step 3\): values differ"),
])
def test_ssd_chunk_state_checker_rejects_plausible_mistakes(mistake, message):
    wrong = lambda *args: _chunk_end_state(*args, mistake=mistake)
    with pytest.raises(ExerciseCheckFailed, match=message):
        check_ssd_chunk_state(wrong)


def test_ssd_chunk_state_checker_shows_one_entry_of_the_answer_at_most():
    wrong = lambda *args: _chunk_end_state(*args, mistake="incoming state not decayed")
    with pytest.raises(ExerciseCheckFailed) as failure:
        check_ssd_chunk_state(wrong)
    message = str(failure.value)
    answer = _chunk_end_state(*_chunk_case((), 11).values())  # the checker's first case
    shown = [v for v in answer.flatten().tolist() if f"{v:.6g}" in message]
    assert len(shown) <= 1, (shown, message)


def _through_ssd_chunked(h_in, x, log_a, B, reset):
    one = lambda t: t[None, :, None]
    return ssd_chunked(one(x), one(log_a), one(B), one(B), state=h_in[None, None],
                       reset=reset[None], chunk_size=len(x))[1][0, 0]


def _through_ssd_step(h_in, x, log_a, B, reset):
    state = h_in[None, None]
    for t in range(len(x)):
        _, state = ssd_module.ssd_step(x[t][None, None], log_a[t][None, None],
                                       B[t][None, None], B[t][None, None], state, reset[t][None])
    return state[0, 0]


def _through_an_alias(h_in, x, log_a, B, reset, _form=ssd_module.ssd_recurrence):
    one = lambda t: t[None, :, None]
    return _form(one(x), one(log_a), one(B), one(B), state=h_in[None, None],
                 reset=reset[None])[1][0, 0]


@pytest.mark.parametrize("solution, name", [
    (_through_ssd_chunked, "ssd_chunked"),
    (_through_ssd_step, "ssd_step"),
    (_through_an_alias, "ssd_recurrence"),
])
def test_ssd_chunk_state_checker_refuses_a_call_to_the_library(solution, name):
    with pytest.raises(ExerciseCheckFailed, match=f"calls ssm_metarl.ssd.{name}, the library code"):
        check_ssd_chunk_state(solution)
    assert sys.getprofile() is None


def test_ssd_chunk_state_checker_says_not_implemented():
    def stub(*args):
        raise NotImplementedError
    with pytest.raises(ExerciseCheckFailed, match="not implemented yet"):
        check_ssd_chunk_state(stub)


def test_every_graded_cell_carries_nbgrader_metadata():
    """Check cells are locked autograded tests with points; exercise cells are solution cells."""
    import copy

    ids = []
    for path in WITH_EXERCISES:
        nb = read(path)
        for cell in code_cells(nb):
            meta = cell.metadata.get("nbgrader")
            if "check" in cell_tags(cell):
                assert meta and meta["grade"] and meta["locked"] and meta["points"] > 0, path.name
            elif "exercise" in cell_tags(cell):
                assert meta and meta["solution"] and not meta["grade"], path.name
            else:
                assert meta is None, f"{path.name}: nbgrader metadata on an ungraded cell"
                continue
            ids.append(meta["grade_id"])
        again = copy.deepcopy(nb)
        student.add_nbgrader_metadata(again, path.stem)
        assert again == nb, f"{path.name}: metadata out of date, rerun add_nbgrader_metadata"
    assert len(ids) == len(set(ids)), "grade_id must be unique across the course"
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1",
                                                                    metadata={"tags": ["check"]})])
    with pytest.raises(ValueError, match="calls no check_ function"):
        student.add_nbgrader_metadata(bad, "nb")


def test_a_find_the_bug_cell_gives_the_student_the_buggy_code():
    source = ("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
              "    ### BEGIN STUDENT VERSION\n    # y = x\n    # if y:\n    #     y = -y\n"
              "    # return y\n    ### END STUDENT VERSION\n")
    assert student.strip_solutions(source) == (
        "def f(x):\n    y = x\n    if y:\n        y = -y\n    return y")
    namespace = {}
    exec(source, namespace)  # the instructor version runs the solution; the bug is a comment
    assert namespace["f"](1) == 2


@pytest.mark.parametrize(("source", "message"), [
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n### BEGIN STUDENT VERSION\nx = 2\n"
     "### END STUDENT VERSION\n", "not commented out"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n### BEGIN STUDENT VERSION\n# x = 2\n",
     "must each stand on a line"),
    ("x = 0\n### BEGIN STUDENT VERSION\n# x = 2\n### END STUDENT VERSION\n",
     "exactly one solution region"),
])
def test_a_broken_student_region_is_refused(source, message):
    with pytest.raises(ValueError, match=message):
        student.strip_solutions(source)


def test_a_find_the_bug_check_prints_one_line_in_class_and_raises_when_grading(
        capsys, monkeypatch):
    def buggy(rewards, dones, gamma):  # the planted bug of notebook 03: episode ends ignored
        returns, running = torch.zeros_like(rewards), torch.zeros_like(rewards[0])
        for t in reversed(range(rewards.shape[0])):
            running = rewards[t] + gamma * running
            returns[t] = running
        return returns

    with pytest.raises(ExerciseCheckFailed, match="must not collect the rewards"):
        exercises.check_discounted_returns(buggy)
    monkeypatch.delenv("SSM_METARL_GRADING")
    capsys.readouterr()
    assert exercises.check_discounted_returns(buggy) is False
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("\u2717 the bug is still there: returns")
    with pytest.raises(ExerciseCheckFailed, match="expected a function"):
        exercises.check_gae(3)  # an ordinary exercise still raises in class
