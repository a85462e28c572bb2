"""Altair chart builders for the capacity & budget planner (pages only render them).

Each chart has an Altair builder (`fte_chart`, ...) and a fast twin (`fte_spec`, ...) for the
page's slider reruns: the Vega-Lite spec is built and validated by Altair once per chart
structure (segment, months, target, band) and reused with the new month-by-month data, which
saves ~60-80 ms of Altair construction and schema validation per slider move.
"""
from __future__ import annotations

import copy
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

import altair as alt
import pandas as pd
from altair.utils.data import to_values

from app.present import fmt
from app.present.charts import PALETTE
from planning.spend_benchmarks import Band

_MONTH = alt.X("month:T", title=None, axis=alt.Axis(format="%b %Y"))
# Bars fill their month; lines and areas on the same axis sit at the middle of it.
_MONTH_BAND = alt.X("yearmonth(month):T", title=None, axis=alt.Axis(format="%b %Y"))
_MONTH_MID = alt.X("yearmonth(month):T", title=None, axis=alt.Axis(format="%b %Y"), bandPosition=0.5)

# alt.layer is typed LayerChart | FacetChart: a FacetChart only when the layers share row/column/facet
# encodings, which no layer in this module has (hence cast(alt.LayerChart, alt.layer(...))).


def _by_month(detail: pd.DataFrame, segment: str | None) -> pd.DataFrame:
    d = detail if segment is None else detail[detail["segment"] == segment]
    cols = ["required_fte", "available_fte", "headcount", "hires", "reqs_to_open", "cost", "arr", "coverage_gap"]
    out = d.groupby("month", sort=True)[cols].sum().reset_index()
    out["month"] = pd.to_datetime(out["month"])
    return out


class VegaSpec:
    """A chart as its Vega-Lite spec, with the Altair methods the app uses (to_dict, to_json)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def to_dict(self, **_: Any) -> dict[str, Any]:
        return self.spec

    def to_json(self, **_: Any) -> str:
        return json.dumps(self.spec)


_TEMPLATES: OrderedDict[tuple, tuple[dict[str, Any], str]] = OrderedDict()
_MAX_TEMPLATES = 64


def _templated(key: tuple, build: Callable[[], alt.TopLevelMixin], data: pd.DataFrame) -> VegaSpec:
    """build()'s spec, made by Altair once per key and then reused with `data` as its one dataset."""
    hit = _TEMPLATES.get(key)
    if hit is None:
        spec = build().to_dict()
        names = list(spec.get("datasets", {}))
        if len(names) == 1:  # one dataset: the spec is a template for any data of the same shape
            _TEMPLATES[key] = (copy.deepcopy(spec), names[0])
            while len(_TEMPLATES) > _MAX_TEMPLATES:
                _TEMPLATES.popitem(last=False)
        return VegaSpec(spec)
    _TEMPLATES.move_to_end(key)
    spec, name = hit
    out = dict(spec)
    out["datasets"] = {name: to_values(data)["values"]}
    return VegaSpec(out)


def _fte_frame(detail: pd.DataFrame, segment: str | None) -> pd.DataFrame:
    m = _by_month(detail, segment)
    long = m.melt("month", ["required_fte", "available_fte", "headcount"], "measure", "fte")
    long["measure"] = long["measure"].map({"required_fte": "Required FTE", "available_fte": "Available FTE",
                                           "headcount": "Headcount"})
    return long


def fte_spec(detail: pd.DataFrame, segment: str | None = None) -> VegaSpec:
    """fte_chart's spec, fast (see the module note)."""
    long = _fte_frame(detail, segment)
    return _templated(("fte", segment), lambda: _fte_chart(long, segment), long)


def fte_chart(detail: pd.DataFrame, segment: str | None = None) -> alt.LayerChart:
    """Required vs available FTE (lines) and headcount (steps), all segments or one."""
    return _fte_chart(_fte_frame(detail, segment), segment)


def _fte_chart(long: pd.DataFrame, segment: str | None) -> alt.LayerChart:
    color = alt.Color("measure:N", title=None, scale=alt.Scale(
        domain=["Required FTE", "Available FTE", "Headcount"], range=["#e53935", PALETTE["total"], "#9e9e9e"]))
    base = alt.Chart(long).encode(_MONTH, alt.Y("fte:Q", title="FTE / people"), color,
                                  tooltip=[alt.Tooltip("month:T", format="%b %Y"), "measure:N",
                                           alt.Tooltip("fte:Q", format=",.1f")])
    lines = base.transform_filter(alt.datum.measure != "Headcount").mark_line(point=True)
    steps = base.transform_filter(alt.datum.measure == "Headcount").mark_line(interpolate="step-after",
                                                                              strokeDash=[4, 3])
    title = f"Required vs available FTE ({segment or 'all segments'})"
    return cast(alt.LayerChart, alt.layer(lines, steps)).properties(title=title, height=280)


