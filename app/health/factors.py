"""Health factors: raw values per (account, date), computed in DuckDB from data on or before the date.

One query for any set of (account, date) units: the weekly grid of every account with ARR
(snapshots), the decision dates of past renewals (fitting and checking the score), or one
account at two dates (why it moved). See docs/health.md for every definition.

- usage (up to 3 metrics, the active-users one first, as the renewal model picks them): the
  level = the metric's mean over the last complete month before the date; the trend = that
  month against the month 3 months earlier (-100% .. +300%).
- seat utilisation: the active-users metric last complete month / seats at the date (seats =
  the largest per-product sum of quantity of the lines active at the date).
- NPS: the latest answer on or before the date, within 12 months (missing: no answer); of several
  answers on that day, the lowest.
- tickets: opened in the 91 days up to the date; high/urgent ones (risk.HIGH_PRIORITIES) too.
- tenure: months since the start of the account's current run of months with ARR.
- past contraction: ARR in the last complete month vs 12 months before (-100% .. +300%).
- extra account columns: as the renewal model reads them (numeric, or up to 12 categories).
- the stage inputs: an annual-or-longer contract ending in the 90 days after the date.

How the query stays fast on 100,000 accounts x 52 weeks (3.4M account-weeks): accounts get an
integer key and each (account, date) one integer slot, so no join or grouping runs on id strings;
every dated source is joined by range to the few dates (52 rows) once and aggregated per slot
(tickets; NPS and renewals together); seats come from per-account pieces of time with the same line
items active; month-level inputs (usage, ARR, the run start, the account's columns) are joined once
per account and scoring month. Build the weekly grid (snapshots.build_sql) or any units with it; a grid
built in parts reads the keyed sources staged once for all parts (staged()).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import duckdb
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
    metrics, active = risk.find_usage_metrics(cur)
    num, cat = risk.extra_account_columns(cur)
    return Inputs(tuple(metrics), active, tuple(num), tuple((c, tuple(v)) for c, v in cat))


_D = """d AS (  -- the dates, numbered k; c = the month after t's last complete month, numbered ci
    SELECT k, t, c, CAST(dense_rank() OVER (ORDER BY c) - 1 AS INTEGER) AS ci
    FROM (SELECT CAST(k AS INTEGER) AS k, CAST(t AS DATE) AS t,
                 CAST(date_trunc('month', CAST(t AS DATE) + 1) AS DATE) AS c FROM _hf_dates)
)"""

_KEYS = """SELECT account_id, ak
    FROM (SELECT account_id, CAST(row_number() OVER (ORDER BY account_id) AS BIGINT) AS ak
          FROM (SELECT DISTINCT CAST(account_id AS VARCHAR) AS account_id FROM {key_source}))"""

# The sources keyed by the integer account key (each reads keys and d only). A set build stages them once for
# every account (temp tables, staged()) and each part reads its keys' rows; otherwise they are CTEs of the query.
_SOURCES = {
    # line items with ARR, by account key and product number
    "subs": """SELECT y.ak, CAST(dense_rank() OVER (ORDER BY s.product) AS INTEGER) AS pk, s.start_date,
           coalesce(s.end_date, DATE '9999-12-31') AS end_date, coalesce(s.quantity, 0) AS qty, s.arr
    FROM subscriptions s JOIN keys y ON y.account_id = s.account_id
    WHERE s.arr > 0""",
    # usage per account and month, one column per metric (a month's rows averaged)
    "um": """SELECT y.ak, CAST(date_trunc('month', u.date) AS DATE) AS month{usage_cols}
    FROM usage u JOIN keys y ON y.account_id = u.account_id
    WHERE u.metric IN ({metric_params}) AND u.date >= (SELECT min(c) FROM d) - INTERVAL 4 MONTH
      AND u.date < (SELECT max(c) FROM d)
    GROUP BY ALL""",
    # monthly ARR of the months needed
    "am": """SELECT y.ak, m.month, m.arr
    FROM arr_monthly m JOIN keys y ON y.account_id = m.account_id
    WHERE m.month >= (SELECT min(c) FROM d) - INTERVAL 13 MONTH AND m.month < (SELECT max(c) FROM d)""",
    # the starts of runs of months with ARR: a start holds until the next one
    "sp": """SELECT y.ak, b.month,
           coalesce(lead(b.month) OVER (PARTITION BY y.ak ORDER BY b.month), DATE '9999-12-31') AS next_start
    FROM arr_bridge_account b JOIN keys y ON y.account_id = b.account_id
    WHERE b.category IN ('new', 'reactivation')""",
    "acc": """SELECT y.ak, y.account_id, a.segment, a.csm_id{extra_cols}
    FROM keys y LEFT JOIN accounts a ON a.account_id = y.account_id""",
    # NPS answers per account and day (of several on one day, the lowest); each holds until the next
    "nps1": """SELECT ak, date, score, coalesce(lead(date) OVER (PARTITION BY ak ORDER BY date), DATE '9999-12-31')
               AS next_date
    FROM (SELECT y.ak, CAST(x.date AS DATE) AS date, min(x.score) AS score
          FROM nps x JOIN keys y ON y.account_id = x.account_id
          WHERE x.score IS NOT NULL
          GROUP BY ALL)""",
    # tickets per account and day, all and high/urgent
    "tday": """SELECT y.ak, CAST(x.opened_at AS DATE) AS day, count(*) AS n,
           count(*) FILTER (WHERE lower(trim(x.priority)) IN ({high})) AS high
    FROM tickets x JOIN keys y ON y.account_id = x.account_id
    WHERE CAST(x.opened_at AS DATE) > (SELECT min(t) FROM d) - {ticket_days}
      AND CAST(x.opened_at AS DATE) <= (SELECT max(t) FROM d)
    GROUP BY ALL""",
    # the ends of annual-or-longer contracts that can fall in the RENEWAL_STAGE_DAYS after a date
    "ren": """SELECT y.ak, r.end_date
    FROM renewals r JOIN keys y ON y.account_id = r.account_id
    WHERE date_diff('month', r.start_date, r.end_date) >= {min_term}
      AND r.end_date > (SELECT min(t) FROM d) AND r.end_date <= (SELECT max(t) FROM d) + {renewal_days}""",
}

_REST = """
cuts AS (  -- per account, each day a line item starts or ends: from one to the next, the same lines are active
    SELECT ak, day, lead(day) OVER (PARTITION BY ak ORDER BY day) AS next_day
    FROM (SELECT ak, start_date AS day FROM subs UNION SELECT ak, end_date FROM subs)
),
pieces AS (  -- per account and piece: seats = the largest per-product sum of quantity of the lines active, ARR
    SELECT ak, day, next_day, max(qty) AS seats, sum(arr) AS arr_now
    FROM (SELECT c.ak, c.day, c.next_day, s.pk, sum(s.qty) AS qty, sum(s.arr) AS arr
          FROM cuts c JOIN subs s ON s.ak = c.ak AND s.start_date <= c.day AND s.end_date > c.day
          GROUP BY ALL)
    GROUP BY ALL
),
seats AS (  -- each date in the piece it falls in (slot = account x date): one row per account with ARR and date
    SELECT p.ak * {nk} + d.k AS slot, p.seats, p.arr_now
    FROM pieces p JOIN d ON p.day <= d.t AND p.next_day > d.t
),
{base_cte},
mon AS (  -- per account and scoring month: usage the last complete month and 3 months before it, ARR then and
          -- 12 months before it (equality joins on the month)
    SELECT m.ak * {nk} + m.ci AS mslot, a.account_id, a.segment, a.csm_id{usage_pick},
           al.arr AS arr_last, ap.arr AS arr_12m, s0.month AS start_c, s1.month AS start_c1{extra_pick}
    FROM (SELECT y.ak, c.c, c.ci FROM keys y CROSS JOIN (SELECT DISTINCT c, ci FROM d) c) m
    JOIN acc a ON a.ak = m.ak
    LEFT JOIN um l ON l.ak = m.ak AND l.month = CAST(m.c - INTERVAL 1 MONTH AS DATE)
    LEFT JOIN um p ON p.ak = m.ak AND p.month = CAST(m.c - INTERVAL 4 MONTH AS DATE)
    LEFT JOIN am al ON al.ak = m.ak AND al.month = CAST(m.c - INTERVAL 1 MONTH AS DATE)
    LEFT JOIN am ap ON ap.ak = m.ak AND ap.month = CAST(m.c - INTERVAL 13 MONTH AS DATE)
    -- the run of months with ARR current in month c, and in the month before it
    LEFT JOIN sp s0 ON s0.ak = m.ak AND s0.month <= m.c AND s0.next_start > m.c
    LEFT JOIN sp s1 ON s1.ak = m.ak AND s1.month <= CAST(m.c - INTERVAL 1 MONTH AS DATE)
         AND s1.next_start > CAST(m.c - INTERVAL 1 MONTH AS DATE)
),
tev AS (  -- per account and date (slot): tickets opened in the {ticket_days} days up to the date, all and high/urgent
    SELECT x.ak * {nk} + d.k AS slot, sum(x.n) AS tickets, sum(x.high) AS high_tickets
    FROM tday x JOIN d ON x.day <= d.t AND x.day > d.t - {ticket_days}
    GROUP BY slot
),
ev AS (  -- per account and date (slot): the dated events around it, joined to the few dates by range, one
         -- aggregation for both: the latest NPS answer in {nps_days} days, the next end of an annual-or-longer
         -- contract in the {renewal_days} days after it
    SELECT slot, max(nps) AS nps, max(nps_date) AS nps_date, min(next_renewal) AS next_renewal
    FROM (SELECT s.ak * {nk} + d.k AS slot, s.score AS nps, s.date AS nps_date, CAST(NULL AS DATE) AS next_renewal
          FROM nps1 s JOIN d ON s.date <= d.t AND s.date > d.t - {nps_days} AND s.next_date > d.t
          UNION ALL
          SELECT r.ak * {nk} + d.k, NULL, NULL, r.end_date
          FROM ren r JOIN d ON r.end_date > d.t AND r.end_date <= d.t + {renewal_days})
    GROUP BY slot
)
SELECT b.slot, mon.account_id, d.t, mon.segment, mon.csm_id, b.seats, b.arr_now,
       mon.* EXCLUDE (mslot, account_id, segment, csm_id, start_c, start_c1{extra_names}),
       -- a start month is on or before t when it is on or before t's month: c, or the month before c
       date_diff('day', CASE WHEN date_trunc('month', d.t) = d.c THEN mon.start_c ELSE mon.start_c1 END, d.t)
           / 30.4375 AS tenure_months,
       ev.nps, ev.nps_date,
       coalesce(tev.tickets, 0) AS tickets, coalesce(tev.high_tickets, 0) AS high_tickets,
       ev.next_renewal{extra_sel}
