"""Retention metrics: ARR bridge, GRR / NRR / logo retention, renewal rates, cohorts, churn reasons.

One layer of SQL over the tables the store materialises at import
(arr_monthly, arr_bridge_account, the renewals view, accounts, churn_reasons),
with bound parameters and plain SQL (CTEs, window functions, GROUPING SETS) so
the queries can move to another engine. Every metric's definition lives in
DEFINITIONS: the pages show it as help text and docs/metrics.md repeats it
(a test keeps the two in step).

Filters (segment, region, csm_id) use the account's *current* attributes in
`accounts`: an account that moved from SMB to Mid-Market counts as Mid-Market
over its whole history, so a segment's series is the history of today's book.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from app.data import store
from app.present import fmt
from app.rules import periods
from app.rules import segments as segments_rule
from app.rules.segments import ACCOUNT_FILTER, segments  # noqa: F401  (segments: the one list, re-exported)

BRIDGE_COLUMNS = ["month", "start_arr", "new", "expansion", "reactivation", "contraction", "churn", "end_arr",
                  "start_logos", "new_logos", "reactivated_logos", "churned_logos", "end_logos"]
RETENTION_COLUMNS = ["month", "grr", "nrr", "logo_retention", "start_arr", "start_logos",
                     "retained_arr_capped", "retained_arr", "retained_logos"]
# `python -m app metrics retention` prints these columns of retention_series.
RETENTION_CLI_COLUMNS = ["month", "grr", "nrr", "logo_retention"]
RENEWAL_COLUMNS = ["period", "contracts_due", "renewed_count", "rate_by_count", "arr_due", "renewed_arr_gross",
                   "renewed_arr_net", "gross_rate_by_arr", "net_rate_by_arr"]
FREQS = ("month", "quarter", "year")  # whitelisted date_trunc units
NOT_RECORDED = "(not recorded)"
# A churn reason row belongs to a churn event when its date lies this close to the churn month.
REASON_MATCH_DAYS = 92
# Tiles compare the latest value with the value this many months earlier.
KPI_COMPARE_MONTHS = 3

DEFINITIONS: dict[str, str] = {
    "arr": "ARR: annual recurring revenue at the month end, the sum over accounts of the ARR of their line "
           "items active on the month's last day (start date <= day < end date).",
    "arr_bridge": "ARR bridge: for each month, start ARR (previous month end) + new + reactivation + "
                  "expansion - contraction - churn = end ARR, per account comparing this month end with the "
                  "previous one.",
    "new": "New: an account with ARR at this month end, none at the previous one, and never any before.",
    "reactivation": "Reactivation: an account with ARR at this month end, none at the previous one, but some at "
                    "an earlier month end (it churned and came back).",
    "expansion": "Expansion: ARR above the previous month end's (both > 0); the increase is counted.",
    "contraction": "Contraction: ARR below the previous month end's but above zero; the decrease is counted.",
    "churn": "Churn: ARR at the previous month end and none at this one; the previous ARR is counted. A fall "
             "to zero is churn, never contraction.",
    "grr": "GRR (gross revenue retention), trailing 12 months, by ARR: the accounts with ARR 12 months "
           "earlier, each capped at that starting ARR (no expansion, no new logos): sum of min(ARR now, ARR "
           "then) / sum of ARR then. Never above 100%.",
    "nrr": "NRR (net revenue retention), trailing 12 months, by ARR: the same accounts' ARR now, expansion "
           "included, new logos excluded: sum of ARR now / sum of ARR then.",
    "logo_retention": "Logo retention, trailing 12 months, by count: accounts with ARR 12 months earlier that "
                      "still have ARR now / accounts with ARR 12 months earlier (= 1 - logo churn rate).",
    "renewal_rate": "Renewal rate, trailing 12 months, by account: accounts with a contract due (end date) in "
                    "the 12 months to the as-of date and a known outcome, that renewed every contract due "
                    "(renewed, downgraded or expanded) / those accounts. An account on monthly terms is due 12 "
                    "times and counts once, so the rate is annual whatever the term.",
    "renewal_rate_by_count": "Renewal rate by count (per period): contracts renewed (renewed, downgraded or "
                             "expanded) / contracts due in the period, known outcomes only. The base is what came "
                             "up for renewal, not the whole book; short terms come up more often.",
    "gross_renewal_rate": "Gross renewal rate, by ARR: renewed ARR capped at the ARR due / ARR due, contracts "
                          "due in the period with a known outcome.",
    "net_renewal_rate": "Net renewal rate, by ARR: renewed ARR including upsell / ARR due, contracts due in the "
                        "period with a known outcome.",
    "cohort_retention": "Cohort retention: accounts grouped by the quarter of their first month with ARR; logo "
                        "retention = accounts with ARR k months after their own first month / cohort size; "
                        "revenue retention = their ARR then / their ARR in their first month (expansion "
                        "included).",
    "churn_reasons": "Churn reasons: churn events of the ARR bridge (ARR to zero) in the window, each matched to "
                     "the account's recorded reason nearest in date (within 92 days); churned ARR is the ARR "
                     "lost. Proximate reason = what the customer said; root cause = what lay behind it, "
                     "usually in our control, and what to fix.",
    "headwind": "Headwind: (churn + contraction) in the period / ARR at the start of the period.",
    "tailwind": "Tailwind: expansion in the period / ARR at the start of the period.",
    "segment_filter": "Segment filter: uses each account's current segment (in accounts) for its whole history.",
}


# ---------------------------------------------------------------- helpers

_filters = segments_rule.filters


def _asof_month(cur: store.Cursor) -> pd.Timestamp:
    return pd.Timestamp(store.as_of(cur).replace(day=1))


# Months since year 0 as an integer: joins 'k months later' on integers (plain EXTRACT).
MONTH_INDEX = "(EXTRACT(YEAR FROM month) * 12 + EXTRACT(MONTH FROM month) - 1)"


def _add_months(ts: pd.Timestamp, n: int) -> pd.Timestamp:
    return pd.Timestamp(periods.add_months(ts.date(), n))


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).astype(float)


# ---------------------------------------------------------------- segments

# ---------------------------------------------------------------- ARR bridge

def arr_bridge(cur: store.Cursor, segment: str | None = None, region: str | None = None,
               csm_id: str | None = None) -> pd.DataFrame:
    """Monthly ARR bridge, one row per month from the first month with ARR to the as-of month.

    Columns BRIDGE_COLUMNS; month is the first day of the month (the figures are month-end ARR).
    Months where nothing is active are zero rows, so end of month m = start of month m + 1.
    """
    params = _filters(segment, region, csm_id)
    # Flows come from the non-flat account-months only (~20x fewer rows than the book);
    # month-end totals from arr_monthly. Start = the previous month's end.
    df = store.query_df(cur, f"""
        WITH ev AS (
            SELECT month, prev_arr, arr, category FROM arr_bridge_account
            WHERE category <> 'flat' AND {ACCOUNT_FILTER}
        ),
        flows AS (
            SELECT month,
                   sum(CASE WHEN category = 'new' THEN arr ELSE 0 END) AS new,
                   sum(CASE WHEN category = 'expansion' THEN arr - prev_arr ELSE 0 END) AS expansion,
                   sum(CASE WHEN category = 'reactivation' THEN arr ELSE 0 END) AS reactivation,
                   sum(CASE WHEN category = 'contraction' THEN prev_arr - arr ELSE 0 END) AS contraction,
                   sum(CASE WHEN category = 'churn' THEN prev_arr ELSE 0 END) AS churn,
                   count(CASE WHEN category = 'new' THEN 1 END) AS new_logos,
                   count(CASE WHEN category = 'reactivation' THEN 1 END) AS reactivated_logos,
                   count(CASE WHEN category = 'churn' THEN 1 END) AS churned_logos
            FROM ev GROUP BY month
        ),
        ends AS (SELECT month, sum(arr) AS end_arr, count(*) AS end_logos FROM arr_monthly WHERE {ACCOUNT_FILTER}
                 GROUP BY month)
        SELECT coalesce(f.month, e.month) AS month,
               coalesce(f.new, 0) AS new, coalesce(f.expansion, 0) AS expansion,
               coalesce(f.reactivation, 0) AS reactivation, coalesce(f.contraction, 0) AS contraction,
               coalesce(f.churn, 0) AS churn, coalesce(e.end_arr, 0) AS end_arr,
               coalesce(f.new_logos, 0) AS new_logos, coalesce(f.reactivated_logos, 0) AS reactivated_logos,
               coalesce(f.churned_logos, 0) AS churned_logos, coalesce(e.end_logos, 0) AS end_logos
        FROM flows f FULL OUTER JOIN ends e ON e.month = f.month
        ORDER BY 1
        """, params)
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c == "month" else float)
                             for c in BRIDGE_COLUMNS})
    df["month"] = pd.to_datetime(df["month"])
    spine = pd.date_range(df["month"].min(), max(df["month"].max(), _asof_month(cur)), freq="MS")
    df = df.set_index("month").reindex(spine, fill_value=0).rename_axis("month").reset_index()
    df["start_arr"] = df["end_arr"].shift(1, fill_value=0.0)
    df["start_logos"] = df["end_logos"].shift(1, fill_value=0)
    money = ["start_arr", "new", "expansion", "reactivation", "contraction", "churn", "end_arr"]
    df[money] = df[money].astype(float).round(2)
    logos = ["start_logos", "new_logos", "reactivated_logos", "churned_logos", "end_logos"]
    df[logos] = df[logos].astype("int64")
    return df[BRIDGE_COLUMNS]


def bridge_periods(bridge: pd.DataFrame, freq: str = "quarter", fiscal_start: int = 1) -> list[str]:
    """Period labels (newest first) a bridge can be summed over: 'Oct 2026', '2026-Q4' / 'FY2027-Q1', '2026'.

    A period the data stops inside says which months it holds: '2026-Q4 (Oct only)'.
    """
    if bridge.empty:
        return []
    return list(bridge_summary(bridge, freq, fiscal_start)["period"].iloc[::-1])


def _period_frame(months: pd.Series, freq: str, fiscal_start: int) -> pd.DataFrame:
    """period_start and its label (partial periods marked) for each month of a bridge."""
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {FREQS}, not {freq!r}")
    m = pd.to_datetime(months)
    last = m.max().date()
    uniq = {x: periods.period_start(x.date(), freq, fiscal_start) for x in m.unique()}
    labels = {x: periods.period_label_partial(x.date(), freq, fiscal_start, last) for x in m.unique()}
    return pd.DataFrame({"period_start": pd.to_datetime(m.map(uniq)), "period": m.map(labels)}, index=months.index)


def bridge_summary(bridge: pd.DataFrame, freq: str = "quarter", fiscal_start: int = 1) -> pd.DataFrame:
    """The monthly bridge summed by (fiscal) period: start = first month's start, end = last month's end.

    Sorted by time; month is the period's first month with data.
    """
    if bridge.empty:
        return bridge.assign(period=pd.Series(dtype=str))
    b = pd.concat([bridge, _period_frame(bridge["month"], freq, fiscal_start)], axis=1)
    flows = ["new", "expansion", "reactivation", "contraction", "churn",
             "new_logos", "reactivated_logos", "churned_logos"]
    g = b.sort_values("month").groupby(["period_start", "period"], sort=True)
    out = g[flows].sum()
    out["start_arr"] = g["start_arr"].first()
    out["end_arr"] = g["end_arr"].last()
    out["start_logos"] = g["start_logos"].first()
    out["end_logos"] = g["end_logos"].last()
    out["month"] = g["month"].first()
    return out.reset_index()[["period", *BRIDGE_COLUMNS]]


def bridge_steps(bridge: pd.DataFrame, period: str, freq: str = "quarter", fiscal_start: int = 1) -> pd.DataFrame:
    """Waterfall steps for one period: step, amount (signed), kind, bar_start, bar_end."""
    summ = bridge_summary(bridge, freq, fiscal_start)
    row = summ.loc[summ["period"] == period]
    if row.empty:
        raise ValueError(f"no bridge data for period {period!r}")
    r = row.iloc[0]
    steps = [("Start ARR", r.start_arr, "total"), ("New", r.new, "new"),
             ("Reactivation", r.reactivation, "reactivation"), ("Expansion", r.expansion, "expansion"),
             ("Contraction", -r.contraction, "contraction"), ("Churn", -r.churn, "churn")]
    rows, level = [], 0.0
    for name, amount, kind in steps:
        if kind == "total":
            rows.append((name, float(amount), kind, 0.0, float(amount)))
            level = float(amount)
        else:
            rows.append((name, float(amount), kind, level, level + float(amount)))
            level += float(amount)
    rows.append(("End ARR", float(r.end_arr), "total", 0.0, float(r.end_arr)))
    return pd.DataFrame(rows, columns=["step", "amount", "kind", "bar_start", "bar_end"]).assign(period=period)


# ---------------------------------------------------------------- GRR / NRR / logo retention

def _retention(cur: store.Cursor, window_months: int, params: dict[str, Any],
               end_months: list[pd.Timestamp] | None = None) -> pd.DataFrame:
    """Cohort-based retention at each month end m over the accounts with ARR at m - window.

    Why spells: joining every account-month with the same account W months later is a
    4.8M x 4.8M hash join on 100k accounts x 48 months (~500 ms here). ARR changes rarely,
    so each account's history is cut into spells of constant ARR (from the non-flat rows of
    arr_bridge_account, ~20x fewer). Two spells of one account, (a1..b1, arr1) and
    (a2..b2, arr2), hold the pair (m - W in spell 1, m in spell 2) exactly for
    m in [max(a1 + W, a2), min(b1 + W, b2)], each such m adding min(arr1, arr2) to the capped
    (GRR) numerator, arr2 to the NRR numerator and 1 to the retained logos. Those ranges are
    summed per month with +/- deltas at their ends. Plain SQL: lead(), a self-join, GROUP BY.
    """
    if window_months < 1:
        raise ValueError("window_months must be at least 1")
    asof_m = _asof_month(cur)
    p = {**params, "w": int(window_months), "asof_mi": asof_m.year * 12 + asof_m.month - 1}
    df = store.query_df(cur, f"""
        WITH RECURSIVE ev AS (
            SELECT account_id, {MONTH_INDEX} AS mi, arr
            FROM arr_bridge_account WHERE category <> 'flat' AND {ACCOUNT_FILTER}
        ),
        spells AS (
            SELECT account_id, mi AS a, arr,
                   coalesce(lead(mi) OVER (PARTITION BY account_id ORDER BY mi) - 1, $asof_mi) AS b
            FROM ev
        ),
        sp AS (SELECT account_id, a, b, arr FROM spells WHERE arr > 0),
        pairs AS (
            SELECT greatest(s1.a + $w, s2.a) AS lo, least(s1.b + $w, s2.b) AS hi,
                   least(s1.arr, s2.arr) AS capped, s2.arr AS net
            FROM sp s1 JOIN sp s2
              ON s2.account_id = s1.account_id AND s2.a <= s1.b + $w AND s2.b >= s1.a + $w
        ),
        deltas AS (
            SELECT lo AS mi, sum(capped) AS capped, sum(net) AS net, count(*) AS logos FROM pairs GROUP BY lo
            UNION ALL
            SELECT hi + 1 AS mi, -sum(capped), -sum(net), -count(*) FROM pairs GROUP BY hi
        ),
        -- the cohort base at each month t: spells covering t, summed the same way
        level AS (
            SELECT a AS mi, sum(arr) AS arr, count(*) AS logos FROM sp GROUP BY a
            UNION ALL
            SELECT b + 1, -sum(arr), -count(*) FROM sp GROUP BY b
        ),
        spine(mi) AS (SELECT min(a) FROM sp UNION ALL SELECT mi + 1 FROM spine WHERE mi < $asof_mi),
        starts AS (
            SELECT m.mi, sum(l.arr) AS start_arr, sum(l.logos) AS start_logos
            FROM spine m JOIN level l ON l.mi <= m.mi
            GROUP BY m.mi
        )
        SELECT st.mi AS start_mi, st.start_arr, st.start_logos,
               coalesce(sum(d.capped), 0) AS retained_arr_capped,
               coalesce(sum(d.net), 0) AS retained_arr,
               coalesce(sum(d.logos), 0) AS retained_logos
        FROM starts st LEFT JOIN deltas d ON d.mi <= st.mi + $w
        WHERE st.mi + $w <= $asof_mi AND st.start_logos > 0
        GROUP BY st.mi, st.start_arr, st.start_logos
        ORDER BY st.mi
        """, p)
    mi = df.pop("start_mi").astype("int64") + window_months
    df["month"] = pd.to_datetime(pd.DataFrame({"year": mi // 12, "month": mi % 12 + 1, "day": 1}))
    if end_months is not None:
        df = df[df["month"].isin(end_months)]
    df = df.reset_index(drop=True)
    for c in ("start_arr", "retained_arr_capped", "retained_arr"):
        df[c] = df[c].astype(float).round(2)
    for c in ("start_logos", "retained_logos"):
        df[c] = df[c].astype("int64")
    df["grr"] = _ratio(df["retained_arr_capped"], df["start_arr"]).round(6)
    df["nrr"] = _ratio(df["retained_arr"], df["start_arr"]).round(6)
    df["logo_retention"] = _ratio(df["retained_logos"].astype(float), df["start_logos"].astype(float)).round(6)
    return df[RETENTION_COLUMNS]


def retention_series(cur: store.Cursor, window_months: int = 12, segment: str | None = None,
                     region: str | None = None, csm_id: str | None = None) -> pd.DataFrame:
    """GRR, NRR and logo retention at each month end over a trailing window (fractions).

    One row per month m whose window start m - window_months has accounts with ARR, up to the
    as-of month. Bases: start_arr / start_logos at m - window_months.
    """
    params = _filters(segment, region, csm_id)
    return _retention(cur, window_months, params)


# ---------------------------------------------------------------- renewal rates

# renewed: the renewals view's renewed ARR (one rule, app/data/store.py: an outcome without renewed ARR renews flat).
_RENEWAL_SQL = f"""
    WITH r AS (
        SELECT end_date, arr, outcome,
               renewed
        FROM renewals
        WHERE outcome IS NOT NULL AND {ACCOUNT_FILTER}
    )
    -- the (fiscal) period's first day: shift by the fiscal start, truncate, shift back
    SELECT CAST(date_trunc($freq, end_date - $shift * INTERVAL 1 MONTH) + $shift * INTERVAL 1 MONTH AS DATE)
               AS period,
           count(*) AS contracts_due,
           count(CASE WHEN outcome <> 'churned' THEN 1 END) AS renewed_count,
           sum(arr) AS arr_due,
           sum(least(renewed, arr)) AS renewed_arr_gross,
           sum(renewed) AS renewed_arr_net
    FROM r GROUP BY 1 ORDER BY 1
