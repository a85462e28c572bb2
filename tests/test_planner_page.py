"""The planner's store inputs (starting point, history averages, saved scenarios) and its page (AppTest)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.data import store
from app.present import charts_planning
from planning import inputs as pi
from planning import model
from planning import scenario as sc
from planning.spend_benchmarks import spend_band
from tests.conftest import d, make_store

PAGE = "../pages/planner.py"
EXAMPLE = Path(__file__).resolve().parent.parent / "data" / "scenarios" / "example.json"


@pytest.fixture
def plan_db(tmp_path: Path) -> Path:
    """SMB S1-S3 (CSM C1) and S4 (no CSM: tech touch), Mid-Market M1-M2 (C2), Enterprise E1 (C3); as of 2024-12-31."""
    accounts = pd.DataFrame({
        "account_id": ["S1", "S2", "S3", "S4", "M1", "M2", "E1"],
        "segment": ["SMB", "SMB", "SMB", "SMB", "Mid-Market", "Mid-Market", "Enterprise"],
        "csm_id": ["C1", "C1", "C1", None, "C2", "C2", "C3"],
    })
    subs = pd.DataFrame({
        "subscription_id": [f"L{i}" for i in range(8)],
        "account_id": ["S1", "S2", "S3", "S4", "M1", "M1", "M2", "E1"],
        "start_date": [d("2023-01-01"), d("2023-01-01"), d("2024-03-01"), d("2023-06-01"), d("2023-01-01"),
                       d("2024-06-01"), d("2024-05-01"), d("2023-01-01")],
        "end_date": [None, d("2024-06-01"), None, None, None, None, None, None],
        "arr": [6000.0, 3000.0, 4000.0, 1000.0, 30000.0, 6000.0, 24000.0, 150000.0],
    })
    csms = pd.DataFrame({
        "csm_id": ["C1", "C2", "C3", "C4"], "name": ["A", "B", "C", "D"],
        "segment": ["SMB", "Mid-Market", "Enterprise", "Mid-Market"],
        "start_date": [d("2022-01-01")] * 4, "end_date": [None, None, None, d("2024-06-30")],
        "fully_loaded_cost": [100000.0, 150000.0, 200000.0, 140000.0],
    })
    path = tmp_path / "plan.duckdb"
    make_store(path, {"accounts": accounts, "subscriptions": subs, "csms": csms}, "2024-12-31").close()
    return path


def test_starting_point_by_segment(plan_db):
    cur = store.connect(plan_db)
    sp = pi.starting_point(cur).set_index("segment")
    assert list(sp.index) == ["SMB", "Mid-Market", "Enterprise", "Tech touch"]
    assert sp.loc["SMB", ["accounts", "arr", "csms"]].tolist() == [2, 10000.0, 1]  # S1 + S3; S2 churned
    assert sp.loc["Tech touch", ["accounts", "arr", "csms"]].tolist() == [1, 1000.0, 0]  # S4: no named CSM
    assert sp.loc["Mid-Market", ["accounts", "arr", "csms"]].tolist() == [2, 60000.0, 1]  # C4 left in June
    assert sp.loc["Enterprise", "avg_csm_cost"] == 200000.0


def test_history_averages(plan_db):
    cur = store.connect(plan_db)
    h = pi.history_demand(cur).set_index("segment")
    assert h.loc["SMB", "months"] == 12
    assert h.loc["SMB", "new_per_month"] == pytest.approx(1 / 12)  # S3 in March 2024
    assert h.loc["SMB", "avg_new_arr"] == 4000.0
    assert h.loc["SMB", "annual_logo_churn"] == pytest.approx(0.5)  # S1 and S2 at Dec 2023; S2 gone
    assert h.loc["SMB", "annual_net_expansion"] == pytest.approx(0.0)
    assert h.loc["Mid-Market", "annual_net_expansion"] == pytest.approx(0.2)  # M1 30k -> 36k
    assert h.loc["Mid-Market", "avg_new_arr"] == 24000.0
    assert h.loc["Tech touch", "new_per_month"] == 0


def test_scenario_from_store_starts_after_as_of(plan_db):
    cur = store.connect(plan_db)
    s, note = pi.initial_scenario(pi.store_defaults(cur))
    assert s.start_month == d("2025-01-01")
    mm = s.segment("Mid-Market")
    assert (mm.start.accounts, mm.start.arr, mm.start.csms) == (2.0, 60000.0, 1)
    assert mm.demand.new_per_month == (0.08,) and mm.demand.annual_net_expansion == 0.2
    assert mm.people.cost_per_csm == 150000.0
    assert "2024" in note and "history" in note
    model.run_plan(s)  # plannable as is


def test_empty_store_starts_from_the_example(tmp_path):
    cur = store.connect(tmp_path / "e.duckdb")
    s, note = pi.initial_scenario(pi.store_defaults(cur))
    assert s == sc.load_scenario(EXAMPLE) and "example" in note


def test_saved_scenarios_round_trip(plan_db):
    cur = store.connect(plan_db)
    s = sc.load_scenario(EXAMPLE)
    name = "Flat budget 8% 'CFO'; DROP TABLE scenarios"
    assert pi.save_scenario(cur, s, name) == name
    pi.save_scenario(cur, sc.set_field(s, "SMB", "cost", "tooling_per_csm", 1.0), "Other")
    assert set(pi.list_saved(cur)["name"]) == {name, "Other"}
    back = pi.load_saved(cur, name)
    assert back.name == name and back.segments == s.segments
    pi.save_scenario(cur, sc.set_field(s, "SMB", "cost", "tooling_per_csm", 2.0), name)  # replace
    assert pi.load_saved(cur, name).segment("SMB").cost.tooling_per_csm == 2.0
    assert pi.delete_saved(cur, name) and not pi.delete_saved(cur, name)
    with pytest.raises(sc.ScenarioError, match="no saved scenario"):
        pi.load_saved(cur, name)


def test_cli_fills_missing_start_from_store(plan_db, tmp_path):
    raw = json.loads(EXAMPLE.read_text())
    del raw["segments"]["Mid-Market"]["start"]
    f = tmp_path / "s.json"
    f.write_text(json.dumps(raw))
    out = pi.plan_table(str(f), store.connect(plan_db))
    assert list(out.columns) == model.CLI_COLUMNS
    assert len(out) == 12 * 4
    mm = out[out["segment"] == "Mid-Market"].iloc[0]
    # 2 accounts from the store, 10% churn, then Jan's share of 260 a year (quarter_end: 1/16)
    assert mm["accounts"] == pytest.approx(2 * 0.9 ** (1 / 12) + 260 / 16)
    with pytest.raises(sc.ScenarioError, match="segments.Mid-Market.start"):
        pi.plan_table(str(f), None)


def test_comparison_and_chart_builders():
    base = sc.load_scenario(EXAMPLE)
    lean = sc.set_field(base, "Mid-Market", "coverage", "accounts_per_csm", 120.0)
    cmp = model.compare({"Base": base, "Lean": lean})
    t = cmp.table.set_index("scenario")
    assert t.loc["Base", "Δ Year-end headcount"] == 0
    assert t.loc["Lean", "Δ Year-end headcount"] < 0
    assert t.loc["Lean", "Δ Year-end headcount"] == t.loc["Lean", "Year-end headcount"] - t.loc["Base",
                                                                                                 "Year-end headcount"]
    r = model.run_plan(base)
    spec = charts_planning.cost_chart(r.totals, 8.5, spend_band()).to_dict()
    assert "SaaStr" in json.dumps(spec) and "2024" in json.dumps(spec)
    assert charts_planning.fte_chart(r.detail, "SMB").to_dict()["title"].endswith("(SMB)")
    assert charts_planning.hiring_chart(r.detail).to_dict()["mark"]["type"] == "bar"
    assert len(charts_planning.compare_chart(cmp.totals, "headcount", "CSMs").to_dict()["datasets"]) == 1


# ------------------------------------------------------------------ the page

def _run(db: Path, monkeypatch, token: str | None = None) -> AppTest:
    monkeypatch.setenv("CS_DB", str(db))
    at = AppTest.from_file(PAGE, default_timeout=30)
    if token:
        at.query_params["scenario"] = token
    at.run()
    assert not at.exception, at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _slider(at: AppTest, label: str):
    return next(s for s in at.slider if s.label == label)


def _open_tab(at: AppTest, name: str) -> None:
    """Open one input tab (only the open tab's inputs run), as a click on it does."""
    at.session_state["pl_tab"] = name
    at.run()
    assert not at.exception, at.exception


@pytest.mark.slow
def test_page_slider_moves_the_headlines(plan_db, monkeypatch):
    at = _run(plan_db, monkeypatch)
    m = _metrics(at)
    assert {"Hires this year", "Year-end headcount", "Annual CS cost", "Cost as % of ARR"} <= set(m)
    assert not [s for s in at.slider if "(Mid-Market)" in s.label]  # the Start tab is open: no sliders there
    _open_tab(at, "Demand")
    _slider(at, "New customers, first 12 months (Mid-Market)").set_value(240).run()
    assert not at.exception
    before = _metrics(at)
    _open_tab(at, "Coverage")
    assert _metrics(at) == before  # opening a tab changes nothing
    _slider(at, "Accounts per CSM (Mid-Market)").set_value(20.0).run()
    assert not at.exception
    after = _metrics(at)
    assert int(after["Hires this year"]) > int(before["Hires this year"])
    assert int(after["Year-end headcount"]) > int(before["Year-end headcount"])
    # the values equal the model's for the same inputs
    s = sc.load_scenario(at.session_state["planner_scenario_json"])
    assert s.segment("Mid-Market").coverage.accounts_per_csm == 20.0
    assert after["Year-end headcount"] == model.run_plan(s).headlines["year_end_headcount"].text


@pytest.mark.slow
def test_page_reproduces_a_shared_link_and_empty_store(tmp_path, monkeypatch):
    s = sc.set_field(sc.load_scenario(EXAMPLE), "Enterprise", "coverage", "accounts_per_csm", 10.0)
    at = _run(tmp_path / "empty.duckdb", monkeypatch, token=sc.encode_url(s))
    expect = model.run_plan(s).headlines
    m = _metrics(at)
    assert m["Year-end headcount"] == expect["year_end_headcount"].text
    assert m["Cost as % of ARR"] == expect["cost_pct_arr"].text
    assert not at.error
    # a damaged link says so, and the page still works from defaults
    at2 = _run(tmp_path / "empty2.duckdb", monkeypatch, token="not-a-real-token")
    assert any("damaged" in e.value for e in at2.error)
    assert "Hires this year" in _metrics(at2)


@pytest.mark.slow
def test_page_saves_loads_and_compares(plan_db, monkeypatch):
    at = _run(plan_db, monkeypatch)
    at.text_input(key="pl_save_name").set_value("Base")
    at.button(key="pl_save").click().run()
    assert not at.exception and any("Saved" in s.value for s in at.success)
    _open_tab(at, "Demand")
    _slider(at, "New customers, first 12 months (Mid-Market)").set_value(600).run()
    at.text_input(key="pl_save_name").set_value("Aggressive growth")
    at.button(key="pl_save").click().run()
    cur = store.connect(plan_db)
    assert set(pi.list_saved(cur)["name"]) == {"Base", "Aggressive growth"}
    agg = pi.load_saved(cur, "Aggressive growth")
    cur.close()
    assert sum(sc.new_per_month(agg.segment("Mid-Market"), agg.start_month, 12)) == pytest.approx(600)
    at.multiselect(key="pl_compare").set_value(["Base", "Aggressive growth"]).run()
    assert not at.exception
    table = at.dataframe[-1].value.set_index("Scenario")
    # numbers for people: whole counts, compact money, exact signed deltas, percentages with %
    agg = table.loc["Aggressive growth"]
    assert re.fullmatch(r"\+[\d,]+", agg["Δ hires"]), agg["Δ hires"]
    assert re.fullmatch(r"[\d,]+", agg["Year-end headcount"])
    assert re.fullmatch(r"\$\d+(\.\d)?[kMB]", agg["Annual CS cost"]), agg["Annual CS cost"]
    assert re.fullmatch(r"\+\$[\d,]+", agg["Δ cost"]), agg["Δ cost"]
    assert re.fullmatch(r"\d+\.\d%", agg["Cost % of ARR"]) and agg["Δ % of ARR"].endswith(" pts")
    assert table.loc["Base", "Δ cost"] == "$0" and table.loc["Base", "Hiring rule"] == "Fill the gap as it appears"
    # load Base back: the slider returns to the saved value
    at.selectbox(key="pl_pick").set_value("Base").run()
    at.button(key="pl_load").click().run()
    assert not at.exception
    s = sc.load_scenario(at.session_state["planner_scenario_json"])
    assert sum(sc.new_per_month(s.segment("Mid-Market"), s.start_month, 12)) < 600


@pytest.mark.slow
def test_demand_defaults_come_from_the_new_logo_forecast_on_long_history(sample_copy):
    cur = store.connect(sample_copy)
    d = pi.store_defaults(cur)
    assert d.source == "forecast"
    mm = d.demand.set_index("segment").loc["Mid-Market", "new_per_month"]
    assert len(mm) == 12 and all(x >= 0 for x in mm)
    # The sample adds roughly 10-40 Mid-Market logos a month; a forecast far outside is broken.
    assert 3 < sum(mm) / 12 < 60


# ------------------------------------------------------------------ plan year, exports

def test_plan_year_defaults_to_the_next_fiscal_year(plan_db):
    cur = store.connect(plan_db)
    store.set_fiscal_year_start(cur, 2)  # fiscal years Feb-Jan; as of 31 Dec 2024 we are in FY2025
    d = pi.store_defaults(cur, use_forecast=False)
    assert d.fiscal_year_start == 2
    s, note = pi.initial_scenario(d)
    assert s.start_month == d_("2025-02-01") and s.fiscal_year_start == 2
    assert "FY2026" in note and "1 month(s) between" in note
    assert "FY2026 (Feb 2025-Jan 2026)" in model.run_plan(s).headlines["annual_cost"].explanation
    assert pi.plan_year_start(d_("2025-03-31"), 1) == d_("2026-01-01")
    assert pi.plan_year_start(d_("2025-03-31"), 4) == d_("2025-04-01")  # the very next month


def d_(iso: str):
    import datetime as dt
    return dt.date.fromisoformat(iso)


def test_plan_xlsx_has_whole_accounts_dollars_and_numeric_inputs():
    import io

    import openpyxl

    from app.present import export

    s = sc.with_total_mix(sc.load_scenario(EXAMPLE), 500, {"SMB": 0.2, "Mid-Market": 0.6, "Enterprise": 0.2})
    r = model.run_plan(s)
    wb = openpyxl.load_workbook(io.BytesIO(export.to_xlsx_bytes(*pi.plan_workbook(s, r, model.affordable(r, 8.5)))))
    assert wb.sheetnames == ["Inputs", "Monthly", "Detail", "Totals", "Affordable", "Headlines"]

    def column(ws, name):
        head = [c.value for c in ws[1]]
        return [row[head.index(name)] for row in ws.iter_rows(min_row=2, values_only=True)]

    det = wb["Detail"]
    accounts = column(det, "accounts")
    assert all(isinstance(v, int) for v in accounts), accounts[:5]
    assert accounts[0] == round(r.detail["accounts"].iloc[0])
    assert all(isinstance(v, int) for v in column(det, "new_accounts"))
    assert all(float(v).is_integer() for v in column(det, "arr") + column(det, "cost"))
    assert all(round(v, 1) == v for v in column(det, "required_fte"))
    assert det.cell(row=2, column=[c.value for c in det[1]].index("arr") + 1).number_format == "$#,##0"
    inputs = {(seg, f): v for seg, _, f, v in wb["Inputs"].iter_rows(min_row=2, values_only=True)}
    assert inputs[("Mid-Market", "accounts_per_csm")] == 60 and inputs[("(plan)", "months")] == 12
    assert inputs[("(plan)", "total_per_year")] == 500
    assert inputs[("Mid-Market", "mix")] == 0.6
    assert inputs[("SMB", "annual_logo_churn")] == 0.15
    assert inputs[("(plan)", "rule")] == "fill_gap"
    heads = {h: v for h, v, *_ in wb["Headlines"].iter_rows(min_row=2, values_only=True)}
    assert isinstance(heads["Hires this year"], (int, float)) and float(heads["Annual CS cost"]).is_integer()


def _k(at: AppTest, part: str) -> str:
    """A planner widget's key (keys carry a generation number, bumped when a scenario is loaded)."""
    return f"pl{at.session_state['planner_widget_gen']}_{part}"


@pytest.mark.slow
def test_page_total_and_mix_and_hiring_rule(tmp_path, monkeypatch):
    at = _run(tmp_path / "empty.duckdb", monkeypatch)  # the example: per segment, 500 a year
    _open_tab(at, "Demand")
    at.radio(key=_k(at, "dmode")).set_value("Total + mix").run()
    assert not at.exception
    s = sc.load_scenario(at.session_state["planner_scenario_json"])
    assert s.new_customers is not None and s.new_customers.total_per_year == 500
    at.number_input(key=_k(at, "dtotal")).set_value(500).run()
    for name, share in (("SMB", 20.0), ("Mid-Market", 60.0), ("Enterprise", 20.0), ("Tech touch", 0.0)):
        at.number_input(key=_k(at, f"{name}_share")).set_value(share)
    at.run()
    assert not at.exception and not at.error
    s = sc.load_scenario(at.session_state["planner_scenario_json"])
    assert {g.name: round(sum(sc.segment_new(s, g, 12)), 6) for g in s.segments} == {
        "SMB": 100, "Mid-Market": 300, "Enterprise": 100, "Tech touch": 0}
    assert _metrics(at)["Year-end headcount"] == model.run_plan(s).headlines["year_end_headcount"].text
    # a mix that does not add up says so and plans nothing
    at.number_input(key=_k(at, "Enterprise_share")).set_value(15.0).run()
    assert any("must add up to 100%" in e.value for e in at.error)
    at.number_input(key=_k(at, "Enterprise_share")).set_value(20.0).run()
    assert not at.error
    # the hiring rule is part of the scenario and of the headlines
    at.selectbox(key=_k(at, "rule")).set_value("tolerance").run()
    at.slider(key=_k(at, "tol")).set_value(10.0).run()
    assert not at.exception
    s = sc.load_scenario(at.session_state["planner_scenario_json"])
    assert s.hiring == sc.Hiring("tolerance", 2, 0.10)
    assert any("tolerates a coverage gap up to 10%" in c.value for c in at.caption)
    assert _metrics(at)["Hires this year"] == model.run_plan(s).headlines["hires_year"].text
    # back to per segment: each segment keeps its number
    at.radio(key=_k(at, "dmode")).set_value("Per segment").run()
    s = sc.load_scenario(at.session_state["planner_scenario_json"])
    assert s.new_customers is None and s.segment("Mid-Market").demand.new_per_year == pytest.approx(300)


def test_chart_specs_from_templates_equal_altairs():
    """The page's fast specs are Altair's spec with the new data (the dataset's name aside)."""
    band = spend_band()

    def same(full: dict, fast: dict) -> None:
        a, b = dict(full), dict(fast)
        da, db = a.pop("datasets"), b.pop("datasets")
        a.pop("data"), b.pop("data")
        assert a == b
        assert list(da.values()) == list(db.values())

    base = sc.load_scenario(EXAMPLE)
    for f in (1.0, 1.2, 0.8):  # the first builds the templates, the others reuse them with new data
        s = sc.set_field(base, "Mid-Market", "coverage", "accounts_per_csm", 60.0 * f)
        r = model.run_plan(s)
        same(charts_planning.fte_chart(r.detail).to_dict(), charts_planning.fte_spec(r.detail).to_dict())
        same(charts_planning.fte_chart(r.detail, "SMB").to_dict(),
             charts_planning.fte_spec(r.detail, "SMB").to_dict())
        same(charts_planning.hiring_chart(r.detail).to_dict(), charts_planning.hiring_spec(r.detail).to_dict())
        same(charts_planning.cost_chart(r.totals, 8.5, band).to_dict(),
             charts_planning.cost_spec(r.totals, 8.5, band).to_dict())
    assert charts_planning.fte_spec(r.detail).to_json().startswith("{")  # what the PNG download renders


def test_a_forecast_that_cannot_be_used_is_named_in_the_note(plan_db, monkeypatch):
    """The planner's fallback from the forecast to history averages is said, segment by segment."""
    from app.forecasting import topdown as forecast

    cur = store.connect(plan_db)
    d_ = pi.store_defaults(cur)
    assert d_.fallbacks and all("months of history" in f for f in d_.fallbacks)  # a short history, named
    _s, note = pi.initial_scenario(d_)
    assert all(f in note for f in d_.fallbacks)

    monkeypatch.setattr(pi, "FORECAST_MIN_HISTORY_MONTHS", 1)

    def broken(*_a, **_k):
        raise RuntimeError("optimiser diverged")

    monkeypatch.setattr(forecast, "forecast_quantity", broken)
    d2 = pi.store_defaults(cur)
    assert d2.source == "history" and any("the forecast failed (optimiser diverged)" in f for f in d2.fallbacks)
    assert "optimiser diverged" in pi.initial_scenario(d2)[1]
    cur.close()
