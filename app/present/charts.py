"""Shared chart plumbing: the house style and PNG rendering (offline, vl-convert).

Chart builders for each area live beside their logic (charts_*.py) and return
Altair charts; pages only render them.
"""
from __future__ import annotations

import altair as alt
import vl_convert as vlc

PALETTE = {
    "new": "#2e7d32", "expansion": "#66bb6a", "reactivation": "#9ccc65",
    "contraction": "#ffa726", "churn": "#e53935", "total": "#1f4e79",
}


def to_png(chart: alt.Chart | alt.LayerChart, scale: float = 2.0) -> bytes:
    """Render a chart to PNG without any network access."""
    return vlc.vegalite_to_png(chart.to_json(), scale=scale)
