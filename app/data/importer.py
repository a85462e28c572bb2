"""Import: read a file, map its columns, validate, write to the store in one transaction.

The Data page and the CLI (`python -m app load`) both call `import_file`. A file
with problems is refused with every problem listed (row, column, value, what was
expected) and the store is left exactly as it was.
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from app.data import store
from app.data.schema import DATE, INT, KINDS, MRR, NUMBER, OUTCOMES, STR, Column, normalize_name, safe_identifier

log = logging.getLogger(__name__)

MAX_PROBLEMS_SHOWN = 200
IGNORE = ""  # mapping target meaning "do not import this column"

# Row numbers in messages are the spreadsheet's: the header is row 1.
HEADER_ROWS = 1
# A raw frame may carry each row's number in its file in this column (presets drop and reorder rows).
ROW_COLUMN = "__row"

_PERIOD_WORDS = {
    "monthly": 1, "month": 1, "mo": 1, "m": 1, "quarterly": 3, "quarter": 3, "q": 3,
    "semiannual": 6, "semiannually": 6, "halfyearly": 6, "annual": 12, "annually": 12, "yearly": 12,
    "year": 12, "y": 12, "biennial": 24, "twoyear": 24, "2year": 24, "triennial": 36, "threeyear": 36,
    "3year": 36,
}
_OUTCOME_WORDS = {
    "renewed": "renewed", "renew": "renewed", "won": "renewed", "closedwon": "renewed",
    "churned": "churned", "churn": "churned", "lost": "churned", "closedlost": "churned",
    "cancelled": "churned", "canceled": "churned",
    "downgraded": "downgraded", "downgrade": "downgraded", "contracted": "downgraded",
    "expanded": "expanded", "expansion": "expanded", "upsold": "expanded", "upsell": "expanded",
}
# Choices offered on the Data page when dates are ambiguous (None = detect).
DATE_FORMATS: dict[str, str | None] = {
    "Detect (ISO, US or EU)": None, "MM/DD/YYYY (US)": "%m/%d/%Y", "DD/MM/YYYY (EU)": "%d/%m/%Y",
    "DD.MM.YYYY": "%d.%m.%Y", "YYYY-MM-DD": "%Y-%m-%d",
}
_TEXT_DATE_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%d-%b-%Y", "%d-%b-%y", "%b %d, %Y",
                      "%B %d, %Y", "%Y%m%d")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, precise enough to fix it."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    expected: str
    rows: int = 1  # how many rows it stands for: a summary line ("N more rows like these") counts N

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        got = f": got {self.value!r}" if self.value is not None else ":"
        return f"{', '.join(where)}{got} expected {self.expected}"


def problem_rows(problems: Sequence[Problem]) -> int:
    """How many problems a list stands for: summary lines count the rows they summarise."""
    return sum(p.rows for p in problems)


class ImportRefused(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(p) for p in problems[:3]))
        self.problems = problems


@dataclass(frozen=True)
class RawTable:
    """A file read as text cells, before mapping."""

    frame: pd.DataFrame
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prepared:
    frame: pd.DataFrame  # canonical columns, typed, plus kept extra columns
    problems: tuple[Problem, ...]
    notes: tuple[str, ...]
    mapping: dict[str, str]  # source column -> target ('' = ignored)


@dataclass(frozen=True)
class ImportReport:
    ok: bool
    kind: str
    file_name: str
    mode: str
    rows: int
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()
    total_problems: int = 0

    @property
    def message(self) -> str:
        if self.ok:
            return f"Imported {self.rows:,} rows into {self.kind} ({self.mode})."
        shown = "\n".join(f"- {p}" for p in self.problems)
        more = self.total_problems - problem_rows(self.problems)
        tail = f"\n- ... and {more:,} more problems" if more > 0 else ""
        return (f"{self.file_name} was not imported into {self.kind}: {self.total_problems:,} problem(s). "
                f"Nothing in the store was changed.\n{shown}{tail}")


# ---------------------------------------------------------------- reading

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_table(data: bytes, file_name: str, sheet: str | None = None) -> RawTable:
    """Read CSV (delimiter sniffed; UTF-8, UTF-8 with BOM or Latin-1), Parquet or Excel into text cells.

    Raises ImportRefused with a clear problem when the file cannot be read.
    """
    suffix = Path(file_name).suffix.lower()
    if not data or not data.strip():
        raise ImportRefused([Problem(file_name, None, None, None, "a header row and at least one data row "
                                                                  "(the file is empty)")])
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return _read_excel(data, file_name, sheet)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(data, file_name)
    return _read_csv(data, file_name)


def _read_csv(data: bytes, file_name: str) -> RawTable:
    notes = []
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        notes.append("encoding: UTF-8 with BOM")
    try:
        data.decode("utf-8")
        if not notes:
            notes.append("encoding: UTF-8")
    except UnicodeDecodeError:
        # Latin-1 decodes any byte; re-encode so one fast UTF-8 parser reads everything.
        data = data.decode("latin-1").encode("utf-8")
        notes.append("encoding: Latin-1 (the file is not valid UTF-8)")
    sample = data[:65536].decode("utf-8", errors="replace")
    first_line = sample.splitlines()[0] if sample.splitlines() else ""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: first_line.count(d) for d in ",;\t|"}
        delimiter = max(counts, key=counts.__getitem__) if max(counts.values()) > 0 else ","
    notes.append(f"delimiter: {'tab' if delimiter == chr(9) else repr(delimiter)}")
    try:
        frame = pd.read_csv(io.BytesIO(data), sep=delimiter, dtype=str, keep_default_na=False,
                            engine="pyarrow")
    except Exception as exc:  # pyarrow names the line; pass it on in the problem
        if ragged := _field_count_problems(data, delimiter, file_name):
            raise ImportRefused(ragged) from exc
        try:  # index_col=False: a first column is never taken for an index
            frame = pd.read_csv(io.BytesIO(data), sep=delimiter, dtype=str, keep_default_na=False,
                                index_col=False)
        except Exception:
            raise ImportRefused([Problem(file_name, None, None, None,
                                         f"a well-formed CSV file ({_short(exc)})")]) from exc
    if frame.shape[0] == 0:
        raise ImportRefused([Problem(file_name, None, None, None,
                                     "at least one data row after the header (found none)")])
    return RawTable(frame, tuple(notes))


def _field_count_problems(data: bytes, delimiter: str, file_name: str) -> list[Problem]:
    """Rows with more or fewer fields than the header (say an unquoted 1,000), one problem per row (the first
    MAX_PROBLEMS_SHOWN, then a count): such a file is refused, never read with its values shifted."""
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return []
    n, extra = len(header), 0
    shown: list[Problem] = []
    sep = "tab" if delimiter == "\t" else repr(delimiter)
    for i, fields in enumerate(reader):
        if not fields or len(fields) == n:  # blank lines are skipped by every reader
            continue
        if len(shown) == MAX_PROBLEMS_SHOWN:
            extra += 1
            continue
        why = (f"a value holding the delimiter {sep} must be in double quotes"
               + (' ("1,000")' if delimiter == "," else "") if len(fields) > n else
               "an empty value still needs its delimiter")
        shown.append(Problem(file_name, i + HEADER_ROWS + 1, None, delimiter.join(fields)[:80],
                             f"{n} fields, as in the header (found {len(fields)}): {why}"))
    if extra:
        shown.append(Problem(file_name, None, None, None,
                             f"{n} fields per row, as in the header ({extra:,} more rows like these)", extra))
    return shown


def _read_excel(data: bytes, file_name: str, sheet: str | None) -> RawTable:
    try:
        xl = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
    except Exception as exc:
        raise ImportRefused([Problem(file_name, None, None, None, f"a readable Excel file ({_short(exc)})")]) from exc
    names = list(xl.sheet_names)
    if sheet is not None and sheet not in names:
        raise ImportRefused([Problem(file_name, None, None, sheet, f"a sheet named one of {names}")])
    use = sheet if sheet is not None else names[0]
    try:  # openpyxl parses through defusedxml (installed): entity tricks such as an XML bomb are refused
        frame = pd.read_excel(xl, sheet_name=use, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise ImportRefused([Problem(file_name, None, None, use, f"a readable Excel sheet ({_short(exc)})")]) from exc
    frame = frame.fillna("")
    notes = [f"sheet: {use!r}" + (f" (of {len(names)}: {', '.join(names)}; choose another with the sheet option)"
                                  if len(names) > 1 and sheet is None else "")]
    if frame.shape[0] == 0:
        raise ImportRefused([Problem(file_name, None, None, None, f"data rows in sheet {use!r} (found none)")])
    return RawTable(frame, tuple(notes))


def _read_parquet(data: bytes, file_name: str) -> RawTable:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:
        raise ImportRefused([Problem(file_name, None, None, None, f"a readable Parquet file ({_short(exc)})")]) from exc
    for c in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[c]):
            frame[c] = frame[c].dt.strftime("%Y-%m-%d")
    frame = frame.astype(str).replace({"None": "", "nan": "", "NaT": "", "<NA>": ""})
    if frame.shape[0] == 0:
        raise ImportRefused([Problem(file_name, None, None, None, "at least one row (found none)")])
    return RawTable(frame, ("format: Parquet",))


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


# ---------------------------------------------------------------- mapping

def targets(kind: str) -> list[str]:
    """Columns a source column may be mapped to (plus IGNORE)."""
    k = KINDS[kind]
    names = k.names + ([MRR.name] if k.money else [])
    return names


def propose_mapping(kind: str, source_columns: list[str]) -> dict[str, str]:
    """Source column -> canonical column by name and common synonyms ('' = not imported)."""
    k = KINDS[kind]
    cols = list(k.columns) + ([MRR] if k.money else [])
    exact = {normalize_name(c.name): c.name for c in cols}
    syn: dict[str, str] = {}
    for c in cols:
        for s in c.synonyms:
            syn.setdefault(normalize_name(s), c.name)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for pass_ in (exact, syn):
        for src in source_columns:
            if src in mapping:
                continue
            tgt = pass_.get(normalize_name(src))
            if tgt and tgt not in used:
                mapping[src] = tgt
                used.add(tgt)
    if k.money and "arr" in used and "mrr" in used:
        # Both present: ARR wins, MRR is not imported (one basis only).
        for src, tgt in list(mapping.items()):
            if tgt == "mrr":
                mapping[src] = IGNORE
    return {src: mapping.get(src, IGNORE) for src in source_columns}


def parse_map_args(pairs: list[str]) -> dict[str, str]:
    """CLI --map SOURCE=TARGET pairs (TARGET empty = ignore the column)."""
    out = {}
    for p in pairs:
        if "=" not in p:
            raise ValueError(f"--map expects SOURCE=TARGET, got {p!r}")
        src, tgt = p.split("=", 1)
        out[src.strip()] = tgt.strip()
    return out


# ---------------------------------------------------------------- parsing cells

def _arrow_text(s: pd.Series) -> pa.ChunkedArray:
    """The column as Arrow strings, blank cells as nulls (zero-copy for Arrow-backed text)."""
    arr = pa.chunked_array(s.array._pa_array) if hasattr(s.array, "_pa_array") else \
        pa.chunked_array([pa.array(s.astype(str), pa.string())])
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


def _arrow_float(s: pd.Series) -> pd.Series | None:
    """Plain numeric text to float in one Arrow cast (about 10x pandas' to_numeric); None if any cell is not."""
    try:
        return pd.Series(pc.cast(_arrow_text(s), pa.float64()).to_numpy(zero_copy_only=False), index=s.index)
    except _ARROW_ERRORS:
        return None


def _arrow_iso_dates(s: pd.Series) -> pd.Series | None:
    """Strict YYYY-MM-DD text to datetimes in one Arrow cast; None if any cell is anything else."""
    try:
        days = pc.cast(_arrow_text(s), pa.date32())
        return pd.Series(pc.cast(days, pa.timestamp("us")).to_numpy(zero_copy_only=False), index=s.index)
    except _ARROW_ERRORS:
        return None


def _clean_number(s: pd.Series) -> pd.Series:
    """Numbers as exported: '1,234.50', '$1,000', '(123)' for -123. Plain numbers take the fast path."""
    fast = _arrow_float(s)
    if fast is not None:
        return fast
    out = pd.to_numeric(s, errors="coerce")
    slow = out.isna() & (s.str.strip() != "")
    if slow.any():
        t = s[slow].str.strip().str.replace(r"[\s$€£,]", "", regex=True)
        neg = t.str.match(r"^\(.*\)$")  # accounting negatives: (123)
        t = t.where(~neg, "-" + t.str.strip("()"))
        out[slow] = pd.to_numeric(t, errors="coerce")
    return out


def _lookup(values: pd.Series, table: Mapping[str, object]) -> pd.Series:
    """Map cells through a word table by normalised name, once per distinct value."""
    return values.map({u: table.get(normalize_name(u)) for u in values.dropna().unique()})


def parse_dates(s: pd.Series, date_format: str | None = None,
                file_order: str | None = None) -> tuple[pd.Series, str | None]:
    """Parse text dates; return (datetime series with NaT where unparseable, a column-level problem or None).

    ISO dates always parse; other values are tried as month-first (US) and
    day-first (EU). A column whose unambiguous values need both orders is refused.
    A column whose slashed dates are all ambiguous (day <= 12) takes file_order
    ("us" or "eu": the order another date column of the same file shows), else is
    refused: pass a date format.
    """
    if not date_format:  # the common case, ten times faster than the general path below
        fast = _arrow_iso_dates(s)
        if fast is not None:
            return fast, None
    s = s.astype(str).str.strip()
    if date_format:
        return pd.to_datetime(s, format=date_format, errors="coerce"), None
    out = pd.to_datetime(s.where(s.str.match(r"^\d{4}-\d{1,2}(-\d{1,2})?([ T].*)?$"), None),
                         format="ISO8601", errors="coerce")
    rest = (s != "") & out.isna()
    if not rest.any():
        return out, None
    r = s[rest].str.replace(r"[.\-]", "/", regex=True).str.replace(r"\s+\d{1,2}:\d{2}(:\d{2})?$", "", regex=True)
    ymd = pd.to_datetime(r, format="%Y/%m/%d", errors="coerce")
    us = pd.to_datetime(r, format="%m/%d/%Y", errors="coerce").fillna(
        pd.to_datetime(r, format="%m/%d/%y", errors="coerce"))
    eu = pd.to_datetime(r, format="%d/%m/%Y", errors="coerce").fillna(
        pd.to_datetime(r, format="%d/%m/%y", errors="coerce"))
    only_us = us.notna() & eu.isna()
    only_eu = eu.notna() & us.isna()
    both = us.notna() & eu.notna() & (us != eu)
    problem = None
    if only_us.any() and only_eu.any():
        problem = (f"one day/month order: values like {s[rest][only_us].iloc[0]!r} are month-first but values "
                   f"like {s[rest][only_eu].iloc[0]!r} are day-first; fix the file or pass a date format")
        chosen = us
    elif only_eu.any():
        chosen = eu
    elif only_us.any() or not both.any():
        chosen = us
    elif file_order in ("us", "eu"):
        chosen = us if file_order == "us" else eu
    else:
        chosen = us
        problem = (f"an unambiguous date order: every value like {s[rest][both].iloc[0]!r} could be month-first "
                   "or day-first; pass a date format (e.g. %m/%d/%Y or %d/%m/%Y)")
    parsed = ymd.fillna(chosen)
    left = parsed.isna()
    if left.any():
        txt = s[rest][left]
        for fmt in _TEXT_DATE_FORMATS:
            parsed = parsed.fillna(pd.to_datetime(txt, format=fmt, errors="coerce"))
    out = out.copy()
    out[rest] = parsed
    return out, problem


def date_order(s: pd.Series) -> str | None:
    """'us' or 'eu' when a column's slashed dates show one day/month order (a day above 12), else None."""
    if _arrow_iso_dates(s) is not None:  # all ISO (the common case): no order to show, and no regex over 1M cells
        return None
    t = s.astype(str).str.strip().str.replace(r"[.\-]", "/", regex=True)
    m = t.str.extract(r"^(\d{1,2})/(\d{1,2})/\d{2,4}")
    a, b = pd.to_numeric(m[0], errors="coerce"), pd.to_numeric(m[1], errors="coerce")
    us, eu = bool((b > 12).any()), bool((a > 12).any())
    return "us" if us and not eu else "eu" if eu and not us else None


# ---------------------------------------------------------------- validation

def prepare(raw: RawTable, kind: str, file_name: str, mapping: dict[str, str] | None = None,
            date_format: str | None = None) -> Prepared:
    """Map, type and validate a raw table. Never raises for bad content: problems are returned."""
    k = KINDS[kind]
    frame = raw.frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    # A preset (app/sources/presets.py) that drops or reorders rows carries each row's number in the file
    src_rows = frame.pop(ROW_COLUMN) if ROW_COLUMN in frame else None
    src_cols = list(frame.columns)
    n = len(frame)
    rows = pd.Series(np.arange(n) + HEADER_ROWS + 1, index=frame.index) if src_rows is None else \
        src_rows.astype("int64")
    report = _Report(file_name, rows)
    notes = list(raw.notes)

    final, by_target = _resolve_mapping(kind, src_cols, mapping, report)
    out = pd.DataFrame(index=frame.index)
    required_missing, empties = _typed_columns(kind, frame, by_target, date_format, out, report)
    if k.money:
        _money_column(frame, by_target, empties, out, notes, required_missing, report)
    report.problems += [_missing_column_problem(kind, name, src_cols, file_name) for name in required_missing]
    if required_missing:
        return Prepared(out, tuple(report.problems), tuple(notes), final)

    _cross_column_checks(kind, frame, by_target, out, report)
    _duplicate_key_problems(kind, by_target, out, report)
    _extra_columns(kind, frame, final, out, notes)
    # canonical columns absent from the file are stored empty
    for col in k.columns:
        if col.name not in out:
            out[col.name] = None
    out["__row"] = rows
    return Prepared(out, tuple(report.problems), tuple(notes), final)


@dataclass
class _Report:
    """The problems prepare() finds in one file, with each row's number in the file."""

    file_name: str
    rows: pd.Series
    problems: list[Problem] = field(default_factory=list)

    def add(self, mask: pd.Series, column: str, values: pd.Series, expected: str) -> None:
        """One problem per marked row (the first MAX_PROBLEMS_SHOWN), then one line counting the rest."""
        for idx in mask[mask].index[: MAX_PROBLEMS_SHOWN]:
            self.problems.append(Problem(self.file_name, int(self.rows[idx]), column, str(values[idx]), expected))
        extra = int(mask.sum()) - MAX_PROBLEMS_SHOWN
        if extra > 0:
            self.problems.append(Problem(self.file_name, None, column, None,
                                         f"valid values ({extra:,} more rows like these)", extra))

    def file_problem(self, column: str | None, value: str | None, expected: str) -> None:
        """A problem of the whole file (no row)."""
        self.problems.append(Problem(self.file_name, None, column, value, expected))


def _resolve_mapping(kind: str, src_cols: list[str], mapping: dict[str, str] | None,
                     report: _Report) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The proposed mapping with the user's choices applied; and the source columns of each target."""
    final = propose_mapping(kind, src_cols)
    if mapping:
        allowed = set(targets(kind)) | {IGNORE}
        for src, tgt in mapping.items():
            if src not in src_cols:
                report.file_problem(src, None, f"a column of the file (columns: {src_cols})")
            elif tgt not in allowed:
                report.file_problem(src, tgt, f"a target among {sorted(allowed - {IGNORE})} "
                                              "or empty to ignore the column")
            else:
                final[src] = tgt
    by_target: dict[str, list[str]] = {}
    for src, tgt in final.items():
        if tgt:
            by_target.setdefault(tgt, []).append(src)
    for tgt, srcs in by_target.items():
        if len(srcs) > 1:
            report.file_problem(", ".join(srcs), None, f"one source column per target, but several map to '{tgt}'")
    if KINDS[kind].money and "arr" in by_target and "mrr" in by_target:
        report.file_problem(None, None, "either an ARR or an MRR column mapped, not both")
    return final, by_target


def _file_date_order(kind: str, frame: pd.DataFrame, by_target: dict[str, list[str]],
                     date_format: str | None) -> str | None:
    """One file, one day/month order: a date column whose values are all ambiguous (01/02/2024)
    takes the order another date column of the file shows (15/01/2024), when they agree."""
    orders = {date_order(frame[by_target[c.name][0]]) for c in KINDS[kind].columns
              if c.type == DATE and c.name in by_target and not date_format}
    orders.discard(None)
    return orders.pop() if len(orders) == 1 else None


def _typed_columns(kind: str, frame: pd.DataFrame, by_target: dict[str, list[str]], date_format: str | None,
                   out: pd.DataFrame, report: _Report) -> tuple[list[str], dict[str, pd.Series]]:
    """Each mapped canonical column typed into out; the required columns not mapped, and the blank cells
    of each mapped column."""
    required_missing = []
    empties: dict[str, pd.Series] = {}  # blank cells per canonical column, computed once
    file_order = _file_date_order(kind, frame, by_target, date_format)
    for col in KINDS[kind].columns:
        srcs = by_target.get(col.name) or []
        if not srcs:
            if col.required:
                required_missing.append(col.name)
            continue
        src = srcs[0]
        values = frame[src].astype(str)
        stripped = values.str.strip()
        empty = stripped == ""
        empties[col.name] = empty
        if col.required:
            report.add(empty, src, values, f"a value ({col.name} is required)")
        if col.type == STR:
            out[col.name] = _text_column(col, src, values, stripped, empty, report)
        elif col.type in (NUMBER, INT):
            out[col.name] = _number_column(kind, col, src, values, stripped, empty, report)
        elif col.type == DATE:
            out[col.name] = _date_column(src, values, stripped, empty, date_format, file_order, report)
    return required_missing, empties


def _text_column(col: Column, label: str, values: pd.Series, stripped: pd.Series, empty: pd.Series,
                 report: _Report) -> pd.Series:
    text = stripped.where(~empty, None)
    if col.name == "currency":  # ISO 4217 codes, any case in the file ('usd' in Stripe's exports)
        report.add(~empty & ~stripped.str.fullmatch(r"[A-Za-z]{3}"), label, values,
                   "a three-letter ISO currency code (USD, EUR, ...)")
        text = text.str.upper()
    return text


def _number_column(kind: str, col: Column, label: str, values: pd.Series, stripped: pd.Series, empty: pd.Series,
                   report: _Report) -> pd.Series:
    num = _arrow_float(stripped)
    if num is None:
        v = values
        if col.name == "billing_period_months":
            words = _lookup(values, _PERIOD_WORDS)
            v = values.where(words.isna(), words.astype("string"))
        num = _clean_number(v.astype(str))
    bad = ~empty & num.isna()
    report.add(bad, label, values, "a number" if col.type == NUMBER else "a whole number")
    if col.type == INT:
        frac = ~empty & num.notna() & (num % 1 != 0)
        report.add(frac, label, values, "a whole number")
    if col.non_negative:
        report.add(num < 0, label, values, "a non-negative amount")
    if kind == "fx_rates" and col.name == "rate":
        report.add(num == 0, label, values, "a rate above zero")
    if kind == "nps" and col.name == "score":
        report.add(num.notna() & ((num < 0) | (num > 10)), label, values, "an NPS score from 0 to 10")
    return num.astype("Int64") if col.type == INT and not (~empty & num.isna()).any() else num


def _date_column(label: str, values: pd.Series, stripped: pd.Series, empty: pd.Series, date_format: str | None,
                 file_order: str | None, report: _Report) -> pd.Series:
    parsed, col_problem = parse_dates(stripped, date_format, file_order)
    if col_problem:
        report.file_problem(label, None, col_problem)
    bad = ~empty & parsed.isna()
    fmt_hint = f"a date in the format {date_format}" if date_format else \
        "a date (YYYY-MM-DD, MM/DD/YYYY, DD/MM/YYYY or 5 Jan 2024)"
    report.add(bad, label, values, fmt_hint)
    return parsed.dt.normalize()  # stored as DATE by the insert


def _money_column(frame: pd.DataFrame, by_target: dict[str, list[str]], empties: dict[str, pd.Series],
                  out: pd.DataFrame, notes: list[str], required_missing: list[str], report: _Report) -> None:
    """ARR from an ARR column, or 12 x an MRR column (a money kind needs one of them)."""
    if "mrr" in by_target and "arr" not in by_target:
        src = by_target["mrr"][0]
        values = frame[src].astype(str)
        num = _clean_number(values)
        empty = values.str.strip() == ""
        report.add(empty, src, values, "a value (MRR is required)")
        report.add(~empty & num.isna(), src, values, "a number")
        report.add(num < 0, src, values, "a non-negative amount")
        out["arr"] = num * 12
        notes.append(f"money: MRR from column '{src}', stored as ARR = 12 x MRR")
    elif "arr" in by_target:
        notes.append(f"money: ARR from column '{by_target['arr'][0]}'")
        src = by_target["arr"][0]
        report.add(empties["arr"], src, frame[src], "a value (ARR is required)")  # arr is a column of money kinds
    else:
        required_missing.append("arr or mrr")


def _missing_column_problem(kind: str, name: str, src_cols: list[str], file_name: str) -> Problem:
    k = KINDS[kind]
    syn = []
    if name in k.names:
        syn = list(k.column(name).synonyms[:4])
    return Problem(file_name, None, name, None,
                   f"a column mapped to '{name}' (found columns: {src_cols}"
                   + (f"; recognised names include {syn}" if syn else "") + ")"
                   + _delimiter_hint(src_cols))


def _cross_column_checks(kind: str, frame: pd.DataFrame, by_target: dict[str, list[str]], out: pd.DataFrame,
                         report: _Report) -> None:
    """Date pairs in order; a contract's outcome among the known ones (normalised in out)."""
    for start, end in KINDS[kind].date_pairs:
        if start in out and end in out:
            s, e = pd.to_datetime(out[start]), pd.to_datetime(out[end])
            bad = s.notna() & e.notna() & (e < s)
            src = by_target[end][0]
            report.add(bad, src, frame[src], f"an {end} on or after {start}")
    if kind == "contracts":
        if "outcome" in out:
            o = out["outcome"]
            norm = _lookup(o, _OUTCOME_WORDS)
            report.add(o.notna() & norm.isna(), by_target["outcome"][0], frame[by_target["outcome"][0]],
                       f"an outcome among {list(OUTCOMES)}")
            out["outcome"] = norm
        # An outcome left empty next to a renewed ARR is given by the one outcome rule in the renewals
        # view (store.outcome_sql), not derived here a second time.
        if "outcome" in out:
            # object: an outcome column with no value at all parses as float (pandas 4 refuses strings there)
            out["outcome"] = out["outcome"].astype(object)


def _duplicate_key_problems(kind: str, by_target: dict[str, list[str]], out: pd.DataFrame,
                            report: _Report) -> None:
    k = KINDS[kind]
    if not (k.key and k.key in out):
        return
    key = out[k.key]
    # counting distinct keys is about twice as fast as marking duplicates: mark only if there are any
    if key.nunique() >= key.notna().sum():
        return
    rows, file_name, column = report.rows, report.file_name, by_target[k.key][0]
    dup = key.notna() & key.duplicated(keep="first")
    first_row: dict[object, int] = {}
    for idx, v in key[key.notna()].items():
        first_row.setdefault(v, int(rows[idx]))
    for idx in dup[dup].index[:MAX_PROBLEMS_SHOWN]:
        report.problems.append(Problem(file_name, int(rows[idx]), column, str(key[idx]),
                                       f"a unique {k.key} (first seen at row {first_row[key[idx]]})"))
    extra = int(dup.sum()) - MAX_PROBLEMS_SHOWN
    if extra > 0:
        report.problems.append(Problem(file_name, None, column, None,
                                       f"a unique {k.key} ({extra:,} more duplicate rows)", extra))


def _extra_columns(kind: str, frame: pd.DataFrame, final: dict[str, str], out: pd.DataFrame,
                   notes: list[str]) -> None:
    """Unmapped columns: kept on accounts (as safe identifiers), reported as ignored elsewhere."""
    k = KINDS[kind]
    unmapped = [c for c, t in final.items() if not t]
    if not unmapped:
        return
    if k.keeps_extra:
        taken = set(k.names)
        for c in unmapped:
            ident = safe_identifier(c)
            while ident in taken:
                ident += "_x"
            taken.add(ident)
            out[ident] = frame[c].astype(str).where(frame[c].astype(str).str.strip() != "", None)
        notes.append(f"extra columns kept on {kind}: {', '.join(unmapped)}")
    else:
        notes.append(f"columns not imported: {', '.join(unmapped)}")


def _delimiter_hint(cols: list[str]) -> str:
    if len(cols) == 1 and re.search(r"[#:~^/]", cols[0]):
        return "; the file has a single column: is it delimited by something other than , ; tab or |?"
    return ""


# ---------------------------------------------------------------- importing

@dataclass(frozen=True)
class Check:
    """Everything known about a file before it is written: the Data page's preview."""

    source_columns: tuple[str, ...]
    mapping: dict[str, str]
    frame: pd.DataFrame | None  # canonical, typed (None when unreadable)
    problems: tuple[Problem, ...]
    notes: tuple[str, ...]
    examples: tuple[str, ...] = ()  # first non-empty value of each source column
    # A replace of accounts that the rows already stored would outlive (the sample company's,
    # or earlier imports'): the way out is to clear the store first (import_file clear_first).
    conflicts_with_stored: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and self.frame is not None

    @property
    def problem_total(self) -> int:
        """Problems found, counting each summary line's rows (the listing stops at MAX_PROBLEMS_SHOWN)."""
        return problem_rows(self.problems)

    def mapping_table(self) -> pd.DataFrame:
        """Source column, the canonical column it maps to ('' = not imported), an example value."""
        return pd.DataFrame({"source column": list(self.source_columns),
                             "maps to": [self.mapping.get(c, IGNORE) for c in self.source_columns],
                             "example": list(self.examples) or [""] * len(self.source_columns)})

    def problem_table(self) -> pd.DataFrame:
        return pd.DataFrame([{"row": p.row, "column": p.column, "value": p.value, "expected": p.expected}
                             for p in self.problems], columns=["row", "column", "value", "expected"])


# Kinds that can start an empty store (nothing in them refers to an account).
STARTS_EMPTY_STORE = ("accounts", "csms")


@dataclass(frozen=True)
class Parsed:
    """A file read, mapped and validated on its own (no store): the costly part of a check."""

    raw: RawTable | None
    prep: Prepared | None
    problems: tuple[Problem, ...] = ()  # the file could not be read


def parse(data: bytes, file_name: str, kind: str, mapping: dict[str, str] | None = None, sheet: str | None = None,
          date_format: str | None = None, preset: str | None = None) -> Parsed:
    """Read, map and validate a file without the store (the Data page caches this once per file and choices).

    preset: a source preset's name (app/sources/presets.py), "none" for no preset, None to detect one
    from the header.
    """
    try:
        raw = read_table(data, file_name, sheet)
    except ImportRefused as exc:
        return Parsed(None, None, tuple(exc.problems))
    return parse_raw(raw, file_name, kind, mapping, date_format, preset)


def parse_raw(raw: RawTable, file_name: str, kind: str, mapping: dict[str, str] | None = None,
              date_format: str | None = None, preset: str | None = None) -> Parsed:
    """parse() of a table already read (a file, or rows of a database query as text cells)."""
    from app.sources import presets

    try:
        raw, pre_problems, pre_mapping = presets.apply(raw, kind, file_name, preset)
    except ImportRefused as exc:
        return Parsed(None, None, tuple(exc.problems))
    if pre_mapping:
        mapping = {**pre_mapping, **(mapping or {})}
    prep = prepare(raw, kind, file_name, mapping, date_format)
    if pre_problems:
        prep = Prepared(prep.frame, tuple(pre_problems) + prep.problems, prep.notes, prep.mapping)
    return Parsed(raw, prep)


def check(cur: store.Cursor, kind: str, data: bytes, file_name: str, mode: str = "replace",
          mapping: dict[str, str] | None = None, sheet: str | None = None,
          date_format: str | None = None, clear_first: bool = False, parsed: Parsed | None = None,
          preset: str | None = None) -> Check:
    """Read, map and validate a file against the store without writing anything.

    clear_first: check it as the first file of an emptied store (see import_file).
    parsed: parse() of the same file and choices, when the caller already has it.
    """
    problems: list[Problem] = []
    if kind not in KINDS:
        problems.append(Problem(file_name, None, None, kind, f"a kind among {list(KINDS)}"))
    if mode not in ("replace", "append"):
        problems.append(Problem(file_name, None, None, mode, "mode replace or append"))
    if clear_first and kind not in STARTS_EMPTY_STORE:
        problems.append(Problem(file_name, None, None, kind,
                                f"accounts or csms as the first file of an emptied store ({kind} rows need "
                                "their accounts: import accounts first)"))
    if problems:
        return Check((), {}, None, tuple(problems), ())
    parsed = parsed or parse(data, file_name, kind, mapping, sheet, date_format, preset)
    if parsed.raw is None or parsed.prep is None:
        return Check((), {}, None, parsed.problems, ())
    raw, prep = parsed.raw, parsed.prep
    problems = list(prep.problems)
    conflicts = False
    frame = prep.frame
    src_of = {t: src for src, t in prep.mapping.items() if t}
    if KINDS[kind].money and "currency" in src_of and "__row" in frame:
        # amounts in other currencies: converted to the store's reporting currency (a copy: parse() is cached)
        from app.sources import fx

        frame, fx_problems, fx_notes = fx.convert_frame(cur, kind, frame, file_name, src_of)
        problems += fx_problems
        prep = Prepared(frame, prep.problems, prep.notes + tuple(fx_notes), prep.mapping)
    if "__row" in prep.frame and not clear_first:  # the required columns were found: check against the store
        problems += _store_checks(cur, kind, prep.frame, file_name, mode, src_of)
        if kind == "accounts" and mode == "replace" and not prep.problems:
            orphans = store.orphan_summary(cur, prep.frame["account_id"])
            problems += [Problem(file_name, None, src_of.get("account_id", "account_id"), None, m) for m in orphans]
            conflicts = bool(orphans)
    problems.sort(key=lambda p: (p.row is not None, p.row or 0))
    examples = tuple(_first_value(raw.frame[c]) for c in raw.frame.columns if c != ROW_COLUMN)
    return Check(tuple(str(c) for c in raw.frame.columns if c != ROW_COLUMN), prep.mapping, prep.frame,
                 tuple(problems), prep.notes, examples, conflicts)


def _first_value(col: pd.Series) -> str:
    for part in (col.head(1000), col):  # the head nearly always has one: skip scanning a million cells
        vals = part.astype(str)
        vals = vals[vals.str.strip() != ""]
        if len(vals):
            return vals.iloc[0][:60]
    return ""


def sheet_names(data: bytes, file_name: str) -> list[str]:
    """Sheets of an Excel file ([] for other formats or unreadable files)."""
    if Path(file_name).suffix.lower() not in (".xlsx", ".xlsm", ".xls"):
        return []
    try:
        return list(pd.ExcelFile(io.BytesIO(data), engine="openpyxl").sheet_names)
    except Exception:
        return []


def import_file(cur: store.Cursor, kind: str, data: bytes, file_name: str, mode: str = "replace",
                mapping: dict[str, str] | None = None, sheet: str | None = None,
                date_format: str | None = None, clear_first: bool = False, preset: str | None = None,
                parsed: Parsed | None = None) -> ImportReport:
    """Validate and import one file; all or nothing. Every attempt is recorded in import_log.

    clear_first (accounts or csms only): in the same transaction, first empty every data
    table (the sample company, or earlier imports), then import the file: the one step
    from the sample to one's own data. Nothing changes if the file is refused.
    preset: see parse(). parsed: parse_raw() of rows read elsewhere (a database query; data is then
    the query's text, for the log's hash).
    """
    notes: tuple[str, ...] = ()
    try:
        chk = check(cur, kind, data, file_name, mode, mapping, sheet, date_format, clear_first, parsed, preset)
        notes = chk.notes
        if not chk.ok:
            return _refuse(cur, kind, file_name, mode, data, list(chk.problems), notes)
        assert chk.frame is not None  # an ok check always carries its frame
        frame = chk.frame.drop(columns="__row")
        with store.transaction(cur):
            if clear_first:
                _replace_all(cur, {})
                store.set_meta(cur, "as_of", None)
                store.set_meta(cur, "sample", None)
                notes = ("every table was emptied first (the sample company or earlier data removed)", *notes)
            store.write_table(cur, kind, frame, mode)
            orphan_msgs = store.orphan_summary(cur)
            if orphan_msgs:
                raise ImportRefused([Problem(file_name, None, "account_id", None, m) for m in orphan_msgs])
            if kind == "subscriptions" and mode == "replace":
                store.set_meta(cur, "as_of", None)  # the data's own as-of replaces the sample's
            store.rebuild_derived(cur)
            store.log_import(cur, file_name=file_name, sha256=sha256(data), kind=kind, mode=mode,
                             rows=len(frame), outcome="ok", message="; ".join(notes))
        return ImportReport(True, kind, file_name, mode, len(frame), (), notes, 0)
    except ImportRefused as exc:
        return _refuse(cur, kind, file_name, mode, data, exc.problems, notes)
    except Exception as exc:  # a bug or an engine error: still refused cleanly, store rolled back
        # the user sees a clean message; the traceback goes to the log for whoever runs the app
        log.exception("import of %s into %s failed unexpectedly", file_name, kind)
        return _refuse(cur, kind, file_name, mode, data,
                       [Problem(file_name, None, None, None, f"an importable file (import failed: {_short(exc)})")],
                       notes)


def _store_checks(cur: store.Cursor, kind: str, frame: pd.DataFrame, file_name: str, mode: str,
                  src_of: dict[str, str]) -> list[Problem]:
    """Problems that need the store: unknown accounts, keys already stored (append)."""
    problems: list[Problem] = []
    k = KINDS[kind]
    if "account_id" in frame and kind != "accounts":
        unknown = store.unknown_accounts(cur, frame["account_id"])
        if unknown:
            mask = frame["account_id"].isin(unknown)
            for _, r in frame[mask].head(MAX_PROBLEMS_SHOWN).iterrows():
                problems.append(Problem(file_name, int(r["__row"]), src_of.get("account_id", "account_id"),
                                        str(r["account_id"]),
                                        "an account_id present in accounts (import the accounts first)"))
            if mask.sum() > MAX_PROBLEMS_SHOWN:
                problems.append(Problem(file_name, None, src_of.get("account_id", "account_id"), None,
                                        f"known accounts ({int(mask.sum()) - MAX_PROBLEMS_SHOWN:,} more rows)",
                                        int(mask.sum()) - MAX_PROBLEMS_SHOWN))
    if mode == "append" and k.key and frame[k.key].notna().any():
        clash = store.existing_keys(cur, kind, k.key, frame[k.key])
        if clash:
            clashing = frame[frame[k.key].isin(clash)]
            for _, r in clashing.head(MAX_PROBLEMS_SHOWN).iterrows():
                problems.append(Problem(file_name, int(r["__row"]), src_of.get(k.key, k.key), str(r[k.key]),
                                        f"a {k.key} not already stored (use replace to overwrite)"))
            extra = len(clashing) - MAX_PROBLEMS_SHOWN
            if extra > 0:
                problems.append(Problem(file_name, None, src_of.get(k.key, k.key), None,
                                        f"a {k.key} not already stored ({extra:,} more rows)", extra))
    return problems


def _refuse(cur: store.Cursor, kind: str, file_name: str, mode: str, data: bytes, problems: list[Problem],
            notes: tuple[str, ...]) -> ImportReport:
    report = ImportReport(False, kind, file_name, mode, 0, tuple(problems[:MAX_PROBLEMS_SHOWN]), notes,
                          problem_rows(problems))
    with store.transaction(cur):
        store.log_import(cur, file_name=file_name, sha256=sha256(data), kind=kind, mode=mode, rows=0,
                         outcome="refused", message=report.message[:4000])
    return report


def import_path(cur: store.Cursor, kind: str, path: str | Path, **kwargs) -> ImportReport:
    """import_file of a file on disk, or of a folder of Parquet part files (what Spark and the usage rollup
    write: part-*.parquet beside _SUCCESS and .crc files) read as one table."""
    p = Path(path)
    mode = kwargs.get("mode", "replace")
    if p.is_dir():
        parts = sorted(q for q in p.glob("*.parquet") if not q.name.startswith((".", "_")))
        if not parts:
            return ImportReport(False, kind, p.name, mode, 0, (Problem(
                str(p), None, None, None, "a file, or a folder of Parquet part files (found no *.parquet in it)"),),
                (), 1)
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        try:
            pq.write_table(pq.ParquetDataset([str(q) for q in parts]).read(), buf)
        except Exception as exc:  # parts with different columns, a damaged part
            return ImportReport(False, kind, p.name, mode, 0, (Problem(
                str(p), None, None, None, f"Parquet part files with the same columns ({_short(exc)})"),), (), 1)
        return import_file(cur, kind, buf.getvalue(), f"{p.name}.parquet", **kwargs)
    try:
        data = p.read_bytes()
    except OSError as exc:
        return ImportReport(False, kind, p.name, mode, 0,
                            (Problem(str(p), None, None, None, f"a readable file ({exc.strerror})"),), (), 1)
    return import_file(cur, kind, data, p.name, **kwargs)


def load_frames(cur: store.Cursor, frames: dict[str, pd.DataFrame], *, as_of: str | None, label: str,
                sample: bool = True) -> None:
    """Replace every canonical table with trusted frames (the sample data) in one transaction.

    Kinds missing from frames become empty. as_of pins the as-of date (None: the data's own).
    """
    with store.transaction(cur):
        _replace_all(cur, frames)
        store.set_meta(cur, "as_of", as_of)
        store.set_meta(cur, "sample", label if sample else None)
        store.rebuild_derived(cur)
        total = sum(len(f) for f in frames.values())
        store.log_import(cur, file_name=label, sha256="", kind="all", mode="replace", rows=total,
                         outcome="ok", message="sample data" if sample else "store emptied")


def _replace_all(cur: store.Cursor, frames: dict[str, pd.DataFrame]) -> None:
    for kind in KINDS:
        frame = frames.get(kind)
        if frame is None and kind == "fx_rates":  # exchange rates are settings: kept (replaced by an import)
            continue
        if frame is None:
            frame = pd.DataFrame({c: pd.Series(dtype="object") for c in KINDS[kind].names})
        store.write_table(cur, kind, frame, "replace")


def start_empty(cur: store.Cursor) -> None:
    """Remove every data table's rows (the sample company or earlier imports) in one transaction.

    Settings (fiscal year), saved scenarios, forecast runs and the import log stay; the
    as-of date follows the data again.
    """
    load_frames(cur, {}, as_of=None, label="start with my own data", sample=False)


def load_sample(cur: store.Cursor, seed: int = 7, n_accounts: int = 3000, as_of=None) -> int:
    """Replace the store's data with the generated sample company; returns rows written."""
    from app.data import sample

    asof = as_of or store.default_as_of()
    frames = sample.generate(seed=seed, n_accounts=n_accounts, as_of=asof)
    load_frames(cur, frames, as_of=asof.isoformat(), label=f"sample data (seed {seed}, {n_accounts} accounts)")
    return sum(len(f) for f in frames.values())
