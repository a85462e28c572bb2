"""One CSM's book and one account's page: tables built from the snapshots, the store and the renewal model."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from app.data import store
from app.forecasting import renewals, risk
from app.health import scorecard, snapshots
from app.health.scorecard import Config
from app.present import export

RENEWAL_DAYS = 90  # "renewals due" in a book: the next 90 days
PLAY_OF_KIND = {"level": "usage", "trend": "usage", "utilisation": "utilisation", "nps": "nps", "tickets": "tickets",
                "high_tickets": "tickets", "tenure": "tenure", "contraction": "contraction", "x_num": "x_",
                "x_cat": "x_"}


def weakest(cfg: Config, df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per row: the factor that lost the most points against its best bin (label), and its play (risk.PLAYS)."""
    if df.empty or not cfg.factors:
        return pd.Series("", index=df.index), pd.Series("", index=df.index)
    lost = np.column_stack([max(f.points) - df[f"points_{f.name}"].to_numpy(float) for f in cfg.factors])
    j = lost.argmax(axis=1)
    labels = np.array([f.label for f in cfg.factors], dtype=object)[j]
    plays = np.array([risk.PLAYS[PLAY_OF_KIND[f.kind]] for f in cfg.factors], dtype=object)[j]
    return pd.Series(labels, index=df.index), pd.Series(plays, index=df.index)


def with_weakest(cfg: Config, snap: pd.DataFrame) -> pd.DataFrame:
    out = snap.copy()
    out["weakest_factor"], out["play"] = weakest(cfg, out)
    return out


def csm_list(snap: pd.DataFrame) -> list[str]:
    """CSM names in a snapshot (or a summary), sorted ('(no CSM)' for accounts without one)."""
    return sorted(snap["csm_name"].fillna(snapshots.NO_CSM).unique().tolist())


def renewals_due(scored: renewals.ScoredRenewals, as_of: dt.date, days: int = RENEWAL_DAYS) -> pd.DataFrame:
    """Contracts due in the next `days` days with P(renew): account_id, end_date, arr, billing, p_renew."""
    c = scored.contracts
    end = as_of + dt.timedelta(days=days)
    c = c[(pd.to_datetime(c["end_date"]) <= pd.Timestamp(end))]
    return c[["account_id", "contract_id", "end_date", "arr", "billing", "p_renew"]].reset_index(drop=True)


def csm_book(cfg: Config, snap: pd.DataFrame, due: pd.DataFrame, csm_name: str) -> dict[str, pd.DataFrame]:
    """{'accounts': the CSM's accounts with score, band, stage, ARR, weakest factor and play (worst first),
    'renewals': their renewals due with P(renew), 'at_risk': red accounts and accounts whose renewal P is under 80%}."""
    s = snap[snap["csm_name"].fillna(snapshots.NO_CSM) == csm_name]
    acc = with_weakest(cfg, s)[["account_id", "name", "segment", "arr", "score", "band", "stage", "weakest_factor",
                                "play"]].sort_values(["score", "account_id"], ignore_index=True)
    r = due.merge(acc[["account_id", "name", "score", "band"]], on="account_id").sort_values(
        ["end_date", "account_id"], ignore_index=True)
    low_p = set(r.loc[r["p_renew"] < 0.8, "account_id"])
    at_risk = acc[(acc["band"] == "red") | acc["account_id"].isin(low_p)].reset_index(drop=True)
    return {"accounts": acc, "renewals": r[["account_id", "name", "end_date", "arr", "billing", "p_renew", "score",
                                            "band"]], "at_risk": at_risk}


BOOK_FORMATS = {"arr": "money", "score": "number", "p_renew": "pct", "end_date": "date"}


def book_xlsx(cfg: Config, snap: pd.DataFrame, due: pd.DataFrame, csm_names: list[str]) -> bytes:
    """One sheet per CSM: their accounts (score, band, stage, weakest factor, play), then renewals due below."""
    sheets, formats = {}, {}
    used: set[str] = set()
    for name in csm_names:
        b = csm_book(cfg, snap, due, name)
        nxt = b["renewals"].rename(columns={"name": "renewal_account"})
        sheet = _sheet_name(name, used)
        df = b["accounts"].copy()
        df["renewal_date"] = df["account_id"].map(nxt.groupby("account_id")["end_date"].min())
        df["p_renew"] = df["account_id"].map(nxt.groupby("account_id")["p_renew"].min())
        sheets[sheet] = df
        formats[sheet] = {"arr": "money", "score": "number", "p_renew": "pct", "renewal_date": "date"}
    return export.to_xlsx_bytes(sheets, formats=formats)


