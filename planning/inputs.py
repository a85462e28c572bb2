"""The planner's starting point and demand defaults from the store, and saved scenarios.

Read by the planner page (through app.ui.cached) and by `python -m app plan`.
Segment rule: an account's planner segment is its current `segment`; an account
without a named CSM (csm_id empty) is served tech touch, as is a segment whose
label says so ("tech touch", "digital", "low touch", "scaled") - but only when
some accounts do carry a csm_id (a store without any CSM assignment says
nothing about coverage).
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from app.data import store
from app.present import fmt
from app.rules import periods
from planning import scenario as sc

log = logging.getLogger(__name__)

EXAMPLE_SCENARIO = store.ROOT / "data" / "scenarios" / "example.json"
HISTORY_MONTHS = 12  # trailing window for the history averages
_TECH_LABELS = ("tech touch", "tech-touch", "techtouch", "digital", "low touch", "low-touch", "scaled")

# The account -> planner segment mapping, as SQL (bound parameters only).
_SEG_CTE = """
seg AS (
    SELECT a.account_id,
           CASE WHEN lower(trim(a.segment)) IN (SELECT unnest(?::VARCHAR[])) THEN ?
                WHEN h.has_csm AND (a.csm_id IS NULL OR trim(a.csm_id) = '') THEN ?
                ELSE coalesce(nullif(trim(a.segment), ''), 'Unsegmented') END AS segment
    FROM accounts a, (SELECT count(csm_id) FILTER (WHERE trim(csm_id) <> '') > 0 AS has_csm FROM accounts) h
)
"""


def _seg_params() -> list:
    return [list(_TECH_LABELS), sc.TECH_TOUCH, sc.TECH_TOUCH]


@dataclass(frozen=True)
class StoreDefaults:
    """What the store says about each segment; `source` says where demand came from."""

    as_of: dt.date
    start: pd.DataFrame  # segment, accounts, arr, csms, avg_csm_cost
    demand: pd.DataFrame  # segment, months, new_per_month, avg_new_arr, annual_logo_churn, annual_net_expansion
    source: str  # "history" or "forecast"
    fiscal_year_start: int = 1  # the store's setting (1 = calendar year)
    # segments whose new logos could not come from the forecast, and why (history averages used)
    fallbacks: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.start.empty or float(self.start["accounts"].sum()) == 0


def starting_point(cur: store.Cursor) -> pd.DataFrame:
    """segment, accounts (ARR > 0 at the as-of month end), arr, csms (on the roster at as-of), avg_csm_cost."""
    asof = store.as_of(cur)
    month = asof.replace(day=1)
    acc = store.query_df(cur, f"""
        WITH {_SEG_CTE}
        SELECT coalesce(s.segment, 'Unsegmented') AS segment, count(*) AS accounts, sum(m.arr) AS arr
        FROM arr_monthly m LEFT JOIN seg s ON s.account_id = m.account_id
        WHERE m.month = ?
        GROUP BY 1
    """, [*_seg_params(), month])
    # A CSM without a segment belongs to the segment most of their accounts are in.
    csm = store.query_df(cur, f"""
        WITH {_SEG_CTE},
        book AS (
            SELECT a.csm_id, s.segment, count(*) AS n,
                   row_number() OVER (PARTITION BY a.csm_id ORDER BY count(*) DESC, s.segment) AS rk
            FROM accounts a JOIN seg s ON s.account_id = a.account_id
            WHERE a.csm_id IS NOT NULL GROUP BY a.csm_id, s.segment
        )
        SELECT coalesce(nullif(trim(c.segment), ''), b.segment, 'Unsegmented') AS segment,
               count(*) AS csms, avg(c.fully_loaded_cost) AS avg_csm_cost
        FROM csms c LEFT JOIN book b ON b.csm_id = c.csm_id AND b.rk = 1
        WHERE (c.start_date IS NULL OR c.start_date <= ?) AND (c.end_date IS NULL OR c.end_date > ?)
        GROUP BY 1
    """, [*_seg_params(), asof, asof])
    out = acc.merge(csm, on="segment", how="outer")
    out["accounts"] = out["accounts"].fillna(0).astype("int64")
    out["arr"] = out["arr"].fillna(0.0).astype(float)
    out["csms"] = out["csms"].fillna(0).astype("int64")
    out["avg_csm_cost"] = out["avg_csm_cost"].astype(float)
    return _order(out)


def history_demand(cur: store.Cursor, months: int = HISTORY_MONTHS) -> pd.DataFrame:
    """Trailing averages per segment over up to `months` months ending at the as-of month.

    new_per_month = new logos (bridge category 'new') / months observed;
    avg_new_arr = their average first-month ARR; annual_logo_churn = accounts
    active at the window start and not at its end / active at the start;
    annual_net_expansion = end ARR / start ARR of the accounts active at both,
    minus 1. Both rates are annualised from a shorter window by compounding.
    """
    month = store.as_of(cur).replace(day=1)
    first = store.query_rows(cur, "SELECT min(month) FROM arr_monthly")[0][0]
    if first is None:
        return pd.DataFrame(columns=["segment", "months", "new_per_month", "avg_new_arr", "annual_logo_churn",
                                     "annual_net_expansion"])
    w0 = max(periods.add_months(month, -months), first)
    k = max(periods.months_between(w0, month), 0)  # months between window start and end
    new = store.query_df(cur, f"""
        WITH {_SEG_CTE}
        SELECT coalesce(s.segment, 'Unsegmented') AS segment, count(*) AS new_logos, avg(b.arr) AS avg_new_arr
        FROM arr_bridge_account b LEFT JOIN seg s ON s.account_id = b.account_id
        WHERE b.category = 'new' AND b.month > ? AND b.month <= ?
        GROUP BY 1
    """, [*_seg_params(), w0, month])
    cohort = store.query_df(cur, f"""
        WITH {_SEG_CTE},
        s0 AS (SELECT account_id, arr FROM arr_monthly WHERE month = ?),
        s1 AS (SELECT account_id, arr FROM arr_monthly WHERE month = ?)
        SELECT coalesce(s.segment, 'Unsegmented') AS segment, count(*) AS start_logos,
               count(s1.account_id) AS kept_logos,
               sum(CASE WHEN s1.account_id IS NOT NULL THEN s0.arr END) AS kept_start_arr,
               sum(s1.arr) AS kept_end_arr
        FROM s0 LEFT JOIN s1 ON s1.account_id = s0.account_id LEFT JOIN seg s ON s.account_id = s0.account_id
        GROUP BY 1
    """, [*_seg_params(), w0, month])
    df = cohort.merge(new, on="segment", how="outer")
    rows = []
    for r in df.itertuples(index=False):
        churn = exp = math.nan
        if k > 0 and r.start_logos and r.start_logos == r.start_logos:
            kept = r.kept_logos / r.start_logos
            churn = 1.0 - kept ** (12.0 / k)
            if r.kept_start_arr and r.kept_start_arr == r.kept_start_arr and r.kept_start_arr > 0:
                exp = (r.kept_end_arr / r.kept_start_arr) ** (12.0 / k) - 1.0
        n_new = 0 if r.new_logos != r.new_logos else r.new_logos
        rows.append({"segment": r.segment, "months": k, "new_per_month": n_new / k if k else math.nan,
                     "avg_new_arr": r.avg_new_arr, "annual_logo_churn": churn, "annual_net_expansion": exp})
    return _order(pd.DataFrame(rows))


# Below this much history a new-logo forecast is mostly guesswork (no yearly
# pattern can be seen), so the planner keeps the trailing-12-month average.
FORECAST_MIN_HISTORY_MONTHS = 24


def forecast_new_logos(cur: store.Cursor, segment: str, months: int) -> list[float] | str:
    """New logos per month from the top-down forecast (the backtest's best method).

    Otherwise the reason it could not be used (under FORECAST_MIN_HISTORY_MONTHS of
    history, or the forecast failed): the caller then uses history averages and says so.
    """
    from app.forecasting import topdown as forecast  # imports prophet lazily, only when the planner needs it

    try:
        n = len(forecast.history(cur, "new_logos", segment))
        if n < FORECAST_MIN_HISTORY_MONTHS:
            return f"{n} months of history (the forecast needs {FORECAST_MIN_HISTORY_MONTHS})"
        fc = forecast.forecast_quantity(cur, "new_logos", segment, months, "auto")
    except (ValueError, RuntimeError) as exc:
        log.warning("new-logo forecast for %s failed: %s", segment, exc)
        return f"the forecast failed ({exc})"
    return [max(0.0, float(x)) for x in fc.frame["yhat"].to_list()[:months]]


def store_defaults(cur: store.Cursor, months: int = 12, use_forecast: bool = True) -> StoreDefaults:
    start = starting_point(cur)
    demand = history_demand(cur)
    source = "history"
    fallbacks: list[str] = []
    if use_forecast and not demand.empty:
        fc_rows = {}
        for seg in demand["segment"]:
            f = forecast_new_logos(cur, seg, months)
            if isinstance(f, str):
                fallbacks.append(f"{seg}: {f}")
            else:
                fc_rows[seg] = f
        if fc_rows:
            demand = demand.copy()
            demand["new_per_month"] = demand["segment"].map(lambda s: fc_rows.get(s)).astype(object).where(
                demand["segment"].isin(list(fc_rows)), demand["new_per_month"])
            source = "forecast"
    return StoreDefaults(store.as_of(cur), start, demand, source, store.fiscal_year_start(cur), tuple(fallbacks))


def plan_year_start(as_of: dt.date, fiscal_year_start: int = 1) -> dt.date:
    """The first month of the next fiscal year after the as-of date (the planner's default plan year)."""
    return periods.add_months(periods.period_start(as_of, "year", fiscal_year_start), 12)


def scenario_from_store(d: StoreDefaults, months: int = 12, name: str = "Base") -> sc.Scenario:
    """A scenario whose start and demand come from the store (house defaults for the rest).

    Segments: those in the store plus a tech-touch segment (zero start when the
    store has none). The plan starts with the next fiscal year after the as-of date.
    """
    start_month = plan_year_start(d.as_of, d.fiscal_year_start)
    names = list(d.start["segment"]) if not d.start.empty else []
    if sc.TECH_TOUCH not in names:
        names.append(sc.TECH_TOUCH)
    s = sc.default_scenario(start_month, tuple(names))
    return fill_from_store(sc.Scenario(name, start_month, months, s.target_pct_arr, s.segments,
                                       f"Start and demand from the store as of {d.as_of.isoformat()} ({d.source}).",
                                       fiscal_year_start=d.fiscal_year_start),
                           d, demand_too=True)


def initial_scenario(d: StoreDefaults, months: int = 12) -> tuple[sc.Scenario, str]:
    """The planner's starting scenario and a note saying where its numbers come from.

    From the store when it holds accounts with ARR; otherwise the bundled example
    (data/scenarios/example.json), labelled as example values.
    """
    if d.empty:
        s = sc.load_scenario(EXAMPLE_SCENARIO)
        return s, ("No data loaded: the planner starts from example values (data/scenarios/example.json). "
                   "Load data on the Data page to start from your own accounts, ARR and CSMs.")
    s = scenario_from_store(d, months)
    src = ("the forecast" if d.source == "forecast" else
           f"trailing {HISTORY_MONTHS}-month history averages (the forecast does not yet predict new logos)")
    if d.fallbacks and d.source == "forecast":
        src += (f"; new customers from trailing {HISTORY_MONTHS}-month history averages instead for "
                + "; ".join(d.fallbacks))
    elif d.fallbacks:
        src += " (" + "; ".join(d.fallbacks) + ")"
    year = periods.period_label(s.start_month, "year", d.fiscal_year_start)
    between = periods.months_between(d.as_of, s.start_month) - 1
    gap = (f" The {between} month(s) between the as-of date and the plan year are not projected: the plan "
           "starts from the as-of values (move the start month to plan from the month after the as-of date)."
           if between > 0 else "")
    return s, (f"Plan year {year} ({periods.fiscal_year_text(d.fiscal_year_start)}), starting "
               f"{s.start_month:%b %Y}: the next fiscal year after the as-of date.{gap} "
               f"Start: accounts with ARR > 0, their ARR and the CSM roster as of {d.as_of:%d %b %Y}. "
               f"Demand (new customers, average new ARR, logo churn, net expansion): {src}. "
               "Coverage, people and cost: house defaults (assumptions) until you change them.")


def fill_from_store(s: sc.Scenario, d: StoreDefaults, demand_too: bool = False) -> sc.Scenario:
    """Fill missing start values (accounts, ARR, CSMs) from the store; a segment the store lacks gets 0.

    With demand_too, the demand of each segment (new customers per month, average
    new ARR, annual churn and net expansion) is replaced by the store's where known.
    """
    st = d.start.set_index("segment") if not d.start.empty else pd.DataFrame()
    dm = d.demand.set_index("segment") if not d.demand.empty else pd.DataFrame()
    segs = []
    for g in s.segments:
        row = st.loc[g.name] if g.name in st.index else None
        start = sc.Start(
            g.start.accounts if g.start.accounts is not None else float(row["accounts"]) if row is not None else 0.0,
            g.start.arr if g.start.arr is not None else round(float(row["arr"]), 2) if row is not None else 0.0,
            g.start.csms if g.start.csms is not None else int(row["csms"]) if row is not None else 0)
        people = g.people
        if demand_too and row is not None and _ok(row["avg_csm_cost"]):
            people = replace(people, cost_per_csm=round(float(row["avg_csm_cost"]), -2))
        demand = g.demand
        if demand_too and g.name in dm.index:
            h = dm.loc[g.name]
            npm = h["new_per_month"]
            kw: dict[str, Any] = {}
            if isinstance(npm, list):
                kw["new_per_month"] = tuple(round(x, 2) for x in npm)
            elif _ok(npm):
                kw["new_per_month"] = (round(float(npm), 2),)
            if kw:
                kw["new_per_year"] = None
            for f in ("avg_new_arr", "annual_logo_churn", "annual_net_expansion"):
                if _ok(h[f]):
                    kw[f] = round(float(h[f]), 4 if f != "avg_new_arr" else 0)
            if "annual_logo_churn" in kw:
                kw["annual_logo_churn"] = min(max(kw["annual_logo_churn"], 0.0), 0.99)
            if "annual_net_expansion" in kw:
                kw["annual_net_expansion"] = min(max(kw["annual_net_expansion"], -0.9), 2.0)
            demand = replace(demand, **kw)
        segs.append(replace(g, start=start, people=people, demand=demand))
    return replace(s, segments=tuple(segs))


# ------------------------------------------------------------------ saved scenarios

def save_scenario(cur: store.Cursor, s: sc.Scenario, name: str | None = None) -> str:
    """Insert or replace a named scenario; returns the name used."""
    name = (name or s.name).strip()
    if not name:
        raise sc.ScenarioError("name: a saved scenario needs a name")
    s = replace(s, name=name)
    with store.transaction(cur):
        cur.execute("DELETE FROM scenarios WHERE name = ?", [name])
        cur.execute("INSERT INTO scenarios (name, saved_at, inputs_json) VALUES (?, ?, ?)",
                    [name, dt.datetime.now().replace(microsecond=0), sc.dumps(s)])
    return name


def load_saved(cur: store.Cursor, name: str) -> sc.Scenario:
    rows = store.query_rows(cur, "SELECT inputs_json FROM scenarios WHERE name = ?", [name])
    if not rows:
        raise sc.ScenarioError(f"name: no saved scenario called {name!r}")
    return sc.loads(rows[0][0])


def list_saved(cur: store.Cursor) -> pd.DataFrame:
    return store.query_df(cur, "SELECT name, saved_at FROM scenarios ORDER BY saved_at DESC, name")


def delete_saved(cur: store.Cursor, name: str) -> bool:
    with store.transaction(cur):
        n = store.query_rows(cur, "SELECT count(*) FROM scenarios WHERE name = ?", [name])[0][0]
        cur.execute("DELETE FROM scenarios WHERE name = ?", [name])
    return bool(n)


# ------------------------------------------------------------------ CLI

def plan_table(scenario_path: str, cur: store.Cursor | None = None) -> pd.DataFrame:
    """`python -m app plan --scenario FILE.json`: the monthly table (CLI columns).

    Start values the scenario omits are filled from the store (cur); with no
    store they are an error naming the field. ScenarioError carries the message.
    """
    from planning import model

    s = sc.load_scenario(scenario_path)
    if s.needs_start and cur is not None:
        s = fill_from_store(s, StoreDefaults(store.as_of(cur), starting_point(cur), pd.DataFrame(), "history"))
    return model.run_plan(s).monthly


def scenario_inputs_table(s: sc.Scenario) -> pd.DataFrame:
    """The inputs as a long table (segment, group, field, value) for exports; numbers stay numbers."""
    from planning import model

    d = sc.to_dict(s)
    rows = [{"segment": "(plan)", "group": "plan", "field": k, "value": d[k]}
            for k in ("name", "start_month", "months", "fiscal_year_start", "target_pct_arr", "notes")]
    rows += [{"segment": "(plan)", "group": "hiring", "field": k, "value": v} for k, v in d["hiring"].items()]
    rows.append({"segment": "(plan)", "group": "hiring", "field": "in words", "value": model.hiring_words(s)})
    if s.new_customers is not None:
        rows.append({"segment": "(plan)", "group": "new_customers", "field": "total_per_year",
                     "value": s.new_customers.total_per_year})
        rows += [{"segment": name, "group": "new_customers", "field": "mix", "value": share}
                 for name, share in s.new_customers.mix]
    for seg_name, seg in d["segments"].items():
        for group, vals in seg.items():
            if isinstance(vals, dict):
                for k, v in vals.items():
                    rows.append({"segment": seg_name, "group": group, "field": k,
                                 "value": ", ".join(f"{x:g}" for x in v) if isinstance(v, list) else v})
            else:
                rows.append({"segment": seg_name, "group": "segment", "field": group, "value": vals})
    df = pd.DataFrame(rows)
    df["value"] = df["value"].map(lambda v: "" if v is None else str(v).lower() if isinstance(v, bool) else v
                                  ).astype(object)
    return df


# ------------------------------------------------------------------ exports and display tables

# Columns of the plan's tables by how they are rounded and formatted in the XLSX.
_WHOLE = ("accounts", "new_accounts", "headcount", "hires", "reqs_to_open", "leavers", "ramping", "managers",
          "affordable_headcount", "planned_headcount")
_MONEY = ("arr", "cost", "target_cost", "budget_per_month", "arr_per_csm")
_FTE = ("required_fte", "available_fte", "coverage_gap", "accounts_per_csm")
_PCT = ("cost_pct_arr",)  # percent (8.5 = 8.5%), one decimal


def _rounded(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    out, kinds = df.copy(), {}
    for c in out.columns:
        if c in _WHOLE:
            out[c] = out[c].round().astype("Int64")
            kinds[c] = "int"
        elif c in _MONEY:
            out[c] = out[c].round()
            kinds[c] = "money"
        elif c in _FTE or c in _PCT:
            out[c] = out[c].round(1)
            kinds[c] = "number"
        elif c == "month":
            out[c] = pd.to_datetime(out[c])
            kinds[c] = "date"
    return out, kinds


def plan_workbook(s: sc.Scenario, result, affordable: pd.DataFrame) -> tuple[dict[str, pd.DataFrame],
                                                                             dict[str, dict[str, str]]]:
    """The plan's XLSX sheets and their column formats (export.to_xlsx_bytes(sheets, formats)).

    Whole accounts and people, money in whole dollars, FTE and % of ARR to one decimal; the
    inputs keep their numbers as numbers. The model's own tables keep full precision.
    """
    from planning import model

    sheets: dict[str, pd.DataFrame] = {"Inputs": scenario_inputs_table(s)}
    formats: dict[str, dict[str, str]] = {"Inputs": {"segment": "text", "group": "text", "field": "text"}}
    for name, df in (("Monthly", result.monthly), ("Detail", result.detail), ("Totals", result.totals),
                     ("Affordable", affordable)):
        sheets[name], formats[name] = _rounded(df)
    heads = model.headlines_table(result)
    digits = {"hires_year": 0, "year_end_headcount": 0, "annual_cost": 0, "cost_pct_arr": 1}
    heads["value"] = [round(float(v), digits.get(k, 2)) for k, v in zip(result.headlines, heads["value"], strict=False)]
    sheets["Headlines"], formats["Headlines"] = heads, {"value": "number", "shown": "text"}
    return sheets, formats


def comparison_display(table: pd.DataFrame) -> pd.DataFrame:
    """model.compare's table for people: $1.2M and -$361,553, whole counts, percentages with %."""
    out = pd.DataFrame({"Scenario": table["scenario"]})
    if "Hiring rule" in table:
        out["Hiring rule"] = table["Hiring rule"]
    out["Hires this year"] = table["Hires this year"].map(fmt.count)
    out["Δ hires"] = table["Δ Hires this year"].map(lambda v: _signed_count(v))
    out["Year-end headcount"] = table["Year-end headcount"].map(fmt.count)
    out["Δ headcount"] = table["Δ Year-end headcount"].map(lambda v: _signed_count(v))
    out["Annual CS cost"] = table["Annual CS cost"].map(lambda v: fmt.money(v, 1))
    out["Δ cost"] = table["Δ Annual CS cost"].map(lambda v: fmt.money_exact(v, signed=True))
    out["Cost % of ARR"] = table["Cost as % of ARR"].map(lambda v: fmt.pct(v / 100.0))
    out["Δ % of ARR"] = table["Δ Cost as % of ARR"].map(lambda v: fmt.pct_points(v / 100.0))
    out["Target % of ARR"] = table["Target % of ARR"].map(lambda v: fmt.pct(v / 100.0))
    return out.reset_index(drop=True)


def _signed_count(v: object) -> str:
    if fmt.is_missing(v):
        return fmt.NA
    n = round(float(v))  # type: ignore[arg-type]
    return f"{n:+,}" if n else "0"


# ------------------------------------------------------------------ helpers

def _ok(v: object) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _order(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    known = {n: i for i, n in enumerate(sc.DEFAULT_SEGMENTS)}
    key = df["segment"].map(lambda s: (known.get(s, len(known)), s))
    return df.iloc[sorted(range(len(df)), key=lambda i: key.iloc[i])].reset_index(drop=True)


def affordable_display(aff: pd.DataFrame, hide: tuple[str, ...] = ()) -> pd.DataFrame:
    """"What a budget buys" for the screen: plain headers, whole dollars, "-" where a ratio has no base.

    Display only (strings); the XLSX keeps the numbers. Segments in `hide` are left out.
    """
    def money(v: Any) -> str:
        return fmt.money_exact(float(v)) if _ok(v) else "-"

    def num(v: Any, digits: int = 0) -> str:
        return f"{float(v):,.{digits}f}" if _ok(v) else "-"

    a = aff[~aff["segment"].isin(hide)]
    return pd.DataFrame({
        "Segment": a["segment"],
        "Month": pd.to_datetime(a["month"]).dt.strftime("%b %Y"),
        "ARR": a["arr"].map(money),
        "Accounts": a["accounts"].map(num),
        "Budget / month": a["budget_per_month"].map(money),
        "Affordable CSMs": a["affordable_headcount"].map(num),
        "Planned CSMs": a["planned_headcount"].map(num),
        "Required FTE": a["required_fte"].map(lambda v: num(v, 1)),
        "Accounts per CSM": a["accounts_per_csm"].map(num),
        "ARR per CSM": a["arr_per_csm"].map(money),
    })
