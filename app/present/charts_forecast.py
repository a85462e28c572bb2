"""Altair builders for the forecast page: history + forecast with its interval band, backtest errors.

Pages only render these. The band is drawn from yhat_lower (y) to yhat_upper (y2);
tests check the two are not swapped (streamlit/demo-forecast swaps its labels).
"""
from __future__ import annotations

from typing import cast

import altair as alt
import pandas as pd

from app.forecasting import topdown as fc
from app.present import fmt
from app.present.charts import PALETTE

METHOD_COLORS = {"prophet": "#1f4e79", "seasonal_naive": "#8e6bb8", "drift": "#e08a1e"}

# alt.layer is typed LayerChart | FacetChart: a FacetChart only when the layers share row/column/facet
# encodings, which no layer in this module has (hence cast(alt.LayerChart, alt.layer(...))).


def _kind(quantity: str | None) -> fmt.AxisKind:
    return "money" if fc.QUANTITIES.get(quantity or "", {}).get("money", True) else "count"


def _y_format(quantity: str | None) -> str:
    """Tooltip format: exact dollars or counts (axes are compact, from fmt.axis_spec)."""
    return fmt.D3_MONEY_EXACT if _kind(quantity) == "money" else fmt.D3_COUNT


def forecast_frame(result: fc.ForecastResult) -> pd.DataFrame:
    """History and forecast in one long table: month, kind (actual / forecast), value, lower, upper, method."""
    hist = pd.DataFrame({"month": result.history.index, "kind": "actual", "value": result.history.to_numpy(),
                         "lower": float("nan"), "upper": float("nan"), "method": "actual"})
    f = result.frame
    fut = pd.DataFrame({"month": f["month"], "kind": "forecast", "value": f["yhat"], "lower": f["yhat_lower"],
                        "upper": f["yhat_upper"], "method": f["method"]})
    return pd.concat([hist, fut], ignore_index=True)


def forecast_chart(result: fc.ForecastResult, quantity: str | None = None, title: str | None = None,
                   height: int = 300) -> alt.LayerChart:
    """Actuals (solid), forecast (dashed) and its interval as a shaded band (lower to upper)."""
    label = fc.QUANTITIES.get(quantity or "", {}).get("label", "value")
    yfmt = _y_format(quantity)
    df = forecast_frame(result)
    fut = df[df["kind"] == "forecast"]
    # The forecast line starts at the last actual so the two lines join.
    last = df[df["kind"] == "actual"].tail(1).assign(kind="forecast", method=result.method)
    line_df = pd.concat([last, fut], ignore_index=True)
    x = alt.X("month:T", title=None, axis=alt.Axis(format="%b %Y", labelOverlap=True))
    vals = df[["value", "lower", "upper"]]
    ys = fmt.axis_spec(_kind(quantity), vals.min().min(), vals.max().max(), zero=True)
    y_axis, y_scale = alt.Axis(**ys.axis), alt.Scale(**ys.scale)
    band = alt.Chart(fut).mark_area(opacity=0.25, color=PALETTE["total"]).encode(
        x=x,
        y=alt.Y("lower:Q", title=label, axis=y_axis, scale=y_scale),
        y2=alt.Y2("upper:Q"),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"),
                 alt.Tooltip("lower:Q", title=f"lower ({result.interval:.0%})", format=yfmt),
                 alt.Tooltip("upper:Q", title=f"upper ({result.interval:.0%})", format=yfmt)],
    )
    actual = alt.Chart(df[df["kind"] == "actual"]).mark_line(color=PALETTE["total"]).encode(
        x=x, y=alt.Y("value:Q", title=label, axis=y_axis, scale=y_scale),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"), alt.Tooltip("value:Q", title="actual", format=yfmt)])
    forecast = alt.Chart(line_df).mark_line(color=PALETTE["total"], strokeDash=[6, 4]).encode(
        x=x, y=alt.Y("value:Q", title=label, axis=y_axis, scale=y_scale),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"), alt.Tooltip("value:Q", title="forecast", format=yfmt),
                 alt.Tooltip("method:N")])
    chart = cast(alt.LayerChart, alt.layer(band, actual, forecast)).properties(height=height)
    subtitle = f"{fc.METHOD_LABELS.get(result.method, result.method)}; band: {result.interval:.0%} interval"
    scale = dict(result.settings).get("interval_scale")
    if scale:
        subtitle += f", widened {scale:.1f}x to match the backtest's errors"
    return chart.properties(title=alt.TitleParams(title or f"{label}: history and forecast", subtitle=subtitle))


def backtest_chart(bt: fc.Backtest, quantity: str | None = None, height: int = 180) -> alt.FacetChart:
    """Absolute error at each cutoff, by method, one panel per horizon (months ahead)."""
    yfmt = _y_format(quantity)
    df = bt.errors.assign(method_label=bt.errors["method"].map(lambda m: fc.METHOD_LABELS.get(m, m)))
    methods = [m for m in fc.METHODS if m in set(df["method"])]
    color = alt.Color("method_label:N", title="method",
                      scale=alt.Scale(domain=[fc.METHOD_LABELS[m] for m in methods],
                                      range=[METHOD_COLORS[m] for m in methods]))
    ys = fmt.axis_spec(_kind(quantity), 0.0, df["abs_error"].max() if len(df) else None, zero=True)
    base = alt.Chart(df).encode(
        x=alt.X("cutoff:T", title="cutoff (last month of training data)"),
        y=alt.Y("abs_error:Q", title="absolute error", axis=alt.Axis(**ys.axis), scale=alt.Scale(**ys.scale)),
        color=color,
        tooltip=[alt.Tooltip("method_label:N", title="method"), alt.Tooltip("cutoff:T", format="%b %Y"),
                 alt.Tooltip("month:T", title="forecast month", format="%b %Y"),
                 alt.Tooltip("actual:Q", format=yfmt), alt.Tooltip("yhat:Q", title="forecast", format=yfmt),
                 alt.Tooltip("abs_error:Q", title="absolute error", format=yfmt), alt.Tooltip("covered:N")],
    )
    layered = alt.layer(base.mark_line(), base.mark_point(filled=True)).properties(height=height, width=220)
    return layered.facet(column=alt.Column("horizon:O", title="months ahead")).properties(
        title=alt.TitleParams("Backtest: forecast error by cutoff",
                              subtitle=f"rolling origin, {len(bt.cutoffs)} cutoffs"))


def backtest_table(bt: fc.Backtest) -> pd.DataFrame:
    """The summary table for display: method, months ahead, points, MAE, MAPE %, coverage %."""
    s = bt.summary
    return pd.DataFrame({
        "method": s["method"].map(lambda m: fc.METHOD_LABELS.get(m, m)),
        "months ahead": s["horizon"],
        "points": s["n"],
        "MAE": s["mae"].round(2),
        "MAPE %": s["mape"].round(1),
        f"coverage of {fc.INTERVAL:.0%} interval %": s["coverage"].round(0),
    })
