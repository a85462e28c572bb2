"""Number formats shown to users: one place, so every page reads the same way."""
from __future__ import annotations

import math


def money(x: float | None, digits: int = 2) -> str:
    """Compact dollars: $1.23B, $4.56M, $78.9k, $950."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    a = abs(x)
    if a >= 1e9:
        return f"${x / 1e9:,.{digits}f}B"
    if a >= 1e6:
        return f"${x / 1e6:,.{digits}f}M"
    if a >= 1e3:
        return f"${x / 1e3:,.1f}k"
    return f"${x:,.0f}"
