"""ARR derivation from line items, the bridge categories and derived contracts, on hand-computed cases."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from app.data import store
from app.data.schema import quote_ident
from tests.conftest import d, make_store


def subs(rows: list[tuple]) -> pd.DataFrame:
    """rows: (account_id, start, end or None, arr, billing_period_months or None)."""
    return pd.DataFrame({
        "subscription_id": [f"s{i}" for i in range(len(rows))],
        "account_id": [r[0] for r in rows],
        "product": "core",
        "start_date": [d(r[1]) for r in rows],
        "end_date": [d(r[2]) if r[2] else None for r in rows],
        "arr": [float(r[3]) for r in rows],
        "quantity": 1.0,
        "billing_period_months": [r[4] if len(r) > 4 else None for r in rows],
    })


def accounts(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"account_id": ids, "segment": "SMB"})


def monthly(cur) -> dict[tuple[str, str], float]:
    df = store.query_df(cur, "SELECT account_id, month, arr FROM arr_monthly")
    return {(r.account_id, pd.Timestamp(r.month).strftime("%Y-%m")): r.arr for r in df.itertuples()}


def test_partial_months_overlaps_open_ended_and_several_lines(tmp_path):
    cur = make_store(tmp_path / "s.duckdb", {
        "accounts": accounts(["A", "B", "C"]),
        "subscriptions": subs([
            ("A", "2024-01-15", "2024-04-15", 1200),  # active on Jan 31 .. Mar 31, not Apr 30
            ("A", "2024-03-01", None, 600),            # open-ended from March
            ("B", "2024-02-10", "2024-02-20", 9999),  # starts and ends inside February: never at a month end
            ("B", "2024-02-29", "2024-03-01", 500),    # active on Feb 29 only (end exclusive)
            ("C", "2024-01-01", "2024-07-01", 100),    # two overlapping lines add up
            ("C", "2024-01-01", "2024-03-31", 50),     # end Mar 31 exclusive: not active on Mar 31
        ]),
    }, "2024-05-31")
    m = monthly(cur)
    assert m[("A", "2024-01")] == 1200
    assert m[("A", "2024-02")] == 1200
    assert m[("A", "2024-03")] == 1800
    assert m[("A", "2024-04")] == 600
    assert m[("A", "2024-05")] == 600
    assert ("A", "2024-06") not in m  # nothing past the as-of month
    assert m[("B", "2024-02")] == 500
    assert ("B", "2024-03") not in m
    assert m[("C", "2024-01")] == 150
    assert m[("C", "2024-02")] == 150
    assert m[("C", "2024-03")] == 100


def test_bridge_categories_churn_reactivation_contraction(tmp_path):
    cur = make_store(tmp_path / "s.duckdb", {
        "accounts": accounts(["A", "B"]),
        "subscriptions": subs([
            ("A", "2024-01-01", "2024-03-01", 1000),  # Jan, Feb
            ("A", "2024-05-01", None, 1500),          # back in May: reactivation
            ("B", "2024-01-01", "2024-02-01", 2000),  # Jan at 2000
            ("B", "2024-02-01", "2024-04-01", 800),   # Feb, Mar at 800: contraction in Feb
        ]),
    }, "2024-05-31")
    df = store.query_df(cur, "SELECT account_id, strftime(month, '%Y-%m') AS m, prev_arr, arr, category "
                             "FROM arr_bridge_account ORDER BY 1, 2")
    got = {(r.account_id, r.m): (r.prev_arr, r.arr, r.category) for r in df.itertuples()}
    assert got[("A", "2024-01")] == (0, 1000, "new")
    assert got[("A", "2024-02")] == (1000, 1000, "flat")
    assert got[("A", "2024-03")] == (1000, 0, "churn")
    assert ("A", "2024-04") not in got  # dormant months are not rows
    assert got[("A", "2024-05")] == (0, 1500, "reactivation")
    assert got[("B", "2024-02")] == (2000, 800, "contraction")
    assert got[("B", "2024-04")] == (800, 0, "churn")


def test_bridge_identity_on_hand_case(tmp_path):
    cur = make_store(tmp_path / "s.duckdb", {
        "accounts": accounts(["A", "B"]),
        "subscriptions": subs([("A", "2024-01-01", "2024-03-01", 1000), ("A", "2024-05-01", None, 1500),
                               ("B", "2024-01-01", "2024-02-01", 2000), ("B", "2024-02-01", "2024-04-01", 800)]),
    }, "2024-05-31")
    rows = store.query_rows(cur, """
        SELECT month, sum(prev_arr), sum(arr),
               sum(CASE WHEN category IN ('new','reactivation','expansion') THEN arr - prev_arr ELSE 0 END),
               sum(CASE WHEN category IN ('contraction','churn') THEN prev_arr - arr ELSE 0 END)
        FROM arr_bridge_account GROUP BY month ORDER BY month""")
    for _, start, end, up, down in rows:
        assert start + up - down == pytest.approx(end)


def test_derived_contracts_monthly_and_annual(tmp_path):
    cur = make_store(tmp_path / "s.duckdb", {
        "accounts": accounts(["M", "Y", "L"]),
        "subscriptions": subs([
            ("M", "2024-01-10", "2024-04-10", 1200, 1),   # monthly: renewals Feb 10, Mar 10, then ends Apr 10
            ("Y", "2023-06-01", "2024-06-01", 10000, 12),  # annual term...
            ("Y", "2024-06-01", "2025-06-01", 12000, 12),  # ...renewed with expansion
            ("L", "2023-03-01", "2024-03-01", 5000, 12),  # ends...
            ("L", "2024-03-20", "2025-03-20", 5000, 12),  # ...renewed 19 days late: still a renewal
        ]),
    }, "2024-12-31")
    df = store.query_df(cur, "SELECT account_id, strftime(end_date, '%Y-%m-%d') AS e, arr, outcome, renewed_arr "
                             "FROM renewals ORDER BY 1, 2")
    got = {(r.account_id, r.e): (r.arr, r.outcome, r.renewed_arr) for r in df.itertuples()}
    assert got[("M", "2024-02-10")] == (1200, "renewed", 1200)
    assert got[("M", "2024-03-10")] == (1200, "renewed", 1200)
    assert got[("M", "2024-04-10")] == (1200, "churned", 0)
    assert got[("Y", "2024-06-01")] == (10000, "expanded", 12000)
    assert got[("L", "2024-03-01")] == (5000, "renewed", 5000)
    # Future renewal dates are open (outcome unknown), so the forecast can see them.
    assert got[("Y", "2025-06-01")][1] is None or pd.isna(got[("Y", "2025-06-01")][1])


def test_renewal_grace_period_boundary(tmp_path):
    # store.RENEWAL_GRACE_DAYS = 31: a line starting 30 days after the old end renews it, 31 days does not
    assert store.RENEWAL_GRACE_DAYS == 31
    cur = make_store(tmp_path / "s.duckdb", {
        "accounts": accounts(["IN", "OUT"]),
        "subscriptions": subs([
            ("IN", "2023-03-01", "2024-03-01", 5000, 12), ("IN", "2024-03-31", "2025-03-31", 6000, 12),
            ("OUT", "2023-03-01", "2024-03-01", 5000, 12), ("OUT", "2024-04-01", "2025-04-01", 6000, 12),
        ]),
    }, "2024-12-31")
    got = dict(((a, o), r) for a, o, r in store.query_rows(
        cur, "SELECT account_id, outcome, renewed_arr FROM renewals WHERE end_date = DATE '2024-03-01'"))
    assert got == {("IN", "expanded"): 6000, ("OUT", "churned"): 0}


def test_imported_contracts_take_precedence(tmp_path):
    contracts = pd.DataFrame({"contract_id": ["c1"], "account_id": ["Y"], "start_date": [d("2023-06-01")],
                              "end_date": [d("2024-06-01")], "arr": [100.0], "outcome": ["churned"],
                              "renewed_arr": [0.0]})
    cur = make_store(tmp_path / "s.duckdb", {
        "accounts": accounts(["Y"]), "subscriptions": subs([("Y", "2023-06-01", "2024-06-01", 100, 12)]),
        "contracts": contracts}, "2024-12-31")
    df = store.query_df(cur, "SELECT contract_id, source FROM renewals")
    assert df.to_dict("records") == [{"contract_id": "c1", "source": "imported"}]


def test_default_as_of_is_last_complete_month_end():
    assert store.default_as_of(dt.date(2026, 11, 25)) == dt.date(2026, 10, 31)
    assert store.default_as_of(dt.date(2024, 3, 1)) == dt.date(2024, 2, 29)


def test_db_path_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("CS_DB", str(tmp_path / "env.duckdb"))
    assert store.db_path() == tmp_path / "env.duckdb"
    assert store.db_path(tmp_path / "x.duckdb") == tmp_path / "x.duckdb"
    monkeypatch.delenv("CS_DB")
    assert store.db_path() == store.DEFAULT_DB


def test_write_table_refuses_unsafe_identifiers(empty_cur):
    with pytest.raises(ValueError):
        quote_ident('x"; DROP TABLE accounts; --')


def test_imported_contracts_take_the_one_outcome_rule(tmp_path):
    """An outcome left empty next to a renewed ARR gets the rule's outcome in the renewals view, once."""
    from app.data import importer

    cur = store.connect(tmp_path / "c.duckdb")
    assert importer.import_file(cur, "accounts", b"account_id\nA\nB\nC\nD\nE\n", "a.csv").ok
    csv = (b"contract_id,account_id,start_date,end_date,arr,renewed_arr,outcome\n"
           b"k1,A,2023-01-01,2024-01-01,100,0,\nk2,B,2023-01-01,2024-01-01,100,80,\n"
           b"k3,C,2023-01-01,2024-01-01,100,120,\nk4,D,2023-01-01,2024-01-01,100,100,\n"
           b"k5,E,2023-01-01,2024-01-01,100,,churned\n")
    assert importer.import_file(cur, "contracts", csv, "c.csv").ok
    got = dict(cur.execute("SELECT contract_id, outcome || ':' || renewed FROM renewals ORDER BY 1").fetchall())
    assert got == {"k1": "churned:0.0", "k2": "downgraded:80.0", "k3": "expanded:120.0", "k4": "renewed:100.0",
                   "k5": "churned:0.0"}
    # the stored rows keep what the file said: the rule is applied when read, in one place
    assert cur.execute("SELECT count(*) FROM contracts WHERE outcome IS NULL").fetchall() == [(4,)]
    cur.close()


