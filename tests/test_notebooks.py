"""Notebook hygiene: committed executed in order, no errors, importing the library.

nbval (``make test``) re-runs every notebook in the smoke profile; these tests
check what is *committed*: the class-profile outputs a reader sees without
running anything.
"""

from __future__ import annotations

import re

import pytest

from notebook_utils import (
    LINES_PER_MINUTE,
    ROOT,
    WORDS_PER_MINUTE,
    cell_tags,
    code_cells,
    notebook_paths,
    read,
    reading_minutes,
    text_of,
)

PATHS = notebook_paths()
IDS = [p.name for p in PATHS]


def test_the_numbered_course_notebooks_exist():
    """00, 01, ... in turn; a topic split for class length keeps its number, in parts a, b, ..."""
    names = [p.name for p in PATHS]
    assert names and names[0] == "00_welcome.ipynb"
    for name in names:
        assert re.fullmatch(r"\d\d[a-z]?_[a-z0-9_]+\.ipynb", name), name
    numbers = sorted({int(n[:2]) for n in names})
    assert numbers == list(range(len(numbers))), f"notebooks must be numbered 00.. in turn: {names}"
    for number in numbers:
        parts = [n[2] for n in names if int(n[:2]) == number]
        assert parts == ["_"] or parts == [chr(ord("a") + i) for i in range(len(parts))], (
            f"notebook {number:02d} must be one notebook or parts a, b, ... in turn: {parts}")


def class_minutes(stem: str) -> float:
    """The `class` running time of a notebook, from the README's course map."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith(f"| [{stem}]("):
            return float(line.rstrip(" |").split("|")[-1].split("/")[-1])
    raise AssertionError(f"README course map has no row for {stem}")


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_every_notebook_states_a_class_length_within_the_bar(path):
    """Reading at the stated pace plus the class run: within 5 minutes of the stated length,
    and at most 75 minutes (longer notebooks are split into parts)."""
    nb = read(path)
    found = re.search(r"\*\*Length\*\*: about (\d+) minutes", nb.cells[0].source)
    assert found, f"{path.name}: the first cell must state '**Length**: about N minutes ...'"
    stated = int(found.group(1))
    measured = reading_minutes(nb) + class_minutes(path.stem)
    assert abs(stated - measured) <= 5, (
        f"{path.name}: states {stated} min, the rule gives {measured:.0f} (prose at "
        f"{WORDS_PER_MINUTE} words/min, code at {LINES_PER_MINUTE} lines/min, plus the class run)")
    assert stated <= 75, f"{path.name}: {stated} minutes is longer than a class; split it"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_kernelspec_is_the_plain_python3_kernel(path):
    spec = read(path).metadata.get("kernelspec", {})
    assert spec.get("name") == "python3", f"{path.name}: kernelspec {spec}"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_committed_executed_top_to_bottom_without_errors(path):
    cells = code_cells(read(path))
    counts = [c.execution_count for c in cells]
    assert None not in counts, f"{path.name}: unexecuted cells; run `make execute`"
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..n in order (Restart & Run All)"
    )
    for i, cell in enumerate(cells):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{path.name} cell {i}: {errors[0].ename}: {errors[0].evalue}"
        stderr = "".join(o.text for o in cell.outputs
                         if o.output_type == "stream" and o.name == "stderr")
        assert "Traceback" not in stderr, f"{path.name} cell {i} printed a traceback"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_runs_the_class_profile_and_uses_the_library(path):
    nb = read(path)
    sources = "\n".join(c.source for c in code_cells(nb))
    assert re.search(r"^(import ssm_metarl|from ssm_metarl)", sources, re.M), path.name
    assert "sys.path" not in sources, f"{path.name}: import the installed library, no sys.path tricks"
    printed = "\n".join(text_of(c) for c in code_cells(nb))
    assert "profile=class" in printed, f"{path.name}: committed outputs must come from `make execute`"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_has_goals_summary_and_figures(path):
    nb = read(path)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    assert "learning goals" in markdown and "summary" in markdown, path.name
    figures = sum(1 for c in code_cells(nb) for o in c.outputs
                  if "image/png" in o.get("data", {}))
    assert figures >= 1, f"{path.name}: no figure in the committed outputs"


@pytest.mark.parametrize("path", PATHS[1:], ids=IDS[1:])
def test_topic_notebooks_have_three_checked_exercises(path):
    checks = [c for c in code_cells(read(path)) if "check" in cell_tags(c)]
    assert len(checks) >= 3, f"{path.name}: {len(checks)} check cells, the course asks for 3+"


# absolute paths of the machine a notebook ran on: home and work directories, venvs
MACHINE_PATH = re.compile(r"(/root/|/home/[^/\s]+/|/Users/[^/\s]+/|/work/|/tmp/|[A-Z]:\\Users\\"
                          r"|site-packages/)")


def committed_text(cell) -> str:
    """Everything a committed cell shows as text: streams, plain text, markdown, HTML."""
    parts = [text_of(cell)]
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        parts += [data.get("text/markdown", ""), data.get("text/html", "")]
    return "".join(p if isinstance(p, str) else "".join(p) for p in parts)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_no_committed_output_shows_a_machine_path(path):
    for i, cell in enumerate(code_cells(read(path))):
        found = MACHINE_PATH.search(committed_text(cell))
        assert not found, f"{path.name} code cell {i} shows a machine path: {found.group(0)!r}"


def test_the_machine_path_pattern_catches_what_it_should():
    for text in ("/work/main/.venv/lib/python3.11/site-packages/tqdm/auto.py:21",
                 "/home/alice/course/x.py", "/root/.cache", "C:\\Users\\bob\\x"):
        assert MACHINE_PATH.search(text), text
    for text in ("data/results/rl2_bandits_paper.json", "notebooks/03_meta_rl.ipynb", "1/2"):
        assert not MACHINE_PATH.search(text), text
