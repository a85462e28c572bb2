"""Health factors: raw values per (account, date), computed in DuckDB from data on or before the date.

One query for any set of (account, date) units: the weekly grid of every account with ARR
(snapshots), the decision dates of past renewals (fitting and checking the score), or one
account at two dates (why it moved). See docs/health.md for every definition.

- usage (up to 3 metrics, the active-users one first, as the renewal model picks them): the
  level = the metric's mean over the last complete month before the date; the trend = that
  month against the month 3 months earlier (-100% .. +300%).
- seat utilisation: the active-users metric last complete month / seats at the date (seats =
  the largest per-product sum of quantity of the lines active at the date).
- NPS: the latest answer on or before the date, within 12 months (missing: no answer).
- tickets: opened in the 91 days up to the date; high/urgent ones (risk.HIGH_PRIORITIES) too.
- tenure: months since the start of the account's current run of months with ARR.
- past contraction: ARR in the last complete month vs 12 months before (-100% .. +300%).
- extra account columns: as the renewal model reads them (numeric, or up to 12 categories).
- the stage inputs: an annual-or-longer contract ending in the 90 days after the date.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.data import store
from app.data.schema import quote_ident, safe_identifier
from app.forecasting import risk

TICKET_DAYS = 91  # 13 weeks: the ticket window
NPS_DAYS = 365  # an NPS answer older than this counts as no answer
RENEWAL_STAGE_DAYS = 90  # an annual+ contract ending within this many days puts the account in 'renewal'
STAGE_MIN_TERM_MONTHS = 12  # monthly and quarterly renewals do not make a renewal stage


@dataclass(frozen=True)
class Inputs:
    """What the factor query reads: the usage metrics (in order), the active-users one, extra columns."""

    usage_metrics: tuple[str, ...]
    active_metric: str | None
    extra_numeric: tuple[str, ...]
    extra_categories: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def metric_keys(self) -> tuple[str, ...]:
        """Safe, unique names of the usage metrics for factor names (points_<metric>_level)."""
        out: list[str] = []
        for m in self.usage_metrics:
            k = safe_identifier(m)
            while k in out:
                k += "_"
            out.append(k)
        return tuple(out)


def inputs(cur: store.Cursor) -> Inputs:
    """The store's usage metrics and extra account columns, read the way the renewal model reads them."""
    metrics, active = risk._usage_metrics(cur)
    num, cat = risk._extra_account_columns(cur)
    return Inputs(tuple(metrics), active, tuple(num), tuple((c, tuple(v)) for c, v in cat))


