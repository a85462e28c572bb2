"""The capacity & budget model and its scenarios: hand-worked cases, invariants, round trips."""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planning import model
from planning import scenario as sc
from planning.spend_benchmarks import load_spend_benchmarks, spend_band

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "scenarios" / "example.json"
JAN = dt.date(2026, 1, 1)


def one_segment(accounts=120.0, csms=0, new=None, per_csm=40.0, churn=0.0, ramp=0, ramp_p=1.0, attrition=0.0,
                lead=0, months=12, cost=120_000.0, tooling=0.0, span=100, mgr_cost=0.0, arr=1_200_000.0,
                avg_new_arr=10_000.0, raise_=0.0) -> sc.Scenario:
    seg = sc.Segment(
        "Mid-Market", False, sc.Start(accounts, arr, csms),
        sc.Demand(new_per_month=None if new is None else tuple(new), avg_new_arr=avg_new_arr,
                  annual_logo_churn=churn),
        sc.Coverage("accounts", accounts_per_csm=per_csm),
        sc.People(cost_per_csm=cost, annual_raise=raise_, ramp_months=ramp, ramp_productivity=ramp_p,
                  annual_attrition=attrition, lead_time_months=lead, manager_span=span, manager_cost=mgr_cost),
        sc.Cost(tooling))
    return sc.Scenario("t", JAN, months, 8.5, (seg,))


# ------------------------------------------------------------------ hand-worked cases

def test_monthly_rate_is_not_annual_over_12():
    assert model.monthly_rate(1 - 0.95 ** 12) == pytest.approx(0.05)
    assert pytest.approx(0.4596, abs=1e-4) == 1 - (1 - 0.05) ** 12  # 5%/month is ~46%/year


def test_120_accounts_at_1_to_40_is_3_fte():
    r = model.run_plan(one_segment(accounts=120, csms=0, months=1))
    row = r.monthly.iloc[0]
    assert row["required_fte"] == 3.0
    assert row["hires"] == 3 and row["headcount"] == 3 and row["available_fte"] == 3.0


def test_10_new_a_month_for_12_months():
    r = model.run_plan(one_segment(accounts=120, csms=3, new=[10] * 12))
    m = r.monthly
    assert list(m["accounts"]) == [130 + 10 * i for i in range(12)]
    # required 3.25 .. 6.0; headcount = max(previous, ceil(required))
    assert list(m["headcount"]) == [4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6]
    assert list(m["hires"]) == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    assert r.headlines["hires_year"].value == 3
    assert r.headlines["year_end_headcount"].value == 6
    # cost: headcount x 120k / 12 = 10k per head per month
    assert list(m["cost"]) == [10_000.0 * h for h in m["headcount"]]
    assert r.headlines["annual_cost"].value == 10_000.0 * sum(m["headcount"])
    # month is the ISO first-of-month date
    assert m["month"].iloc[0] == JAN and m["month"].iloc[11] == dt.date(2026, 12, 1)
    assert list(m.columns) == model.CLI_COLUMNS


def test_exact_headcount_rule_without_ramp_attrition_churn():
    new = [0, 7, 3, 25, 0, 0, 11, 2, 40, 0, 1, 9]
    r = model.run_plan(one_segment(accounts=95, csms=1, new=new, per_csm=30))
    hc, prev = [], 1
    for req in r.monthly["required_fte"]:
        prev = max(prev, math.ceil(req - 1e-9))
        hc.append(prev)
    assert list(r.monthly["headcount"]) == hc


def test_lead_time_3_opens_requisitions_3_months_ahead():
    new = [0] * 6 + [40] + [0] * 5  # 120 -> 160 accounts in July: one more CSM from July
    r = model.run_plan(one_segment(accounts=120, csms=3, new=new, lead=3))
    m = r.monthly
    assert list(m["hires"]) == [0] * 6 + [1] + [0] * 5
    assert list(m["reqs_to_open"]) == [0, 0, 0, 1] + [0] * 8  # April, 3 months before July
    assert r.detail["coverage_gap"].sum() == 0