def _sheet_name(name: str, used: set[str]) -> str:
    base = "".join(ch for ch in str(name) if ch not in '[]:*?/\\')[:31] or "CSM"
    out, k = base, 2
    while out.lower() in used:
        out = f"{base[:28]} {k}"
        k += 1
    used.add(out.lower())
    return out


# ----------------------------------------------------------------- the health page: small, precomputed reads
# Each is computed once per data version, set and filter (the page caches them: ui.cached_write) and is
# small: a 100,000-account book never comes into the app process as a whole.

SHOWN = 500  # accounts listed on the page (the CSV has every one)


def summary(cur: store.Cursor, set_id: int) -> pd.DataFrame:
    """The latest week of a set counted: segment, csm_name, band, stage, accounts, arr, week (one row per
    combination present; the page adds up the rows of its segment and CSM)."""
    df = store.query_df(
        cur,
        f"""
        SELECT a.segment, coalesce(o.csm_name, '{snapshots.NO_CSM}') AS csm_name, h.band, h.stage,
               count(*) AS accounts, sum(coalesce(m.arr, 0)) AS arr, any_value(h.week) AS week
        FROM health_snapshots h
        LEFT JOIN accounts a ON a.account_id = h.account_id
        LEFT JOIN account_csm o ON o.account_id = h.account_id
        LEFT JOIN arr_monthly m ON m.account_id = h.account_id AND m.month = date_trunc('month', h.week)
        WHERE h.set_id = $s AND h.week = (SELECT max(week) FROM health_snapshots WHERE set_id = $s)
        GROUP BY ALL ORDER BY ALL
        """, {"s": set_id})
    df["week"] = pd.to_datetime(df["week"]).dt.date
    return df


def filtered(summary_: pd.DataFrame, segment: str | None, csm: str | None) -> pd.DataFrame:
    """The summary rows of one segment and one CSM (None: all)."""
    m = np.ones(len(summary_), bool)
    if segment is not None:
        m &= (summary_["segment"] == segment).to_numpy()
    if csm is not None:
        m &= (summary_["csm_name"] == csm).to_numpy()
    return summary_[m]


def band_totals(view: pd.DataFrame) -> pd.DataFrame:
    """accounts and arr per band (red, yellow, green) of summary rows."""
    g = view.groupby("band")[["accounts", "arr"]].sum()
    return g.reindex(["red", "yellow", "green"], fill_value=0)


def weakest_accounts(cur: store.Cursor, version: int, set_id: int, segment: str | None = None,
                     csm: str | None = None, n: int = SHOWN) -> pd.DataFrame:
    """The n lowest scores of the latest week (of a segment, a CSM) with their weakest factor and play."""
    return with_weakest(scorecard.load(cur, version), snapshots.snapshot(cur, set_id, segment=segment, csm=csm,
                                                                         limit=n))


def scores_csv(cur: store.Cursor, version: int, set_id: int, segment: str | None = None,
               csm: str | None = None) -> bytes:
    """Every account of the latest week (of a segment, a CSM) with its points per factor, as CSV (on click)."""
    return export.to_csv_bytes(weakest_accounts(cur, version, set_id, segment, csm, n=None))  # type: ignore[arg-type]


def stuck_accounts(cur: store.Cursor, set_id: int, segment: str | None = None,
                   csm: str | None = None) -> pd.DataFrame:
    """The latest week's accounts stuck in onboarding (of a segment, a CSM), longest first."""
    on = snapshots.snapshot(cur, set_id, segment=segment, csm=csm, stage="onboarding")
    out = stuck_in_onboarding(cur, on)[["account_id", "name", "csm_name", "tenure_months", "score", "band"]]
    return out.sort_values(["tenure_months", "account_id"], ascending=[False, True], ignore_index=True)


