"""The large base the benchmarks run on: the sample company at 100,000 accounts over 48 months.

`app.data.sample.generate` scales linearly (100,000 accounts: ~19 s, ~1.8 GB peak, ~4.5M usage
rows, 2.6M tickets, 1.3M derived contracts) and loads through `importer.load_frames`, the
same path as the bundled sample, so the app sees a realistic store. The runner builds it in a
child process (its memory and allocator state do not leak into the timings) and reuses a file
given with --reuse.

    PYTHONPATH=. python -m bench.big_base OUT.duckdb [--accounts 100000] [--seed 7]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 10, 31)
ACCOUNTS = 100_000
QUICK_ACCOUNTS = 10_000
COUNTED = ("accounts", "subscriptions", "usage", "nps", "tickets", "arr_monthly", "contracts_derived")


@dataclass(frozen=True)
class BigBase:
    path: Path
    accounts: int
    rows: dict[str, int]  # table -> row count
    months: int  # months of usage history
    build_s: float | None  # None when reused
    generate_s: float | None = None

    def describe(self) -> str:
        r = self.rows
        how = (f"built in {self.build_s:.1f} s (generate {self.generate_s:.1f} s, load + derived tables "
               f"{self.build_s - self.generate_s:.1f} s)" if self.build_s is not None else f"reused from {self.path}")
        return (f"sample company, {r.get('accounts', 0):,} accounts, {self.months} months of usage, "
                f"{r.get('usage', 0):,} usage rows, {r.get('tickets', 0):,} tickets, "
                f"{r.get('subscriptions', 0):,} subscription lines, {r.get('arr_monthly', 0):,} account-months, "
                f"{r.get('contracts_derived', 0):,} contracts; {how}")


def counts(path: Path) -> tuple[dict[str, int], int]:
    from app.data import store

    con = store.connect(path)
    try:
        rows = {t: int(store.query_rows(con, f"SELECT count(*) FROM {t}")[0][0]) for t in COUNTED}  # fixed names
        m = store.query_rows(con, "SELECT date_diff('month', min(date), max(date)) + 1 FROM usage")[0][0]
    finally:
        con.close()
    return rows, int(m or 0)


def build(path: Path, accounts: int = ACCOUNTS, seed: int = 7) -> BigBase:
    """Generate and load the store at path (replacing it), in this process."""
    from app.data import importer, sample, store

    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    frames = sample.generate(seed=seed, n_accounts=accounts, as_of=AS_OF)
    gen = time.perf_counter() - t0
    con = store.connect(path)
    importer.load_frames(con, frames, as_of=AS_OF.isoformat(), label=f"bench base (seed {seed}, {accounts} accounts)")
    con.close()
    total = time.perf_counter() - t0
    del frames
    rows, months = counts(path)
    return BigBase(path, accounts, rows, months, total, gen)


def build_in_child(path: Path, accounts: int = ACCOUNTS, seed: int = 7) -> BigBase:
    """build() in a fresh interpreter; its ~2 GB of frames go away with it."""
    out = subprocess.run([sys.executable, "-m", "bench.big_base", str(path), "--accounts", str(accounts),
                          "--seed", str(seed), "--json"], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"building the large base failed:\n{out.stderr[-3000:]}")
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return BigBase(Path(d["path"]), d["accounts"], d["rows"], d["months"], d["build_s"], d["generate_s"])


def reuse(path: Path) -> BigBase:
    rows, months = counts(path)
    return BigBase(path, rows["accounts"], rows, months, None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the benchmarks' large base.")
    ap.add_argument("out", type=Path)
    ap.add_argument("--accounts", type=int, default=ACCOUNTS)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the description as one JSON line")
    a = ap.parse_args(argv)
    b = build(a.out, a.accounts, a.seed)
    if a.json:
        print(json.dumps({"path": str(b.path), "accounts": b.accounts, "rows": b.rows, "months": b.months,
                          "build_s": b.build_s, "generate_s": b.generate_s}))
    else:
        print(b.describe())
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
