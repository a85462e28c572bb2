"""Features of the renewal model: labelled contracts, decision dates, the SQL feature families.

Each contract is seen from its **decision point**: ``LEAD_DAYS`` (90) days before its end for
training; for contracts due after the as-of date, min(end - LEAD_DAYS, as-of) (the caller sets
``decision_date``). Every feature comes from data strictly before it (usage: complete months
before it; events: dated on or before it), computed in DuckDB, one CTE per family. See
docs/renewal_model.md.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from app.data import store
from app.data.schema import KINDS, normalize_name, quote_ident

# Features come from data before this many days ahead of the contract end: time for a
# CSM to act on the score.
LEAD_DAYS = 90
# Train on at most this many labelled contracts, the most recent: beyond it the
# fit takes longer (about 6 s per 100,000 here) without ranking better.
MAX_TRAIN_CONTRACTS = 150_000
# Usage before the first usage month + this many months cannot give a 6-month trend:
# those contracts are left out of training (missing usage would look like "no data =
# safe" to the model).
USAGE_WARMUP_MONTHS = 6
# Extra account columns: numeric when this share of non-empty values parses as a
# number; categorical (one-hot) when it has at most this many distinct values.
NUMERIC_SHARE = 0.95
MAX_CATEGORIES = 12
# Priorities counted as "urgent or high".
HIGH_PRIORITIES = ("high", "urgent", "critical", "highest", "blocker", "p1", "p2", "sev1", "sev2")
# Usage metric names recognised as "active users" (compared after normalize_name).
ACTIVE_USER_NAMES = ("activeusers", "activeuser", "users", "mau", "monthlyactiveusers", "seatsused",
                     "activeseats", "licensesused")
MAX_USAGE_METRICS = 3


# ----------------------------------------------------------------- contracts


def labelled_contracts(cur: store.Cursor, as_of: dt.date | None = None) -> pd.DataFrame:
    """Contracts whose outcome was known at as_of (end + grace <= as_of), with the label.

    contract_id, account_id, start_date, end_date, arr, term_months, churned (0/1),
    decision_date (= end - LEAD_DAYS).
    """
    asof = as_of or store.as_of(cur)
    df = store.query_df(
        cur,
        """
        SELECT contract_id, account_id, start_date, end_date, arr,
               greatest(date_diff('month', start_date, end_date), 1) AS term_months,
               CASE WHEN outcome = 'churned' THEN 1 ELSE 0 END AS churned,
               CAST(end_date - to_days(CAST(? AS INTEGER)) AS DATE) AS decision_date
        FROM renewals
        WHERE outcome IS NOT NULL AND arr > 0 AND end_date + to_days(CAST(? AS INTEGER)) <= ?
        ORDER BY end_date, contract_id
        """,
        [LEAD_DAYS, store.RENEWAL_GRACE_DAYS, asof],
    )
    return df


def training_contracts(cur: store.Cursor, as_of: dt.date) -> tuple[pd.DataFrame, list[str]]:
    """The labelled contracts the model learns from (oldest first), and notes on those left out.

    Left out: contracts whose decision date comes before the first usage month + USAGE_WARMUP_MONTHS
    (missing usage would look like "no data = safe"), and beyond MAX_TRAIN_CONTRACTS the oldest ones.
    """
    lab = labelled_contracts(cur, as_of)
    notes = []
    first_usage = store.query_rows(cur, "SELECT min(date) FROM usage")[0][0]
    if first_usage is not None and len(lab):
        start = pd.Timestamp(first_usage) + pd.DateOffset(months=USAGE_WARMUP_MONTHS)
        keep = pd.to_datetime(lab["decision_date"]) >= start
        if (~keep).any():
            notes.append(f"{int((~keep).sum()):,} older contracts left out of training: their decision date "
                         f"comes before {start:%b %Y}, 6 months after usage data starts.")
        lab = lab[keep].reset_index(drop=True)
    if len(lab) > MAX_TRAIN_CONTRACTS:  # lab is ordered by end date: keep the newest
        notes.append(f"Trained on the {MAX_TRAIN_CONTRACTS:,} most recent of {len(lab):,} contracts with a known "
                     "outcome (more history would slow training without ranking better).")
        lab = lab.iloc[-MAX_TRAIN_CONTRACTS:].reset_index(drop=True)
    return lab, notes


def segments_of(cur: store.Cursor) -> list[str]:
    """The accounts' segments, most common first (the one-hot columns of the design matrix)."""
    return [r[0] for r in store.query_rows(
        cur, "SELECT segment FROM accounts WHERE segment IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1")]


# ----------------------------------------------------------------- features (SQL)