def test_an_older_store_is_rebuilt_to_the_current_derived_version(tmp_path):
    path = tmp_path / "old.duckdb"
    con = store.connect(path)
    store.set_meta(con, "derived_version", "1")
    con.execute("CREATE OR REPLACE VIEW renewals AS SELECT 1 AS x")  # an old shape
    con.close()
    con = store.connect(path)
    assert store.get_meta(con, "derived_version") == store.DERIVED_VERSION
    assert "renewed" in store.columns_of(con, "renewals")
    con.close()


def test_pinned_meta_answers_from_one_read_and_a_write_unpins(tmp_path):
    """The app's per-run read cursor reads the meta table once (store.pin_meta); set_meta on it unpins."""
    con = store.connect(tmp_path / "pin.duckdb")
    store.set_meta(con, "k", "1")
    store.pin_meta(con)
    con.execute("UPDATE meta SET value = '9' WHERE key = 'k'")  # behind the pin's back
    assert store.get_meta(con, "k") == "1" and store.get_meta(con, "absent") is None
    store.set_meta(con, "k", "2")
    assert store.get_meta(con, "k") == "2"
    store.pin_meta(con)
    store.unpin_meta(con)
    con.execute("UPDATE meta SET value = '3' WHERE key = 'k'")
    assert store.get_meta(con, "k") == "3"
    con.close()