def test_lead_time_leaves_a_gap_when_demand_comes_too_soon():
    r = model.run_plan(one_segment(accounts=160, csms=3, new=[0] * 12, lead=2))
    d = r.detail
    # 4 FTE needed from January; the first hire can start in March
    assert list(d["hires"]) == [0, 0, 1] + [0] * 9
    assert list(d["coverage_gap"][:3]) == [1.0, 1.0, 0.0]
    assert list(d["reqs_to_open"][:3]) == [1, 0, 0]
    assert "short in 2 month" in r.headlines["year_end_headcount"].explanation


def test_ramp_and_attrition_worked_table():
    # 10 CSMs, 400 accounts at 1:40 (10 FTE) all along; 8% monthly attrition; ramp 2 months at 50%; no lead time.
    s = one_segment(accounts=400, csms=10, new=[0] * 6, attrition=1 - 0.92 ** 12, ramp=2, ramp_p=0.5, months=6)
    d = model.run_plan(s).detail
    # Staff now, after attrition: 10 x 0.92^(m+1) = 9.2, 8.464, 7.787, 7.164, 6.591, 6.064.
    # A hire counts as one person (not twice as many to cover the ramp), still there k months after
    # starting with probability 0.92^max(0, k - 2); it starts ramp months before the month needing it,
    # or in January when that is sooner:
    # Jan: 9.2 short 0.8 -> 1 January hire; Feb: 8.464 + 1 short 0.536 -> 1 more in January;
    # Mar: 7.787 + 2 short 0.213 -> a third in January; Apr: 7.164 + 3 x 0.92 = 9.924 short 0.076 -> 1 in
    # February (ramped by April); May: 6.591 + 3 x 0.8464 + 0.92 = 10.05; Jun: 6.064 + 3 x 0.7787 + 0.8464
    # = 9.246 short 0.754 -> 1 in April.
    assert list(d["hires"]) == [3, 1, 0, 1, 0, 0]
    # available FTE: ramping hires at 50%: Jan 9.2 + 1.5; Feb 8.464 + 2; Mar 7.787 + 3 + 0.5;
    # Apr 7.164 + 2.76 + 1 + 0.5; May 6.591 + 2.539 + 0.92 + 0.5; Jun 6.064 + 2.336 + 0.846 + 1
    assert list(d["available_fte"].round(3)) == [10.7, 10.464, 11.287, 11.424, 10.55, 10.246]
    # headcount = expected people on staff rounded up: 12.2, 12.46, 11.79, 11.92, 11.05, 10.25
    assert list(d["headcount"]) == [13, 13, 12, 12, 12, 11]
    assert list(d["leavers"]) == [0, 1, 1, 1, 0, 1]
    assert list(d["ramping"]) == [3, 4, 1, 1, 1, 0]
    assert (d["available_fte"] >= d["required_fte"] - 1e-9).all()


def test_churn_and_arr():
    s = one_segment(accounts=100, csms=5, new=[0] * 12, churn=1 - 0.99 ** 12, arr=1_000_000)
    d = model.run_plan(s).detail
    assert d["accounts"].iloc[0] == pytest.approx(99.0)
    assert d["accounts"].iloc[11] == pytest.approx(100 * 0.99 ** 12)
    assert d["arr"].iloc[0] == pytest.approx(990_000.0)


def test_managers_tooling_raise_and_pct_of_arr():
    s = one_segment(accounts=400, csms=10, new=[0] * 13, months=13, cost=120_000, tooling=12_000, span=4,
                    mgr_cost=240_000, arr=12_000_000, raise_=0.10)
    d = model.run_plan(s).detail
    # 10 CSMs: (10 x 132k + 3 managers x 240k) / 12 = 170k per month; 12 x 170k / 12M = 17%
    assert d["managers"].iloc[0] == 3
    assert d["cost"].iloc[0] == pytest.approx(170_000.0)
    assert d["cost_pct_arr"].iloc[0] == pytest.approx(17.0)
    # month 13 (plan anniversary): cost and manager cost up 10%, tooling not
    assert d["cost"].iloc[12] == pytest.approx((10 * (132_000 + 12_000) + 3 * 264_000) / 12)


def test_hours_and_arr_coverage_models():
    cov = sc.Coverage("hours", hours_per_account_year=20, hours_per_csm_year=1600, utilisation=0.8,
                      admin_share=0.25)
    assert model.required_fte(cov, 96, 0) == pytest.approx(96 * 20 / (1600 * 0.8 * 0.75))  # = 2.0
    assert model.required_fte(sc.Coverage("arr", arr_per_csm=2e6), 0, 5e6) == 2.5


