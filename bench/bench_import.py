"""Import speed: a 1,000,000-row subscriptions CSV through the importer vs DuckDB's raw read_csv.

    PYTHONPATH=. python bench/bench_import.py [--rows 1000000] [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.data import importer, store  # noqa: E402
from bench.common import Context, Result, load, section, timed  # noqa: E402

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


def run(tmp: Path, n_rows: int = N_ROWS, runs: int = 3) -> str:
    csv_path = tmp / "subs.csv"
    make_csv(csv_path, n_rows)
    data = csv_path.read_bytes()
    accounts = pd.DataFrame({"account_id": [f"A{i}" for i in range(N_ACCOUNTS)], "segment": "SMB"})

    def raw_read_csv() -> None:
        con = store.connect(tmp / "raw.duckdb")
        con.execute("CREATE OR REPLACE TABLE t AS SELECT * FROM read_csv(?)", [str(csv_path)])
        con.close()

    timings: dict[str, list[float]] = {"check": [], "import": []}

    def fresh_store() -> store.Cursor:
        db = tmp / "imp.duckdb"
        db.unlink(missing_ok=True)
        Path(str(db) + ".wal").unlink(missing_ok=True)
        con = store.connect(db)
        importer.load_frames(con, {"accounts": accounts}, as_of="2026-10-31", label="bench accounts")
        return con

    def one_import() -> float:
        """What `python -m app load subscriptions FILE` and the Data page's Import button run: import_file
        (read, map, validate, write, derived tables, one transaction) on a store holding the accounts."""
        con = fresh_store()
        t = time.perf_counter()
        report = importer.import_file(con, "subscriptions", data, "subs.csv")
        elapsed = time.perf_counter() - t
        assert report.ok, report.message
        t = time.perf_counter()
        chk = importer.check(con, "subscriptions", data, "subs.csv")  # the Data page's preview before Import
        timings["check"].append(time.perf_counter() - t)
        assert chk.ok
        con.close()
        timings["import"].append(elapsed)
        return elapsed

    def cli_process() -> float:
        """A whole `python -m app load --no-prepare` process: interpreter start, imports, a cold heap.

        The forecast preparation a plain `load` runs after the import is timed by the app section."""
        fresh_store().close()
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "app", "load", "subscriptions", str(csv_path),
                               "--db", str(tmp / "imp.duckdb"), "--no-prepare"], cwd=ROOT, capture_output=True,
                              text=True)
        elapsed = time.perf_counter() - t
        assert done.returncode == 0, done.stderr
        return elapsed

    base = timed(raw_read_csv, runs=runs)
    cli = statistics.median([cli_process() for _ in range(runs)])
    one_import()  # warm-up: a process's first import also pays first touches of fresh memory (the CLI row)
    for v in timings.values():
        v.clear()
    for _ in range(runs):
        one_import()
    total = statistics.median(timings["import"])
    check = statistics.median(timings["check"])
    target = "< 3 s" if n_rows >= N_ROWS else ""  # the budget is for 1M rows
    results = [
        Result(f"import {n_rows:,}-row subscriptions CSV (read, map, validate, write, derived tables)", total,
               "DuckDB read_csv into a table", base, target, runs),
        Result("  preview check alone (read + map + validate, nothing written)", check, runs=runs),
        Result("  whole `python -m app load` process (Python start, imports, cold memory)", cli, runs=runs),
    ]
    notes = (f"File: {len(data) / 1e6:.0f} MB, {n_rows:,} rows, {N_ACCOUNTS:,} accounts. The timed step is "
             f"`importer.import_file` on a store already holding the accounts, as `python -m app load` and the "
             f"Data page's Import button run it; runs: {', '.join(f'{x:.2f} s' for x in timings['import'])} "
             f"after one warm-up. Importer: {n_rows / total:,.0f} rows/s; DuckDB raw read_csv: "
             f"{n_rows / base:,.0f} rows/s. Beyond the raw read, the import parses dates, checks every row and "
             f"writes the derived tables (monthly ARR bridge and contracts, about 7M rows for this file) in one "
             f"transaction; {load()}.")
    return section("Import", results, notes)


def run_section(ctx: Context) -> str:
    """The runner's entry: 1M rows (100,000 with --quick)."""
    d = ctx.tmp / "import"
    d.mkdir(exist_ok=True)
    return run(d, 100_000 if ctx.quick else N_ROWS, 1 if ctx.quick else 3)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=N_ROWS)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        print(run(Path(d), a.rows, a.runs))