"""


def _renewal_rates_frame(df: pd.DataFrame) -> pd.DataFrame:
    df["rate_by_count"] = _ratio(df["renewed_count"].astype(float), df["contracts_due"].astype(float)).round(6)
    df["gross_rate_by_arr"] = _ratio(df["renewed_arr_gross"], df["arr_due"]).round(6)
    df["net_rate_by_arr"] = _ratio(df["renewed_arr_net"], df["arr_due"]).round(6)
    for c in ("arr_due", "renewed_arr_gross", "renewed_arr_net"):
        df[c] = df[c].astype(float).round(2)
    for c in ("contracts_due", "renewed_count"):
        df[c] = df[c].astype("int64")
    return df


def renewal_rates(cur: store.Cursor, freq: str = "quarter", segment: str | None = None,
                  region: str | None = None, csm_id: str | None = None) -> pd.DataFrame:
    """Renewal rate of the contracts due (end date) in each month / quarter / year, known outcomes only.

    period is the first day of the period; the rates are fractions (see DEFINITIONS).
    """
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {FREQS}, not {freq!r}")
    params = _filters(segment, region, csm_id)
    shift = store.fiscal_year_start(cur) - 1 if freq != "month" else 0
    df = store.query_df(cur, _RENEWAL_SQL, {**params, "freq": freq, "shift": shift})
    df["period"] = pd.to_datetime(df["period"])
    return _renewal_rates_frame(df)[RENEWAL_COLUMNS]


def _trailing_renewal(cur: store.Cursor, params: dict[str, Any],
                      ends: list[dt.date]) -> list[dict[str, Any]]:
    """Renewal over the contracts due in the 12 months up to each end date (known outcomes), one scan:
    by account (every contract due renewed), and gross / net by ARR over the contracts."""
    p = {**params, "ks": list(range(len(ends))), "his": list(ends),
         "los": [periods.shift(end, -12) for end in ends]}
    rows = store.query_rows(cur, f"""
        WITH w AS (SELECT unnest($ks) AS k, CAST(unnest($los) AS DATE) AS lo, CAST(unnest($his) AS DATE) AS hi),
        r AS (
            SELECT w.k, account_id, arr, outcome,
                   renewed
            FROM renewals JOIN w ON end_date > w.lo AND end_date <= w.hi
            WHERE outcome IS NOT NULL AND {ACCOUNT_FILTER}
        ),
        per_account AS (
            SELECT k, account_id, count(CASE WHEN outcome = 'churned' THEN 1 END) AS churned,
                   count(*) AS due, sum(arr) AS arr_due, sum(least(renewed, arr)) AS gross, sum(renewed) AS net
            FROM r GROUP BY k, account_id
        )
        SELECT k, count(*), count(CASE WHEN churned = 0 THEN 1 END), sum(due), sum(arr_due), sum(gross), sum(net)
        FROM per_account GROUP BY k
        """, p)
    got = {r[0]: r[1:] for r in rows}
    out = []
    for k in range(len(ends)):
        accounts, renewed, due, arr_due, gross, net = got.get(k, (0, 0, 0, 0, 0, 0))
        out.append({"accounts_due": int(accounts), "contracts_due": int(due),
                    "renewal_rate": renewed / accounts if accounts else None,
                    "gross_renewal_rate": round(gross / arr_due, 6) if arr_due else None,
                    "net_renewal_rate": round(net / arr_due, 6) if arr_due else None})
    return out


# ---------------------------------------------------------------- KPIs for the overview tiles

@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: float | None
    prior: float | None
    unit: str  # "money" or "fraction"
    help: str

    @property
    def value_text(self) -> str:
        return _fmt(self.value, self.unit)

    @property
    def delta_text(self) -> str | None:
        if self.value is None or self.prior is None:
            return None
        d = self.value - self.prior
        if self.unit == "money":
            rel = f" ({fmt.pct(d / self.prior, signed=True)})" if self.prior else ""
            return fmt.money(d, signed=True) + rel
        return fmt.pct_points(d)  # a change of a rate is in points, not a % of the rate


def _fmt(v: float | None, unit: str) -> str:
    return fmt.money(v) if unit == "money" else fmt.pct(v)


def _none(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def kpis(cur: store.Cursor, segment: str | None = None, region: str | None = None, csm_id: str | None = None,
         compare_months: int = KPI_COMPARE_MONTHS, window_months: int = 12) -> list[Kpi]:
    """The overview tiles: ARR, NRR, GRR, logo retention, renewal rate, each now and compare_months earlier.

    Empty list when there is no ARR at all.
    """
    params = _filters(segment, region, csm_id)
    asof_m = _asof_month(cur)
    prior_m = _add_months(asof_m, -compare_months)
    arr = store.query_df(cur, "SELECT month, sum(arr) AS arr FROM arr_monthly WHERE " + ACCOUNT_FILTER +
                         " AND month IN ($a, $p) GROUP BY month",
                         {**params, "a": asof_m.date(), "p": prior_m.date()})
    if not store.query_rows(cur, "SELECT count(*) FROM (SELECT 1 FROM arr_monthly WHERE " + ACCOUNT_FILTER +
                            " LIMIT 1) t", params)[0][0]:
        return []
    arr_by = {pd.Timestamp(m): float(v) for m, v in zip(arr["month"], arr["arr"], strict=True)}
    ret = _retention(cur, window_months, params, [asof_m, prior_m]).set_index("month")

    def r(col: str, m: pd.Timestamp) -> float | None:
        return _none(ret[col].get(m)) if m in ret.index else None

    asof = store.as_of(cur)
    prior_end = periods.shift(asof, -compare_months)
    ren_now, ren_prior = _trailing_renewal(cur, params, [asof, prior_end])
    base = f"The change shown is against {compare_months} months earlier."

    def text(*parts: str) -> str:  # whole sentences: "A. B." (never "A.; b")
        return " ".join(p.strip() if p.strip().endswith(".") else p.strip() + "." for p in parts if p.strip())
    win = f"trailing {window_months} months" if window_months != 12 else "trailing 12 months"
    return [
        Kpi("arr", "ARR", arr_by.get(asof_m, 0.0), arr_by.get(prior_m, 0.0), "money",
            text(DEFINITIONS["arr"], f"As of {asof:%d %b %Y}", base)),
        Kpi("nrr", "NRR", r("nrr", asof_m), r("nrr", prior_m), "fraction",
            text(DEFINITIONS["nrr"].replace("trailing 12 months", win), base)),
        Kpi("grr", "GRR", r("grr", asof_m), r("grr", prior_m), "fraction",
            text(DEFINITIONS["grr"].replace("trailing 12 months", win), base)),
        Kpi("logo_retention", "Logo retention", r("logo_retention", asof_m), r("logo_retention", prior_m),
            "fraction", text(DEFINITIONS["logo_retention"].replace("trailing 12 months", win), base)),
        Kpi("renewal_rate", "Renewal rate", ren_now["renewal_rate"], ren_prior["renewal_rate"], "fraction",
            text(DEFINITIONS["renewal_rate"], f"Base: {ren_now['accounts_due']:,} accounts due", base)),
    ]


def segment_summary(cur: store.Cursor, window_months: int = 12) -> pd.DataFrame:
    """Per current segment: accounts and ARR at the as-of month, mean ARR per account, latest trailing GRR,
    NRR, logo retention and trailing-12-month renewal rates (by count, gross and net by ARR).

    The benchmarks page compares these with the peer bands.
    """
    asof = store.as_of(cur)
    asof_m = _asof_month(cur)
    rows = []
    for seg in segments(cur):
        params = _filters(segment=seg)
        n, arr = store.query_rows(cur, "SELECT count(*), coalesce(sum(arr), 0) FROM arr_monthly "
                                       "WHERE " + ACCOUNT_FILTER + " AND month = $a", {**params, "a": asof_m.date()})[0]
        ret = _retention(cur, window_months, params, [asof_m])
        ren = _trailing_renewal(cur, params, [asof])[0]
        g = ret.iloc[0] if len(ret) else None
        rows.append({
            "segment": seg, "accounts": int(n), "arr": float(arr),
            "arr_per_account": float(arr) / n if n else None,
            "grr": _none(g["grr"]) if g is not None else None,
            "nrr": _none(g["nrr"]) if g is not None else None,
            "logo_retention": _none(g["logo_retention"]) if g is not None else None,
            **ren,
        })
    cols = ["segment", "accounts", "arr", "arr_per_account", "grr", "nrr", "logo_retention", "renewal_rate",
            "gross_renewal_rate", "net_renewal_rate", "accounts_due", "contracts_due"]
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------- cohorts

def cohort_retention(cur: store.Cursor, segment: str | None = None, region: str | None = None,
                     csm_id: str | None = None) -> pd.DataFrame:
    """Logo and revenue retention by start-quarter cohort and months since each account's first month.

    Columns: cohort ('2023-Q1'), cohort_start, months_since_start, accounts, start_arr, active_accounts,
    arr, logo_retention, revenue_retention. A cohort shows k only while every member can be observed
    k months after its start (k <= as-of month - the cohort's last start month).
    """
    params = _filters(segment, region, csm_id)
    df = store.query_df(cur, f"""
        WITH base AS (
            SELECT account_id, month, arr, {MONTH_INDEX} AS mi FROM arr_monthly WHERE {ACCOUNT_FILTER}
        ),
        firsts AS (SELECT account_id, min(mi) AS first_mi, min(month) AS first_month FROM base GROUP BY account_id),
        starts AS (
            SELECT f.account_id, f.first_mi, f.first_month, b.arr AS start_arr,
                   CAST(date_trunc('quarter', f.first_month) AS DATE) AS cohort_start
            FROM firsts f JOIN base b ON b.account_id = f.account_id AND b.mi = f.first_mi
        ),
        sizes AS (
            SELECT cohort_start, count(*) AS accounts, sum(start_arr) AS start_arr, max(first_month) AS last_start
            FROM starts GROUP BY cohort_start
        ),
        act AS (
            SELECT s.cohort_start, b.mi - s.first_mi AS months_since_start,
                   count(*) AS active_accounts, sum(b.arr) AS arr
            FROM starts s JOIN base b ON b.account_id = s.account_id
            GROUP BY s.cohort_start, b.mi - s.first_mi
        )
        SELECT z.cohort_start, z.accounts, z.start_arr, z.last_start, a.months_since_start, a.active_accounts, a.arr
        FROM sizes z LEFT JOIN act a ON a.cohort_start = z.cohort_start
        ORDER BY z.cohort_start, a.months_since_start
        """, params)
    cols = ["cohort", "cohort_start", "months_since_start", "accounts", "start_arr", "active_accounts", "arr",
            "logo_retention", "revenue_retention"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    asof_m = _asof_month(cur)
    frames = []
    for (cs, n, sa, last), g in df.groupby(["cohort_start", "accounts", "start_arr", "last_start"], sort=True):
        last = pd.Timestamp(last)
        max_k = (asof_m.year - last.year) * 12 + asof_m.month - last.month
        ks = pd.Index(range(max_k + 1), name="months_since_start")
        g = g.set_index(g["months_since_start"].astype("int64"))[["active_accounts", "arr"]]
        g = g.reindex(ks, fill_value=0).reset_index()
        frames.append(g.assign(cohort_start=pd.Timestamp(cs), accounts=int(n), start_arr=float(sa)))
    out = pd.concat(frames, ignore_index=True)
    out["cohort"] = out["cohort_start"].dt.year.astype(str) + "-Q" + out["cohort_start"].dt.quarter.astype(str)
    out["active_accounts"] = out["active_accounts"].astype("int64")
    out["arr"] = out["arr"].astype(float).round(2)
    out["logo_retention"] = (out["active_accounts"] / out["accounts"]).round(6)
    out["revenue_retention"] = _ratio(out["arr"], out["start_arr"]).round(6)
    return out[cols]


# ---------------------------------------------------------------- churn reasons

@dataclass(frozen=True)
class ChurnReasons:
    by_proximate: pd.DataFrame  # proximate_reason, churned_arr, logos, arr_share, cum_arr_share
    by_root: pd.DataFrame  # root_reason, churned_arr, logos, arr_share, cum_arr_share
    cross: pd.DataFrame  # root_reason, proximate_reason, churned_arr, logos (long)
    cross_table: pd.DataFrame  # churned ARR: one row per root cause, one column per proximate reason, totals
    since: dt.date | None  # first churn month counted (None: all history)

    @property
    def empty(self) -> bool:
        return self.by_proximate.empty


def churn_reasons(cur: store.Cursor, segment: str | None = None, region: str | None = None,
                  csm_id: str | None = None, months: int | None = 12) -> ChurnReasons:
    """Churned ARR and logos by proximate reason, by root cause and root x proximate.

    Base: churn events of the ARR bridge in the last `months` months to the as-of month (None: all),
    each matched to the account's churn_reasons row nearest in date within REASON_MATCH_DAYS;
    events without one count as '(not recorded)'.
    """
    params = _filters(segment, region, csm_id)
    since = _add_months(_asof_month(cur), -(months - 1)).date() if months else None
    p = {**params, "since": since or dt.date(1, 1, 1), "days": REASON_MATCH_DAYS}
    df = store.query_df(cur, f"""
        WITH ev AS (
            SELECT account_id, month, prev_arr AS churned_arr
            FROM arr_bridge_account
            WHERE category = 'churn' AND month >= $since AND {ACCOUNT_FILTER}
        ),
        cand AS (
            SELECT ev.account_id, ev.month, ev.churned_arr, r.proximate_reason, r.root_reason,
                   row_number() OVER (PARTITION BY ev.account_id, ev.month
                                      ORDER BY abs(r.date - (ev.month + 14)), r.date) AS rn
            FROM ev LEFT JOIN churn_reasons r
              ON r.account_id = ev.account_id AND abs(r.date - (ev.month + 14)) <= $days
        ),
        matched AS (
            SELECT churned_arr,
                   coalesce(nullif(trim(proximate_reason), ''), '{NOT_RECORDED}') AS proximate_reason,
                   coalesce(nullif(trim(root_reason), ''), '{NOT_RECORDED}') AS root_reason
            FROM cand WHERE rn = 1
        )
        SELECT proximate_reason, root_reason,
               GROUPING(proximate_reason) AS g_prox, GROUPING(root_reason) AS g_root,
               sum(churned_arr) AS churned_arr, count(*) AS logos
        FROM matched
        GROUP BY GROUPING SETS ((proximate_reason), (root_reason), (root_reason, proximate_reason))
        """, p)
    df["churned_arr"] = df["churned_arr"].astype(float).round(2)
    df["logos"] = df["logos"].astype("int64")

    def pareto(part: pd.DataFrame, col: str) -> pd.DataFrame:
        part = part[[col, "churned_arr", "logos"]].sort_values(["churned_arr", "logos", col],
                                                               ascending=[False, False, True])
        total = part["churned_arr"].sum()
        part["arr_share"] = (part["churned_arr"] / total).round(6) if total else 0.0
        part["cum_arr_share"] = (part["churned_arr"].cumsum() / total).round(6) if total else 0.0
        return part.reset_index(drop=True)

    by_prox = pareto(df[(df["g_prox"] == 0) & (df["g_root"] == 1)], "proximate_reason")
    by_root = pareto(df[(df["g_prox"] == 1) & (df["g_root"] == 0)], "root_reason")
    cross = (df[(df["g_prox"] == 0) & (df["g_root"] == 0)][["root_reason", "proximate_reason", "churned_arr",
                                                             "logos"]]
             .sort_values(["churned_arr", "root_reason", "proximate_reason"], ascending=[False, True, True])
             .reset_index(drop=True))
    if cross.empty:
        table = pd.DataFrame(columns=["root_reason", "Total"])
    else:
        table = cross.pivot_table(index="root_reason", columns="proximate_reason", values="churned_arr",
                                  aggfunc="sum", fill_value=0.0)
        table = table.loc[list(by_root["root_reason"]), list(by_prox["proximate_reason"])]
        table["Total"] = table.sum(axis=1)
        table.loc["Total"] = table.sum(axis=0)
        table = table.round(2).rename_axis(columns=None).reset_index()
    return ChurnReasons(by_prox, by_root, cross, table, since)


# ---------------------------------------------------------------- headwind / tailwind

def headwind_tailwind(cur: store.Cursor, freq: str = "quarter", segment: str | None = None,
                      region: str | None = None, csm_id: str | None = None) -> pd.DataFrame:
    """Per (fiscal) period: start ARR, churn, contraction, expansion, headwind and tailwind (fractions of start ARR)."""
    summ = bridge_summary(arr_bridge(cur, segment, region, csm_id), freq, store.fiscal_year_start(cur))
    out = summ[["period", "month", "start_arr", "churn", "contraction", "expansion"]].copy()
    money = ["start_arr", "churn", "contraction", "expansion"]
    out[money] = out[money].round(2)  # sums of cents: no float tails (7612.299999999999) in the CLI or exports
    out["headwind"] = _ratio(out["churn"] + out["contraction"], out["start_arr"]).round(6)
    out["tailwind"] = _ratio(out["expansion"], out["start_arr"]).round(6)
    return out