def test_affordable_headcount():
    # budget 100k/month; CSM 10k; a manager (span 5) 15k: 6 CSMs + 2 mgrs = 90k; 7 + 2 = 100k; 8 + 2 = 110k
    assert model.affordable_headcount(100_000, 10_000, 15_000, 5) == 7
    assert model.affordable_headcount(0, 10_000, 15_000, 5) == 0
    r = model.run_plan(one_segment(accounts=400, csms=10, new=[0] * 12, cost=120_000, span=100, mgr_cost=0,
                                   arr=12_000_000))
    a = model.affordable(r, 10.0).set_index("segment")
    # 10% of 12M = 1.2M a year = 100k a month = 10 CSMs at 10k
    assert a.loc["Mid-Market", "affordable_headcount"] == 10
    assert a.loc["Mid-Market", "accounts_per_csm"] == pytest.approx(40.0)
    assert a.loc["Total", "arr_per_csm"] == pytest.approx(1_200_000.0)


def test_headline_pct_against_target_and_band():
    r = model.run_plan(one_segment(accounts=400, csms=10, new=[0] * 12, cost=120_000, arr=12_000_000))
    h = r.headlines["cost_pct_arr"]
    assert h.value == pytest.approx(10.0)
    assert "+1.5 points" in h.explanation and "within the public band" in h.explanation
    assert "2024" in h.explanation  # source year shown


def test_spend_benchmarks_file_has_sources():
    rows = load_spend_benchmarks()
    assert all(r.source and r.year and r.confidence for r in rows)
    band = spend_band(rows)
    assert (band.low.pct_arr, band.median.pct_arr, band.high.pct_arr) == (5.0, 8.5, 10.0)


# ------------------------------------------------------------------ invariants

@st.composite
def plans(draw):
    months = draw(st.integers(1, 24))
    new = draw(st.lists(st.floats(0, 60), min_size=months, max_size=months))
    return dict(accounts=draw(st.floats(0, 2000)), csms=draw(st.integers(0, 40)), new=new,
                per_csm=draw(st.floats(5, 500)), churn=draw(st.floats(0, 0.6)), ramp=draw(st.integers(0, 6)),
                ramp_p=draw(st.floats(0.1, 1)), attrition=draw(st.floats(0, 0.5)), lead=draw(st.integers(0, 4)),
                months=months)


# With attrition, a plan that hires earlier expects some of those people to have
# left, so headcount month by month is compared without attrition; people hired
# up to each month are compared always.

@settings(max_examples=150, deadline=None)
@given(plans(), st.floats(0, 30), st.booleans())
def test_more_new_customers_never_fewer_csms(p, extra, no_attrition):
    if no_attrition:
        p = {**p, "attrition": 0.0}
    base = model.run_plan(one_segment(**p)).detail
    more = model.run_plan(one_segment(**{**p, "new": [x + extra for x in p["new"]]})).detail
    assert (base["hires"] >= 0).all() and (more["hires"] >= 0).all()
    assert (more["hires"].cumsum() >= base["hires"].cumsum()).all()
    if no_attrition:
        assert (more["headcount"] >= base["headcount"]).all()


@settings(max_examples=150, deadline=None)
@given(plans(), st.floats(1, 3), st.booleans())
def test_higher_ratio_never_more_csms(p, factor, no_attrition):
    if no_attrition:
        p = {**p, "attrition": 0.0}
    base = model.run_plan(one_segment(**p)).detail
    wider = model.run_plan(one_segment(**{**p, "per_csm": p["per_csm"] * factor})).detail
    assert (wider["hires"].cumsum() <= base["hires"].cumsum()).all()
    if no_attrition:
        assert (wider["headcount"] <= base["headcount"]).all()


@settings(max_examples=40, deadline=None)
@given(plans())
def test_coverage_met_once_lead_time_and_ramp_allow(p):
    d = model.run_plan(one_segment(**p)).detail
    # Hires are sized as whole CSMs (no doubling up to cover a ramp): coverage is met once a hire
    # started at the lead time is ramped.
    settled = p["lead"] + p["ramp"]
    assert (d["coverage_gap"].iloc[settled:] <= 1e-6).all()
    assert (d["hires"] >= 0).all() and (d["reqs_to_open"] >= 0).all() and (d["leavers"] >= 0).all()
    assert (d["headcount"] >= d["available_fte"] - 1e-6).all()


