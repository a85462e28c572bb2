"""The packs' content, from the functions the pages call, formatted by app.present.fmt as the pages format it.

board: retention headlines, ARR bridge (quarter and year), GRR/NRR trend, churn reasons,
benchmarks, the renewal forecast for the next two quarters, the top at-risk accounts and the
capacity plan's headline. forecast: the quarterly forecast review. plan: one scenario or 2-4
side by side. Every figure is computed at the store's as-of date, for all segments or one.

Which page call each figure mirrors is said next to it; the page's own settings where a page
has a control (window: the Forecast page's "next 2 quarters"; churn reasons: "last 12 months").
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pandas as pd

from app.analytics import benchmarks, metrics
from app.data import store
from app.packs.model import COUNT_AXIS, MONEY_AXIS, PCT_AXIS, Chart, Pack, Series, Slide, Table, Text, Tile, Tiles
from app.present import fmt
from app.present.charts import PALETTE
from planning import inputs as planner_inputs

T = TypeVar("T")

KINDS = ("board", "forecast", "plan")
# Renewal window of the packs: the next two quarters (the Forecast page's "next 2 quarters").
WINDOW_MONTHS = 6
# Board: the at-risk accounts shown (largest expected ARR lost first).
TOP_AT_RISK = 10
# Rows a table slide holds before it continues on the next slide.
TABLE_ROWS = 14
MAX_CONTINUED = 3  # at most this many slides of one long list; the rest is in the page's XLSX
TREND_MONTHS = 36  # the retention trend's last N months
HISTORY_MONTHS = 24  # top-down forecast charts: this much history before the forecast
APP = "Customer Success planner"


class PackError(ValueError):
    """The pack cannot be built (no data, unknown scenario, ...): the message says why."""


# ---------------------------------------------------------------- helpers

def _timed(seconds: dict[str, float], name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    t0 = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    finally:
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0


def _in_thread(cur: store.Cursor, fn: Callable[..., T], *args: Any) -> T:
    """fn(cursor, *args) on a cursor of its own (DuckDB: one cursor per thread)."""
    c = cur.cursor()
    try:
        return fn(c, *args)
    finally:
        c.close()


def _month(m: Any) -> str:
    return f"{pd.Timestamp(m):%b %Y}"


def _where(segment: str | None) -> str:
    return segment or "All segments"


def _text(v: Any) -> str:
    return fmt.NA if fmt.is_missing(v) else str(v)


def _table(df: pd.DataFrame, numeric: Sequence[str] = (), widths: Sequence[float] = (), size: float = 11.0,
           bold_last: bool = False) -> Table:
    cols = tuple(str(c) for c in df.columns)
    rows = tuple(tuple(_text(v) for v in r) for r in df.itertuples(index=False, name=None))
    return Table(cols, rows, tuple(c in numeric for c in cols), tuple(widths), size, bold_last)


def _chunks(df: pd.DataFrame, n: int = TABLE_ROWS) -> list[pd.DataFrame]:
    return [df.iloc[i:i + n] for i in range(0, max(len(df), 1), n)][:MAX_CONTINUED]


def _title_slide(title: str, subtitle: str, notes: str) -> Slide:
    return Slide(title, subtitle, (), notes, kind="title")


def _footer(cur: store.Cursor, segment: str | None) -> str:
    sample = store.sample_label(cur)
    return (f"{APP} · as of {fmt.date(store.as_of(cur))} · {_where(segment)}"
            + (" · sample company (generated data)" if sample else ""))


# ---------------------------------------------------------------- charts from app frames

def waterfall_chart(steps: pd.DataFrame, title: str) -> Chart:
    """metrics.bridge_steps as a stacked column with an invisible base (PowerPoint has no waterfall type)."""
    from app.present import charts_retention

    flows = steps["kind"] != "total"
    base = [0.0 if not f else min(a, b) for f, a, b in zip(flows, steps["bar_start"], steps["bar_end"], strict=False)]
    size = [abs(float(a)) for a in steps["amount"]]
    labels = tuple("" if a == 0 else fmt.money(a) if k == "total" else fmt.money(a, signed=True)
                   for a, k in zip(steps["amount"], steps["kind"], strict=True))
    # The axis is cut as on the page (charts_retention.waterfall): from zero a quarter's flows are slivers.
    levels = pd.concat([steps["bar_start"][flows], steps["bar_end"]])
    lo, hi = float(levels.min()), float(levels.max())
    pad = max((hi - lo) * 0.25, abs(hi) * 0.01, 1.0)
    y = fmt.axis_spec("money", max(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad)
    dom = y.domain or (None, None)
    step = (y.values[1] - y.values[0]) if len(y.values) > 1 else None
    return Chart("waterfall", title, tuple(steps["step"]), (
        Series("Base", tuple(base), invisible=True),
        Series("ARR", tuple(size), point_colors=tuple(PALETTE.get(k, PALETTE["total"]) for k in steps["kind"]),
               labels=labels)),
        MONEY_AXIS, dom[0], dom[1], step, legend=False,
        altair=lambda: charts_retention.waterfall(steps, title))


# ---------------------------------------------------------------- board

def _kpi_slide(kpis: list[metrics.Kpi], ret: pd.DataFrame, asof: dt.date, segment: str | None) -> Slide:
    tiles = []
    for k in kpis:
        delta = k.delta_text
        good = None
        if k.value is not None and k.prior is not None and k.value != k.prior:
            good = k.value > k.prior
        tiles.append(Tile(k.label, k.value_text, f"{delta} vs a year ago" if delta else "no value a year ago",
                          good=good))
    latest = ret.iloc[-1] if len(ret) else None
    cli = ""
    if latest is not None:
        cli = (f"Check: `python -m app metrics retention{' --segment ' + repr(segment) if segment else ''}` prints "
               f"for {pd.Timestamp(latest['month']):%Y-%m-%d}: grr={round(float(latest['grr']), 6)!r}, "
               f"nrr={round(float(latest['nrr']), 6)!r}, logo_retention={round(float(latest['logo_retention']), 6)!r} "
               "(fractions; shown here as percentages).")
    notes = "\n\n".join([f"{k.label}: {k.help}" for k in kpis] + ([cli] if cli else []))
    rows = [(k.label, k.value_text, fmt.NA if k.prior is None else (fmt.money(k.prior) if k.unit == "money"
                                                                   else fmt.pct(k.prior)), k.delta_text or fmt.NA)
            for k in kpis]
    table = Table(("Measure", f"{fmt.date(asof)}", "A year earlier", "Change"), tuple(rows),
                  (False, True, True, True), (2, 1.3, 1.3, 1.8), 12)
    return Slide("Retention at a glance", f"As of {fmt.date(asof)} · {_where(segment)} · change against 12 months "
                 "earlier (rates in percentage points)", (Tiles(tuple(tiles)), table), notes, "rows")


def _bridge_slide(bridge: pd.DataFrame, freq: str, fy: int, label: str) -> Slide | None:
    labels = metrics.bridge_periods(bridge, freq, fy)
    if not labels:
        return None
    # The latest complete quarter (a quarter the data stops inside says so: "2026-Q4 (Oct only)"); the year is
    # the fiscal year to date.
    period = next((p for p in labels if "(" not in p), labels[0]) if freq == "quarter" else labels[0]
    steps = metrics.bridge_steps(bridge, period, freq, fy)
    title = f"ARR bridge, {period}"
    chart = waterfall_chart(steps, title)
    start, end = float(steps["amount"].iloc[0]), float(steps["amount"].iloc[-1])
    change = f"{fmt.money(end - start, signed=True)}" + (f" ({fmt.pct((end - start) / start, signed=True)})"
                                                         if start else "")
    rows = [(r.step, fmt.money_exact(r.amount, signed=r.kind != "total")) for r in steps.itertuples()]
    table = Table(("Step", "ARR"), tuple(rows), (False, True), (1.2, 1), 12)
    notes = "\n".join(metrics.DEFINITIONS[k] for k in
                      ("arr_bridge", "new", "reactivation", "expansion", "contraction", "churn")) + (
        f"\nPeriod: fiscal {freq} {period} ({label}); quarters and years follow the store's fiscal-year start. "
        "Same figures as the Overview page's ARR bridge for this period (metrics.bridge_steps).")
    return Slide(f"ARR bridge: {label}", f"{period}: {fmt.money(start)} to {fmt.money(end)}, {change}",
                 (chart, table), notes, "columns", (2.3, 1))


def _trend_slide(ret: pd.DataFrame, segment: str | None) -> Slide | None:
    from app.present import charts_retention

    if ret.empty:
        return None
    r = ret.tail(TREND_MONTHS)
    cats = tuple(_month(m) for m in r["month"])
    chart = Chart("line", "Retention, trailing 12 months", cats, tuple(
        Series(label, tuple(float(v) for v in r[col]), color)
        for col, label, color in (("grr", "GRR", "#1f4e79"), ("nrr", "NRR", "#2e7d32"),
                                  ("logo_retention", "Logo retention", "#ffa726"))),
        PCT_AXIS, *_pct_axis(r[["grr", "nrr", "logo_retention"]]), altair=lambda: charts_retention.retention_trend(r))
    last, prev = r.iloc[-1], (r.iloc[-13] if len(r) >= 13 else None)
    rows = []
    for col, label in (("grr", "GRR"), ("nrr", "NRR"), ("logo_retention", "Logo retention")):
        rows.append((label, fmt.pct(last[col]), fmt.NA if prev is None else fmt.pct(prev[col]),
                     fmt.NA if prev is None else fmt.pct_points(last[col] - prev[col])))
    table = Table(("Measure", _month(last["month"]), "A year earlier", "Change"), tuple(rows),
                  (False, True, True, True), (1.6, 1.2, 1.2, 1.2), 12)
    notes = " ".join(metrics.DEFINITIONS[k] for k in ("grr", "nrr", "logo_retention")) + (
        " GRR first: it is the share of last year's ARR kept, before any upsell.")
    return Slide("GRR and NRR trend", f"Trailing 12 months at each month end · {_where(segment)}",
                 (chart, table), notes, "rows", (2.6, 1))


def _pct_axis(values: pd.DataFrame) -> tuple[float | None, float | None, float | None]:
    """(min, max, step) of a percent axis as the page's charts pick it (fmt.axis_spec)."""
    y = fmt.axis_spec("pct", float(values.min().min()), float(values.max().max()))
    if not y.domain or len(y.values) < 2:
        return None, None, None
    return y.domain[0], y.domain[1], y.values[1] - y.values[0]


