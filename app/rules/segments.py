"""The segment rule, written once: which segments there are, in which order, and the account filter.

An account's segment is its *current* `segment` in accounts, applied to its whole history
(a re-segmented account moves with its past). Every page, metric, forecast and export
filters accounts with ACCOUNT_FILTER (SQL, values always bound), and lists segments with `segments()`,
small to large where the labels are the usual ones.
"""
from __future__ import annotations

from typing import Any

from app.data import store

# Preferred display order of the usual segment labels; others follow alphabetically.
SEGMENT_ORDER = {"smb": 0, "small business": 0, "mid-market": 1, "mid market": 1, "midmarket": 1,
                 "enterprise": 2, "strategic": 3}

# The account filter: a fixed predicate whose values are always bound (NULL = no filter on that
# attribute), so no SQL is ever built from a filter.
ACCOUNT_FILTER = ("account_id IN (SELECT account_id FROM accounts WHERE ($segment IS NULL OR segment = $segment) "
                  "AND ($region IS NULL OR region = $region) AND ($csm_id IS NULL OR csm_id = $csm_id))")


def filters(segment: str | None = None, region: str | None = None, csm_id: str | None = None) -> dict[str, Any]:
    """Bound values for ACCOUNT_FILTER (the account's current segment, region and CSM)."""
    return {"segment": segment, "region": region, "csm_id": csm_id}


def sort_key(label: str) -> tuple[int, str]:
    return SEGMENT_ORDER.get(label.strip().lower(), 9), label.lower()


def order(labels: list[str]) -> list[str]:
    """Segment labels in the one display order: SMB, Mid-Market, Enterprise, Strategic, then A-Z."""
    return sorted(labels, key=sort_key)


def segments(cur: store.Cursor) -> list[str]:
    """The segment labels in accounts, in the one display order."""
    rows = store.query_rows(cur, "SELECT DISTINCT segment FROM accounts WHERE segment IS NOT NULL")
    return order([r[0] for r in rows if str(r[0]).strip()])