# ------------------------------------------------------------------ scenarios: JSON, URL, errors

def test_example_file_loads_and_round_trips():
    s = sc.load_scenario(EXAMPLE)
    assert [g.name for g in s.segments] == ["SMB", "Mid-Market", "Enterprise", "Tech touch"]
    assert s.segment("Tech touch").tech_touch
    assert sum(sum(sc.new_per_month(g, s.start_month, 12)) for g in s.segments) == pytest.approx(500)
    assert sc.load_scenario(sc.dumps(s)) == s
    assert sc.from_dict(json.loads(json.dumps(sc.to_dict(s)))) == s


def test_url_round_trip_reproduces_the_plan():
    s = sc.set_field(sc.load_scenario(EXAMPLE), "Mid-Market", "coverage", "accounts_per_csm", 45.0)
    token = sc.encode_url(s)
    assert all(c.isalnum() or c in "-_" for c in token) and len(token) < 2000
    back = sc.decode_url(token)
    assert back == s
    assert model.run_plan(back).monthly.equals(model.run_plan(s).monthly)
    with pytest.raises(sc.ScenarioError, match="damaged"):
        sc.decode_url(token[:-10])


def test_shape_spreads_the_yearly_total_by_calendar_month():
    seg = replace(sc.default_segment("SMB"), demand=sc.Demand(new_per_year=120, shape="quarter_end"))
    got = sc.new_per_month(seg, dt.date(2026, 2, 1), 3)  # Feb, Mar, Apr
    assert got == [7.5, 15.0, 7.5]


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["segments"]["Mid-Market"]["coverage"].update(accounts_per_csm=0),
     "segments.Mid-Market.coverage.accounts_per_csm"),
    (lambda d: d["segments"]["SMB"]["demand"].update(annual_logo_churn=15),
     "segments.SMB.demand.annual_logo_churn"),
    (lambda d: d["segments"]["SMB"]["people"].update(ramp_months=1.5), "segments.SMB.people.ramp_months"),
    (lambda d: d["segments"]["SMB"]["people"].update(hire_speed=3), "segments.SMB.people.hire_speed"),
    (lambda d: d["segments"]["SMB"]["demand"].update(new_per_month=[1, 2, 3]),
     "segments.SMB.demand.new_per_year"),  # both forms given
    (lambda d: d["segments"]["SMB"]["demand"].update(new_per_month=[1, 2, 3], new_per_year=None),
     "segments.SMB.demand.new_per_month"),
    (lambda d: d["segments"]["SMB"]["coverage"].update(model="vibes"), "segments.SMB.coverage.model"),
    (lambda d: d["segments"]["Enterprise"]["start"].update(arr="lots"), "segments.Enterprise.start.arr"),
    (lambda d: d.update(start_month="next year"), "start_month"),
    (lambda d: d.update(months=0), "months"),
    (lambda d: d.update(segments={}), "segments"),
])
def test_malformed_scenario_names_the_field(mutate, field):
    d = json.loads(EXAMPLE.read_text())
    mutate(d)
    with pytest.raises(sc.ScenarioError) as e:
        sc.load_scenario(json.dumps(d))
    assert str(e.value).startswith(field + ":")


def test_not_json_and_missing_file():
    with pytest.raises(sc.ScenarioError, match="line 1"):
        sc.load_scenario("{not json")
    with pytest.raises(sc.ScenarioError, match="cannot read"):
        sc.load_scenario("/nonexistent/plan.json")


def test_missing_start_is_reported():
    d = json.loads(EXAMPLE.read_text())
    del d["segments"]["SMB"]["start"]
    s = sc.load_scenario(json.dumps(d))
    assert s.needs_start
    with pytest.raises(sc.ScenarioError, match="segments.SMB.start"):
        model.run_plan(s)


# ------------------------------------------------------------------ demand as a total + mix

