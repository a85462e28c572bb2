"""Benchmark: the board pack (issue 15) on the 3,000-account sample (< 5 s) and on the large base (< 15 s).

Times `app.packs.build_content` + render, cold (nothing cached: the renewal model is trained,
the band calibrated on past windows and the planner's demand forecast fitted, as on a first
click or a cron run). Baseline in the same run: the renewal model alone (`renewals.score_due`),
the largest single part. Prints its section; `python -m bench` records it in bench/results.md.

    PYTHONPATH=. python bench/bench_packs.py [--runs 3]
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Context, Result, load, machine, section, timed  # noqa: E402

SAMPLE_ACCOUNTS = 3000


def _sample(path: Path) -> Path:
    from app.data import importer, store

    if not path.exists():
        con = store.connect(path)
        importer.load_sample(con, seed=7, n_accounts=SAMPLE_ACCOUNTS)
        con.close()
    return path


def _measure(db: Path, label: str, target: str, runs: int, pdf: bool = True) -> tuple[list[Result], str]:
    from app import packs
    from app.data import store
    from app.forecasting import renewals

    warnings.filterwarnings("ignore")
    cur = store.connect(db).cursor()
    parts: dict[str, float] = {}
    try:
        def board(fmt: str) -> None:
            pack = packs.build_content(cur, "board")
            packs.render(pack, fmt)
            parts.clear()
            parts.update(pack.seconds)

        base = timed(lambda: renewals.score_due(cur), runs=1, warmup=0)
        out = [Result(f"board pack .pptx, {label}", timed(lambda: board("pptx"), runs=runs, warmup=0),
                      "renewal model alone", base, target, runs)]
        split = ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())
        if pdf:
            out.append(Result(f"board pack .pdf, {label}", timed(lambda: board("pdf"), runs=runs, warmup=0),
                              "renewal model alone", base, target, runs))
        return out, f"{label}: {split} (threads overlap: parts add up to more than the total)"
    finally:
        cur.close()


def run_section(ctx: Context) -> str:
    runs = 1 if ctx.quick else 3
    results, notes = _measure(_sample(ctx.tmp / "packs_sample.duckdb"), f"{SAMPLE_ACCOUNTS:,}-account sample",
                              "< 5 s", runs)
    notes = [notes]
    if ctx.big_db is not None:
        big, note = _measure(ctx.big_db, "large base", "< 15 s", 1, pdf=False)
        results += big
        notes.append(note)
    return section("Packs: the board pack, cold", results, "Load: " + load() + ". Parts of the last run: "
                   + "; ".join(notes) + ".")


def main() -> int:
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", type=Path, help="a store to use instead of a fresh 3,000-account sample")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = a.db or _sample(Path(tmp) / "sample.duckdb")
        results, notes = _measure(db, f"{SAMPLE_ACCOUNTS:,}-account sample" if a.db is None else str(db),
                                  "< 5 s", a.runs)
        print(f"# Packs benchmark\n\nMachine: {machine()}.\n\n" + section("Packs", results, notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
