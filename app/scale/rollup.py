"""Raw product events rolled up to the usage kind (account_id, date, metric, value), on DuckDB or Spark.

`python -m app usage-rollup --engine duckdb|spark --events PATH --out FILE.parquet` calls ``run``.

**One definition.** The rollup is the SQL text ``rollup_sql`` builds: both engines run the same
statement (DuckDB through a private in-memory connection, ``store.memory()``; Spark through
``spark.sql``). It is written in the SQL both dialects share; where their names differ, DuckDB gets a
one-line alias with Spark's name (``DUCKDB_ALIASES``: the type ``TIMESTAMP_LTZ`` and the function
``from_utc_timestamp``), so the statement itself exists once. Only reading the files and writing the
result are engine code (``_duckdb_run`` / ``_spark_run``), and they only rename columns.

**The definition** (docs/scale.md says the same in words):

- An event is a row with an account id, a timestamp and an event type (metric). Optional: a user id
  and a value. Column names are matched by synonyms as in imports (``EVENT_COLUMNS``), or ``--map``.
- Timestamps: a Parquet timestamp, or text (ISO 8601; an offset such as ``+02:00`` or ``Z`` is
  honoured). A timestamp without an offset is UTC. Each event belongs to the calendar day of its
  timestamp in the rollup's zone (``zone``, default UTC; any IANA name, e.g. Europe/Berlin), the
  event's own time, not when it arrived: a late event lands on its day whenever it is rolled up, so
  re-run the rollup over the days a late batch touches and load the result with ``--mode replace``.
- Duplicates: rows with the same (account, timestamp instant, event type, user) are one event (a
  resent event); with a value column it keeps the largest value among the copies.
- Per account, day and event type: the number of events, or with a value column the sum of values.
  Per account and day: ``active_users``, the number of distinct user ids (days without any user id
  have no row).
- Invalid rows (no account, no or unreadable timestamp, no event type, or a value that is not a
  non-negative finite number) are counted and left out.
- Unknown accounts (not in the store's accounts, or not in an accounts file): counted, with examples,
  and left out of the output so that it loads (``keep_unknown`` keeps them). Never dropped silently.
"""
from __future__ import annotations

import csv
import re
import time
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from app.data.schema import KINDS, Column, normalize_name

ENGINES = ("duckdb", "spark")
ACTIVE_USERS = "active_users"

_USAGE = KINDS["usage"]
# The raw event columns and the names they go by in common event exports (Segment, Amplitude,
# Mixpanel, product databases). Account, event type and value reuse the usage kind's synonyms.
EVENT_COLUMNS: tuple[Column, ...] = (
    Column("account_id", "str", True, _USAGE.column("account_id").synonyms
           + ("group id", "groupid", "tenant id", "tenant", "workspace id", "company_id")),
    Column("ts", "timestamp", True, ("timestamp", "event time", "event timestamp", "time", "datetime",
                                     "occurred at", "created at", "event date", "date", "client event time")),
    Column("metric", "str", True, _USAGE.column("metric").synonyms
           + ("event type", "event name", "eventtype", "event_type", "action", "metric", "type")),
    Column("user_id", "str", False, ("user id", "userid", "user", "distinct id", "actor id", "member id",
                                     "person id", "visitor id", "login")),
    Column("value", "number", False, _USAGE.column("value").synonyms + ("quantity", "units", "duration")),
)
EVENT_NAMES = tuple(c.name for c in EVENT_COLUMNS)

# DuckDB spellings of the two Spark SQL names the statement uses (session time zone UTC):
# TIMESTAMP_LTZ is Spark's instant type (DuckDB: TIMESTAMPTZ); from_utc_timestamp(ts, zone) gives
# the wall-clock time in zone (DuckDB: timezone(zone, ts)).
DUCKDB_ALIASES = (
    "CREATE TYPE TIMESTAMP_LTZ AS TIMESTAMPTZ",
    "CREATE MACRO from_utc_timestamp(ts, tz) AS timezone(tz, ts)",
)


class RollupError(ValueError):
    """A problem with the events or the options, said in plain words."""


# ---------------------------------------------------------------- the definition (one SQL text)

