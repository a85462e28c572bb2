"""Properties of the bridge and retention on random line items (hypothesis)."""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.analytics import metrics
from app.data import importer, store

FIRST = dt.date(2022, 1, 1)
AS_OF = "2023-06-30"  # 18 months


def _day(offset_days: int) -> dt.date:
    return FIRST + dt.timedelta(days=offset_days)


line = st.tuples(
    st.sampled_from(["A", "B", "C", "D"]),
    st.integers(0, 540),  # start day
    st.one_of(st.none(), st.integers(0, 400)),  # length in days (None: open-ended); 0-30 may stay inside a month
    st.sampled_from([100.0, 250.0, 999.99, 1200.0, 5000.0]),
)


def _store(lines: list[tuple]) -> tuple[Path, store.Cursor]:
    subs = pd.DataFrame({
        "subscription_id": [f"s{i}" for i in range(len(lines))],
        "account_id": [a for a, *_ in lines],
        "start_date": pd.to_datetime([_day(s) for _, s, _, _ in lines]),
        "end_date": pd.to_datetime([None if n is None else _day(s + n + 1) for _, s, n, _ in lines]),
        "arr": [v for *_, v in lines],
    })
    accounts = pd.DataFrame({"account_id": ["A", "B", "C", "D"], "segment": ["SMB", "SMB", "Enterprise", None]})
    path = Path(tempfile.mkdtemp(prefix="bridgeprop_")) / "p.duckdb"
    con = store.connect(path)
    importer.load_frames(con, {"accounts": accounts, "subscriptions": subs}, as_of=AS_OF, label="prop")
    return path, con


def _direct_retention(cur: store.Cursor, w: int) -> pd.DataFrame:
    """The textbook computation: each account at m - w joined with itself at m (pandas, no spells)."""
    am = store.query_df(cur, "SELECT account_id, month, arr FROM arr_monthly")
    am["month"] = pd.to_datetime(am["month"])
    later = am.assign(month=am["month"] - pd.DateOffset(months=w)).rename(columns={"arr": "arr_end"})
    j = am.merge(later, on=["account_id", "month"], how="left").fillna({"arr_end": 0.0})
    j["capped"] = np.minimum(j["arr"], j["arr_end"])
    j["kept"] = (j["arr_end"] > 0).astype(int)
    g = j.groupby("month").agg(start=("arr", "sum"), capped=("capped", "sum"), net=("arr_end", "sum"),
                               n=("arr", "size"), kept=("kept", "sum")).reset_index()
    g["month"] = g["month"] + pd.DateOffset(months=w)
    asof_m = pd.Timestamp(AS_OF).replace(day=1)
    g = g[g["month"] <= asof_m]
    return pd.DataFrame({"month": g["month"], "grr": g["capped"] / g["start"], "nrr": g["net"] / g["start"],
                         "logo_retention": g["kept"] / g["n"]}).reset_index(drop=True)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line, min_size=1, max_size=12), st.sampled_from([1, 3, 12]))
def test_bridge_identities_and_retention_bounds(lines, window):
    path, cur = _store(lines)
    try:
        b = metrics.arr_bridge(cur)
        if b.empty:
            assert store.query_rows(cur, "SELECT count(*) FROM arr_monthly")[0][0] == 0
            return
        flows = b["start_arr"] + b["new"] + b["reactivation"] + b["expansion"] - b["contraction"] - b["churn"]
        assert np.allclose(flows, b["end_arr"], atol=0.01)
        assert np.allclose(b["end_arr"].iloc[:-1].to_numpy(), b["start_arr"].iloc[1:].to_numpy(), atol=0.01)
        logos = b["start_logos"] + b["new_logos"] + b["reactivated_logos"] - b["churned_logos"]
        assert (logos == b["end_logos"]).all()
        assert (b["end_logos"].iloc[:-1].to_numpy() == b["start_logos"].iloc[1:].to_numpy()).all()
        assert b["start_arr"].iloc[0] == 0
        # start ARR and logos agree with the per-account table's previous-month ARR
        prev = store.query_df(cur, "SELECT month, sum(prev_arr) AS s, count(CASE WHEN prev_arr > 0 THEN 1 END) "
                                   "AS n FROM arr_bridge_account GROUP BY month")
        prev = prev.set_index(pd.to_datetime(prev["month"]))[["s", "n"]].astype(float).reindex(b["month"],
                                                                                                fill_value=0.0)
        assert np.allclose(prev["s"].to_numpy(), b["start_arr"].to_numpy(), atol=0.01)
        assert (prev["n"].to_numpy() == b["start_logos"].to_numpy()).all()
        # the filtered bridges add up to the whole book's for accounts with a segment
        parts = sum(metrics.arr_bridge(cur, segment=s).set_index("month")["end_arr"].reindex(b["month"],
                                                                                             fill_value=0)
                    for s in ("SMB", "Enterprise"))
        d_only = store.query_df(cur, "SELECT month, sum(arr) AS arr FROM arr_monthly WHERE account_id = 'D' "
                                     "GROUP BY month")
        d_only = d_only.set_index(pd.to_datetime(d_only["month"]))["arr"].astype(float).reindex(b["month"],
                                                                                                 fill_value=0.0)
        assert np.allclose(parts.to_numpy() + d_only.to_numpy(), b["end_arr"].to_numpy(), atol=0.01)

        r = metrics.retention_series(cur, window_months=window)
        assert (r["grr"] <= 1 + 1e-9).all()
        assert (r["nrr"] >= r["grr"] - 1e-9).all()
        assert ((r["logo_retention"] >= 0) & (r["logo_retention"] <= 1)).all()
        direct = _direct_retention(cur, window)
        assert r["month"].tolist() == direct["month"].tolist()
        for c in ("grr", "nrr", "logo_retention"):
            assert np.allclose(r[c], direct[c], atol=1e-5), c
    finally:
        cur.close()
        shutil.rmtree(path.parent, ignore_errors=True)
