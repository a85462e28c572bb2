"""The bottom-up renewal model: P(renew) per contract, its model card and plain-word drivers.

One estimator, in the lifelines style: ``train`` returns a frozen ``RenewalModel``
whose fitted parts end in ``_``. See docs/renewal_model.md for every choice.

- Label: a contract renews when its renewed ARR is above zero (renewed, expanded or
  downgraded); churned = nothing renewed. P(renew) = 1 - P(churn).
- Decision point: ``LEAD_DAYS`` (90) days before the contract end for training. For
  scoring contracts due after the as-of date the decision point is
  min(end - LEAD_DAYS, as-of): only data known at the as-of date is used.
- Features: computed in DuckDB, one CTE per family, all joined on the contract and
  its decision date, every one from data strictly before the decision point
  (usage: complete months before it; events: dated on or before it).
- Model: scikit-learn ``HistGradientBoostingClassifier`` (handles missing values,
  interactions such as monthly vs annual billing) fitted on the older 80% of the
  labelled contracts, then calibrated (Platt scaling on the raw score's logit) on
  the newest 20% of them: a time-based calibration slice, never a shuffled one.
- Model card: AUC, Brier, calibration table and top-decile lift on a time-based
  holdout (the newest ``HOLDOUT_SHARE`` of labelled contracts by end date), next to
  the baseline "historic churn rate by segment and billing term".
- Drivers: for each contract and each driver family (usage trend, utilisation, NPS,
  tickets, tenure, ...), the raw churn score with the family's features replaced by
  the typical value of renewed contracts of the same segment; the families whose
  actual value raises churn risk most are the drivers (a counterfactual, so they are
  exactly the features that moved this model's score).
"""
from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app import store
from app.schema import KINDS, normalize_name, quote_ident

MODEL_VERSION = "renewal-hgb-1"
# Features come from data before this many days ahead of the contract end: time for a
# CSM to act on the score.
LEAD_DAYS = 90
# The newest share of labelled contracts (by end date) held out for the model card.
HOLDOUT_SHARE = 0.2
# Of the training part, the newest share calibrates the probabilities.
CALIBRATION_SHARE = 0.2
# Fewer labelled contracts or churns than this: no model (the baseline rate is used).
MIN_CONTRACTS = 200
# Train on at most this many labelled contracts, the most recent: beyond it the
# fit takes longer (about 6 s per 100,000 here) without ranking better.
MAX_TRAIN_CONTRACTS = 150_000
# Permutation importance (model card) is measured on at most this many holdout contracts.
IMPORTANCE_ROWS = 10_000
MIN_CHURNS = 20
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
# Gradient boosting settings: small, regularised trees; the data are noisy.
# Shallow trees, large leaves: the outcome is noisy and churns are few (measured on the sample:
# holdout AUC 0.79 vs 0.76 for 15-leaf trees, and 8x faster).
HGB_PARAMS = dict(learning_rate=0.05, max_iter=150, max_depth=3, min_samples_leaf=100,
                  l2_regularization=1.0, early_stopping=False)

# A driver must add at least this much to the (raw) churn score to be named.
MIN_DRIVER_EFFECT = 0.002


# ----------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class ModelCard:
    """Holdout quality of the model and of the baseline, measured on the same contracts.

    calibration: decile, n, predicted (mean P(renew)), actual (renewal rate), for the model.
    importance: family, auc_drop (holdout AUC lost when the family's columns are shuffled).
    summary: measure, model, baseline (AUC, Brier, top-decile lift, churn rate).
    """

    n_train: int
    n_holdout: int
    churn_rate_holdout: float
    holdout_from: dt.date | None
    holdout_to: dt.date | None
    auc: float
    brier: float
    lift: float
    base_auc: float
    base_brier: float
    base_lift: float
    auc_term: float
    base_auc_term: float
    calibration: pd.DataFrame
    importance: pd.DataFrame
    summary: pd.DataFrame
    note: str = ""


