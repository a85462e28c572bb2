"""`make bench-scale`: the usage rollup of raw events on DuckDB and on Spark local mode at 10^6, 10^7 (and
10^8 when asked and it fits) events; writes bench/results_scale.md (time per 10^7 events, the crossover).

    .venv/bin/python -m bench.bench_scale [--sizes 1e6 1e7 1e8] [--engines duckdb spark] [--budget-s 600]
                                          [--timeout-s 3600] [--data DIR] [--out bench/results_scale.md]

Events are generated once per size into --data (Parquet, in chunks; reused by later runs). Each run
is a cold rollup (a fresh in-memory DuckDB; the Spark session is started once, its start-up timed on
its own). A size is skipped, and the skip recorded, when the previous size's time projects past
--budget-s for an engine. A Spark run still going after --timeout-s is cancelled (its jobs), and a
run that fails (out of memory ...) is recorded with the time it reached and the error: never dropped.
Other jobs share the cores here, so every row records the 1-minute load average at its start, the
highest seen while it ran (sampled every 5 s) and at its end.
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from app.scale import rollup, synth
from app.scale import spark as sparkmod
from bench.common import load, machine

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = 20_000
T = TypeVar("T")


def _size(text: str) -> int:
    return int(float(text))


def _fmt_n(n: int) -> str:
    e = len(str(n)) - 1
    return f"10^{e}" if n == 10 ** e else f"{n:,}"


class LoadSampler:
    """The 1-minute load average at the start, the highest while running, and at the end."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.start = self.peak = self.end = os.getloadavg()[0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.end = os.getloadavg()[0]
        self.peak = max(self.peak, self.end)

    def text(self) -> str:
        return f"{self.start:.1f} / {self.peak:.1f} / {self.end:.1f}"


