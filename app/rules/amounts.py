"""How a compact amount reads, written once: 1.23B, 4.56M, 78.9k, 950.

The unit is picked from the rounded value, so 999,999 reads 1.00M, not 1,000.0k. app/present/fmt.py adds the
currency and the sign for pages and exports; planning/ uses it for its headlines' prose (it does not import the
presentation layer).
"""
from __future__ import annotations


def compact(a: float, digits: int = 2) -> str:
    """abs-valued amount in compact form (no currency, no sign)."""
    a = abs(a)
    if round(a / 1e6, digits) >= 1000:
        return f"{a / 1e9:,.{digits}f}B"
    if round(a / 1e3, 1) >= 1000:
        return f"{a / 1e6:,.{digits}f}M"
    if round(a) >= 1000:
        return f"{a / 1e3:,.1f}k"
    return f"{a:,.0f}"