def _reasons_chart(df: pd.DataFrame, col: str, title: str, altair: Callable[[], Any]) -> Chart:
    return Chart("bar", title, tuple(df[col]), (Series(
        "Churned ARR", tuple(float(v) for v in df["churned_arr"]), PALETTE["churn"],
        labels=tuple(f"{fmt.money(v)} ({fmt.pct(s, 0)})"
                     for v, s in zip(df["churned_arr"], df["arr_share"], strict=True))),),
        MONEY_AXIS, axis_min=0.0, legend=False, altair=altair)


def _churn_slide(cr: metrics.ChurnReasons, asof: dt.date, segment: str | None) -> Slide:
    from app.present import charts_retention

    if cr.empty:
        return Slide("Why customers leave", f"No churn in the 12 months to {fmt.date(asof)} · {_where(segment)}",
                     (Text(("No account went to zero ARR in this window.",)),), metrics.DEFINITIONS["churn_reasons"])
    prox, root = cr.by_proximate, cr.by_root
    total, logos = float(prox["churned_arr"].sum()), int(prox["logos"].sum())
    a = _reasons_chart(prox, "proximate_reason", "What customers said (proximate reason)",
                       lambda: charts_retention.pareto(prox, "proximate_reason",
                                                       "Proximate reasons (what customers said)"))
    b = _reasons_chart(root, "root_reason", "What lay behind it (root cause)",
                       lambda: charts_retention.pareto(root, "root_reason", "Root causes (what to fix)"))
    top = root.iloc[0]
    notes = (metrics.DEFINITIONS["churn_reasons"] + f" Window: churn months from {fmt.date(cr.since)} to "
             f"{fmt.date(asof)} (the Cohorts & churn page at 'last 12 months'). Largest root cause: "
             f"{top['root_reason']} ({fmt.money(top['churned_arr'])}, {fmt.pct(top['arr_share'])} of churned ARR).")
    return Slide("Why customers leave", f"Churned ARR in the 12 months to {fmt.date(asof)}: {fmt.money(total)} from "
                 f"{fmt.count(logos)} accounts · {_where(segment)}", (a, b), notes)


