"""The renewal model's card: holdout AUC, Brier, top-decile lift, calibration table, permutation importance.

Holdout: the newest ``HOLDOUT_SHARE`` of labelled contracts by end date (a time-based split, never a
shuffled one); the card's model is a clone of the estimator fitted on the older ones. Baseline on the
same holdout: the historic churn rate of the contract's segment and billing term in the training
period (also the model's fallback when there is too little history, or when it does not beat this).
AUC and Brier are scikit-learn's (``roc_auc_score``, ``brier_score_loss``); they equal the
hand-written rank formula and mean squared error they replaced (tests/test_risk.py).
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import brier_score_loss, roc_auc_score

from app.forecasting.risk.features import family_label, importance_families

if TYPE_CHECKING:
    from app.forecasting.risk.model import RenewalClassifier

# The newest share of labelled contracts (by end date) held out for the model card.
HOLDOUT_SHARE = 0.2
# Permutation importance is measured on at most this many holdout contracts.
IMPORTANCE_ROWS = 10_000
# Shuffles per family for permutation importance.
IMPORTANCE_REPEATS = 3


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


# ----------------------------------------------------------------- metrics


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN when only one class is present."""
    y = np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, np.asarray(score, dtype=float)))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the predicted probability of the event (NaN for no rows)."""
    if not len(y):
        return float("nan")
    return float(brier_score_loss(np.asarray(y, dtype=int), np.asarray(p, dtype=float), labels=[0, 1]))


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


# ----------------------------------------------------------------- baseline


def _term_kind(term_months: pd.Series) -> np.ndarray:
    return np.where(term_months.astype(float) < 12, "monthly/quarterly", "annual+")


def base_rates(seg: pd.Series, term: pd.Series, y: np.ndarray) -> pd.DataFrame:
    """Historic churn rate by segment and term kind (monthly/quarterly vs annual+), shrunk towards the
    overall rate by 5 pseudo-contracts: segment, term_kind, churn_rate."""
    df = pd.DataFrame({"segment": seg.fillna("(none)").to_numpy(), "term_kind": _term_kind(term), "y": y})
    overall = float(df["y"].mean()) if len(df) else 0.0
    # A little shrinkage to the overall rate so a tiny group does not get 0% or 100%.
    g = df.groupby(["segment", "term_kind"])["y"].agg(["sum", "count"]).reset_index()
    g["churn_rate"] = (g["sum"] + 5 * overall) / (g["count"] + 5)
    return g[["segment", "term_kind", "churn_rate"]]


def base_predict(rates: pd.DataFrame, seg: pd.Series, term: pd.Series) -> np.ndarray:
    """P(churn) of contracts by the baseline rates (a group never seen: the mean of the rates)."""
    key = pd.DataFrame({"segment": seg.fillna("(none)").to_numpy(), "term_kind": _term_kind(term)})
    m = key.merge(rates, on=["segment", "term_kind"], how="left")
    overall = float(rates["churn_rate"].mean()) if len(rates) else 0.1
    return m["churn_rate"].fillna(overall).to_numpy()


# ----------------------------------------------------------------- the card


def _importance(est: RenewalClassifier, Xh: pd.DataFrame, yh: np.ndarray, p: np.ndarray,
                metrics: Sequence[str], rng: np.random.Generator) -> pd.DataFrame:
    """Holdout AUC lost when a family's columns are shuffled together (IMPORTANCE_REPEATS shuffles), on at
    most IMPORTANCE_ROWS holdout contracts (each family costs 3 model passes: 3.5 s of a 9 s training on
    150,000 contracts before this cap)."""
    Xh, yi, ai = Xh.reset_index(drop=True), yh, auc(yh, p)
    if len(Xh) > IMPORTANCE_ROWS:
        sel = np.sort(rng.choice(len(Xh), IMPORTANCE_ROWS, replace=False))
        Xh, yi = Xh.iloc[sel].reset_index(drop=True), yh[sel]
        ai = auc(yi, p[sel])
    rows = []
    for fam, cols in importance_families(Xh.columns, len(metrics)).items():
        drops = []
        for _ in range(IMPORTANCE_REPEATS):
            Xp = Xh.copy()
            perm = rng.permutation(len(Xp))
            Xp[cols] = Xh[cols].to_numpy()[perm]
            drops.append(ai - auc(yi, est.raw_score(Xp)))
        rows.append((fam, float(np.mean(drops))))
    imp = pd.DataFrame(rows, columns=["family", "auc_drop"]).sort_values("auc_drop", ascending=False,
                                                                        ignore_index=True)
    imp["label"] = imp["family"].map(lambda f: family_label(f, metrics))
    return imp


def model_card(estimator: RenewalClassifier, X: pd.DataFrame, y: np.ndarray, seg: pd.Series, term: pd.Series,
               end_dates: pd.Series, metrics: Sequence[str], seed: int) -> ModelCard:
    """Fit a clone of estimator on the older rows of X (in time order), measure it and the baseline on the
    newest HOLDOUT_SHARE. seed drives the importance shuffles."""
    n_hold = max(1, int(len(X) * HOLDOUT_SHARE))
    tr, ho = slice(0, len(X) - n_hold), slice(len(X) - n_hold, len(X))
    est = clone(estimator).fit(X.iloc[tr], y[tr])
    p = est.predict_proba(X.iloc[ho])[:, 1]
    yh = y[ho]
    pb = base_predict(base_rates(seg.iloc[tr], term.iloc[tr], y[tr]), seg.iloc[ho], term.iloc[ho])
    is_term = term.iloc[ho].to_numpy(float) >= 12
    a, b = auc(yh, p), auc(yh, pb)
    a_t, b_t = auc(yh[is_term], p[is_term]), auc(yh[is_term], pb[is_term])
    imp = _importance(est, X.iloc[ho], yh, p, metrics, np.random.default_rng(seed))
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
