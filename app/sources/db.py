"""A database source: the rows of a PostgreSQL query, read as text cells the importer maps like a file's.

psycopg 3 reads the rows; every value is converted explicitly (NUMERIC -> its exact decimal text, DATE and
TIMESTAMP -> ISO text, NULL -> blank), so the same mapping, validation and one-transaction write apply as for
a CSV. The session is read-only. The password never comes from the command line or the store: it comes from
PGPASSWORD or ~/.pgpass (libpq reads both); a URL that carries one is refused, and the URL kept in the import
log is the one without it.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
from dataclasses import dataclass

import pandas as pd

from app.data.importer import ImportRefused, Problem, RawTable

SCHEMES = ("postgresql://", "postgres://")
STATEMENT_TIMEOUT_MS = 10 * 60 * 1000  # a refresh from cron gives up on a query after 10 minutes


class SourceError(ValueError):
    """A database source that cannot be used as given (said as is to the user)."""


@dataclass(frozen=True)
class Query:
    url: str  # without a password
    sql: str

    @property
    def label(self) -> str:
        """How the import log names the source: the URL (no password) and the query's short hash."""
        return f"{self.url} query {hashlib.sha256(self.sql.encode()).hexdigest()[:10]}"


def check_url(url: str) -> str:
    """The URL if it is a PostgreSQL URL without a password; SourceError otherwise."""
    import psycopg.conninfo

    url = (url or "").strip()
    if not url.startswith(SCHEMES):
        raise SourceError(f"--from-url: expected a PostgreSQL URL such as postgresql://user@host:5432/db, got "
                          f"{_redact(url)!r}")
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise SourceError(f"--from-url {_redact(url)!r}: not a valid connection URL ({exc})") from None
    if params.get("password"):
        raise SourceError("the database URL carries a password: remove it (the refused URL was "
                          f"{_redact(url)!r}) and give the password in the PGPASSWORD environment variable or "
                          "in ~/.pgpass, never on the command line or in sources.toml")
    return url


def _redact(url: str) -> str:
    """The URL with any password replaced by ***, for messages."""
    import re

    url = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url, flags=re.IGNORECASE)


def _text(v: object) -> str:
    """One value as the importer reads a CSV cell."""
    if v is None:
        return ""
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def read_query(url: str, sql: str, label: str | None = None) -> RawTable:
    """Run the query (read-only session) and return its rows as text cells; ImportRefused on any failure."""
    import psycopg

    name = label or "database query"
    url = check_url(url)
    if not sql or not sql.strip():
        raise SourceError("--query: expected a SELECT statement")
    try:
        with psycopg.connect(url, connect_timeout=15, autocommit=False) as con:
            con.read_only = True
            with con.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
                cur.execute(sql)
                if cur.description is None:
                    raise ImportRefused([Problem(name, None, None, None, "a query that returns rows (a SELECT)")])
                cols = [d.name for d in cur.description]
                rows = cur.fetchall()
            con.rollback()
    except psycopg.Error as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportRefused([Problem(name, None, None, None, f"a query the database runs ({_redact(msg)})")]) from None
    if len(set(cols)) < len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise ImportRefused([Problem(name, None, ", ".join(dup), None, "one column per name (alias them: AS ...)")])
    if not rows:
        raise ImportRefused([Problem(name, None, None, None, "at least one row (the query returned none)")])
    # explicit conversion column by column: NUMERIC arrives as Decimal, DATE as date (object columns in pandas)
    data = {c: [_text(r[i]) for r in rows] for i, c in enumerate(cols)}
    frame = pd.DataFrame(data, dtype=str)
    return RawTable(frame, (f"source: {len(frame):,} rows from the database",))
