"""The bottom-up renewal model: P(renew) per contract, its model card and plain-word drivers.

- ``features``: labelled contracts, decision dates (``LEAD_DAYS`` before the end; as-of rules),
  the SQL feature families, the design matrix;
- ``model``: ``RenewalClassifier`` (a scikit-learn estimator: ``fit(X, y)`` returns self) and
  ``train(cur, as_of)`` / ``predict`` on the store, returning a frozen ``RenewalModel`` / ``Scores``;
- ``card``: the model card on a time-based holdout (AUC, Brier, lift, calibration, importance)
  against the segment-and-term baseline;
- ``drivers``: drivers in plain words and plays (``explain``, ``score``).

See docs/renewal_model.md for every choice. The names below are the ones the rest of the code uses.
"""
from app.forecasting.risk.card import (
    HOLDOUT_SHARE,
    ModelCard,
    auc,
    base_predict,
    base_rates,
    brier,
    calibration_table,
    top_decile_lift,
)
from app.forecasting.risk.drivers import MIN_DRIVER_EFFECT, PLAYS, explain, score
from app.forecasting.risk.features import (
    HIGH_PRIORITIES,
    LEAD_DAYS,
    design_matrix,
    extra_account_columns,
    find_usage_metrics,
    labelled_contracts,
    raw_features,
)
from app.forecasting.risk.model import (
    MIN_CHURNS,
    MIN_CONTRACTS,
    MODEL_VERSION,
    RenewalClassifier,
    RenewalModel,
    Scores,
    predict,
    train,
)

__all__ = [
    "HIGH_PRIORITIES", "HOLDOUT_SHARE", "LEAD_DAYS", "MIN_CHURNS", "MIN_CONTRACTS",
    "MIN_DRIVER_EFFECT", "MODEL_VERSION", "PLAYS", "ModelCard", "RenewalClassifier", "RenewalModel", "Scores",
    "auc", "base_predict", "base_rates", "brier", "calibration_table", "design_matrix", "explain",
    "extra_account_columns", "find_usage_metrics", "labelled_contracts", "predict", "raw_features", "score",
    "top_decile_lift", "train",
]