def due_soon(cur: store.Cursor, days: int = RENEWAL_DAYS) -> pd.DataFrame:
    """Contracts due in the next `days` days with the renewal model's P(renew) (prepared after the import;
    trained and stored here on first need)."""
    scored = renewals.prepared_scored(cur)
    return renewals_due(scored, scored.as_of, days)


def csm_book_of(cur: store.Cursor, version: int, set_id: int, csm_name: str, segment: str | None = None
                ) -> dict[str, pd.DataFrame]:
    """csm_book of one CSM, read for that CSM alone."""
    snap = snapshots.snapshot(cur, set_id, segment=segment, csm=csm_name)
    return csm_book(scorecard.load(cur, version), snap, due_soon(cur), csm_name)


def books_xlsx(cur: store.Cursor, version: int, set_id: int, csm_names: tuple[str, ...]) -> bytes:
    """book_xlsx of these CSMs (on click)."""
    snap = snapshots.snapshot(cur, set_id)
    return book_xlsx(scorecard.load(cur, version), snap, due_soon(cur), list(csm_names))


def find_accounts(cur: store.Cursor, set_id: int | None, text: str = "", limit: int = 50) -> pd.DataFrame:
    """account_id, name of up to `limit` accounts whose id or name contains text (any case); with no text the
    lowest scores of the latest week (or the first accounts by name without a snapshot set)."""
    like = f"%{text.strip().lower()}%"
    if text.strip() or set_id is None:
        return store.query_df(cur, "SELECT account_id, name FROM accounts WHERE lower(account_id) LIKE $q "
                                   "OR lower(coalesce(name, '')) LIKE $q ORDER BY name, account_id LIMIT $n",
                              {"q": like, "n": limit})
    return store.query_df(cur, "SELECT h.account_id, a.name FROM health_snapshots h LEFT JOIN accounts a "
                               "USING (account_id) WHERE h.set_id = $s AND h.week = (SELECT max(week) FROM "
                               "health_snapshots WHERE set_id = $s) ORDER BY h.score, h.account_id LIMIT $n",
                          {"s": set_id, "n": limit})


# ----------------------------------------------------------------- the account page


def account_info(cur: store.Cursor, account_id: str) -> dict | None:
    rows = store.query_df(cur, "SELECT a.account_id, a.name, a.segment, a.region, a.industry, a.csm_id, o.csm_name, "
                               "a.created_at FROM accounts a LEFT JOIN account_csm o USING (account_id) "
                               "WHERE a.account_id = ?", [account_id])
    return None if rows.empty else rows.iloc[0].to_dict()


def account_tables(cur: store.Cursor, account_id: str) -> dict[str, pd.DataFrame]:
    """ARR history with bridge events, usage per metric and month, NPS, tickets, contracts, churn reasons."""
    q = lambda sql: store.query_df(cur, sql, [account_id])  # noqa: E731
    return {
        "arr": q("SELECT month, prev_arr, arr, category FROM arr_bridge_account WHERE account_id = ? ORDER BY month"),
        "usage": q("SELECT CAST(date_trunc('month', date) AS DATE) AS month, metric, avg(value) AS value FROM usage "
                   "WHERE account_id = ? GROUP BY ALL ORDER BY month, metric"),
        "nps": q("SELECT CAST(date AS DATE) AS date, score FROM nps WHERE account_id = ? ORDER BY date DESC"),
        "tickets": q("SELECT CAST(opened_at AS DATE) AS opened, priority, status FROM tickets WHERE account_id = ? "
                     "ORDER BY opened_at DESC LIMIT 200"),
        "contracts": q("SELECT contract_id, start_date, end_date, arr, outcome, renewed_arr FROM renewals "
                       "WHERE account_id = ? ORDER BY end_date DESC"),
        "churn_reasons": q("SELECT date, proximate_reason, root_reason FROM churn_reasons WHERE account_id = ? "
                           "ORDER BY date DESC"),
    }


