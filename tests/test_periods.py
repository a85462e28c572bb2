"""Calendar rules: fiscal years and quarters, period starts and labels, month steps."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.rules import periods

D = dt.date


@pytest.mark.parametrize(("d", "start", "fy", "q", "label"), [
    (D(2026, 10, 31), 1, 2026, 4, "2026-Q4"),
    (D(2026, 1, 1), 2, 2026, 4, "FY2026-Q4"),  # Feb start: January closes FY2026
    (D(2026, 2, 1), 2, 2027, 1, "FY2027-Q1"),
    (D(2026, 7, 15), 7, 2027, 1, "FY2027-Q1"),  # July start: FY2027 = Jul 2026 - Jun 2027
    (D(2026, 6, 30), 7, 2026, 4, "FY2026-Q4"),
    (D(2026, 12, 31), 10, 2027, 1, "FY2027-Q1"),  # October start (US federal style)
])
def test_fiscal_year_quarter_label(d: dt.date, start: int, fy: int, q: int, label: str) -> None:
    assert periods.fiscal_year(d, start) == fy
    assert periods.fiscal_quarter(d, start) == q
    assert periods.period_label(d, "quarter", start) == label


def test_partial_labels() -> None:
    assert periods.period_label_partial(D(2026, 10, 1), "quarter", 1, D(2026, 10, 1)) == "2026-Q4 (Oct only)"
    assert periods.period_label_partial(D(2026, 10, 1), "year", 1, D(2026, 10, 1)) == "2026 (Jan-Oct)"
    assert periods.period_label_partial(D(2026, 9, 1), "quarter", 1, D(2026, 10, 1)) == "2026-Q3"
    assert periods.period_label_partial(D(2026, 2, 1), "year", 2, D(2026, 3, 1)) == "FY2027 (Feb-Mar)"
    assert periods.period_label(D(2026, 3, 1), "month") == "Mar 2026"


def test_month_steps_clamp_to_month_end() -> None:
    assert periods.add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert periods.add_months(D(2023, 1, 31), 1) == D(2023, 2, 28)
    assert periods.add_months(D(2024, 3, 31), -1) == D(2024, 2, 29)
    assert periods.months_between(D(2023, 11, 30), D(2024, 2, 1)) == 3
    assert periods.last_complete_month_end(D(2026, 11, 30)) == D(2026, 11, 30)
    assert periods.last_complete_month_end(D(2026, 11, 29)) == D(2026, 10, 31)
    with pytest.raises(ValueError):
        periods.fiscal_year(D(2026, 1, 1), 13)


@given(st.dates(min_value=D(1990, 1, 1), max_value=D(2100, 12, 31)), st.integers(1, 12),
       st.sampled_from(periods.FREQS))
def test_a_period_holds_its_dates(d: dt.date, start: int, freq: str) -> None:
    """Restated: a period starts on a first of month, holds d, and its first month is a multiple of its
    length after the fiscal start month; every day of it carries the same label."""
    p0 = periods.period_start(d, freq, start)
    n = periods.period_months(freq)
    assert p0.day == 1 and p0 <= d < periods.add_months(p0, n)
    if freq != "month":
        assert (p0.month - start) % n == 0
    last_day = periods.add_months(p0, n) - dt.timedelta(days=1)
    assert periods.period_label(p0, freq, start) == periods.period_label(d, freq, start) == \
        periods.period_label(last_day, freq, start)
    # the fiscal year is named by the calendar year in which it ends
    fy_end = periods.add_months(periods.period_start(d, "year", start), 12) - dt.timedelta(days=1)
    assert periods.fiscal_year(d, start) == fy_end.year
