"""`python -m app`: the commands CS Ops runs from cron."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

from app import cli
from app.data import store
from tests.conftest import BADFILES, ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_load_status_export_round_trip(tmp_path):
    db = str(tmp_path / "c.duckdb")
    acc = tmp_path / "accounts.csv"
    acc.write_text("Customer ID,Company\nA-1,Acme\nA-2,Beta\n")
    subs = tmp_path / "subs.csv"
    subs.write_text("Client,Begin,Finish,Monthly Fee\nA-1,15.01.2024,15.03.2024,100\nA-2,01.02.2024,,50\n")
    assert cli.main(["load", "accounts", str(acc), "--db", db, "--map", "Company=name"]) == 0
    assert cli.main(["load", "subscriptions", str(subs), "--db", db, "--map", "Client=account_id",
                     "--map", "Begin=start_date", "--map", "Finish=end_date", "--date-format", "%d.%m.%Y"]) == 0
    out = tmp_path / "arr.csv"
    assert cli.main(["export", "arr-monthly", "--db", db, "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["account_id", "month", "arr"]
    a1 = df[df.account_id == "A-1"]
    assert a1["month"].tolist() == ["2024-01-01", "2024-02-01"] and a1["arr"].tolist() == [1200.0, 1200.0]
    assert (df["arr"] > 0).all()
    pq = tmp_path / "arr.parquet"
    assert cli.main(["export", "arr-monthly", "--db", db, "--format", "parquet", "--out", str(pq)]) == 0
    assert len(pd.read_parquet(pq)) == len(df)


def test_load_failure_exits_non_zero_with_message_and_store_unchanged(tmp_path):
    db = tmp_path / "c.duckdb"
    r = run("load", "accounts", str(BADFILES / "semicolon.csv"), "--db", str(db))
    assert r.returncode == 0, r.stderr
    r = run("load", "accounts", str(BADFILES / "duplicate_ids.csv"), "--db", str(db))
    assert r.returncode == 1
    assert "duplicate_ids.csv, row 4, column 'Account ID': got 'A-1' expected a unique account_id" in r.stderr
    cur = store.connect(db).cursor()
    assert store.query_rows(cur, "SELECT count(*) FROM accounts") == [(2,)]


def test_status_lists_tables_and_imports(tmp_path):
    db = tmp_path / "c.duckdb"
    run("load", "accounts", str(BADFILES / "semicolon.csv"), "--db", str(db))
    r = run("status", "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert "accounts" in r.stdout and "semicolon.csv" in r.stdout and "As of" in r.stdout


def test_missing_file_is_a_clear_error(tmp_path):
    r = run("load", "accounts", str(tmp_path / "nope.csv"), "--db", str(tmp_path / "c.duckdb"))
    assert r.returncode == 1 and "nope.csv" in r.stderr and "Traceback" not in r.stderr


def test_bad_map_argument(tmp_path):
    r = run("load", "accounts", str(BADFILES / "semicolon.csv"), "--db", str(tmp_path / "c.duckdb"), "--map", "x")
    assert r.returncode == 2 and "SOURCE=TARGET" in r.stderr


def test_metrics_renewal_rates_and_headwinds(tmp_path):
    """The per-period renewal rate and headwind/tailwind tables, as CSV, equal the library's."""
    from app.analytics import metrics

    db = tmp_path / "m.duckdb"
    assert cli.main(["sample", "--db", str(db), "--accounts", "300", "--as-of", "2026-10-31"]) == 0
    for what, fn in (("renewal-rates", metrics.renewal_rates), ("headwinds", metrics.headwind_tailwind)):
        out = tmp_path / f"{what}.csv"
        assert cli.main(["metrics", what, "--freq", "year", "--db", str(db), "--out", str(out)]) == 0
        con = store.connect(db, read_only=True)
        want = fn(con, "year")
        con.close()
        got = pd.read_csv(out)
        assert list(got.columns) == list(want.columns) and len(got) == len(want) > 0
        num = want.select_dtypes("number").columns
        assert np.allclose(got[num].to_numpy(float), want[num].to_numpy(float), equal_nan=True)
