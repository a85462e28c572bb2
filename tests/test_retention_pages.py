"""AppTest page tests for the overview, benchmarks and cohorts pages, and the chart builders."""
from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.analytics import benchmarks, metrics
from app.data import store
from app.present import charts_retention

PAGES = "../pages/"


def run(page: str) -> AppTest:
    at = AppTest.from_file(PAGES + page, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def sample_env(sample_copy, monkeypatch):
    monkeypatch.setenv("CS_DB", str(sample_copy))
    return sample_copy


@pytest.fixture
def empty_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CS_DB", str(tmp_path / "empty.duckdb"))


@pytest.mark.parametrize("page", ["overview.py", "benchmarks.py", "cohorts.py"])
def test_pages_on_an_empty_store_point_to_data(empty_env, page):
    at = run(page)
    assert "Data page" in at.info[0].value


def test_overview_tiles_and_bridge(sample_env):
    at = run("overview.py")
    tiles = {m.label: m for m in at.metric}
    assert list(tiles) == ["ARR", "NRR", "GRR", "Logo retention", "Renewal rate"]
    cur = store.connect(sample_env).cursor()
    want = {k.label: k for k in metrics.kpis(cur)}
    cur.close()
    for label, m in tiles.items():
        assert m.value == want[label].value_text != "n/a"
    assert "capped" in want["GRR"].help
    # the waterfall follows the chosen period
    at.radio(key="overview_freq").set_value("month").run()
    assert not at.exception
    assert at.main.selectbox[0].value == at.main.selectbox[0].options[0]  # the newest month
    assert at.main.selectbox[0].options[0] == "Oct 2026"
    at.radio(key="overview_freq").set_value("quarter").run()
    assert at.main.selectbox[0].options[:2] == ["2026-Q4 (Oct only)", "2026-Q3"]  # the data stops in October


def test_segment_filter_changes_tiles_and_is_kept(sample_env):
    at = run("overview.py")
    all_arr = at.metric[0].value
    seg = at.sidebar.selectbox[0]
    assert seg.options[0] == "All segments" and "SMB" in seg.options
    seg.set_value("SMB").run()
    assert not at.exception
    assert at.metric[0].value != all_arr
    assert at.session_state["segment_filter"] == "SMB"


def test_benchmarks_page_shows_every_source_and_each_segment(sample_env):
    at = run("benchmarks.py")
    shown = " ".join(str(v) for t in at.table for v in t.value.to_numpy().ravel())
    for src in benchmarks.load_benchmarks()["source"].unique():
        assert src in shown, src
    scorecard = at.table[0].value
    assert {"SMB", "Mid-Market", "Enterprise"} <= set(scorecard["Segment"])
    assert scorecard["Renewal rate status"].str.contains("pass|excellent").all()
    assert "house default: pass" in shown
    assert any("House defaults" in c.value for c in at.caption)


def test_cohorts_page(sample_env):
    at = run("cohorts.py")
    assert at.dataframe[0].value.columns[0] == "root_reason"
    at.radio(key="cohort_value").set_value("logo_retention").run()
    at.selectbox(key="churn_months").set_value(None).run()
    assert not at.exception


# ---------------------------------------------------------------- chart builders

def test_waterfall_bars_float_from_level_to_level():
    bridge = pd.DataFrame({"month": pd.to_datetime(["2024-01-01"]), "start_arr": [100.0], "new": [20.0],
                           "expansion": [5.0], "reactivation": [0.0], "contraction": [10.0], "churn": [15.0],
                           "end_arr": [100.0], "start_logos": [3], "new_logos": [1], "reactivated_logos": [0],
                           "churned_logos": [1], "end_logos": [3]})
    assert metrics.bridge_periods(bridge) == ["2024-Q1 (Jan only)"]
    steps = metrics.bridge_steps(bridge, "2024-Q1 (Jan only)")
    assert steps["bar_end"].tolist() == [100, 120, 120, 125, 115, 100, 100]
    spec = charts_retention.waterfall(steps).to_dict()
    bars = spec["layer"][0]
    assert bars["mark"]["type"] == "bar"
    assert bars["encoding"]["y2"]["field"] == "bar_end"
    # levels 100-125 padded by a quarter of the span (93.75-131.25), then out to whole $10 ticks (app/present/fmt.py)
    assert bars["encoding"]["y"]["scale"]["domain"] == [90, 140]
    assert bars["encoding"]["y"]["axis"]["values"] == [90, 100, 110, 120, 130, 140]
    assert bars["encoding"]["x"]["sort"] == ["Start ARR", "New", "Reactivation", "Expansion", "Contraction",
                                             "Churn", "End ARR"]


def test_pareto_and_heatmap_specs():
    reasons = pd.DataFrame({"root_reason": ["Poor onboarding", "Price"], "churned_arr": [300.0, 100.0],
                            "logos": [2, 1], "arr_share": [0.75, 0.25], "cum_arr_share": [0.75, 1.0]})
    spec = charts_retention.pareto(reasons, "root_reason", "Root").to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "line"]
    assert spec["resolve"]["scale"]["y"] == "independent"
    cohorts = pd.DataFrame({"cohort": ["2024-Q1"], "months_since_start": [0], "logo_retention": [1.0],
                            "revenue_retention": [1.0], "accounts": [3], "active_accounts": [3]})
    spec = charts_retention.cohort_heatmap(cohorts, "logo_retention").to_dict()
    assert spec["mark"]["type"] == "rect" and spec["encoding"]["color"]["field"] == "logo_retention"
