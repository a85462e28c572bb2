"""The capacity & budget model: accounts, FTE, hires, requisitions and cost by month and segment.

Pure Python (lists, no streamlit; pandas only to hand the tables out). Every rule
is written in docs/planning.md and pinned by tests/test_planning.py:

- monthly rate = 1 - (1 - annual)^(1/12) (churn, attrition); expansion grows
  retained ARR by (1 + annual)^(1/12) - 1 a month;
- accounts(m) = accounts(m-1) x (1 - churn_m) + new(m);
  ARR(m) = ARR(m-1) x (1 - churn_m) x (1 + expansion_m) + new(m) x average new ARR;
- required FTE(m) = accounts / accounts per CSM | ARR / ARR per CSM |
  accounts x hours per account / (hours per CSM x utilisation x (1 - admin share));
- hires are whole people, the fewest that keep available FTE >= required FTE,
  each started early enough to be fully ramped when needed, never before the
  lead time allows (a requisition opened in the plan's first month starts
  `lead time` months later); requisitions open `lead time` months before the start;
- CS cost(m) = headcount x (cost + tooling) / 12 + managers x manager cost / 12,
  costs raised on each plan anniversary; % of ARR(m) = 100 x 12 x cost(m) / ARR(m).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import pandas as pd

from app import fmt
from planning import scenario as sc
from planning.benchmarks import Band, spend_band

CLI_COLUMNS = ["month", "segment", "accounts", "arr", "required_fte", "available_fte", "headcount", "hires",
               "reqs_to_open", "cost", "cost_pct_arr"]
DETAIL_COLUMNS = CLI_COLUMNS + ["new_accounts", "leavers", "ramping", "managers", "coverage_gap"]
EPS = 1e-9


def monthly_rate(annual: float) -> float:
    """1 - (1 - annual)^(1/12): 5% a month is about 46% a year, never annual / 12."""
    return 1.0 - (1.0 - annual) ** (1.0 / 12.0)


def monthly_growth(annual: float) -> float:
    return (1.0 + annual) ** (1.0 / 12.0) - 1.0


def add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    return dt.date(d.year + y, m + 1, 1)


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    value: float
    text: str  # formatted for display
    explanation: str  # how it was computed, from which inputs


@dataclass(frozen=True)
class PlanResult:
    scenario: sc.Scenario
    monthly: pd.DataFrame  # exactly CLI_COLUMNS, one row per month and segment
    detail: pd.DataFrame  # DETAIL_COLUMNS
    totals: pd.DataFrame  # one row per month, all segments
    headlines: Mapping[str, Headline]


@dataclass(frozen=True)
class StaffPlan:
    hires: list[int]
    headcount: list[int]
    available: list[float]
    leavers: list[int]
    ramping: list[int]


def required_fte(coverage: sc.Coverage, accounts: float, arr: float) -> float:
    if coverage.model == "accounts":
        return accounts / coverage.accounts_per_csm
    if coverage.model == "arr":
        return arr / coverage.arr_per_csm
    capacity = coverage.hours_per_csm_year * coverage.utilisation * (1.0 - coverage.admin_share)
    return accounts * coverage.hours_per_account_year / capacity


def staff_plan(required: list[float], start_csms: int, people: sc.People) -> StaffPlan:
    """The fewest whole hires keeping available FTE >= required FTE each month the lead time allows.

    Attrition is a rate: a person on staff is still there k months later with
    probability (1 - monthly attrition)^k; a new hire is not expected to leave
    while ramping. Available FTE(m) is the expected FTE of the people hired
    (existing staff after attrition, ramping hires at their ramp productivity),
    so it only grows when hires are added. Forward pass: at a month m short of
    FTE, ceil(shortfall / contribution) whole hires start in
    s = max(lead time, m - ramp), fully ramped by m when the lead time allows.
    Headcount(m) = expected people on staff, rounded up to whole people (a
    leaver is counted once a whole person's worth of attrition has built up), so
    headcount >= available FTE always.
    """
    n = len(required)
    ramp, ramp_p = people.ramp_months, people.ramp_productivity
    keep = 1.0 - monthly_rate(people.annual_attrition)
    lead = people.lead_time_months
    surv0 = [keep ** (m + 1) for m in range(n)]  # staff on board at the start
    surv_h = [keep ** max(0, k - ramp) for k in range(n)]  # a hire, k months after starting
    contrib = [surv_h[k] * (ramp_p if k < ramp else 1.0) for k in range(n)]
    hires = [0] * n
    avail = [0.0] * n
    m = 0
    while m < n:
        a = start_csms * surv0[m]
        for s in range(m + 1):
            if hires[s]:
                a += hires[s] * contrib[m - s]
        short = required[m] - a
        if short > EPS:
            s = max(lead, m - ramp)
            if s <= m and contrib[m - s] > 0:
                hires[s] += math.ceil(short / contrib[m - s] - EPS)
                continue  # recheck m; earlier months only gained
        avail[m] = a
        m += 1
    hc, ramping, leavers = [0] * n, [0] * n, [0] * n
    prev = start_csms
    for m in range(n):
        on = start_csms * surv0[m]
        rp = 0.0
        for s in range(m + 1):
            if hires[s]:
                on += hires[s] * surv_h[m - s]
                if m - s < ramp:
                    rp += hires[s]
        hc[m] = math.ceil(on - 1e-6)  # a leaver counts once a whole person's expected attrition has built up
        ramping[m] = int(rp)
        leavers[m] = prev + hires[m] - hc[m]
        prev = hc[m]
    return StaffPlan(hires, hc, avail, leavers, ramping)


def _segment_rows(seg: sc.Segment, start_month: dt.date, months: int) -> dict[str, list]:
    if seg.start.accounts is None or seg.start.arr is None or seg.start.csms is None:
        raise sc.ScenarioError(f"segments.{seg.name}.start: accounts, arr and csms are needed "
                               "(fill them from the store or give them in the scenario)")
    d, cov, pp = seg.demand, seg.coverage, seg.people
    churn = monthly_rate(d.annual_logo_churn)
    grow = monthly_growth(d.annual_net_expansion)
    new = sc.new_per_month(seg, start_month, months)
    acc, arr = float(seg.start.accounts), float(seg.start.arr)
    accounts, arrs, req = [], [], []
    keep, keep_arr = 1.0 - churn, (1.0 - churn) * (1.0 + grow)
    for m in range(months):
        acc = acc * keep + new[m]
        arr = arr * keep_arr + new[m] * d.avg_new_arr
        accounts.append(acc)
        arrs.append(arr)
        req.append(required_fte(cov, acc, arr))
    plan = staff_plan(req, int(seg.start.csms), pp)
    lead = pp.lead_time_months
    reqs = [plan.hires[m + lead] if m + lead < months else 0 for m in range(months)]
    cost, pct, managers, gap = [], [], [], []
    for m in range(months):
        raise_f = (1.0 + pp.annual_raise) ** (m // 12)
        hc = plan.headcount[m]
        mgr = math.ceil(hc / pp.manager_span - EPS) if hc else 0
        c = (hc * (pp.cost_per_csm * raise_f + seg.cost.tooling_per_csm) + mgr * pp.manager_cost * raise_f) / 12.0
        managers.append(mgr)
        cost.append(c)
        pct.append(100.0 * 12.0 * c / arrs[m] if arrs[m] > 0 else math.nan)
        gap.append(max(0.0, req[m] - plan.available[m]))
    return {
        "month": [add_months(start_month, m) for m in range(months)], "segment": [seg.name] * months,
        "accounts": accounts, "arr": arrs, "required_fte": req, "available_fte": plan.available,
        "headcount": plan.headcount, "hires": plan.hires, "reqs_to_open": reqs, "cost": cost, "cost_pct_arr": pct,
        "new_accounts": new, "leavers": plan.leavers, "ramping": plan.ramping, "managers": managers,
        "coverage_gap": gap,
    }


def _frame(cols: dict[str, list], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({c: cols[c] for c in columns})
    for c in ("headcount", "hires", "reqs_to_open", "leavers", "ramping", "managers"):
        if c in df:
            df[c] = df[c].astype("int64")
    return df


_SUM = ["accounts", "arr", "required_fte", "available_fte", "headcount", "hires", "reqs_to_open", "cost",
        "new_accounts", "leavers", "managers", "coverage_gap"]


def run_plan(s: sc.Scenario, band: Band | None = None) -> PlanResult:
    """Run the model; `.monthly` has exactly CLI_COLUMNS (month = first day of the month)."""
    # Plain lists throughout, one DataFrame per table at the end: pandas per-op
    # overhead, not arithmetic, dominates at 36 months x 4 segments.
    segs = [_segment_rows(seg, s.start_month, s.months) for seg in s.segments]
    cols: dict[str, list] = {c: [v for r in segs for v in r[c]] for c in DETAIL_COLUMNS}
    tot: dict[str, list] = {"month": segs[0]["month"]}
    for c in _SUM:
        tot[c] = [sum(vals) for vals in zip(*(r[c] for r in segs))]
    tot["cost_pct_arr"] = [100.0 * 12.0 * c / a if a > 0 else math.nan for c, a in zip(tot["cost"], tot["arr"])]
    tot["target_cost"] = [s.target_pct_arr / 100.0 * a / 12.0 for a in tot["arr"]]
    heads = headlines(s, segs, tot, band or spend_band())
    detail = _frame(cols, DETAIL_COLUMNS)
    monthly = _frame(cols, CLI_COLUMNS)
    totals = _frame(tot, list(tot))
    return PlanResult(s, monthly, detail, totals, MappingProxyType(heads))


_money = fmt.money


def _year(s: sc.Scenario) -> tuple[int, str]:
    n = min(12, s.months)
    first, last = s.start_month, add_months(s.start_month, n - 1)
    return n, f"{first:%b %Y}-{last:%b %Y}"


def headlines(s: sc.Scenario, segs: list[dict[str, list]], tot: dict[str, list], band: Band) -> dict[str, Headline]:
    """Headlines over the plan's first 12 months ("this year"), each with its explanation."""
    n, span = _year(s)
    per_seg = ", ".join(f"{r['segment'][0]} {sum(r['hires'][:n])}" for r in segs)
    people = "; ".join(
        f"{g.name}: ramp {g.people.ramp_months} mo at {g.people.ramp_productivity:.0%}, attrition "
        f"{g.people.annual_attrition:.0%}/yr, lead time {g.people.lead_time_months} mo" for g in s.segments)
    hires = int(sum(tot["hires"][:n]))
    start_hc = sum(int(g.start.csms or 0) for g in s.segments)
    ye_hc = int(tot["headcount"][n - 1])
    ye_mgr = int(tot["managers"][n - 1])
    leavers = int(sum(tot["leavers"][:n]))
    gap_months = sum(1 for g in tot["coverage_gap"][:n] if g > 1e-6)
    cost = float(sum(tot["cost"][:n]))
    mean_arr = float(sum(tot["arr"][:n]) / n)
    pct = 100.0 * (cost * 12.0 / n) / mean_arr if mean_arr > 0 else math.nan
    cover = "; ".join(_coverage_words(g) for g in s.segments)
    return {
        "hires_year": Headline(
            "hires_year", "Hires this year", hires, f"{hires:,}",
            f"Whole CSMs starting {span} across segments ({per_seg}). The plan hires the fewest people so that "
            f"available FTE (staff after attrition, ramping hires at their ramp productivity) meets required FTE "
            f"every month, starting each hire early enough to be ramped when needed; {leavers} expected "
            f"leaver(s) are replaced. Inputs: {people}."),
        "year_end_headcount": Headline(
            "year_end_headcount", "Year-end headcount", ye_hc, f"{ye_hc:,}",
            f"CSMs on staff at the end of {span}: {start_hc} now + {hires} hires - {leavers} leavers "
            f"(plus {ye_mgr} manager(s) at the span of control, not counted here). Required FTE then: "
            f"{tot['required_fte'][n - 1]:,.1f} ({cover})."
            + (f" Coverage falls short in {gap_months} month(s): hires cannot start before the lead time allows."
               if gap_months else "")),
        "annual_cost": Headline(
            "annual_cost", "Annual CS cost", cost, _money(cost),
            f"Sum over {span} of headcount x (fully loaded cost + tooling) / 12 + managers x manager cost / 12, "
            f"costs raised by the annual raise on each plan anniversary."),
        "cost_pct_arr": Headline(
            "cost_pct_arr", "Cost as % of ARR", pct, "n/a" if math.isnan(pct) else f"{pct:.1f}%",
            f"Annual CS cost {_money(cost)} / average ARR {_money(mean_arr)} over {span} (CS cost and ARR over "
            f"the same period). Target {s.target_pct_arr:g}%"
            + (": no ARR." if math.isnan(pct) else f" ({pct - s.target_pct_arr:+.1f} points); {band.describe(pct)}.")),
    }


def _coverage_words(g: sc.Segment) -> str:
    c = g.coverage
    if c.model == "accounts":
        return f"{g.name} 1 CSM per {c.accounts_per_csm:g} accounts"
    if c.model == "arr":
        return f"{g.name} 1 CSM per {_money(c.arr_per_csm)} ARR"
    return (f"{g.name} {c.hours_per_account_year:g} h per account / ({c.hours_per_csm_year:g} h x "
            f"{c.utilisation:.0%} x (1 - {c.admin_share:.0%}))")


# ------------------------------------------------------------------ the reverse question

def affordable(result: PlanResult, pct_arr: float, month_index: int | None = None) -> pd.DataFrame:
    """For a CS budget of pct_arr % of ARR: the affordable CSM headcount per segment and in total.

    At one plan month (default: the last month of the first year), each segment's
    budget is pct_arr% x its ARR / 12 per month; the affordable headcount is the
    largest whole n with n x (cost + tooling) / 12 + ceil(n / span) x manager
    cost / 12 <= budget. Returns accounts and ARR per CSM at that headcount
    (NaN where none is affordable) next to the plan's own headcount.
    """
    s = result.scenario
    idx = min(12, s.months) - 1 if month_index is None else month_index
    month = add_months(s.start_month, idx)
    det = result.detail[result.detail["month"] == month].set_index("segment")
    raise_f = lambda g: (1.0 + g.people.annual_raise) ** (idx // 12)  # noqa: E731
    rows = []
    for g in s.segments:
        r = det.loc[g.name]
        budget = pct_arr / 100.0 * float(r["arr"]) / 12.0
        per = (g.people.cost_per_csm * raise_f(g) + g.cost.tooling_per_csm) / 12.0
        mgr = g.people.manager_cost * raise_f(g) / 12.0
        n = affordable_headcount(budget, per, mgr, g.people.manager_span)
        rows.append({"segment": g.name, "month": month, "arr": float(r["arr"]), "accounts": float(r["accounts"]),
                     "budget_per_month": budget, "affordable_headcount": n,
                     "planned_headcount": int(r["headcount"]), "required_fte": float(r["required_fte"]),
                     "accounts_per_csm": float(r["accounts"]) / n if n else math.nan,
                     "arr_per_csm": float(r["arr"]) / n if n else math.nan})
    df = pd.DataFrame(rows)
    tot = {"segment": "Total", "month": month, "arr": df["arr"].sum(), "accounts": df["accounts"].sum(),
           "budget_per_month": df["budget_per_month"].sum(), "affordable_headcount": int(df["affordable_headcount"].sum()),
           "planned_headcount": int(df["planned_headcount"].sum()), "required_fte": df["required_fte"].sum()}
    n = tot["affordable_headcount"]
    tot["accounts_per_csm"] = tot["accounts"] / n if n else math.nan
    tot["arr_per_csm"] = tot["arr"] / n if n else math.nan
    return pd.concat([df, pd.DataFrame([tot])], ignore_index=True)


def affordable_headcount(budget_per_month: float, cost_per_csm_month: float, manager_cost_month: float,
                         span: int) -> int:
    """Largest whole n with n x cost + ceil(n / span) x manager cost <= budget (0 if none)."""
    if budget_per_month <= 0 or cost_per_csm_month + manager_cost_month <= 0:
        return 0
    # Upper bound ignoring managers, then step down (at most a few steps).
    n = int(budget_per_month // max(cost_per_csm_month + manager_cost_month / span, EPS)) + span + 1
    while n > 0 and n * cost_per_csm_month + math.ceil(n / span) * manager_cost_month > budget_per_month + EPS:
        n -= 1
    return n


# ------------------------------------------------------------------ tables for export and comparison

def headlines_table(result: PlanResult) -> pd.DataFrame:
    return pd.DataFrame([{"headline": h.label, "value": h.value, "shown": h.text, "how computed": h.explanation}
                         for h in result.headlines.values()])


@dataclass(frozen=True)
class Comparison:
    table: pd.DataFrame  # one row per scenario: headlines and deltas against the first
    totals: dict[str, pd.DataFrame]  # scenario name -> monthly totals
    long: pd.DataFrame  # month, scenario, headcount, required_fte, cost, cost_pct_arr


def compare(scenarios: Mapping[str, sc.Scenario]) -> Comparison:
    """Run each scenario; headline values side by side with deltas against the first."""
    rows, totals = [], {}
    base: dict[str, float] | None = None
    keys = ("hires_year", "year_end_headcount", "annual_cost", "cost_pct_arr")
    for name, s in scenarios.items():
        r = run_plan(s)
        totals[name] = r.totals
        vals = {k: r.headlines[k].value for k in keys}
        row: dict[str, object] = {"scenario": name}
        for k in keys:
            row[r.headlines[k].label] = vals[k]
        if base is None:
            base = vals
        for k in keys:
            row[f"Δ {r.headlines[k].label}"] = vals[k] - base[k]
        row["Target % of ARR"] = s.target_pct_arr
        rows.append(row)
    long = pd.concat([t.assign(scenario=n)[["month", "scenario", "headcount", "required_fte", "cost",
                                            "cost_pct_arr"]] for n, t in totals.items()], ignore_index=True)
    return Comparison(pd.DataFrame(rows), totals, long)
