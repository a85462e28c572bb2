"""Scores at dates, weekly snapshots in the store, why a score moved, the learned config's fit.

Snapshots are built once per data version and config version: after every import (app/prepare.py,
once the import's transaction has committed, so a 1M-row import stays fast), and on first need for
a config edit (the health page, the CLI), under its own version. Every snapshot row carries its set,
and a set one config version, so movers and histories never compare scores from two configurations.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import time
from contextlib import nullcontext

import numpy as np
import pandas as pd

from app.data import store
from app.health import factors, scorecard, stages
from app.health.scorecard import Config

WEEKS = 52
KEEP_SETS = 3  # snapshot sets kept in the store (older ones are dropped when a new one is built)
HORIZON_DAYS = 90  # the score is fitted on, and checked against, renewals in the next 90 days
USAGE_WARMUP_MONTHS = 6  # as the renewal model: a unit needs 6 months of usage history before it
MAX_FIT_UNITS = 150_000  # the most recent units are used beyond this (as the renewal model caps contracts)
PART_ACCOUNTS = 12_500  # accounts per INSERT when a set is built (DuckDB's memory for the query scales with it)


def week_dates(as_of: dt.date, weeks: int = WEEKS) -> list[dt.date]:
    """The snapshot dates: the as-of date and each 7 days before it, oldest first."""
    return [as_of - dt.timedelta(days=7 * k) for k in range(weeks - 1, -1, -1)]


# ----------------------------------------------------------------- scoring


def score_frame(cfg: Config, raw: pd.DataFrame, inp: factors.Inputs) -> pd.DataFrame:
    """account_id, t, segment, csm_id, stage, stuck, score, band, then points_<factor> per factor."""
    X = factors.values(raw, inp)
    s, P = scorecard.score(cfg, X)
    lvl = X[f"{inp.metric_keys[0]}_level"].to_numpy(float) if inp.metric_keys else None
    util = X["utilisation"].to_numpy(float) if "utilisation" in X else np.full(len(X), np.nan)
    tenure = X["tenure"].to_numpy(float)
    stg = stages.stage(tenure, util, lvl, raw["next_renewal"].notna().to_numpy())
    r = raw.reset_index(drop=True)
    out = pd.DataFrame({"account_id": r["account_id"], "t": pd.to_datetime(r["t"]).astype("datetime64[us]"),
                        "segment": r["segment"], "csm_id": r["csm_id"], "stage": stg,
                        "stuck": stages.stuck(stg, tenure), "score": s,
                        "band": scorecard.band(s, cfg.red_below, cfg.green_from)})
    for j, name in enumerate(cfg.names):
        out[f"points_{name}"] = P[:, j]
    return out


def scores_on(cur: store.Cursor, cfg: Config, dates: list[dt.date], inp: factors.Inputs | None = None) -> pd.DataFrame:
    """score_frame for every account with ARR at each date (computed now, same rules as the snapshots)."""
    inp = inp or factors.inputs(cur)
    return score_frame(cfg, factors.raw_values(cur, inp, dates=dates), inp)


# ----------------------------------------------------------------- the learned config


def training_units(cur: store.Cursor, cutoff: dt.date) -> pd.DataFrame:
    """(account_id, t, churned): each account with ARR at a month end t and a renewal due in the 90 days after t.

    churned = 1 when any of those renewals churned. Only renewals whose outcome was known at
    cutoff (end + grace <= cutoff); t from 6 months after usage starts. The most recent
    MAX_FIT_UNITS units when there are more.
    """
    df = store.query_df(
        cur,
        """
        WITH bounds AS (
            SELECT CAST(date_trunc('month', coalesce((SELECT min(date) FROM usage), DATE '1900-01-01'))
                        + to_months($warm) AS DATE) AS t0
        ),
        ends AS (
            SELECT CAST(unnest(generate_series(date_trunc('month', (SELECT t0 FROM bounds)),
                                               date_trunc('month', $cutoff), INTERVAL 1 MONTH))
                        + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE) AS t
        )
        SELECT r.account_id, e.t, max(CASE WHEN r.outcome = 'churned' THEN 1 ELSE 0 END) AS churned
        FROM ends e JOIN renewals r ON r.end_date > e.t AND r.end_date <= e.t + to_days(CAST($h AS INTEGER))
        WHERE r.outcome IS NOT NULL AND r.arr > 0 AND r.end_date + to_days(CAST($g AS INTEGER)) <= $cutoff
          AND e.t >= (SELECT t0 FROM bounds)
        GROUP BY ALL
        ORDER BY e.t DESC, r.account_id
        """,
        {"warm": USAGE_WARMUP_MONTHS, "cutoff": cutoff, "h": HORIZON_DAYS, "g": store.RENEWAL_GRACE_DAYS},
    )
    df = df.head(MAX_FIT_UNITS)
    df["t"] = pd.to_datetime(df["t"]).dt.date
    return df.sort_values(["t", "account_id"], ignore_index=True)


# Bumped whenever the factor values, points or scores this code builds change (as BUILD_VERSION 2 did: same-day NPS
# answers, the lowest counts): a learned score or snapshot set built by older code is then rebuilt, not reused.
BUILD_VERSION = "2"


def build_key(cur: store.Cursor) -> str:
    """What a learned score and a snapshot set depend on: the data version and this code's BUILD_VERSION."""
    return f"{store.data_version(cur)}|health-{BUILD_VERSION}"