def _benchmark_slide(cur: store.Cursor, segment: str | None, asof: dt.date) -> Slide:
    summary = metrics.segment_summary(cur)  # the Benchmarks page: every segment, current attributes
    bench = benchmarks.load_benchmarks()
    cl = benchmarks.classify(summary, bench, benchmarks.load_thresholds())
    if segment is not None:
        cl = cl[cl["segment"] == segment]
    out = []
    for _, r in cl.iterrows():
        metric = benchmarks.METRIC_LABELS[r["metric"]]
        if r["metric"] == "renewal_rate":
            ref = (fmt.NA if fmt.is_missing(r["pass"]) else
                   f"pass {fmt.pct(r['pass'], 0)} / excellent {fmt.pct(r['excellent'], 0)}")
            src = f"{r['source']} ({r['confidence']})" if r["source"] else ""
        else:
            ref = fmt.NA if fmt.is_missing(r["peer_median"]) else f"median {fmt.pct(r['peer_median'], 0)} ({r['band']})"
            if not fmt.is_missing(r["target_low"]):
                ref += f"; target {fmt.pct(r['target_low'], 0)}" + (
                    f"-{fmt.pct(r['target_high'], 0)}" if not fmt.is_missing(r["target_high"]) else "+")
            src = (f"{r['source']}, data {int(r['data_year'])} ({r['confidence']})"
                   if not fmt.is_missing(r["data_year"]) else str(r["source"]))
        status = r["status"] + (f"; {r['target_status']}" if r.get("target_status") else "")
        out.append((str(r["segment"]), metric, fmt.pct(r["value"]), ref, status, src))
    table = Table(("Segment", "Metric", "Value", "Peer reference", "Where it stands", "Source"), tuple(out),
                  (False, False, True, False, False, False), (1.1, 1, 0.8, 2.2, 1.9, 3.2), 10)
    used = bench[bench["source"].isin(set(cl["source"]))]
    notes = (" ".join(metrics.DEFINITIONS[k] for k in ("grr", "nrr", "renewal_rate")) +
             " Peer median: SaaS Capital's median for the ACV band holding the segment's ARR per account; target "
             "band: Bessemer's range for the peer segment; renewal rate: house thresholds from the project's seed "
             "documents (no public source). Sources: " +
             "; ".join(sorted({f"{s} (data year {y}, {c})" for s, y, c in
                               zip(used["source"], used["data_year"], used["confidence"], strict=False)})) + ".")
    return Slide("Against public benchmarks", f"Each segment's trailing-12-month GRR, NRR and renewal rate, as of "
                 f"{fmt.date(asof)}, against published peer figures (source and data year shown)", (table,), notes)


def renewal_tiles(fc: Any) -> Tiles:
    """The Forecast page's five renewal tiles, with the same texts."""
    t = fc.totals
    return Tiles((
        Tile("Accounts due", fmt.count(t["accounts"]), note=f"{fmt.count(t['renewals'])} renewal dates"),
        Tile("ARR due", fmt.money(t["arr_due"])),
        Tile("Expected renewed ARR", fmt.money(t["expected"]),
             f"P10 {fmt.money(t['p10'])} - P90 {fmt.money(t['p90'])}"),
        Tile("Expected lost accounts", f"{t['expected_churned_accounts']:,.1f}",
             f"P10 {t['churned_accounts_p10']:,.0f} - P90 {t['churned_accounts_p90']:,.0f}"),
        Tile("ARR at risk", fmt.money(t["arr_at_risk"]), note=f"{fmt.count(t['n_at_risk'])} streams least likely to "
                                                              "renew"),
    ))


def renewal_month_chart(fc: Any) -> Chart:
    from app.present import charts_renewals

    bm = fc.by_month
    return Chart("column", "ARR due and expected renewed ARR by month", tuple(_month(m) for m in bm["month"]), (
        Series("ARR due", tuple(float(v) for v in bm["arr_due"]), "#b0bec5"),
        Series("Expected renewed ARR", tuple(float(v) for v in bm["expected"]), PALETTE["total"],
               labels=tuple(fmt.money(v) for v in bm["expected"]))),
        MONEY_AXIS, axis_min=0.0,
        altair=lambda: charts_renewals.groups_chart(bm, "month", "ARR due and expected renewed ARR by month",
                                                    temporal=True))


def renewal_month_table(fc: Any) -> Table:
    bm = fc.by_month
    rows = [(_month(r.month), fmt.count(r.n), fmt.money(r.arr_due), fmt.money(r.expected),
             f"{fmt.money(r.p10)} - {fmt.money(r.p90)}") for r in bm.itertuples()]
    t = fc.totals
    rows.append(("Window", fmt.count(t["renewals"]), fmt.money(t["arr_due"]), fmt.money(t["expected"]),
                 f"{fmt.money(t['p10'])} - {fmt.money(t['p90'])}"))
    return Table(("Month", "Renewals", "ARR due", "Expected", "P10 - P90"), tuple(rows),
                 (False, True, True, True, True), (1, 1.05, 1, 1, 2), 11, bold_last=True)


def _renewal_notes(fc: Any, cal: Any) -> str:
    return (f"Expected net renewed ARR {fmt.money(fc.totals['expected_net'])}: expected renewed ARR x the price and "
            "seat change at renewal seen in the last 12 months per segment. " + cal.note + " " +
            f"Shared shock sd {cal.sigma:.2f} on the logit scale (0 = independent renewals). " +
            f"Renewals due after {fmt.date(fc.as_of)} and up to {fmt.date(fc.window_end)} (the Forecast page at "
            f"'next {fc.horizon_months // 3} quarters'), scored contract by contract by the renewal model "
            f"{fc.model_version}. Expected renewed ARR: sum over contracts due of P(renew) x ARR due (flat price). "
            f"P10 / P90: 10th and 90th percentiles of {fmt.count(fc.n_sims)} simulations in which one shared shock "
            "moves every renewal's odds together. ARR at risk: ARR due of the "
            "20% of contracts least likely to renew. By month, every renewal date counts (a monthly subscription in "
            "each month) at ARR x P(still paying after it); the window row counts each contract once, so the months "
            "need not add up to it. " + " ".join(fc.notes))


