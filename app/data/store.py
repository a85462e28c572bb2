"""The DuckDB store: the only module that opens connections.

Canonical tables are created from app.data.schema. Derived tables (monthly ARR per
account, the per-account-month ARR bridge category, contracts derived from line
items) are rebuilt inside each import's transaction, so pages read small
materialised tables instead of recomputing window functions.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from app.data.schema import KINDS, SQL_TYPES, quote_ident
from app.rules import periods

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DB = ROOT / "data" / "cs.duckdb"

# A renewal line that starts up to this many days after the old term ended still
# counts as a renewal of that contract (a renewal signed late), not as churn.
RENEWAL_GRACE_DAYS = 31
# Derived contracts are generated this far past the as-of date (the longest
# renewal-forecast window, 4 quarters), so that the
# forecast sees the coming renewal dates of recurring subscriptions.
CONTRACT_HORIZON_MONTHS = 12

Cursor = duckdb.DuckDBPyConnection

_APP_DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE SEQUENCE IF NOT EXISTS import_log_seq;
CREATE TABLE IF NOT EXISTS import_log (
    id BIGINT PRIMARY KEY DEFAULT nextval('import_log_seq'),
    imported_at TIMESTAMP, file_name VARCHAR, sha256 VARCHAR, kind VARCHAR, mode VARCHAR,
    rows BIGINT, outcome VARCHAR, message VARCHAR
);
CREATE TABLE IF NOT EXISTS scenarios (
    name VARCHAR PRIMARY KEY, saved_at TIMESTAMP, inputs_json VARCHAR
);
CREATE SEQUENCE IF NOT EXISTS forecast_runs_seq;
CREATE TABLE IF NOT EXISTS forecast_runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('forecast_runs_seq'),
    saved_at TIMESTAMP, as_of DATE, kind VARCHAR, model_version VARCHAR,
    inputs_json VARCHAR, outputs_json VARCHAR
);
CREATE TABLE IF NOT EXISTS health_configs (
    version INTEGER PRIMARY KEY, name VARCHAR, kind VARCHAR, created_at TIMESTAMP,
    data_version VARCHAR, spec_json VARCHAR
);
CREATE TABLE IF NOT EXISTS health_snapshot_sets (
    set_id INTEGER PRIMARY KEY, config_version INTEGER, data_version VARCHAR, built_at TIMESTAMP,
    weeks INTEGER, factors_json VARCHAR, seconds DOUBLE
);
-- Renewal forecasts prepared once per data version (app/forecasting/renewals.py prepare): a cache, rebuilt when
-- missing.
-- payload: a pickled Python object (model, card, calibration, a window's page view); the scored contracts
-- are the table renewal_scored, written by prepare.
CREATE TABLE IF NOT EXISTS renewal_prepared (
    data_key VARCHAR, item VARCHAR, created_at TIMESTAMP, seconds DOUBLE, payload BLOB,
    PRIMARY KEY (data_key, item)
);
CREATE TABLE IF NOT EXISTS health_snapshots (
    set_id INTEGER, week DATE, account_id VARCHAR, score DOUBLE, band VARCHAR, stage VARCHAR, points DOUBLE[]
);
"""


def db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The store file: --db PATH, else $CS_DB, else data/cs.duckdb."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("CS_DB")
    return Path(env) if env else DEFAULT_DB


