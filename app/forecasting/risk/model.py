"""The renewal model: a scikit-learn style estimator, and its training on the store.

- Label: a contract renews when its renewed ARR is above zero (renewed, expanded or
  downgraded); churned = nothing renewed. P(renew) = 1 - P(churn).
- ``RenewalClassifier`` (``fit(X, y)`` returns self, fitted attributes end in ``_``) works on any
  design matrix whose rows are in time order, store or not: scikit-learn's
  ``HistGradientBoostingClassifier`` (handles missing values and interactions such as monthly vs
  annual billing) fitted on the older rows, then calibrated (Platt scaling on the raw score's
  logit) on the newest ``calibration_share`` of them: a time-based calibration slice, never a
  shuffled one. (``CalibratedClassifierCV``'s sigmoid on the same slice gives the same ranking and
  probabilities within 1.2 points, with a Brier score no better on the holdout; its default
  cross-fitting over shuffled folds was measured worse calibrated: docs/renewal_model.md.)
- ``train(cur, as_of)`` builds the features of the contracts whose outcome was known at as_of
  (app.forecasting.risk.features), measures the model card (app.forecasting.risk.card) and fits the estimator;
  ``predict`` scores contracts due. Drivers and plays: app.forecasting.risk.drivers.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from app.data import store
from app.forecasting.risk.card import ModelCard, base_predict, base_rates, model_card
from app.forecasting.risk.features import (
    LEAD_DAYS,
    design_matrix,
    extra_account_columns,
    find_usage_metrics,
    raw_features,
    segments_of,
    training_contracts,
)

MODEL_VERSION = "renewal-hgb-2"  # 2: the estimator is a RenewalClassifier (pickles of 1 do not load into it)
# Of the training part, the newest share calibrates the probabilities.
CALIBRATION_SHARE = 0.2
# Fewer labelled contracts or churns than this: no model (the baseline rate is used).
MIN_CONTRACTS = 200
MIN_CHURNS = 20


# ----------------------------------------------------------------- the estimator


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class RenewalClassifier(ClassifierMixin, BaseEstimator):
    """P(churn) from a design matrix whose rows are in time order (oldest first).

    Gradient-boosted trees fitted on the older rows, Platt scaling (a logistic regression on the logit
    of the trees' score) fitted on the newest ``calibration_share`` of them. Shallow trees, large
    leaves: the outcome is noisy and churns are few (measured on the sample: holdout AUC 0.79 vs 0.76
    for 15-leaf trees, and 8x faster). One OpenMP thread: on a busy 2-core machine more threads made
    fits 10-40x slower (measured).

    Fitted attributes: ``trees_`` (the HistGradientBoostingClassifier), ``platt_`` (slope, intercept),
    ``classes_``, ``n_features_in_`` and, for a DataFrame, ``feature_names_in_``.
    """

    def __init__(self, calibration_share: float = CALIBRATION_SHARE, learning_rate: float = 0.05,
                 max_iter: int = 150, max_depth: int = 3, min_samples_leaf: int = 100,
                 l2_regularization: float = 1.0, random_state: int = 0) -> None:
        self.calibration_share = calibration_share
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def _matrix(self, X: Any, fitting: bool = False) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            names = np.asarray(X.columns, dtype=object)
            if fitting:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_") and not np.array_equal(names, self.feature_names_in_):
                raise ValueError("X has other columns than the ones the model was fitted on")
            return X.to_numpy(float)
        return np.asarray(X, dtype=float)

    def fit(self, X: Any, y: Any) -> RenewalClassifier:
        """Fit the trees on the older rows of X and the Platt scaling on the newest calibration_share."""
        Xa = self._matrix(X, fitting=True)
        y = np.asarray(y, dtype=int)
        n_cal = max(1, int(len(Xa) * self.calibration_share))
        with threadpool_limits(1):
            self.trees_ = HistGradientBoostingClassifier(
                learning_rate=self.learning_rate, max_iter=self.max_iter, max_depth=self.max_depth,
                min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
                early_stopping=False, random_state=self.random_state).fit(Xa[:-n_cal], y[:-n_cal])
        self.classes_ = self.trees_.classes_
        self.n_features_in_ = Xa.shape[1]
        raw, y_cal = self._raw(Xa[-n_cal:]), y[-n_cal:]
        if len(np.unique(y_cal)) < 2:
            self.platt_ = (1.0, 0.0)
        else:
            lr = LogisticRegression(C=1e4).fit(_logit(raw).reshape(-1, 1), y_cal)
            self.platt_ = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        return self

    def _raw(self, Xa: np.ndarray) -> np.ndarray:
        with threadpool_limits(1):
            return self.trees_.predict_proba(Xa)[:, 1]

    def raw_score(self, X: Any) -> np.ndarray:
        """The trees' P(churn) before calibration (the drivers and the importance measure differences of it)."""
        return self._raw(self._matrix(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated [P(renew), P(churn)] per row (classes_ 0 = renewed, 1 = churned)."""
        a, b = self.platt_
        p = 1 / (1 + np.exp(-(a * _logit(self.raw_score(X)) + b)))
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


# ----------------------------------------------------------------- the trained model


@dataclass(frozen=True)
class RenewalModel:
    """A trained renewal model. ``None`` estimator: baseline rates only (too little history, or the model
    did not beat the baseline on the holdout)."""

    as_of: dt.date
    version: str
    lead_days: int
    feature_names_: tuple[str, ...]
    estimator_: RenewalClassifier | None
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


@dataclass(frozen=True)
class Scores:
    """P(renew) of contracts, with what their drivers are computed from (see explain)."""

    p_renew: np.ndarray
    X: pd.DataFrame  # the design matrix, one row per contract
    extra: pd.DataFrame  # raw extra-account values quoted by the driver phrases
    segment: pd.Series


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
    (under MIN_CONTRACTS labelled contracts or MIN_CHURNS churns), or when the model does not
    beat the baseline on the card's holdout, only the baseline rates are kept and
    ``estimator_`` is None.
    """
    t0 = time.perf_counter()
    asof = as_of or store.as_of(cur)
    metrics, active = find_usage_metrics(cur)
    extra_num, extra_cat = extra_account_columns(cur)
    lab, notes = training_contracts(cur, asof)
    y = lab["churned"].to_numpy(int)
    raw = raw_features(cur, lab, metrics, extra_num, [c for c, _ in extra_cat])
    X = design_matrix(raw, metrics, active, extra_num, extra_cat, segments_of(cur))
    # A feature with no value at all (no usage, NPS or seat data loaded) tells nothing, and
    # scikit-learn's binning fails on an all-missing column: leave it out of the model.
    X = X.loc[:, X.notna().any()].reset_index(drop=True)
    seg, term = raw["segment"].reset_index(drop=True), lab["term_months"]

    def model(est: RenewalClassifier | None, card: ModelCard | None) -> RenewalModel:
        return RenewalModel(
            as_of=asof, version=MODEL_VERSION, lead_days=LEAD_DAYS, feature_names_=tuple(X.columns),
            estimator_=est, base_rates_=base_rates(seg, term, y),
            typical_=_typical(X, seg, y) if est is not None else pd.DataFrame(),
            usage_metrics_=tuple(metrics), active_metric_=active, extra_numeric_=tuple(extra_num),
            extra_categories_=tuple((c, tuple(v)) for c, v in extra_cat), card=card,
            train_seconds=time.perf_counter() - t0, n_labelled=len(lab), notes=tuple(notes))

    if len(lab) < MIN_CONTRACTS or y.sum() < MIN_CHURNS:
        notes.append(f"Too little history for a model ({len(lab):,} contracts with a known outcome, "
                     f"{int(y.sum()):,} churns; needs {MIN_CONTRACTS} and {MIN_CHURNS}): "
                     "P(renew) is the historic renewal rate of the segment and billing term.")
        return model(None, None)
    est = RenewalClassifier(random_state=seed)
    card = model_card(est, X, y, seg, term, lab["end_date"], metrics, seed)
    if card.auc <= card.base_auc:
        # A model that ranks the holdout no better than the segment-and-term rates
        # must not drive the at-risk list: the simpler figure is the honest one.
        notes.append(f"The model did not beat the baseline on the holdout (AUC {card.auc:.3f} vs "
                     f"{card.base_auc:.3f}), so P(renew) is the historic renewal rate of the segment and billing "
                     "term, and no drivers are named. More history (or usage, NPS and ticket data) may change "
                     "that.")
        return model(None, card)
    return model(est.fit(X, y), card)


# ----------------------------------------------------------------- scoring


def features_for(model: RenewalModel, cur: store.Cursor, contracts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(raw features, design matrix) for contracts (needs contract_id, account_id, arr, term_months, decision_date)."""
    raw = raw_features(cur, contracts, model.usage_metrics_, model.extra_numeric_,
                       [c for c, _ in model.extra_categories_])
    segments = [f.split("=", 1)[1] for f in model.feature_names_ if f.startswith("segment=")]
    X = design_matrix(raw, model.usage_metrics_, model.active_metric_, model.extra_numeric_,
                      model.extra_categories_, segments)
    return raw, X.reindex(columns=list(model.feature_names_))


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
        p = 1 - base_predict(model.base_rates_, seg, c["term_months"])
        return Scores(np.asarray(p, dtype=float), X, extra, seg)
    return Scores(model.estimator_.predict_proba(X)[:, 0], X, extra, seg)
