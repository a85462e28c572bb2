"""Number formats shown to users: one place, so every page, chart and export reads the same way.

Plain Python (no streamlit, no altair): pages call the text formatters, chart builders call
`axis_spec` and the D3_* strings (Vega-Lite speaks d3-format), exports use the XLSX_* codes.
Conventions (docs/metrics.md, "Number formats"):

- money: compact for tiles and prose ($1.23M, $78.9k, $950), exact for tables ($1,234,567);
  the sign goes before the dollar sign (-$361,553), never "$-361,553".
- fractions are shown as percentages (0.934 -> 93.4%); a change of a percentage is in points (+1.2 pts).
- missing values (None, NaN, NaT) read "n/a" everywhere.
"""
from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from app.rules import amounts

NA = "n/a"

# The store's reporting currency (ISO code): the UI glue sets it once per script run (ui.sidebar_context), the
# CLI and packs leave it at USD unless they set it. Money reads "$" in USD, "€", "£", "¥", else "CHF 1,200".
_CURRENCY = threading.local()
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def set_currency(code: str | None) -> None:
    """The currency money is written in, for this thread (a Streamlit script run): an ISO code, None = USD."""
    _CURRENCY.code = (code or "USD").upper()


def currency() -> str:
    """The ISO code money is written in now (USD unless set)."""
    return getattr(_CURRENCY, "code", "USD")


def currency_symbol() -> str:
    """$ for USD, € £ ¥, else the ISO code and a space."""
    c = currency()
    return _SYMBOLS.get(c, f"{c} ")

AxisKind = Literal["money", "pct", "count"]

# d3-format strings for tooltips and table-like chart text (exact values; axes use axis_spec).
D3_MONEY_EXACT = "$,.0f"
D3_PCT = ".1%"
D3_COUNT = ",.0f"

# Excel number-format codes behind export.to_xlsx_bytes' format names. The cell keeps the exact value;
# "money" shows whole dollars as tables do here, "money_exact" the cents. Excel puts the minus before the $.
XLSX_FORMATS = {
    "money": "$#,##0",
    "money_exact": "$#,##0.00",
    "pct": "0.0%",
    "count": "#,##0",
    "int": "#,##0",
    "number": "#,##0.00",
    "date": "yyyy-mm-dd",
    "text": "@",
}


def is_missing(x: Any) -> bool:
    """None, NaN, NaT and pandas' NA: anything a user should see as "n/a"."""
    if x is None:
        return True
    try:
        return bool(x != x)  # NaN, NaT and pd.NA compare unequal to themselves (pd.NA raises)
    except TypeError:
        return True


def _num(x: Any) -> float | None:
    if is_missing(x):
        return None
    v = float(x)
    return None if math.isinf(v) else v


def money(x: float | None, digits: int = 2, signed: bool = False) -> str:
    """Compact dollars: $1.23B, $4.56M, $78.9k, $950; -$1.20M; "+" in front too when signed (changes)."""
    v = _num(x)
    if v is None:
        return NA
    body = amounts.compact(v, digits)  # the unit rule, once (app/rules/amounts.py)
    return _signed(currency_symbol() + body, v, signed)


def money_exact(x: float | None, signed: bool = False) -> str:
    """Whole dollars with separators: $1,234,567, -$361,553."""
    v = _num(x)
    if v is None:
        return NA
    return _signed(f"{currency_symbol()}{abs(v):,.0f}", v, signed)


def _signed(body: str, v: float, signed: bool) -> str:
    zero = round(abs(v)) == 0  # shows as $0: no "-$0" or "+$0"
    if v < 0 and not zero:
        return "-" + body
    return ("+" + body) if signed and not zero else body