def _hiring_frame(detail: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    d = detail[["month", "segment", "hires", "reqs_to_open"]].copy()
    d["month"] = pd.to_datetime(d["month"])
    long = d.melt(["month", "segment"], ["hires", "reqs_to_open"], "what", "people")
    long["what"] = long["what"].map({"hires": "Hires starting", "reqs_to_open": "Requisitions to open"})
    # Every plan month on the axis (a band each), even those with no hires: sparse bars read as a timeline.
    months = sorted(long["month"].unique())
    labels = [pd.Timestamp(m).strftime("%b %Y") for m in months]
    long["label"] = long["month"].dt.strftime("%b %Y")
    return long[long["people"] > 0], labels


def hiring_spec(detail: pd.DataFrame) -> VegaSpec:
    """hiring_chart's spec, fast (see the module note)."""
    long, labels = _hiring_frame(detail)
    if long.empty:  # no rows: no dataset to swap
        return VegaSpec(_hiring_chart(long, labels).to_dict())
    return _templated(("hiring", tuple(labels)), lambda: _hiring_chart(long, labels), long)


def hiring_chart(detail: pd.DataFrame) -> alt.Chart:
    """Hires starting and requisitions to open, by month and segment."""
    return _hiring_chart(*_hiring_frame(detail))


def _hiring_chart(long: pd.DataFrame, labels: list[str]) -> alt.Chart:
    return alt.Chart(long).mark_bar().encode(
        alt.X("label:O", title=None, sort=labels, scale=alt.Scale(domain=labels),
              axis=alt.Axis(labelAngle=-40 if len(labels) > 12 else 0, labelOverlap=True)),
        alt.Y("sum(people):Q", title="People"), alt.Color("segment:N", title="Segment"),
        alt.Row("what:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
        tooltip=[alt.Tooltip("label:N", title="month"), "segment:N", "what:N", "people:Q"],
    ).properties(title="Hiring and requisition timeline", height=140,
                 width=alt.Step(max(16, 620 // max(1, len(labels)))))  # a facet does not stretch: size it


def _cost_frame(totals: pd.DataFrame, target_pct: float, band: Band) -> pd.DataFrame:
    t = totals[["month", "arr", "cost", "cost_pct_arr"]].copy()
    t["month"] = pd.to_datetime(t["month"])
    t["target"] = target_pct / 100.0 * t["arr"] / 12.0
    t["band_low"] = band.low.pct_arr / 100.0 * t["arr"] / 12.0
    t["band_high"] = band.high.pct_arr / 100.0 * t["arr"] / 12.0
    return t


def _cost_axis(t: pd.DataFrame) -> fmt.AxisSpec:
    # "$,.0s" read $1M for both $1.2M and $1.4M: ticks and their precision come from fmt.axis_spec
    vals = t[["cost", "target", "band_low", "band_high"]]
    return fmt.axis_spec("money", vals.min().min(), vals.max().max(), zero=True) if len(t) else fmt.axis_spec("money")


def cost_spec(totals: pd.DataFrame, target_pct: float, band: Band) -> VegaSpec:
    """cost_chart's spec, fast (see the module note); the axis ticks are part of the structure."""
    t = _cost_frame(totals, target_pct, band)
    ys = _cost_axis(t)
    key = ("cost", target_pct, band, json.dumps([ys.axis, ys.scale], sort_keys=True, default=str))
    return _templated(key, lambda: _cost_chart(t, target_pct, band, ys), t)


def cost_chart(totals: pd.DataFrame, target_pct: float, band: Band) -> alt.LayerChart:
    """Monthly CS cost (bars) against the target budget (target % x ARR / 12) and the public band."""
    t = _cost_frame(totals, target_pct, band)
    return _cost_chart(t, target_pct, band, _cost_axis(t))


def _cost_chart(t: pd.DataFrame, target_pct: float, band: Band, ys: fmt.AxisSpec) -> alt.LayerChart:
    money, scale = alt.Axis(**ys.axis), alt.Scale(**ys.scale)
    area = alt.Chart(t).mark_area(opacity=0.15, color="#1f4e79").encode(
        _MONTH_MID, alt.Y("band_low:Q", title="Per month", axis=money, scale=scale), alt.Y2("band_high:Q"),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"), alt.Tooltip("band_low:Q", format=fmt.D3_MONEY_EXACT),
                 alt.Tooltip("band_high:Q", format=fmt.D3_MONEY_EXACT)])
    bars = alt.Chart(t).mark_bar(color=PALETTE["total"], opacity=0.8, width={"band": 0.7}).encode(
        _MONTH_BAND, alt.Y("cost:Q", axis=money, scale=scale),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"),
                 alt.Tooltip("cost:Q", format=fmt.D3_MONEY_EXACT, title="CS cost"),
                 alt.Tooltip("cost_pct_arr:Q", format=".1f", title="% of ARR")])
    line = alt.Chart(t).mark_line(color="#e53935", strokeWidth=2).encode(
        _MONTH_MID, alt.Y("target:Q", axis=money, scale=scale),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"), alt.Tooltip("target:Q", format=fmt.D3_MONEY_EXACT,
                                                                      title=f"Target ({target_pct:g}% of ARR)")])
    title = alt.TitleParams(
        "CS cost per month vs target budget",
        subtitle=[f"Red line: target {target_pct:g}% of ARR / 12. Shaded: public band {band.low.pct_arr:g}-"
                  f"{band.high.pct_arr:g}% of ARR ({band.low.source}, {band.low.year}, {band.low.confidence}); "
                  f"median {band.median.pct_arr:g}% ({band.median.source}, {band.median.year})."])
    return cast(alt.LayerChart, alt.layer(area, bars, line)).properties(title=title, height=280)


def compare_chart(results: dict[str, pd.DataFrame], measure: str, title: str, fmt: str = ",.1f") -> alt.Chart:
    """One line per scenario of a totals measure (e.g. headcount, cost_pct_arr)."""
    frames = []
    for name, totals in results.items():
        t = totals[["month", measure]].copy()
        t["scenario"] = name
        frames.append(t)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["month", measure, "scenario"])
    df["month"] = pd.to_datetime(df["month"])
    return alt.Chart(df).mark_line(point=True).encode(
        _MONTH, alt.Y(f"{measure}:Q", title=title), alt.Color("scenario:N", title="Scenario"),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"), "scenario:N", alt.Tooltip(f"{measure}:Q", format=fmt)],
    ).properties(title=title, height=240)
