"""Import speed: a 1,000,000-row subscriptions CSV through the importer vs DuckDB's raw read_csv."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from app import importer, store
from bench.common import Result, section, timed

N_ROWS = 1_000_000
N_ACCOUNTS = 100_000


def make_csv(path: Path, n: int = N_ROWS, n_accounts: int = N_ACCOUNTS, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-11-01") + pd.to_timedelta(rng.integers(0, 1400, n), unit="D")
    term = rng.choice([1, 12, 24], n, p=[0.3, 0.6, 0.1])
    end = (start + pd.to_timedelta(term * 30, unit="D")).strftime("%Y-%m-%d")
    df = pd.DataFrame({
        "Subscription ID": np.arange(n).astype(str), "Account ID": "A" + rng.integers(0, n_accounts, n).astype(str),
        "Product": rng.choice(["core", "addon"], n), "Start Date": start.strftime("%Y-%m-%d"),
        "End Date": np.where(rng.random(n) < 0.2, "", end), "ARR": rng.integers(1, 200, n) * 100.0,
        "Seats": rng.integers(1, 50, n), "Billing Period": term,
    })
    df.to_csv(path, index=False)


def run(tmp: Path) -> str:
    csv_path = tmp / "subs.csv"
    make_csv(csv_path)
    data = csv_path.read_bytes()
    accounts = pd.DataFrame({"account_id": [f"A{i}" for i in range(N_ACCOUNTS)], "segment": "SMB"})

    def raw_read_csv() -> None:
        con = store.connect(tmp / "raw.duckdb")
        con.execute("CREATE OR REPLACE TABLE t AS SELECT * FROM read_csv(?)", [str(csv_path)])
        con.close()

    timings: dict[str, float] = {}

    def full_import() -> None:
        db = tmp / "imp.duckdb"
        db.unlink(missing_ok=True)
        con = store.connect(db)
        importer.load_frames(con, {"accounts": accounts}, as_of="2026-10-31", label="bench accounts")
        t = time.perf_counter()
        chk = importer.check(con, "subscriptions", data, "subs.csv")
        timings["read + map + validate"] = time.perf_counter() - t
        t = time.perf_counter()
        report = importer.import_file(con, "subscriptions", data, "subs.csv")
        timings["import_file total"] = time.perf_counter() - t
        assert report.ok and chk.ok, report.message
        con.close()

    base = timed(raw_read_csv, runs=3)
    total = timed(full_import, runs=3, warmup=0)
    results = [
        Result("import 1M-row subscriptions CSV (read, map, validate, write, derived tables)", total,
               "DuckDB read_csv into a table", base, "< 3 s", 3),
        Result("  of which read + map + validate (last run)", timings["read + map + validate"], runs=1),
    ]
    return section("Import", results, f"File: {len(data) / 1e6:.0f} MB, {N_ROWS:,} rows, {N_ACCOUNTS:,} accounts.")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        print(run(Path(d)))
