"""Exports that are safe to open in Excel or LibreOffice.

Text cells starting with =, +, -, @, tab or carriage return are prefixed with a
single quote so spreadsheets show them as text instead of evaluating them.
"""
from __future__ import annotations

import io
from collections.abc import Mapping

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


def to_xlsx_bytes(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """One sheet per table; sheet names cut to Excel's 31 characters."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        for name, df in sheets.items():
            safe_frame(df).to_excel(xw, sheet_name=str(name)[:31], index=False)
    return buf.getvalue()
