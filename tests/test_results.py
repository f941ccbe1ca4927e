"""Reference tables and stored results (ssm_metarl.results)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssm_metarl import results

PUBLISHED = {
    # (table, filter) -> the numbers of COURSE_DESIGN.md section 6, typed independently here.
    "maml_sinusoid": ("method", "MAML", "mse", [0.67, 0.38, 0.35]),
    "maml_rl_navigation": ("method", "MAML", "return", [-40.41, -11.68, -3.33, -3.23]),
}


def test_every_reference_table_has_a_source_on_every_row():
    names = results.reference_names()
    assert {"maml_sinusoid", "maml_rl_navigation", "rl2_bandits"} <= set(names)
    for name in names:
        rows = results.load_reference(name)
        assert rows, name
        for row in rows:
            assert "arXiv" in row["source"], (name, row)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_reference_numbers_match_the_papers(name):
    key, value, column, expected = PUBLISHED[name]
    got = [r[column] for r in results.load_reference(name) if r[key] == value]
    assert got == expected


def test_rl2_table_rows():
    rows = results.load_reference("rl2_bandits")
    cell = {(r["n"], r["k"], r["method"]): r["total_reward"] for r in rows}
    assert cell[(10, 5, "RL2")] == 6.7
    assert cell[(100, 5, "RL2")] == 78.7
    assert cell[(100, 10, "Gittins")] == 82.8
    assert cell[(500, 5, "Greedy")] == 380.6
    assert len(rows) == 5 * 6


def test_unknown_reference_lists_the_known_ones():
    with pytest.raises(ValueError, match="maml_sinusoid"):
        results.load_reference("nope")


def test_every_stored_result_loads_with_its_provenance():
    for name in results.result_names():
        payload = results.load_result(name)
        assert payload["name"] == name
        assert payload["seeds"] and payload["metrics"]


def test_save_then_load_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("SSM_METARL_DATA", str(tmp_path))
    path = results.save_result("demo", {"mse": np.float64(0.5), "curve": np.arange(3)},
                               command="make x", seeds=[0, 1], profile="paper")
    payload = results.load_result("demo")
    assert path.exists()
    assert payload["metrics"] == {"mse": 0.5, "curve": [0, 1, 2]}
    assert payload["command"] == "make x" and payload["seeds"] == [0, 1]
    with pytest.raises(ValueError, match="metrics"):
        results.save_result("demo", {}, command="x", seeds=[0], profile="paper")


def test_load_result_rejects_missing_provenance_and_bad_json(tmp_path, monkeypatch):
    monkeypatch.setenv("SSM_METARL_DATA", str(tmp_path))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "partial.json").write_text(json.dumps({"name": "partial"}))
    with pytest.raises(ValueError, match="lacks the keys"):
        results.load_result("partial")
    (tmp_path / "results" / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        results.load_result("broken")
    with pytest.raises(ValueError, match="no stored result"):
        results.load_result("absent")


def test_mean_ci_matches_the_t_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3))
    mean, half = results.mean_ci(x)
    np.testing.assert_allclose(mean, x.mean(0))
    # t_{0.975, 9} = 2.262 (statistical tables)
    np.testing.assert_allclose(half, 2.262 * x.std(0, ddof=1) / np.sqrt(10))
    big = rng.normal(size=5000)
    m, h = results.mean_ci(big)
    assert abs(m) < 3 * h and h == pytest.approx(1.96 * big.std(ddof=1) / np.sqrt(5000))
    with pytest.raises(ValueError, match="at least 2"):
        results.mean_ci([1.0])
