"""What is loaded: the Home page and `python -m app status` read this."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from app import store
from app.schema import KINDS, quote_ident

# The date column that says what period each table covers.
COVERAGE_COLUMN = {
    "accounts": "created_at", "subscriptions": "start_date", "contracts": "end_date", "usage": "date",
    "nps": "date", "tickets": "opened_at", "churn_reasons": "date", "csms": "start_date",
}


@dataclass(frozen=True)
class Status:
    as_of: dt.date
    active_accounts: int  # accounts with ARR > 0 at the as-of month end
    arr: float  # total ARR at the as-of month end
    tables: pd.DataFrame  # table, rows, from, to
    imports: pd.DataFrame  # the import log, newest first

    @property
    def empty(self) -> bool:
        return int(self.tables["rows"].sum()) == 0


def status(cur: store.Cursor) -> Status:
    asof = store.as_of(cur)
    rows = []
    for kind in KINDS:
        col = quote_ident(COVERAGE_COLUMN[kind])
        n, lo, hi = store.query_rows(cur, f"SELECT count(*), min({col}), max({col}) FROM {quote_ident(kind)}")[0]
        rows.append({"table": kind, "rows": int(n), "from": lo, "to": hi, "holds": KINDS[kind].description})
    tables = pd.DataFrame(rows)
    n_active, arr = store.query_rows(
        cur, "SELECT count(*), coalesce(sum(arr), 0) FROM arr_monthly WHERE month = ?", [asof.replace(day=1)])[0]
    return Status(asof, int(n_active), float(arr), tables, store.import_history(cur))


def arr_monthly_export(cur: store.Cursor) -> pd.DataFrame:
    """account_id, month (first day, ISO), arr: one row per account and month with ARR > 0."""
    df = store.query_df(cur, "SELECT account_id, month, arr FROM arr_monthly ORDER BY account_id, month")
    df["month"] = pd.to_datetime(df["month"]).dt.strftime("%Y-%m-%d")
    return df
