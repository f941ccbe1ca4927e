"""Reference tables and stored results (ssm_metarl.results)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

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


# ---------------------------------------------------------------------------- results_table

STORED_RUN = {"profile": "paper", "date": "2026-11-25"}


def test_results_table_groups_published_live_stored():
    text = results.results_table(
        ["test tasks", "1 step", "5 steps"],
        published={"MAML": ["n/a", 0.67, 0.38]}, citation="Finn et al. 2017, Table 2",
        live={"MAML": [300, (1.0, 0.12), "diverged on 15/300 tasks"],
              "pretrained": [300, (2.78, 0.3), (2.591, 0.296)]}, profile="class",
        stored={"MAML": [1000, {"mean": 0.667, "ci95": 0.054}, {"mean": 0.42, "ci95": 0.1}]},
        stored_result=STORED_RUN)
    assert text == (
        "| method | source | test tasks | 1 step | 5 steps |\n"
        "|---|---|---|---|---|\n"
        "| MAML | Finn et al. 2017, Table 2 | n/a | 0.67 | 0.38 |\n"
        "| MAML | **this run**, profile=class | 300 | 1.00 ± 0.12 | diverged on 15/300 tasks |\n"
        "| pretrained | **this run**, profile=class | 300 | 2.78 ± 0.30 | 2.59 ± 0.30 |\n"
        "| MAML | stored run, profile=paper, 2026-11-25 | 1000 | 0.67 ± 0.05 | 0.42 ± 0.10 |"
    )


def test_results_table_missing_cells_and_sources_stay_empty():
    # as notebook 03: the published oracle has only a 0-step number, and no stored run exists
    text = results.results_table(
        ["goals", "0 steps", "1 step"],
        published={"oracle": {"goals": 40, "0 steps": -2.29}, "MAML": [40, -40.41, None]},
        citation="Finn et al. 2017, Table 4",
        live={"MAML": [40, (-38.81, 3.6), (-14.89, 0.94)]}, profile="class", stored=None)
    assert text == (
        "| method | source | goals | 0 steps | 1 step |\n"
        "|---|---|---|---|---|\n"
        "| oracle | Finn et al. 2017, Table 4 | 40 | -2.29 |  |\n"
        "| MAML | Finn et al. 2017, Table 4 | 40 | -40.41 |  |\n"
        "| MAML | **this run**, profile=class | 40 | -38.81 ± 3.60 | -14.89 ± 0.94 |"
    )


def test_results_table_by_row_with_selected_rows_and_column_keys():
    # as notebook 03's bandit table: keys -> headers, one citation per row, published to 0.1
    columns = {"random": "Random", "ucb_mean": "UCB-mean (tuned c)", "RL2 (SSM)": "RL² SSM"}
    text = results.results_table(
        columns, rows=["n=10,k=5", "n=100,k=5"], label="setting", group_by="row",
        published={"n=10,k=5": {"random": 5.0}, "n=100,k=5": {"random": 49.9}},
        published_digits=1,
        citation={"n=10,k=5": "Duan et al. 2016 (Gittins 6.6)",
                  "n=100,k=5": "Duan et al. 2016 (Gittins 78.3)"},
        live={"n=10,k=5": {"random": {"mean": 4.994, "ci95": 0.131},
                           "ucb_mean": {"mean": 6.64, "ci95": 0.14}},
              "n=500,k=5": {"random": (249.0, 2.0)}},  # not in rows: not shown
        profile="class",
        stored={"n=100,k=5": {"RL2 (SSM)": {"mean": 74.13, "ci95": 1.15}}},
        stored_result=STORED_RUN)
    assert text == (
        "| setting | source | Random | UCB-mean (tuned c) | RL² SSM |\n"
        "|---|---|---|---|---|\n"
        "| n=10,k=5 | Duan et al. 2016 (Gittins 6.6) | 5.0 |  |  |\n"
        "| n=10,k=5 | **this run**, profile=class | 4.99 ± 0.13 | 6.64 ± 0.14 |  |\n"
        "| n=100,k=5 | Duan et al. 2016 (Gittins 78.3) | 49.9 |  |  |\n"
        "| n=100,k=5 | stored run, profile=paper, 2026-11-25 |  |  | 74.13 ± 1.15 |"
    )


def test_results_table_keeps_each_sources_own_rows_and_order():
    text = results.results_table(
        ["x"], live={"b": [1], "a": [2]}, profile="smoke",
        stored={"a": [3], "c": [4]}, stored_result=STORED_RUN)
    assert [line.split(" | ")[0] for line in text.splitlines()[2:]] == ["| b", "| a", "| a", "| c"]


def test_results_table_number_formats():

    text = results.results_table(
        ["switches", "shock", "recovery time [steps]"], label="method", digits=4,
        column_digits={"recovery time [steps]": 1}, profile="class",
        live={"frozen": [np.int64(40), (np.float64(0.01716), float("nan")),
                         (torch.tensor(1.54), np.array(1.66))],
              "oracle": [40, 0.00034, 0.75]})
    assert text.splitlines()[2:] == [
        "| frozen | **this run**, profile=class | 40 | 0.0172 ± nan | 1.5 ± 1.7 |",
        "| oracle | **this run**, profile=class | 40 | 0.0003 | 0.8 |",
    ]


def test_results_table_label_of_a_saved_and_loaded_result(tmp_path, monkeypatch):
    monkeypatch.setenv("SSM_METARL_DATA", str(tmp_path))
    results.save_result("demo", {"mse": 0.5}, command="make x", seeds=[0], profile="paper")
    payload = results.load_result("demo")
    text = results.results_table(["mse"], stored={"MAML": [payload["metrics"]["mse"]]},
                                 stored_result=payload)
    assert text.splitlines()[2] == f"| MAML | stored run, profile=paper, {payload['date']} | 0.50 |"


def test_results_table_published_rows_of_the_navigation_reference():
    by_method = {}
    for row in results.load_reference("maml_rl_navigation"):
        by_method.setdefault(row["method"], {})[row["steps"]] = row["return"]
    text = results.results_table(
        ["goals", "0 steps", "1 step", "2 steps", "3 steps"], citation="Finn et al. 2017, Table 4",
        published={m: [40, *(steps.get(s) for s in range(4))] for m, steps in by_method.items()})
    assert text.splitlines()[2:] == [
        "| MAML | Finn et al. 2017, Table 4 | 40 | -40.41 | -11.68 | -3.33 | -3.23 |",
        "| pretrained | Finn et al. 2017, Table 4 | 40 | -40.81 | -19.73 | -11.72 | -8.47 |",
        "| random_init | Finn et al. 2017, Table 4 | 40 | -82.66 | -57.96 | -53.84 | -46.81 |",
        "| oracle | Finn et al. 2017, Table 4 | 40 | -2.29 |  |  |  |",
    ]


LIVE = {"MAML": [(1.0, 0.1), (0.5, 0.1)]}


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"live": {"MAML": [(1.0, 0.1)]}}, ValueError,
     r"live\['MAML'\] has 1 cells but columns has 2"),
    ({"live": {"MAML": {"1 step": 1.0, "20 steps": 2.0}}}, ValueError,
     r"live\['MAML'\] has the columns \['20 steps'\], which are not in columns"),
    ({"live": {"MAML": [object(), 1.0]}}, TypeError, r"live\['MAML'\]\['1 step'\] must be None"),
    ({"live": {"MAML": [(1.0, "x"), 1.0]}}, TypeError, r"live\['MAML'\]\['1 step'\]"),
    ({"live": {"MAML": [True, 1.0]}}, TypeError, r"live\['MAML'\]\['1 step'\]"),
    ({"live": {"MAML": "1.0 0.5"}}, TypeError, r"live\['MAML'\] must be a list of cells"),
    ({"live": [("MAML", [1.0, 2.0])]}, TypeError, "live must be a dict"),
    ({"live": {("MAML",): [1.0, 2.0]}}, TypeError, "row name"),
    ({"live": LIVE, "profile": None}, ValueError, "profile is required with live"),
    ({"stored": LIVE}, ValueError, "stored_result must be the dict load_result returned"),
    ({"stored": LIVE, "stored_result": {"profile": "paper"}}, ValueError, "stored_result"),
    ({"published": LIVE}, ValueError, "citation is required with published"),
    ({"published": LIVE, "citation": {"other": "x"}}, ValueError,
     r"citation has no entry for the published rows \['MAML'\]"),
    ({"published": LIVE, "citation": "a | b"}, ValueError, "citation must not contain '|'"),
    ({"published": LIVE, "citation": 3}, TypeError, "citation must be a str"),
    ({"live": None}, ValueError, "at least one of published, live, stored"),
    ({"rows": ["MAML", "Reptile"]}, ValueError, r"rows \['Reptile'\] are in none of live"),
    ({"rows": ["MAML", "MAML"]}, ValueError, r"rows repeats \['MAML'\]"),
    ({"rows": "MAML"}, TypeError, "rows must be a list of str"),
    ({"group_by": "column"}, ValueError, "group_by must be 'source' or 'row'"),
    ({"digits": -1}, ValueError, "digits must be >= 0"),
    ({"digits": 2.0}, TypeError, "digits must be an int"),
    ({"column_digits": {"3 steps": 1}}, ValueError,
     r"column_digits names \['3 steps'\], which are not in columns"),
    ({"published_digits": "1"}, TypeError, "published_digits must be an int"),
    ({"label": 5}, TypeError, "label must be a str"),
])
def test_results_table_rejects_bad_input_naming_the_argument(kwargs, error, match):
    arguments = {"live": LIVE, "profile": "class", **kwargs}
    with pytest.raises(error, match=match):
        results.results_table(["1 step", "5 steps"], **arguments)


@pytest.mark.parametrize(("columns", "error", "match"), [
    (["1 step", "1 step"], ValueError, r"columns repeats \['1 step'\]"),
    ([], ValueError, "columns must not be empty"),
    ("1 step", TypeError, "columns must be a list of str"),
    ({"a": 1}, TypeError, r"columns\['a'\] must be a str"),
])
def test_results_table_rejects_bad_columns(columns, error, match):
    with pytest.raises(error, match=match):
        results.results_table(columns, live={"MAML": [1.0]}, profile="class")


def test_seeds_tasks_cells_give_both_intervals_or_the_median_where_tasks_diverged():
    from ssm_metarl.results import mean_ci, seeds_tasks_cells

    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 0.1, size=(3, 20, 2))
    values[1, 4, 1] = 1e6  # one blow-up in column 1
    values[2, 7, 1] = np.nan
    fine, blown = seeds_tasks_cells(values, digits=3, diverged_above=100)
    _, across_seeds = mean_ci(values[:, :, 0].mean(axis=1))
    _, across_tasks = mean_ci(values[:, :, 0].mean(axis=0))
    assert fine == (f"{values[:, :, 0].mean():.3f} ± {across_seeds:.3f} "
                    f"(± {across_tasks:.3f})")
    median = np.median(np.where(np.isnan(values[:, :, 1]), np.inf, values[:, :, 1]))
    assert blown == f"median {median:.3f} (3.3% diverged)"  # 2 of 60 entries
    # without a threshold only the non-finite entry counts; most entries non-finite: no median
    assert seeds_tasks_cells(values[:, :, 1:])[0].endswith("(1.7% diverged)")
    assert seeds_tasks_cells(np.full((2, 3, 1), np.inf)) == ["median inf (100.0% diverged)"]
    assert seeds_tasks_cells(np.full((2, 3, 1), 4.5e28), diverged_above=100) == [
        "median 4.5e+28 (100.0% diverged)"]
