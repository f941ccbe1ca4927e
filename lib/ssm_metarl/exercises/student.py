"""Write the student versions of the course notebooks.

The committed notebooks are the instructor versions: each exercise's solution
sits between nbgrader's markers ``### BEGIN SOLUTION`` and ``### END SOLUTION``.
The student version replaces every such region with
``raise NotImplementedError(...)`` at the same indentation and clears all
outputs, so a student starts from a clean notebook whose check cells fail
with a readable message until the exercise is solved.

A find-the-bug exercise also holds a student region, ``### BEGIN STUDENT
VERSION`` ... ``### END STUDENT VERSION``, of commented-out lines (``# `` +
code): the buggy code the student starts from. The student version puts
those lines, uncommented, in place of the solution region (no stub), and the
instructor version runs the solution with the buggy code inert as comments.

Cell tags (JupyterLab: property inspector, "Cell Tags"):

- ``setup``    imports and settings the exercises need (kept in exercise-only runs)
- ``exercise`` a cell holding a solution region
- ``check``    a cell that calls a ``check_*`` function

nbgrader metadata (:func:`add_nbgrader_metadata`, kept in the committed
notebooks): an ``exercise`` cell is a solution cell (``solution: true``), a
``check`` cell an autograded test cell (``grade: true``, ``locked: true``,
``points``, ``grade_id`` = notebook stem + checker name). nbgrader's
autograde must run with ``SSM_METARL_GRADING=1`` so that an unattempted
exercise raises (and earns no points) instead of printing its one line; see
``notebooks/INSTRUCTOR.md``.

Usage: ``python -m ssm_metarl.exercises.student notebooks/ student/`` (``make student``).
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = 'raise NotImplementedError("Exercise: write your solution here, then run the check cell.")'
_MARKER = re.compile(r"^(\s*)(### (BEGIN|END) SOLUTION)\s*$")
STUDENT_BEGIN = "### BEGIN STUDENT VERSION"
STUDENT_END = "### END STUDENT VERSION"
_STUDENT = re.compile(r"^[ \t]*### BEGIN STUDENT VERSION[ \t]*\n(.*?)^[ \t]*### END STUDENT VERSION"
                      r"[ \t]*(?:\n|$)", re.M | re.S)


def student_region(source: str) -> tuple[str, list[str]] | None:
    """(source without the student region, its lines uncommented), or None if it has none."""
    match = _STUDENT.search(source)
    if match is None:
        if STUDENT_BEGIN in source or STUDENT_END in source:
            raise ValueError(f"{STUDENT_BEGIN} and {STUDENT_END} must each stand on a line, "
                             "in that order")
        return None
    lines = []
    for line in match.group(1).splitlines():
        code = re.match(r"^(\s*)# ?(.*)$", line)
        if code is None:
            raise ValueError(f"a line of the student region is not commented out: {line!r}")
        lines.append(code.group(1) + code.group(2))
    return source[:match.start()] + source[match.end():], lines


def strip_solutions(source: str) -> str:
    """Replace each solution region of a cell's source by a ``NotImplementedError`` stub.

    With a student region (find-the-bug) the one solution region becomes the
    student region's code instead.
    """
    buggy = student_region(source)
    if buggy is not None:
        source, replacement = buggy
        if source.count(BEGIN) != 1:
            raise ValueError("a cell with a student region needs exactly one solution region")
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        match = _MARKER.match(line)
        if match and match.group(3) == "BEGIN":
            if inside:
                raise ValueError(f"line {number}: {BEGIN} inside an open solution region")
            inside = True
            if buggy is None:
                out.append(f"{match.group(1)}{STUB}")
            else:
                out.extend(replacement)  # each line keeps the indentation it was commented at
        elif match:
            if not inside:
                raise ValueError(f"line {number}: {END} without a matching {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} is never closed by {END}")
    return "\n".join(out)


def has_solution(source: str) -> bool:
    return BEGIN in source


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy of ``nb`` with solutions stubbed and all outputs cleared."""
    student = copy.deepcopy(nb)
    for cell in student.cells:
        if cell.cell_type != "code":
            continue
        if has_solution(cell.source):
            cell.source = strip_solutions(cell.source)
        cell.outputs = []
        cell.execution_count = None
    return student


def exercise_cells_only(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Keep only the ``setup``, ``exercise`` and ``check`` cells (used by the tests)."""
    keep = {"setup", "exercise", "check"}
    small = copy.deepcopy(nb)
    small.cells = [c for c in small.cells if c.cell_type == "code" and keep & set(tags(c))]
    return small


NBGRADER_SCHEMA = 3
_CHECK_CALL = re.compile(r"^(check_\w+)\(", re.M)


def add_nbgrader_metadata(nb: nbformat.NotebookNode, stem: str, points: int = 1) -> int:
    """Give every exercise/check cell of ``nb`` its nbgrader metadata; returns the total points.

    Points already set on a check cell are kept (an instructor may weight a
    larger exercise); new check cells get ``points``.
    """
    total = 0
    for cell in nb.cells:
        cell_tags = tags(cell)
        if cell.cell_type != "code" or not {"exercise", "check"} & set(cell_tags):
            continue
        old = cell.metadata.get("nbgrader", {})
        if "check" in cell_tags:
            called = _CHECK_CALL.findall(cell.source)
            if not called:
                raise ValueError(f"{stem}: a check cell calls no check_ function: "
                                 f"{cell.source[:60]!r}")
            meta = {"grade": True, "solution": False, "locked": True,
                    "points": int(old.get("points", points)),
                    "grade_id": f"{stem}-{called[0]}"}
            total += meta["points"]
        else:
            names = re.findall(r"^def (\w+)\(", cell.source, re.M) or ["solution"]
            meta = {"grade": False, "solution": True, "locked": False,
                    "grade_id": f"{stem}-{names[0]}-solution"}
        cell.metadata["nbgrader"] = {**meta, "schema_version": NBGRADER_SCHEMA}
    return total


def write_student_notebooks(source_dir: Path, target_dir: Path) -> list[Path]:
    """Write the student version of every ``*.ipynb`` in ``source_dir`` to ``target_dir``."""
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        out = target_dir / path.name
        nbformat.write(student_notebook(nb), out)
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of instructor notebooks")
    parser.add_argument("target", type=Path, help="folder for the student notebooks")
    args = parser.parse_args(argv)
    for path in write_student_notebooks(args.source, args.target):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