FROM base b
JOIN d ON d.k = b.slot % {nk}
JOIN mon ON mon.mslot = (b.slot // {nk}) * {nk} + d.ci
LEFT JOIN tev ON tev.slot = b.slot
LEFT JOIN ev ON ev.slot = b.slot
"""
_PART = "ak % {parts} = {part}"  # one part of the accounts (snapshots.ensure_snapshots builds a set part by part)
_MATERIALIZED = ("subs",)  # read twice below (cuts, pieces): computed once

# The grid: every account with an active line item (ARR > 0) at each date.
_GRID = dict(key_source="subscriptions WHERE arr > 0", base_cte="base AS (SELECT * FROM seats)")
# Given units (account, date), with or without ARR at the date.
_GIVEN = dict(key_source="_hf_units", base_cte="""base AS (
    SELECT u.slot, seats.seats, seats.arr_now
    FROM (SELECT DISTINCT y.ak * {nk} + CAST(u.k AS BIGINT) AS slot
          FROM _hf_units u JOIN keys y ON y.account_id = CAST(u.account_id AS VARCHAR)) u
    LEFT JOIN seats ON seats.slot = u.slot
)""")


def _format_args(inp: Inputs, n_dates: int, units: bool) -> tuple[dict[str, object], dict[str, object]]:
    """The text filled into the query's templates and the bound parameters (usage metric names, priorities)."""
    params: dict[str, object] = {}
    cols, pick = [], []
    for i, m in enumerate(inp.usage_metrics):
        params[f"m{i}"] = m
        cols.append(f"avg(u.value) FILTER (WHERE u.metric = $m{i}) AS v{i}")
        pick += [f"l.v{i} AS u{i}_last", f"p.v{i} AS u{i}_m4"]
    metric_params = ", ".join(f"$m{i}" for i in range(len(inp.usage_metrics))) or "NULL"
    params.update({f"h{i}": p for i, p in enumerate(risk.HIGH_PRIORITIES)})
    high = ", ".join(f"$h{i}" for i in range(len(risk.HIGH_PRIORITIES)))
    xs = [quote_ident("x_" + c) for c in [*inp.extra_numeric, *(c for c, _ in inp.extra_categories)]]
    extra = "".join(f", TRY_CAST(a.{quote_ident(c)} AS DOUBLE) AS {quote_ident('x_' + c)}" for c in inp.extra_numeric)
    extra += "".join(f", a.{quote_ident(c)} AS {quote_ident('x_' + c)}" for c, _ in inp.extra_categories)
    mode = {k: v.format(nk=int(n_dates)) for k, v in (_GIVEN if units else _GRID).items()}
    fmt = dict(**mode,
               usage_cols="".join(",\n           " + c for c in cols),
               usage_pick="".join(", " + c for c in pick), metric_params=metric_params,
               high=high, extra_cols=extra, nps_days=int(NPS_DAYS), ticket_days=int(TICKET_DAYS),
               extra_pick="".join(f", a.{x}" for x in xs), extra_names="".join(f", {x}" for x in xs),
               extra_sel="".join(f", mon.{x}" for x in xs),
               renewal_days=int(RENEWAL_STAGE_DAYS), min_term=int(STAGE_MIN_TERM_MONTHS), nk=int(n_dates))
    return fmt, params


def _used(params: dict[str, object], sql: str) -> dict[str, object]:
    """The parameters sql refers to (DuckDB refuses named parameters a statement does not use)."""
    names = set(re.findall(r"\$([A-Za-z_]\w*)", sql))
    return {k: v for k, v in params.items() if k in names}


def query(inp: Inputs, units: bool, n_dates: int, part: int = 0,
          parts: int = 1, staged: bool = False) -> tuple[str, dict[str, object]]:
    """The factor query and its parameters: rows (slot, account_id, t, raw values) over the tables _hf_dates
    (k, t) and, for units, _hf_units (account_id, k); with parts > 1, only the accounts of one part (their
    integer key modulo parts). staged: the keyed sources are read from the temp tables of staged() (the grid
    only). Usage metric names and priorities are bound parameters; identifiers are fixed or whitelisted."""
    if staged and units:
        raise ValueError("staged sources are the grid's: query given units unstaged")
    fmt, params = _format_args(inp, n_dates, units)
    cond = _PART.format(parts=int(parts), part=int(part))
    if staged:
        ctes = [f"keys AS MATERIALIZED (SELECT account_id, ak FROM _hf_s_keys WHERE {cond})",
                *(f"{n} AS {'MATERIALIZED ' if n in _MATERIALIZED else ''}(SELECT * FROM _hf_s_{n} WHERE {cond})"
                  for n in _SOURCES)]
    else:
        ctes = [f"keys AS MATERIALIZED (  -- an integer key per account: every join on a big table below is on "
                f"integers\n    SELECT * FROM ({_KEYS}) WHERE {cond}\n)",
                *(f"{n} AS {'MATERIALIZED ' if n in _MATERIALIZED else ''}(\n    {body}\n)"
                  for n, body in _SOURCES.items())]
    sql = ("WITH\n" + ",\n".join([_D, *ctes]) + "," + _REST).format(**fmt)
    return sql, _used(params, sql)


@contextmanager
def staged(cur: store.Cursor, inp: Inputs, n_dates: int) -> Iterator[None]:
    """Stages the grid's keyed sources once for every account (temp tables _hf_s_<source>: the integer keys, line
    items, usage by month, monthly ARR, run starts, account columns, NPS answers, tickets by day, contract ends)
    for query(..., staged=True), part after part; drops them after. Within registered(dates=...).

    Without it each part joins the big tables (usage, tickets, ARR) to its keys by id string again.
    """
    fmt, params = _format_args(inp, n_dates, False)
    made: list[str] = []
    try:
        cur.execute("CREATE TEMP TABLE _hf_s_keys AS " + _KEYS.format(**fmt))
        made.append("_hf_s_keys")
        for n, body in _SOURCES.items():
            sql = (f"CREATE TEMP TABLE _hf_s_{n} AS WITH {_D}, keys AS (SELECT account_id, ak FROM _hf_s_keys)\n"
                   + body.format(**fmt))
            cur.execute(sql, _used(params, sql))
            made.append(f"_hf_s_{n}")
        yield
    finally:
        for t in reversed(made):
            # in a failed transaction the rollback drops them
            with suppress(duckdb.Error):
                cur.execute(f"DROP TABLE IF EXISTS {t}")


@contextmanager
def registered(cur: store.Cursor, units: pd.DataFrame | None = None,
               dates: Sequence[dt.date] | None = None) -> Iterator[int]:
    """Registers _hf_dates (and _hf_units) for query(): the dates of the units, or the dates given; yields their
    number."""
    if units is not None:
        t = pd.to_datetime(units["t"]).dt.date
        ds = sorted(set(t))
        frame = pd.DataFrame({"account_id": units["account_id"].astype(str).to_numpy(),
                              "k": t.map({x: i for i, x in enumerate(ds)}).to_numpy(int)})
        cur.register("_hf_units", frame)
    else:
        ds = sorted(set(pd.to_datetime(pd.Series(list(dates or []), dtype="datetime64[ns]")).dt.date))
    cur.register("_hf_dates", pd.DataFrame({"k": np.arange(len(ds), dtype=np.int32),
                                            "t": pd.Series(ds, dtype="datetime64[s]")}))
    try:
        yield len(ds)
    finally:
        cur.unregister("_hf_dates")
        if units is not None:
            cur.unregister("_hf_units")


def raw_values(cur: store.Cursor, inp: Inputs, units: pd.DataFrame | None = None,
               dates: Sequence[dt.date] | None = None) -> pd.DataFrame:
    """Raw factor values, one row per unit: units (account_id, t) given, or every account with ARR at each date.

    Columns: account_id, t, segment, csm_id, seats, arr_now, u<i>_last, u<i>_m4 (usage month means),
    arr_last, arr_12m, tenure_months, nps, nps_date, tickets, high_tickets, next_renewal, x_<col>.
    """
    with registered(cur, units, dates) as n_dates:
        sql, params = query(inp, units is not None, n_dates)
        # Arrow-backed columns: millions of account ids and labels stay Arrow strings instead of becoming
        # Python objects (that conversion took as long as the query on the 100,000-account base).
        return (cur.sql(f"SELECT * EXCLUDE (slot) FROM ({sql}) ORDER BY t, account_id", params=params)
                .to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype))


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