def _renewal_slide(fc: Any, cal: Any, segment: str | None) -> Slide:
    return Slide("Renewal forecast: the next two quarters",
                 f"Renewals due {fmt.date(fc.as_of)} to {fmt.date(fc.window_end)} · {_where(segment)} · P10-P90 from "
                 "simulation", (renewal_tiles(fc), renewal_month_chart(fc), renewal_month_table(fc)),
                 _renewal_notes(fc, cal), "columns", (1.3, 1)) if len(fc.by_month) else Slide(
        "Renewal forecast: the next two quarters", f"No contracts due by {fmt.date(fc.window_end)}",
        (Text(("No contracts are due in this window.",)),), _renewal_notes(fc, cal))


def _at_risk_frame(fc: Any) -> pd.DataFrame:
    from app.forecasting import renewals

    return renewals.at_risk_table(fc)


def _top_at_risk_slide(fc: Any, segment: str | None) -> Slide:
    risk = _at_risk_frame(fc)
    if risk.empty:
        return Slide("Accounts at risk", "No contracts are due in the window", (), "")
    top = risk.sort_values(["Expected ARR lost", "ARR due"], ascending=False, kind="stable").head(TOP_AT_RISK)
    rows = tuple((str(r["Name"]), _text(r["Segment"]), _text(r["CSM"]), fmt.date(r["Renewal date"]),
                  fmt.money_exact(r["ARR due"]), fmt.pct(r["P(renew)"]), _text(r["Driver 1"]), _text(r["Play 1"]))
                 for _, r in top.iterrows())
    table = Table(("Account", "Segment", "CSM", "Renewal", "ARR due", "P(renew)", "Main driver", "Suggested play"),
                  rows, (False, False, False, False, True, True, False, False), (1.5, 0.9, 1.1, 1, 0.9, 0.75, 2, 2.6),
                  9)
    t = fc.totals
    notes = (f"The {fmt.count(len(top))} accounts of the at-risk list (the {fmt.count(t['n_at_risk'])} contracts "
             "least likely to renew, bottom 20% by P(renew)) with the largest expected ARR lost = (1 - P(renew)) x "
             "ARR due. Main driver: the factor that raised the contract's churn score most against renewed peers of "
             "its segment; suggested play: what to do about it. The full list, with the second and third drivers, is "
             "on the Forecast page (XLSX/CSV).")
    return Slide("Top accounts at risk", f"Renewing by {fmt.date(fc.window_end)} · {_where(segment)} · "
                 f"{fmt.money(t['arr_at_risk'])} ARR at risk in {fmt.count(t['n_at_risk'])} contracts; the "
                 f"{len(top)} with most ARR expected to be lost", (table,), notes)


def plan_tiles(result: Any, band: Any) -> tuple[Tiles, str]:
    """The Planner page's four headline tiles (same texts) and its caption."""
    from planning import model

    s = result.scenario
    h = result.headlines
    pct = h["cost_pct_arr"]
    delta = None if pct.value != pct.value else f"{pct.value - s.target_pct_arr:+.1f} pts vs target"
    band_text = ""
    if band.low and band.high:
        band_text = (f"Public band {band.low.pct_arr:g}-{band.high.pct_arr:g}% of ARR ({band.low.source}, "
                     f"{band.low.year})" + (f"; median {band.median.pct_arr:g}% ({band.median.source})"
                                            if band.median else "") + ".")
    tiles = Tiles((
        Tile(h["hires_year"].label, h["hires_year"].text),
        Tile(h["year_end_headcount"].label, h["year_end_headcount"].text),
        Tile(h["annual_cost"].label, h["annual_cost"].text),
        Tile(pct.label, pct.text, delta, note=f"target {s.target_pct_arr:g}%",
             good=None if delta is None else pct.value <= s.target_pct_arr)))
    caption = f"{model.hiring_words(s)}. Plan year: {model.plan_year_words(s)}. {band_text}"
    return tiles, caption


def _plan_notes(result: Any, source: str) -> str:
    return "\n\n".join([source] + [f"{x.label}: {x.text}. {x.explanation}" for x in result.headlines.values()])


def _capacity_slide(result: Any, band: Any, source: str, segment: str | None) -> Slide:
    tiles, caption = plan_tiles(result, band)
    s = result.scenario
    seg_note = (f" The plan covers every segment (the pack's segment filter, {segment}, does not apply to it)."
                if segment else "")
    return Slide("Capacity plan: what next year takes", f"Scenario “{s.name}” · plan year {_plan_year(s)}",
                 (tiles, Text((caption + seg_note, source), 13)), _plan_notes(result, source), "rows")


def _plan_year(s: Any) -> str:
    from planning import model

    return model.plan_year_words(s)


def _definitions_slide(extra: Sequence[str] = ()) -> Slide:
    keys = ("arr", "nrr", "grr", "logo_retention", "renewal_rate", "churn_reasons")
    paras = tuple(f"- {metrics.DEFINITIONS[k]}" for k in keys) + tuple(extra)
    return Slide("Definitions and sources", "Every figure in this pack comes from the app's own functions at the "
                 "store's as-of date; docs/metrics.md and docs/packs.md give the full methodology", (Text(paras, 11),),
                 "Benchmarks: data/benchmarks.csv (source, data year and confidence on every row); CS spend band: "
                 "data/spend_benchmarks.csv.")


def scenario_file(cur: store.Cursor, path: str) -> Any:
    """A scenario JSON file chosen by the operator (the CLI's --scenario FILE.json), start values from the store."""
    from planning import scenario as sc

    s = sc.load_file(path)
    if s.needs_start:
        d = planner_inputs.StoreDefaults(store.as_of(cur), planner_inputs.starting_point(cur), pd.DataFrame(),
                                         "history")
        s = planner_inputs.fill_from_store(s, d)
    return s


def _resolve_scenarios(cur: store.Cursor, scenarios: Sequence[Any]) -> dict[str, Any]:
    """Names of saved scenarios, or Scenario objects -> {name: Scenario}.

    A name is only ever looked up among the saved scenarios, never opened as a file: names come
    from users (the Planner page). The CLI reads the operator's scenario files itself (scenario_file).
    """
    from planning import scenario as sc

    out: dict[str, Any] = {}
    for item in scenarios:
        if isinstance(item, sc.Scenario):
            s = item
        else:
            name = str(item)
            try:
                s = planner_inputs.load_saved(cur, name)
            except sc.ScenarioError as exc:
                saved = list(planner_inputs.list_saved(cur)["name"])
                raise PackError(f"scenario {name!r}: {exc}" + (
                    f" (saved scenarios: {', '.join(saved)})" if saved else " (no scenario is saved yet: save one "
                                                                            "on the Planner page)")) from exc
        key, i = s.name, 2
        while key in out:
            key, i = f"{s.name} ({i})", i + 1
        out[key] = s
    return out


