"""Exports that are safe to open in Excel or LibreOffice, and readable there without reformatting.

Text cells starting with =, +, -, @, tab or carriage return are prefixed with a
single quote so spreadsheets show them as text instead of evaluating them.
XLSX sheets get number formats (money, %, dates; app/present/fmt.py's conventions), a bold
frozen header, an autofilter and fitted column widths; numbers stay numbers.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping

import pandas as pd
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from app.present import fmt

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MAX_WIDTH = 60
_MIN_WIDTH = 10  # above Excel's default 8.43, so a short header still clears its filter arrow
_MONEY_WORDS = ("arr", "mrr", "cost", "budget", "revenue", "amount")
_PCT_WORDS = ("rate", "pct", "percent", "share", "retention")


def _has_word(words: list[str], keys: tuple[str, ...]) -> bool:
    """Whole words or their plurals ("costs"), so "carry" is not ARR and "separate" is not a rate."""
    return any(w in keys or (w.endswith("s") and w[:-1] in keys) for w in words)


def neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot be evaluated as formulas; numbers untouched."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [str(neutralise(str(c))) for c in out.columns]
    return out


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    return safe_frame(df).to_csv(index=False).encode("utf-8")


def _is_date_column(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    vals = s.dropna()
    return s.dtype == object and len(vals) > 0 and all(isinstance(v, dt.date) for v in vals)


def infer_format(name: str, s: pd.Series) -> str:
    """The format name for a column nobody specified: from its dtype, and from its name for money and %.

    Names are split into words so "arr_due" and "ARR due" are money but "carry" is not; a %-word
    wins over a money-word ("cost_pct_arr" is a percentage, or a plain number when it is not a fraction).
    """
    if _is_date_column(s):
        return "date"
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return "text"
    words = re.findall(r"[a-z]+", str(name).lower())  # digits split off: "arr2026" -> "arr"
    if "p" in words or _has_word(words, _PCT_WORDS) or any(w.startswith("prob") for w in words):
        vals = s.dropna()
        if len(vals) and vals.between(0, 1).all():
            return "pct"
    elif _has_word(words, _MONEY_WORDS):
        return "money"
    return "int" if pd.api.types.is_integer_dtype(s) else "number"


def _display_width(s: pd.Series, kind: str) -> int:
    """Characters the widest cell needs as shown (about), so columns open readable, not as ####."""
    vals = s.dropna()
    if vals.empty:
        return 0
    if kind == "date":
        return 10
    if kind == "text":
        return int(vals.astype(str).str.len().max())
    big = float(vals.abs().max())
    digits = len(f"{big:,.0f}")
    return digits + {"money": 2, "money_exact": 5, "pct": 2, "number": 4}.get(kind, 1)


def _format_sheet(ws: Worksheet, df: pd.DataFrame, kinds: list[str]) -> None:
    n_rows = len(df) + 1
    for j, (col, kind) in enumerate(zip(df.columns, kinds, strict=False), start=1):
        letter = get_column_letter(j)
        head = ws.cell(row=1, column=j)
        head.font = Font(bold=True)
        code = fmt.XLSX_FORMATS[kind]
        if kind != "text":
            for (cell,) in ws.iter_rows(min_row=2, max_row=n_rows, min_col=j, max_col=j):
                cell.number_format = code
        width = max(len(str(col)) + 2, _display_width(df[col], kind) + 2, _MIN_WIDTH)  # +2: filter arrow
        ws.column_dimensions[letter].width = min(width, _MAX_WIDTH)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(df.columns), 1))}{n_rows}"


def to_xlsx_bytes(sheets: Mapping[str, pd.DataFrame],
                  formats: Mapping[str, Mapping[str, str]] | None = None) -> bytes:
    """One sheet per table (names cut to Excel's 31 characters), formatted to be read as it opens.

    formats: sheet name -> column -> one of fmt.XLSX_FORMATS' names (money, money_exact, pct, count,
    int, number, date, text); other columns get infer_format's choice.
    """
    formats = formats or {}
    unknown_sheets = set(formats) - set(sheets)
    if unknown_sheets:
        raise ValueError(f"formats name sheets that are not exported: {sorted(unknown_sheets)}")
    for name, given in formats.items():  # checked before writing: a half-written workbook helps nobody
        bad = {c: k for c, k in given.items() if c not in sheets[name].columns or k not in fmt.XLSX_FORMATS}
        if bad:
            raise ValueError(f"sheet {name!r}: unknown columns or format names {bad}; "
                             f"formats are {sorted(fmt.XLSX_FORMATS)}")
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        for name, df in sheets.items():
            given = formats.get(name, {})
            kinds = [given.get(c) or infer_format(str(c), df[c]) for c in df.columns]
            out = safe_frame(df)
            for c, kind in zip(out.columns, kinds, strict=False):
                s = out[c]
                if kind == "date" and pd.api.types.is_datetime64_any_dtype(s) and s.dt.tz is not None:
                    out[c] = s.dt.tz_localize(None)  # Excel has no time zones; keep the wall-clock time
            sheet = str(name)[:31]
            out.to_excel(xw, sheet_name=sheet, index=False)
            _format_sheet(xw.sheets[sheet], out, kinds)
    return buf.getvalue()