def fit_at(cur: store.Cursor, cutoff: dt.date, inp: factors.Inputs | None = None, data_version: str = "") -> Config:
    """The learned scorecard from outcomes known at cutoff (not saved)."""
    inp = inp or factors.inputs(cur)
    units = training_units(cur, cutoff)
    if units.empty:
        raise ValueError("no renewal with a known outcome yet: the learned health score needs renewal history "
                         "(load subscriptions or contracts, and usage)")
    raw = factors.raw_values(cur, inp, units=units)
    raw = raw.assign(account_id=raw["account_id"].astype(object), t=pd.to_datetime(raw["t"]).dt.date.astype(object))
    raw = raw.merge(units.assign(t=units["t"].astype(object)), on=["account_id", "t"])
    raw = raw[raw["arr_now"].fillna(0).astype(float) > 0].reset_index(drop=True)  # accounts with ARR at t only
    return scorecard.fit_learned(inp, factors.values(raw, inp), raw["churned"].to_numpy(int),
                                 data_version=data_version)


def config(cur: store.Cursor) -> Config:
    """The config in use: the version chosen on the page, else the learned one of this data (fitted and saved
    on first need: cur must be able to write then)."""
    v = scorecard.active_version(cur)
    if v is not None:
        return scorecard.load(cur, v)
    dv = build_key(cur)
    cfg = scorecard.learned_for(cur, dv)
    if cfg is None:
        cfg = scorecard.save(cur, fit_at(cur, store.as_of(cur), data_version=dv))
    return cfg


# ----------------------------------------------------------------- snapshots in the store


def snapshot_set(cur: store.Cursor, cfg: Config) -> int | None:
    dv = build_key(cur)
    rows = store.query_rows(cur, "SELECT max(set_id) FROM health_snapshot_sets WHERE config_version = ? "
                                 "AND data_version = ?", [cfg.version, dv])
    return rows[0][0]


