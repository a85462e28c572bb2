"""The capacity & budget model: accounts, FTE, hires, requisitions and cost by month and segment.

Pure Python (lists, no streamlit; pandas only to hand the tables out). Every rule
is written in docs/planning.md and pinned by tests/test_planning.py:

- monthly rate = 1 - (1 - annual)^(1/12) (churn, attrition); expansion grows
  retained ARR by (1 + annual)^(1/12) - 1 a month;
- accounts(m) = accounts(m-1) x (1 - churn_m) + new(m);
  ARR(m) = ARR(m-1) x (1 - churn_m) x (1 + expansion_m) + new(m) x average new ARR;
- required FTE(m) = accounts / accounts per CSM | ARR / ARR per CSM |
  accounts x hours per account / (hours per CSM x utilisation x (1 - admin share));
- hires are whole people phased by the scenario's hiring rule (fill the gap as it
  appears, each quarter, at most N a month, or only beyond a tolerated gap), each
  started early enough to be ramped when needed where the rule and the lead time
  allow (a requisition opened in the plan's first month starts `lead time` months
  later); requisitions open `lead time` months before the start;
- CS cost(m) = headcount x (cost + tooling) / 12 + managers x manager cost / 12,
  costs raised on each plan anniversary; % of ARR(m) = 100 x 12 x cost(m) / ARR(m).
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import pandas as pd

from app.rules import amounts, periods
from planning import scenario as sc
from planning.spend_benchmarks import Band, spend_band

CLI_COLUMNS = ["month", "segment", "accounts", "arr", "required_fte", "available_fte", "headcount", "hires",
               "reqs_to_open", "cost", "cost_pct_arr"]
DETAIL_COLUMNS = CLI_COLUMNS + ["new_accounts", "leavers", "ramping", "managers", "coverage_gap"]
EPS = 1e-9


def monthly_rate(annual: float) -> float:
    """1 - (1 - annual)^(1/12): 5% a month is about 46% a year, never annual / 12."""
    return 1.0 - (1.0 - annual) ** (1.0 / 12.0)


def monthly_growth(annual: float) -> float:
    return (1.0 + annual) ** (1.0 / 12.0) - 1.0


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


def _slots(rule: str, n: int, lead: int, start_month: dt.date | None, fiscal_year_start: int) -> list[int]:
    """Plan months a hire may start in under the rule (ascending)."""
    if rule != "quarterly":
        return list(range(lead, n))
    first = start_month or dt.date(2000, 1, 1)
    opens = [0] + [m for m in range(1, n)
                   if periods.fiscal_quarter(periods.add_months(first, m), fiscal_year_start)
                   != periods.fiscal_quarter(periods.add_months(first, m - 1), fiscal_year_start)]
    return [r + lead for r in opens if r + lead < n]


def staff_plan(required: list[float], start_csms: int, people: sc.People, hiring: sc.Hiring | None = None,
               start_month: dt.date | None = None, fiscal_year_start: int = 1) -> StaffPlan:
    """Whole hires phased by the hiring rule; available FTE, headcount, leavers and ramping by month.

    Attrition is a rate: a person on staff is still there k months later with
    probability (1 - monthly attrition)^k; a new hire is not expected to leave
    while ramping. Available FTE(m) is the expected FTE of the people hired
    (existing staff after attrition, ramping hires at their ramp productivity).

    Forward pass over the months. A month m is short when the people expected on
    staff (every hire counted as a full CSM: no hiring twice the people to cover a
    ramp) fall below its target: required FTE, or (1 - tolerance) x required FTE
    under the "tolerance" rule. The shortfall is hired, ceil(shortfall / survival)
    whole people, in the latest allowed start month s <= m - ramp (ramped in time)
    or, when none is allowed that early, the earliest allowed s <= m (the ramp then
    shows as a coverage gap). Allowed starts: every month from the lead time on
    ("fill_gap", "tolerance"); lead time after each fiscal quarter's first month
    and the plan's first month ("quarterly"); every month from the lead time on
    with at most N starts each ("cap": a full month moves the hire earlier, else
    later). Once m >= lead time + ramp the hires for m are ramped by m, so
    available FTE >= target there under "fill_gap" and "tolerance".
    Headcount(m) = expected people on staff, rounded up to whole people (a leaver
    is counted once a whole person's worth of attrition has built up), so
    headcount >= available FTE always.
    """
    hiring = hiring or sc.Hiring()
    n = len(required)
    ramp, ramp_p = people.ramp_months, people.ramp_productivity
    keep = 1.0 - monthly_rate(people.annual_attrition)
    lead = people.lead_time_months
    surv0 = [keep ** (m + 1) for m in range(n)]  # staff on board at the start
    surv_h = [keep ** max(0, k - ramp) for k in range(n)]  # a hire, k months after starting
    contrib = [surv_h[k] * (ramp_p if k < ramp else 1.0) for k in range(n)]
    rule = hiring.rule
    factor = 1.0 - hiring.gap_tolerance if rule == "tolerance" else 1.0
    cap = hiring.max_per_month if rule == "cap" else None
    slots = _slots(rule, n, lead, start_month, fiscal_year_start)
    hires = [0] * n
    on_staff = [start_csms * surv0[m] for m in range(n)]  # expected people, hires counted as they are added

    def add(s: int, k: int) -> None:
        hires[s] += k
        for t in range(s, n):
            on_staff[t] += k * surv_h[t - s]

    for m in range(n):
        target = required[m] * factor
        while target - on_staff[m] > EPS:
            open_ = [s for s in slots if s <= m and (cap is None or hires[s] < cap)]
            if not open_:
                break  # no hire can start by m: a coverage gap
            ramped = [s for s in open_ if s <= m - ramp]
            s = ramped[-1] if ramped else open_[0]
            k = math.ceil((target - on_staff[m]) / surv_h[m - s] - EPS)
            add(s, k if cap is None else min(k, cap - hires[s]))
    avail = [0.0] * n
    hc, ramping, leavers = [0] * n, [0] * n, [0] * n
    prev = start_csms
    for m in range(n):
        a = start_csms * surv0[m]
        rp = 0
        for s in range(m + 1):
            if hires[s]:
                a += hires[s] * contrib[m - s]
                if m - s < ramp:
                    rp += hires[s]
        avail[m] = a
        hc[m] = math.ceil(on_staff[m] - 1e-6)  # a leaver counts once a whole person's expected attrition has built up
        ramping[m] = rp
        leavers[m] = prev + hires[m] - hc[m]
        prev = hc[m]
    return StaffPlan(hires, hc, avail, leavers, ramping)


def _segment_rows(s: sc.Scenario, seg: sc.Segment) -> dict[str, list]:
    start_month, months = s.start_month, s.months
    if seg.start.accounts is None or seg.start.arr is None or seg.start.csms is None:
        raise sc.ScenarioError(f"segments.{seg.name}.start: accounts, arr and csms are needed "
                               "(fill them from the store or give them in the scenario)")
    d, cov, pp = sc.segment_demand(s, seg), seg.coverage, seg.people
    churn = monthly_rate(d.annual_logo_churn)
    grow = monthly_growth(d.annual_net_expansion)
    new = sc.segment_new(s, seg)
    acc, arr = float(seg.start.accounts), float(seg.start.arr)
    accounts, arrs, req = [], [], []
    keep, keep_arr = 1.0 - churn, (1.0 - churn) * (1.0 + grow)
    for m in range(months):
        acc = acc * keep + new[m]
        arr = arr * keep_arr + new[m] * d.avg_new_arr
        accounts.append(acc)
        arrs.append(arr)
        req.append(required_fte(cov, acc, arr))
    plan = staff_plan(req, int(seg.start.csms), pp, s.hiring, start_month, s.fiscal_year_start)
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
        "month": [periods.add_months(start_month, m) for m in range(months)], "segment": [seg.name] * months,
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
    segs = [_segment_rows(s, seg) for seg in s.segments]
    cols: dict[str, list] = {c: [v for r in segs for v in r[c]] for c in DETAIL_COLUMNS}
    tot: dict[str, list] = {"month": segs[0]["month"]}
    for c in _SUM:
        tot[c] = [sum(vals) for vals in zip(*(r[c] for r in segs), strict=False)]
    tot["cost_pct_arr"] = [100.0 * 12.0 * c / a if a > 0 else math.nan
                           for c, a in zip(tot["cost"], tot["arr"], strict=False)]
    tot["target_cost"] = [s.target_pct_arr / 100.0 * a / 12.0 for a in tot["arr"]]
    heads = headlines(s, segs, tot, band or spend_band())
    detail = _frame(cols, DETAIL_COLUMNS)
    monthly = _frame(cols, CLI_COLUMNS)
    totals = _frame(tot, list(tot))
    return PlanResult(s, monthly, detail, totals, MappingProxyType(heads))


def _money(x: float) -> str:
    """Compact dollars for headline prose ($1.23M, $78.9k, $950, -$1.20M).

    The same convention as app.present.fmt.money, which planning/ may not import (it stays free of the app layer).
    """
    if x != x:
        return "n/a"
    return ("-" if x < 0 and round(abs(x)) else "") + "$" + amounts.compact(x, 2)


def _year(s: sc.Scenario) -> tuple[int, str]:
    n = min(12, s.months)
    first, last = s.start_month, periods.add_months(s.start_month, n - 1)
    span = f"{first:%b %Y}-{last:%b %Y}"
    if n == 12 and periods.period_start(first, "year", s.fiscal_year_start) == first:
        span = f"{periods.period_label(first, 'year', s.fiscal_year_start)} ({span})"
    return n, span


def plan_year_words(s: sc.Scenario) -> str:
    """The headlines' year in words: 'FY2027 (Feb 2026-Jan 2027)' or 'Mar 2026-Feb 2027'."""
    return _year(s)[1]


def hiring_words(s: sc.Scenario) -> str:
    """The scenario's hiring rule in plain words (headlines, page, exports)."""
    h = s.hiring
    if h.rule == "quarterly":
        starts = sorted({(s.fiscal_year_start - 1 + 3 * q) % 12 + 1 for q in range(4)})
        months = ", ".join(periods.MONTH_ABBR[m] for m in starts)
        return ("Hiring each quarter: requisitions open in the first month of each fiscal quarter "
                f"({months}) and in the plan's first month; each batch starts the lead time later, sized for the "
                "peak need until the next batch is ramped")
    if h.rule == "cap":
        return (f"Hiring capped at {h.max_per_month} a month in each segment: hires beyond the cap start earlier "
                "if the lead time allows, else later (a coverage gap until they are ramped)")
    if h.rule == "tolerance":
        return (f"Hiring tolerates a coverage gap up to {h.gap_tolerance:.0%}: people are hired only when available "
                f"FTE would fall below {1 - h.gap_tolerance:.0%} of required FTE, and then only enough to get back "
                "to that level")
    return ("Hiring fills the gap as it appears: each month's shortfall is hired to start ramp months ahead, "
            "never before the lead time allows")


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
    cover_pct = [a / r for a, r in zip(tot["available_fte"][:n], tot["required_fte"][:n], strict=False) if r > 0]
    low = min(cover_pct) if cover_pct else math.nan
    cost = float(sum(tot["cost"][:n]))
    mean_arr = float(sum(tot["arr"][:n]) / n)
    pct = 100.0 * (cost * 12.0 / n) / mean_arr if mean_arr > 0 else math.nan
    cover = "; ".join(_coverage_words(g) for g in s.segments)
    rule = hiring_words(s)
    if gap_months:
        why = {"tolerance": "within the tolerance, or while the lead time and ramp do not yet allow",
               "cap": "the cap, the lead time or the ramp holds hires back",
               "quarterly": "hires wait for the next quarter's requisitions, the lead time or the ramp"}.get(
            s.hiring.rule, "hires cannot start before the lead time allows, or are still ramping")
        short = (f" Coverage falls short in {gap_months} month(s) ({why}); lowest coverage "
                 f"{low:.0%} of required FTE.")
    else:
        short = ""
    return {
        "hires_year": Headline(
            "hires_year", "Hires this year", hires, f"{hires:,}",
            f"Whole CSMs starting {span} across segments ({per_seg}). {rule}. Each hire counts as one CSM once "
            f"ramped (available FTE: staff after attrition, ramping hires at their ramp productivity); {leavers} "
            f"expected leaver(s) are replaced. Inputs: {people}."),
        "year_end_headcount": Headline(
            "year_end_headcount", "Year-end headcount", ye_hc, f"{ye_hc:,}",
            f"CSMs on staff at the end of {span}: {start_hc} now + {hires} hires - {leavers} leavers "
            f"(plus {ye_mgr} manager(s) at the span of control, not counted here). Required FTE then: "
            f"{tot['required_fte'][n - 1]:,.1f} ({cover}).{short}"),
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
    month = periods.add_months(s.start_month, idx)
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
           "budget_per_month": df["budget_per_month"].sum(),
           "affordable_headcount": int(df["affordable_headcount"].sum()),
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
        row["Hiring rule"] = sc.HIRING_RULES[s.hiring.rule] + (
            f" ({s.hiring.max_per_month} a month)" if s.hiring.rule == "cap" else
            f" ({s.hiring.gap_tolerance:.0%})" if s.hiring.rule == "tolerance" else "")
        rows.append(row)
    long = pd.concat([t.assign(scenario=n)[["month", "scenario", "headcount", "required_fte", "cost",
                                            "cost_pct_arr"]] for n, t in totals.items()], ignore_index=True)
    return Comparison(pd.DataFrame(rows), totals, long)
