"""Renewal forecast for a window: contracts due, expected renewed ARR with a P10-P90 range,
the at-risk list, saved forecast runs and forecast against actual.

Definitions (docs/renewal_model.md):

- Window: the contracts whose end date falls after the as-of date and up to as-of +
  horizon months.
- A monthly (or quarterly) subscription comes up for renewal in every month of the
  window. For sums it is one *renewal stream* per account: ARR due = the ARR of its
  first renewal in the window (counted once, not once per month), P(renewed through the
  window) = the product of its renewals' P(renew). An annual or longer contract is a
  stream of its own.
- Expected renewed ARR = sum over streams of P x ARR due (flat price: expansion and
  downgrades at renewal are not modelled). P10 / P50 / P90 come from simulating each
  stream as an independent Bernoulli draw.
- At-risk list: the 20% of streams least likely to renew; ARR at risk = the ARR due of
  those streams.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import pickle
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.data import store
from app.forecasting import renewal_window as rw
from app.forecasting import risk
from app.present import export, fmt

KIND = "renewals"
AT_RISK_SHARE = 0.20
N_SIMS = 2000
MAX_HORIZON_MONTHS = 12
# A contract shorter than this many months recurs (monthly or quarterly billing).
ROLLING_TERM_MONTHS = 12


# ----------------------------------------------------------------- contracts due


_DUE_DERIVED_SQL = """
WITH lines AS (
    SELECT account_id, coalesce(product, '') AS product, start_date, end_date, arr,
           -- the billing period: the one rule (store.billing_period_sql)
           """ + store.billing_period_sql() + """ AS bp
    FROM subscriptions
    WHERE arr > 0 AND start_date <= $asof
),
ordered AS (  -- the latest end among the earlier lines of the same account, product and billing period
    SELECT *, max(coalesce(end_date, DATE '9999-12-31')) OVER (
               PARTITION BY account_id, product, bp ORDER BY start_date, end_date
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
    FROM lines
),
runs AS (  -- a run: such lines each starting within the grace of the ones before (a recurring subscription)
    SELECT *, sum(CASE WHEN prev_end IS NULL OR start_date > prev_end + $grace THEN 1 ELSE 0 END) OVER (
               PARTITION BY account_id, product, bp ORDER BY start_date, end_date ROWS UNBOUNDED PRECEDING) AS run_no
    FROM ordered
),
run_days AS (  -- the days of month the run's lines start on: the candidates for a schedule's billing day
    SELECT DISTINCT account_id, product, bp, run_no, day(start_date) AS d FROM runs
),
s0 AS (
    SELECT r.*,
           -- a line running at the as-of date and at most one billing period long (an invoice line, a term with
           -- nothing after it yet) is the latest of its run as known then (lines starting later are not known):
           -- it recurs every billing period until the window ends, as an open-ended line does
           coalesce(r.end_date > $asof AND date_diff('month', r.start_date, r.end_date) <= r.bp, false) AS recurs
    FROM runs r
),
sched AS (  -- a recurring line's billing day: the largest candidate day that gives both its start and its end
    -- once clamped to their months (a schedule on the 31st shows as 29 Feb, then 31 May); none: off schedule
    SELECT s0.account_id, s0.product, s0.start_date, s0.end_date, max(rd.d) AS day
    FROM s0 JOIN run_days rd ON rd.account_id = s0.account_id AND rd.product = s0.product AND rd.bp = s0.bp
     AND rd.run_no = s0.run_no
    WHERE s0.recurs AND date_diff('month', s0.start_date, s0.end_date) = s0.bp
      AND least(rd.d, day(last_day(s0.start_date))) = day(s0.start_date)
      AND least(rd.d, day(last_day(s0.end_date))) = day(s0.end_date)
    GROUP BY ALL
),
s AS (
    SELECT s0.account_id, s0.arr, s0.bp,
           CASE WHEN s0.end_date IS NULL OR s0.end_date <= $asof THEN s0.end_date
                WHEN s0.recurs THEN NULL
                -- a recurring line cancelled after a past as-of date: open-ended as seen then
                WHEN $past AND date_diff('month', s0.start_date, s0.end_date) > s0.bp THEN NULL
                ELSE s0.end_date END AS end_known,
           -- renewal dates: a recurring line's end and every billing period after it, on its billing day (or on
           -- its end's day when it is off any schedule: a co-termed add-on), k >= 0; any other line, its start
           -- plus k billing periods, k >= 1
           CASE WHEN s0.recurs THEN s0.end_date ELSE s0.start_date END AS base,
           CASE WHEN s0.recurs THEN 0 ELSE 1 END AS k0,
           CASE WHEN s0.recurs THEN coalesce(sc.day, day(s0.end_date)) END AS day
    FROM s0 LEFT JOIN sched sc ON sc.account_id = s0.account_id AND sc.product = s0.product
     AND sc.start_date = s0.start_date AND sc.end_date = s0.end_date
),
active AS (SELECT * FROM s WHERE end_known IS NULL OR end_known > $asof),
k AS (
    SELECT account_id, arr, bp, end_known, base, day,
           unnest(generate_series(greatest(CAST(floor(date_diff('month', base, $asof) / bp) AS BIGINT), k0),
                                  CAST(ceil(date_diff('month', base, $h) / bp) AS BIGINT) + 1)) AS k
    FROM active
),
dates AS (
    SELECT account_id, arr, bp, end_known,
           CASE WHEN day IS NULL THEN CAST(base + to_months(CAST(k * bp AS INTEGER)) AS DATE)
                ELSE CAST(m + to_days(CAST(least(day, day(last_day(m))) - 1 AS INTEGER)) AS DATE) END AS d
    FROM (SELECT *, CAST(date_trunc('month', base) + to_months(CAST(k * bp AS INTEGER)) AS DATE) AS m FROM k)
),
periods AS (
    SELECT account_id, arr, bp, d FROM dates
    WHERE d > $asof AND d <= $h AND (end_known IS NULL OR d < end_known)
    UNION ALL
    SELECT account_id, arr, bp, end_known AS d FROM active WHERE end_known > $asof AND end_known <= $h
)
SELECT """ + store.contract_id_sql() + """ AS contract_id, *
FROM (SELECT """ + store.contract_columns_sql() + """ FROM periods GROUP BY account_id, d)
"""

_DUE_IMPORTED_SQL = """
SELECT contract_id, account_id, start_date, end_date, arr FROM contracts
WHERE arr > 0 AND start_date <= $asof AND end_date > $asof AND end_date <= $h
"""


def window_end(as_of: dt.date, horizon_months: int) -> dt.date:
    """The last day of the window: as-of + horizon months (month ends stay month ends)."""
    d = pd.Timestamp(as_of) + pd.DateOffset(months=horizon_months)
    if pd.Timestamp(as_of).is_month_end:
        d = d + pd.offsets.MonthEnd(0)
    return d.date()


def due_contracts(cur: store.Cursor, as_of: dt.date | None = None, horizon_months: int = 3) -> pd.DataFrame:
    """Contracts due after as_of and up to as_of + horizon months, as known at as_of.

    contract_id, account_id, name, segment, csm_id, csm_name, start_date, end_date, arr, term_months,
    account_arr (the account's ARR at the as-of month end), billing (monthly / quarterly / annual /
    multi-year), decision_date (= min(end - lead, as_of)).
    From imported contracts when there are any, else derived from the line items the way
    the store derives them; for an as-of date before the store's, lines starting later are
    ignored and a recurring line's later cancellation is not known.
    """
    store_asof = store.as_of(cur)
    asof = as_of or store_asof
    h = window_end(asof, horizon_months)
    imported = store.query_rows(cur, "SELECT count(*) FROM contracts")[0][0] > 0
    sql = _DUE_IMPORTED_SQL if imported else _DUE_DERIVED_SQL
    params: dict[str, object] = {"asof": asof, "h": h, "asof_month": asof.replace(day=1)}
    if not imported:
        params["past"] = asof < store_asof
        params["grace"] = store.RENEWAL_GRACE_DAYS
    df = store.query_df(
        cur,
        f"""
        WITH due AS ({sql})
        SELECT d.contract_id, d.account_id, a.name, a.segment, a.csm_id, o.csm_name, d.start_date, d.end_date,
               d.arr, greatest(date_diff('month', d.start_date, d.end_date), 1) AS term_months,
               coalesce(m.arr, 0) AS account_arr
        FROM due d LEFT JOIN accounts a ON a.account_id = d.account_id
        LEFT JOIN account_csm o ON o.account_id = d.account_id
        LEFT JOIN arr_monthly m ON m.account_id = d.account_id AND m.month = $asof_month
        ORDER BY d.end_date, d.account_id
        """,
        params,
    )
    df["start_date"] = pd.to_datetime(df["start_date"]).dt.date
    df["end_date"] = pd.to_datetime(df["end_date"]).dt.date
    df["billing"] = [_billing(t) for t in df["term_months"]]
    lead = dt.timedelta(days=risk.LEAD_DAYS)
    df["decision_date"] = [min(e - lead, asof) for e in df["end_date"]]
    return df


def _billing(term_months: float) -> str:
    if term_months <= 1:
        return "monthly"
    if term_months < ROLLING_TERM_MONTHS:
        return "quarterly" if term_months == 3 else f"{term_months:.0f}-monthly"
    return "annual" if term_months < 24 else f"{term_months / 12:.0f}-year"


# ----------------------------------------------------------------- scoring


@dataclass(frozen=True)
class ScoredRenewals:
    """Every contract due in the next horizon_months with its p_renew; the model's card and notes.

    model and scores (None when made by hand) let a window's at-risk contracts be explained
    later (summarise): drivers cost a model evaluation per factor, so only those shown are.
    """

    as_of: dt.date
    horizon_months: int
    contracts: pd.DataFrame
    card: risk.ModelCard | None
    model_version: str
    train_seconds: float
    n_labelled: int
    notes: tuple[str, ...] = ()
    model: risk.RenewalModel | None = None
    scores: risk.Scores | None = None
    # renewed ARR / ARR due of the renewals that renewed in the 12 months before as_of, by segment
    # ("" = all segments): the price and seat change at renewal (net_renewal_multipliers)
    net_multiplier: dict[str, float] = field(default_factory=dict)


def score_due(cur: store.Cursor, as_of: dt.date | None = None, horizon_months: int = MAX_HORIZON_MONTHS,
              seed: int = 0) -> ScoredRenewals:
    """Train the renewal model on outcomes known at as_of and score every contract due in the window.

    The page caches this once per data version (it trains the model, ~2 s on the sample).
    """
    asof = as_of or store.as_of(cur)
    model = risk.train(cur, asof, seed=seed)
    due = due_contracts(cur, asof, horizon_months).reset_index(drop=True)
    scores = risk.predict(model, cur, due)
    return ScoredRenewals(as_of=asof, horizon_months=horizon_months, contracts=due.assign(p_renew=scores.p_renew),
                          card=model.card, model_version=model.version, train_seconds=model.train_seconds,
                          n_labelled=model.n_labelled, notes=model.notes, model=model, scores=scores,
                          net_multiplier=net_renewal_multipliers(cur, asof))


def net_renewal_multipliers(cur: store.Cursor, as_of: dt.date, months: int = 12) -> dict[str, float]:
    """Renewed ARR / ARR due over the renewals that did renew (renewed, expanded, downgraded) in the months
    before as_of whose outcome was known by then, per segment and overall ("").

    The price and seat change at renewal, given that it renews: 1.05 = renewals came back 5% larger.
    A segment with under 20 such renewals takes the overall figure; no history: 1.0 (flat).
    """
    rows = store.query_rows(cur, """
        SELECT coalesce(a.segment, '') AS segment, count(*), sum(r.renewed_arr), sum(r.arr)
        FROM renewals r LEFT JOIN accounts a USING (account_id)
        WHERE r.outcome IN ('renewed', 'expanded', 'downgraded') AND r.renewed_arr IS NOT NULL AND r.arr > 0
          AND r.end_date > ? AND r.end_date + ? <= ?
        GROUP BY ROLLUP (1)""",
        [as_of - dt.timedelta(days=round(months * 30.44)), store.RENEWAL_GRACE_DAYS, as_of])
    overall = next(((n, ren, due) for seg, n, ren, due in rows if seg is None), None)
    base = float(overall[1] / overall[2]) if overall and overall[2] else 1.0
    out = {"": base}
    for seg, n, ren, due in rows:
        if seg is not None:
            out[seg] = float(ren / due) if n >= 20 and due else base
    return out


def drivers(scored: ScoredRenewals, rows: np.ndarray | None = None, cur: store.Cursor | None = None) -> pd.DataFrame:
    """driver_1..3 and play_1..3 of the contracts at positions rows of scored.contracts (None: all).

    A scored read back from the store (prepared_scored) has its model but not the feature matrix: with cur,
    the features of those rows only are recomputed (each contract's features depend on it alone, so the
    drivers are the same as from the full matrix).
    """
    idx = np.arange(len(scored.contracts)) if rows is None else np.asarray(rows, dtype=int)
    if scored.model is not None and scored.scores is None and cur is not None:
        if not len(idx):
            return pd.DataFrame("", index=idx, columns=DRIVER_COLS)
        sub = risk.predict(scored.model, cur, scored.contracts.iloc[idx].reset_index(drop=True))
        out = risk.explain(scored.model, sub)[DRIVER_COLS]
        out.index = idx
        return out
    if scored.model is None or scored.scores is None:
        return pd.DataFrame("", index=idx, columns=DRIVER_COLS)
    return risk.explain(scored.model, scored.scores, rows)[DRIVER_COLS]


def renewal_forecast_table(cur: store.Cursor, as_of: dt.date | None = None, horizon_months: int = 3) -> pd.DataFrame:
    """`python -m app forecast renewals`: one row per contract due in the horizon.

    Columns exactly: account_id, contract_end, arr_due, p_renew, driver_1, driver_2, driver_3.
    Only data known at as_of is used (model trained on outcomes known then).
    """
    if not 1 <= horizon_months <= MAX_HORIZON_MONTHS:
        raise ValueError(f"horizon must be 1 to {MAX_HORIZON_MONTHS} months, not {horizon_months}")
    s = score_due(cur, as_of, horizon_months)
    c = s.contracts
    d = drivers(s)  # every contract due, not only the at-risk ones
    out = pd.DataFrame({
        "account_id": c["account_id"].astype(str),
        "contract_end": c["end_date"],
        "arr_due": c["arr"].astype(float).round(2),
        "p_renew": c["p_renew"].astype(float).round(4),
        "driver_1": d["driver_1"].to_numpy(), "driver_2": d["driver_2"].to_numpy(),
        "driver_3": d["driver_3"].to_numpy(),
    })
    return out.sort_values(["contract_end", "account_id"], ignore_index=True)


# ----------------------------------------------------------------- the window forecast


@dataclass(frozen=True)
class RenewalForecast:
    """A window's renewal forecast.

    totals: contracts (renewal streams), renewals (contract rows), accounts, arr_due, expected,
    p10, p50, p90, arr_at_risk, n_at_risk.
    streams: one row per stream (see module doc) with p_renew (through the window).
    at_risk: the streams least likely to renew, lowest P first, with their drivers and plays.
    by_segment / by_csm / by_month: group, n, arr_due, expected, p10, p90.
    """

    as_of: dt.date
    horizon_months: int
    window_end: dt.date
    segment: str | None
    totals: dict[str, float]
    streams: pd.DataFrame
    at_risk: pd.DataFrame
    by_segment: pd.DataFrame
    by_csm: pd.DataFrame
    by_month: pd.DataFrame
    model_version: str
    n_sims: int
    seed: int
    notes: tuple[str, ...] = field(default=())
    accounts: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per account due (ACCOUNT_COLUMNS)
    renewals: pd.DataFrame = field(default_factory=pd.DataFrame)  # every renewal date, with p_through


DRIVER_COLS = ["driver_1", "play_1", "driver_2", "play_2", "driver_3", "play_3"]
# row: the position in the scored contracts of the contract whose drivers explain the stream
_STREAM_COLS = ["account_id", "name", "segment", "csm_id", "csm_name", "billing", "renewal_date", "last_renewal_date",
                "n_renewals", "arr_due", "p_renew", "expected", "contract_ids", "row"]


def stream_keys(contracts: pd.DataFrame) -> pd.Series:
    """The stream each contract due belongs to: one per account for its monthly / quarterly renewals, else itself."""
    rolling = contracts["term_months"].astype(float) < ROLLING_TERM_MONTHS
    return pd.Series(np.where(rolling, "R:" + contracts["account_id"].astype(str),
                              "T:" + contracts["contract_id"].astype(str)), index=contracts.index)


def streams(contracts: pd.DataFrame) -> pd.DataFrame:
    """Collapse contracts due into renewal streams: monthly/quarterly ones per account, others as they are.

    A stream's ARR due is the ARR of its first billing cycle (its renewals within the shortest term
    after the first one: a monthly subscription's ARR once, two monthly products on different days
    both); p_renew = P(renewed at every renewal in the window) = the product of its renewals' P.
    Streams are ordered by first renewal date, then account. contracts' index labels are their
    positions in the scored contracts (the streams' row column).
    """
    if contracts.empty:
        return pd.DataFrame(columns=[*_STREAM_COLS, "key"])
    c = contracts.sort_values(["end_date", "account_id"], kind="stable")
    if "csm_name" not in c:  # contracts scored elsewhere: the id stands for the name
        c = c.assign(csm_name=c["csm_id"])
    c = c.assign(_key=stream_keys(c), _end=pd.to_datetime(c["end_date"]))
    g = c.groupby("_key", sort=False)
    first = g.head(1).set_index("_key")
    cycle_end = first["_end"] + pd.to_timedelta(g["term_months"].min().astype(float) * 30.4, unit="D")
    in_cycle = c["_end"] < c["_key"].map(cycle_end)
    out = pd.DataFrame({
        "account_id": first["account_id"], "name": first["name"], "segment": first["segment"],
        "csm_id": first["csm_id"], "csm_name": first["csm_name"], "billing": first["billing"],
        "renewal_date": first["end_date"], "last_renewal_date": g["_end"].max().dt.date, "n_renewals": g.size(),
        "arr_due": c["arr"].astype(float).where(in_cycle, 0.0).groupby(c["_key"], sort=False).sum(),
        "p_renew": g["p_renew"].prod(),  # renewed through the window: every renewal happens
        "contract_ids": g["contract_id"].agg(" ".join),
        "row": g["p_renew"].idxmin(),  # drivers of the renewal least likely to happen
    })
    out["expected"] = out["p_renew"] * out["arr_due"]
    out["row"] = out["row"].astype(int)
    return out.rename_axis("key").reset_index()[[*_STREAM_COLS, "key"]]


def _groups(n: np.ndarray, arr_due: np.ndarray, expected: np.ndarray, per: np.ndarray, codes: np.ndarray,
            uniques: pd.Index, name: str) -> pd.DataFrame:
    """One row per group: n, arr_due, expected and the P10/P50/P90 of its simulated renewed ARR."""
    cols = [name, "n", "arr_due", "expected", "p10", "p50", "p90"]
    if not len(codes):
        return pd.DataFrame(columns=cols)
    g = len(uniques)
    out = pd.DataFrame({
        name: uniques,
        "n": np.bincount(codes, weights=n, minlength=g).astype(int),
        "arr_due": np.bincount(codes, weights=arr_due, minlength=g),
        "expected": np.bincount(codes, weights=expected, minlength=g),
        "p10": np.percentile(per, 10, axis=0), "p50": np.percentile(per, 50, axis=0),
        "p90": np.percentile(per, 90, axis=0),
    })
    return out[cols]


# What a row of each breakdown counts: the headline and segment / CSM tables are per stream, the month
# table per renewal date. Shown under each table.
GROUP_BASES = {
    "stream": "Per renewal stream, as the headline: ARR due once per stream (a monthly subscription at its first "
              "billing cycle's ARR), expected = P(renewed at every renewal in the window) x ARR due.",
    "month": "Per renewal date: every renewal in the month counts (a monthly subscription in each month), "
             "expected = ARR due x P(still paying after that renewal), so a month shows the same figure whatever "
             "the window; summed over months it exceeds the headline, which counts each stream once.",
}

# The account-level table (`python -m app forecast renewals --by account`), exactly these columns.
ACCOUNT_COLUMNS = ["account_id", "segment", "csm_id", "arr_due", "renewals_in_window", "p_retained",
                   "expected_arr_retained", "driver_1", "driver_2", "driver_3", "play"]


@dataclass(frozen=True)
class WindowModel:
    """A window's renewals arranged for simulation: streams, accounts, and expected figures under the shock."""

    contracts: pd.DataFrame  # the window's renewals sorted by stream, then date; stream (int), p_through
    streams: pd.DataFrame  # _STREAM_COLS; p_renew = E[P(renewed through the window)] under the shock
    accounts: pd.DataFrame  # account_id, segment, csm_id, csm_name, arr_due, renewals_in_window, keeps_paying,
    #                         p_retained, expected_arr_retained, row
    paths: rw.Paths
    account_of_stream: np.ndarray
    sigma: float


def window_model(c: pd.DataFrame, sigma: float = 0.0) -> WindowModel:
    """Streams, accounts and expected figures of a window's scored renewals c
    (see app/forecasting/renewal_window.py)."""
    st = streams(c)
    pos = pd.Series(np.arange(len(st)), index=st["key"])
    keys = stream_keys(c) if len(c) else pd.Series(dtype=str)
    cc = c.assign(stream=keys.map(pos).to_numpy(dtype=np.int64) if len(c) else np.zeros(0, np.int64))
    cc = cc.sort_values(["stream", "end_date"], kind="stable")
    paths = rw.Paths.build(cc["stream"].to_numpy(), cc["p_renew"].to_numpy(float), cc["arr"].to_numpy(float),
                           len(st))
    z = rw.shock_grid(sigma)
    centred = paths.centred(z)
    cc = cc.assign(p_through=centred.cumulative(z).mean(axis=0))
    through = centred.through(z)
    st = st.assign(p_renew=through.mean(axis=0))
    st["expected"] = st["p_renew"] * st["arr_due"]
    acc_codes, acc_ids = pd.factorize(st["account_id"])
    by_acc = st.groupby("account_id", sort=False)
    first = st.drop_duplicates("account_id").set_index("account_id")
    acc = pd.DataFrame(index=pd.Index(acc_ids, name="account_id"))
    acc["segment"], acc["csm_id"], acc["csm_name"] = first["segment"], first["csm_id"], first["csm_name"]
    acc["arr_due"] = by_acc["arr_due"].sum()
    acc["renewals_in_window"] = by_acc["n_renewals"].sum().astype(int)
    account_arr = (c.groupby("account_id")["account_arr"].max() if "account_arr" in c
                   else pd.Series(dtype=float)).reindex(acc.index).fillna(0.0)
    # part of the account's ARR is not due in the window (an annual contract running past it): it keeps paying
    acc["keeps_paying"] = (account_arr - acc["arr_due"]) > np.maximum(1.0, 0.01 * acc["arr_due"])
    keeps = acc["keeps_paying"].to_numpy(bool)
    acc["p_retained"] = rw.p_retained(through, acc_codes, len(acc), keeps).mean(axis=0)
    acc["expected_arr_retained"] = by_acc["expected"].sum()
    acc["row"] = st.loc[by_acc["p_renew"].idxmin(), ["account_id", "row"]].set_index("account_id")["row"] \
        if len(st) else pd.Series(dtype=int)
    return WindowModel(cc, st, acc.reset_index(), paths, np.asarray(acc_codes, dtype=np.int64), sigma)


def _net(segments: pd.Series, multipliers: dict[str, float]) -> pd.Series:
    base = multipliers.get("", 1.0)
    return segments.map(lambda s: multipliers.get(s, base) if isinstance(s, str) else base).astype(float)


def summarise(scored: ScoredRenewals, horizon_months: int = 3, segment: str | None = None,
              n_sims: int = N_SIMS, seed: int = 0, share: float = AT_RISK_SHARE,
              sigma: float = 0.0, cur: store.Cursor | None = None) -> RenewalForecast:
    """The renewal forecast of the next horizon_months (<= the scored horizon), for one segment or all.

    sigma: the shared shock's sd (calibrate()); 0 = independent renewals. Drivers are computed for
    the at-risk streams only (share of the streams least likely to renew); a scored read back from the
    store needs cur for them (see drivers).
    """
    if not 1 <= horizon_months <= scored.horizon_months:
        raise ValueError(f"horizon must be 1 to {scored.horizon_months} months, not {horizon_months}")
    end = window_end(scored.as_of, horizon_months)
    c = scored.contracts
    c = c[pd.to_datetime(c["end_date"]) <= pd.Timestamp(end)]
    if segment is not None:
        c = c[c["segment"] == segment]
    wm = window_model(c, sigma)
    st, cc, acc = wm.streams, wm.contracts, wm.accounts
    month = pd.to_datetime(cc["end_date"]).dt.to_period("M").dt.to_timestamp() if len(cc) else pd.Series()
    seg_codes, seg_u = pd.factorize(st["segment"].fillna("(none)"), sort=True)
    csm_codes, csm_u = pd.factorize(st["csm_id"].fillna("(none)"), sort=True)
    mon_codes, mon_u = pd.factorize(month, sort=True)
    sim = rw.simulate(wm.paths, st["arr_due"].to_numpy(float), wm.account_of_stream,
                      acc["keeps_paying"].to_numpy(bool), sigma, [seg_codes, csm_codes], [mon_codes], n_sims, seed)
    risk_list = at_risk(st, share)
    risk_list[DRIVER_COLS] = drivers(scored, risk_list["row"].to_numpy(int), cur).to_numpy()
    totals = {
        "contracts": float(len(st)), "renewals": float(len(c)), "accounts": float(len(acc)),
        "arr_due": float(st["arr_due"].sum()), "expected": float(st["expected"].sum()),
        "p10": rw.pctl(sim.renewed_arr, 10), "p50": rw.pctl(sim.renewed_arr, 50),
        "p90": rw.pctl(sim.renewed_arr, 90),
        "arr_at_risk": float(risk_list["arr_due"].sum()), "n_at_risk": float(len(risk_list)),
        "expected_net": float((st["expected"] * _net(st["segment"], scored.net_multiplier)).sum()),
        "expected_churned_accounts": float((1 - acc["p_retained"]).sum()),
        "churned_accounts_p10": rw.pctl(sim.lost_accounts, 10),
        "churned_accounts_p90": rw.pctl(sim.lost_accounts, 90),
        "sigma": float(sigma),
    }
    ones = np.ones(len(st))
    stream_arr, stream_exp = st["arr_due"].to_numpy(float), st["expected"].to_numpy(float)
    by = {
        "segment": _groups(ones, stream_arr, stream_exp, sim.groups[0], seg_codes, seg_u, "segment"),
        "csm_id": _groups(ones, stream_arr, stream_exp, sim.groups[1], csm_codes, csm_u, "csm_id"),
        # by month: every renewal date counts (a monthly subscription in each month); expected = ARR x P(still
        # paying after that renewal), so a month's figure is the same whatever the window's length
        "month": _groups(np.ones(len(cc)), cc["arr"].to_numpy(float), (cc["arr"] * cc["p_through"]).to_numpy(float),
                         sim.renewal_groups[0], mon_codes, mon_u, "month"),
    }
    # CSMs grouped by id (two people may share a name), shown by name
    names = st.drop_duplicates("csm_id").set_index(st["csm_id"].drop_duplicates().fillna("(none)"))["csm_name"]
    by["csm_id"].insert(1, "csm_name", by["csm_id"]["csm_id"].map(names).fillna(by["csm_id"]["csm_id"]))
    return RenewalForecast(
        as_of=scored.as_of, horizon_months=horizon_months, window_end=end, segment=segment, totals=totals,
        streams=st.drop(columns="key"), at_risk=risk_list.drop(columns="key"), by_segment=by["segment"],
        by_csm=by["csm_id"], by_month=by["month"], model_version=scored.model_version, n_sims=n_sims, seed=seed,
        notes=scored.notes, accounts=acc, renewals=cc)


def at_risk(st: pd.DataFrame, share: float = AT_RISK_SHARE) -> pd.DataFrame:
    """The share of streams least likely to renew (at least one when any are due), lowest P first."""
    if st.empty:
        return st.copy()
    n = max(1, int(math.ceil(share * len(st))))
    return st.sort_values(["p_renew", "arr_due"], ascending=[True, False], kind="stable").head(n).reset_index(
        drop=True)


def at_risk_table(fc: RenewalForecast) -> pd.DataFrame:
    """The at-risk list (fc.at_risk) for display and export, with plain column names."""
    r = fc.at_risk
    return pd.DataFrame({
        "Account": r["account_id"], "Name": r["name"], "Segment": r["segment"], "CSM": r["csm_name"],
        "CSM id": r["csm_id"],
        "Billing": r["billing"], "Renewal date": r["renewal_date"], "Renewals in window": r["n_renewals"],
        "ARR due": r["arr_due"].round(2), "P(renew)": r["p_renew"].round(3),
        "Expected ARR lost": ((1 - r["p_renew"]) * r["arr_due"]).round(2),
        "Driver 1": r["driver_1"], "Play 1": r["play_1"], "Driver 2": r["driver_2"], "Play 2": r["play_2"],
        "Driver 3": r["driver_3"], "Play 3": r["play_3"],
    })


# Spreadsheet formats of at_risk_table's columns: P(renew) reads 45.0%, not 0.45; ARR as $361,553.
AT_RISK_XLSX_FORMATS = {"Renewal date": "date", "Renewals in window": "count", "ARR due": "money",
                        "P(renew)": "pct", "Expected ARR lost": "money"}


def at_risk_xlsx(table: pd.DataFrame, sheet: str = "At-risk accounts") -> bytes:
    """The at-risk list (at_risk_table, possibly filtered) as a formatted XLSX workbook."""
    formats = {c: f for c, f in AT_RISK_XLSX_FORMATS.items() if c in table.columns}
    return export.to_xlsx_bytes({sheet: table}, formats={sheet: formats})


# ----------------------------------------------------------------- bottom-up vs top-down


def compare_top_down(fc: RenewalForecast, churned: pd.DataFrame | None, method_label: str = "top-down") -> str:
    """Plain words: churn at renewal expected bottom-up vs churned ARR forecast top-down for the same months.

    churned: the top-down forecast of churned ARR (month, yhat, yhat_lower, yhat_upper).
    """
    lost = fc.totals["arr_due"] - fc.totals["expected"]
    bu = (f"Bottom-up: of {fmt.money_exact(fc.totals['arr_due'])} ARR due by {fmt.date(fc.window_end)}, "
          f"{fmt.money_exact(lost)} is expected to be lost at renewal (sum of (1 - P(renew)) x ARR due over "
          f"{fmt.count(fc.totals['contracts'])} contracts).")
    if churned is None or churned.empty:
        return bu + " No top-down forecast of churned ARR is available to compare with."
    m = pd.to_datetime(churned["month"])
    first = pd.Timestamp(fc.as_of).to_period("M").to_timestamp() + pd.offsets.MonthBegin(1)
    sel = churned[(m >= first) & (m <= pd.Timestamp(fc.window_end))]
    if sel.empty:
        return bu + " The top-down forecast does not cover this window."
    td = float(sel["yhat"].sum())
    diff = td - lost
    rel = "higher" if diff > 0 else "lower"
    return (bu + f" Top-down ({method_label}) forecasts {fmt.money_exact(td)} of churned ARR over the same "
            f"{len(sel)} month{'s' if len(sel) != 1 else ''}, {fmt.money_exact(abs(diff))} {rel}. Why they differ: "
            "top-down extrapolates the past level of churned ARR (whole accounts going to zero, whenever it "
            "happens, including cancellations between renewal dates), while bottom-up looks only at the "
            "contracts actually due in the window and at each account's current health; neither counts "
            "downgrades at renewal. A bottom-up figure well below top-down usually means fewer or healthier "
            "renewals are due than in the past; well above means an unusually risky renewal book.")


# ----------------------------------------------------------------- saved runs


def _run_payload(fc: RenewalForecast, data_version: str) -> tuple[dict, dict]:
    inputs = {"horizon_months": fc.horizon_months, "segment": fc.segment, "window_end": fc.window_end.isoformat(),
              "n_sims": fc.n_sims, "seed": fc.seed, "data_version": data_version}
    s = fc.streams
    outputs = {
        "totals": fc.totals,
        "streams": [{"account_id": str(a), "contract_ids": str(ci), "arr_due": round(float(x), 2),
                     "p_renew": round(float(p), 5)}
                    for a, ci, x, p in zip(s["account_id"], s["contract_ids"], s["arr_due"], s["p_renew"],
                                           strict=True)],
    }
    return inputs, outputs


def save_run(cur: store.Cursor, fc: RenewalForecast) -> int | None:
    """Save a forecast run: one per question (as-of date, window length, segment).

    The same question asked again (after a re-import, or with a new model) replaces the saved
    run, so forecast against actual lists each question once. Returns the run's id, or None when
    the run saved already has these very outputs (nothing written).
    """
    inputs, outputs = _run_payload(fc, store.data_version(cur))
    inputs_json, outputs_json = json.dumps(inputs, sort_keys=True), json.dumps(outputs)
    same = [(rid, ins, outs) for rid, ins, outs in store.query_rows(
        cur, "SELECT id, inputs_json, outputs_json FROM forecast_runs WHERE kind = ? AND as_of = ? ORDER BY id",
        [KIND, fc.as_of])
        if (json.loads(ins).get("horizon_months"), json.loads(ins).get("segment")) == (fc.horizon_months, fc.segment)]
    if same and same[-1][2] == outputs_json and len(same) == 1:
        return None
    with store.transaction(cur):
        for rid, _, _ in same:
            cur.execute("DELETE FROM forecast_runs WHERE id = ?", [rid])
        rows = store.query_rows(
            cur,
            "INSERT INTO forecast_runs (saved_at, as_of, kind, model_version, inputs_json, outputs_json) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            [dt.datetime.now().replace(microsecond=0), fc.as_of, KIND, fc.model_version, inputs_json, outputs_json])
    return int(rows[0][0])


def backfill_run(cur: store.Cursor, months_back: int = 6, horizon_months: int = 3) -> int | None:
    """Run the model as it would have run months_back months before the store's as-of and save it.

    Only data known then is used, so the run can be held against what happened since.
    """
    asof = (pd.Timestamp(store.as_of(cur)) - pd.DateOffset(months=months_back) + pd.offsets.MonthEnd(0)).date()
    scored = score_due(cur, asof, horizon_months)
    return save_run(cur, summarise(scored, horizon_months))


def runs(cur: store.Cursor) -> pd.DataFrame:
    """Saved renewal forecast runs, newest first: id, saved_at, as_of, model_version, horizon, segment, totals."""
    df = store.query_df(cur, "SELECT id, saved_at, as_of, model_version, inputs_json, outputs_json "
                             "FROM forecast_runs WHERE kind = ? ORDER BY id DESC", [KIND])
    if df.empty:
        return pd.DataFrame(columns=["id", "saved_at", "as_of", "model_version", "horizon_months", "segment",
                                     "window_end", "arr_due", "expected", "p10", "p90"])
    ins = df["inputs_json"].map(json.loads)
    outs = df["outputs_json"].map(lambda s: json.loads(s)["totals"])
    return pd.DataFrame({
        "id": df["id"], "saved_at": df["saved_at"], "as_of": pd.to_datetime(df["as_of"]).dt.date,
        "model_version": df["model_version"], "horizon_months": ins.map(lambda d: d["horizon_months"]),
        "segment": ins.map(lambda d: d.get("segment") or "All segments"),
        "window_end": ins.map(lambda d: dt.date.fromisoformat(d["window_end"])),
        "arr_due": outs.map(lambda d: d["arr_due"]), "expected": outs.map(lambda d: d["expected"]),
        "p10": outs.map(lambda d: d["p10"]), "p90": outs.map(lambda d: d["p90"]),
    })


def runs_signature(cur: store.Cursor) -> str:
    """Changes whenever a renewal run is saved or replaced: with the data version, the cache key of
    forecast_vs_actual."""
    n, top = store.query_rows(cur, "SELECT count(*), coalesce(max(id), 0) FROM forecast_runs WHERE kind = ?",
                              [KIND])[0]
    return f"{n}:{top}"


def forecast_vs_actual(cur: store.Cursor, signature: str | None = None) -> pd.DataFrame:
    """Each saved run against what happened: actual renewed ARR (ARR due of the streams that renewed).

    A stream churned when any of its contracts churned, renewed when all have a known
    non-churn outcome, pending otherwise. status: complete (no stream pending), partial, pending.
    signature (runs_signature) is not used here: the page passes it so that its cache follows the runs.
    """
    r = runs(cur)
    cols = ["id", "as_of", "window_end", "segment", "arr_due", "expected", "p10", "p90", "actual", "error",
            "within_p10_p90", "pending", "status"]
    if r.empty:
        return pd.DataFrame(columns=cols)
    raw = dict(store.query_rows(cur, "SELECT id, outputs_json FROM forecast_runs WHERE kind = ?", [KIND]))
    ids = pd.DataFrame({"contract_id": sorted({ci for o in raw.values() for st_ in json.loads(o)["streams"]
                                                for ci in st_["contract_ids"].split()})}, dtype=object)
    cur.register("_fva_ids", ids)
    try:  # only the outcomes of the runs' contracts (not every contract of the store)
        outcomes = dict(store.query_rows(cur, "SELECT r.contract_id, r.outcome FROM renewals r JOIN _fva_ids USING "
                                              "(contract_id) WHERE r.outcome IS NOT NULL"))
    finally:
        cur.unregister("_fva_ids")
    rows = []
    for _, run in r.iterrows():
        out = json.loads(raw[run["id"]])
        actual, pending = 0.0, 0
        for s in out["streams"]:
            oc = [outcomes.get(ci) for ci in s["contract_ids"].split()]
            if "churned" in oc:
                continue
            if any(o is None for o in oc):
                pending += 1
                continue
            actual += s["arr_due"]
        n = len(out["streams"])
        status = "complete" if pending == 0 else ("pending" if pending == n else "partial")
        done = status == "complete"
        rows.append({
            "id": run["id"], "as_of": run["as_of"], "window_end": run["window_end"], "segment": run["segment"],
            "arr_due": run["arr_due"], "expected": run["expected"], "p10": run["p10"], "p90": run["p90"],
            "actual": actual if done else np.nan, "error": (run["expected"] - actual) if done else np.nan,
            "within_p10_p90": (run["p10"] <= actual <= run["p90"]) if done else None,
            "pending": pending, "status": status,
        })
    return pd.DataFrame(rows, columns=cols)


# ----------------------------------------------------------------- calibration on backfilled windows


@dataclass(frozen=True)
class Calibration:
    """How the window forecast did on past windows, and the shared shock fitted on them.

    windows: one row per backfilled window: as_of, window_end, accounts_due, predicted_lost,
    realised_lost, lost_p10, lost_p90, inside (realised within P10-P90 at sigma),
    predicted_lost_arr, realised_lost_arr.
    reliability: P(retained) by quintile pooled over the windows: quintile, accounts, predicted, realised.
    coverage: share of windows inside their P10-P90 (None when there are none).
    """

    horizon_months: int
    sigma: float
    windows: pd.DataFrame
    reliability: pd.DataFrame
    coverage: float | None
    note: str


# Past windows are scored on at most about this many accounts (a fixed sample of a larger book).
CALIBRATION_MAX_ACCOUNTS = 20_000


def backfill_as_ofs(store_as_of: dt.date, horizon_months: int, n_windows: int) -> list[dt.date]:
    """Month ends whose whole window (and its renewal grace) had passed by store_as_of, newest first."""
    from app.rules import periods

    latest = periods.last_complete_month_end(
        periods.add_months(store_as_of - dt.timedelta(days=store.RENEWAL_GRACE_DAYS), -horizon_months))
    return [periods.month_end(periods.add_months(latest, -i)) for i in range(n_windows)]


def _realised(cur: store.Cursor, wm: WindowModel, as_of: dt.date, end: dt.date,
              outcomes: dict[str, str]) -> tuple[np.ndarray, float]:
    """Per account of wm: lost by the window's end (paying at as_of, nothing at end's month); lost stream ARR."""
    acc = wm.accounts["account_id"].astype(str)
    cur.register("_acc", pd.DataFrame({"account_id": acc}))
    try:
        paying = dict(store.query_rows(cur, "SELECT m.account_id, m.arr FROM arr_monthly m "
                                            "JOIN _acc USING (account_id) WHERE m.month = ?", [end.replace(day=1)]))
    finally:
        cur.unregister("_acc")
    lost = np.array([paying.get(a, 0.0) <= 0 for a in acc])
    st_lost = wm.streams["contract_ids"].map(lambda ids: any(outcomes.get(i) == "churned" for i in ids.split()))
    return lost, float(wm.streams["arr_due"][st_lost].sum())


def calibrate(cur: store.Cursor, horizon_months: int = 3, as_of: dt.date | None = None, n_windows: int = 6,
              seed: int = 0) -> Calibration:
    """Backfill the window forecast at n_windows past month ends and fit the shared shock on them.

    One model, trained on what was known at the earliest of those dates (so no window sees its
    own outcomes), scores each window's renewals as known at its as-of date; realised lost
    accounts = accounts due that paid at the as-of month end and pay nothing at the window's end
    month. sigma by moments (renewal_window.fit_sigma); coverage = windows whose realised count
    fell inside P10-P90 with that sigma (in-sample: the same windows fitted sigma).
    """
    store_asof = as_of or store.as_of(cur)  # a past as-of backfills from there: nothing later is seen
    as_ofs = [b for b in backfill_as_ofs(store_asof, horizon_months, n_windows)]
    first_known = store.query_rows(cur, "SELECT min(end_date) FROM renewals WHERE outcome IS NOT NULL")[0][0]
    as_ofs = [b for b in as_ofs if first_known is not None and b > first_known]
    empty = Calibration(horizon_months, 0.0, pd.DataFrame(), pd.DataFrame(), None,
                        "Not enough renewal history to backfill past windows: the band assumes renewals are "
                        "independent (it may be too narrow when churn moves together).")
    if len(as_ofs) < 3:
        return empty
    model = risk.train(cur, min(as_ofs), seed=seed)
    outcomes = dict(store.query_rows(cur, "SELECT contract_id, outcome FROM renewals WHERE outcome IS NOT NULL"))
    # A large book is calibrated on a fixed sample of its accounts (the same in every window): sigma is on the
    # logit scale, so a sample estimates it as well as the whole book, at a fraction of the scoring.
    n_accounts = int(store.query_rows(cur, "SELECT count(*) FROM accounts")[0][0])
    every = max(1, math.ceil(n_accounts / CALIBRATION_MAX_ACCOUNTS))
    rows: list[dict[str, Any]] = []
    pooled: list[pd.DataFrame] = []
    stats: list[tuple[float, float, float, float]] = []
    models: list[WindowModel] = []
    for b in sorted(as_ofs):
        due = due_contracts(cur, b, horizon_months)
        if every > 1:
            due = due[due["account_id"].astype(str).map(lambda a: zlib.crc32(a.encode()) % every == 0)]
        due = due.reset_index(drop=True)
        if due.empty:
            continue
        c = due.assign(p_renew=risk.predict(model, cur, due).p_renew)
        wm = window_model(c, 0.0)
        end = window_end(b, horizon_months)
        lost, lost_arr = _realised(cur, wm, b, end, outcomes)
        p = wm.accounts["p_retained"].to_numpy(float)
        keeps = wm.accounts["keeps_paying"].to_numpy(bool)
        dz = 0.1  # dE/dz: how much the expected count moves with a shared shift of every renewal's logit
        th = wm.paths.through(np.array([-dz, dz]))
        pr = rw.p_retained(th, wm.account_of_stream, len(p), keeps)
        slope = float(((1 - pr[1]).sum() - (1 - pr[0]).sum()) / (2 * dz))
        stats.append((float((1 - p).sum()), float(lost.sum()), float((p * (1 - p)).sum()), slope))
        pooled.append(pd.DataFrame({"p": p, "retained": ~lost}))
        models.append(wm)
        rows.append({"as_of": b, "window_end": end, "accounts_due": len(p), "predicted_lost": float((1 - p).sum()),
                     "realised_lost": int(lost.sum()),
                     "predicted_lost_arr": float((wm.streams["arr_due"] * (1 - wm.streams["p_renew"])).sum()),
                     "realised_lost_arr": lost_arr})
    if len(rows) < 3:
        return empty
    sigma = rw.fit_sigma(*zip(*stats, strict=False)) if stats else 0.0
    for r, wm in zip(rows, models, strict=False):
        sim = rw.simulate(wm.paths, wm.streams["arr_due"].to_numpy(float), wm.account_of_stream,
                          wm.accounts["keeps_paying"].to_numpy(bool), sigma, n_sims=1000, seed=seed)
        r["lost_p10"], r["lost_p90"] = rw.pctl(sim.lost_accounts, 10), rw.pctl(sim.lost_accounts, 90)
        r["inside"] = bool(r["lost_p10"] <= r["realised_lost"] <= r["lost_p90"])
    windows = pd.DataFrame(rows)
    allp = pd.concat(pooled, ignore_index=True)
    coverage = float(windows["inside"].mean())
    pred, real = windows["predicted_lost"].sum(), windows["realised_lost"].sum()
    sampled = (f" Calibrated on a fixed sample of about 1 in {every} accounts (at most "
               f"{fmt.count(CALIBRATION_MAX_ACCOUNTS)} of {fmt.count(n_accounts)}); the counts below are the sample's."
               if every > 1 else "")
    note = (f"{len(windows)} past windows of {horizon_months} months (as of {fmt.date(windows['as_of'].min())} to "
            f"{fmt.date(windows['as_of'].max())}), scored by a model trained on what was known at the first: "
            f"{fmt.count(round(pred))} lost accounts predicted, {fmt.count(real)} lost; the realised count fell "
            f"inside P10-P90 in {int(windows['inside'].sum())} of {len(windows)} windows "
            f"(shared shock sd {sigma:.2f} on the logit scale, fitted on the same windows).{sampled}")
    return Calibration(horizon_months, float(sigma), windows, rw.reliability(allp["p"], allp["retained"]),
                       coverage, note)


# ----------------------------------------------------------------- the CLI's window and account views


def window_forecast(cur: store.Cursor, as_of: dt.date | None = None, horizon_months: int = 3,
                    segment: str | None = None, n_sims: int = N_SIMS) -> tuple[ScoredRenewals, RenewalForecast,
                                                                                 Calibration]:
    """Score the window, fit the shared shock on backfilled windows before as_of, and summarise with it."""
    if not 1 <= horizon_months <= MAX_HORIZON_MONTHS:
        raise ValueError(f"horizon must be 1 to {MAX_HORIZON_MONTHS} months, not {horizon_months}")
    scored = score_due(cur, as_of, horizon_months)
    cal = calibrate(cur, horizon_months, as_of=scored.as_of)
    return scored, summarise(scored, horizon_months, segment, n_sims=n_sims, sigma=cal.sigma), cal


def window_summary(fc: RenewalForecast, cal: Calibration) -> dict[str, object]:
    """`python -m app forecast window`: one JSON object of the window's totals (money in the store's currency)."""
    t = fc.totals
    return {
        "as_of": fc.as_of.isoformat(), "window_end": fc.window_end.isoformat(), "horizon_months": fc.horizon_months,
        "segment": fc.segment, "accounts_due": int(t["accounts"]), "streams_due": int(t["contracts"]),
        "renewal_dates": int(t["renewals"]), "arr_due": round(t["arr_due"], 2),
        "expected_renewed_arr": round(t["expected"], 2), "renewed_arr_p10": round(t["p10"], 2),
        "renewed_arr_p50": round(t["p50"], 2), "renewed_arr_p90": round(t["p90"], 2),
        "expected_net_renewed_arr": round(t["expected_net"], 2),
        "expected_churned_accounts": round(t["expected_churned_accounts"], 2),
        "churned_accounts_p10": t["churned_accounts_p10"], "churned_accounts_p90": t["churned_accounts_p90"],
        "shared_shock_sigma": round(cal.sigma, 4),
        "backfilled_windows": len(cal.windows), "p10_p90_coverage": cal.coverage,
        "model_version": fc.model_version, "calibration_note": cal.note,
    }


def account_table(scored: ScoredRenewals, fc: RenewalForecast) -> pd.DataFrame:
    """`--by account`: one row per account with a renewal in the window, columns ACCOUNT_COLUMNS exactly.

    p_retained = P(the account still pays at the window's end); expected_arr_retained = sum over its
    streams of P(renewed through the window) x ARR due; drivers and play of its renewal least likely to happen.
    """
    acc = fc.accounts
    if acc.empty:
        return pd.DataFrame(columns=ACCOUNT_COLUMNS)
    d = drivers(scored, acc["row"].to_numpy(int))
    out = pd.DataFrame({
        "account_id": acc["account_id"].astype(str), "segment": acc["segment"], "csm_id": acc["csm_id"],
        "arr_due": acc["arr_due"].astype(float).round(2), "renewals_in_window": acc["renewals_in_window"].astype(int),
        "p_retained": acc["p_retained"].astype(float).round(4),
        "expected_arr_retained": acc["expected_arr_retained"].astype(float).round(2),
        "driver_1": d["driver_1"].to_numpy(), "driver_2": d["driver_2"].to_numpy(),
        "driver_3": d["driver_3"].to_numpy(), "play": d["play_1"].to_numpy(),
    })
    return out.sort_values(["p_retained", "arr_due"], ascending=[True, False], ignore_index=True)[ACCOUNT_COLUMNS]


# ----------------------------------------------------------------- prepared once per data version


# Bump when what is stored changes shape: older payloads are then ignored (recomputed).
PREPARED_FORMAT = 1
DEFAULT_HORIZON = 3  # the page's first window (next quarter): prepared with its calibration and views
_SCORED_TABLE = "renewal_scored"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastView:
    """What the forecast page shows for one window and segment, small enough to cache and store cheaply.

    forecast: summarise()'s result without its per-stream, per-account and per-renewal frames (they
    are saved in the run; the page shows totals, groups and the at-risk list); calibration: the
    window's backfill; card, notes, model_version, train_seconds, n_labelled: the model's.
    """

    forecast: RenewalForecast
    calibration: Calibration
    card: risk.ModelCard | None
    notes: tuple[str, ...]
    model_version: str
    train_seconds: float
    n_labelled: int


@dataclass(frozen=True)
class PrepareReport:
    data_key: str
    seconds: float
    done: tuple[str, ...]  # items computed now (empty: all were already there)


def prepared_key(cur: store.Cursor) -> str:
    """What the prepared forecasts depend on: the data (last successful import or setting), the as-of date,
    the model's version and the stored format. A refused import changes nothing, so it keeps them."""
    n = store.query_rows(cur, "SELECT coalesce(max(id), 0) FROM import_log WHERE outcome = 'ok' "
                              "AND kind <> 'fiscal_year'")[0][0]  # the fiscal year does not move a window
    return f"{PREPARED_FORMAT}:{risk.MODEL_VERSION}:{n}:{store.as_of(cur).isoformat()}"


def _get(cur: store.Cursor, key: str, item: str) -> object | None:
    rows = store.query_rows(cur, "SELECT payload FROM renewal_prepared WHERE data_key = ? AND item = ?", [key, item])
    if not rows:
        return None
    try:
        return pickle.loads(rows[0][0])
    except Exception:  # written by another version of the code: recompute
        _log.info("prepared item %s unreadable; recomputing", item, exc_info=True)
        return None


def _put(cur: store.Cursor, key: str, item: str, obj: object, seconds: float) -> None:
    """Store obj for (key, item); best effort: a store that cannot be written (read-only, a concurrent
    writer of the same item) only loses the cache."""
    try:
        w = cur.cursor()
        try:
            with store.transaction(w):
                w.execute("DELETE FROM renewal_prepared WHERE data_key = ? AND item = ?", [key, item])
                w.execute("INSERT INTO renewal_prepared VALUES (?, ?, ?, ?, ?)",
                          [key, item, dt.datetime.now().replace(microsecond=0), seconds,
                           pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)])
        finally:
            w.close()
    except Exception:
        _log.warning("could not store the prepared %s", item, exc_info=True)


def _store_scored(cur: store.Cursor, key: str, scored: ScoredRenewals, seconds: float) -> None:
    """The scored contracts as a table (renewal_scored, one data key at a time) and the model as a pickle."""
    meta = dataclasses.replace(scored, contracts=scored.contracts.iloc[:0], scores=None)
    frame = scored.contracts.reset_index(drop=True).assign(pos=np.arange(len(scored.contracts)))
    try:
        w = cur.cursor()
        try:
            w.register("_rs_frame", frame)
            with store.transaction(w):
                w.execute(f"CREATE OR REPLACE TABLE {_SCORED_TABLE} AS SELECT ? AS data_key, * FROM _rs_frame", [key])
                w.execute("DELETE FROM renewal_prepared WHERE data_key <> ?", [key])  # older data versions
            w.unregister("_rs_frame")
        finally:
            w.close()
    except Exception:
        _log.warning("could not store the scored contracts", exc_info=True)
        return
    _put(cur, key, "scored", meta, seconds)


def _load_scored(cur: store.Cursor, key: str) -> ScoredRenewals | None:
    meta = _get(cur, key, "scored")
    if not isinstance(meta, ScoredRenewals) or not store.table_exists(cur, _SCORED_TABLE):
        return None
    df = store.query_df(cur, f"SELECT * EXCLUDE (data_key, pos) FROM {_SCORED_TABLE} WHERE data_key = ? ORDER BY pos",
                        [key])
    for c in ("start_date", "end_date", "decision_date"):
        if c in df:
            df[c] = pd.to_datetime(df[c]).dt.date
    df = df.astype(meta.contracts.dtypes.to_dict())
    return dataclasses.replace(meta, contracts=df)


def prepared_scored(cur: store.Cursor) -> ScoredRenewals:
    """score_due() at the store's as-of date, read from the store when prepared for this data version;
    else computed (training the model) and stored. Read back, it holds the model but not the feature
    matrix: pass cur to summarise / drivers."""
    key = prepared_key(cur)
    got = _load_scored(cur, key)
    if got is not None:
        return got
    t0 = time.perf_counter()
    scored = score_due(cur)
    _store_scored(cur, key, scored, time.perf_counter() - t0)
    return scored


def prepared_calibration(cur: store.Cursor, horizon_months: int = DEFAULT_HORIZON) -> Calibration:
    """calibrate() for the window at the store's as-of date: stored once per data version."""
    key = prepared_key(cur)
    item = f"calibration:{horizon_months}"
    got = _get(cur, key, item)
    if isinstance(got, Calibration):
        return got
    t0 = time.perf_counter()
    cal = calibrate(cur, horizon_months)
    _put(cur, key, item, cal, time.perf_counter() - t0)
    return cal


def _view_item(horizon_months: int, segment: str | None) -> str:
    return f"view:{horizon_months}:{segment or ''}"


def forecast_view(cur: store.Cursor, horizon_months: int = DEFAULT_HORIZON, segment: str | None = None,
                  scored: ScoredRenewals | None = None) -> ForecastView:
    """The forecast page's window (horizon_months, segment) at the store's as-of date.

    Read from the store when prepared for this data version (prepare(), run after every import);
    else computed from the prepared scored contracts and calibration (each computed first when
    missing: the model's training, the backfilled windows), saved as a forecast run, and stored.
    cur must be able to write (the page passes ui.cached_write's cursor).
    """
    key = prepared_key(cur)
    item = _view_item(horizon_months, segment)
    got = _get(cur, key, item)
    if isinstance(got, ForecastView):
        return got
    t0 = time.perf_counter()
    scored = scored or prepared_scored(cur)
    cal = prepared_calibration(cur, horizon_months)
    fc = summarise(scored, horizon_months, segment, sigma=cal.sigma, cur=cur)
    w = cur.cursor()
    try:
        save_run(w, fc)  # saved once per as-of, window and segment (the latest replaces it)
    except Exception:
        _log.warning("could not save the forecast run", exc_info=True)
    finally:
        w.close()
    empty = pd.DataFrame()
    view = ForecastView(dataclasses.replace(fc, streams=fc.streams.iloc[:0], accounts=empty, renewals=empty),
                        cal, scored.card, scored.notes, scored.model_version, scored.train_seconds,
                        scored.n_labelled)
    _put(cur, key, item, view, time.perf_counter() - t0)
    return view


# The windows prepared after an import: the Forecast page's default (next quarter) and the packs' two quarters.
PREPARED_HORIZONS = (DEFAULT_HORIZON, 6)


def prepare(cur: store.Cursor, horizons: Sequence[int] = PREPARED_HORIZONS, segments: bool = True,
            force: bool = False) -> PrepareReport:
    """Prepare the renewal forecasts of the current data version and store them (run after an import).

    Trains the model and scores every contract due in the next 12 months (renewal_scored), fits the
    shared shock on backfilled windows for each horizon, and stores the page's view of each horizon for
    all segments (and each segment with segments=True), saving those runs. Items already stored for
    this data version are kept unless force. The page reads them; what is missing it computes itself
    (the same functions) and stores.
    """
    t0 = time.perf_counter()
    key = prepared_key(cur)
    if force:
        with store.transaction(cur):
            cur.execute("DELETE FROM renewal_prepared WHERE data_key = ?", [key])
    segs: list[str | None] = [None]
    if segments:
        segs += [r[0] for r in store.query_rows(
            cur, "SELECT segment FROM accounts WHERE segment IS NOT NULL GROUP BY 1 ORDER BY 1")]
    wanted = [_view_item(h, s) for h in horizons for s in segs]
    have = {r[0] for r in store.query_rows(cur, "SELECT item FROM renewal_prepared WHERE data_key = ?", [key])}
    todo = [i for i in wanted if i not in have]
    if not todo:
        return PrepareReport(key, time.perf_counter() - t0, ())
    done = []
    scored = None if "scored" in have else score_due(cur)
    if scored is not None:
        _store_scored(cur, key, scored, time.perf_counter() - t0)
        done.append("scored")
    else:
        scored = prepared_scored(cur)
    for h in horizons:
        if f"calibration:{h}" not in have:
            prepared_calibration(cur, h)
            done.append(f"calibration:{h}")
        for s in segs:
            if _view_item(h, s) in todo:
                forecast_view(cur, h, s, scored=scored)
                done.append(_view_item(h, s))
    return PrepareReport(key, time.perf_counter() - t0, tuple(done))


def prepared_status(cur: store.Cursor) -> pd.DataFrame:
    """What is prepared for the current data version: item, created_at, seconds."""
    return store.query_df(cur, "SELECT item, created_at, seconds FROM renewal_prepared WHERE data_key = ? "
                               "ORDER BY created_at, item", [prepared_key(cur)])