def test_total_and_mix_gives_each_segment_its_share_phased_by_its_shape():
    base = sc.load_scenario(EXAMPLE)  # SMB, Mid-Market, Enterprise quarter_end; Tech touch flat
    s = sc.with_total_mix(base, 500, {"SMB": 0.2, "Mid-Market": 0.6, "Enterprise": 0.2})
    year = {g.name: sum(sc.segment_new(s, g, 12)) for g in s.segments}
    assert year == pytest.approx({"SMB": 100, "Mid-Market": 300, "Enterprise": 100, "Tech touch": 0})
    # quarter_end: weights 1, 1, 2 per quarter (16 in a year): Mid-Market 300 / 16 = 18.75, March 37.5
    assert sc.segment_new(s, s.segment("Mid-Market"), 3) == pytest.approx([18.75, 18.75, 37.5])
    r = model.run_plan(s).detail
    mm = r[r["segment"] == "Mid-Market"]
    assert list(mm["new_accounts"][:3]) == pytest.approx([18.75, 18.75, 37.5])
    # the JSON form keeps the total and the mix; the segments carry no totals of their own
    d = sc.to_dict(s)
    assert d["new_customers"] == {"total_per_year": 500.0, "mix": {"SMB": 0.2, "Mid-Market": 0.6,
                                                                   "Enterprise": 0.2}}
    assert all(g["demand"]["new_per_year"] is None for g in d["segments"].values())
    assert sc.load_scenario(sc.dumps(s)) == s
    total, mix = sc.mix_of(s)
    assert total == pytest.approx(500)
    assert mix == pytest.approx({"SMB": 0.2, "Mid-Market": 0.6, "Enterprise": 0.2, "Tech touch": 0.0})
    # and back to the per-segment form: the same plan
    per = sc.per_segment_demand(s)
    assert per.new_customers is None and per.segment("SMB").demand.new_per_year == 100
    assert model.run_plan(per).monthly.equals(model.run_plan(s).monthly)


def test_named_shapes_follow_the_fiscal_year():
    # Fiscal year from February: fiscal quarters Feb-Apr, May-Jul, ...; quarter_end doubles April, July, ...
    seg = replace(sc.default_segment("SMB"), demand=sc.Demand(new_per_year=160, shape="quarter_end"))
    got = sc.new_per_month(seg, dt.date(2026, 2, 1), 4, fiscal_year_start=2)  # Feb, Mar, Apr, May
    assert got == [10.0, 10.0, 20.0, 10.0]
    # a list of 12 weights stays by calendar month (January first)
    seg = replace(seg, demand=sc.Demand(new_per_year=12, shape=(12,) + (0,) * 11))
    assert sc.new_per_month(seg, dt.date(2026, 2, 1), 12, fiscal_year_start=2)[11] == 12


def test_old_scenario_files_load_unchanged():
    raw = json.loads(EXAMPLE.read_text())
    assert not {"fiscal_year_start", "hiring", "new_customers"} & set(raw)
    s = sc.load_scenario(EXAMPLE)
    assert s.fiscal_year_start == 1 and s.new_customers is None and s.hiring == sc.Hiring("fill_gap")


@pytest.mark.parametrize("mix, total, message", [
    ({"SMB": 0.2, "Mid-Market": 0.55, "Enterprise": 0.2}, 500,
     "new_customers.mix: the shares must add up to 100% (1.0 as fractions), got 95% (0.95)"),
    ({"SMB": 0.5, "Mid-Market": 0.5, "Nowhere": 0.0}, 500, "new_customers.mix.Nowhere: no such segment"),
    ({"SMB": 1.5}, 500, "new_customers.mix.SMB: must be between 0 and 1"),
    ({"SMB": 1.0}, -3, "new_customers.total_per_year: must be at least 0"),
])
def test_total_and_mix_errors_say_what_is_wrong(mix, total, message):
    d = json.loads(EXAMPLE.read_text())
    for g in d["segments"].values():
        g["demand"].pop("new_per_year", None)
    d["new_customers"] = {"total_per_year": total, "mix": mix}
    with pytest.raises(sc.ScenarioError) as e:
        sc.load_scenario(json.dumps(d))
    assert str(e.value).startswith(message)


def test_total_and_per_segment_together_is_an_error():
    d = json.loads(EXAMPLE.read_text())  # segments give new_per_year
    d["new_customers"] = {"total_per_year": 500, "mix": {"SMB": 1.0}}
    with pytest.raises(sc.ScenarioError, match="^segments.SMB.demand.new_per_year: .*not both"):
        sc.load_scenario(json.dumps(d))


