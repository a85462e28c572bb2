"""The benchmark suite: `make bench` / `python -m bench [--quick] [--only NAME ...] [--out FILE]`.

Builds the large base once (100,000 accounts over 48 months, ~4.5M usage rows; 10,000 accounts
with --quick), runs every section in this process, one after the other, and writes
bench/results.md: the machine, the command, the load, then per section the medians, the
baseline measured in the same run, their ratio and the target ("met" or **MISSED**).
A missed target does not fail the run (exit 0); a section that crashes does (exit 1).

Sections: import, metrics, forecast, risk, planner, app, packs (see each bench/bench_*.py).
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import big_base
from bench.common import MISSED, Context, load, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.md"
# name -> (module, uses the large base)
SECTIONS: dict[str, tuple[str, bool]] = {
    "import": ("bench.bench_import", False),
    "metrics": ("bench.bench_metrics", True),
    "forecast": ("bench.bench_forecast", True),
    "risk": ("bench.bench_risk", False),
    "planner": ("bench.bench_planner", False),
    "health": ("bench.bench_health", True),
    "app": ("bench.bench_app", True),
    "packs": ("bench.bench_packs", True),
}
HOW_TO_READ = """\
How to read: every time is the median over the runs shown (wall clock, `time.perf_counter`). The
baseline is measured in the same run on the same machine and data, so the ratio (time / baseline)
stays comparable when the machine is busy while absolute figures move (the cores are shared: see
the load averages). A target row says "met" or **MISSED**; rows without a target are context.
Import is held against DuckDB's raw `read_csv` of the same file; the overview queries against
the same aggregations in pandas; Prophet against the seasonal-naive and drift baselines;
training against a plain logistic regression; the planner against one segment and a naive loop;
the app against a trivial two-page Streamlit app started and switched the same way."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 10,000-account base, fewer runs")
    ap.add_argument("--only", nargs="+", choices=list(SECTIONS), metavar="NAME",
                    help=f"run only these sections ({', '.join(SECTIONS)})")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results file (default bench/results.md)")
    ap.add_argument("--reuse", type=Path, metavar="PATH",
                    help="large base to reuse; built there (and kept) when the file does not exist")
    return ap.parse_args(argv)


def target_rows(md: str) -> list[tuple[str, str, str, str]]:
    """(measure, median, target, status) of every table row with a target, from a section's markdown."""
    out = []
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[4] not in ("", "-", "target") and not set(cells[4]) <= {"-"}:
            out.append((cells[0], cells[1], cells[4], cells[5]))
    return out


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    names = a.only or list(SECTIONS)
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    started = dt.datetime.now(dt.UTC)
    t_start = time.perf_counter()
    load_start = load()
    sections: list[tuple[str, str, float]] = []  # name, markdown, seconds
    failed = []
    with tempfile.TemporaryDirectory(prefix="csbench-") as tmp_s:
        tmp = Path(tmp_s)
        big, big_note = None, ""
        if any(SECTIONS[n][1] for n in names):
            accounts = big_base.QUICK_ACCOUNTS if a.quick else big_base.ACCOUNTS
            print(f"building the large base ({accounts:,} accounts) ...", flush=True)
            if a.reuse is not None and a.reuse.exists():
                b = big_base.reuse(a.reuse)
            else:
                b = big_base.build_in_child(a.reuse or tmp / "big.duckdb", accounts)
            big, big_note = b.path, b.describe()
            print(f"  {big_note}", flush=True)
        ctx = Context(tmp=tmp, quick=a.quick, big_db=big, big_note=big_note)
        for name in names:
            print(f"running {name} ...", flush=True)
            t0 = time.perf_counter()
            try:
                md = importlib.import_module(SECTIONS[name][0]).run_section(ctx)
            except Exception:
                failed.append(name)
                md = f"## {name}: FAILED\n\n```\n{traceback.format_exc()[-4000:]}\n```\n"
            secs = time.perf_counter() - t0
            sections.append((name, md, secs))
            print(md, flush=True)
    total = time.perf_counter() - t_start

    # One line per measure with a target (a measure held against two baselines has two table rows).
    summary = list(dict.fromkeys((name, *row) for name, md, _ in sections for row in target_rows(md)))
    missed = [s for s in summary if s[4] == MISSED]
    lines = [
        "# Benchmark results", "",
        f"Generated by `{command}` (`make bench`) on {started:%Y-%m-%d %H:%M} UTC"
        f"{' (quick smoke run: smaller base, fewer runs)' if a.quick else ''}; total runtime {total / 60:.1f} min.",
        "",
        f"- Machine: {machine()}.",
        f"- {load_start.capitalize()} at the start, {load()} at the end (a 1-minute load above 2 means "
        "something else was using the 2 cores too).",
    ]
    if big_note:
        lines.append(f"- Large base: {big_note}.")
    for _, md, _ in sections:  # the app's peak memory is not a time: lift it into the header
        lines += [f"- {ln.strip()}" for ln in md.splitlines() if ln.startswith("**Peak memory")]
    lines += ["- Section runtimes: " + ", ".join(f"{n} {s:.0f} s" for n, _, s in sections) + ".", "",
              HOW_TO_READ, "", "## Targets", "",
              "| section | measure | median | target | status |", "|---|---|---|---|---|",
              *[f"| {s[0]} | {s[1].strip()} | {s[2]} | {s[3]} | {s[4]} |" for s in summary]]
    if failed:
        lines += ["", f"Sections that failed to run: {', '.join(failed)} (see below)."]
    lines.append("")
    text = "\n".join(lines) + "\n" + "\n".join(md for _, md, _ in sections)
    a.out.write_text(text)

    print(f"\nwrote {a.out} in {total / 60:.1f} min")
    for s in summary:
        print(f"  [{'MISSED' if s[4] == MISSED else s[4] or '-':>6}] {s[0]}: {s[1].strip()} = {s[2]} "
              f"(target {s[3]})")
    if missed:
        print(f"{len(missed)} target(s) missed (the run still succeeds).")
    if failed:
        print(f"FAILED sections: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