def default_scenario(cur: store.Cursor) -> tuple[Any, str]:
    """The Planner page's starting scenario (start and demand from the store) and where it comes from."""
    d = planner_inputs.store_defaults(cur)
    s, note = planner_inputs.initial_scenario(d)
    return s, "Scenario: the Planner page's starting point. " + note


def _plan_for(cur: store.Cursor, scenarios: Sequence[Any]) -> tuple[dict[str, Any], str]:
    if scenarios:
        chosen = _resolve_scenarios(cur, scenarios)
        return chosen, "Scenario(s): " + ", ".join(f"“{n}”" for n in chosen) + " (saved on the Planner page)."
    s, note = default_scenario(cur)
    return {s.name: s}, note


def board(cur: store.Cursor, segment: str | None = None, scenarios: Sequence[Any] = ()) -> Pack:
    """The board pack: retention, bridge, churn reasons, benchmarks, renewals, at-risk accounts, capacity."""
    from app.forecasting import renewals
    from planning import model
    from planning.spend_benchmarks import spend_band

    sec: dict[str, float] = {}
    asof, fy = store.as_of(cur), store.fiscal_year_start(cur)
    _check_segment(cur, segment)
    # The two slow parts (training the renewal model; the planner's demand forecast) run beside the metrics.
    with ThreadPoolExecutor(max_workers=3) as ex:
        f_scored = ex.submit(_timed, sec, "renewal model", _in_thread, cur, renewals.prepared_scored)
        f_cal = ex.submit(_timed, sec, "renewal band", _in_thread, cur, renewals.prepared_calibration, WINDOW_MONTHS)
        f_plan = ex.submit(_timed, sec, "capacity plan", _in_thread, cur, _plan_for, list(scenarios))
        kpis = _timed(sec, "metrics", metrics.kpis, cur, segment, compare_months=12)
        if not kpis:
            f_scored.cancel()
            f_plan.cancel()
            raise PackError("no ARR data" + (f" for segment {segment!r}" if segment else "") +
                            " in the store: load subscriptions (or the sample company) first")
        bridge = _timed(sec, "metrics", metrics.arr_bridge, cur, segment)
        ret = _timed(sec, "metrics", metrics.retention_series, cur, 12, segment)
        cr = _timed(sec, "metrics", metrics.churn_reasons, cur, segment, months=12)
        bench_slide = _timed(sec, "metrics", _benchmark_slide, cur, segment, asof)
        scored, cal = f_scored.result(), f_cal.result()
        chosen, source = f_plan.result()
    # As the Forecast page: the model and the band prepared after the import (computed and stored when missing).
    fc = _timed(sec, "renewal window", renewals.summarise, scored, WINDOW_MONTHS, segment, sigma=cal.sigma, cur=cur)
    name, s = next(iter(chosen.items()))
    result = _timed(sec, "capacity plan", model.run_plan, s)
    slides = [
        _title_slide(f"Customer Success board pack{': ' + segment if segment else ''}",
                     f"As of {fmt.date(asof)}", f"Built by the {APP} from the store as of {fmt.date(asof)}; "
                     f"{_where(segment)}. Every figure equals the app's pages at that date."),
        _kpi_slide(kpis, ret, asof, segment),
        _bridge_slide(bridge, "quarter", fy, "last quarter"),
        _bridge_slide(bridge, "year", fy, "fiscal year to date"),
        _trend_slide(ret, segment),
        _churn_slide(cr, asof, segment),
        bench_slide,
        _renewal_slide(fc, cal, segment),
        _top_at_risk_slide(fc, segment),
        _capacity_slide(result, spend_band(), source, segment),
        _definitions_slide(),
    ]
    return Pack("board", f"Customer Success board pack{': ' + segment if segment else ''}", f"As of {fmt.date(asof)}",
                _footer(cur, segment), tuple(x for x in slides if x is not None), sec)


def _check_segment(cur: store.Cursor, segment: str | None) -> None:
    if segment is None:
        return
    segs = metrics.segments(cur)
    if segment not in segs:
        raise PackError(f"segment {segment!r} is not in the store (segments: {', '.join(segs) or 'none'})")


# ---------------------------------------------------------------- forecast

def forecast_line_chart(result: Any, quantity: str) -> Chart:
    """History (last HISTORY_MONTHS months), forecast and its P10-P90 band as lines."""
    from app.forecasting import topdown
    from app.present import charts_forecast

    hist = result.history.tail(HISTORY_MONTHS)
    f = result.frame
    months = list(hist.index) + list(pd.to_datetime(f["month"]))
    nh, nf = len(hist), len(f)
    actual = [float(v) for v in hist.to_numpy()] + [None] * nf
    # the forecast line starts at the last actual so the two lines join (as on the page)
    fcast = [None] * (nh - 1) + ([float(hist.iloc[-1])] if nh else []) + [float(v) for v in f["yhat"]]
    lo = [None] * nh + [float(v) for v in f["yhat_lower"]]
    hi = [None] * nh + [float(v) for v in f["yhat_upper"]]
    q = topdown.QUANTITIES[quantity]
    label = q["label"]
    money = q.get("money", True)
    return Chart("line", f"{label}: history and forecast", tuple(_month(m) for m in months), (
        Series("Actual", tuple(actual), PALETTE["total"]),
        Series("Forecast", tuple(fcast), "#e08a1e", dashed=True),
        Series("P10", tuple(lo), "#9e9e9e", dashed=True),
        Series("P90", tuple(hi), "#9e9e9e", dashed=True)),
        MONEY_AXIS if money else COUNT_AXIS,
        altair=lambda: charts_forecast.forecast_chart(result, quantity))


def _by_period_table(table: pd.DataFrame, money: bool) -> Table:
    f = fmt.money if money else fmt.count
    rows = tuple((r.period, f"{r.actual_months} + {r.forecast_months}", f(r.forecast), f"{f(r.p10)} - {f(r.p90)}")
                 for r in table.itertuples())
    return Table(("Fiscal quarter", "Actual + forecast months", "Forecast", "P10 - P90"), rows,
                 (False, True, True, True), (1.4, 1.1, 1, 1.8), 11)