def build_sql(cfg: Config, inp: factors.Inputs, n_dates: int, part: int = 0, parts: int = 1,
              staged: bool = False) -> tuple[str, dict[str, object]]:
    """The snapshot rows of every account with ARR at each date of factors.registered(): week, account_id,
    score, band, stage, points (one per factor, in cfg's order): score_frame() in SQL, without a round trip
    of millions of rows through pandas (tests hold the two to the same numbers). With parts, one part of the
    accounts; staged: reading the sources factors.staged() holds."""
    sql, params = factors.query(inp, False, n_dates, part, parts, staged)
    exprs = factors.value_sql(inp)
    vals = {n: f"v{i}" for i, n in enumerate(exprs)}  # each value computed once, in its own column
    pts = scorecard.points_sql(cfg, vals, params)
    lvl0 = vals[f"{inp.metric_keys[0]}_level"] if inp.metric_keys else None
    stage = stages.stage_sql("tenure_months", vals.get("utilisation"), lvl0, "next_renewal IS NOT NULL")
    plist = "list_value(" + ", ".join(f"p{j}" for j in range(len(pts))) + ")" if pts else "CAST([] AS DOUBLE[])"
    score = scorecard.score_sql([f"p{j}" for j in range(len(pts))])
    return (f"""
        SELECT t AS week, account_id, score, {scorecard.band_sql(cfg, 'score')} AS band, stage, points
        FROM (SELECT t, account_id, stage, {score} AS score, {plist} AS points
              FROM (SELECT t, account_id, {stage} AS stage{"".join(f", {p} AS p{j}" for j, p in enumerate(pts))}
                    FROM (SELECT t, account_id, tenure_months, next_renewal{
                          "".join(f", {e} AS {vals[n]}" for n, e in exprs.items())}
                          FROM ({sql}))))""", params)


def ensure_snapshots(cur: store.Cursor, cfg: Config | None = None, weeks: int = WEEKS) -> int:
    """The snapshot set of cfg (default: the config in use) for this data version, built if missing.

    One INSERT ... SELECT per part of PART_ACCOUNTS accounts: factor values, points, scores, bands and
    stages of every account-week are computed in DuckDB and written in place (build_sql). With several
    parts, the sources keyed by account (usage by month, tickets by day, ARR, ...) are staged once for all
    parts (factors.staged) rather than joined to each part's keys by id string again.
    """
    cfg = cfg or config(cur)
    if cfg.version is None:
        raise ValueError("save the configuration before building snapshots with it")
    found = snapshot_set(cur, cfg)
    if found is not None:
        return int(found)
    t0 = time.perf_counter()
    asof = store.as_of(cur)
    inp = factors.inputs(cur)
    dates = week_dates(asof, weeks)
    dv = build_key(cur)
    n_accounts = store.query_rows(cur, "SELECT count(DISTINCT account_id) FROM subscriptions WHERE arr > 0")[0][0]
    with store.transaction(cur), factors.registered(cur, dates=dates) as n_dates:
        sid = store.query_rows(cur, "SELECT coalesce(max(set_id), 0) + 1 FROM health_snapshot_sets")[0][0]
        parts = max(1, math.ceil(n_accounts / PART_ACCOUNTS))
        with factors.staged(cur, inp, n_dates) if parts > 1 else nullcontext():
            for part in range(parts):  # a part of the accounts at a time: the same rows, a fraction of the memory
                sql, params = build_sql(cfg, inp, n_dates, part, parts, staged=parts > 1)
                cur.execute(f"INSERT INTO health_snapshots SELECT CAST($sid AS INTEGER), week, account_id, score, "
                            f"band, stage, points FROM ({sql})", {**params, "sid": sid})
        old = [r[0] for r in store.query_rows(cur, "SELECT set_id FROM health_snapshot_sets ORDER BY set_id DESC "
                                                   "OFFSET ?", [KEEP_SETS - 1])]
        for o in old:
            cur.execute("DELETE FROM health_snapshots WHERE set_id = ?", [o])
            cur.execute("DELETE FROM health_snapshot_sets WHERE set_id = ?", [o])
        cur.execute("INSERT INTO health_snapshot_sets VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [sid, cfg.version, dv, dt.datetime.now().replace(microsecond=0), weeks,
                     json.dumps(cfg.names), time.perf_counter() - t0])
    return int(sid)


