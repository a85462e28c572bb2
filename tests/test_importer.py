"""Import: mapping, every validation rule, the bad-file corpus, modes, atomicity and the import log."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from app.data import importer, store
from app.present import export
from tests.conftest import BADFILES


def imp(cur, kind, name, **kw):
    return importer.import_file(cur, kind, (BADFILES / name).read_bytes(), name, **kw)


def rows(cur, table):
    return store.query_df(cur, f"SELECT * FROM {table}")


# ------------------------------------------------------------------ mapping

@pytest.mark.parametrize("src,target", [
    ("Account ID", "account_id"), ("customer_id", "account_id"), ("AccountId", "account_id"),
    ("MRR", "mrr"), ("Monthly Recurring Revenue", "mrr"), ("ARR", "arr"), ("Start Date", "start_date"),
    ("period_start", "start_date"), ("Period End", "end_date"), ("Seats", "quantity"),
])
def test_synonyms_map_to_canonical_columns(src, target):
    assert importer.propose_mapping("subscriptions", [src])[src] == target


def test_arr_wins_over_mrr_when_both_present():
    m = importer.propose_mapping("subscriptions", ["ARR", "MRR", "customer"])
    assert m == {"ARR": "arr", "MRR": "", "customer": "account_id"}


def test_mrr_is_stored_as_twelve_times(two_accounts_cur):
    data = b"customer_id,Start Date,Monthly Recurring Revenue\nA-1,2024-01-01,100.50\nA-2,2024-01-01,\"$1,000\"\n"
    r = importer.import_file(two_accounts_cur, "subscriptions", data, "s.csv")
    assert r.ok, r.message
    assert any("MRR" in n for n in r.notes)
    got = dict(store.query_rows(two_accounts_cur, "SELECT account_id, arr FROM subscriptions"))
    assert got == {"A-1": 1206.0, "A-2": 12000.0}


def test_mapping_override_and_unknown_target(two_accounts_cur):
    data = b"who,when,amount\nA-1,2024-01-01,1200\n"
    bad = importer.import_file(two_accounts_cur, "subscriptions", data, "s.csv", mapping={"who": "nonsense"})
    assert not bad.ok and any(p.column == "who" and "target" in p.expected for p in bad.problems)
    ok = importer.import_file(two_accounts_cur, "subscriptions", data, "s.csv",
                              mapping={"who": "account_id", "when": "start_date", "amount": "arr"})
    assert ok.ok, ok.message
    assert store.query_rows(two_accounts_cur, "SELECT account_id, arr FROM subscriptions") == [("A-1", 1200.0)]


def test_extra_account_columns_are_kept(empty_cur):
    data = b"Account ID,Name,Employees,Plan Tier,1st touch\nA-1,Acme,10,gold,x\n"
    r = importer.import_file(empty_cur, "accounts", data, "a.csv")
    assert r.ok, r.message
    cols = store.columns_of(empty_cur, "accounts")
    assert {"employees", "plan_tier", "c_1st_touch"} <= set(cols)
    assert store.query_rows(empty_cur, "SELECT employees, plan_tier FROM accounts") == [("10", "gold")]


def test_hostile_column_names_become_safe_identifiers(empty_cur):
    data = b'Account ID,"x""; DROP TABLE accounts; --"\nA-1,1\n'
    r = importer.import_file(empty_cur, "accounts", data, "a.csv")
    assert r.ok, r.message
    assert "x_drop_table_accounts" in store.columns_of(empty_cur, "accounts")
    assert store.query_rows(empty_cur, "SELECT count(*) FROM accounts") == [(1,)]


# ------------------------------------------------------------------ formats

@pytest.mark.parametrize("name", ["semicolon.csv", "tab_delimited.tsv", "utf8_bom.csv", "latin1.csv"])
def test_delimiters_and_encodings_are_detected(empty_cur, name):
    r = imp(empty_cur, "accounts", name)
    assert r.ok, r.message
    ids = sorted(v for (v,) in store.query_rows(empty_cur, "SELECT account_id FROM accounts"))
    assert ids[0] == "A-1"


def test_latin1_names_are_decoded(empty_cur):
    r = imp(empty_cur, "accounts", "latin1.csv")
    assert any("Latin-1" in n for n in r.notes)
    names = {n for (n,) in store.query_rows(empty_cur, "SELECT name FROM accounts")}
    assert names == {"Société Générale", "Müller GmbH"}


def test_excel_first_sheet_by_default_named_sheet_on_request(empty_cur):
    first = imp(empty_cur, "accounts", "several_sheets.xlsx")
    assert not first.ok and "account_id" in first.message
    named = imp(empty_cur, "accounts", "several_sheets.xlsx", sheet="Accounts")
    assert named.ok, named.message
    assert store.query_rows(empty_cur, "SELECT count(*) FROM accounts") == [(2,)]
    missing = imp(empty_cur, "accounts", "several_sheets.xlsx", sheet="Nope")
    assert not missing.ok and "Nope" in missing.message


def test_excel_formulas_are_not_imported_as_formulas(empty_cur):
    r = imp(empty_cur, "accounts", "formulas.xlsx")
    assert r.ok, r.message
    names = dict(store.query_rows(empty_cur, "SELECT account_id, name FROM accounts"))
    # Cells hold formulas without cached values: read as empty, never as formula text.
    assert names["A-1"] is None and names["A-2"] == "Beta"


def test_parquet_import(two_accounts_cur, tmp_path):
    df = pd.DataFrame({"account_id": ["A-1"], "start_date": pd.to_datetime(["2024-02-01"]), "arr": [500.0]})
    buf = io.BytesIO()
    df.to_parquet(buf)
    r = importer.import_file(two_accounts_cur, "subscriptions", buf.getvalue(), "s.parquet")
    assert r.ok, r.message
    assert store.query_rows(two_accounts_cur, "SELECT strftime(start_date, '%Y-%m-%d'), arr FROM subscriptions") \
        == [("2024-02-01", 500.0)]


def test_dates_iso_us_eu_and_format_option():
    s = pd.Series(["2024-01-31", "01/31/2024", "", "5 Jan 2024"])
    parsed, problem = importer.parse_dates(s)
    assert problem is None
    assert [x.strftime("%Y-%m-%d") if pd.notna(x) else None for x in parsed] == \
        ["2024-01-31", "2024-01-31", None, "2024-01-05"]
    eu, problem = importer.parse_dates(pd.Series(["31/01/2024", "02/03/2024"]))
    assert problem is None and eu[1].strftime("%Y-%m-%d") == "2024-03-02"  # day-first decided by 31/01
    amb, problem = importer.parse_dates(pd.Series(["03/04/2024"]))
    assert problem and "date format" in problem
    fixed, problem = importer.parse_dates(pd.Series(["03/04/2024"]), "%d/%m/%Y")
    assert problem is None and fixed[0].strftime("%Y-%m-%d") == "2024-04-03"


# ------------------------------------------------------------------ the bad-file corpus

@pytest.mark.parametrize("name,kind,expect", [
    ("wrong_delimiter.csv", "accounts", "delimited by something other"),
    ("missing_columns.csv", "subscriptions", "a column mapped to 'start_date'"),
    ("duplicate_ids.csv", "accounts", "a unique account_id (first seen at row 2)"),
    ("negative_amounts.csv", "subscriptions", "a non-negative amount"),
    ("end_before_start.csv", "subscriptions", "an end_date on or after start_date"),
    ("mixed_date_formats.csv", "subscriptions", "one day/month order"),
    ("ambiguous_dates.csv", "subscriptions", "pass a date format"),
    ("empty.csv", "accounts", "the file is empty"),
    ("header_only.csv", "accounts", "at least one data row"),
    ("garbage.xlsx", "accounts", "a readable Excel file"),
    ("unquoted_thousands.csv", "subscriptions", "4 fields, as in the header (found 5): a value holding the "
                                                "delimiter ',' must be in double quotes"),
])
def test_bad_files_are_refused_with_a_precise_message(two_accounts_cur, name, kind, expect):
    before = rows(two_accounts_cur, "accounts")
    r = imp(two_accounts_cur, kind, name)
    assert not r.ok
    assert expect in r.message
    assert name in r.message and "Nothing in the store was changed" in r.message
    pd.testing.assert_frame_equal(rows(two_accounts_cur, "accounts"), before)


def test_problem_names_file_row_column_value_and_expectation(two_accounts_cur):
    r = imp(two_accounts_cur, "subscriptions", "negative_amounts.csv")
    p = next(p for p in r.problems if "non-negative" in p.expected)
    assert (p.file, p.row, p.column, p.value) == ("negative_amounts.csv", 2, "ARR", "-1200")


def test_many_problems_are_listed_at_once(two_accounts_cur):
    r = imp(two_accounts_cur, "subscriptions", "many_problems.csv")
    kinds = {(p.row, p.column) for p in r.problems}
    assert {(2, "ARR"), (3, "Start Date"), (4, "customer_id")} <= kinds  # A-3 is not a known account
    assert r.total_problems >= 3


def test_iso_and_us_dates_in_one_column_are_accepted(two_accounts_cur):
    r = imp(two_accounts_cur, "subscriptions", "iso_and_us_dates.csv")
    assert r.ok, r.message
    got = store.query_rows(two_accounts_cur, "SELECT account_id, strftime(start_date, '%Y-%m-%d'), "
                                             "strftime(end_date, '%Y-%m-%d') FROM subscriptions ORDER BY 1")
    assert got == [("A-1", "2024-01-15", None), ("A-2", "2024-01-31", "2024-12-31")]


def test_unknown_accounts_are_rejected(two_accounts_cur):
    data = b"account_id,start_date,arr\nZZZ,2024-01-01,100\n"
    r = importer.import_file(two_accounts_cur, "subscriptions", data, "s.csv")
    assert not r.ok and "present in accounts" in r.message and "ZZZ" in r.message


def test_replacing_accounts_that_would_orphan_subscriptions_is_refused(two_accounts_cur):
    ok = importer.import_file(two_accounts_cur, "subscriptions", b"account_id,start_date,arr\nA-2,2024-01-01,100\n",
                              "s.csv")
    assert ok.ok, ok.message
    r = importer.import_file(two_accounts_cur, "accounts", b"account_id\nA-1\n", "a.csv")
    assert not r.ok and "without their account" in r.message
    assert store.query_rows(two_accounts_cur, "SELECT count(*) FROM accounts") == [(2,)]


# ------------------------------------------------------------------ modes, atomicity, log

def test_append_adds_rows_and_refuses_existing_keys(two_accounts_cur):
    r = importer.import_file(two_accounts_cur, "accounts", b"account_id,name\nA-3,Gamma\n", "a.csv", mode="append")
    assert r.ok, r.message
    assert store.query_rows(two_accounts_cur, "SELECT count(*) FROM accounts") == [(3,)]
    clash = importer.import_file(two_accounts_cur, "accounts", b"account_id,name\nA-1,Again\n", "a.csv",
                                 mode="append")
    assert not clash.ok and "not already stored" in clash.message


def test_replace_replaces(two_accounts_cur):
    importer.import_file(two_accounts_cur, "subscriptions", b"account_id,start_date,arr\nA-1,2024-01-01,100\n", "s.csv")
    r = importer.import_file(two_accounts_cur, "subscriptions", b"account_id,start_date,arr\nA-2,2024-01-01,7\n",
                             "s.csv")
    assert r.ok
    assert store.query_rows(two_accounts_cur, "SELECT account_id, arr FROM subscriptions") == [("A-2", 7.0)]


def test_failure_mid_import_leaves_store_exactly_as_it_was(two_accounts_cur, monkeypatch):
    good = b"account_id,start_date,arr\nA-1,2024-01-01,100\n"
    assert importer.import_file(two_accounts_cur, "subscriptions", good, "s.csv").ok
    before = {t: rows(two_accounts_cur, t) for t in ("accounts", "subscriptions", "arr_monthly", "contracts_derived")}

    def boom(cur):
        raise RuntimeError("disk full (injected)")

    monkeypatch.setattr(store, "rebuild_derived", boom)  # fails after the table was written
    r = importer.import_file(two_accounts_cur, "subscriptions", b"account_id,start_date,arr\nA-2,2024-01-01,5\n",
                             "s2.csv")
    assert not r.ok and "injected" in r.message
    for t, df in before.items():
        pd.testing.assert_frame_equal(rows(two_accounts_cur, t), df)


def test_every_attempt_is_logged(two_accounts_cur):
    imp(two_accounts_cur, "accounts", "duplicate_ids.csv")
    imp(two_accounts_cur, "accounts", "semicolon.csv")
    log = store.import_history(two_accounts_cur)
    assert list(log["outcome"][:2]) == ["ok", "refused"]
    assert list(log["file_name"][:2]) == ["semicolon.csv", "duplicate_ids.csv"]
    assert log["sha256"].iloc[0] == importer.sha256((BADFILES / "semicolon.csv").read_bytes())
    assert "duplicate" in log["message"].iloc[1] or "unique" in log["message"].iloc[1]


def test_exports_neutralise_formulas():
    df = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "ok"], "n": [-1, 2, 3, 4, 5, 6]})
    csv = export.to_csv_bytes(df).decode()
    assert "'=HYPERLINK" in csv and "'+1" in csv and "'-2" in csv and "'@SUM" in csv
    assert pd.read_csv(io.StringIO(csv))["n"].tolist() == [-1, 2, 3, 4, 5, 6]  # numbers are untouched
    xlsx = export.to_xlsx_bytes({"t": df})
    back = pd.read_excel(io.BytesIO(xlsx))
    assert back["name"].tolist()[0].startswith("'=")


def test_numbers_as_exported_fast_and_slow_paths():
    clean = pd.Series(["1", " 2.5 ", "", "1e3"], dtype="str")
    assert importer._clean_number(clean).tolist()[:2] == [1.0, 2.5]
    assert pd.isna(importer._clean_number(clean)[2]) and importer._clean_number(clean)[3] == 1000.0
    messy = pd.Series(["1,234.50", "$1,000", "(123)", "abc", "7"], dtype="str")
    got = importer._clean_number(messy)
    assert got[:3].tolist() == [1234.5, 1000.0, -123.0] and pd.isna(got[3]) and got[4] == 7.0


def test_rows_with_more_or_fewer_fields_than_the_header_are_named(two_accounts_cur):
    """An unquoted 1,000 in row 2 and a short row 4: both named with their row, the file refused (pandas would
    otherwise take the first column for an index and shift every value)."""
    data = (b"customer_id,Start Date,End Date,ARR\nA-1,2024-01-01,2025-01-01,1,000\n"
            b"A-2,2024-01-01,2025-01-01,\"2,000\"\nA-2,2024-01-01,2025-01-01\n")
    r = importer.import_file(two_accounts_cur, "subscriptions", data, "ragged.csv")
    assert not r.ok
    assert [(p.row, p.value) for p in r.problems] == [(2, "A-1,2024-01-01,2025-01-01,1,000"),
                                                      (4, "A-2,2024-01-01,2025-01-01")]
    assert "found 5" in r.problems[0].expected and "found 3" in r.problems[1].expected
    assert rows(two_accounts_cur, "subscriptions").empty


def test_a_folder_of_parquet_parts_loads_as_one_table(two_accounts_cur, tmp_path):
    """What Spark and the usage rollup write (part files beside _SUCCESS and .crc) loads as one file would."""
    out = tmp_path / "usage_rollup"
    out.mkdir()
    part = pd.DataFrame({"account_id": ["A-1", "A-2"], "date": pd.to_datetime(["2024-03-01", "2024-03-01"]).date,
                         "metric": "logins", "value": [3.0, 5.0]})
    part.to_parquet(out / "part-00000.parquet", index=False)
    part.assign(metric="active_users", value=[1.0, 2.0]).to_parquet(out / "part-00001.parquet", index=False)
    (out / "_SUCCESS").write_bytes(b"")
    (out / ".part-00000.parquet.crc").write_bytes(b"\x00")
    r = importer.import_path(two_accounts_cur, "usage", out)
    assert r.ok, r.message
    got = rows(two_accounts_cur, "usage").sort_values(["metric", "account_id"])
    assert list(got["value"]) == [1.0, 2.0, 3.0, 5.0] and r.rows == 4
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    r = importer.import_path(two_accounts_cur, "usage", empty)
    assert not r.ok and "a folder of Parquet part files (found no *.parquet in it)" in r.message
