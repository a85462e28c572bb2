"""Benchmark: the planner model recompute for 36 months x 4 segments (target: under 20 ms).

Times (median of many runs, after warm-up) `planning.model.run_plan` on the
example scenario stretched to 36 months, with ramp, attrition, lead time and
churn all on (the slow path of the hiring search). Baselines in the same run:

- the same model with one segment (the ratio shows it scales linearly in segments);
- a naive spreadsheet-style loop: accounts, required FTE and
  headcount = max(previous, ceil(required)) for 36 x 4 cells, no ramp / attrition
  / lead time, no tables (the floor any implementation pays in Python);
- the model's arithmetic alone (no DataFrames) to show where the time goes;
- what the page's fragment computes per slider move besides the model
  (affordable table and the three chart specs from cached templates), against
  building the three charts with Altair each time (what the page did before).

Prints its section; `python -m bench` records it in bench/results.md.

    PYTHONPATH=. python bench/bench_planner.py [--runs 300]
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Context, Result, load, machine, section, timed  # noqa: E402
from planning import model  # noqa: E402
from planning import scenario as sc  # noqa: E402

BUDGET_MS = 20.0


def naive(s: sc.Scenario) -> list[int]:
    """Spreadsheet logic: one loop per segment and month, headcount = max(prev, ceil(required))."""
    out = []
    for g in s.segments:
        acc, hc = g.start.accounts, g.start.csms
        churn = 1 - (1 - g.demand.annual_logo_churn) ** (1 / 12)
        for new in sc.new_per_month(g, s.start_month, s.months):
            acc = acc * (1 - churn) + new
            hc = max(hc, math.ceil(acc / g.coverage.accounts_per_csm))
            out.append(hc)
    return out


def core_only(s: sc.Scenario) -> None:
    for g in s.segments:
        model._segment_rows(s, g)


def measure(runs: int = 300) -> tuple[str, bool]:
    """The section's markdown and whether run_plan met its budget."""
    base = sc.load_scenario(ROOT / "data" / "scenarios" / "example.json")
    s36 = replace(base, months=36)
    one = replace(s36, segments=s36.segments[1:2])
    assert len(s36.segments) == 4
    result = model.run_plan(s36)
    assert len(result.monthly) == 36 * 4

    from app.present import charts_planning
    from planning.spend_benchmarks import spend_band

    band = spend_band()

    def page_extras() -> None:
        model.affordable(result, 8.5)
        charts_planning.fte_spec(result.detail).to_dict()
        charts_planning.hiring_spec(result.detail).to_dict()
        charts_planning.cost_spec(result.totals, 8.5, band).to_dict()

    def page_extras_altair() -> None:
        model.affordable(result, 8.5)
        charts_planning.fte_chart(result.detail).to_dict()
        charts_planning.hiring_chart(result.detail).to_dict()
        charts_planning.cost_chart(result.totals, 8.5, band).to_dict()

    t_model = timed(lambda: model.run_plan(s36), runs=runs, warmup=5)
    t_one = timed(lambda: model.run_plan(one), runs=runs, warmup=5)
    t_naive = timed(lambda: naive(s36), runs=runs, warmup=5)
    t_core = timed(lambda: core_only(s36), runs=runs, warmup=5)
    t_extras = timed(page_extras, runs=max(20, runs // 10), warmup=2)
    t_extras_alt = timed(page_extras_altair, runs=max(20, runs // 10), warmup=2)
    results = [
        Result("run_plan, 36 months x 4 segments", t_model, "same model, 1 segment", t_one, f"< {BUDGET_MS:g} ms",
               runs),
        Result("run_plan, 36 months x 4 segments", t_model, "naive spreadsheet loop (no ramp/attrition/lead, "
               "no tables)", t_naive, f"< {BUDGET_MS:g} ms", runs),
        Result("model arithmetic only (no DataFrames), 36 x 4", t_core, None, None, "", runs),
        Result("page extras per slider move: affordable + 3 chart specs (cached templates)", t_extras,
               "the same with the charts built by Altair each move", t_extras_alt, "", max(20, runs // 10)),
    ]
    verdict = "meets" if t_model * 1000 < BUDGET_MS else "MISSES"
    notes = (f"Measured at {load()}. The model {verdict} the {BUDGET_MS:g} ms budget: median "
             f"{t_model * 1000:.2f} ms for 144 month-segment rows with ramp, attrition, lead time and churn on. "
             "Most of the model's time is building the three DataFrames; the hiring search itself is plain "
             "Python over lists. The browser's slider-to-headline time (Streamlit round trip, rendering) is "
             "measured in the app section (browser).")
    return section("Planner recompute", results, notes), t_model * 1000 < BUDGET_MS


def run_section(ctx: Context) -> str:
    """The runner's entry."""
    return measure(50 if ctx.quick else 300)[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    text, met = measure(args.runs)
    text = f"# Planner benchmark\n\nMachine: {machine()}.\n\n" + text
    print(text)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