def _accuracy_table(bt: Any, money: bool) -> Table:
    from app.forecasting import topdown

    s = bt.summary
    if s.empty:
        return Table(("Backtest",), (("Too little history to backtest",),))
    rows = []
    for m, g in s.groupby("method", sort=False):
        g = g.sort_values("horizon")
        mae = float(g["mae"].mean())
        rows.append(((topdown.METHOD_LABELS.get(m, m) + (" (winner)" if m == bt.best_method else "")),
                     fmt.money_exact(mae) if money else f"{mae:,.1f}",
                     " / ".join(fmt.NA if fmt.is_missing(v) else f"{v:.1f}%" for v in g["mape"]),
                     " / ".join(f"{v:.0f}%" for v in g["coverage"])))
    hs = "/".join(str(int(h)) for h in sorted(s["horizon"].unique()))
    return Table(("Method", "Mean absolute error", f"MAPE at {hs} months", f"Raw 80% interval held, {hs} mo"),
                 tuple(rows), (False, True, True, True), (1.4, 1.3, 1.5, 1.6), 10)


def _topdown_slide(cur: store.Cursor, quantity: str, segment: str | None, fy: int, sec: dict[str, float]) -> Slide:
    from app.forecasting import topdown

    q = topdown.QUANTITIES[quantity]
    title = f"Top-down forecast: {q['label']}"
    try:
        bt = _timed(sec, "top-down", topdown.backtest_quantity, cur, quantity, segment)
        result = _timed(sec, "top-down", topdown.forecast_quantity, cur, quantity, segment, WINDOW_MONTHS,
                        *bt.choice("auto"))
    except ValueError as exc:
        return Slide(title, "No forecast", (Text((f"No top-down forecast: {exc}.",)),), q["definition"])
    money = q.get("money", True)
    table = topdown.by_period(result, quantity, fy)
    winner = topdown.METHOD_LABELS[bt.best_method]
    notes = (f"{q['definition']} {bt.explanation} {result.note} By fiscal quarter: " +
             ("the sum of the months (actual months included); P10 and P90 add the monthly bounds (a wide band)."
              if q.get("flow") else "the value at the quarter's last month, with that month's P10-P90.") +
             " Same as the Forecast page's top-down section with the method 'best in backtest'.")
    return Slide(title, f"{_where(segment)} · next {WINDOW_MONTHS} months · backtest winner: {winner}",
                 (forecast_line_chart(result, quantity), _by_period_table(table, money), _accuracy_table(bt, money)),
                 notes, "left-stack", (1.4, 1))


def _fva_slide(cur: store.Cursor) -> Slide:
    from app.forecasting import renewals
    from app.present import charts_renewals

    fva = renewals.forecast_vs_actual(cur)
    title = "Forecast against actual"
    if fva.empty:
        return Slide(title, "No forecast run saved yet", (Text((
            "Every renewal forecast shown on the Forecast page is saved; once a saved run's renewals are due, this "
            "slide holds it against what happened.",)),), "")
    done = fva[fva["status"] != "pending"]
    last = done.iloc[0] if len(done) else fva.iloc[0]
    tiles = Tiles((
        Tile("Run as of", fmt.date(last["as_of"]), note=f"window to {fmt.date(last['window_end'])}"),
        Tile("Expected renewed ARR", fmt.money(last["expected"]),
             f"P10 {fmt.money(last['p10'])} - P90 {fmt.money(last['p90'])}"),
        Tile("Actual renewed ARR", fmt.money(last["actual"]) if last["status"] == "complete" else last["status"]),
        Tile("Expected - actual", fmt.money_exact(last["error"]),
             None if last["within_p10_p90"] is None else ("within P10-P90" if last["within_p10_p90"]
                                                          else "outside P10-P90"),
             good=None if last["within_p10_p90"] is None else bool(last["within_p10_p90"]))))
    shown = fva.head(8)
    rows = tuple((fmt.date(r.as_of), fmt.date(r.window_end), str(r.segment), fmt.money_exact(r.expected),
                  f"{fmt.money(r.p10)} - {fmt.money(r.p90)}", fmt.money_exact(r.actual), fmt.money_exact(r.error),
                  "-" if r.within_p10_p90 is None else "yes" if r.within_p10_p90 else "no", str(r.status))
                 for r in shown.itertuples())
    table = Table(("Run as of", "Window end", "Segment", "Expected", "P10 - P90", "Actual", "Expected - actual",
                   "In P10-P90", "Status"), rows, (False, False, False, True, True, True, True, False, False),
                  size=10)
    blocks: tuple = (tiles, table)
    if len(done):
        d = done.head(8).iloc[::-1]
        cats = tuple(f"{fmt.date(a)} #{i}" for a, i in zip(d["as_of"], d["id"], strict=True))
        blocks = (tiles, Chart("column", "Expected vs actual renewed ARR", cats, (
            Series("Expected", tuple(float(v) for v in d["expected"]), PALETTE["total"]),
            Series("Actual", tuple(None if fmt.is_missing(v) else float(v) for v in d["actual"]), PALETTE["churn"])),
            MONEY_AXIS, axis_min=0.0, altair=lambda: charts_renewals.runs_chart(done)), table)
    notes = ("Each saved run against what happened: actual renewed ARR = ARR due of the contracts that renewed (a "
             "contract churned when any of its renewals churned). Status complete: every outcome known; partial: "
             "some pending; pending: none known yet. The slide's headline is the newest run with outcomes known.")
    return Slide(title, f"Last saved run with outcomes: as of {fmt.date(last['as_of'])}, {last['segment']}", blocks,
                 notes, "columns", (1, 1.4))