@dataclass(frozen=True)
class RenewalModel:
    """A trained renewal model. ``None`` estimator: baseline rates only (too little history, or the model
    did not beat the baseline on the holdout)."""

    as_of: dt.date
    version: str
    lead_days: int
    feature_names_: tuple[str, ...]
    estimator_: object | None
    platt_: tuple[float, float]
    base_rates_: pd.DataFrame  # segment, term_kind, churn_rate
    typical_: pd.DataFrame  # segment x feature: medians of renewed contracts
    usage_metrics_: tuple[str, ...]
    active_metric_: str | None
    extra_numeric_: tuple[str, ...]
    extra_categories_: tuple[tuple[str, tuple[str, ...]], ...]
    card: ModelCard | None
    train_seconds: float = 0.0
    n_labelled: int = 0
    notes: tuple[str, ...] = field(default=())


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


# ----------------------------------------------------------------- features (SQL)


def _extra_account_columns(cur: store.Cursor) -> tuple[list[str], list[tuple[str, list[str]]]]:
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


def _usage_metrics(cur: store.Cursor) -> tuple[list[str], str | None]:
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


# ----------------------------------------------------------------- driver families

# family -> (columns, phrase builder, play). Phrases read the raw feature values.
def _pct(x: float) -> str:
    return f"{abs(x) * 100:.0f}%"


def _phrase(family: str, r: dict, usage_metrics: Sequence[str]) -> str:
    def g(col: str) -> float:
        v = r.get(col, np.nan)
        return float(v) if v is not None and not pd.isna(v) else float("nan")

    if family.startswith("usage"):
        i = int(family[5:])
        name = usage_metrics[i].replace("_", " ")
        ch, tr = g(f"u{i}_change_3m"), g(f"u{i}_trend_90d")
        v = ch if not math.isnan(ch) else tr
        if math.isnan(v):
            return f"no {name} recorded in the last 6 months"
        if v < -0.005:
            return f"{name} down {_pct(v)} over 90 days"
        return f"{name} flat or up ({'+' if v >= 0 else ''}{v * 100:.0f}% over 90 days)"
    if family == "utilisation":
        u = g("utilisation")
        return "seat utilisation unknown" if math.isnan(u) else f"seat utilisation {u * 100:.0f}%"
    if family == "nps":
        s, a = g("nps_last"), g("nps_avg_12m")
        if math.isnan(s):
            return "no NPS answer on record"
        kind = "detractor" if s <= 6 else ("passive" if s <= 8 else "promoter")
        tail = f", 12-month average {a:.1f}" if not math.isnan(a) else ""
        return f"NPS {s:.0f} ({kind}){tail}"
    if family == "tickets":
        h, t90 = g("high_tickets_180d"), g("tickets_90d")
        if h >= 1:
            return f"{h:.0f} high/urgent ticket{'s' if h != 1 else ''} in 180 days"
        return f"{t90:.0f} support ticket{'s' if t90 != 1 else ''} in 90 days"
    if family == "tenure":
        t = g("tenure_months")
        if t < 12:
            return f"in first year ({t:.0f} months as a customer)"
        return f"{t / 12:.1f} years as a customer"
    if family == "contraction":
        ch, n = g("arr_change_12m"), g("contractions_12m")
        if not math.isnan(ch) and ch < -0.005:
            return f"ARR down {_pct(ch)} over 12 months"
        if n >= 1:
            return f"{n:.0f} contraction{'s' if n != 1 else ''} in 12 months"
        return "no ARR growth in 12 months"
    if family == "size":
        return f"small footprint ({g('seats_log') and math.expm1(g('seats_log')):.0f} seats)"
    if family.startswith("x_"):
        v = r.get(family)
        return f"{family[2:].replace('_', ' ')}: {v}" if v is not None and not pd.isna(v) else \
            f"{family[2:].replace('_', ' ')} unknown"
    return family


PLAYS = {
    "usage": "Adoption workshop: re-onboard the main users and set usage goals",
    "utilisation": "Seat review with the admin: activate unused seats or right-size before renewal",
    "nps": "Exec sponsor call: close the loop on the NPS feedback",
    "tickets": "Support escalation review with the support lead",
    "tenure": "Onboarding check: success plan and first-value milestones",
    "contraction": "Business review (QBR): re-establish value and the growth plan",
    "size": "Tech-touch nurture: webinars and in-app guides",
    "x_": "Account review with the CSM",
}