def connect(path: str | os.PathLike[str] | None = None, read_only: bool = False, wait_seconds: float = 0.0,
            ensure: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the store (creating the schema unless ensure is False). Extensions never download at run time.

    DuckDB lets one process write a file at a time: while another process holds it
    (a cron load, or the app in the middle of a page run) this retries for up to
    wait_seconds before giving up with a StoreError.
    """
    p = db_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            con = duckdb.connect(
                str(p),
                read_only=read_only,
                config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
            )
            break
        except duckdb.IOException as exc:
            if time.monotonic() >= deadline:
                raise StoreError(f"cannot open the store {p}: another process is using it ({exc}). "
                                 "Try again in a moment.") from exc
            time.sleep(0.2)
    if ensure and not read_only:
        ensure_schema(con)
    return con


def memory(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection (never the store file), for work over files such as the
    usage rollup of raw events (app/scale/rollup.py). Extensions never download; the session time zone
    is UTC, so naive timestamps read as UTC."""
    config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if threads:
        config["threads"] = int(threads)
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


class StoreError(RuntimeError):
    """A store problem worth showing to a user as is."""


def table_ddl(kind: str, extra_columns: Sequence[str] = ()) -> str:
    k = KINDS[kind]
    cols = [f"{quote_ident(c.name)} {SQL_TYPES[c.type]}" for c in k.columns]
    cols += [f"{quote_ident(c)} VARCHAR" for c in extra_columns]
    return f"CREATE TABLE IF NOT EXISTS {quote_ident(kind)} ({', '.join(cols)})"


# The CSM of an account as people read it: the roster's name, else the id the account carries
# (a CRM's "Account Owner" is often a name already). One definition; pages, exports and the CLI read it.
_ACCOUNT_CSM_VIEW = """
CREATE OR REPLACE VIEW account_csm AS
SELECT a.account_id, a.csm_id, coalesce(nullif(trim(c.name), ''), a.csm_id) AS csm_name
FROM accounts a
LEFT JOIN (SELECT csm_id, min(name) AS name FROM csms GROUP BY csm_id) c ON c.csm_id = a.csm_id
"""


# Bumped whenever the derived tables' or views' definitions change: a store built by an older
# version is rebuilt on its next (writable) open, so no page reads a stale shape.
DERIVED_VERSION = "3"


def ensure_schema(con: Cursor) -> None:
    for kind in KINDS:
        con.execute(table_ddl(kind))
    con.execute(_APP_DDL)
    if not table_exists(con, "account_csm"):
        con.execute(_ACCOUNT_CSM_VIEW)
    if not table_exists(con, "arr_monthly") or get_meta(con, "derived_version") != DERIVED_VERSION:
        with transaction(con):
            rebuild_derived(con)


def table_exists(cur: Cursor, name: str) -> bool:
    """A table or view of that name exists."""
    return _object_type(cur, name) is not None


def _object_type(cur: Cursor, name: str) -> str | None:
    """'BASE TABLE', 'VIEW', 'LOCAL TEMPORARY' or None."""
    rows = cur.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()
    return rows[0][0] if rows else None


@contextmanager
def transaction(cur: Cursor) -> Iterator[Cursor]:
    """All or nothing: any exception rolls back every statement inside.

    Writes inside do not keep insertion order (no query relies on table order; every
    reader sorts), which lets DuckDB write row groups in parallel: about 40% faster
    for a million-row table.
    """
    cur.execute("BEGIN TRANSACTION")
    cur.execute("SET preserve_insertion_order = false")
    try:
        yield cur
    except BaseException:
        cur.execute("ROLLBACK")
        with suppress(duckdb.Error):
            cur.execute("RESET preserve_insertion_order")
        raise
    cur.execute("RESET preserve_insertion_order")
    cur.execute("COMMIT")


def query_df(cur: Cursor, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
    """Run a query with bound parameters and fetch the whole result."""
    return cur.execute(sql, params or []).df()


def query_rows(cur: Cursor, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
    return cur.execute(sql, params or []).fetchall()


def columns_of(cur: Cursor, table: str) -> list[str]:
    rows = cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table]).fetchall()
    return [r[0] for r in rows]


# ---------------------------------------------------------------- meta / as-of

# id(cursor) -> the meta table as that cursor's read snapshot sees it: for a cursor that holds one snapshot for
# its whole life and never writes (the app's per-run read cursor, app/ui.py), so the dozen settings a page run
# reads cost one query instead of one each. pin_meta / unpin_meta; set_meta on a pinned cursor unpins it.
_PINNED_META: dict[int, dict[str, str]] = {}


def pin_meta(cur: Cursor) -> None:
    """Read the meta table once and answer get_meta(cur, ...) from it until unpin_meta(cur)."""
    try:
        _PINNED_META[id(cur)] = dict(cur.execute("SELECT key, value FROM meta").fetchall())
    except duckdb.CatalogException:  # a store without its schema yet: read as usual
        unpin_meta(cur)


def unpin_meta(cur: Cursor) -> None:
    _PINNED_META.pop(id(cur), None)


def get_meta(cur: Cursor, key: str) -> str | None:
    pinned = _PINNED_META.get(id(cur))
    if pinned is not None:
        return pinned.get(key)
    rows = cur.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else None


def set_meta(cur: Cursor, key: str, value: str | None) -> None:
    unpin_meta(cur)
    cur.execute("DELETE FROM meta WHERE key = ?", [key])
    if value is not None:
        cur.execute("INSERT INTO meta VALUES (?, ?)", [key, value])


def default_as_of(today: dt.date | None = None) -> dt.date:
    """Last day of the last complete month."""
    today = today or dt.date.today()
    return today.replace(day=1) - dt.timedelta(days=1)


# Dates that record something that happened (a line or contract starting, a usage day, a
# survey, a ticket, a churn note). End dates are left out: they are often scheduled (a
# 12-month term's end), so they say nothing about when the export was made.
_OBSERVED_DATES = (("subscriptions", "start_date"), ("contracts", "start_date"), ("usage", "date"),
                   ("nps", "date"), ("tickets", "opened_at"), ("churn_reasons", "date"))


def data_end(cur: Cursor, today: dt.date | None = None) -> dt.date | None:
    """The last day the data speaks for, or None for an empty store.

    Today when a subscription or contract is still running at today (open-ended, or
    ending after today): the export is current. Otherwise the latest observed date
    (see _OBSERVED_DATES) on or before today.
    """
    today = today or dt.date.today()
    running = cur.execute(
        "SELECT (SELECT count(*) FROM subscriptions WHERE start_date <= ? AND (end_date IS NULL OR end_date > ?))"
        " + (SELECT count(*) FROM contracts WHERE start_date <= ? AND end_date > ?)",
        [today, today, today, today]).fetchall()[0][0]
    if running:
        return today
    parts = " UNION ALL ".join(
        f"SELECT max({quote_ident(c)}) AS d FROM {quote_ident(t)} WHERE {quote_ident(c)} <= $today"
        for t, c in _OBSERVED_DATES)
    d = cur.execute(f"SELECT max(d) FROM ({parts})", {"today": today}).fetchall()[0][0]
    return None if d is None else (d.date() if isinstance(d, dt.datetime) else d)


def auto_as_of(cur: Cursor, today: dt.date | None = None) -> dt.date:
    """The as-of date the data implies: the last complete month the data covers.

    The month end of data_end(), or the last complete month before today when that
    month is not over yet; the last complete month before today for an empty store.
    """
    today = today or dt.date.today()
    last_complete = default_as_of(today)
    end = data_end(cur, today)
    if end is None:
        return last_complete
    return min(periods.month_end(end), last_complete)


def as_of_choices(cur: Cursor, today: dt.date | None = None, limit: int = 120) -> list[dt.date]:
    """Month ends a user may pin the as-of date to, newest first: from the data's first month to last month."""
    today = today or dt.date.today()
    parts = " UNION ALL ".join(f"SELECT min({quote_ident(c)}) AS d FROM {quote_ident(t)}" for t, c in _OBSERVED_DATES)
    first = cur.execute(f"SELECT min(d) FROM ({parts})").fetchall()[0][0]
    first = first.date() if isinstance(first, dt.datetime) else first
    last = default_as_of(today)
    first = periods.month_end(first) if first is not None and first <= last else last
    out = [last]
    while out[-1] > first and len(out) < limit:
        out.append(periods.last_complete_month_end(periods.month_start(out[-1]) - dt.timedelta(days=1)))
    return out


def as_of(cur: Cursor) -> dt.date:
    """The as-of date every metric uses: the one pinned (by the user, or the sample), else the data's own.

    The data's own (auto_as_of) is recorded when the derived tables are rebuilt, so the
    as-of date and the derived tables always agree.
    """
    v = get_meta(cur, "as_of") or get_meta(cur, "as_of_auto")
    return dt.date.fromisoformat(v) if v else default_as_of()


def as_of_pinned(cur: Cursor) -> bool:
    """True when the as-of date was chosen (by the user or the sample), not read off the data."""
    return get_meta(cur, "as_of") is not None


def set_as_of(cur: Cursor, value: dt.date | None) -> dt.date:
    """Pin the as-of date to a month end (None: follow the data again); rebuilds the derived tables.

    One transaction; recorded in the import log so every cached result refreshes.
    """
    if value is not None and value != periods.month_end(value):
        raise StoreError(f"the as-of date must be a month end (the last day of a month), not {value.isoformat()}")
    with transaction(cur):
        set_meta(cur, "as_of", value.isoformat() if value else None)
        rebuild_derived(cur)
        log_import(cur, file_name="settings", sha256="", kind="as_of", mode="set", rows=0, outcome="ok",
                   message=f"as-of date {'set to ' + value.isoformat() if value else 'follows the data'}")
    return as_of(cur)


FISCAL_KEY = "fiscal_year_start_month"


def fiscal_year_start(cur: Cursor) -> int:
    """The month (1-12) the company's fiscal year starts in; 1 (calendar year) unless set."""
    v = get_meta(cur, FISCAL_KEY)
    return int(v) if v else 1


def set_fiscal_year_start(cur: Cursor, month: int) -> None:
    """Store-level setting used by bridge periods, renewal windows, forecasts and the planner."""
    periods.check_start_month(month)
    with transaction(cur):
        set_meta(cur, FISCAL_KEY, str(month))
        log_import(cur, file_name="settings", sha256="", kind="fiscal_year", mode="set", rows=0, outcome="ok",
                   message=f"fiscal year starts in {periods.MONTH_ABBR[month]}")


def sample_label(cur: Cursor) -> str | None:
    """What sample data the store holds (None once the user's own data replaced it)."""
    return get_meta(cur, "sample")


def data_version(cur: Cursor) -> str:
    """Changes whenever the data or a setting changes; the cache key for derived results."""
    n = cur.execute("SELECT coalesce(max(id), 0) FROM import_log").fetchall()[0][0]
    return f"{n}:{as_of(cur).isoformat()}:{fiscal_year_start(cur)}"


# ---------------------------------------------------------------- writes

def write_table(cur: Cursor, kind: str, df: pd.DataFrame, mode: str) -> None:
    """Replace or append the rows of a canonical table (inside the caller's transaction).

    Extra account columns (already safe identifiers) are added as VARCHAR columns.
    """
    if mode not in ("replace", "append"):
        raise ValueError(f"mode must be replace or append, not {mode!r}")
    existing = columns_of(cur, kind)
    extra = [c for c in df.columns if c not in existing]
    if extra and not KINDS[kind].keeps_extra:
        raise ValueError(f"unexpected columns for {kind}: {extra}")
    if mode == "replace":
        canonical = KINDS[kind].names
        cur.execute(f"DROP TABLE {quote_ident(kind)}")
        cur.execute(table_ddl(kind, [c for c in df.columns if c not in canonical]))
        existing = columns_of(cur, kind)
    else:
        for c in extra:
            cur.execute(f"ALTER TABLE {quote_ident(kind)} ADD COLUMN {quote_ident(c)} VARCHAR")
        existing = columns_of(cur, kind)
    cols = [c for c in existing if c in df.columns]
    cur.register("_incoming", df[cols])
    try:
        col_sql = ", ".join(quote_ident(c) for c in cols)
        cur.execute(f"INSERT INTO {quote_ident(kind)} ({col_sql}) SELECT {col_sql} FROM _incoming")
    finally:
        cur.unregister("_incoming")


def unknown_accounts(cur: Cursor, account_ids: pd.Series) -> list[str]:
    """Account ids not present in accounts."""
    cur.register("_ids", pd.DataFrame({"account_id": account_ids.dropna().unique()}))
    try:
        rows = cur.execute("SELECT i.account_id FROM _ids i LEFT JOIN accounts a USING (account_id) "
                           "WHERE a.account_id IS NULL").fetchall()
    finally:
        cur.unregister("_ids")
    return [r[0] for r in rows]


def existing_keys(cur: Cursor, kind: str, key: str, values: pd.Series) -> list[str]:
    """Keys of kind already stored (for append mode)."""
    if kind not in KINDS or KINDS[kind].key != key:
        raise ValueError(f"{key} is not the key of {kind}")
    cur.register("_keys", pd.DataFrame({"k": values.dropna().unique()}))
    try:
        rows = cur.execute(f"SELECT t.{quote_ident(key)} FROM {quote_ident(kind)} t JOIN _keys k "
                           f"ON t.{quote_ident(key)} = k.k").fetchall()
    finally:
        cur.unregister("_keys")
    return [r[0] for r in rows]


def orphan_summary(cur: Cursor, new_account_ids: pd.Series | None = None) -> list[str]:
    """One message per table holding rows for accounts missing from accounts.

    With new_account_ids: the rows that would lose their account if accounts became
    exactly those ids (the preview of an accounts replace), nothing written.
    """
    if new_account_ids is None:
        source = "accounts"
    else:
        cur.register("_new_accounts", pd.DataFrame({"account_id": new_account_ids.dropna().astype(str).unique()}))
        source = "_new_accounts"
    msgs = []
    try:
        for kind in KINDS:
            if kind == "accounts" or "account_id" not in KINDS[kind].names:
                continue
            rows = cur.execute(
                f"SELECT count(*), min(t.account_id) FROM {quote_ident(kind)} t "
                f"LEFT JOIN {source} a USING (account_id) WHERE a.account_id IS NULL").fetchall()
            n, example = rows[0]
            if n:
                msgs.append(f"every stored {kind} row to belong to a known account: {n:,} {kind} rows would be "
                            f"left without their account (e.g. {example!r})")
    finally:
        if new_account_ids is not None:
            cur.unregister("_new_accounts")
    return msgs


def log_import(cur: Cursor, *, file_name: str, sha256: str, kind: str, mode: str, rows: int,
               outcome: str, message: str) -> None:
    cur.execute(
        "INSERT INTO import_log (imported_at, file_name, sha256, kind, mode, rows, outcome, message) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [dt.datetime.now().replace(microsecond=0), file_name, sha256, kind, mode, rows, outcome, message],
    )


def import_history(cur: Cursor, limit: int = 50) -> pd.DataFrame:
    return query_df(cur, "SELECT imported_at, file_name, kind, mode, rows, outcome, message, sha256 FROM import_log "
                         "ORDER BY id DESC LIMIT ?", [limit])


# ---------------------------------------------------------------- derived tables

def rebuild_derived(cur: Cursor) -> None:
    """Rebuild arr_monthly, arr_bridge_account and contracts_derived (caller holds the transaction).

    Monthly ARR rule: the ARR of an account in month m is the sum of the ARR of its
    line items active on m's last day, active meaning start_date <= day < end_date
    (end exclusive, NULL = open-ended). So a line contributes to the months from
    month(start_date) up to but excluding month(end_date); a line that starts and
    ends inside one month never shows at a month end.
    """
    if not as_of_pinned(cur):
        set_meta(cur, "as_of_auto", auto_as_of(cur).isoformat())
    asof = as_of(cur)
    _rebuild_arr_levels(cur, asof.replace(day=1))
    _rebuild_bridge(cur)
    # Monthly ARR is the bridge's rows with ARR (every other row is a churn): a view,
    # so the 4M-row table is not written twice at import.
    if _object_type(cur, "arr_monthly") == "BASE TABLE":  # stores built before it was a view
        cur.execute("DROP TABLE arr_monthly")
    cur.execute("CREATE OR REPLACE VIEW arr_monthly AS "
                "SELECT account_id, month, arr FROM arr_bridge_account WHERE arr > 0")
    cur.execute("DROP TABLE arr_levels")
    _rebuild_contracts(cur, asof)
    set_meta(cur, "derived_version", DERIVED_VERSION)


def _rebuild_arr_levels(cur: Cursor, asof_month: dt.date) -> None:
    """The temporary table arr_levels: each account's ARR from one change to the next, up to the as-of month."""
    # Each account's ARR as a step function: +arr in month(start), -arr in
    # month(end); a running sum gives its level from one change to the next
    # (m_from inclusive, m_to exclusive). Expanding levels, not line items, to
    # months keeps the work proportional to the output.
    cur.execute(
        """
        CREATE OR REPLACE TEMP TABLE arr_levels AS
        WITH lines AS (
            SELECT account_id, arr,
                   CAST(date_trunc('month', start_date) AS DATE) AS m0,
                   CAST(CASE WHEN end_date IS NULL THEN $next_month
                             ELSE date_trunc('month', end_date) END AS DATE) AS m1
            FROM subscriptions
            WHERE arr > 0
        ),
        events AS (
            SELECT account_id, m0 AS month, arr AS delta FROM lines WHERE m0 < m1 AND m0 <= $asof_month
            UNION ALL
            SELECT account_id, m1 AS month, -arr AS delta FROM lines WHERE m0 < m1 AND m1 <= $asof_month
        ),
        steps AS (SELECT account_id, month, sum(delta) AS delta FROM events GROUP BY account_id, month),
        levels AS (
            SELECT account_id, month AS m_from,
                   coalesce(lead(month) OVER w, $next_month) AS m_to,
                   greatest(round(sum(delta) OVER (w ROWS UNBOUNDED PRECEDING), 2), 0) AS arr,
                   row_number() OVER w = 1 AS is_first,
                   -- the previous level, from the same window (one sort, not two)
                   coalesce(greatest(round(sum(delta) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                                           2), 0), 0) AS prev_arr
            FROM steps
            WINDOW w AS (PARTITION BY account_id ORDER BY month)
        )
        SELECT * FROM levels
        """,
        {"asof_month": asof_month, "next_month": periods.add_months(asof_month, 1)},
    )


def _rebuild_bridge(cur: Cursor) -> None:
    """arr_bridge_account from arr_levels: each account's ARR per month and the bridge category of its change."""
    # One row per account and month from its first active month on, while it has
    # ARR now or had it the month before. 'Reactivation' = ARR back after a month
    # end at zero; a gap that does not span a month end is invisible. Each level
    # is expanded to its months with generate_series (cheaper than a range join
    # against a month spine).
    cur.execute(
        """
        CREATE OR REPLACE TABLE arr_bridge_account AS
        WITH x AS (
            SELECT account_id, m_from, prev_arr, arr, is_first,
                   CAST(unnest(generate_series(m_from, m_to - INTERVAL 1 MONTH, INTERVAL 1 MONTH)) AS DATE) AS month
            FROM arr_levels WHERE arr > 0
        )
        SELECT account_id, month,
               CASE WHEN month = m_from THEN prev_arr ELSE arr END AS prev_arr,
               arr,
               CASE WHEN month > m_from THEN 'flat'
                    WHEN prev_arr = 0 AND is_first THEN 'new'
                    WHEN prev_arr = 0 THEN 'reactivation'
                    WHEN arr > prev_arr THEN 'expansion'
                    WHEN arr < prev_arr THEN 'contraction'
                    ELSE 'flat' END AS category
        FROM x
        UNION ALL
        SELECT account_id, m_from AS month, prev_arr, 0.0 AS arr, 'churn' AS category
        FROM arr_levels WHERE arr = 0 AND prev_arr > 0
        """
    )


def billing_period_sql(start: str = "start_date", end: str = "end_date",
                       given: str = "billing_period_months") -> str:
    """A line's billing period in months, written once: as given; else the line's own length (an invoice
    line is one period; a 24-month term renews at its end, not at month 12); else 12 for an open-ended line."""
    return (f"greatest(coalesce({given}, CASE WHEN {end} IS NULL THEN 12 "
            f"ELSE greatest(date_diff('month', {start}, {end}), 1) END), 1)")


def outcome_sql(renewed: str, due: str) -> str:
    """The renewal-outcome rule, written once, as SQL over two column names (never user text).

    churned (renewed ARR 0) / downgraded (below the ARR due) / expanded (above) / renewed (equal).
    """
    return (f"CASE WHEN {renewed} = 0 THEN 'churned' WHEN {renewed} < {due} THEN 'downgraded' "
            f"WHEN {renewed} > {due} THEN 'expanded' ELSE 'renewed' END")


def contract_id_sql(account: str = "account_id", end: str = "end_date") -> str:
    """A derived contract's id, written once: account id ':' end date (2026-03-31)."""
    return f"{account} || ':' || strftime({end}, '%Y-%m-%d')"


def contract_columns_sql() -> str:
    """What a contract is, written once, over billing-period ends (columns account_id, d = a period's end,
    bp = its length in months, arr) grouped BY account_id, d: the lines of one account whose periods end on the
    same date form one contract ending then, starting at its earliest period's start, with their summed ARR.
    The store's derived contracts and the renewal window's contracts due both group this way."""
    return ("account_id, d AS end_date, CAST(min(d - to_months(CAST(bp AS INTEGER))) AS DATE) AS start_date, "
            "round(sum(arr), 2) AS arr")


def _rebuild_contracts(cur: Cursor, asof: dt.date) -> None:
    """Contracts derived from line items.

    Each line's billing period end is a renewal date: start + k x billing_period_months
    (billing_period_sql: as given, else the line's own length, else 12), plus its end_date. Lines of one account
    whose periods end on the same date form one contract: arr = their summed ARR. Renewed ARR = ARR of those
    lines that go on past the date + ARR of the account's lines starting on the date;
    when that is zero, lines starting within RENEWAL_GRACE_DAYS after the date count
    instead (a renewal signed late is a renewal, not churn). Outcome is
    known once date + grace <= as-of: churned (renewed 0), downgraded (< due),
    expanded (> due), renewed (= due). Open-ended lines generate renewal dates up to
    CONTRACT_HORIZON_MONTHS past the as-of date. The contract id, account_id:end_date,
    is formed in the renewals view rather than stored (3M unique strings are slow to write).
    """
    horizon = periods.add_months(asof, CONTRACT_HORIZON_MONTHS)
    cur.execute(
        """
        CREATE OR REPLACE TABLE contracts_derived AS
        WITH s AS (
            SELECT account_id, start_date, end_date, arr,
                   """ + billing_period_sql() + """ AS bp
            FROM subscriptions WHERE arr > 0
        ),
        k AS (
            -- start + k x bp months falls before the limit only if k x bp <= the months between
            -- them: an exact bound, so no surplus periods are generated and then filtered out
            SELECT account_id, start_date, end_date, arr, bp,
                   unnest(generate_series(1, date_diff('month', start_date,
                        least(coalesce(end_date, $horizon), $horizon)) // bp)) AS k
            FROM s
        ),
        bounds AS (
            SELECT account_id, end_date, arr, bp,
                   CAST(start_date + to_months(CAST(k * bp AS INTEGER)) AS DATE) AS d
            FROM k
        ),
        periods AS (
            -- period ends strictly before the line's end, then the end itself: no duplicates
            SELECT account_id, end_date, arr, bp, d FROM bounds
            WHERE d < coalesce(end_date, $horizon + INTERVAL 1 DAY) AND d <= $horizon
            UNION ALL
            SELECT account_id, end_date, arr, bp, end_date AS d FROM s
            WHERE end_date IS NOT NULL AND end_date <= $horizon
        ),
        grouped AS (
            SELECT """ + contract_columns_sql() + """,
                   round(sum(CASE WHEN end_date IS NULL OR end_date > d THEN arr ELSE 0 END), 2) AS continuing
            FROM periods GROUP BY account_id, d
        ),
        starts AS (  -- ARR of the lines each account starts on each date
            SELECT account_id, start_date, sum(arr) AS arr FROM s GROUP BY account_id, start_date
        ),
        judged0 AS (
            SELECT g.*, round(coalesce(st.arr, 0), 2) AS on_date
            FROM grouped g LEFT JOIN starts st ON st.account_id = g.account_id AND st.start_date = g.end_date
        ),
        late AS (  -- only contracts with nothing continuing or starting on the date look further
            SELECT j.account_id, j.end_date, round(sum(st.arr), 2) AS within_grace
            FROM judged0 j JOIN starts st ON st.account_id = j.account_id
             AND st.start_date > j.end_date AND st.start_date < j.end_date + $grace
            WHERE j.continuing = 0 AND j.on_date = 0
            GROUP BY j.account_id, j.end_date
        ),
        judged AS (
            SELECT j.*, j.continuing + j.on_date + coalesce(l.within_grace, 0) AS renewed
            FROM judged0 j LEFT JOIN late l ON l.account_id = j.account_id AND l.end_date = j.end_date
        )
        SELECT account_id, start_date, end_date, arr,
               CASE WHEN end_date + $grace > $asof THEN NULL
                    ELSE """ + outcome_sql("renewed", "arr") + """ END AS outcome,
               CASE WHEN end_date + $grace > $asof THEN NULL ELSE renewed END AS renewed_arr
        FROM judged
        """,
        {"horizon": horizon, "grace": RENEWAL_GRACE_DAYS, "asof": asof},
    )
    _create_renewals_view(cur)


def _create_renewals_view(cur: Cursor) -> None:
    """The renewals view every reader uses: the imported contracts if there are any, else the derived ones."""
    cur.execute(
        """
        CREATE OR REPLACE VIEW renewals AS
        WITH imported AS (
            -- an imported contract may carry renewed ARR without an outcome: the rule gives it one
            SELECT contract_id, account_id, start_date, end_date, arr, renewed_arr,
                   coalesce(outcome, CASE WHEN renewed_arr IS NOT NULL
                                          THEN """ + outcome_sql("renewed_arr", "arr") + """
                                     END) AS outcome
            FROM contracts WHERE (SELECT count(*) FROM contracts) > 0
        )
        SELECT contract_id, account_id, start_date, end_date, arr, outcome, renewed_arr,
               -- renewed ARR as every metric reads it: an outcome without renewed ARR renews flat (0 if churned)
               coalesce(renewed_arr, CASE WHEN outcome = 'churned' THEN 0 WHEN outcome IS NOT NULL THEN arr END)
                   AS renewed,
               'imported' AS source
        FROM imported
        UNION ALL
        SELECT """ + contract_id_sql() + """ AS contract_id,
               account_id, start_date, end_date, arr, outcome, renewed_arr, renewed_arr AS renewed, 'derived' AS source
        FROM contracts_derived WHERE (SELECT count(*) FROM contracts) = 0
        """
    )


def row_counts(cur: Cursor) -> dict[str, int]:
    return {k: cur.execute(f"SELECT count(*) FROM {quote_ident(k)}").fetchall()[0][0] for k in KINDS}