@pytest.mark.parametrize("hiring, field", [
    ({"rule": "whenever"}, "hiring.rule"), ({"rule": "cap", "max_per_month": 0}, "hiring.max_per_month"),
    ({"rule": "tolerance", "gap_tolerance": 5}, "hiring.gap_tolerance"), ({"speed": 1}, "hiring.speed"),
    ])
def test_hiring_errors_name_the_field(hiring, field):
    d = json.loads(EXAMPLE.read_text())
    d["hiring"] = hiring
    with pytest.raises(sc.ScenarioError) as e:
        sc.load_scenario(json.dumps(d))
    assert str(e.value).startswith(field + ":")


# ------------------------------------------------------------------ hiring rules, hand-worked
# A tiny segment: 400 accounts at 1:40 (10 FTE) and 10 CSMs; 10 new accounts a month, no churn:
# required FTE 10.25, 10.5, ..., 13.0 over the 12 months (10 -> 13 FTE).

RISING = dict(accounts=400, csms=10, new=[10] * 12, per_csm=40)


def plan_with(rule: str, fy_start: int = 1, **kw) -> pd.DataFrame:
    hiring = sc.Hiring(rule, kw.pop("max_per_month", 2), kw.pop("gap_tolerance", 0.05))
    s = replace(one_segment(**{**RISING, **kw}), hiring=hiring, fiscal_year_start=fy_start)
    return model.run_plan(s).detail


def test_rising_need_is_10_to_13_fte():
    d = plan_with("fill_gap")
    assert list(d["required_fte"]) == pytest.approx([10 + 0.25 * (m + 1) for m in range(12)])


