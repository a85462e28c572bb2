"""Calendar rules, written once: month steps, fiscal years and quarters, period labels.

Pure Python (no store, no Streamlit), so planning/ may use it too.

Fiscal year: a company whose fiscal year starts in month S (1-12) names each
fiscal year by the calendar year in which it *ends* (the usual US convention:
with S = 2, FY2027 runs 1 Feb 2026 - 31 Jan 2027). With S = 1 the fiscal year is
the calendar year and labels read "2026", "2026-Q4"; otherwise "FY2027",
"FY2027-Q1".
"""
from __future__ import annotations

import calendar
import datetime as dt

from dateutil.relativedelta import relativedelta

FREQS = ("month", "quarter", "year")
MONTH_ABBR = tuple(calendar.month_abbr)  # ("", "Jan", ..., "Dec")


def add_months(d: dt.date, n: int) -> dt.date:
    """d moved by n calendar months, the day clamped to the target month's length (31 Jan + 1 = 28/29 Feb)."""
    return d + relativedelta(months=n)


def shift(d: dt.date, n: int) -> dt.date:
    """d moved by n months where a month end stays a month end (31 Oct - 1 = 30 Sep; 30 Nov - 3 = 31 Aug)."""
    out = add_months(d, n)
    return month_end(out) if d == month_end(d) else out


def months_between(a: dt.date, b: dt.date) -> int:
    """Whole calendar-month steps from a's month to b's month (days ignored)."""
    return (b.year - a.year) * 12 + (b.month - a.month)


def month_start(d: dt.date) -> dt.date:
    return dt.date(d.year, d.month, 1)


def month_end(d: dt.date) -> dt.date:
    return dt.date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


def last_complete_month_end(d: dt.date) -> dt.date:
    """The last month end on or before d (d itself when it is a month end)."""
    return d if d == month_end(d) else month_start(d) - dt.timedelta(days=1)


def check_start_month(start_month: int) -> int:
    if not isinstance(start_month, int) or not 1 <= start_month <= 12:
        raise ValueError(f"the fiscal year must start in a month 1-12, not {start_month!r}")
    return start_month


def fiscal_year(d: dt.date, start_month: int = 1) -> int:
    """The fiscal year d falls in, named by the calendar year it ends in."""
    check_start_month(start_month)
    return d.year if start_month == 1 or d.month < start_month else d.year + 1


def fiscal_quarter(d: dt.date, start_month: int = 1) -> int:
    """1-4: the quarter of the fiscal year d falls in."""
    check_start_month(start_month)
    return (d.month - start_month) % 12 // 3 + 1


def period_start(d: dt.date, freq: str, start_month: int = 1) -> dt.date:
    """First day of the month / fiscal quarter / fiscal year containing d."""
    check_start_month(start_month)
    m0 = month_start(d)
    if freq == "month":
        return m0
    offset = (d.month - start_month) % 12
    if freq == "quarter":
        return add_months(m0, -(offset % 3))
    if freq == "year":
        return add_months(m0, -offset)
    raise ValueError(f"freq must be one of {FREQS}, not {freq!r}")


def period_months(freq: str) -> int:
    return {"month": 1, "quarter": 3, "year": 12}[freq]


def period_label(d: dt.date, freq: str, start_month: int = 1) -> str:
    """'Oct 2026', '2026-Q4' / 'FY2027-Q1', '2026' / 'FY2027' for the period containing d."""
    if freq == "month":
        return f"{MONTH_ABBR[d.month]} {d.year}"
    fy = fiscal_year(d, start_month)
    year = str(fy) if start_month == 1 else f"FY{fy}"
    if freq == "quarter":
        return f"{year}-Q{fiscal_quarter(d, start_month)}"
    if freq == "year":
        return year
    raise ValueError(f"freq must be one of {FREQS}, not {freq!r}")


def partial_note(period_first: dt.date, freq: str, last_month: dt.date) -> str:
    """'' when the period is complete by last_month; else the months it holds: 'Oct only', 'Jan-Oct'."""
    n = period_months(freq)
    covered = months_between(period_first, month_start(last_month)) + 1
    if covered >= n or freq == "month":
        return ""
    first, last = MONTH_ABBR[period_first.month], MONTH_ABBR[last_month.month]
    return f"{first} only" if covered == 1 else f"{first}-{last}"


def period_label_partial(d: dt.date, freq: str, start_month: int, last_month: dt.date) -> str:
    """period_label, with the months it holds when the data stops inside it: '2026-Q4 (Oct only)'."""
    label = period_label(d, freq, start_month)
    note = partial_note(period_start(d, freq, start_month), freq, last_month)
    return f"{label} ({note})" if note else label


def fiscal_year_text(start_month: int) -> str:
    """How the setting reads to a user: 'calendar year (Jan-Dec)' or 'Feb-Jan, named by the year it ends'."""
    check_start_month(start_month)
    if start_month == 1:
        return "calendar year (Jan-Dec)"
    end = (start_month - 2) % 12 + 1
    return f"{MONTH_ABBR[start_month]}-{MONTH_ABBR[end]}, named by the calendar year it ends in"