def _families(feature_names: Sequence[str], n_usage: int) -> dict[str, list[str]]:
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


# Families whose columns are permuted together for importance (usage level/size included).
def _importance_families(feature_names: Sequence[str], n_usage: int) -> dict[str, list[str]]:
    fams = _families(feature_names, n_usage)
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


# ----------------------------------------------------------------- metrics


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (probability a random positive scores above a random negative; ties half)."""
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the predicted probability of the event."""
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2)) if len(y) else float("nan")


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Churn rate among the 10% highest churn scores / overall churn rate (ties broken by order)."""
    y = np.asarray(y, dtype=float)
    if len(y) == 0 or y.mean() == 0:
        return float("nan")
    k = max(1, int(math.ceil(0.1 * len(y))))
    top = np.argsort(-np.asarray(score, float), kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def calibration_table(y: np.ndarray, p_renew: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Deciles of predicted P(renew) (1 = least likely to renew): n, mean predicted, actual renewal rate."""
    df = pd.DataFrame({"p": np.asarray(p_renew, float), "renewed": 1 - np.asarray(y, float)})
    if df.empty:
        return pd.DataFrame(columns=["decile", "n", "predicted", "actual"])
    order = np.argsort(df["p"].to_numpy(), kind="stable")
    dec = np.empty(len(df), dtype=int)
    dec[order] = np.arange(len(df)) * bins // len(df) + 1
    df["decile"] = dec
    out = df.groupby("decile").agg(n=("p", "size"), predicted=("p", "mean"), actual=("renewed", "mean"))
    return out.reset_index()


# ----------------------------------------------------------------- fitting


def _term_kind(term_months: pd.Series) -> pd.Series:
    return np.where(term_months.astype(float) < 12, "monthly/quarterly", "annual+")


