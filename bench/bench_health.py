"""Benchmark: customer health on the large base: the learned config, 52 weekly snapshots, the pages warm.

Copies the large base and drops any health configuration and snapshot set it holds (a reused base
may have them: the build would then be skipped and timed as nothing), then times (one run each: a
set is built once per data and config version) fitting the learned config and building the
snapshot set of 100,000 accounts x 52 weeks, against a same-run baseline (DuckDB aggregating the
4.5M usage rows by account and month, the smallest pass any weekly score must make over usage),
with the build's CPU time and the process's peak memory while building; then reading the latest
week's summary and the movers from the store, and the health and account pages (AppTest) cold and
warm, with the process's peak memory over those page runs.

    PYTHONPATH=. python -m bench.bench_health BIG.duckdb
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.data import store  # noqa: E402
from app.health import book, snapshots  # noqa: E402
from bench.bench_app import MemoryResult  # noqa: E402
from bench.common import Context, Result, load, section, timed  # noqa: E402


def _kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's high-water mark of this process (VmHWM) to its current RSS (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _page_times(page: str, quick: bool, account: str | None = None) -> tuple[float, float, int]:
    """(cold, median warm, warm runs) of a page in AppTest after the entry page ran once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=900)
    if account is not None:
        at.query_params["account"] = account
    at.run()
    at.switch_page(page)
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    warm = []
    for _ in range(3 if quick else 7):
        t0 = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t0)
    warm.sort()
    return cold, warm[len(warm) // 2], len(warm)


def measure(big: Path, tmp: Path, quick: bool = False) -> str:
    db = tmp / "health.duckdb"
    shutil.copy(big, db)
    con = store.connect(db)
    with store.transaction(con):  # a real fit and build, not a found set
        con.execute("DELETE FROM health_snapshots")
        con.execute("DELETE FROM health_snapshot_sets")
        con.execute("DELETE FROM health_configs")
        store.set_meta(con, "health_config_active", None)
    con.execute("CHECKPOINT")
    t_base = timed(lambda: store.query_rows(con, "SELECT count(*) FROM (SELECT account_id, date_trunc('month', date), "
                                                 "avg(value) FROM usage GROUP BY ALL)"), runs=3, warmup=1)
    load_before = load()
    t0 = time.perf_counter()
    cfg = snapshots.config(con)
    t_fit = time.perf_counter() - t0
    peak_reset = _reset_peak()
    rss0 = _kb("VmRSS")
    c0, t0 = _cpu(), time.perf_counter()
    sid = snapshots.ensure_snapshots(con, cfg)
    t_build, cpu_build = time.perf_counter() - t0, _cpu() - c0
    build_peak_mb = _kb("VmHWM") / 1024
    load_after = load()
    n_rows = store.query_rows(con, "SELECT count(*) FROM health_snapshots WHERE set_id = ?", [sid])[0][0]
    t_summary = timed(lambda: book.summary(con, sid), runs=3, warmup=1)
    t_weakest = timed(lambda: book.weakest_accounts(con, int(cfg.version or 0), sid), runs=3, warmup=1)
    t_movers = timed(lambda: snapshots.movers(con, sid, 20), runs=3, warmup=1)
    account = store.query_rows(con, "SELECT account_id FROM health_snapshots WHERE set_id = ? ORDER BY score, "
                                    "account_id LIMIT 1", [sid])[0][0]
    con.close()

    os.environ["CS_DB"] = str(db)
    _reset_peak()
    pages_rss0 = _kb("VmRSS")
    h_cold, h_warm, h_runs = _page_times("pages/health.py", quick)
    a_cold, a_warm, a_runs = _page_times("pages/account.py", quick, account)
    pages_peak_mb = _kb("VmHWM") / 1024
    base = "DuckDB usage by account-month"
    results = [
        Result("learned config: training units, factors, fit", t_fit, base, t_base),
        Result(f"weekly scores 52 weeks built and stored (snapshot set, {n_rows:,} account-weeks)", t_build, base,
               t_base, target="< 10 s"),
        Result("  the same build's CPU time (both threads; on a quiet machine wall is about CPU / 1.7)", cpu_build),
        Result("read the latest week's counts (segment x CSM x band x stage)", t_summary, base, t_base, runs=3),
        Result("read the weakest 500 accounts with their weakest factor", t_weakest, base, t_base, runs=3),
        Result("biggest movers (20) from the store", t_movers, base, t_base, runs=3),
        Result("health page cold after the set is built (AppTest)", h_cold),
        Result("health page warm rerun (AppTest)", h_warm, target="< 300 ms", runs=h_runs),
        Result("account page cold, the lowest-scored account (AppTest)", a_cold),
        Result("account page warm rerun (AppTest)", a_warm, target="< 1 s", runs=a_runs),
    ]
    mem = [
        MemoryResult("  peak memory of the process while building the set (VmHWM)", build_peak_mb,
                     "before the build", rss0 / 1024),
        MemoryResult("  peak memory of the process over the health and account page runs (VmHWM)", pages_peak_mb,
                     "before the pages", pages_rss0 / 1024),
    ] if peak_reset else []
    notes = (f"Load: {load_before} before the build, {load_after} after it. Snapshots are built once per data "
             "version and configuration version: after every import by app/prepare.py (once the import's transaction "
             "has committed: a 1M-row import must stay under 3 s), and on first need for a house config (the health "
             "or account page, `python -m app health`); see docs/health.md. The set is built "
             f"{snapshots.PART_ACCOUNTS:,} accounts at a time (one INSERT ... SELECT each: DuckDB's memory for the "
             "query scales with the part), from the sources keyed by account (usage by month, tickets by day, ARR, "
             "line items, ...) staged once per build in temp tables. The peak-memory rows reset the process's "
             "high-water mark first (Linux clear_refs) and hold the Python process with the benchmark's own "
             "imports (streamlit, AppTest). AppTest's warm rerun includes AppTest's own overhead.")
    return section("Customer health", [*results[:3], *mem[:1], *results[3:], *mem[1:]], notes)


def run_section(ctx: Context) -> str:
    assert ctx.big_db is not None
    return measure(ctx.big_db, ctx.tmp, ctx.quick)


def main() -> int:
    import tempfile

    big = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as d:
        print(measure(big, Path(d)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
