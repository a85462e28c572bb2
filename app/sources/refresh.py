"""One refresh: every source of sources.toml loaded in ONE transaction (all or nothing), each logged.

    python -m app refresh [--config sources.toml]

sources.toml (see sources.example.toml) lists one [[sources]] table per source:

    kind     the table it fills (accounts, subscriptions, contracts, usage, ..., fx_rates)
    file     a path or glob (relative to the config file); several matches are read as one table (the same
             header), or only the newest with pick = "newest"
    preset   a preset name (optional: detected from the header), or "none"
    url, query   a PostgreSQL source instead of a file (the password from PGPASSWORD or ~/.pgpass)
    mode     replace (default) or append;  sheet, date_format, map = { "Source column" = "target" }

Every source is read and checked first; then, in one transaction, each is checked against the store as the
refresh has left it so far (accounts, csms and fx_rates first, the rest in the file's order) and written;
the stored rows must all belong to known accounts at the end, the derived tables are rebuilt once, and the
import log gets one row per source and one for the refresh. Anything wrong anywhere, and nothing changes.
A store holding the sample company is emptied first, in the same transaction.
"""
from __future__ import annotations

import datetime as dt
import glob
import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from app.data import importer, store
from app.data.importer import ImportRefused, Parsed, Problem, RawTable
from app.data.schema import KINDS

LAST_KEY = "last_refresh"
FIRST_KINDS = ("fx_rates", "accounts", "csms")  # others refer to accounts; conversions need the rates
_FIELDS = {"kind", "file", "preset", "url", "query", "mode", "sheet", "date_format", "map", "pick", "name"}


class ConfigError(ValueError):
    """sources.toml cannot be used as written (the message says where)."""


@dataclass(frozen=True)
class Source:
    kind: str
    file: str | None = None
    preset: str | None = None
    url: str | None = None
    query: str | None = None
    mode: str = "replace"
    sheet: str | None = None
    date_format: str | None = None
    map: dict[str, str] = field(default_factory=dict)
    pick: str = "all"
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.file:
            return self.file
        from app.sources.db import Query

        return Query(self.url or "", self.query or "").label


@dataclass(frozen=True)
class SourceResult:
    kind: str
    label: str
    rows: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class RefreshReport:
    ok: bool
    config: str
    results: tuple[SourceResult, ...] = ()
    problems: tuple[Problem, ...] = ()
    failed: str | None = None  # the source that stopped the refresh
    seconds: float = 0.0

    @property
    def message(self) -> str:
        if self.ok:
            lines = [f"Refreshed {len(self.results)} source(s) from {self.config} in {self.seconds:.1f} s "
                     "(one transaction):"]
            lines += [f"  {r.kind:<14} {r.rows:>10,} rows  {r.label}" for r in self.results]
            return "\n".join(lines)
        shown = "\n".join(f"- {p}" for p in self.problems[:importer.MAX_PROBLEMS_SHOWN])
        total = importer.problem_rows(self.problems)
        return (f"Refresh from {self.config} refused at {self.failed}: {total:,} problem(s). Nothing in the store "
                f"was changed (no source was loaded).\n{shown}")