def set_info(cur: store.Cursor, set_id: int) -> dict:
    r = store.query_rows(cur, "SELECT config_version, data_version, built_at, weeks, factors_json, seconds "
                              "FROM health_snapshot_sets WHERE set_id = ?", [set_id])[0]
    return {"config_version": r[0], "data_version": r[1], "built_at": r[2], "weeks": r[3],
            "factors": json.loads(r[4]), "seconds": r[5]}


NO_CSM = "(no CSM)"
# The optional segment and CSM-name filter ('(no CSM)' for none) over accounts a and account_csm o, as SQL with
# the parameters $segment and $csm (bound, never user text).
SEGMENT_CSM_SQL = (f"($segment IS NULL OR a.segment = $segment) "
                   f"AND ($csm IS NULL OR coalesce(o.csm_name, '{NO_CSM}') = $csm)")


def snapshot(cur: store.Cursor, set_id: int, week: dt.date | None = None, segment: str | None = None,
             csm: str | None = None, limit: int | None = None, stage: str | None = None) -> pd.DataFrame:
    """One week of a set (default: the latest) with names, CSM names and ARR: one row per account, lowest
    score first; optionally one segment, one CSM's accounts ('(no CSM)' for none), one stage, the lowest
    `limit` only."""
    info = set_info(cur, set_id)
    df = store.query_df(
        cur,
        f"""
        SELECT h.account_id, a.name, a.segment, a.csm_id, o.csm_name, h.week, h.stage, h.score, h.band,
               coalesce(m.arr, 0) AS arr, h.points
        FROM health_snapshots h
        LEFT JOIN accounts a ON a.account_id = h.account_id
        LEFT JOIN account_csm o ON o.account_id = h.account_id
        LEFT JOIN arr_monthly m ON m.account_id = h.account_id AND m.month = date_trunc('month', h.week)
        WHERE h.set_id = $s AND h.week = coalesce($w, (SELECT max(week) FROM health_snapshots WHERE set_id = $s))
          AND {SEGMENT_CSM_SQL} AND ($stage IS NULL OR h.stage = $stage)
        ORDER BY h.score, h.account_id
        LIMIT $limit
        """, {"s": set_id, "w": week, "segment": segment, "csm": csm, "limit": limit, "stage": stage})
    return _unpack(df, info["factors"])


