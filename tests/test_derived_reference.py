"""The derived tables against plain-Python statements of their rules, on random line items (hypothesis).

The SQL in app/data/store.py is written for speed (levels expanded with generate_series,
exact period bounds, grouped renewal dates); these references are written for
clarity, one line item and one date at a time, straight from the documented rules.
"""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.data import importer, store
from app.rules import periods

FIRST = dt.date(2022, 1, 31)  # a month end, so month arithmetic clamps (Jan 31 + 1 month = Feb 28)
AS_OF = dt.date(2023, 9, 30)
ACCOUNTS = ["A", "B", "C"]


@st.composite
def line(draw) -> tuple:
    account = draw(st.sampled_from(ACCOUNTS))
    # 365 + 30/31/32: a line starting on the last day of, or just past, the grace period of one ending on 365
    start = FIRST + dt.timedelta(days=draw(st.sampled_from([0, 1, 28, 31, 59, 181, 365, 366, 395, 396, 397, 610])))
    bp = draw(st.sampled_from([None, 1, 3, 12, 24]))
    kind = draw(st.sampled_from(["open", "months", "days"]))
    if kind == "open":
        end = None
    elif kind == "months":  # ends on a period boundary (or a multiple of months)
        end = periods.add_months(start, draw(st.sampled_from([1, 2, 3, 12, 13, 24, 36])))
    else:
        end = start + dt.timedelta(days=draw(st.one_of(st.sampled_from([30, 31, 365]), st.integers(1, 500))))
    arr = draw(st.sampled_from([100.0, 250.5, 1200.0, 5000.0]))
    return account, start, end, arr, bp


def _store(lines: list[tuple]) -> tuple[Path, store.Cursor]:
    subs = pd.DataFrame({
        "subscription_id": [f"s{i}" for i in range(len(lines))],
        "account_id": [r[0] for r in lines],
        "start_date": pd.to_datetime([r[1] for r in lines]),
        "end_date": pd.to_datetime([r[2] for r in lines]),
        "arr": [r[3] for r in lines],
        "billing_period_months": pd.array([r[4] for r in lines], dtype="Int64"),
    })
    path = Path(tempfile.mkdtemp(prefix="derivedref_")) / "r.duckdb"
    con = store.connect(path)
    importer.load_frames(con, {"accounts": pd.DataFrame({"account_id": ACCOUNTS}), "subscriptions": subs},
                         as_of=AS_OF.isoformat(), label="reference")
    return path, con


def _month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    out, m = [], first.replace(day=1)
    while m <= last:
        out.append(periods.add_months(m, 1) - dt.timedelta(days=1))
        m = periods.add_months(m, 1)
    return out


def reference_monthly(lines: list[tuple]) -> dict[tuple[str, dt.date], float]:
    """ARR of an account in month m = sum of ARR of its lines active on m's last day (end exclusive)."""
    out: dict[tuple[str, dt.date], float] = {}
    for day in _month_ends(min(r[1] for r in lines), AS_OF):
        for a in ACCOUNTS:
            arr = sum(r[3] for r in lines if r[0] == a and r[1] <= day and (r[2] is None or day < r[2]))
            if round(arr, 2) > 0:
                out[(a, day.replace(day=1))] = round(arr, 2)
    return out


def reference_contracts(lines: list[tuple]) -> dict[tuple[str, dt.date], tuple]:
    """(account, end) -> (start, arr, outcome, renewed_arr), per store._rebuild_contracts' docstring."""
    horizon = periods.add_months(AS_OF, store.CONTRACT_HORIZON_MONTHS)
    grace = dt.timedelta(days=store.RENEWAL_GRACE_DAYS)
    due: dict[tuple[str, dt.date], list] = defaultdict(lambda: [dt.date.max, 0.0, 0.0])  # start, arr, continuing
    starts: dict[tuple[str, dt.date], float] = defaultdict(float)
    for a, start, end, arr, bp in lines:
        # the billing period: as given, else the line's own length in months, else 12 (open-ended)
        if bp is None:
            bp = 12 if end is None else max((end.year - start.year) * 12 + end.month - start.month, 1)
        bp = max(bp, 1)
        starts[(a, start)] += arr
        dates, k = [], 1
        while True:  # the billing-period ends strictly before the line's end, up to the horizon
            d = periods.add_months(start, k * bp)
            if d > horizon or (end is not None and d >= end):
                break
            dates.append(d)
            k += 1
        if end is not None and end <= horizon:
            dates.append(end)
        for d in dates:
            c = due[(a, d)]
            c[0] = min(c[0], periods.add_months(d, -bp))  # the period's start: one billing period back
            c[1] += arr
            c[2] += arr if end is None or end > d else 0.0
    out = {}
    for (a, d), (p0, arr, continuing) in due.items():
        on_date = starts.get((a, d), 0.0)
        renewed = round(continuing, 2) + round(on_date, 2)
        if round(continuing, 2) == 0 and round(on_date, 2) == 0:
            renewed = round(sum(v for (b, s), v in starts.items() if b == a and d < s < d + grace), 2)
        arr = round(arr, 2)
        if d + grace > AS_OF:
            outcome, renewed_arr = None, None
        else:
            outcome = ("churned" if renewed == 0 else "downgraded" if renewed < arr
                       else "expanded" if renewed > arr else "renewed")
            renewed_arr = renewed
        out[(a, d)] = (p0, arr, outcome, renewed_arr)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line(), min_size=1, max_size=8))
def test_monthly_arr_and_contracts_match_the_rules(lines: list[tuple]) -> None:
    path, cur = _store(lines)
    try:
        got_m = {(r[0], r[1]): round(r[2], 2) for r in store.query_rows(cur, "SELECT * FROM arr_monthly")}
        assert got_m == reference_monthly(lines)

        rows = store.query_rows(cur, "SELECT account_id, end_date, start_date, arr, outcome, renewed_arr, "
                                     "contract_id FROM renewals")
        got_c = {(a, e): (s, round(arr, 2), o, None if r is None else round(r, 2))
                 for a, e, s, arr, o, r, _ in rows}
        assert got_c == reference_contracts(lines)
        assert all(cid == f"{a}:{e.isoformat()}" for a, e, *_, cid in rows)
    finally:
        cur.close()
        shutil.rmtree(path.parent, ignore_errors=True)