def _csm_slides(fc: Any, segment: str | None) -> list[Slide]:
    risk = _at_risk_frame(fc)
    title = "At-risk accounts by CSM"
    if risk.empty:
        return [Slide(title, "No contracts are due in the window", (), "")]
    risk = risk.assign(CSM=risk["CSM"].fillna("(no CSM)"))
    g = (risk.groupby("CSM", sort=False)
         .agg(contracts=("Account", "size"), arr_due=("ARR due", "sum"), lost=("Expected ARR lost", "sum"))
         .sort_values(["lost", "arr_due"], ascending=False).reset_index())
    top = g.head(12)
    chart = Chart("bar", "Expected ARR lost among at-risk contracts, by CSM", tuple(top["CSM"]), (
        Series("Expected ARR lost", tuple(float(v) for v in top["lost"]), PALETTE["churn"],
               labels=tuple(fmt.money(v) for v in top["lost"])),), MONEY_AXIS, axis_min=0.0, legend=False)
    summary = Table(("CSM", "At-risk contracts", "ARR due", "Expected ARR lost"), tuple(
        (str(r.CSM), fmt.count(r.contracts), fmt.money_exact(r.arr_due), fmt.money_exact(r.lost))
        for r in g.head(TABLE_ROWS).itertuples()), (False, True, True, True), (1.6, 1, 1.1, 1.2), 10)
    notes = ("The at-risk list (the 20% of contracts due least likely to renew) grouped by the account's CSM (the "
             "roster's name), largest expected ARR lost = (1 - P(renew)) x ARR due first. The Forecast page's at-risk "
             "list filtered by CSM gives the same rows; its XLSX has every contract with all three drivers and plays.")
    slides = [Slide(title, f"Renewing by {fmt.date(fc.window_end)} · {_where(segment)} · {fmt.count(len(risk))} "
                    f"contracts, {fmt.money(fc.totals['arr_at_risk'])} ARR due", (chart, summary), notes,
                    "columns", (1.3, 1))]
    order = {c: i for i, c in enumerate(g["CSM"])}
    lst = risk.assign(_o=risk["CSM"].map(order)).sort_values(["_o", "Expected ARR lost"], ascending=[True, False])
    frame = pd.DataFrame({
        "CSM": lst["CSM"], "Account": lst["Name"], "Renewal": lst["Renewal date"].map(fmt.date),
        "ARR due": lst["ARR due"].map(fmt.money_exact), "P(renew)": lst["P(renew)"].map(fmt.pct),
        "Expected ARR lost": lst["Expected ARR lost"].map(fmt.money_exact), "Main driver": lst["Driver 1"],
        "Suggested play": lst["Play 1"]})
    chunks = _chunks(frame)
    for i, part in enumerate(chunks):
        more = "" if i < len(chunks) - 1 or len(frame) <= TABLE_ROWS * MAX_CONTINUED else (
            f" · first {TABLE_ROWS * MAX_CONTINUED} of {fmt.count(len(frame))} (the full list: the Forecast "
            "page's XLSX)")
        slides.append(Slide(f"At-risk list by CSM ({i + 1}/{len(chunks)})", f"CSMs with the most expected ARR lost "
                            f"first{more}", (_table(part, ("ARR due", "P(renew)", "Expected ARR lost"),
                                                    (1.1, 1.5, 0.9, 0.9, 0.7, 1, 1.9, 2.6), 9),), notes))
    return slides


def forecast(cur: store.Cursor, segment: str | None = None, scenarios: Sequence[Any] = ()) -> Pack:
    """The quarterly forecast review: top-down forecasts with backtests, renewals, forecast vs actual, at-risk."""
    from app.forecasting import renewals

    sec: dict[str, float] = {}
    asof, fy = store.as_of(cur), store.fiscal_year_start(cur)
    _check_segment(cur, segment)
    if store.query_rows(cur, "SELECT count(*) FROM arr_monthly")[0][0] == 0:
        raise PackError("no ARR data in the store: load subscriptions (or the sample company) first")
    with ThreadPoolExecutor(max_workers=2) as ex:
        f_scored = ex.submit(_timed, sec, "renewal model", _in_thread, cur, renewals.prepared_scored)
        f_cal = ex.submit(_timed, sec, "renewal band", _in_thread, cur, renewals.prepared_calibration, WINDOW_MONTHS)
        topdown_slides = [_topdown_slide(cur, q, segment, fy, sec) for q in ("arr", "new_arr", "churned_arr")]
        scored, cal = f_scored.result(), f_cal.result()
    fc = _timed(sec, "renewal window", renewals.summarise, scored, WINDOW_MONTHS, segment, sigma=cal.sigma, cur=cur)
    slides = [
        _title_slide(f"Quarterly forecast review{': ' + segment if segment else ''}", f"As of {fmt.date(asof)}",
                     f"Built by the {APP} from the store as of {fmt.date(asof)}; {_where(segment)}."),
        *topdown_slides,
        _renewal_slide(fc, cal, segment),
        _fva_slide(cur),
        *_csm_slides(fc, segment),
        _definitions_slide(("- Top-down: each series forecast by the method with the lowest backtest error "
                            "(Prophet, seasonal naive or drift), its band the 80% interval widened to hold 80% of "
                            "the backtest's actuals (docs/forecasting.md).",
                            "- Bottom-up: every contract due scored by the renewal model (docs/renewal_model.md).")),
    ]
    return Pack("forecast", f"Quarterly forecast review{': ' + segment if segment else ''}", f"As of {fmt.date(asof)}",
                _footer(cur, segment), tuple(slides), sec)


# ---------------------------------------------------------------- plan

def _assumptions_table(s: Any) -> Table:
    from planning import scenario as sc
    from planning.model import _coverage_words

    cols = ("Segment", "Accounts now", "ARR now", "CSMs now", "New customers, yr 1", "Avg new ARR",
            "Logo churn / yr", "Net expansion / yr", "Coverage", "Cost per CSM", "Ramp", "Attrition / yr",
            "Lead time")
    rows = []
    for g in s.segments:
        d = sc.segment_demand(s, g)
        p = g.people
        rows.append((g.name + (" (tech touch)" if g.tech_touch else ""), fmt.count(g.start.accounts),
                     fmt.money(g.start.arr), fmt.count(g.start.csms), fmt.count(sum(sc.segment_new(s, g, 12))),
                     fmt.money_exact(d.avg_new_arr), fmt.pct(d.annual_logo_churn), fmt.pct(d.annual_net_expansion),
                     _coverage_words(g).removeprefix(g.name + " "), fmt.money_exact(p.cost_per_csm),
                     f"{p.ramp_months} mo at {fmt.pct(p.ramp_productivity, 0)}", fmt.pct(p.annual_attrition, 0),
                     f"{p.lead_time_months} mo"))
    return Table(cols, tuple(rows), (False, True, True, True, True, True, True, True, False, True, False, True, False),
                 (1.3, 0.9, 0.9, 0.7, 0.9, 0.9, 0.8, 0.9, 1.8, 0.9, 1, 0.8, 0.7), 9)