def rollup_sql(zone: str = "UTC", check_accounts: bool = False) -> str:
    """The rollup, as one SQL statement both engines run unchanged.

    Reads the view ``events_src`` (account_id, ts, metric, user_id, value: the source's columns,
    renamed, any types) and, when check_accounts, ``known_accounts`` (account_id). Returns one row
    per account, day and metric with kind 'event' or 'users', the events behind it (after removing
    duplicates) and the input rows behind it (with duplicates), known (the account is known), plus
    one row of kind 'invalid' counting the rows left out.
    """
    zone = check_zone(zone)
    known = ("k.account_id IS NOT NULL" if check_accounts else "TRUE")
    join = ("LEFT JOIN (SELECT DISTINCT CAST(account_id AS STRING) AS account_id FROM known_accounts) k "
            "ON r.account_id = k.account_id" if check_accounts else "")
    return f"""
WITH src AS (
    SELECT nullif(trim(CAST(account_id AS STRING)), '') AS account_id,
           TRY_CAST(ts AS TIMESTAMP_LTZ) AS ts,
           nullif(trim(CAST(metric AS STRING)), '') AS metric,
           nullif(trim(CAST(user_id AS STRING)), '') AS user_id,
           TRY_CAST(value AS DOUBLE) AS value,
           value IS NULL AS no_value
    FROM events_src
),
checked AS (
    -- NaN and infinity fail the BETWEEN in both engines (NaN sorts above every number in both).
    SELECT *, (account_id IS NOT NULL AND ts IS NOT NULL AND metric IS NOT NULL
               AND (no_value OR value BETWEEN 0 AND 1e300)) AS valid
    FROM src
),
ev AS (
    -- One row per event: copies with the same account, instant, event type and user count once.
    SELECT account_id, ts, metric, user_id, max(value) AS value, count(*) AS copies
    FROM checked WHERE valid
    GROUP BY account_id, ts, metric, user_id
),
day AS (
    SELECT account_id, CAST(from_utc_timestamp(ts, '{zone}') AS DATE) AS date, metric, user_id, value, copies
    FROM ev
),
g AS (
    -- One pass for both levels: per account, day and event type; and per account and day (all types).
    SELECT account_id, date, metric, grouping(metric) AS all_types,
           coalesce(sum(value), 0.0) AS value, count(*) AS events, CAST(sum(copies) AS BIGINT) AS rows_in,
           count(DISTINCT user_id) AS users
    FROM day
    GROUP BY GROUPING SETS ((account_id, date, metric), (account_id, date))
),
r AS (
    SELECT CASE WHEN all_types = 0 THEN 'event' ELSE 'users' END AS kind, account_id, date,
           CASE WHEN all_types = 0 THEN metric ELSE '{ACTIVE_USERS}' END AS metric,
           CASE WHEN all_types = 0 THEN value ELSE CAST(users AS DOUBLE) END AS value,
           events, rows_in
    FROM g WHERE all_types = 0 OR users > 0
    UNION ALL
    SELECT 'invalid' AS kind, CAST(NULL AS STRING) AS account_id, CAST(NULL AS DATE) AS date,
           CAST(NULL AS STRING) AS metric, CAST(NULL AS DOUBLE) AS value,
           CAST(0 AS BIGINT) AS events, count(*) AS rows_in
    FROM checked WHERE NOT valid
)
SELECT r.kind, r.account_id, r.date, r.metric, r.value, r.events, r.rows_in,
       ({known}) AS known
FROM r {join}
"""


# Over the rollup's result (view ``rollup``): the report's figures, the unknown accounts' examples and
# the output rows. Shared by both engines as well.
STATS_SQL = f"""
SELECT coalesce(sum(CASE WHEN kind <> 'users' THEN rows_in END), 0) AS rows_read,
       coalesce(sum(CASE WHEN kind = 'invalid' THEN rows_in END), 0) AS invalid_rows,
       coalesce(sum(CASE WHEN kind = 'event' THEN events END), 0) AS events,
       coalesce(sum(CASE WHEN kind = 'event' THEN rows_in - events END), 0) AS duplicates,
       count(DISTINCT CASE WHEN kind = 'event' AND NOT known THEN account_id END) AS unknown_accounts,
       coalesce(sum(CASE WHEN kind = 'event' AND NOT known THEN events END), 0) AS unknown_events,
       count(DISTINCT CASE WHEN kind = 'event' THEN account_id END) AS accounts,
       count(DISTINCT CASE WHEN kind = 'event' THEN metric END) AS event_types,
       min(date) AS first_date, max(date) AS last_date,
       count(CASE WHEN kind = 'event' AND metric = '{ACTIVE_USERS}' THEN 1 END) AS clashing_rows
FROM rollup
"""
UNKNOWN_SQL = """
SELECT account_id, sum(events) AS events
FROM rollup WHERE kind = 'event' AND NOT known
GROUP BY account_id ORDER BY events DESC, account_id LIMIT {limit}
"""
OUTPUT_COLUMNS = ("account_id", "date", "metric", "value")