def _base_rates(seg: pd.Series, term: pd.Series, y: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame({"segment": seg.fillna("(none)").to_numpy(), "term_kind": _term_kind(term), "y": y})
    overall = float(df["y"].mean()) if len(df) else 0.0
    # A little shrinkage to the overall rate so a tiny group does not get 0% or 100%.
    g = df.groupby(["segment", "term_kind"])["y"].agg(["sum", "count"]).reset_index()
    g["churn_rate"] = (g["sum"] + 5 * overall) / (g["count"] + 5)
    return g[["segment", "term_kind", "churn_rate"]]


def _base_predict(rates: pd.DataFrame, seg: pd.Series, term: pd.Series) -> np.ndarray:
    key = pd.DataFrame({"segment": seg.fillna("(none)").to_numpy(), "term_kind": _term_kind(term)})
    m = key.merge(rates, on=["segment", "term_kind"], how="left")
    overall = float(rates["churn_rate"].mean()) if len(rates) else 0.1
    return m["churn_rate"].fillna(overall).to_numpy()


def _fit_hgb(X: pd.DataFrame, y: np.ndarray, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    # One OpenMP thread: on a busy 2-core machine more threads made fits 10-40x slower (measured).
    with threadpool_limits(1):
        return HistGradientBoostingClassifier(random_state=seed, **HGB_PARAMS).fit(X.to_numpy(float), y)


def _raw_score(est, X: pd.DataFrame) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # see _fit_hgb
        return est.predict_proba(X.to_numpy(float))[:, 1]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _fit_platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling on the logit of the raw score (monotone: ranking and AUC unchanged)."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4).fit(_logit(raw).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _calibrated(raw: np.ndarray, platt: tuple[float, float]) -> np.ndarray:
    a, b = platt
    return 1 / (1 + np.exp(-(a * _logit(raw) + b)))


def _fit_calibrated(X: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[object, tuple[float, float]]:
    """Fit on the older part, calibrate on the newest CALIBRATION_SHARE (rows are in time order)."""
    n_cal = max(1, int(len(X) * CALIBRATION_SHARE))
    fit_idx = slice(0, len(X) - n_cal)
    est = _fit_hgb(X.iloc[fit_idx], y[fit_idx], seed)
    platt = _fit_platt(_raw_score(est, X.iloc[len(X) - n_cal:]), y[len(X) - n_cal:])
    return est, platt


def _typical(X: pd.DataFrame, seg: pd.Series, y: np.ndarray) -> pd.DataFrame:
    """Median feature values of renewed contracts, per segment (and overall as '*')."""
    renewed = X[y == 0]
    s = seg[y == 0].fillna("(none)")
    per = renewed.groupby(s.to_numpy()).median(numeric_only=True)
    per.loc["*"] = renewed.median(numeric_only=True)
    return per


def train(cur: store.Cursor, as_of: dt.date | None = None, seed: int = 0) -> RenewalModel:
    """Train the renewal model on outcomes known at as_of (default: the store's as-of date).

    Deterministic for a given store, as_of and seed. With too little history
    (under MIN_CONTRACTS labelled contracts or MIN_CHURNS churns) only the baseline
    rates are kept and ``estimator_`` is None.
    """
    t0 = time.perf_counter()
    asof = as_of or store.as_of(cur)
    metrics, active = _usage_metrics(cur)
    extra_num, extra_cat = _extra_account_columns(cur)
    segments = [r[0] for r in store.query_rows(
        cur, "SELECT segment FROM accounts WHERE segment IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1")]
    lab = labelled_contracts(cur, asof)
    notes = []
    if metrics and len(lab):
        first_usage = store.query_rows(cur, "SELECT min(date) FROM usage")[0][0]
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
    y = lab["churned"].to_numpy(int)
    raw = raw_features(cur, lab, metrics, extra_num, [c for c, _ in extra_cat])
    X = design_matrix(raw, metrics, active, extra_num, extra_cat, segments)
    # A feature with no value at all (no usage, NPS or seat data loaded) tells nothing, and
    # scikit-learn's binning fails on an all-missing column: leave it out of the model.
    X = X.loc[:, X.notna().any()]
    seg = raw["segment"].reset_index(drop=True)
    term = lab["term_months"]
    feature_names = tuple(X.columns)
    common = dict(as_of=asof, version=MODEL_VERSION, lead_days=LEAD_DAYS, feature_names_=feature_names,
                  usage_metrics_=tuple(metrics), active_metric_=active, extra_numeric_=tuple(extra_num),
                  extra_categories_=tuple((c, tuple(v)) for c, v in extra_cat), n_labelled=len(lab))
    if len(lab) < MIN_CONTRACTS or y.sum() < MIN_CHURNS:
        notes.append(f"Too little history for a model ({len(lab):,} contracts with a known outcome, "
                     f"{int(y.sum()):,} churns; needs {MIN_CONTRACTS} and {MIN_CHURNS}): "
                     "P(renew) is the historic renewal rate of the segment and billing term.")
        return RenewalModel(estimator_=None, platt_=(1.0, 0.0), base_rates_=_base_rates(seg, term, y),
                            typical_=pd.DataFrame(), card=None, train_seconds=time.perf_counter() - t0,
                            notes=tuple(notes), **common)
    Xr = X.reset_index(drop=True)
    card = _model_card(Xr, y, seg, term, lab["end_date"], metrics, seed)
    if card.auc <= card.base_auc:
        # A model that ranks the holdout no better than the segment-and-term rates
        # must not drive the at-risk list: the simpler figure is the honest one.
        notes.append(f"The model did not beat the baseline on the holdout (AUC {card.auc:.3f} vs "
                     f"{card.base_auc:.3f}), so P(renew) is the historic renewal rate of the segment and billing "
                     "term, and no drivers are named. More history (or usage, NPS and ticket data) may change "
                     "that.")
        return RenewalModel(estimator_=None, platt_=(1.0, 0.0), base_rates_=_base_rates(seg, term, y),
                            typical_=pd.DataFrame(), card=card, train_seconds=time.perf_counter() - t0,
                            notes=tuple(notes), **common)
    est, platt = _fit_calibrated(Xr, y, seed)
    return RenewalModel(estimator_=est, platt_=platt, base_rates_=_base_rates(seg, term, y),
                        typical_=_typical(Xr, seg, y), card=card, train_seconds=time.perf_counter() - t0,
                        notes=tuple(notes), **common)


def _model_card(X: pd.DataFrame, y: np.ndarray, seg: pd.Series, term: pd.Series, end_dates: pd.Series,
                metrics: Sequence[str], seed: int) -> ModelCard:
    n_hold = max(1, int(len(X) * HOLDOUT_SHARE))
    tr, ho = slice(0, len(X) - n_hold), slice(len(X) - n_hold, len(X))
    est, platt = _fit_calibrated(X.iloc[tr], y[tr], seed)
    raw = _raw_score(est, X.iloc[ho])
    p = _calibrated(raw, platt)
    yh = y[ho]
    rates = _base_rates(seg.iloc[tr], term.iloc[tr], y[tr])
    pb = _base_predict(rates, seg.iloc[ho], term.iloc[ho])
    is_term = term.iloc[ho].to_numpy(float) >= 12
    a, b = auc(yh, p), auc(yh, pb)
    a_t, b_t = auc(yh[is_term], p[is_term]), auc(yh[is_term], pb[is_term])
    # Importance: holdout AUC lost when a family's columns are shuffled together, on at most
    # IMPORTANCE_ROWS holdout contracts (each family costs 3 model passes: 3.5 s of a 9 s
    # training on 150,000 contracts before this cap).
    rng = np.random.default_rng(seed)
    Xh, yi, ai = X.iloc[ho].reset_index(drop=True), yh, a
    if len(Xh) > IMPORTANCE_ROWS:
        sel = np.sort(rng.choice(len(Xh), IMPORTANCE_ROWS, replace=False))
        Xh, yi = Xh.iloc[sel].reset_index(drop=True), yh[sel]
        ai = auc(yi, p[sel])
    rows = []
    for fam, cols in _importance_families(X.columns, len(metrics)).items():
        drops = []
        for _ in range(3):
            Xp = Xh.copy()
            perm = rng.permutation(len(Xp))
            Xp[cols] = Xh[cols].to_numpy()[perm]
            drops.append(ai - auc(yi, _raw_score(est, Xp)))
        rows.append((fam, float(np.mean(drops))))
    imp = pd.DataFrame(rows, columns=["family", "auc_drop"]).sort_values("auc_drop", ascending=False,
                                                                        ignore_index=True)
    imp["label"] = imp["family"].map(lambda f: _family_label(f, metrics))
    bl, ml = top_decile_lift(yh, pb), top_decile_lift(yh, p)
    summary = pd.DataFrame({
        "measure": ["AUC (all contracts)", "AUC (annual and longer terms)", "Brier score", "Top-decile lift",
                    "Churn rate (actual)", "Churn rate (mean predicted)"],
        "model": [a, a_t, brier(yh, p), ml, float(yh.mean()), float(p.mean())],
        "baseline": [b, b_t, brier(yh, pb), bl, float(yh.mean()), float(pb.mean())],
    })
    ends = pd.to_datetime(end_dates.iloc[ho])
    return ModelCard(
        n_train=len(X) - n_hold, n_holdout=n_hold, churn_rate_holdout=float(yh.mean()),
        holdout_from=ends.min().date(), holdout_to=ends.max().date(),
        auc=a, brier=brier(yh, p), lift=ml, base_auc=b, base_brier=brier(yh, pb), base_lift=bl,
        auc_term=a_t, base_auc_term=b_t, calibration=calibration_table(yh, 1 - p), importance=imp,
        summary=summary,
        note=(f"Holdout: the newest {HOLDOUT_SHARE:.0%} of contracts with a known outcome ({n_hold:,}, ending "
              f"{ends.min():%d %b %Y} to {ends.max():%d %b %Y}); the model was trained on the {len(X) - n_hold:,} "
              "older ones. Baseline: the historic churn rate of the contract's segment and billing term "
              "(monthly/quarterly vs annual and longer) in the training period."),
    )


def _family_label(fam: str, metrics: Sequence[str]) -> str:
    if fam.startswith("usage"):
        return f"usage: {metrics[int(fam[5:])].replace('_', ' ')}"
    return {"utilisation": "seat utilisation", "nps": "NPS", "tickets": "support tickets", "tenure": "tenure",
            "contraction": "past contraction", "size": "size (ARR, seats)", "term": "billing term",
            "segment": "segment"}.get(fam, fam.replace("x_", "account: ").replace("_", " "))


# ----------------------------------------------------------------- scoring


def features_for(model: RenewalModel, cur: store.Cursor, contracts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(raw features, design matrix) for contracts (needs contract_id, account_id, arr, term_months, decision_date)."""
    raw = raw_features(cur, contracts, model.usage_metrics_, model.extra_numeric_,
                       [c for c, _ in model.extra_categories_])
    segments = [f.split("=", 1)[1] for f in model.feature_names_ if f.startswith("segment=")]
    X = design_matrix(raw, model.usage_metrics_, model.active_metric_, model.extra_numeric_,
                      model.extra_categories_, segments)
    return raw, X.reindex(columns=list(model.feature_names_))


@dataclass(frozen=True)
class Scores:
    """P(renew) of contracts, with what their drivers are computed from (see explain)."""

    p_renew: np.ndarray
    X: pd.DataFrame  # the design matrix, one row per contract
    extra: pd.DataFrame  # raw extra-account values quoted by the driver phrases
    segment: pd.Series


def predict(model: RenewalModel, cur: store.Cursor, contracts: pd.DataFrame) -> Scores:
    """P(renew) for contracts due (decision_date = min(end - lead, as-of) set by the caller)."""
    if contracts.empty:
        return Scores(np.zeros(0), pd.DataFrame(columns=list(model.feature_names_)), pd.DataFrame(),
                      pd.Series(dtype=object))
    c = contracts.reset_index(drop=True)
    raw, X = features_for(model, cur, c)
    X = X.reset_index(drop=True)
    raw = raw.reset_index(drop=True)
    seg = raw["segment"]
    extra = raw[[col for col in raw.columns if col.startswith("x_") and col not in X.columns]]
    if model.estimator_ is None:
        p = 1 - _base_predict(model.base_rates_, seg, c["term_months"])
        return Scores(np.asarray(p, dtype=float), X, extra, seg)
    p = 1 - _calibrated(_raw_score(model.estimator_, X), model.platt_)
    return Scores(p, X, extra, seg)


def explain(model: RenewalModel, scores: Scores, rows: Sequence[int] | None = None,
            n_drivers: int = 3) -> pd.DataFrame:
    """Top drivers and plays (driver_1..n, play_1..n) of the contracts at positions rows (None: all).

    A driver family's effect is the raw churn score minus the score with the family at the
    segment's typical renewed value; about one model evaluation per family, so callers
    explain only the contracts they show (the at-risk list), not every contract due.
    Empty strings when fewer adverse factors stand out, or when P is the baseline rate.
    """
    idx = np.arange(len(scores.p_renew)) if rows is None else np.asarray(rows, dtype=int)
    cols = [f"{k}_{j}" for j in range(1, n_drivers + 1) for k in ("driver", "play")]
    out = pd.DataFrame("", index=idx, columns=cols)
    if model.estimator_ is None or len(idx) == 0:
        return out
    X = scores.X.iloc[idx].reset_index(drop=True)
    seg = scores.segment.iloc[idx].reset_index(drop=True)
    effects = _driver_effects(model, X, seg, _raw_score(model.estimator_, X))
    fam_names = list(effects.columns)
    # A family is named only when it moved the score up AND its value is worse than the
    # segment's typical renewed contract (a tree can also raise the score for, say, fast
    # seat growth; that is not something a CSM should be told to fix).
    adverse = np.column_stack([_adverse(f, X, model, seg) for f in fam_names])
    eff = np.where(adverse, effects.to_numpy(), -np.inf)
    order = np.argsort(-eff, axis=1, kind="stable")[:, :n_drivers]
    records = pd.concat([scores.extra.iloc[idx].reset_index(drop=True), X], axis=1).to_dict("records")
    drivers = [[""] * len(idx) for _ in range(n_drivers)]
    plays = [[""] * len(idx) for _ in range(n_drivers)]
    for i, ks in enumerate(order):
        for j, k in enumerate(ks):
            if not eff[i, k] >= MIN_DRIVER_EFFECT:
                break
            fam = fam_names[k]
            drivers[j][i] = _phrase(fam, records[i], model.usage_metrics_)
            plays[j][i] = PLAYS["usage" if fam.startswith("usage") else ("x_" if fam.startswith("x_") else fam)]
    for j in range(n_drivers):
        out[f"driver_{j + 1}"] = drivers[j]
        out[f"play_{j + 1}"] = plays[j]
    return out


def score(model: RenewalModel, cur: store.Cursor, contracts: pd.DataFrame, n_drivers: int = 3) -> pd.DataFrame:
    """contracts' columns plus p_renew and the top drivers of every contract: predict, then explain all."""
    out = contracts.reset_index(drop=True).copy()
    scores = predict(model, cur, out)
    out["p_renew"] = scores.p_renew
    return pd.concat([out, explain(model, scores, None, n_drivers)], axis=1)


def _adverse(fam: str, X: pd.DataFrame, model: RenewalModel, seg: pd.Series) -> np.ndarray:
    """Is the family's value worse than the segment's typical renewed contract (missing NPS/usage counts)?"""
    typ = model.typical_
    key = seg.fillna("(none)").where(seg.fillna("(none)").isin(typ.index), "*").to_numpy()

    def value(col: str) -> np.ndarray:  # NaN for a feature the model left out (no data for it)
        return X[col].to_numpy(float) if col in X else np.full(len(X), np.nan)

    def typical(col: str) -> np.ndarray:
        return typ.reindex(key)[col].to_numpy(float) if col in typ else np.full(len(X), np.nan)

    def below(col: str, nan_bad: bool = False) -> np.ndarray:
        v, t = value(col), typical(col)
        return np.where(np.isnan(v), nan_bad, v < t)

    def above(col: str) -> np.ndarray:
        v, t = value(col), typical(col)
        return np.where(np.isnan(v), False, v > t)

    if fam.startswith("usage"):
        i = fam[5:]
        ch, tr = value(f"u{i}_change_3m"), value(f"u{i}_trend_90d")
        v = np.where(np.isnan(ch), tr, ch)
        return np.where(np.isnan(v), True, v < -0.005)
    if fam == "utilisation":
        return below("utilisation")
    if fam == "nps":
        return below("nps_last", nan_bad=True)
    if fam == "tickets":
        return above("high_tickets_180d") | above("tickets_90d")
    if fam == "tenure":
        return below("tenure_months")
    if fam == "contraction":
        return (value("arr_change_12m") < -0.005) | (value("contractions_12m") > 0)
    return np.ones(len(X), dtype=bool)


def _driver_effects(model: RenewalModel, X: pd.DataFrame, seg: pd.Series, base_raw: np.ndarray) -> pd.DataFrame:
    """Per contract and driver family: raw churn score minus the score with the family at its typical value."""
    fams = _families(model.feature_names_, len(model.usage_metrics_))
    typ = model.typical_
    seg_key = seg.fillna("(none)").where(seg.fillna("(none)").isin(typ.index), "*")
    typical_rows = typ.reindex(seg_key.to_numpy())
    typical_rows.index = X.index
    out = {}
    for fam, cols in fams.items():
        Xc = X.copy()
        Xc[cols] = typical_rows[cols].to_numpy()
        out[fam] = base_raw - _raw_score(model.estimator_, Xc)
    return pd.DataFrame(out, index=X.index)


def model_summary(model: RenewalModel) -> pd.DataFrame:
    """The card's summary table ready to show (empty when there is no model)."""
    return model.card.summary if model.card is not None else pd.DataFrame(columns=["measure", "model", "baseline"])