def extra_account_columns(cur: store.Cursor) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Extra account columns usable as features: numeric ones and low-cardinality categorical ones."""
    canonical = set(KINDS["accounts"].names)
    extras = [c for c in store.columns_of(cur, "accounts") if c not in canonical]
    numeric, categorical = [], []
    for c in extras:
        q = quote_ident(c)
        n, n_num, n_dist = store.query_rows(
            cur, f"SELECT count({q}), count(TRY_CAST({q} AS DOUBLE)), count(DISTINCT {q}) FROM accounts")[0]
        if n == 0:
            continue
        if n_num >= NUMERIC_SHARE * n:
            numeric.append(c)
        elif n_dist <= MAX_CATEGORIES:
            vals = [r[0] for r in store.query_rows(
                cur, f"SELECT {q} FROM accounts WHERE {q} IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1")]
            categorical.append((c, vals))
    return numeric, categorical


def find_usage_metrics(cur: store.Cursor) -> tuple[list[str], str | None]:
    """The most common usage metrics (active users first) and the active-users metric, if any."""
    rows = store.query_rows(cur, "SELECT metric, count(*) FROM usage GROUP BY 1 ORDER BY 2 DESC, 1")
    names = [r[0] for r in rows]
    active = next((m for m in names if normalize_name(m) in ACTIVE_USER_NAMES), None)
    ordered = ([active] if active else []) + [m for m in names if m != active]
    return ordered[:MAX_USAGE_METRICS], active


_FEATURE_SQL = """
WITH k0 AS (  -- typed explicitly: an empty frame (no contracts yet) carries no column types
    SELECT CAST(contract_id AS VARCHAR) AS contract_id, CAST(account_id AS VARCHAR) AS account_id,
           arr, term_months, CAST(decision_date AS DATE) AS t,
           CAST(date_trunc('month', CAST(decision_date AS DATE) + INTERVAL 1 DAY) AS DATE) AS c
    FROM _rk_contracts
),
k AS (  -- window bounds as DATEs once per contract: date columns then compare without casts per row
    SELECT *, CAST(c - INTERVAL 1 MONTH AS DATE) AS c1, CAST(c - INTERVAL 3 MONTH AS DATE) AS c3,
           CAST(c - INTERVAL 4 MONTH AS DATE) AS c4, CAST(c - INTERVAL 6 MONTH AS DATE) AS c6,
           CAST(c - INTERVAL 12 MONTH AS DATE) AS c12, CAST(t - INTERVAL 12 MONTH AS DATE) AS t12,
           CAST(t - INTERVAL 90 DAY AS DATE) AS t90, CAST(t - INTERVAL 180 DAY AS DATE) AS t180
    FROM k0
),
u AS (
    SELECT k.contract_id,
           {usage_cols}
    FROM k LEFT JOIN usage u ON u.account_id = k.account_id
         AND u.date >= k.c6 AND u.date < k.c
    GROUP BY k.contract_id
),
lines AS (
    SELECT k.contract_id, s.product,
           sum(CASE WHEN s.start_date <= k.t AND (s.end_date IS NULL OR s.end_date > k.t)
                    THEN coalesce(s.quantity, 0) ELSE 0 END) AS qty,
           sum(CASE WHEN s.start_date <= k.t AND (s.end_date IS NULL OR s.end_date > k.t)
                    THEN s.arr ELSE 0 END) AS arr_now,
           sum(CASE WHEN s.start_date <= k.t12
                     AND (s.end_date IS NULL OR s.end_date > k.t12)
                    THEN s.arr ELSE 0 END) AS arr_12m
    FROM k JOIN subscriptions s ON s.account_id = k.account_id AND s.start_date <= k.t
         -- lines over before t - 12 months count for nothing below: skip them early
         AND (s.end_date IS NULL OR s.end_date > k.t12)
    GROUP BY k.contract_id, s.product
),
seats AS (
    SELECT contract_id, max(qty) AS seats, sum(arr_now) AS arr_now, sum(arr_12m) AS arr_12m
    FROM lines GROUP BY contract_id
),
bridge AS (
    SELECT k.contract_id, count(*) FILTER (WHERE b.category = 'contraction') AS contractions_12m
    FROM k JOIN arr_bridge_account b ON b.account_id = k.account_id
         AND b.month >= k.c12 AND b.month < k.c
    GROUP BY k.contract_id
),
isl AS (
    SELECT account_id, month,
           date_diff('month', DATE '2000-01-01', month)
             - row_number() OVER (PARTITION BY account_id ORDER BY month) AS g
    FROM arr_monthly
),
spells AS (SELECT account_id, g, min(month) AS s, max(month) AS e FROM isl GROUP BY account_id, g),
tenure AS (
    SELECT k.contract_id, max(date_diff('day', sp.s, k.t)) / 30.4375 AS tenure_months
    FROM k JOIN spells sp ON sp.account_id = k.account_id
         AND sp.s <= k.c1 AND sp.e >= k.c1
    GROUP BY k.contract_id
),
n AS (
    SELECT k.contract_id,
           arg_max(n.score, n.date) AS nps_last,
           avg(n.score) FILTER (WHERE n.date > k.t12) AS nps_avg_12m,
           count(*) FILTER (WHERE n.date > k.t12) AS nps_n_12m
    FROM k JOIN nps n ON n.account_id = k.account_id AND n.date <= k.t
    GROUP BY k.contract_id
),
tk AS (
    SELECT k.contract_id,
           count(*) FILTER (WHERE x.opened_at > k.t90) AS tickets_90d,
           count(*) AS tickets_180d,
           count(*) FILTER (WHERE lower(trim(x.priority)) IN ({high})) AS high_tickets_180d
    FROM k JOIN tickets x ON x.account_id = k.account_id
         AND x.opened_at <= k.t AND x.opened_at > k.t180
    GROUP BY k.contract_id
)
SELECT k.contract_id, k.arr, k.term_months, a.segment,
       u.* EXCLUDE (contract_id),
       seats.seats, seats.arr_now, seats.arr_12m,
       coalesce(bridge.contractions_12m, 0) AS contractions_12m,
       coalesce(tenure.tenure_months, 0) AS tenure_months,
       n.nps_last, n.nps_avg_12m, coalesce(n.nps_n_12m, 0) AS nps_n_12m,
       coalesce(tk.tickets_90d, 0) AS tickets_90d, coalesce(tk.tickets_180d, 0) AS tickets_180d,
       coalesce(tk.high_tickets_180d, 0) AS high_tickets_180d
       {extra_cols}
