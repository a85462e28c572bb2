"""Is the score any good? Past quarters' renewals against the score and the renewal model, on the same accounts.

For each of the last quarter ends q whose next 3 months of renewals are all known (q + 3 months +
the renewal grace <= as-of):

- accounts: those with a renewal (any term) due in the 3 months after q with a known outcome
  now; churned = any of them churned;
- the health score at q, with the learned config refitted on outcomes known at q only (and, for
  a house config, its fixed points);
- the renewal model as it would have run at q (renewals.score_due(as_of=q): trained on outcomes
  known at q, contracts due as known then); an account's P(churn) = 1 - the product of its
  contracts' P(renew).

Measures per quarter and pooled: churn rate by band, AUC (sklearn roc_auc_score of churned
against 100 - score, and against the model's P(churn)) and top-decile lift.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from app.data import store
from app.forecasting import renewals, risk
from app.health import factors, snapshots
from app.health.scorecard import Config
from app.rules import periods

QUARTERS = 4
MONTHS = 3


def quarter_ends(as_of: dt.date, n: int = QUARTERS) -> list[dt.date]:
    """The last n month ends q, 3 months apart, whose 3-month windows are complete and judged by as_of."""
    grace = dt.timedelta(days=store.RENEWAL_GRACE_DAYS)
    q = periods.month_end(as_of)
    out: list[dt.date] = []
    while len(out) < n:
        if renewals.window_end(q, MONTHS) + grace <= as_of:
            out.append(q)
        q = periods.last_complete_month_end(periods.month_start(q) - dt.timedelta(days=1))
        for _ in range(MONTHS - 1) if out else []:
            q = periods.last_complete_month_end(periods.month_start(q) - dt.timedelta(days=1))
    return sorted(out)


def _auc(y: np.ndarray, risk_score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, int)
    return float(roc_auc_score(y, risk_score)) if 0 < y.sum() < len(y) else float("nan")


def outcomes(cur: store.Cursor, q: dt.date) -> pd.DataFrame:
    """account_id, churned: accounts with renewals due in (q, q + 3 months], outcomes as the store knows them."""
    return store.query_df(
        cur,
        "SELECT account_id, max(CASE WHEN outcome = 'churned' THEN 1 ELSE 0 END) AS churned FROM renewals "
        "WHERE end_date > ? AND end_date <= ? AND outcome IS NOT NULL AND arr > 0 GROUP BY 1 ORDER BY 1",
        [q, renewals.window_end(q, MONTHS)])


def evaluate(cur: store.Cursor, house: Config | None = None, n_quarters: int = QUARTERS,
             with_model: bool = True) -> dict[str, pd.DataFrame]:
    """{'units': one row per quarter and account (q, account_id, churned, score_learned, band_learned,
    [score_house, band_house], p_churn_model), 'summary': per quarter and pooled, 'bands': churn rate by band}."""
    asof = store.as_of(cur)
    inp = factors.inputs(cur)
    frames = []
    for q in quarter_ends(asof, n_quarters):
        y = outcomes(cur, q)
        if y.empty:
            continue
        try:
            learned = snapshots.fit_at(cur, q, inp)
        except ValueError:
            continue
        sl = snapshots.scores_on(cur, learned, [q], inp)[["account_id", "score", "band"]]
        u = y.merge(sl.rename(columns={"score": "score_learned", "band": "band_learned"}), on="account_id")
        if house is not None:
            sh = snapshots.scores_on(cur, house, [q], inp)[["account_id", "score", "band"]]
            u = u.merge(sh.rename(columns={"score": "score_house", "band": "band_house"}), on="account_id")
        if with_model:
            sc = renewals.score_due(cur, as_of=q, horizon_months=MONTHS)
            c = sc.contracts
            pm = (c.assign(lp=np.log(np.clip(c["p_renew"].to_numpy(float), 1e-9, 1)))
                  .groupby("account_id", as_index=False)["lp"].sum())
            pm["p_churn_model"] = 1 - np.exp(pm["lp"])
            u = u.merge(pm[["account_id", "p_churn_model"]], on="account_id")
        u.insert(0, "q", q)
        frames.append(u)
    units = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["q", "account_id", "churned"])
    return {"units": units, "summary": summary(units), "bands": band_rates(units)}


def summary(units: pd.DataFrame) -> pd.DataFrame:
    """Per quarter and 'all quarters': accounts, churn rate, AUC and top-decile lift of each score."""
    rows = []
    groups = [(str(q), g) for q, g in units.groupby("q")] + ([("all quarters", units)] if len(units) else [])
    for label, g in groups:
        y = g["churned"].to_numpy(int)
        r = {"quarter": label, "accounts": len(g), "churn_rate": float(y.mean()) if len(y) else float("nan")}
        for name, col, sign in (("learned", "score_learned", -1), ("house", "score_house", -1),
                                ("model", "p_churn_model", +1)):
            if col in g:
                s = sign * g[col].to_numpy(float)
                r[f"auc_{name}"] = _auc(y, s)
                r[f"lift_{name}"] = risk.top_decile_lift(y, s)
        rows.append(r)
    return pd.DataFrame(rows)


def band_rates(units: pd.DataFrame) -> pd.DataFrame:
    """Churn rate by band (learned, and house when scored): config, band, accounts, churned, churn_rate."""
    rows = []
    for name in ("learned", "house"):
        col = f"band_{name}"
        if col not in units:
            continue
        for b in ("red", "yellow", "green"):
            g = units[units[col] == b]
            rows.append((name, b, len(g), int(g["churned"].sum()),
                         float(g["churned"].mean()) if len(g) else float("nan")))
    return pd.DataFrame(rows, columns=["config", "band", "accounts", "churned", "churn_rate"])


def verdict(summary_: pd.DataFrame) -> list[str]:
    """Plain sentences: the learned score against the model; a house config that predicts worse says so."""
    if summary_.empty:
        return ["Not enough renewal history to check the score yet (needs a full quarter of known renewals)."]
    r = summary_.iloc[-1]
    out = []
    if "auc_model" in r and not np.isnan(r.get("auc_model", np.nan)):
        gap = r["auc_learned"] - r["auc_model"]
        out.append(f"Over {len(summary_) - 1} quarters, the learned score ranks churn with an AUC of "
                   f"{r['auc_learned']:.3f}, the renewal model {r['auc_model']:.3f} ({gap:+.3f}).")
    if "auc_house" in r:
        if r["auc_house"] < r["auc_learned"]:
            out.append(f"This house configuration predicts churn worse than the learned score (AUC "
                       f"{r['auc_house']:.3f} vs {r['auc_learned']:.3f}).")
        else:
            out.append(f"This house configuration predicts churn at least as well as the learned score (AUC "
                       f"{r['auc_house']:.3f} vs {r['auc_learned']:.3f}).")
    return out