def pct(x: float | None, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage: 0.934 -> 93.4%, 1.05 -> 105.0%."""
    v = _num(x)
    if v is None:
        return NA
    p = round(v * 100, digits) or 0.0  # -0.0 -> 0.0: no "-0.0%"
    return f"{p:{'+' if signed else ''}.{digits}f}%"


def pct_points(x: float | None, digits: int = 1) -> str:
    """A change between two fractions, in percentage points: 0.012 -> +1.2 pts."""
    v = _num(x)
    if v is None:
        return NA
    p = round(v * 100, digits) or 0.0
    return f"{p:+.{digits}f} pts"


def count(n: float | None) -> str:
    """A count with thousands separators: 1,248."""
    v = _num(n)
    if v is None:
        return NA
    return f"{round(v):,}"


def date(d: dt.date | dt.datetime | str | None) -> str:
    """A day as people write it: 31 Oct 2026."""
    if d is None or is_missing(d):
        return NA
    if isinstance(d, str):
        d = dt.date.fromisoformat(d[:10])
    return f"{d.day} {d:%b %Y}"


# ---------------------------------------------------------------- chart axes (Vega-Lite / d3-format)

@dataclass(frozen=True)
class AxisSpec:
    """What a chart builder needs for one quantitative axis: alt.Axis(**axis), alt.Scale(**scale).

    With a data range the tick values are fixed here (1-2-5 steps, as d3 picks them) and the
    label precision follows the step, so neighbouring labels never read the same ($12.9M, $12.9M)
    and zero reads "$0", never "$0.00". The scale's domain is the ticks' span, not niced again.
    """

    format: str
    tick_count: int
    values: tuple[float, ...] = ()
    domain: tuple[float, float] | None = None
    axis: dict[str, Any] = field(init=False)
    scale: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        axis: dict[str, Any] = {"format": self.format, "tickCount": self.tick_count}
        if self.values:
            axis["values"] = list(self.values)
        object.__setattr__(self, "axis", axis)
        object.__setattr__(self, "scale", {"domain": list(self.domain), "nice": False} if self.domain else {})


def tick_step(lo: float, hi: float, count: int = 5) -> float:
    """d3's tick increment: a 1, 2 or 5 x 10^k step giving about `count` ticks over [lo, hi]."""
    span = abs(hi - lo)
    if span == 0 or not math.isfinite(span):
        span = abs(hi) or 1.0
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    err = raw / power
    factor = 10 if err >= math.sqrt(50) else 5 if err >= math.sqrt(10) else 2 if err >= math.sqrt(2) else 1
    return factor * power


def nice_ticks(lo: float, hi: float, count: int = 5) -> tuple[list[float], float]:
    """Tick values covering [lo, hi] at a 1-2-5 step (extended outwards to whole steps), and the step."""
    lo, hi = min(lo, hi), max(lo, hi)
    step = tick_step(lo, hi, count)
    start, stop = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    if stop == start:
        stop += 1
    # round() strips float noise (0.30000000000000004) so Vega and tests see clean numbers
    return [round(i * step, 12) for i in range(start, stop + 1)], step


def _money_precision(values: list[float], step: float) -> int:
    """Significant digits for d3's "s" type so every tick keeps the step's digit: 12.85M needs 4."""
    step_exp = math.floor(math.log10(step))
    need = [math.floor(math.log10(abs(v))) - step_exp + 1 for v in values if v]
    return max([1, *need])


def axis_spec(kind: AxisKind, lo: float | None = None, hi: float | None = None, count: int = 5,
              zero: bool = False) -> AxisSpec:
    """Axis format (and, given the data range, tick values and domain) for money, percent or count axes.

    zero=True takes the axis down (or up) to zero, as bars need. Without a range only the format and
    tick count are set (Vega picks the ticks), at a precision that suits most ranges.
    """
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        # Ticks Vega picks are round numbers: generous precision with ~ (trim zeros) keeps them apart
        # ($12.85M, $12.9M) without padding them ($12.90M) and shows zero as $0.
        default = {"money": "$,.4~s", "pct": ".2~%", "count": ",.2~f"}[kind]
        return AxisSpec(default, count)
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    values, step = nice_ticks(lo, hi, count)
    if kind == "money":
        f = f"$,.{_money_precision(values, step)}~s"
    elif kind == "pct":
        f = f".{max(0, -math.floor(math.log10(step)) - 2)}%"
    else:
        f = f",.{max(0, -math.floor(math.log10(step)))}f"
    return AxisSpec(f, len(values), tuple(values), (values[0], values[-1]))