_SQL = """
WITH {lines_cte},
seats AS MATERIALIZED (SELECT account_id, t, max(qty) AS seats, sum(arr) AS arr_now FROM lines GROUP BY ALL),
k AS MATERIALIZED (
    SELECT account_id, t, CAST(date_trunc('month', t + INTERVAL 1 DAY) AS DATE) AS c
    FROM {k_source}
),
kc AS MATERIALIZED (
    SELECT account_id, c, CAST(c - INTERVAL 1 MONTH AS DATE) AS c1, CAST(c - INTERVAL 4 MONTH AS DATE) AS c4,
           CAST(c - INTERVAL 13 MONTH AS DATE) AS c13
    FROM (SELECT DISTINCT account_id, c FROM k)
),
um AS (  -- usage per account and month, one column per metric (a month's rows averaged)
    SELECT account_id, CAST(date_trunc('month', date) AS DATE) AS month{usage_cols}
    FROM usage
    WHERE metric IN ({metric_params}) AND date >= (SELECT min(c) FROM kc) - INTERVAL 4 MONTH
      AND date < (SELECT max(c) FROM kc)
    GROUP BY ALL
),
uc AS (  -- equality joins on the month: last complete month and the month 3 months before it
    SELECT kc.account_id, kc.c{usage_pick}
    FROM kc
    LEFT JOIN um l ON l.account_id = kc.account_id AND l.month = kc.c1
    LEFT JOIN um p ON p.account_id = kc.account_id AND p.month = kc.c4
),
arrc AS (
    SELECT kc.account_id, kc.c, l.arr AS arr_last, p.arr AS arr_12m
    FROM kc
    LEFT JOIN arr_monthly l ON l.account_id = kc.account_id AND l.month = kc.c1
    LEFT JOIN arr_monthly p ON p.account_id = kc.account_id AND p.month = kc.c13
),
sp AS (  -- the first month of the current run of months with ARR
    SELECT k.account_id, k.t, max(st.month) AS spell_start
    FROM k JOIN arr_bridge_account st ON st.account_id = k.account_id AND st.month <= k.t
         AND st.category IN ('new', 'reactivation')
    GROUP BY ALL
),
n AS (
    SELECT k.account_id, k.t, arg_max(n.score, n.date) AS nps, max(n.date) AS nps_date
    FROM k JOIN (SELECT account_id, score, CAST(date AS DATE) AS date FROM nps) n
         ON n.account_id = k.account_id AND n.date <= k.t AND n.date > CAST(k.t - INTERVAL {nps_days} DAY AS DATE)
    GROUP BY ALL
),
{tickets_cte},
tk AS (
    SELECT account_id, t, sum(n) AS tickets, coalesce(sum(n) FILTER (WHERE priority IN ({high})), 0) AS high_tickets
    FROM tx GROUP BY ALL
),
rn AS (
    SELECT k.account_id, k.t, min(r.end_date) AS next_renewal
    FROM k JOIN renewals r ON r.account_id = k.account_id AND r.end_date > k.t
         AND r.end_date <= k.t + INTERVAL {renewal_days} DAY
         AND date_diff('month', r.start_date, r.end_date) >= {min_term}
    GROUP BY ALL
)
SELECT k.account_id, k.t, a.segment, a.csm_id,
       seats.seats, seats.arr_now,
       uc.* EXCLUDE (account_id, c),
       arrc.arr_last, arrc.arr_12m,
       date_diff('day', sp.spell_start, k.t) / 30.4375 AS tenure_months,
       n.nps, n.nps_date,
       coalesce(tk.tickets, 0) AS tickets, coalesce(tk.high_tickets, 0) AS high_tickets,
       rn.next_renewal{extra_cols}
FROM k
LEFT JOIN accounts a ON a.account_id = k.account_id
LEFT JOIN seats ON seats.account_id = k.account_id AND seats.t = k.t
LEFT JOIN uc ON uc.account_id = k.account_id AND uc.c = k.c
LEFT JOIN arrc ON arrc.account_id = k.account_id AND arrc.c = k.c
LEFT JOIN sp ON sp.account_id = k.account_id AND sp.t = k.t
LEFT JOIN n ON n.account_id = k.account_id AND n.t = k.t
LEFT JOIN tk ON tk.account_id = k.account_id AND tk.t = k.t
LEFT JOIN rn ON rn.account_id = k.account_id AND rn.t = k.t
"""

# The weekly grid: every account with an active line item (ARR > 0) at each date. Lines and tickets
# are joined to the dates by range (52 dates), not to 5 million account-dates by account.
_GRID = dict(
    lines_cte="""lines AS (
    SELECT s.account_id, d.t, s.product, sum(coalesce(s.quantity, 0)) AS qty, sum(s.arr) AS arr
    FROM _hf_dates d JOIN subscriptions s ON s.start_date <= d.t
         AND coalesce(s.end_date, DATE '9999-12-31') > d.t AND s.arr > 0
    GROUP BY ALL
)""",
    k_source="seats",
    tickets_cte="""x0 AS (  -- tickets of the grid's span, per account and day
    SELECT account_id, CAST(opened_at AS DATE) AS d, lower(trim(priority)) AS priority, count(*) AS n
    FROM tickets
    WHERE opened_at > (SELECT min(t) FROM _hf_dates) - INTERVAL {ticket_days} DAY
      AND opened_at < (SELECT max(t) FROM _hf_dates) + INTERVAL 1 DAY
    GROUP BY ALL
),
tx AS (
    SELECT x.account_id, CAST(d.t AS DATE) AS t, x.priority, x.n FROM _hf_dates d
    JOIN x0 x ON x.d <= CAST(d.t AS DATE) AND x.d > CAST(d.t - INTERVAL {ticket_days} DAY AS DATE)
)""")
# Given units (account, date): joined by account.
_GIVEN = dict(
    lines_cte="""u0 AS MATERIALIZED (SELECT DISTINCT CAST(account_id AS VARCHAR) AS account_id,
    CAST(t AS DATE) AS t FROM _hf_units),
lines AS (
    SELECT u0.account_id, u0.t, s.product, sum(coalesce(s.quantity, 0)) AS qty, sum(s.arr) AS arr
    FROM u0 JOIN subscriptions s ON s.account_id = u0.account_id AND s.start_date <= u0.t
         AND (s.end_date IS NULL OR s.end_date > u0.t) AND s.arr > 0
    GROUP BY ALL
)""",
    k_source="u0",
    tickets_cte="""tx AS (
    SELECT k.account_id, k.t, lower(trim(x.priority)) AS priority, 1 AS n FROM k
    JOIN tickets x ON x.account_id = k.account_id AND x.opened_at <= k.t
         AND x.opened_at > k.t - INTERVAL {ticket_days} DAY
)""")