# ----------------------------------------------------------------- the same values in SQL (snapshot sets)


def sql_double(x: float) -> str:
    """A DOUBLE literal that parses to exactly the Python float x."""
    return f"CAST('{float(x)!r}' AS DOUBLE)"


def _known(col: str) -> str:
    # NULL for NaN too: DuckDB orders NaN above every number, numpy's bins call it unknown
    return f"CASE WHEN isnan({col}) THEN NULL ELSE {col} END"


def _clip_sql(expr: str, lo: float, hi: float) -> str:
    return f"CASE WHEN ({expr}) < {sql_double(lo)} THEN {sql_double(lo)} WHEN ({expr}) > {sql_double(hi)} " \
           f"THEN {sql_double(hi)} ELSE ({expr}) END"


def _ratio_sql(a: str, b: str) -> str:
    r = f"{_known(a)} / {b} - 1"
    return f"CASE WHEN {_known(b)} > 0 THEN {_clip_sql(r, -1.0, 3.0)} END"


def value_sql(inp: Inputs) -> dict[str, str]:
    """values() as SQL expressions over query()'s columns (NULL = unknown), factor name -> expression.

    One difference: a usage level is the clipped month mean v itself, not log1p(v);
    scorecard.points_sql compares it with each edge mapped back through numpy's log1p, so the bins
    are numpy's exactly without DuckDB's log having to agree with numpy's to the last bit.
    """
    out: dict[str, str] = {}
    for i, k in enumerate(inp.metric_keys):
        last = _known(f"u{i}_last")
        out[f"{k}_level"] = f"CASE WHEN {last} < 0 THEN {sql_double(0.0)} ELSE {last} END"
        out[f"{k}_trend"] = _ratio_sql(f"u{i}_last", f"u{i}_m4")
    if inp.active_metric is not None:
        i = list(inp.usage_metrics).index(inp.active_metric)
        used = _known(f"u{i}_last") + " / seats"
        out["utilisation"] = f"CASE WHEN {_known('seats')} > 0 THEN {_clip_sql(used, 0.0, 3.0)} END"
    out["nps"] = "CAST(nps AS DOUBLE)"
    out["tickets"] = "CAST(tickets AS DOUBLE)"
    out["high_tickets"] = "CAST(high_tickets AS DOUBLE)"
    out["tenure"] = "tenure_months"
    out["contraction"] = _ratio_sql("arr_last", "arr_12m")
    for c in inp.extra_numeric:
        out[f"x_{c}"] = _known(quote_ident(f"x_{c}"))
    for c, _vals in inp.extra_categories:
        out[f"x_{c}"] = quote_ident(f"x_{c}")
    return out