def _with_timeout(fn: Callable[[], T], timeout_s: float, cancel: Callable[[], None]) -> T:
    """fn(); after timeout_s, cancel() is called (once) so that fn raises, and TimeoutError is raised."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        cancel()

    timer = threading.Timer(timeout_s, fire)
    timer.daemon = True
    timer.start()
    try:
        return fn()
    except Exception as exc:
        if fired.is_set():
            raise TimeoutError(f"cancelled after the {timeout_s:,.0f} s timeout") from exc
        raise
    finally:
        timer.cancel()


def _error_text(exc: BaseException) -> str:
    """The first informative line of an error (a Py4J error's Java exception, not its long trace)."""
    text = str(exc)
    for line in text.splitlines():
        if any(k in line for k in ("OutOfMemory", "Exception", "Error", "cancelled", "killed")):
            return line.strip()[:300]
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def _spark_settings(spark) -> str:
    conf = spark.sparkContext.getConf()
    get = spark.conf.get
    return (f"{spark.sparkContext.master}, driver memory {conf.get('spark.driver.memory', '1g (default)')}, "
            f"{get('spark.sql.shuffle.partitions')} shuffle partitions, "
            f"AQE {get('spark.sql.adaptive.enabled')}, Spark {spark.version}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_scale")
    p.add_argument("--sizes", nargs="+", type=_size, default=[10 ** 6, 10 ** 7])
    p.add_argument("--engines", nargs="+", choices=rollup.ENGINES, default=list(rollup.ENGINES))
    p.add_argument("--budget-s", type=float, default=600.0, help="skip a size projected to take longer")
    p.add_argument("--shuffle-partitions", type=int, default=None,
                   help=f"Spark shuffle partitions (default {sparkmod.LOCAL_SHUFFLE_PARTITIONS}, local mode's)")
    p.add_argument("--timeout-s", type=float, default=3600.0, help="cancel a Spark run still going after this")
    p.add_argument("--data", default="/tmp/cs-bench-scale", help="where generated events are kept")
    p.add_argument("--out", default=str(ROOT / "bench" / "results_scale.md"))
    args = p.parse_args(argv)

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    rows: list[tuple] = []  # (engine, n, seconds or None, load text, note)
    notes: list[str] = []
    load_before = load()
    spark = None
    spark_start = None
    spark_settings = ""
    last: dict[str, tuple[int, float]] = {}
    for n in sorted(args.sizes):
        src = data / f"events_{n}.parquet"
        if not src.exists():
            free = shutil.disk_usage(data).free
            if free < n * 40:  # ~20 bytes/event on disk, twice for headroom
                notes.append(f"{_fmt_n(n)} events: skipped, {free / 1e9:.0f} GB free is too little to generate them")
                continue
            t0 = time.perf_counter()
            synth.write_events(src, n, n_accounts=ACCOUNTS, seed=11)
            notes.append(f"{_fmt_n(n)} events generated in {time.perf_counter() - t0:.0f} s "
                         f"({src.stat().st_size / 1e6:,.0f} MB Parquet)")
        for engine in args.engines:
            if engine in last:
                pn, ps = last[engine]
                projected = ps * n / pn
                if projected == float("inf"):
                    rows.append((engine, n, None, "", f"skipped: {_fmt_n(pn)} did not finish"))
                    continue
                if projected > args.budget_s:
                    rows.append((engine, n, None, "", f"skipped: projected {projected:,.0f} s from {_fmt_n(pn)} "
                                                      f"(budget {args.budget_s:.0f} s)"))
                    continue
            if engine == "spark" and spark is None:
                t0 = time.perf_counter()
                spark = sparkmod.session(shuffle_partitions=args.shuffle_partitions)
                spark.range(1).count()
                spark_start = time.perf_counter() - t0
                spark_settings = _spark_settings(spark)
            out = data / f"usage_{engine}_{n}.parquet"
            one = functools.partial(rollup.run, src, out, engine, accounts=synth.account_ids(ACCOUNTS), spark=spark)
            report: rollup.RollupReport | None = None
            err = ""
            t0 = time.perf_counter()
            with LoadSampler() as ld:
                try:
                    if spark is not None and engine == "spark":
                        report = _with_timeout(one, args.timeout_s, spark.sparkContext.cancelAllJobs)
                    else:
                        report = one()
                except Exception as exc:  # out of memory, timeout: recorded with the time it reached
                    err = _error_text(exc)
            s = time.perf_counter() - t0
            if report is None:
                print(f"{engine:7s} {_fmt_n(n):>6s} events: FAILED after {s:8.1f} s: {err}", flush=True)
                rows.append((engine, n, None, ld.text(), f"**did not finish**: stopped after {s:,.0f} s: {err}"))
                last[engine] = (n, float("inf"))
                continue
            last[engine] = (n, s)
            rows.append((engine, n, s, ld.text(), f"{report.rows_out:,} usage rows; {report.duplicates:,} "
                                                  f"duplicates; {report.unknown_accounts:,} unknown accounts"))
            print(f"{engine:7s} {_fmt_n(n):>6s} events: {s:8.1f} s (load {ld.text()})", flush=True)
    if spark is not None:
        spark.stop()

    command = "python -m bench.bench_scale " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = ["# Scale benchmark: the usage rollup on DuckDB and Spark (local mode)", "",
             f"Run {dt.datetime.now():%Y-%m-%d %H:%M}: `{command}`.", "",
             f"- Machine: {machine()}", f"- Load before: {load_before}; after: {load()}. Per row below: the "
             "1-minute load average at the start / the highest while it ran / at the end (2 cores: 2.0 is full).",
             f"- Events: synthetic (app/scale/synth.py), {ACCOUNTS:,} accounts, 31 days, 8 event types, "
             "user ids, integer values, 1% resent duplicates, 0.1% unknown accounts; one Parquet file.",
             "- Each time is one cold rollup end to end: read, check, roll up, report, write the Parquet output "
             "(the same SQL on both engines; app/scale/rollup.py).",
             "- Spark: local mode, " + (f"{spark_settings}; session start (JVM) {spark_start:.1f} s, not "
                                        "included below" if spark_start else "not run"), "",
             "| engine | events | seconds | s per 10^7 events | load 1 min (start / max / end) | note |",
             "|---|---:|---:|---:|---|---|"]
    for engine, n, s, ldt, note in rows:
        per = f"{s * 1e7 / n:,.1f}" if s is not None else "-"
        lines.append(f"| {engine} | {_fmt_n(n)} | {f'{s:,.1f}' if s is not None else '-'} | {per} | {ldt or '-'} "
                     f"| {note} |")
    lines.append("")
    timed = {(e, n): s for e, n, s, _, _ in rows if s is not None}
    sizes = sorted({n for _, n, _, _, _ in rows})
    growth = []
    for engine in args.engines:
        ns = [n for n in sizes if (engine, n) in timed]
        steps = [f"{_fmt_n(a)} -> {_fmt_n(b)}: {timed[(engine, b)] / timed[(engine, a)]:.1f}x the time for "
                 f"{b // a}x the events, {(timed[(engine, b)] - timed[(engine, a)]) * 1e7 / (b - a):,.1f} s per "
                 "10^7 more events" for a, b in zip(ns, ns[1:], strict=False)]
        if steps:
            growth.append(f"- {engine}: " + "; ".join(steps))
    if growth:
        lines += ["**Growth** (time ratio between sizes; marginal seconds per 10^7 events):", "", *growth, ""]
    cross = [n for n in sizes if ("duckdb", n) in timed and ("spark", n) in timed
             and timed[("spark", n)] < timed[("duckdb", n)]]
    both = [n for n in sizes if ("duckdb", n) in timed and ("spark", n) in timed]
    if both:
        ratios = ", ".join(f"{_fmt_n(n)}: Spark/DuckDB {timed[('spark', n)] / timed[('duckdb', n)]:.1f}x"
                           for n in both)
        crossover = ("Spark local mode is faster from " + _fmt_n(cross[0]) if cross
                     else "none measured: DuckDB is faster at every size run here on the same cores")
        lines.append(f"**Crossover:** {crossover} ({ratios}). "
                     "See docs/scale.md for what this means on a cluster.")
        lines.append("")
    lines += [f"- {n}" for n in notes]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