def _unpack(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    P = np.array(df["points"].tolist(), dtype=float).reshape(len(df), len(names))
    out = df.drop(columns=["points"])
    for j, n in enumerate(names):
        out[f"points_{n}"] = P[:, j]
    if "week" in out:
        out["week"] = pd.to_datetime(out["week"]).dt.date
    return out


def history(cur: store.Cursor, set_id: int, account_id: str) -> pd.DataFrame:
    """Every week of one account in a set: week, stage, score, band, points_<factor>."""
    info = set_info(cur, set_id)
    df = store.query_df(cur, "SELECT week, stage, score, band, points FROM health_snapshots "
                             "WHERE set_id = ? AND account_id = ? ORDER BY week", [set_id, account_id])
    return _unpack(df, info["factors"])




def movers(cur: store.Cursor, set_id: int, n: int = 20, week: dt.date | None = None, segment: str | None = None,
           csm: str | None = None) -> pd.DataFrame:
    """The largest score changes from the week before to week (default the latest), both from set_id only;
    optionally of one segment and one CSM's accounts.

    account_id, name, segment, csm_name, score_before, score, delta, band, band_before, stage, delta_<factor>;
    largest |delta| first.
    """
    info = set_info(cur, set_id)
    df = store.query_df(
        cur,
        f"""
        WITH w AS (SELECT coalesce($w, (SELECT max(week) FROM health_snapshots WHERE set_id = $s)) AS week)
        SELECT b.account_id, a.name, a.segment, o.csm_name, p.score AS score_before, b.score,
               round(b.score - p.score, 2) AS delta, b.band, p.band AS band_before, b.stage, p.points AS points_before,
               b.points
        FROM health_snapshots b
        JOIN health_snapshots p ON p.set_id = b.set_id AND p.account_id = b.account_id
             AND p.week = b.week - INTERVAL 7 DAY
        LEFT JOIN accounts a ON a.account_id = b.account_id
        LEFT JOIN account_csm o ON o.account_id = b.account_id
        WHERE b.set_id = $s AND b.week = (SELECT week FROM w) AND b.score <> p.score AND {SEGMENT_CSM_SQL}
        ORDER BY abs(b.score - p.score) DESC, b.account_id
        LIMIT $n
        """, {"s": set_id, "w": week, "n": n, "segment": segment, "csm": csm})
    names = info["factors"]
    P1 = np.array(df["points"].tolist(), dtype=float).reshape(len(df), len(names))
    P0 = np.array(df["points_before"].tolist(), dtype=float).reshape(len(df), len(names))
    out = df.drop(columns=["points", "points_before"])
    for j, nme in enumerate(names):
        out[f"delta_{nme}"] = np.round(P1[:, j] - P0[:, j], 2)
    return out


def latest_week(cur: store.Cursor, set_id: int) -> dt.date:
    return pd.Timestamp(store.query_rows(cur, "SELECT max(week) FROM health_snapshots WHERE set_id = ?",
                                         [set_id])[0][0]).date()


def weeks_of(cur: store.Cursor, set_id: int) -> list[dt.date]:
    return [pd.Timestamp(r[0]).date() for r in store.query_rows(
        cur, "SELECT DISTINCT week FROM health_snapshots WHERE set_id = ? ORDER BY 1", [set_id])]


# ----------------------------------------------------------------- why it moved


def compare(cur: store.Cursor, cfg: Config, before: dt.date, after: dt.date,
            account_ids: list[str] | None = None) -> pd.DataFrame:
    """Scores at after with score_before (at before), delta and delta_<factor> (they sum to delta).

    Accounts with ARR at after; score_before is empty for those without ARR at before.
    With account_ids, only those accounts (computed for them alone).
    """
    inp = factors.inputs(cur)
    if account_ids is None:
        a = scores_on(cur, cfg, [after], inp)
        b = scores_on(cur, cfg, [before], inp)
    else:
        units = pd.DataFrame({"account_id": list(account_ids) * 2,
                              "t": [after] * len(account_ids) + [before] * len(account_ids)})
        raw = factors.raw_values(cur, inp, units=units)
        raw = raw[raw["arr_now"].fillna(0).astype(float) > 0]
        sf = score_frame(cfg, raw.reset_index(drop=True), inp)
        a, b = sf[sf["t"] == pd.Timestamp(after)], sf[sf["t"] == pd.Timestamp(before)]
    pcols = [f"points_{n}" for n in cfg.names]
    m = a.merge(b[["account_id", "score", *pcols]].rename(columns={"score": "score_before",
                                                                   **{c: c + "__b" for c in pcols}}),
                on="account_id", how="left")
    m["delta"] = np.round(m["score"] - m["score_before"], 2)
    for n in cfg.names:
        m[f"delta_{n}"] = np.round(m[f"points_{n}"] - m[f"points_{n}__b"], 2)
    return m.drop(columns=[c + "__b" for c in pcols]).reset_index(drop=True)


CLI_COLUMNS = ["account_id", "segment", "csm_id", "stage", "score", "band", "config_version"]


def cli_table(cur: store.Cursor, as_of: dt.date, before: dt.date | None = None) -> pd.DataFrame:
    """`python -m app health`: CLI_COLUMNS then points_<factor>; with before, score_before, delta, delta_<factor>.

    The config in use (fitted and saved first if this data has none yet); one row per account with ARR at as_of.
    """
    cfg = config(cur)
    pcols = [f"points_{n}" for n in cfg.names]
    if before is None:
        df = scores_on(cur, cfg, [as_of])
        extra: list[str] = []
    else:
        df = compare(cur, cfg, before, as_of)
        extra = ["score_before", "delta", *(f"delta_{n}" for n in cfg.names)]
    df = df.assign(config_version=cfg.version).sort_values("account_id", ignore_index=True)
    return df[[*CLI_COLUMNS, *pcols, *extra]]


def explain(cur: store.Cursor, cfg: Config, account_id: str, before: dt.date, after: dt.date) -> pd.DataFrame:
    """One account's change between two dates, factor by factor, in plain words.

    factor, label, before (words), after (words), points_before, points, delta, text; largest |delta|
    first. The deltas sum to the change in score.
    """
    inp = factors.inputs(cur)
    units = pd.DataFrame({"account_id": [account_id, account_id], "t": [before, after]})
    raw = factors.raw_values(cur, inp, units=units)
    raw["t"] = pd.to_datetime(raw["t"]).dt.date.astype(object)
    X = factors.values(raw, inp)
    _, P = scorecard.score(cfg, X)
    ib = int(np.flatnonzero(raw["t"].to_numpy() == before)[0])
    ia = int(np.flatnonzero(raw["t"].to_numpy() == after)[0])
    rows = []
    for j, f in enumerate(cfg.factors):
        wb, wa = describe(f, raw.iloc[ib], X.iloc[ib], inp), describe(f, raw.iloc[ia], X.iloc[ia], inp)
        d = round(P[ia, j] - P[ib, j], 2)
        text = f"{f.label}: {wa}" + (f" (was {wb})" if wb != wa else "") + f", {d:+.1f} points"
        rows.append((f.name, f.label, wb, wa, P[ib, j], P[ia, j], d, text))
    out = pd.DataFrame(rows, columns=["factor", "label", "before", "after", "points_before", "points", "delta",
                                      "text"])
    return out.reindex(out["delta"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)


def _num(v) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return x


def describe(f: scorecard.Factor, raw: pd.Series, x: pd.Series, inp: factors.Inputs) -> str:
    """A factor's value in words ('logins down 40% over 3 months', 'NPS 3 (detractor)')."""
    v = x.get(f.name, float("nan")) if f.kind != "x_cat" else x.get(f.name)
    if f.kind in ("level", "trend"):
        i = list(inp.metric_keys).index(f.name.rsplit("_", 1)[0])
        metric = inp.usage_metrics[i].replace("_", " ")
        last = _num(raw.get(f"u{i}_last"))
        if f.kind == "level":
            return f"no {metric} last month" if math.isnan(last) else f"{metric} {last:,.0f} last month"
        t = _num(v)
        if math.isnan(t):
            return f"{metric} trend unknown"
        if abs(t) < 0.005:
            return f"{metric} flat over 3 months"
        return f"{metric} {'down' if t < 0 else 'up'} {abs(t) * 100:.0f}% over 3 months"
    if f.kind == "utilisation":
        u = _num(v)
        return "seat utilisation unknown" if math.isnan(u) else f"seat utilisation {u * 100:.0f}%"
    if f.kind == "nps":
        s = _num(v)
        if math.isnan(s):
            return "no NPS answer in 12 months"
        return f"NPS {s:.0f} ({'detractor' if s <= 6 else 'passive' if s <= 8 else 'promoter'})"
    if f.kind == "tickets":
        n = _num(v)
        return f"{n:.0f} ticket{'s' if n != 1 else ''} in 13 weeks"
    if f.kind == "high_tickets":
        n = _num(v)
        return f"{n:.0f} high/urgent ticket{'s' if n != 1 else ''} in 13 weeks"
    if f.kind == "tenure":
        t = _num(v)
        return "tenure unknown" if math.isnan(t) else (f"{t:.0f} months as a customer" if t < 24
                                                        else f"{t / 12:.1f} years as a customer")
    if f.kind == "contraction":
        c = _num(v)
        if math.isnan(c):
            return "no ARR 12 months ago"
        if abs(c) < 0.005:
            return "ARR flat over 12 months"
        return f"ARR {'down' if c < 0 else 'up'} {abs(c) * 100:.0f}% over 12 months"
    col = f.name[2:].replace("_", " ")
    return f"{col} unknown" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{col} {v}"
