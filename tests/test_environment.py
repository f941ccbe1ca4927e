"""The pinned environment: requirements.txt, environment.yml and the venv agree."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", line)
        assert match, f"requirements.txt line {line!r} is not an exact pin name==version"
        pins[match.group(1).lower()] = match.group(2)
    return pins


def test_every_requirement_is_pinned_and_torch_is_the_cpu_pin():
    pins = pinned_requirements()
    assert pins["torch"] == "2.13.0"
    for needed in ("numpy", "matplotlib", "gymnasium", "jupyterlab", "ipykernel", "nbval",
                   "pytest", "tqdm"):
        assert needed in pins, f"{needed} must be pinned in requirements.txt"


def test_environment_yml_installs_exactly_requirements_and_the_package():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "ssm-metarl"
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert sorted(pip_section) == sorted(["-r requirements.txt", "-e ."])
    conda_only = [d for d in deps if isinstance(d, str) and d not in ("python=3.11", "pip")]
    assert conda_only == [], f"conda packages outside requirements.txt would drift: {conda_only}"


@pytest.mark.parametrize("name", sorted(pinned_requirements()))
def test_installed_versions_match_the_pins(name):
    installed = version(name)
    assert installed.split("+")[0] == pinned_requirements()[name], (
        f"{name}: installed {installed}, pinned {pinned_requirements()[name]}; run `make venv`"
    )


def test_readme_course_map_is_one_table_with_a_row_per_notebook():
    """A blank line inside a markdown table ends it; every notebook needs its row."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| notebook |"))
    assert set(lines[start + 1].replace("|", "").strip()) <= set("-: "), "no separator row"
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    widths = {line.count("|") for line in [lines[start], *rows]}
    assert len(widths) == 1, f"course-map rows have different column counts: {widths}"
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    linked = [n for n in notebooks if any(f"[{n}](notebooks/{n}.ipynb)" in r for r in rows)]
    assert linked == notebooks, f"course map lacks rows for {sorted(set(notebooks) - set(linked))}"
