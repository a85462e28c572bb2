"""`make bench-scale`: the usage rollup of raw events on DuckDB and on Spark local mode at 10^6, 10^7 (and
10^8 when asked and it fits) events; writes bench/results_scale.md (time per 10^7 events, the crossover).

    .venv/bin/python -m bench.bench_scale [--sizes 1e6 1e7 1e8] [--engines duckdb spark] [--budget-s 600]
                                          [--data DIR] [--out bench/results_scale.md]

Events are generated once per size into --data (Parquet, in chunks; reused by later runs). Each run
is a cold rollup (a fresh in-memory DuckDB; the Spark session is started once, its start-up timed on
its own row). A size is skipped, and the skip recorded, when the previous size's time projects past
--budget-s for an engine.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import time
from pathlib import Path

from app.scale import rollup, synth
from app.scale import spark as sparkmod
from bench.common import load, machine

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = 20_000


def _size(text: str) -> int:
    return int(float(text))


def _fmt_n(n: int) -> str:
    e = len(str(n)) - 1
    return f"10^{e}" if n == 10 ** e else f"{n:,}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_scale")
    p.add_argument("--sizes", nargs="+", type=_size, default=[10 ** 6, 10 ** 7])
    p.add_argument("--engines", nargs="+", choices=rollup.ENGINES, default=list(rollup.ENGINES))
    p.add_argument("--budget-s", type=float, default=600.0, help="skip a size projected to take longer")
    p.add_argument("--data", default="/tmp/cs-bench-scale", help="where generated events are kept")
    p.add_argument("--out", default=str(ROOT / "bench" / "results_scale.md"))
    args = p.parse_args(argv)

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    rows: list[tuple] = []  # (engine, n, seconds or None, note)
    notes: list[str] = []
    load_before = load()
    spark = None
    spark_start = None
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
                if projected > args.budget_s:
                    rows.append((engine, n, None, f"skipped: projected {projected:,.0f} s from {_fmt_n(pn)} "
                                                  f"(budget {args.budget_s:.0f} s)"))
                    continue
            if engine == "spark" and spark is None:
                t0 = time.perf_counter()
                spark = sparkmod.session()
                spark.range(1).count()
                spark_start = time.perf_counter() - t0
            out = data / f"usage_{engine}_{n}.parquet"
            t0 = time.perf_counter()
            report = rollup.run(src, out, engine, accounts=synth.account_ids(ACCOUNTS), spark=spark)
            s = time.perf_counter() - t0
            last[engine] = (n, s)
            rows.append((engine, n, s, f"{report.rows_out:,} usage rows; {report.duplicates:,} duplicates; "
                                       f"{report.unknown_accounts:,} unknown accounts"))
            print(f"{engine:7s} {_fmt_n(n):>6s} events: {s:8.1f} s", flush=True)
    if spark is not None:
        spark.stop()

    lines = ["# Scale benchmark: the usage rollup on DuckDB and Spark (local mode)", "",
             f"Run {dt.datetime.now():%Y-%m-%d %H:%M} with `make bench-scale` (`python -m bench.bench_scale "
             f"--sizes {' '.join(str(n) for n in args.sizes)}`).", "",
             f"- Machine: {machine()}", f"- Load before: {load_before}; after: {load()}",
             f"- Events: synthetic (app/scale/synth.py), {ACCOUNTS:,} accounts, 31 days, 8 event types, "
             "user ids, integer values, 1% resent duplicates, 0.1% unknown accounts; one Parquet file.",
             "- Each time is one cold rollup end to end: read, check, roll up, report, write the Parquet output "
             "(the same SQL on both engines; app/scale/rollup.py).",
             f"- Spark: local mode, {sparkmod.LOCAL_MASTER}, {sparkmod.LOCAL_SHUFFLE_PARTITIONS} shuffle "
             "partitions" + (f"; session start (JVM) {spark_start:.1f} s, not included below" if spark_start
                             else ""), "",
             "| engine | events | seconds | s per 10^7 events | note |", "|---|---:|---:|---:|---|"]
    for engine, n, s, note in rows:
        per = f"{s * 1e7 / n:,.1f}" if s is not None else "-"
        lines.append(f"| {engine} | {_fmt_n(n)} | {f'{s:,.1f}' if s is not None else '-'} | {per} | {note} |")
    lines.append("")
    timed = {(e, n): s for e, n, s, _ in rows if s is not None}
    sizes = sorted({n for _, n, _, _ in rows})
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
