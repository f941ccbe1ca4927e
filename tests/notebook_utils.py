"""Helpers shared by the notebook tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def cell_tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def text_of(cell: nbformat.NotebookNode) -> str:
    """All text a cell printed (stream and plain-text results)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "".join(parts)


# How long a notebook takes in class, the rule its "**Length**" line states:
# prose read at WORDS_PER_MINUTE, code at LINES_PER_MINUTE, plus its `class` run.
WORDS_PER_MINUTE, LINES_PER_MINUTE = 150, 25


def reading_minutes(nb: nbformat.NotebookNode) -> float:
    """Minutes to read a notebook's prose and code at the course's stated pace."""
    words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    lines = sum(len(c.source.splitlines()) for c in code_cells(nb))
    return words / WORDS_PER_MINUTE + lines / LINES_PER_MINUTE