FROM k
LEFT JOIN accounts a ON a.account_id = k.account_id
LEFT JOIN u USING (contract_id)
LEFT JOIN seats USING (contract_id)
LEFT JOIN bridge USING (contract_id)
LEFT JOIN tenure USING (contract_id)
LEFT JOIN n USING (contract_id)
LEFT JOIN tk USING (contract_id)
ORDER BY k.contract_id
"""


def raw_features(cur: store.Cursor, contracts: pd.DataFrame, usage_metrics: Sequence[str],
                 extra_numeric: Sequence[str] = (), extra_categorical: Sequence[str] = ()) -> pd.DataFrame:
    """Per-contract raw feature values from data before each contract's decision_date.

    contracts needs contract_id, account_id, arr, term_months, decision_date. Usage
    metric names are bound parameters; column identifiers are fixed (u0_, u1_, ...) or
    whitelisted extra account columns.
    """
    params: dict[str, object] = {}
    ucols = []
    for i, m in enumerate(usage_metrics):
        params[f"m{i}"] = m
        f = f"u.metric = $m{i}"
        ucols += [
            f"avg(u.value) FILTER (WHERE {f} AND u.date >= k.c3) AS u{i}_recent",
            f"avg(u.value) FILTER (WHERE {f} AND u.date < k.c3) AS u{i}_prior",
            f"avg(u.value) FILTER (WHERE {f} AND u.date >= k.c1) AS u{i}_last",
            f"avg(u.value) FILTER (WHERE {f} AND u.date >= k.c4 AND u.date < k.c3) AS u{i}_4m",
        ]
    if not ucols:
        ucols = ["count(u.value) AS u_rows"]
    high = ", ".join(f"$h{i}" for i in range(len(HIGH_PRIORITIES)))
    params.update({f"h{i}": p for i, p in enumerate(HIGH_PRIORITIES)})
    extra = "".join(f", a.{quote_ident(c)} AS {quote_ident('x_' + c)}"
                    for c in [*extra_numeric, *extra_categorical])
    sql = _FEATURE_SQL.format(usage_cols=",\n           ".join(ucols), high=high, extra_cols=extra)
    k = contracts[["contract_id", "account_id", "arr", "term_months", "decision_date"]].copy()
    k["decision_date"] = pd.to_datetime(k["decision_date"]).dt.date
    cur.register("_rk_contracts", k)
    try:
        df = store.query_df(cur, sql, params)
    finally:
        cur.unregister("_rk_contracts")
    return df.set_index("contract_id").reindex(k["contract_id"])


def _ratio(a: pd.Series, b: pd.Series) -> pd.Series:
    a, b = a.astype(float), b.astype(float)
    r = a / b.where(b > 0) - 1
    return r.clip(-1.0, 3.0)


def design_matrix(raw: pd.DataFrame, usage_metrics: Sequence[str], active_metric: str | None,
                  extra_numeric: Sequence[str], extra_categories: Sequence[tuple[str, Sequence[str]]],
                  segments: Sequence[str]) -> pd.DataFrame:
    """Model inputs from raw features: levels, trends, utilisation, one-hot categories (NaN = unknown)."""
    X = pd.DataFrame(index=raw.index)
    X["arr_log"] = np.log1p(raw["arr"].astype(float))
    X["term_months"] = raw["term_months"].astype(float)
    for i, _ in enumerate(usage_metrics):
        rec, pri, last, m4 = (raw[f"u{i}_{s}"].astype(float) for s in ("recent", "prior", "last", "4m"))
        X[f"u{i}_level_log"] = np.log1p(rec)
        X[f"u{i}_trend_90d"] = _ratio(rec, pri)  # 3 months before the decision vs the 3 before those
        X[f"u{i}_change_3m"] = _ratio(last, m4)  # last month vs the month 3 months earlier
    seats = raw["seats"].astype(float)
    X["seats_log"] = np.log1p(seats)
    if active_metric is not None and active_metric in usage_metrics:
        i = list(usage_metrics).index(active_metric)
        X["utilisation"] = (raw[f"u{i}_last"].astype(float) / seats.where(seats > 0)).clip(0, 3)
    else:
        X["utilisation"] = np.nan
    X["arr_change_12m"] = _ratio(raw["arr_now"], raw["arr_12m"])
    X["contractions_12m"] = raw["contractions_12m"].astype(float)
    X["tenure_months"] = raw["tenure_months"].astype(float)
    X["nps_last"] = raw["nps_last"].astype(float)
    X["nps_avg_12m"] = raw["nps_avg_12m"].astype(float)
    X["nps_n_12m"] = raw["nps_n_12m"].astype(float)
    X["tickets_90d"] = raw["tickets_90d"].astype(float)
    X["tickets_180d"] = raw["tickets_180d"].astype(float)
    X["high_tickets_180d"] = raw["high_tickets_180d"].astype(float)
    for s in segments:
        X[f"segment={s}"] = (raw["segment"] == s).astype(float)
    for c in extra_numeric:
        X[f"x_{c}"] = pd.to_numeric(raw[f"x_{c}"], errors="coerce").astype(float)
    for c, vals in extra_categories:
        for v in vals:
            X[f"x_{c}={v}"] = (raw[f"x_{c}"] == v).astype(float)
    return X


# ----------------------------------------------------------------- feature families


def driver_families(feature_names: Sequence[str], n_usage: int) -> dict[str, list[str]]:
    """Driver family -> its design-matrix columns (those the model kept): usage per metric, utilisation,
    NPS, tickets, tenure, past contraction, one per extra account column."""
    fams: dict[str, list[str]] = {}
    for i in range(n_usage):
        fams[f"usage{i}"] = [f"u{i}_trend_90d", f"u{i}_change_3m"]
    fams["utilisation"] = ["utilisation"]
    fams["nps"] = ["nps_last", "nps_avg_12m", "nps_n_12m"]
    fams["tickets"] = ["tickets_90d", "tickets_180d", "high_tickets_180d"]
    fams["tenure"] = ["tenure_months"]
    fams["contraction"] = ["arr_change_12m", "contractions_12m"]
    extras: dict[str, list[str]] = {}
    for f in feature_names:
        if f.startswith("x_"):
            extras.setdefault("x_" + f[2:].split("=")[0], []).append(f)
    fams.update(extras)
    return {k: [c for c in v if c in feature_names] for k, v in fams.items()
            if any(c in feature_names for c in v)}


def importance_families(feature_names: Sequence[str], n_usage: int) -> dict[str, list[str]]:
    """Families whose columns are permuted together for importance: the driver families (usage with its
    level), size, billing term and segment."""
    fams = driver_families(feature_names, n_usage)
    for i in range(n_usage):
        fams[f"usage{i}"] = fams.get(f"usage{i}", []) + [f"u{i}_level_log"]
    fams["size"] = ["arr_log", "seats_log"]
    fams["term"] = ["term_months"]
    fams["segment"] = [c for c in feature_names if c.startswith("segment=")]
    # Only columns the model kept: a family with no data at all (usage loaded for other
    # accounts than the ones with contracts, say) was left out of the design matrix.
    kept = set(feature_names)
    fams = {k: [c for c in v if c in kept] for k, v in fams.items()}
    return {k: v for k, v in fams.items() if v}


def family_label(fam: str, metrics: Sequence[str]) -> str:
    """A family's name in plain words (the model card's importance chart)."""
    if fam.startswith("usage"):
        return f"usage: {metrics[int(fam[5:])].replace('_', ' ')}"
    return {"utilisation": "seat utilisation", "nps": "NPS", "tickets": "support tickets", "tenure": "tenure",
            "contraction": "past contraction", "size": "size (ARR, seats)", "term": "billing term",
            "segment": "segment"}.get(fam, fam.replace("x_", "account: ").replace("_", " "))
