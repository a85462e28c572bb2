"""Altair builders for the retention pages: bridge waterfall, trends, cohort heatmap, pareto, benchmarks.

Each takes the DataFrame a metrics function returns and gives back a chart; pages only render.
"""
from __future__ import annotations

from typing import cast

import altair as alt
import pandas as pd

from app.present import fmt
from app.present.charts import PALETTE

_KIND_COLORS = alt.Scale(domain=list(PALETTE), range=list(PALETTE.values()))
_STATUS_COLORS = alt.Scale(
    domain=["below pass", "below peer median", "at peer median", "pass", "above peer median", "excellent"],
    range=["#c62828", "#e57373", "#9e9e9e", "#ffa726", "#66bb6a", "#2e7d32"])
RETENTION_LABELS = {"grr": "GRR", "nrr": "NRR", "logo_retention": "Logo retention"}

# alt.layer is typed LayerChart | FacetChart: a FacetChart only when the layers share row/column/facet
# encodings, which no layer in this module has (hence cast(alt.LayerChart, alt.layer(...))).


def waterfall(steps: pd.DataFrame, title: str = "") -> alt.LayerChart:
    """ARR bridge waterfall from metrics.bridge_steps: floating bars from bar_start to bar_end.

    The axis does not start at zero (start / end bars are cut, as is usual for bridges): from
    zero, a quarter's flows of a few percent would be invisible slivers.
    """
    order = list(steps["step"])
    levels = pd.concat([steps["bar_start"][steps["kind"] != "total"], steps["bar_end"]])
    lo, hi = float(levels.min()), float(levels.max())
    pad = max((hi - lo) * 0.25, abs(hi) * 0.01, 1.0)
    # Ticks at whole 1-2-5 steps with as many digits as the step needs: a $12M company's axis reads
    # $12M, $12.2M, $12.4M, never $12.9M twice.
    y = fmt.axis_spec("money", max(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad)
    # Bar labels as the tiles write money (+$78.9k, -$361.6k, $12.35M); a zero flow gets none ("$0.00" said nothing).
    data = steps.assign(label=[
        "" if a == 0 else fmt.money(a) if k == "total" else fmt.money(a, signed=True)
        for a, k in zip(steps["amount"], steps["kind"], strict=True)])
    base = alt.Chart(data, title=title or f"ARR bridge, {steps['period'].iloc[0]}").encode(
        x=alt.X("step:N", sort=order, title=None, axis=alt.Axis(labelAngle=0)))
    bars = base.mark_bar(clip=True).encode(
        y=alt.Y("bar_start:Q", title="ARR ($)", axis=alt.Axis(**y.axis), scale=alt.Scale(**y.scale)),
        y2="bar_end:Q",
        color=alt.Color("kind:N", scale=_KIND_COLORS, legend=None),
        tooltip=[alt.Tooltip("step:N"), alt.Tooltip("amount:Q", format=fmt.D3_MONEY_EXACT)])
    labels = base.transform_calculate(top="max(datum.bar_start, datum.bar_end)").mark_text(
        dy=-6, fontSize=11).encode(y="top:Q", text=alt.Text("label:N"))
    return cast(alt.LayerChart, alt.layer(bars, labels)).properties(height=320, width=alt.Step(70))


def arr_trend(bridge: pd.DataFrame) -> alt.Chart:
    """End-of-month ARR."""
    y = fmt.axis_spec("money", bridge["end_arr"].min(), bridge["end_arr"].max(), zero=True)
    return alt.Chart(bridge, title="ARR at month end").mark_line(point=False, color=PALETTE["total"]).encode(
        x=alt.X("month:T", title=None),
        y=alt.Y("end_arr:Q", title="ARR ($)", axis=alt.Axis(**y.axis), scale=alt.Scale(**y.scale)),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"), alt.Tooltip("end_arr:Q", format=fmt.D3_MONEY_EXACT),
                 alt.Tooltip("end_logos:Q", title="accounts")],
    ).properties(height=260)


