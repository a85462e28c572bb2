"""What is loaded: the Home page and `python -m app status` read this."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from app.data import store
from app.data.schema import KINDS, quote_ident
from app.present import fmt

# The date column that says what period each table covers.
COVERAGE_COLUMN = {
    "accounts": "created_at", "subscriptions": "start_date", "contracts": "end_date", "usage": "date",
    "nps": "date", "tickets": "opened_at", "churn_reasons": "date", "csms": "start_date", "fx_rates": "date",
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
        return int(self.tables.loc[self.tables["table"] != "fx_rates", "rows"].sum()) == 0  # rates are settings


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


# ----------------------------------------------------------------- text for a terminal


def _cell(v: Any) -> str:
    """A value as a terminal shows it: ISO dates, thousands separators, blank for none."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M") if (v.hour, v.minute, v.second) != (0, 0, 0) else v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (int,)) or (hasattr(v, "is_integer") and float(v).is_integer() and not isinstance(v, bool)):
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return " ".join(str(v).split())


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else (text[: max(width - 1, 0)] + "…" if width > 0 else "")


def text_table(df: pd.DataFrame, width: int, right: tuple[str, ...] = (), max_widths: dict[str, int] | None = None,
               indent: int = 2) -> list[str]:
    """Aligned plain-text lines of df, no line wider than width: the last column takes what is left.

    right: columns aligned right (numbers). max_widths: caps on a column's width (longer values
    end in "…").
    """
    cols = list(df.columns)
    cells = [[_cell(v) for v in df[c].tolist()] for c in cols]
    caps = max_widths or {}
    widths = []
    for c, vals in zip(cols, cells, strict=False):
        w = max([len(c)] + [len(v) for v in vals])
        widths.append(min(w, caps.get(c, w)))
    gap = 2
    if cols:  # the last column gets the room left (at least its header)
        used = indent + sum(widths[:-1]) + gap * (len(cols) - 1)
        widths[-1] = max(min(widths[-1], width - used), min(len(cols[-1]), 8))

    def line(values: list[str]) -> str:
        parts = []
        for c, v, w in zip(cols, values, widths, strict=False):
            v = _cut(v, w)
            parts.append(v.rjust(w) if c in right else v.ljust(w))
        return (" " * indent + (" " * gap).join(parts)).rstrip()

    out = [line(cols), " " * indent + (" " * gap).join("-" * w for w in widths)]
    out += [line([vals[i] for vals in cells]) for i in range(len(df))]
    return [_cut(x, width) for x in out]


def status_text(st: Status, path: object, width: int = 100, n_imports: int = 10) -> str:
    """`python -m app status`: the store, its as-of date and ARR, each table, the last imports."""
    lines = [f"Store: {path}",
             f"As of: {st.as_of.isoformat()}   accounts with ARR: {st.active_accounts:,}   "
             f"ARR: {fmt.money_exact(st.arr)}",
             "", "Tables:"]
    t = st.tables.rename(columns={"holds": "what it holds"})
    lines += text_table(t, width, right=("rows",))
    lines += ["", f"Last imports (newest first, {min(n_imports, len(st.imports))} of {len(st.imports):,}):"]
    if len(st.imports):
        imp = st.imports.head(n_imports)[["imported_at", "file_name", "kind", "mode", "rows", "outcome"]]
        imp = imp.rename(columns={"imported_at": "time", "file_name": "file"})
        # The message (notes, or why a file was refused) on its own line under its import, cut to fit.
        table = text_table(imp, width, right=("rows",), max_widths={"file": max(width - 66, 16)})
        lines += table[:2]
        for row, msg in zip(table[2:], st.imports.head(n_imports)["message"].tolist(), strict=False):
            lines.append(row)
            text = _cell(msg)
            if text:
                lines.append(_cut("      " + text, width))
    else:
        lines.append("  none")
    return "\n".join(lines) + "\n"