def _assumption_slide(name: str, s: Any) -> Slide:
    from planning import model

    extra = [f"Target CS budget {s.target_pct_arr:g}% of ARR · plan year {model.plan_year_words(s)} · "
             f"{s.months} months · {model.hiring_words(s)}."]
    if s.new_customers is not None:
        extra.append(f"New customers: {fmt.count(s.new_customers.total_per_year)} in the plan year, mix " +
                     ", ".join(f"{n} {fmt.pct(v, 0)}" for n, v in s.new_customers.mix) + ".")
    if s.notes:
        extra.append(f"Notes: {s.notes}")
    return Slide(f"Assumptions: {name}", "Inputs of the scenario, by segment", (_assumptions_table(s),
                                                                                Text(tuple(extra), 11)),
                 "Each input's definition and valid range: docs/planning.md. Fractions shown as percentages.",
                 "rows", (2, 1))


def _cost_chart(result: Any, band: Any) -> Chart:
    from app.present import charts_planning

    t = result.totals
    s = result.scenario
    return Chart("line", "CS cost per month vs target budget", tuple(_month(m) for m in t["month"]), (
        Series("CS cost / month", tuple(float(v) for v in t["cost"]), PALETTE["total"]),
        Series(f"Target ({s.target_pct_arr:g}% of ARR) / month", tuple(float(v) for v in t["target_cost"]),
               PALETTE["churn"], dashed=True)), MONEY_AXIS, axis_min=0.0,
        altair=lambda: charts_planning.cost_chart(t, s.target_pct_arr, band))


def _fte_chart(result: Any) -> Chart:
    from app.present import charts_planning

    t = result.totals
    return Chart("line", "Required FTE, available FTE and headcount", tuple(_month(m) for m in t["month"]), (
        Series("Required FTE", tuple(float(v) for v in t["required_fte"]), PALETTE["churn"]),
        Series("Available FTE", tuple(float(v) for v in t["available_fte"]), PALETTE["new"]),
        Series("Headcount", tuple(float(v) for v in t["headcount"]), PALETTE["total"], dashed=True)), "#,##0.0",
        altair=lambda: charts_planning.fte_chart(result.detail))


def _compare_chart(cmp: Any, measure: str, title: str, number_format: str) -> Chart:
    from app.present import charts_planning

    first = next(iter(cmp.totals.values()))
    return Chart("line", title, tuple(_month(m) for m in first["month"]), tuple(
        Series(n, tuple(float(v) for v in t[measure])) for n, t in cmp.totals.items()), number_format,
        altair=lambda: charts_planning.compare_chart(cmp.totals, measure, title,
                                                     ",.0f" if measure == "headcount" else ".1f"))


def plan(cur: store.Cursor, segment: str | None = None, scenarios: Sequence[Any] = ()) -> Pack:
    """One scenario (headlines, charts, assumptions, monthly totals) or 2-4 side by side."""
    from planning import model
    from planning.spend_benchmarks import spend_band

    sec: dict[str, float] = {}
    asof = store.as_of(cur)
    if len(scenarios) > 4:
        raise PackError(f"a plan pack compares at most 4 scenarios, not {len(scenarios)}")
    chosen, source = _timed(sec, "capacity plan", _plan_for, cur, list(scenarios))
    band = spend_band()
    names = list(chosen)
    slides = [_title_slide("Capacity and budget plan" + (f": {names[0]}" if len(names) == 1 else
                                                         f": {len(names)} scenarios side by side"),
                           f"As of {fmt.date(asof)}", source)]
    if len(chosen) == 1:
        name, s = names[0], chosen[names[0]]
        result = _timed(sec, "capacity plan", model.run_plan, s)
        tiles, caption = plan_tiles(result, band)
        slides.append(Slide(f"Plan headlines: {name}", f"Plan year {model.plan_year_words(s)}",
                            (tiles, Text((caption,), 13)), _plan_notes(result, source), "rows"))
        slides.append(Slide("Headcount and cost by month", f"All segments · {s.months} months from "
                            f"{s.start_month:%b %Y}", (_fte_chart(result), _cost_chart(result, band)),
                            "Required FTE from the coverage model; available FTE counts ramping hires at their ramp "
                            "productivity; cost = headcount x (cost + tooling) / 12 + managers x manager cost / 12."))
        t = result.totals.head(12)
        frame = pd.DataFrame({
            "Month": t["month"].map(_month), "Accounts": t["accounts"].map(fmt.count), "ARR": t["arr"].map(fmt.money),
            "Required FTE": t["required_fte"].map(lambda v: f"{v:,.1f}"), "Headcount": t["headcount"].map(fmt.count),
            "Hires": t["hires"].map(fmt.count), "Cost / month": t["cost"].map(fmt.money_exact),
            "Cost % of ARR": t["cost_pct_arr"].map(lambda v: fmt.pct(v / 100.0))})
        slides.append(Slide("The plan month by month", "All segments, the plan's first 12 months (the Planner page's "
                            "CLI table summed over segments)", (_table(frame, tuple(frame.columns[1:]), size=10),),
                            "python -m app plan --scenario FILE.json gives the same table by segment."))
        slides.append(_assumption_slide(name, s))
    else:
        cmp = _timed(sec, "capacity plan", model.compare, chosen)
        from planning import inputs as pi

        disp = pi.comparison_display(cmp.table).rename(columns=lambda c: c.replace("Δ", "Change in"))
        slides.append(Slide("Scenarios side by side", f"Headlines over each plan's first 12 months; changes against "
                            f"“{names[0]}”", (_table(disp, tuple(c for c in disp.columns if c not in
                                                                  ("Scenario", "Hiring rule")), size=11),),
                            "Same table as the Planner page's 'Compare side by side'. " + source))
        slides.append(Slide("Headcount and cost as % of ARR", "One line per scenario", (
            _compare_chart(cmp, "headcount", "CSM headcount", COUNT_AXIS),
            _compare_chart(cmp, "cost_pct_arr", "Cost as % of ARR", '0.0"%"')), ""))
        for name in names:
            slides.append(_assumption_slide(name, chosen[name]))
    return Pack("plan", slides[0].title, f"As of {fmt.date(asof)}", _footer(cur, None), tuple(slides), sec)


BUILDERS: dict[str, Callable[..., Pack]] = {"board": board, "forecast": forecast, "plan": plan}


def build_content(cur: store.Cursor, kind: str, segment: str | None = None, scenarios: Sequence[Any] = ()) -> Pack:
    if kind not in BUILDERS:
        raise PackError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    t0 = time.perf_counter()
    pack = BUILDERS[kind](cur, segment, scenarios)
    pack.seconds["content"] = time.perf_counter() - t0
    return pack

