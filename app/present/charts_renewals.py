"""Altair builders for the renewal forecast: ARR due vs expected with P10-P90, model card charts.

Pages only render these; tests read them through chart.to_dict().
"""
from __future__ import annotations

from typing import cast

import altair as alt
import pandas as pd

from app.forecasting import risk
from app.present import fmt
from app.present.charts import PALETTE

# alt.layer is typed LayerChart | FacetChart: a FacetChart only when the layers share row/column/facet
# encodings, which no layer in this module has (hence cast(alt.LayerChart, alt.layer(...))).


def groups_frame(groups: pd.DataFrame, key: str) -> pd.DataFrame:
    """Long table for the grouped chart: group, measure (ARR due / Expected renewed ARR), value, p10, p90."""
    if groups.empty:
        return pd.DataFrame(columns=[key, "measure", "value", "p10", "p90"])
    due = pd.DataFrame({key: groups[key], "measure": "ARR due", "value": groups["arr_due"],
                        "p10": float("nan"), "p90": float("nan")})
    exp = pd.DataFrame({key: groups[key], "measure": "Expected renewed ARR", "value": groups["expected"],
                        "p10": groups["p10"], "p90": groups["p90"]})
    return pd.concat([due, exp], ignore_index=True)


def groups_chart(groups: pd.DataFrame, key: str, title: str, temporal: bool = False,
                 height: int = 260) -> alt.LayerChart:
    """ARR due and expected renewed ARR side by side per group, the expected bar with its P10-P90 range."""
    df = groups_frame(groups, key)
    # Months as bands (ordinal), so each month's pair of bars sits over its own label, not between ticks.
    x = alt.X(f"{key}:O", title=None, timeUnit="yearmonth", axis=alt.Axis(format="%b %Y", labelAngle=0)) \
        if temporal else alt.X(f"{key}:N", title=None, axis=alt.Axis(labelAngle=0 if len(groups) <= 8 else -40))
    colors = alt.Scale(domain=["ARR due", "Expected renewed ARR"], range=["#b0bec5", PALETTE["total"]])
    top = df[["value", "p90"]].max().max() if len(df) else None
    ys = fmt.axis_spec("money", 0.0, top, zero=True)  # compact ticks ($2M), not $2,000,000
    y_axis, y_scale = alt.Axis(**ys.axis), alt.Scale(**ys.scale)
    bars = alt.Chart(df).mark_bar().encode(
        x=x, xOffset=alt.XOffset("measure:N"),
        y=alt.Y("value:Q", title="ARR", axis=y_axis, scale=y_scale),
        color=alt.Color("measure:N", scale=colors, title=None),
        tooltip=[alt.Tooltip(f"{key}:{'T' if temporal else 'N'}", format="%b %Y" if temporal else "",
                             title={"csm_id": "CSM"}.get(key, key.capitalize())),
                 alt.Tooltip("measure:N", title="measure"),
                 alt.Tooltip("value:Q", title="ARR", format=fmt.D3_MONEY_EXACT),
                 alt.Tooltip("p10:Q", title="P10", format=fmt.D3_MONEY_EXACT),
                 alt.Tooltip("p90:Q", title="P90", format=fmt.D3_MONEY_EXACT)],
    )
    rng = alt.Chart(df[df["measure"] == "Expected renewed ARR"]).mark_rule(color="#263238", strokeWidth=2).encode(
        x=x, xOffset=alt.XOffset("measure:N", scale=alt.Scale(domain=["ARR due", "Expected renewed ARR"])),
        y=alt.Y("p10:Q", axis=y_axis, scale=y_scale), y2=alt.Y2("p90:Q"))
    return cast(alt.LayerChart, alt.layer(bars, rng)).properties(
        height=height, title=alt.TitleParams(title, subtitle="line on the expected bar: P10 to P90 (simulation)"))


def calibration_chart(card: risk.ModelCard, height: int = 260) -> alt.LayerChart:
    """Mean predicted P(renew) against the actual renewal rate per decile of the holdout; diagonal = perfect."""
    df = card.calibration
    lo = float(min(df["predicted"].min(), df["actual"].min(), 1.0)) if len(df) else 0.0
    ps = fmt.axis_spec("pct", lo, 1.0)
    diag = alt.Chart(pd.DataFrame({"x": [lo, 1.0], "y": [lo, 1.0]})).mark_line(
        color="#9e9e9e", strokeDash=[4, 4]).encode(x="x:Q", y="y:Q")
    pts = alt.Chart(df).mark_circle(size=80, color=PALETTE["total"]).encode(
        x=alt.X("predicted:Q", title="predicted P(renew), decile mean", scale=alt.Scale(**ps.scale),
                axis=alt.Axis(**ps.axis)),
        y=alt.Y("actual:Q", title="actual renewal rate", scale=alt.Scale(**ps.scale), axis=alt.Axis(**ps.axis)),
        tooltip=["decile:O", "n:Q", alt.Tooltip("predicted:Q", format=fmt.D3_PCT),
                 alt.Tooltip("actual:Q", format=fmt.D3_PCT)])
    return cast(alt.LayerChart, alt.layer(diag, pts)).properties(height=height, title="Calibration on the holdout")


def importance_chart(card: risk.ModelCard, height: int = 260) -> alt.Chart:
    """Holdout AUC lost when each feature family is shuffled: what the model relies on."""
    df = card.importance
    return alt.Chart(df).mark_bar(color=PALETTE["total"]).encode(
        x=alt.X("auc_drop:Q", title="AUC lost when shuffled"),
        y=alt.Y("label:N", sort="-x", title=None),
        tooltip=["label:N", alt.Tooltip("auc_drop:Q", format=".3f")],
    ).properties(height=height, title="What the model relies on")


def runs_chart(fva: pd.DataFrame, height: int = 240) -> alt.LayerChart:
    """Saved runs: expected renewed ARR with P10-P90 and, once known, the actual."""
    df = fva.assign(run=fva["as_of"].astype(str) + " #" + fva["id"].astype(str))
    vals = df[["p10", "p90", "expected", "actual"]]
    ys = fmt.axis_spec("money", vals.min().min(), vals.max().max(), zero=True) if len(df) else fmt.axis_spec("money")
    rng = alt.Chart(df).mark_rule(strokeWidth=2, color="#78909c").encode(
        x=alt.X("run:N", title="saved run (as-of date #id)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("p10:Q", title="renewed ARR", axis=alt.Axis(**ys.axis), scale=alt.Scale(**ys.scale)), y2="p90:Q")
    exp = alt.Chart(df).mark_tick(thickness=3, size=20, color=PALETTE["total"]).encode(
        x="run:N", y="expected:Q", tooltip=[alt.Tooltip("expected:Q", format=fmt.D3_MONEY_EXACT)])
    act = alt.Chart(df.dropna(subset=["actual"])).mark_point(shape="diamond", size=120, filled=True,
                                                             color=PALETTE["churn"]).encode(
        x="run:N", y="actual:Q", tooltip=[alt.Tooltip("actual:Q", format=fmt.D3_MONEY_EXACT)])
    return cast(alt.LayerChart, alt.layer(rng, exp, act)).properties(
        height=height, title="Forecast (P10-P90, expected) vs actual")
