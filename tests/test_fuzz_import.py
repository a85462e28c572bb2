"""Fuzzed imports: whatever the bytes, shape or mapping, a clear report and an intact store."""
from __future__ import annotations

import string

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import cli
from app.data import importer, store
from app.data.schema import KINDS

cells = st.text(alphabet=string.printable + "éü€\u00a0", max_size=12)
headers = st.lists(st.sampled_from(["account_id", "Account ID", "customer", "Start Date", "end_date", "ARR", "MRR",
                                    "name", "segment", "date", "metric", "value", "score", "csm_id", "x", ""]) | cells,
                   min_size=1, max_size=6)


@st.composite
def csv_files(draw):
    cols = draw(headers)
    delim = draw(st.sampled_from([",", ";", "\t", "|", "#"]))
    n = draw(st.integers(0, 6))
    rows = [[draw(cells) for _ in cols] for _ in range(n)]
    text = "\n".join(delim.join(r) for r in [cols, *rows])
    enc = draw(st.sampled_from(["utf-8", "latin-1", "utf-8-sig"]))
    return text.encode(enc, errors="replace")


def snapshot(cur):
    return {k: store.query_df(cur, f"SELECT * FROM {k}") for k in ("accounts", "subscriptions", "arr_monthly")}


def assert_same(a, b):
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k])


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(data=st.binary(max_size=300), kind=st.sampled_from(list(KINDS)),
       name=st.sampled_from(["f.csv", "f.xlsx", "f.parquet", "f.txt"]))
def test_random_bytes_never_crash(two_accounts_cur, data, kind, name):
    before = snapshot(two_accounts_cur)
    report = importer.import_file(two_accounts_cur, kind, data, name)
    assert isinstance(report.message, str) and report.message
    if not report.ok:
        assert_same(before, snapshot(two_accounts_cur))
        assert all(p.file == name for p in report.problems)


@SETTINGS
@given(data=csv_files(), kind=st.sampled_from(list(KINDS)), mode=st.sampled_from(["replace", "append"]),
       mapping=st.none() | st.dictionaries(cells, st.sampled_from(["account_id", "arr", "start_date", "", "bogus"]),
                                           max_size=3))
def test_random_csv_shapes_and_mappings(two_accounts_cur, data, kind, mode, mapping):
    before = snapshot(two_accounts_cur)
    report = importer.import_file(two_accounts_cur, kind, data, "fuzz.csv", mode=mode, mapping=mapping)
    if not report.ok:
        assert "Nothing in the store was changed" in report.message
        assert "Traceback" not in report.message
        assert_same(before, snapshot(two_accounts_cur))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=csv_files(), kind=st.sampled_from(list(KINDS)))
def test_cli_load_never_tracebacks(tmp_path_factory, data, kind):
    d = tmp_path_factory.mktemp("fz")
    f = d / "in.csv"
    f.write_bytes(data)
    code = cli.main(["load", kind, str(f), "--db", str(d / "s.duckdb")])
    assert code in (0, 1)


def test_hostile_filter_and_mapping_values_are_harmless(two_accounts_cur):
    evil = "'; DROP TABLE accounts; --"
    r = importer.import_file(two_accounts_cur, "accounts", b"account_id,name\nX,y\n", "a.csv", mode="append",
                             mapping={evil: "account_id"})
    assert not r.ok and evil in r.message
    r = importer.import_file(two_accounts_cur, "accounts", f"account_id,name\n{evil},y\n".encode(), "a.csv",
                             mode="append")
    assert r.ok
    ids = {i for (i,) in store.query_rows(two_accounts_cur, "SELECT account_id FROM accounts")}
    assert ids == {"A-1", "A-2", evil}
