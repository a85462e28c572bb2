"""Forecast speed: Prophet fit time per series, backtests, and the whole grid (all segments x every quantity).

    PYTHONPATH=. python bench/bench_forecast.py [--accounts 3000] [--db STORE] [--json FILE]

Prints its section (`python -m bench` records every section in bench/results.md) (and the raw figures as JSON
with --json).
Builds the sample company in a temporary store, then times, for every segment (and the
total) and every quantity: one 12-month Prophet forecast (fit + predict), the rolling-origin
backtest of all three methods, and the forecast with the backtest's winner. The grid total
is what a page showing every series cold would pay; the figures go in docs/forecasting.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.common import Context

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AS_OF = dt.date(2026, 10, 31)


def run(n_accounts: int = 3000, seed: int = 7, horizon: int = 12, db: Path | None = None) -> dict:
    """Time the grid on a fresh sample of n_accounts, or on an existing store db (read only)."""
    from app.data import importer, store

    t0 = time.perf_counter()
    from app.forecasting import topdown as fc

    import_app = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        con = store.connect(db or Path(tmp) / "bench.duckdb")
        cur = con.cursor()
        t0 = time.perf_counter()
        if db is None:
            importer.load_sample(cur, seed=seed, n_accounts=n_accounts, as_of=AS_OF)
        else:
            n_accounts = int(store.query_rows(cur, "SELECT count(*) FROM accounts")[0][0])
        build = time.perf_counter() - t0

        t0 = time.perf_counter()
        fc._prophet_class()
        import_prophet = time.perf_counter() - t0

        rows = []
        grid_start = time.perf_counter()
        for segment in [None, *fc.segments(cur)]:
            for q in fc.QUANTITIES:
                t0 = time.perf_counter()
                s = fc.history(cur, q, segment)
                t_hist = time.perf_counter() - t0
                t0 = time.perf_counter()
                fc.forecast(s, horizon, "prophet", quarter_end=None if fc.QUANTITIES[q]["flow"] else False)
                t_prophet = time.perf_counter() - t0
                t0 = time.perf_counter()  # the baselines on the same series: what Prophet is held against
                fc.forecast(s, horizon, "seasonal_naive")
                fc.forecast(s, horizon, "drift")
                t_baselines = time.perf_counter() - t0
                t0 = time.perf_counter()
                bt = fc.backtest_quantity(cur, q, segment)
                t_bt = time.perf_counter() - t0
                t0 = time.perf_counter()
                method, scale = bt.choice("auto")
                res = fc.forecast_quantity(cur, q, segment, horizon, method, scale)
                t_fc = time.perf_counter() - t0
                prophet_fits = len(bt.cutoffs)
                cov = bt.summary.groupby("method")["coverage"].mean()
                rows.append({
                    "segment": segment or "All", "quantity": q, "months": len(s),
                    "history_s": round(t_hist, 4),
                    "prophet_fit_predict_s": round(t_prophet, 3),
                    "baselines_fit_predict_s": round(t_baselines, 4),
                    "backtest_s": round(t_bt, 3),
                    "backtest_prophet_s": round(bt.seconds.get("prophet", 0.0), 3),
                    "prophet_fits_in_backtest": prophet_fits,
                    "backtest_baselines_s": round(bt.seconds.get("drift", 0) + bt.seconds.get("seasonal_naive", 0), 3),
                    "forecast_best_s": round(t_fc, 3),
                    "best": bt.best_method, "quarter_end": res.quarter_end,
                    # Mean 80%-interval coverage over horizons (%), winner and Prophet.
                    "best_coverage": round(float(cov.get(bt.best_method, float("nan"))), 1),
                    "prophet_coverage": round(float(cov.get("prophet", float("nan"))), 1),
                    "interval_scale": round(scale, 2),
                })
        grid = time.perf_counter() - grid_start
        cur.close()
        con.close()
    per_fit = [r["backtest_prophet_s"] / r["prophet_fits_in_backtest"] for r in rows if r["prophet_fits_in_backtest"]]
    # What a page pays cold for every series: backtest + forecast with the winner (no extra Prophet fit).
    page_grid = sum(r["history_s"] + r["backtest_s"] + r["forecast_best_s"] for r in rows) + import_prophet
    return {
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(), "accounts": n_accounts, "seed": seed, "as_of": AS_OF.isoformat(),
        "sample_build_s": round(build, 2), "import_app_forecast_s": round(import_app, 3),
        "import_prophet_s": round(import_prophet, 2),
        "series": len(rows), "quantities": len(fc.QUANTITIES),
        "prophet_fit_predict_s_median": round(sorted(r["prophet_fit_predict_s"] for r in rows)[len(rows) // 2], 3),
        "prophet_fit_in_backtest_s_mean": round(sum(per_fit) / len(per_fit), 3) if per_fit else None,
        "page_grid_cold_s": round(page_grid, 2),
        "segment_grids_s": {seg: round(sum(r["backtest_s"] + r["forecast_best_s"] for r in rows
                                            if r["segment"] == seg), 2) for seg in dict.fromkeys(r["segment"]
                                                                                               for r in rows)},
        "bench_grid_total_s": round(grid, 2),
        "rows": rows,
    }


def to_markdown(res: dict) -> str:
    from bench.common import machine

    lines = [
        "# Forecast benchmark", "",
        f"Machine: {machine()} (2 cores shared with other jobs while measured).", "",
        f"Sample: {res['accounts']} accounts, seed {res['seed']}, as of {res['as_of']} "
        f"(built in {res['sample_build_s']} s); Python {res['python']}; {res['when']}.",
        f"Import prophet: {res['import_prophet_s']} s. Prophet fit + predict (12 months), median per series: "
        f"{res['prophet_fit_predict_s_median']} s; "
        f"per fit inside backtests: {res['prophet_fit_in_backtest_s_mean']} s.",
        f"Cold page cost for all {res['series']} series (backtest + winner forecast + Prophet import): "
        f"{res['page_grid_cold_s']} s.",
        "",
    ]
    lines += series_table(res)
    return "\n".join(lines)


def series_table(res: dict) -> list[str]:
    lines = ["| segment | quantity | months | Prophet fit+predict s | backtest s (Prophet fits) | forecast s | best "
             "| raw coverage % best / Prophet | band widened x |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['segment']} | {r['quantity']} | {r['months']} | {r['prophet_fit_predict_s']} | "
                     f"{r['backtest_s']} ({r['prophet_fits_in_backtest']}) | {r['forecast_best_s']} | {r['best']} "
                     f"| {r['best_coverage']} / {r['prophet_coverage']} | {r['interval_scale']} |")
    return lines


def section_md(res: dict, where: str) -> str:
    """The runner's section: Prophet per series and for all segments, against the baselines' cost."""
    from bench.common import Result, load, section

    med = lambda k: statistics.median(r[k] for r in res["rows"])  # noqa: E731
    n = res["series"]
    results = [
        Result("Prophet fit + predict (12 months), one series, median over series", med("prophet_fit_predict_s"),
               "seasonal-naive + drift on the same series", med("baselines_fit_predict_s"), "", n),
        Result(f"Prophet fit + predict, all {n} series ({res['quantities']} quantities x total and each segment)",
               sum(r["prophet_fit_predict_s"] for r in res["rows"]), "seasonal-naive + drift, same series",
               sum(r["baselines_fit_predict_s"] for r in res["rows"]), "", 1),
        *[Result(f"  segment {seg}: backtest + winner forecast, {res['quantities']} quantities", t) for seg, t in
          res["segment_grids_s"].items()],
        Result("cold cost of every series (backtests + winner forecasts + Prophet import)", res["page_grid_cold_s"]),
        Result("  Prophet import", res["import_prophet_s"]),
    ]
    notes = (f"On {where} ({res['accounts']:,} accounts); {load()}. One measurement per series (the median is "
             "over series). The forecast page shows one segment and one quantity at a time, so it pays a "
             "fraction of the all-series cost cold; its cold and warm times are in the renewal model and app "
             "sections.\n\n" + "\n".join(series_table(res)))
    return section("Forecast (Prophet)", results, notes)


def run_section(ctx: Context) -> str:
    """The runner's entry: the grid on the large base."""
    if ctx.big_db is None:
        return section_md(run(600 if ctx.quick else 3000), "a fresh sample")
    return section_md(run(db=ctx.big_db), "the large base")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=3000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--db", type=Path, help="time an existing store instead of a fresh sample")
    p.add_argument("--out", help="also write the markdown here (the full run's record is bench/results.md)")
    p.add_argument("--json", help="also write the raw figures as JSON here")
    args = p.parse_args(argv)
    res = run(args.accounts, args.seed, db=args.db)
    text = to_markdown(res) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