def output_sql(keep_unknown: bool = False) -> str:
    """The usage rows to write, ordered (account, day, metric)."""
    where = "kind <> 'invalid'" + ("" if keep_unknown else " AND known")
    return (f"SELECT {', '.join(OUTPUT_COLUMNS)} FROM rollup WHERE {where} "
            "ORDER BY account_id, date, metric")


def check_zone(zone: str) -> str:
    """An IANA time zone name (it goes into the SQL text, so it is checked against the zone database)."""
    z = (zone or "UTC").strip()
    if z.upper() == "UTC":
        return "UTC"
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", z) or z not in zoneinfo.available_timezones():
        raise RollupError(f"--tz {zone!r}: not a time zone name (expected an IANA name such as UTC, "
                          "Europe/Berlin or America/New_York)")
    return z


# ---------------------------------------------------------------- column mapping

def propose_mapping(source_columns: Sequence[str], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """canonical event column -> source column: ``--map SOURCE=TARGET`` first, then names, then synonyms.

    The same matching as imports (``normalize_name``: case, spaces and punctuation ignored; an exact
    name beats a synonym). TARGET empty in overrides: that source column is not used.
    """
    overrides = dict(overrides or {})
    out: dict[str, str] = {}
    skipped = {src for src, tgt in overrides.items() if not tgt}
    for src, tgt in overrides.items():
        if not tgt:
            continue
        if tgt not in EVENT_NAMES:
            raise RollupError(f"--map {src}={tgt}: {tgt!r} is not an event column (expected one of "
                              f"{', '.join(EVENT_NAMES)})")
        if src not in source_columns:
            raise RollupError(f"--map {src}={tgt}: the events have no column {src!r} (columns: "
                              f"{', '.join(source_columns)})")
        out[tgt] = src
    free = [s for s in source_columns if s not in skipped and s not in out.values()]
    exact = {normalize_name(c.name): c.name for c in EVENT_COLUMNS}
    syn: dict[str, str] = {}
    for c in EVENT_COLUMNS:
        for s in c.synonyms:
            syn.setdefault(normalize_name(s), c.name)
    for table in (exact, syn):
        for src in free:
            hit = table.get(normalize_name(src))
            if hit and hit not in out and src not in out.values():
                out[hit] = src
    missing = [c.name for c in EVENT_COLUMNS if c.required and c.name not in out]
    if missing:
        raise RollupError(f"the events need columns for {', '.join(missing)}; found {', '.join(source_columns)} "
                          "(map them with --map SOURCE=TARGET, e.g. --map 'Event Name=metric')")
    return out


# ---------------------------------------------------------------- report


@dataclass
class RollupReport:
    engine: str
    zone: str
    mapping: dict[str, str]
    rows_read: int = 0
    invalid_rows: int = 0
    events: int = 0
    duplicates: int = 0
    accounts: int = 0
    event_types: int = 0
    unknown_accounts: int = 0
    unknown_events: int = 0
    unknown_examples: list[tuple[str, int]] = field(default_factory=list)
    accounts_checked: bool = False
    kept_unknown: bool = False
    rows_out: int = 0
    first_date: object = None
    last_date: object = None
    seconds: float = 0.0
    out: str = ""

    def lines(self) -> list[str]:
        m = ", ".join(f"{self.mapping[t]} -> {t}" for t in EVENT_NAMES if t in self.mapping)
        out = [f"Rolled up {self.rows_read:,} event rows on {self.engine} in {self.seconds:.1f} s (days in "
               f"{self.zone}): {self.events:,} events of {self.event_types} types, {self.accounts:,} accounts, "
               f"{self.first_date} to {self.last_date}; wrote {self.rows_out:,} usage rows to {self.out}.",
               f"  columns: {m}" + ("" if "value" in self.mapping else "; no value column: each event counts 1"),
               f"  duplicates counted once: {self.duplicates:,} rows (same account, timestamp, event and user)",
               f"  invalid rows left out: {self.invalid_rows:,} (no account, timestamp or event type, or a value "
               "that is not a non-negative number)"]
        if not self.accounts_checked:
            out.append("  accounts not checked (no accounts in the store and no --accounts file)")
        elif self.unknown_accounts:
            ex = ", ".join(f"{a} ({n:,})" for a, n in self.unknown_examples)
            what = "kept in the output (--keep-unknown)" if self.kept_unknown else \
                "left out of the output (`load usage` would refuse them; --keep-unknown keeps them)"
            out.append(f"  unknown accounts: {self.unknown_accounts:,} accounts with {self.unknown_events:,} "
                       f"events, {what}; e.g. {ex}")
        else:
            out.append("  unknown accounts: none")
        return out


# ---------------------------------------------------------------- run


def run(events: str | Path, out: str | Path, engine: str = "duckdb", *, mapping: dict[str, str] | None = None,
        zone: str = "UTC", accounts: Iterable[str] | None = None, keep_unknown: bool = False,
        spark=None, delimiter: str | None = None, examples: int = 10) -> RollupReport:
    """Roll the events at ``events`` (a Parquet or CSV file, a folder of them, a glob; on Spark also
    s3:// or abfss:// paths) up into the usage kind's columns, written as Parquet to ``out``.

    accounts: the known account ids (None: not checked). On Spark, ``out`` ending in .parquet on the
    local disk is one file; anything else (a folder, s3://...) is written as a Parquet dataset.
    """
    if engine not in ENGINES:
        raise RollupError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    zone = check_zone(zone)
    known = None if accounts is None else pd.DataFrame({"account_id": pd.Series(list(accounts), dtype="str")})
    t0 = time.perf_counter()
    fmt = _format(str(events))
    if engine == "duckdb":
        report = _duckdb_run(str(events), fmt, str(out), mapping, zone, known, keep_unknown, delimiter, examples)
    else:
        report = _spark_run(str(events), fmt, str(out), mapping, zone, known, keep_unknown, delimiter, examples,
                            spark)
    report.seconds = time.perf_counter() - t0
    report.out = str(out)
    return report


def _format(path: str) -> str:
    low = path.lower().rstrip("/")
    for suffix in (".csv", ".csv.gz", ".tsv", ".txt", ".csv.zst"):
        if low.endswith(suffix) or low.endswith(suffix + "*"):
            return "csv"
    if "://" not in low and Path(path).is_dir():
        files = [p.name.lower() for p in Path(path).rglob("*") if p.is_file() and not p.name.startswith((".", "_"))]
        if files and all(".csv" in f or f.endswith(".tsv") for f in files):
            return "csv"
    return "parquet"


def _sniff_delimiter(path: str) -> str:
    """The CSV delimiter among , ; tab | from the first line of a local file (as imports do)."""
    p = Path(path)
    if "://" in path or not p.is_file() or path.lower().endswith((".gz", ".zst")):
        return ","
    with p.open("r", encoding="utf-8", errors="replace") as f:
        head = f.readline()
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _fill(report: RollupReport, stats: dict, unknown: list[tuple[str, int]], rows_out: int) -> RollupReport:
    if stats["clashing_rows"]:
        raise RollupError(f"an event type is named {ACTIVE_USERS!r}, the name of the distinct-users metric: "
                          "rename it in the events or drop the user column (--map USERCOL=)")
    for k in ("rows_read", "invalid_rows", "events", "duplicates", "unknown_accounts", "unknown_events",
              "accounts", "event_types"):
        setattr(report, k, int(stats[k] or 0))
    report.first_date, report.last_date = (None if pd.isna(d) else pd.Timestamp(d).date()
                                           for d in (stats["first_date"], stats["last_date"]))
    report.unknown_examples = [(str(a), int(n)) for a, n in unknown]
    report.rows_out = int(rows_out)
    return report


def _quote_duck(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select_list(mapping: dict[str, str], quote) -> str:
    cols = []
    for name in EVENT_NAMES:
        if name in mapping:
            cols.append(f"{quote(mapping[name])} AS {name}")
        elif name == "value":
            cols.append("1 AS value")  # no value column: each event counts 1
        else:
            cols.append(f"CAST(NULL AS STRING) AS {name}")
    return ", ".join(cols)


def _duckdb_run(path, fmt, out, mapping, zone, known, keep_unknown, delimiter, examples) -> RollupReport:
    from app.data import store

    if "://" in path:
        raise RollupError(f"{path}: remote paths need --engine spark (DuckDB here reads local files only; its "
                          "httpfs extension would download itself)")
    con = store.memory()
    try:
        for stmt in DUCKDB_ALIASES:
            con.execute(stmt)
        lit = "'" + path.replace("'", "''") + "'"
        if fmt == "csv":
            if Path(path).is_dir():
                lit = "'" + str(Path(path) / "**" / "*.csv*").replace("'", "''") + "'"
            d = delimiter or _sniff_delimiter(path)
            reader = f"read_csv({lit}, header = true, all_varchar = true, delim = '{d}')"
        else:
            if Path(path).is_dir():
                lit = "'" + str(Path(path) / "**" / "*.parquet").replace("'", "''") + "'"
            reader = f"read_parquet({lit})"
        try:
            cols = [d[0] for d in con.execute(f"SELECT * FROM {reader} LIMIT 0").description]
        except Exception as exc:  # duckdb.IOException, InvalidInputException ...
            raise RollupError(f"{path}: cannot read the events ({str(exc).splitlines()[0]})") from exc
        m = propose_mapping(cols, mapping)
        con.execute(f"CREATE VIEW events_src AS SELECT {_select_list(m, _quote_duck)} FROM {reader}")
        if known is not None:
            con.register("known_accounts_df", known)
            con.execute("CREATE TABLE known_accounts AS SELECT CAST(account_id AS VARCHAR) AS account_id "
                        "FROM known_accounts_df")
        con.execute(f"CREATE TEMP TABLE rollup AS {rollup_sql(zone, known is not None)}")
        stats = con.execute(STATS_SQL).df().iloc[0].to_dict()
        unknown = con.execute(UNKNOWN_SQL.format(limit=int(examples))).fetchall() if known is not None else []
        report = RollupReport("duckdb", zone, m, accounts_checked=known is not None, kept_unknown=keep_unknown)
        _fill(report, stats, unknown, 0)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        out_lit = "'" + out.replace("'", "''") + "'"
        con.execute(f"COPY ({output_sql(keep_unknown)}) TO {out_lit} (FORMAT parquet)")
        report.rows_out = con.execute(f"SELECT count(*) FROM ({output_sql(keep_unknown)})").fetchall()[0][0]
        return report
    finally:
        con.close()


def _spark_run(path, fmt, out, mapping, zone, known, keep_unknown, delimiter, examples, spark) -> RollupReport:
    from app.scale import spark as sparkmod

    spark = spark or sparkmod.session()
    with sparkmod.utc_session(spark):
        reader = spark.read
        try:
            if fmt == "csv":
                d = delimiter or _sniff_delimiter(path)
                src = reader.option("header", "true").option("sep", d).option("inferSchema", "false").csv(path)
            else:
                src = reader.parquet(path)
        except Exception as exc:  # AnalysisException: path does not exist, not Parquet ...
            raise RollupError(f"{path}: cannot read the events ({str(exc).splitlines()[0]})") from exc
        m = propose_mapping(src.columns, mapping)
        src.createOrReplaceTempView("events_raw")
        spark.sql(f"SELECT {_select_list(m, lambda n: '`' + n.replace('`', '``') + '`')} FROM events_raw") \
            .createOrReplaceTempView("events_src")
        if known is not None:
            spark.createDataFrame(known).createOrReplaceTempView("known_accounts")
        result = spark.sql(rollup_sql(zone, known is not None)).persist()
        try:
            result.createOrReplaceTempView("rollup")
            stats = spark.sql(STATS_SQL).collect()[0].asDict()
            unknown = ([tuple(r) for r in spark.sql(UNKNOWN_SQL.format(limit=int(examples))).collect()]
                       if known is not None else [])
            report = RollupReport("spark", zone, m, accounts_checked=known is not None, kept_unknown=keep_unknown)
            _fill(report, stats, unknown, 0)
            rows = spark.sql(output_sql(keep_unknown))
            if out.lower().endswith(".parquet") and "://" not in out:
                import pyarrow.parquet as pq

                table = rows.toArrow()
                Path(out).parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, out)
                report.rows_out = table.num_rows
            else:  # a cluster's output: a Parquet dataset (folder), e.g. s3://bucket/usage_daily/
                rows.write.mode("overwrite").parquet(out)
                report.rows_out = spark.read.parquet(out).count()
            return report
        finally:
            result.unpersist()
            for v in ("events_raw", "events_src", "known_accounts", "rollup"):
                spark.catalog.dropTempView(v)