def account_renewal_risk(cur: store.Cursor, account_id: str) -> pd.DataFrame:
    """The account's contracts due (next 12 months) with P(renew), drivers and plays of the renewal model
    (prepared after the import; trained and stored here on first need)."""
    scored = renewals.prepared_scored(cur)
    c = scored.contracts
    idx = np.flatnonzero(c["account_id"].to_numpy() == account_id)
    if len(idx) == 0:
        return pd.DataFrame(columns=["end_date", "arr", "billing", "p_renew"] + renewals.DRIVER_COLS)
    rows = c.iloc[idx][["end_date", "arr", "billing", "p_renew"]].reset_index(drop=True)
    d = renewals.drivers(scored, idx, cur=cur).reset_index(drop=True)
    return pd.concat([rows, d], axis=1)


def breakdown(cfg: Config, row: pd.Series) -> pd.DataFrame:
    """A snapshot row's points per factor against each factor's most: factor, points, max_points, lost."""
    out = pd.DataFrame({"factor": [f.label for f in cfg.factors],
                        "points": [float(row[f"points_{f.name}"]) for f in cfg.factors],
                        "max_points": [float(max(f.points)) for f in cfg.factors]})
    out["lost"] = (out["max_points"] - out["points"]).round(2)
    return out


def stage_counts(view: pd.DataFrame) -> pd.DataFrame:
    """Accounts per lifecycle stage, from summary rows (stage, accounts), in the stages' order."""
    from app.health import stages

    n = view.groupby("stage")["accounts"].sum()
    return pd.DataFrame({"stage": list(stages.STAGES), "accounts": [int(n.get(s, 0)) for s in stages.STAGES]})


def stuck_in_onboarding(cur: store.Cursor, snap: pd.DataFrame) -> pd.DataFrame:
    """Accounts in onboarding past its expected length, with tenure (from the store)."""
    from app.health import stages

    on = snap[snap["stage"] == "onboarding"]
    if on.empty:
        return on.assign(tenure_months=pd.Series(dtype=float))
    cur.register("_hb_ids", on[["account_id"]])
    try:
        t = store.query_df(cur, "SELECT i.account_id, date_diff('day', max(b.month), ?) / 30.4375 AS tenure_months "
                                "FROM _hb_ids i JOIN arr_bridge_account b ON b.account_id = i.account_id "
                                "AND b.category IN ('new', 'reactivation') AND b.month <= ? GROUP BY 1",
                           [on["week"].iloc[0], on["week"].iloc[0]])
    finally:
        cur.unregister("_hb_ids")
    m = on.merge(t, on="account_id", how="left")
    return m[stages.stuck(m["stage"].to_numpy(), m["tenure_months"].to_numpy(float))].reset_index(drop=True)


def config_table(cfg: Config) -> pd.DataFrame:
    """Each factor, its weight (most points) and its bins with their points, for the page."""
    rows = []
    for f in cfg.factors:
        bins = "; ".join(f"{f.bin_label(b)}: {p:g}" for b, p in enumerate(f.points))
        rows.append((f.name, f.label, float(max(f.points)) if f.points else 0.0, bins))
    return pd.DataFrame(rows, columns=["factor", "label", "weight", "points by bin"])


def weights_frame(cfg: Config) -> pd.DataFrame:
    return pd.DataFrame({"factor": cfg.names, "label": [f.label for f in cfg.factors],
                         "weight": [scorecard.weights_of(cfg)[n] for n in cfg.names]})


def prepare(cur: store.Cursor, active: int | None = None) -> tuple[Config, int]:
    """The config in use and its snapshot set for this data (fitting, saving and building on first need).

    active (the chosen version, None = learned) is part of the page's cache key only: the store says which it is.
    """
    cfg = snapshots.config(cur)
    return cfg, snapshots.ensure_snapshots(cur, cfg)


def explain_move(cur: store.Cursor, version: int, account_id: str, before: dt.date, after: dt.date) -> pd.DataFrame:
    """snapshots.explain with the config of that version (a small cache key for pages)."""
    return snapshots.explain(cur, scorecard.load(cur, version), account_id, before, after)


def evaluate_version(cur: store.Cursor, version: int) -> dict[str, pd.DataFrame]:
    """evaluate.evaluate with the house config of that version (None for a learned one)."""
    from app.health import evaluate

    cfg = scorecard.load(cur, version)
    return evaluate.evaluate(cur, cfg if cfg.kind == scorecard.HOUSE else None)