def raw_values(cur: store.Cursor, inp: Inputs, units: pd.DataFrame | None = None,
               dates: Sequence[dt.date] | None = None) -> pd.DataFrame:
    """Raw factor values, one row per unit: units (account_id, t) given, or every account with ARR at each date.

    Columns: account_id, t, segment, csm_id, seats, arr_now, u<i>_last, u<i>_m4 (usage month means),
    arr_last, arr_12m, tenure_months, nps, nps_date, tickets, high_tickets, next_renewal, x_<col>.
    Usage metric names and priorities are bound parameters; identifiers are fixed or whitelisted.
    """
    params: dict[str, object] = {}
    cols, pick = [], []
    for i, m in enumerate(inp.usage_metrics):
        params[f"m{i}"] = m
        cols.append(f"avg(value) FILTER (WHERE metric = $m{i}) AS v{i}")
        pick += [f"l.v{i} AS u{i}_last", f"p.v{i} AS u{i}_m4"]
    metric_params = ", ".join(f"$m{i}" for i in range(len(inp.usage_metrics))) or "NULL"
    params.update({f"h{i}": p for i, p in enumerate(risk.HIGH_PRIORITIES)})
    high = ", ".join(f"$h{i}" for i in range(len(risk.HIGH_PRIORITIES)))
    extra = "".join(f", TRY_CAST(a.{quote_ident(c)} AS DOUBLE) AS {quote_ident('x_' + c)}" for c in inp.extra_numeric)
    extra += "".join(f", a.{quote_ident(c)} AS {quote_ident('x_' + c)}" for c, _ in inp.extra_categories)
    mode = _GIVEN if units is not None else _GRID
    mode = {k: v.format(ticket_days=int(TICKET_DAYS)) for k, v in mode.items()}
    sql = _SQL.format(**mode,
                      usage_cols="".join(",\n           " + c for c in cols),
                      usage_pick="".join(", " + c for c in pick), metric_params=metric_params,
                      high=high, extra_cols=extra, nps_days=int(NPS_DAYS), ticket_days=int(TICKET_DAYS),
                      renewal_days=int(RENEWAL_STAGE_DAYS), min_term=int(STAGE_MIN_TERM_MONTHS))
    name = "_hf_units" if units is not None else "_hf_dates"
    frame = (units[["account_id", "t"]].assign(t=pd.to_datetime(units["t"]).dt.date) if units is not None
             else pd.DataFrame({"t": pd.to_datetime(pd.Series(list(dates or []), dtype="datetime64[ns]")).dt.date}))
    if units is None:
        frame["t"] = frame["t"].astype("datetime64[s]")
    cur.register(name, frame)
    try:
        # Arrow-backed columns: millions of account ids and labels stay Arrow strings instead of becoming
        # Python objects (that conversion took as long as the query on the 100,000-account base).
        return cur.sql(sql, params=params).to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
    finally:
        cur.unregister(name)


def _ratio(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> np.ndarray:
    a = _f(a) if isinstance(a, pd.Series) else np.asarray(a, float)
    b = _f(b) if isinstance(b, pd.Series) else np.asarray(b, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(b > 0, a / b - 1, np.nan)
    return np.clip(r, -1.0, 3.0)


def _f(s: pd.Series) -> np.ndarray:
    """float64 with NaN for missing, from a numpy or Arrow-backed column."""
    return s.to_numpy(dtype=float, na_value=np.nan)


def values(raw: pd.DataFrame, inp: Inputs) -> pd.DataFrame:
    """The factor inputs (one column per factor source) from raw values; NaN = unknown."""
    X = pd.DataFrame(index=raw.index)
    for i, k in enumerate(inp.metric_keys):
        last = _f(raw[f"u{i}_last"])
        X[f"{k}_level"] = np.log1p(np.clip(last, 0, None))
        X[f"{k}_trend"] = _ratio(last, raw[f"u{i}_m4"])
    seats = _f(raw["seats"])
    if inp.active_metric is not None:
        i = list(inp.usage_metrics).index(inp.active_metric)
        with np.errstate(divide="ignore", invalid="ignore"):
            X["utilisation"] = np.clip(np.where(seats > 0, _f(raw[f"u{i}_last"]) / seats, np.nan), 0, 3)
    X["nps"] = _f(raw["nps"])
    X["tickets"] = _f(raw["tickets"])
    X["high_tickets"] = _f(raw["high_tickets"])
    X["tenure"] = _f(raw["tenure_months"])
    X["contraction"] = _ratio(raw["arr_last"], raw["arr_12m"])
    for c in inp.extra_numeric:
        X[f"x_{c}"] = _f(raw[f"x_{c}"])
    for c, _vals in inp.extra_categories:
        X[f"x_{c}"] = raw[f"x_{c}"]
    return X
