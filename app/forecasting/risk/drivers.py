"""Drivers in plain words and the play for each: why this model scores this contract at risk.

For each contract and each driver family (usage per metric, utilisation, NPS, tickets, tenure,
past contraction, extra account columns), the raw churn score minus the score with the family's
features set to the typical value of renewed contracts of the same segment (a counterfactual,
so drivers are exactly the features that moved this model's score). A family is named when
that effect is at least ``MIN_DRIVER_EFFECT`` and its value is worse than the typical one.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from app.data import store
from app.forecasting.risk.features import driver_families
from app.forecasting.risk.model import RenewalModel, Scores, predict

# A driver must add at least this much to the (raw) churn score to be named.
MIN_DRIVER_EFFECT = 0.002

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


def _pct(x: float) -> str:
    return f"{abs(x) * 100:.0f}%"


def _phrase(family: str, r: dict[str, Any], usage_metrics: Sequence[str]) -> str:
    """The family's driver in words, from the contract's raw values (r: design matrix and extra columns)."""
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
        x = r.get(family)
        return f"{family[2:].replace('_', ' ')}: {x}" if x is not None and not pd.isna(x) else \
            f"{family[2:].replace('_', ' ')} unknown"
    return family


def explain(model: RenewalModel, scores: Scores, rows: Sequence[int] | np.ndarray | None = None,
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
    effects = _driver_effects(model, X, seg, model.estimator_.raw_score(X))
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
    est = model.estimator_
    assert est is not None
    fams = driver_families(model.feature_names_, len(model.usage_metrics_))
    typ = model.typical_
    seg_key = seg.fillna("(none)").where(seg.fillna("(none)").isin(typ.index), "*")
    typical_rows = typ.reindex(seg_key.to_numpy())
    typical_rows.index = X.index
    out = {}
    for fam, cols in fams.items():
        Xc = X.copy()
        Xc[cols] = typical_rows[cols].to_numpy()
        out[fam] = base_raw - est.raw_score(Xc)
    return pd.DataFrame(out, index=X.index)
