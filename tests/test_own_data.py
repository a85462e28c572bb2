"""From the sample company to one's own data; the as-of date the data implies; problem counts that add up."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from app.data import importer, store
from tests.conftest import d, make_store

CRM = (b"Customer ID,Company Name,Segment,Account Owner,Created Date\n"
       b"CUST-1,Acme,SMB,Jane Doe,01/15/2022\n"
       b"CUST-2,Beta,Enterprise,Raj Patel,12/31/2021\n"
       b"CUST-3,Gamma,Mid-Market,Jane Doe,03/02/2023\n")
BILLING = (b"Customer ID,Product,Start Date,End Date,MRR (USD),Billing Cycle\n"
           b"CUST-1,Core,02/15/2022,,1000,Monthly\n"
           b"CUST-2,Core,01/01/2022,,5000,Annual\n"
           b"CUST-3,Core,04/01/2023,04/01/2024,250,Monthly\n")


@pytest.fixture
def sample_cur(sample_copy: Path) -> store.Cursor:
    return store.connect(sample_copy)


def test_accounts_replace_over_the_sample_is_flagged_in_the_preview(sample_cur: store.Cursor) -> None:
    chk = importer.check(sample_cur, "accounts", CRM, "crm.csv", "replace")
    assert not chk.ok and chk.conflicts_with_stored
    assert any("subscriptions rows would be left without their account" in p.expected for p in chk.problems)
    # the CRM's own columns were understood: ids, owner (as the CSM), US dates
    assert chk.mapping["Customer ID"] == "account_id" and chk.mapping["Account Owner"] == "csm_id"
    assert chk.frame["created_at"].iloc[1] == pd.Timestamp("2021-12-31")


def test_replace_the_sample_in_one_step_then_load_billing(sample_cur: store.Cursor) -> None:
    assert store.sample_label(sample_cur) and store.as_of_pinned(sample_cur)
    rep = importer.import_file(sample_cur, "accounts", CRM, "crm.csv", "replace", clear_first=True)
    assert rep.ok, rep.message
    counts = store.row_counts(sample_cur)
    # exchange rates are settings: kept (app/sources/fx.py)
    assert counts["accounts"] == 3 and sum(v for k, v in counts.items() if k not in ("accounts", "fx_rates")) == 0
    assert store.sample_label(sample_cur) is None and not store.as_of_pinned(sample_cur)
    rep = importer.import_file(sample_cur, "subscriptions", BILLING, "billing.csv", "replace")
    assert rep.ok, rep.message
    # 12 x MRR: CUST-1 12,000 and CUST-2 60,000 run on; CUST-3 ended in April 2024
    asof = store.as_of(sample_cur)
    assert asof == store.default_as_of()
    arr = sample_cur.execute("SELECT sum(arr) FROM arr_monthly WHERE month = ?", [asof.replace(day=1)]).fetchall()
    assert arr[0][0] == pytest.approx(72_000)


def test_a_refused_clear_first_import_changes_nothing(sample_cur: store.Cursor) -> None:
    before = store.row_counts(sample_cur)
    bad = CRM + b"CUST-1,Dup,SMB,X,01/01/2022\n"  # duplicate id
    rep = importer.import_file(sample_cur, "accounts", bad, "crm.csv", "replace", clear_first=True)
    assert not rep.ok and "a unique account_id" in rep.message
    assert store.row_counts(sample_cur) == before and store.sample_label(sample_cur)
    rep = importer.import_file(sample_cur, "subscriptions", BILLING, "billing.csv", "replace", clear_first=True)
    assert not rep.ok and "import accounts first" in rep.message
    assert store.row_counts(sample_cur) == before


def test_start_empty_keeps_settings(sample_cur: store.Cursor) -> None:
    store.set_fiscal_year_start(sample_cur, 2)
    importer.start_empty(sample_cur)
    counts = store.row_counts(sample_cur)
    assert sum(v for k, v in counts.items() if k != "fx_rates") == 0 and counts["fx_rates"] > 0  # rates: settings
    assert store.sample_label(sample_cur) is None and store.fiscal_year_start(sample_cur) == 2
    assert store.as_of(sample_cur) == store.default_as_of()


def _lines(rows: list[tuple[str, str, str | None, float]]) -> dict[str, pd.DataFrame]:
    accounts = sorted({r[0] for r in rows})
    return {"accounts": pd.DataFrame({"account_id": accounts, "name": accounts}),
            "subscriptions": pd.DataFrame({
                "account_id": [r[0] for r in rows], "start_date": pd.to_datetime([r[1] for r in rows]),
                "end_date": pd.to_datetime([r[2] for r in rows]), "arr": [r[3] for r in rows],
                "billing_period_months": [1] * len(rows)})}


def test_as_of_follows_an_export_that_stopped_in_july_2023(tmp_path: Path) -> None:
    # one line per month per account (an invoice-line export) from Jan 2022 to Jul 2023
    rows = []
    for m in pd.date_range("2022-01-01", "2023-07-01", freq="MS"):
        for acc in ("A", "B"):
            rows.append((acc, m.date().isoformat(), (m + pd.DateOffset(months=1)).date().isoformat(), 1200.0))
    cur = make_store(tmp_path / "old.duckdb", _lines(rows), as_of=None)
    assert store.data_end(cur) == d("2023-07-01")
    assert store.as_of(cur) == d("2023-07-31")
    arr = cur.execute("SELECT max(month), sum(arr) FILTER (WHERE month = DATE '2023-07-01') FROM arr_monthly")
    assert arr.fetchall() == [(d("2023-07-01"), 2400.0)]


def test_as_of_is_the_last_complete_month_while_a_line_still_runs(tmp_path: Path) -> None:
    cur = make_store(tmp_path / "run.duckdb", _lines([("A", "2022-03-15", None, 1000.0)]), as_of=None)
    assert store.data_end(cur, dt.date(2026, 11, 30)) == dt.date(2026, 11, 30)
    assert store.auto_as_of(cur, dt.date(2026, 11, 30)) == dt.date(2026, 10, 31)  # November is not over
    assert store.auto_as_of(cur, dt.date(2026, 12, 1)) == dt.date(2026, 11, 30)


def test_as_of_pinned_by_the_user_rebuilds_the_derived_tables(tmp_path: Path) -> None:
    cur = make_store(tmp_path / "pin.duckdb", _lines([("A", "2022-03-15", None, 1000.0)]), as_of=None)
    v0 = store.data_version(cur)
    assert store.set_as_of(cur, d("2024-06-30")) == d("2024-06-30")
    assert store.as_of_pinned(cur) and store.data_version(cur) != v0
    assert cur.execute("SELECT max(month) FROM arr_monthly").fetchall() == [(d("2024-06-01"),)]
    with pytest.raises(store.StoreError, match="month end"):
        store.set_as_of(cur, d("2024-06-15"))
    assert store.set_as_of(cur, None) == store.default_as_of()
    choices = store.as_of_choices(cur)
    assert choices[0] == store.default_as_of() and choices[-1] == d("2022-03-31")
    assert all(c.month != (c + dt.timedelta(days=1)).month for c in choices)  # month ends only


def test_problem_counts_say_all_of_them(tmp_path: Path) -> None:
    cur = store.connect(tmp_path / "n.duckdb")
    csv = "account_id,name\n" + "".join(f"X{i},N{i}\n" for i in range(300))
    assert importer.import_file(cur, "accounts", csv.encode(), "a.csv", "append").ok
    chk = importer.check(cur, "accounts", csv.encode(), "a.csv", "append")
    assert chk.problem_total == 300 and len(chk.problems) == importer.MAX_PROBLEMS_SHOWN + 1
    rep = importer.import_file(cur, "accounts", csv.encode(), "a.csv", "append")
    assert rep.total_problems == 300 and "300 problem(s)" in rep.message


def test_sample_fixture_is_not_changed(sample_db: Path, tmp_path: Path) -> None:
    # guard: the tests above write to copies only
    shutil.copy(sample_db, tmp_path / "c.duckdb")
    con = store.connect(tmp_path / "c.duckdb")
    assert store.sample_label(con)


def test_an_ambiguous_date_column_takes_the_order_another_column_of_the_file_shows(tmp_path: Path) -> None:
    cur = store.connect(tmp_path / "o.duckdb")
    assert importer.import_file(cur, "accounts", CRM, "crm.csv", "replace").ok
    # Start Date has 02/15/2022 (month-first); End Date's only value 04/01/2024 is ambiguous: it follows
    rep = importer.import_file(cur, "subscriptions", BILLING, "billing.csv", "replace")
    assert rep.ok, rep.message
    ends = cur.execute("SELECT end_date FROM subscriptions WHERE end_date IS NOT NULL").fetchall()
    assert ends == [(d("2024-04-01"),)]
    # but when the file's columns disagree, nothing is guessed
    eu_and_us = BILLING.replace(b"04/01/2024", b"25/01/2024")
    rep = importer.import_file(cur, "subscriptions", eu_and_us, "billing.csv", "replace")
    assert rep.ok  # each column decides for itself when it can: End Date is day-first, Start Date month-first
    all_ambiguous = BILLING.replace(b"02/15/2022", b"02/01/2022")
    rep = importer.import_file(cur, "subscriptions", all_ambiguous, "billing.csv", "replace")
    assert not rep.ok and "pass a date format" in rep.message


def test_csm_names_from_the_roster_else_the_owner_text(tmp_path: Path) -> None:
    frames = {"accounts": pd.DataFrame({"account_id": ["A", "B", "C"], "csm_id": ["C1", "Raj Patel", None]}),
              "csms": pd.DataFrame({"csm_id": ["C1"], "name": ["Jane Doe"]})}
    cur = make_store(tmp_path / "csm.duckdb", frames, as_of="2024-12-31")
    got = cur.execute("SELECT account_id, csm_id, csm_name FROM account_csm ORDER BY 1").fetchall()
    assert got == [("A", "C1", "Jane Doe"), ("B", "Raj Patel", "Raj Patel"), ("C", None, None)]


def test_at_risk_list_names_csms(sample_copy: Path) -> None:
    from app.forecasting import renewals

    cur = store.connect(sample_copy)
    fc = renewals.summarise(renewals.score_due(cur), 3)
    t = renewals.at_risk_table(fc)
    roster = dict(cur.execute("SELECT csm_id, name FROM csms").fetchall())
    assert len(t) and (t["CSM"] == t["CSM id"].map(roster)).all()
    assert set(fc.by_csm["csm_name"]) <= set(roster.values())
