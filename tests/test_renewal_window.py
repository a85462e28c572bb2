"""Every renewal in the window, whatever the billing export's shape (issue 11, point 1).

A subscription exported as one open-ended line and the same subscription exported as
one line per billing period (an invoice-line export: each line ends when the next
begins) must give the same renewal dates in a forecast window. Stated here in plain
Python, one subscription and one billing period at a time, and checked against the
SQL on random histories (hypothesis).
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

from app.forecasting import renewals
from app.rules import periods
from tests.conftest import make_store

STORE_AS_OF = dt.date(2024, 6, 30)


@st.composite
def subscription(draw) -> dict:
    bp = draw(st.sampled_from([1, 3, 12]))
    start = dt.date(2022, 1, 1) + dt.timedelta(days=draw(st.integers(0, 800)))
    # periods run so far; a cancelled one stopped after its last period (at or before the as-of date)
    cancelled = draw(st.booleans())
    return {"bp": bp, "start": start, "cancelled": cancelled, "arr": draw(st.sampled_from([1200.0, 600.5, 9000.0])),
            "product": draw(st.sampled_from(["Core", "Add-on"])), "account": draw(st.sampled_from(["A", "B", "C"])),
            "stop_after": draw(st.integers(1, 40))}


def _period_ends(s: dict, until: dt.date) -> list[dt.date]:
    out, k = [], 1
    while (d := periods.add_months(s["start"], k * s["bp"])) <= until:
        out.append(d)
        k += 1
    return out


def _shape(subs: list[dict], as_of: dt.date, per_period: bool) -> pd.DataFrame:
    """The history as an export made at as_of: one open-ended line, or one line per billing period."""
    rows = []
    for s in subs:
        if s["start"] > as_of:
            continue
        ends = _period_ends(s, periods.add_months(as_of, s["bp"] + 1))  # past the period covering as_of
        if s["cancelled"]:
            ends = [e for e in ends[: s["stop_after"]] if e <= as_of]
            if not ends:
                continue
        if per_period:
            starts = [s["start"], *ends[:-1]] if s["cancelled"] else [s["start"], *ends]
            stops = ends if s["cancelled"] else [*ends, None]
            # an export at as_of holds the line covering as_of, not the ones after it
            for a, b in zip(starts, stops, strict=False):
                if a > as_of:
                    break
                rows.append((s["account"], s["product"], a, b if b is not None else periods.add_months(a, s["bp"]),
                             s["arr"], s["bp"]))
        else:
            rows.append((s["account"], s["product"], s["start"], ends[-1] if s["cancelled"] else None, s["arr"],
                         s["bp"]))
    return pd.DataFrame(rows, columns=["account_id", "product", "start_date", "end_date", "arr",
                                       "billing_period_months"])


def reference_window(subs: list[dict], as_of: dt.date, horizon: int) -> dict[tuple[str, dt.date], float]:
    """Each running subscription renews at every billing-period end after as_of, up to the window's end."""
    end = renewals.window_end(as_of, horizon)
    out: dict[tuple[str, dt.date], float] = defaultdict(float)
    for s in subs:
        if s["start"] > as_of or s["cancelled"]:
            continue
        for d in _period_ends(s, end):
            if d > as_of:
                out[(s["account"], d)] += s["arr"]
    return {k: round(v, 2) for k, v in out.items()}


def _due(lines: pd.DataFrame, as_of: dt.date, horizon: int) -> dict[tuple[str, dt.date], float]:
    frames = {"accounts": pd.DataFrame({"account_id": ["A", "B", "C"]}),
              "subscriptions": lines.assign(start_date=pd.to_datetime(lines["start_date"]),
                                            end_date=pd.to_datetime(lines["end_date"]),
                                            billing_period_months=lines["billing_period_months"].astype("Int64"))}
    path = Path(tempfile.mkdtemp(prefix="window_")) / "w.duckdb"
    cur = make_store(path, frames, as_of=STORE_AS_OF.isoformat())
    try:
        due = renewals.due_contracts(cur, as_of, horizon)
        return {(a, e): round(x, 2) for a, e, x in zip(due["account_id"], due["end_date"], due["arr"], strict=True)}
    finally:
        cur.close()
        shutil.rmtree(path.parent, ignore_errors=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(subscription(), min_size=1, max_size=5), st.sampled_from([1, 3, 5, 12]),
       st.sampled_from([STORE_AS_OF, dt.date(2024, 1, 31), dt.date(2023, 8, 31)]))
def test_one_line_or_one_line_per_period_give_the_same_window(subs: list[dict], horizon: int,
                                                              as_of: dt.date) -> None:
    want = reference_window(subs, as_of, horizon)
    # the export as it stood at as_of (a past as-of reads the store's data as known then: same answer)
    assert _due(_shape(subs, as_of, per_period=False), as_of, horizon) == want
    assert _due(_shape(subs, as_of, per_period=True), as_of, horizon) == want


def test_a_fixed_term_followed_by_nothing_stays_one_contract(tmp_path: Path) -> None:
    lines = pd.DataFrame({"account_id": ["A", "B"], "product": ["Core", "Core"],
                          "start_date": [dt.date(2023, 9, 1), dt.date(2023, 9, 1)],
                          "end_date": [dt.date(2024, 9, 1), dt.date(2024, 9, 1)], "arr": [12000.0, 5000.0],
                          "billing_period_months": [12, None]})
    due = _due(lines, STORE_AS_OF, 12)
    assert due == {("A", dt.date(2024, 9, 1)): 12000.0, ("B", dt.date(2024, 9, 1)): 5000.0}


def test_a_co_termed_add_on_renews_on_its_end_date(tmp_path: Path) -> None:
    # an add-on bought mid-term, ending with the main contract: both come up on the same day
    lines = pd.DataFrame({"account_id": ["A", "A"], "product": ["Core", "Seats"],
                          "start_date": [dt.date(2023, 9, 1), dt.date(2024, 2, 10)],
                          "end_date": [dt.date(2024, 9, 1), dt.date(2024, 9, 1)], "arr": [12000.0, 3000.0],
                          "billing_period_months": [12, 12]})
    assert _due(lines, STORE_AS_OF, 12) == {("A", dt.date(2024, 9, 1)): 15000.0}