def load_config(path: str | Path) -> list[Source]:
    """The sources of a sources.toml, paths made absolute against its folder; ConfigError if malformed."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    items = doc.get("sources")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{p}: expected one or more [[sources]] tables (see sources.example.toml)")
    out = []
    for i, it in enumerate(items, 1):
        where = f"{p}, source {i}"
        unknown = set(it) - _FIELDS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(_FIELDS)})")
        kind = it.get("kind")
        if kind not in KINDS:
            raise ConfigError(f"{where}: kind {kind!r}: expected one of {list(KINDS)}")
        if bool(it.get("file")) == bool(it.get("url")):
            raise ConfigError(f"{where}: give either file = \"...\" or url = \"...\" with query = \"...\"")
        if it.get("url") and not it.get("query"):
            raise ConfigError(f"{where}: a url needs a query = \"select ...\"")
        if it.get("mode", "replace") not in ("replace", "append"):
            raise ConfigError(f"{where}: mode {it.get('mode')!r}: expected replace or append")
        if it.get("pick", "all") not in ("all", "newest"):
            raise ConfigError(f"{where}: pick {it.get('pick')!r}: expected all or newest")
        f = it.get("file")
        if f and not Path(f).is_absolute():
            f = str(p.parent / f)
        if it.get("url"):
            from app.sources import db

            try:
                db.check_url(it["url"])
            except db.SourceError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        out.append(Source(kind, f, it.get("preset"), it.get("url"), it.get("query"), it.get("mode", "replace"),
                          it.get("sheet"), it.get("date_format"), dict(it.get("map") or {}), it.get("pick", "all"),
                          it.get("name")))
    return out


def _read(src: Source) -> tuple[bytes, str, Parsed]:
    """(bytes for the log's hash, the label, the parsed table) of one source; ImportRefused when unreadable."""
    label = src.label
    if src.url:
        from app.sources import db

        raw = db.read_query(src.url, src.query or "", label)
        data = (src.query or "").encode()
    else:
        paths = sorted(glob.glob(src.file or ""))
        if not paths:
            raise ImportRefused([Problem(label, None, None, None, "a file matching this path (found none)")])
        if src.pick == "newest":
            paths = [max(paths, key=lambda q: Path(q).stat().st_mtime)]
        label = ", ".join(Path(q).name for q in paths)
        raws, blobs = [], []
        for q in paths:
            b = Path(q).read_bytes()
            blobs.append(b)
            raws.append(importer.read_table(b, Path(q).name, src.sheet))
        if len(raws) > 1 and any(list(r.frame.columns) != list(raws[0].frame.columns) for r in raws):
            raise ImportRefused([Problem(label, None, None, None, "the same header in every matching file")])
        raw = raws[0] if len(raws) == 1 else RawTable(pd.concat([r.frame for r in raws], ignore_index=True),
                                                      raws[0].notes + (f"{len(raws)} files read as one",))
        data = b"".join(blobs)
    parsed = importer.parse_raw(raw, label, src.kind, src.map or None, src.date_format, src.preset)
    return data, label, parsed


def _ordered(sources: list[Source]) -> list[Source]:
    return sorted(sources, key=lambda s: FIRST_KINDS.index(s.kind) if s.kind in FIRST_KINDS else len(FIRST_KINDS))


def run(cur: store.Cursor, sources: list[Source], config: str = "sources.toml") -> RefreshReport:
    """Load every source in one transaction; a refused or failed source leaves the store as it was."""
    t0 = time.perf_counter()
    failed = config
    results: list[SourceResult] = []
    try:
        read = []
        for src in _ordered(sources):
            failed = src.label
            data, label, parsed = _read(src)
            if parsed.prep is None:
                raise ImportRefused(list(parsed.problems))
            if parsed.prep.problems:  # the file alone is wrong: no need to open the transaction
                raise ImportRefused(list(parsed.prep.problems))
            read.append((src, data, label, parsed))
        with store.transaction(cur):
            if store.sample_label(cur):  # the first refresh replaces the sample company entirely
                importer._replace_all(cur, {})
                store.set_meta(cur, "as_of", None)
                store.set_meta(cur, "sample", None)
            for src, data, label, parsed in read:
                failed = label
                chk = importer.check(cur, src.kind, data, label, src.mode, parsed=parsed)
                # accounts replaced first outlive stored rows the later sources replace: judged at the end
                problems = [p for p in chk.problems if not (chk.conflicts_with_stored and p.row is None
                                                            and p.expected.startswith("every stored"))]
                if problems or chk.frame is None:
                    raise ImportRefused(problems or list(chk.problems))
                frame = chk.frame.drop(columns="__row")
                store.write_table(cur, src.kind, frame, src.mode)
                if src.kind == "subscriptions" and src.mode == "replace":
                    store.set_meta(cur, "as_of", None)
                store.set_meta(cur, "sample", None)
                store.log_import(cur, file_name=label, sha256=importer.sha256(data), kind=src.kind, mode=src.mode,
                                 rows=len(frame), outcome="ok", message="refresh; " + "; ".join(chk.notes))
                results.append(SourceResult(src.kind, label, len(frame), chk.notes))
            failed = "the end of the refresh"
            orphans = store.orphan_summary(cur)
            if orphans:
                raise ImportRefused([Problem(config, None, "account_id", None, m) for m in orphans])
            store.rebuild_derived(cur)
            seconds = time.perf_counter() - t0
            report = RefreshReport(True, config, tuple(results), seconds=seconds)
            _record(cur, report)
        return report
    except ImportRefused as exc:
        report = RefreshReport(False, config, tuple(results), tuple(exc.problems), failed,
                               time.perf_counter() - t0)
    except (OSError, ValueError) as exc:
        report = RefreshReport(False, config, tuple(results),
                               (Problem(failed, None, None, None, f"a readable source ({exc})"),), failed,
                               time.perf_counter() - t0)
    except Exception as exc:  # an engine error or a bug: rolled back, said plainly, traceback in the log
        importer.log.exception("refresh from %s failed at %s", config, failed)
        report = RefreshReport(False, config, tuple(results),
                               (Problem(failed, None, None, None, f"a source that loads (failed: {exc})"),), failed,
                               time.perf_counter() - t0)
    with store.transaction(cur):
        _record(cur, report)
    return report


def _record(cur: store.Cursor, report: RefreshReport) -> None:
    rows = sum(r.rows for r in report.results) if report.ok else 0
    store.log_import(cur, file_name=report.config, sha256="", kind="refresh", mode="refresh", rows=rows,
                     outcome="ok" if report.ok else "refused", message=report.message[:4000])
    store.set_meta(cur, LAST_KEY, json.dumps({
        "at": dt.datetime.now().replace(microsecond=0).isoformat(sep=" "), "config": report.config,
        "ok": report.ok, "sources": len(report.results) if report.ok else 0, "rows": rows,
        "failed": report.failed, "seconds": round(report.seconds, 1)}))


def last(cur: store.Cursor) -> dict | None:
    """The last refresh: at, config, ok, sources, rows, failed, seconds (None if never run)."""
    v = store.get_meta(cur, LAST_KEY)
    return json.loads(v) if v else None


def last_text(cur: store.Cursor) -> str | None:
    """One line for Home and the Data page."""
    r = last(cur)
    if r is None:
        return None
    if r["ok"]:
        return (f"Last refresh: {r['at'][:16]}, {r['sources']} source(s), {r['rows']:,} rows "
                f"from {Path(r['config']).name} ({r['seconds']} s).")
    return f"Last refresh: {r['at'][:16]} was refused at {r['failed']} (nothing changed); see the import history."