def test_fill_gap_hires_month_by_month():
    d = plan_with("fill_gap")
    # headcount = ceil(required): 11 from Jan (10.25), 12 from May (11.25), 13 from Sep (12.25)
    assert list(d["hires"]) == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    assert list(d["headcount"]) == [11] * 4 + [12] * 4 + [13] * 4
    # with a 1-month lead time and a 2-month ramp at 50%: each hire starts 2 months before the month
    # needing it (never before February): Feb (for Feb, no earlier start allowed), Mar (for May), Jul (for Sep)
    d = plan_with("fill_gap", lead=1, ramp=2, ramp_p=0.5)
    assert list(d["hires"]) == [0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert list(d["reqs_to_open"]) == [1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    # available: Feb 10 + 0.5 (ramping) = 10.5 = required; Mar 10 + 0.5 + 0.5 = 11; Apr 11.5; ...
    assert list(d["available_fte"][:4]) == pytest.approx([10.0, 10.5, 11.0, 11.5])
    # only January is short (nothing can start before February): 0.25 FTE
    assert list(d["coverage_gap"].round(9)) == [0.25] + [0.0] * 11


def test_quarterly_hires_at_quarter_starts():
    # calendar quarters, no lead time: the April batch covers the peak of Apr-Jun (11.5 -> 12)
    d = plan_with("quarterly")
    assert list(d["hires"]) == [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    # lead time 1: requisitions open in January, April, July; the hires start a month later
    d = plan_with("quarterly", lead=1)
    assert list(d["reqs_to_open"]) == [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    assert list(d["hires"]) == [0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    assert d["coverage_gap"].iloc[0] == pytest.approx(0.25)  # January: nobody can start yet
    # fiscal year from February: quarters start Feb, May, Aug, Nov (and the plan's first month, January)
    d = plan_with("quarterly", fy_start=2)
    assert list(d["hires"]) == [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]


def test_cap_moves_hires_earlier_then_later():
    jump = dict(new=[0] * 5 + [120] + [0] * 6)  # 10 FTE until May, 13 from June
    assert list(plan_with("fill_gap", **jump)["hires"]) == [0] * 5 + [3] + [0] * 6
    d = plan_with("cap", max_per_month=1, **jump)
    assert list(d["hires"]) == [0, 0, 0, 1, 1, 1] + [0] * 6  # April, May, June: one a month
    assert d["coverage_gap"].sum() == 0
    # lead time 4: nothing can start before May, so one hire waits until July and June is 1 FTE short
    d = plan_with("cap", max_per_month=1, lead=4, **jump)
    assert list(d["hires"]) == [0, 0, 0, 0, 1, 1, 1] + [0] * 5
    assert list(d["coverage_gap"].round(9)) == [0.0] * 5 + [1.0] + [0.0] * 6


def test_gap_tolerance_hires_only_beyond_the_tolerance():
    d = plan_with("tolerance", gap_tolerance=0.10)
    # hire when available < 90% of required: May (0.9 x 11.25 = 10.125 > 10) and September
    # (0.9 x 12.25 = 11.025 > 11); December needs 0.9 x 13 = 11.7 <= 12
    assert list(d["hires"]) == [0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    assert list(d["headcount"]) == [10] * 4 + [11] * 4 + [12] * 4
    cover = d["available_fte"] / d["required_fte"]
    assert cover.min() == pytest.approx(10 / 11.0)  # April: 90.9%
    assert (cover >= 0.9).all()
    r = model.run_plan(replace(one_segment(**RISING), hiring=sc.Hiring("tolerance", gap_tolerance=0.10)))
    assert "up to 10%" in r.headlines["hires_year"].explanation
    assert "lowest coverage 91%" in r.headlines["year_end_headcount"].explanation


@pytest.mark.parametrize("rule, words", [
    ("fill_gap", "fills the gap as it appears"), ("quarterly", "each quarter"),
    ("cap", "capped at 2 a month"), ("tolerance", "tolerates a coverage gap up to 5%")])
def test_headlines_say_the_rule_in_plain_words(rule, words):
    r = model.run_plan(replace(one_segment(**RISING), hiring=sc.Hiring(rule)))
    assert words in r.headlines["hires_year"].explanation


def test_headline_names_the_fiscal_year_when_the_plan_starts_on_it():
    s = replace(one_segment(**RISING), start_month=dt.date(2026, 2, 1), fiscal_year_start=2)
    assert "FY2027 (Feb 2026-Jan 2027)" in model.run_plan(s).headlines["annual_cost"].explanation


# ------------------------------------------------------------------ hiring rules, invariants

@settings(max_examples=150, deadline=None)
@given(plans())
def test_fill_gap_without_lead_or_attrition_never_overshoots_by_a_csm(p):
    p = {**p, "lead": 0, "attrition": 0.0}
    d = model.run_plan(one_segment(**p)).detail
    req, hc = list(d["required_fte"]), list(d["headcount"])
    n = len(req)
    for m in range(n):
        # hires start ramp months before the month needing them: compare with the need up to then
        need = max([p["csms"], *req[:min(m + p["ramp"], n - 1) + 1]])
        assert hc[m] < need + 1 + 1e-9, (m, hc, req)


@settings(max_examples=150, deadline=None)
@given(plans(), st.floats(0, 0.5))
def test_gap_tolerance_keeps_coverage_once_hiring_is_possible(p, tol):
    s = replace(one_segment(**p), hiring=sc.Hiring("tolerance", gap_tolerance=tol))
    d = model.run_plan(s).detail
    settled = d.iloc[p["lead"] + p["ramp"]:]
    settled = settled[settled["required_fte"] > 0]
    assert (settled["available_fte"] >= (1 - tol) * settled["required_fte"] - 1e-6).all()


@settings(max_examples=60, deadline=None)
@given(plans(), st.sampled_from(["quarterly", "cap", "tolerance"]), st.integers(1, 4))
def test_every_rule_hires_whole_people_and_never_lays_off(p, rule, cap):
    d = model.run_plan(replace(one_segment(**p), hiring=sc.Hiring(rule, cap))).detail
    assert (d["hires"] >= 0).all() and (d["leavers"] >= 0).all()
    assert (d["headcount"] >= d["available_fte"] - 1e-6).all()
    if rule == "cap":
        assert (d["hires"] <= cap).all()


def test_total_mix_example_file_plans_the_same_demand_as_the_per_segment_example():
    per = sc.load_scenario(EXAMPLE)
    mix = sc.load_scenario(ROOT / "data" / "scenarios" / "example_total_mix.json")
    assert mix.new_customers is not None and mix.hiring.rule == "quarterly" and mix.fiscal_year_start == 2
    # 500 x 28 / 52 / 6 / 14% = the example's 140 / 260 / 30 / 70
    assert {g.name: sum(sc.segment_new(mix, g, 12)) for g in mix.segments} == pytest.approx(
        {g.name: sum(sc.segment_new(per, g, 12)) for g in per.segments})
    r = model.run_plan(mix)
    assert "each quarter" in r.headlines["hires_year"].explanation and "FY2027" in r.headlines["hires_year"].explanation
    months = r.detail[r.detail["hires"] > 0]["month"]
    # requisitions open at fiscal quarter starts (Feb, May, Aug, Nov) or the plan's first month; hires start
    # the segment's lead time later
    reqs = r.detail[r.detail["reqs_to_open"] > 0]["month"]
    assert {m.month for m in reqs} <= {2, 5, 8, 11} and len(months)


def test_planning_imports_no_store_streamlit_or_formatting():
    import subprocess
    import sys

    code = ("import sys, planning.model, planning.scenario, planning.spend_benchmarks; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('app', 'streamlit', 'duckdb', 'altair')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "['app', 'app.rules', 'app.rules.amounts', 'app.rules.periods']"


def test_a_link_carries_a_scenario_never_a_path():
    """A crafted ?scenario= token holding a file path must not read the file or reveal whether it exists."""
    import base64
    import zlib

    def token(text: str) -> str:
        return base64.urlsafe_b64encode(zlib.compress(text.encode())).decode().rstrip("=")

    for path in (str(EXAMPLE), "/etc/passwd", "/nonexistent/x.json"):
        with pytest.raises(sc.ScenarioError, match="does not hold a scenario") as exc:
            sc.decode_url(token(path))
        assert "cannot read" not in str(exc.value) and path not in str(exc.value)
    s = sc.load_file(EXAMPLE)
    assert sc.decode_url(sc.encode_url(s)) == s
    with pytest.raises(sc.ScenarioError, match="not valid JSON"):
        sc.loads(str(EXAMPLE))  # text is text: never opened as a file


def test_the_planner_pages_demand_rules():
    """The rules the planner page applies to its demand inputs (planning/scenario.py), without the page."""
    s = sc.load_scenario(EXAMPLE)
    assert s.new_customers is None
    # an empty tech-touch segment is kept in the plan but off screen
    assert sc.empty_tech_touch(s) == []
    tt = next(i for i, g in enumerate(s.segments) if g.tech_touch)
    g = s.segments[tt]
    empty = sc.with_segment(s, replace(g, start=sc.Start(0.0, 0.0, 0),
                                       demand=replace(g.demand, new_per_month=None, new_per_year=0.0)))
    assert sc.empty_tech_touch(empty) == [tt]
    # total + mix (shares in percent) and back: each segment keeps its number
    names = [g.name for g in s.segments]
    mixed = sc.with_demand_mode(s, True, 400, dict(zip(names, [50.0, 30.0, 20.0, 0.0], strict=True)))
    assert {g.name: round(sum(sc.segment_new(mixed, g, 12)), 6) for g in mixed.segments} == dict(
        zip(names, [200, 120, 80, 0], strict=True))
    back = sc.with_demand_mode(mixed, False)
    assert back.new_customers is None and back.segment(names[1]).demand.new_per_year == pytest.approx(120)
    assert sc.with_demand_mode(s, False) == s
    assert sc.mix_words({"A": 50.0, "B": 50.0}) == "Mix: 50% / 50% = 100%"
    assert sc.mix_words({"A": 50.0, "B": 40.0}).endswith("(the shares must add up to 100%)")
    # a month-by-month demand stays as given until its slider moves
    d = sc.Demand((3.0,) * 12, None, "flat", 1000.0, 0.1, 0.05)
    assert sc.with_year_total(d, 36, 36, "flat") is d
    assert sc.with_year_total(d, 36, 48, "flat") == sc.Demand(None, 48.0, "flat", 1000.0, 0.1, 0.05)
    # under a total + mix, a list of 12 weights is kept while the picker shows "flat"
    w = sc.Demand(None, 10.0, (1.0,) * 11 + (2.0,), 1000.0, 0.1, 0.05)
    assert sc.shape_name(w) == "flat"
    assert sc.with_picked_shape(w, "flat").shape == w.shape
    assert sc.with_picked_shape(w, "quarter_end").shape == "quarter_end"