def retention_trend(series: pd.DataFrame, window_months: int = 12) -> alt.Chart:
    """GRR, NRR and logo retention over time (trailing window), one line each."""
    long = series.melt(id_vars=["month"], value_vars=list(RETENTION_LABELS), var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(RETENTION_LABELS)
    y = fmt.axis_spec("pct", long["value"].min(), long["value"].max())
    return alt.Chart(long, title=f"Retention, trailing {window_months} months").mark_line().encode(
        x=alt.X("month:T", title=None),
        y=alt.Y("value:Q", title=None, axis=alt.Axis(**y.axis), scale=alt.Scale(zero=False, **y.scale)),
        color=alt.Color("metric:N", title=None, sort=list(RETENTION_LABELS.values())),
        tooltip=[alt.Tooltip("month:T", format="%Y-%m"), "metric:N", alt.Tooltip("value:Q", format=fmt.D3_PCT)],
    ).properties(height=260)


def cohort_heatmap(cohorts: pd.DataFrame, value: str = "revenue_retention") -> alt.Chart:
    """Cohort x months since start, coloured by logo or revenue retention."""
    label = "Revenue retention" if value == "revenue_retention" else "Logo retention"
    return alt.Chart(cohorts, title=f"{label} by start-quarter cohort").mark_rect().encode(
        x=alt.X("months_since_start:O", title="months since start",
                axis=alt.Axis(labelExpr="datum.value % 6 == 0 ? datum.label : ''", labelAngle=0)),
        y=alt.Y("cohort:O", title="cohort (start quarter)"),
        # clamped at 150% so one cohort's large expansion does not wash out the others
        color=alt.Color(f"{value}:Q", title=label, legend=alt.Legend(format="%"),
                        scale=alt.Scale(scheme="blues", domain=[0, 1.5], clamp=True)),
        tooltip=["cohort:O", "months_since_start:O", alt.Tooltip(f"{value}:Q", format=fmt.D3_PCT),
                 alt.Tooltip("accounts:Q", title="cohort accounts"), "active_accounts:Q"],
    ).properties(height=alt.Step(16), width=alt.Step(9))


def pareto(reasons: pd.DataFrame, reason_col: str, title: str) -> alt.LayerChart:
    """Churned ARR by reason, largest first, with the cumulative share line."""
    order = list(reasons[reason_col])
    # Every bar named: no label thinning, angled and long enough for "Wrong contact / no exec sponsor".
    base = alt.Chart(reasons, title=title).encode(x=alt.X(
        f"{reason_col}:N", sort=order, title=None,
        axis=alt.Axis(labelAngle=-35, labelOverlap=False, labelLimit=200, labelAlign="right")))
    y = fmt.axis_spec("money", reasons["churned_arr"].min(), reasons["churned_arr"].max(), zero=True)
    share = fmt.axis_spec("pct", 0.0, 1.0)
    bars = base.mark_bar(color=PALETTE["churn"]).encode(
        y=alt.Y("churned_arr:Q", title="churned ARR", axis=alt.Axis(**y.axis), scale=alt.Scale(**y.scale)),
        tooltip=[alt.Tooltip(f"{reason_col}:N", title="reason"),
                 alt.Tooltip("churned_arr:Q", title="churned ARR", format=fmt.D3_MONEY_EXACT),
                 alt.Tooltip("logos:Q", title="accounts"),
                 alt.Tooltip("arr_share:Q", title="share", format=fmt.D3_PCT)])
    line = base.mark_line(point=True, color=PALETTE["total"]).encode(
        y=alt.Y("cum_arr_share:Q", title="cumulative share", axis=alt.Axis(**share.axis),
                scale=alt.Scale(**share.scale)))
    return alt.layer(bars, line).resolve_scale(y="independent").properties(height=300)


def benchmark_chart(classified: pd.DataFrame) -> alt.LayerChart:
    """Each segment's GRR / NRR / renewal rate (dots) against the peer median or house pass line (ticks)."""
    df = classified.copy()
    df["metric"] = df["metric"].map({"grr": "GRR", "nrr": "NRR", "renewal_rate": "Renewal rate"})
    df["reference"] = df["peer_median"].where(df["peer_median"].notna(), df["pass"])
    df["reference_label"] = df["peer_median"].notna().map({True: "peer median", False: "house pass line"})
    df = df[df["value"].notna()]
    base = alt.Chart().encode(y=alt.Y("segment:N", title=None, sort=list(dict.fromkeys(df["segment"]))))
    dots = base.mark_point(filled=True, size=120).encode(
        # each panel has its own x range (independent scales), so no fixed ticks: the format alone keeps them apart
        x=alt.X("value:Q", title=None, axis=alt.Axis(**fmt.axis_spec("pct").axis), scale=alt.Scale(zero=False)),
        color=alt.Color("status:N", title="where it stands", scale=_STATUS_COLORS),
        tooltip=["segment:N", "metric:N", alt.Tooltip("value:Q", format=fmt.D3_PCT), "status:N",
                 alt.Tooltip("reference:Q", format=fmt.D3_PCT), "reference_label:N"])
    ticks = base.mark_tick(color="#555", thickness=2, size=22).encode(x="reference:Q")
    return alt.layer(ticks, dots, data=df).properties(width=220, height=120).facet(
        column=alt.Column("metric:N", title=None)).resolve_scale(x="independent")
