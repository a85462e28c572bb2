"""`python -m app ...`: the same functions the pages call, for cron and scripts.

Exit code 0 on success; on failure a clear one-paragraph message on stderr and a
non-zero code (1: the command failed; 2: a bad argument or input file), with the
store unchanged. ``--debug`` (before or after the command) shows the traceback;
an unexpected error is also logged (logger ``app.cli``) with its traceback.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import shutil
import sys
from pathlib import Path

import duckdb
import pandas as pd

from app.data import importer, store
from app.data.schema import KINDS
from app.sources import presets

log = logging.getLogger("app.cli")
# A library logs, the application decides where: without --debug (or logging set up by
# whoever runs main) records go nowhere, so Python's last-resort handler never prints a
# traceback to a cron mail.
logging.getLogger("app").addHandler(logging.NullHandler())


# Bytes 8-11 of every DuckDB database file.
DUCKDB_MAGIC = b"DUCK"
# A cron job waits this long for the app to finish a page run that holds the store.
CLI_WAIT_SECONDS = 120.0


class CliError(Exception):
    """An expected failure: its message is shown as is, with this exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _open(args: argparse.Namespace) -> store.Cursor:
    path = store.db_path(args.db)
    if path.is_dir():
        raise CliError(f"{path}: a directory, not a store file (expected a DuckDB file path for --db)", 2)
    if path.is_file():
        # DuckDB would open a CSV as a database of views, and store.connect would wait two
        # minutes on a file DuckDB refuses (as if another process held it): check the header.
        with path.open("rb") as f:
            head = f.read(12)
        if head[8:12] != DUCKDB_MAGIC:
            raise CliError(f"{path}: not a DuckDB store (its first bytes are not a DuckDB file header); expected "
                           "a store made by this app (python -m app init), or a new file name", 2)
    try:
        return store.connect(args.db, wait_seconds=CLI_WAIT_SECONDS)
    except duckdb.Error as exc:  # not a DuckDB file, a newer format, no permission ...
        raise CliError(f"{path}: cannot open it as the DuckDB store ({_first_line(exc)}); "
                       "expected a store made by this app (python -m app init)", 2) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _date_arg(value: str | None, option: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option} {value!r}: expected a date as YYYY-MM-DD", 2) from None


def _emit(df: pd.DataFrame, fmt: str, out: str | None = None) -> None:
    """Write a frame as csv / json / parquet to --out or stdout."""
    df = df.copy()
    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = df[c].dt.strftime("%Y-%m-%d")
        elif df[c].dtype == object and len(df) and isinstance(df[c].dropna().iloc[0] if df[c].notna().any()
                                                               else None, dt.date):
            df[c] = df[c].map(lambda d: d.isoformat() if isinstance(d, dt.date) else d)
    if fmt == "parquet":
        if not out:
            raise CliError("--format parquet needs --out FILE (parquet is not written to a terminal)", 2)
        df.to_parquet(out, index=False)
        return
    if fmt == "json":
        text = df.to_json(orient="records", indent=None, date_format="iso")
    else:
        from app.present.export import safe_frame

        buf = io.StringIO()
        safe_frame(df).to_csv(buf, index=False)
        text = buf.getvalue()
    if out:
        Path(out).write_text(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def cmd_sample(args: argparse.Namespace) -> int:
    path = store.db_path(args.db)
    if args.if_missing and path.exists():
        print(f"{path} exists; keeping it.")
        return 0
    asof = _date_arg(args.as_of, "--as-of")
    if args.accounts < 1:
        raise CliError(f"--accounts {args.accounts}: expected at least 1 account", 2)
    cur = _open(args)
    rows = importer.load_sample(cur, seed=args.seed, n_accounts=args.accounts, as_of=asof)
    print(f"Built the sample store {path}: {rows:,} rows (seed {args.seed}, {args.accounts} accounts).")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Create (or reset) the store: empty, or the sample company."""
    if args.sample:
        return cmd_sample(args)
    path = store.db_path(args.db)
    existed = path.exists()
    cur = _open(args)
    importer.start_empty(cur)
    print(f"{'Emptied' if existed else 'Created'} the store {path}: no data yet (settings and saved scenarios "
          "kept). Load your files with `python -m app load KIND FILE`.")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    try:
        mapping = importer.parse_map_args(args.map or [])
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.from_url or args.query:
        cur, report = _load_query(args, mapping)
    elif not args.file:
        raise CliError("load: give a FILE, or --from-url URL with --query SQL", 2)
    else:
        cur = _open(args)
        report = importer.import_path(cur, args.kind, args.file, mode=args.mode, mapping=mapping or None,
                                      sheet=args.sheet, date_format=args.date_format, preset=args.preset)
    if report.ok:
        print(report.message)
        for n in report.notes:
            print(f"  {n}")
        if not args.no_prepare:
            _prepare(cur)
        return 0
    print(report.message, file=sys.stderr)
    return 1


def _load_query(args: argparse.Namespace, mapping: dict[str, str]) -> tuple[store.Cursor, importer.ImportReport]:
    """load KIND --from-url URL --query SQL: the query's rows through the same mapping, checks and write as a file."""
    from app.sources import db

    if args.file:
        raise CliError("load: give either a FILE or --from-url with --query, not both", 2)
    if not (args.from_url and args.query):
        raise CliError("load: --from-url and --query go together (a PostgreSQL URL without a password, and a "
                       "SELECT)", 2)
    try:
        q = db.Query(db.check_url(args.from_url), args.query)
    except db.SourceError as exc:
        raise CliError(str(exc), 2) from None
    cur = _open(args)
    try:
        raw = db.read_query(q.url, q.sql, q.label)
        parsed = importer.parse_raw(raw, q.label, args.kind, mapping or None, args.date_format, args.preset)
    except importer.ImportRefused as exc:  # refused like a file: logged, nothing changed
        parsed = importer.Parsed(None, None, tuple(exc.problems))
    return cur, importer.import_file(cur, args.kind, q.sql.encode(), q.label, mode=args.mode,
                                     mapping=mapping or None, date_format=args.date_format, preset=args.preset,
                                     parsed=parsed)


def cmd_refresh(args: argparse.Namespace) -> int:
    """Every source of sources.toml in one transaction (all or nothing)."""
    from app.sources import refresh

    try:
        sources = refresh.load_config(args.config)
    except refresh.ConfigError as exc:
        raise CliError(str(exc), 2) from None
    cur = _open(args)
    report = refresh.run(cur, sources, str(args.config))
    if not report.ok:
        print(report.message, file=sys.stderr)
        return 1
    print(report.message)
    if not args.no_prepare:
        _prepare(cur)
    return 0


def cmd_currency(args: argparse.Namespace) -> int:
    """Show or set the reporting currency and the conversion rule (stored amounts are converted again)."""
    from app.sources import fx

    cur = _open(args)
    if args.code or args.rule:
        code = args.code or fx.reporting_currency(cur)
        try:
            fx.set_reporting_currency(cur, code, args.rule)
        except ValueError as exc:
            raise CliError(str(exc), 1) from None
    print(fx.rates_note(cur))
    return 0


def _prepare(cur: store.Cursor) -> None:
    """After a successful load: the renewal forecasts and health scores of the new data, stored for the pages
    (app.prepare). A failure here leaves the import as it is (a warning; the pages compute them)."""
    from app import prepare

    _prepared(prepare.run(cur))


def _prepared(r) -> None:
    if r.renewals is None:
        print("warning: preparing the renewal forecasts failed (the forecast page will compute them; "
              "run `python -m app prepare --debug` to see why)", file=sys.stderr)
    else:
        what = f"{len(r.renewals.done)} item(s)" if r.renewals.done else "already up to date"
        print(f"Prepared the renewal forecasts in {r.renewals.seconds:.1f} s ({what}).")
    if r.health_set is not None:
        print(f"Health scores: snapshot set {r.health_set} (52 weeks of every account) ready in "
              f"{r.health_seconds:.1f} s.")
    elif r.health_failed:
        print(f"warning: building the health scores {r.health_note} (the health page will build them; "
              "run `python -m app prepare --debug` to see why)", file=sys.stderr)
    else:
        print(f"No health score: {r.health_note}")


def cmd_prepare(args: argparse.Namespace) -> int:
    from app import prepare
    from app.forecasting import renewals

    cur = _open(args)
    _prepared(prepare.run(cur, force=args.force, strict=True))  # errors surface here (exit 1)
    done = renewals.prepared_status(cur)  # what the forecast page will read for this data
    if len(done):
        print("Stored for the forecast page (item, built at, build time):")
    for item, created, seconds in done.itertuples(index=False):
        print(f"  {item:<40} {created:%Y-%m-%d %H:%M:%S}  {seconds:6.1f} s")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from app.analytics import status as status_mod

    cur = _open(args)
    st = status_mod.status(cur)
    sys.stdout.write(status_mod.status_text(st, store.db_path(args.db), width=_width()))
    return 0


def _width() -> int:
    """The terminal's width, kept between 80 and 100 columns (100 when not a terminal)."""
    return max(80, min(100, shutil.get_terminal_size((100, 24)).columns))


def cmd_export(args: argparse.Namespace) -> int:
    from app.analytics import status as status_mod

    cur = _open(args)
    _emit(status_mod.arr_monthly_export(cur), args.format, args.out)
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from app.analytics import metrics

    cur = _open(args)
    if args.what == "arr-bridge":
        df = metrics.arr_bridge(cur, segment=args.segment)
    elif args.what == "renewal-rates":
        df = metrics.renewal_rates(cur, args.freq, args.segment)
    elif args.what == "headwinds":
        df = metrics.headwind_tailwind(cur, args.freq, args.segment)
    else:
        df = metrics.retention_series(cur, args.window_months, args.segment)[metrics.RETENTION_CLI_COLUMNS]
    _emit(df, args.format, args.out)
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    cur = _open(args)
    if args.what in ("renewals", "window"):
        from app.forecasting import renewals

        as_of = _date_arg(args.as_of, "--as-of")
        horizon = 3 if args.horizon_months is None else args.horizon_months
        if args.what == "renewals" and args.by == "renewal":
            df = renewals.renewal_forecast_table(cur, as_of, horizon)
        else:
            scored, fc, cal = renewals.window_forecast(cur, as_of, horizon, args.segment)
            if args.what == "window":
                summary = renewals.window_summary(fc, cal)
                text = json.dumps(summary, indent=2) if args.format == "json" else "\n".join(
                    f"{k}: {v}" for k, v in summary.items())
                if args.out:
                    Path(args.out).write_text(text + "\n")
                else:
                    print(text)
                return 0
            df = renewals.account_table(scored, fc)
    else:
        from app.forecasting import topdown as forecast

        df = forecast.forecast_arr(cur, 12 if args.horizon_months is None else args.horizon_months, args.segment)
    _emit(df, args.format, args.out)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from planning import inputs as planner_inputs
    from planning.scenario import ScenarioError

    try:
        df = planner_inputs.plan_table(args.scenario, _open(args))
    except ScenarioError as exc:
        raise CliError(f"{args.scenario}: {exc}", 2) from exc
    _emit(df, args.format, args.out)
    return 0


def cmd_deck(args: argparse.Namespace) -> int:
    """A board, forecast or plan pack as .pptx or .pdf (by --out's suffix), at the store's as-of date."""
    from app import packs
    from app.packs.render_pptx import TemplateError

    out = Path(args.out)
    if out.suffix.lower() not in (".pptx", ".pdf"):
        raise CliError(f"--out {args.out}: the file name must end in .pptx or .pdf", 2)
    if args.template and out.suffix.lower() != ".pptx":
        raise CliError("--template applies to a .pptx pack only (the PDF has its own layout)", 2)
    if args.template and not Path(args.template).is_file():
        raise CliError(f"--template {args.template}: no such file", 2)
    if not out.parent.is_dir():
        raise CliError(f"--out {args.out}: the folder {out.parent} does not exist", 2)
    cur = _open(args)
    from app.packs import content
    from planning.scenario import ScenarioError

    try:  # the operator's own files are read here; any other name is a saved scenario's
        scenarios = [content.scenario_file(cur, n) if n.endswith(".json") and Path(n).is_file() else n
                     for n in (args.scenario or ())]
    except ScenarioError as exc:
        raise CliError(f"--scenario: {exc}", 2) from exc
    try:
        pack = packs.write(cur, args.kind, out, segment=args.segment, scenarios=scenarios,
                           template=args.template)
    except TemplateError as exc:
        raise CliError(str(exc), 2) from exc
    except packs.PackError as exc:
        raise CliError(str(exc), 1) from exc
    total = sum(v for k, v in pack.seconds.items() if k == "content" or k.startswith("render"))
    print(f"Wrote {out}: {pack.title}, {len(pack.slides)} slides, "
          f"{pack.subtitle[:1].lower() + pack.subtitle[1:]} ({total:.1f} s).")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from app.health import snapshots

    cur = _open(args)
    asof = _date_arg(args.as_of, "--as-of") or store.as_of(cur)
    before = _date_arg(args.compare, "--compare")
    _emit(snapshots.cli_table(cur, asof, before), args.format, args.out)
    return 0


def _known_accounts(args: argparse.Namespace) -> list[str] | None:
    """The account ids the rollup checks events against: --accounts FILE, else the store's (if any)."""
    if args.accounts:
        path = Path(args.accounts)
        if not path.is_file():
            raise CliError(f"--accounts {args.accounts}: no such file", 2)
        frame = importer.read_table(path.read_bytes(), path.name).frame
        cols = list(frame.columns)
        col = next((c for c, t in importer.propose_mapping("accounts", cols).items() if t == "account_id"), None)
        if col is None:
            raise CliError(f"--accounts {args.accounts}: no account id column among {', '.join(map(str, cols))}", 2)
        return [str(v).strip() for v in frame[col].dropna()]
    if args.no_account_check:
        return None
    if not store.db_path(args.db).is_file():
        return None
    cur = _open(args)
    ids = [r[0] for r in store.query_rows(cur, "SELECT account_id FROM accounts")]
    cur.close()
    return ids or None


def cmd_usage_rollup(args: argparse.Namespace) -> int:
    """Raw product events -> the usage kind (account_id, date, metric, value) as Parquet, on DuckDB or Spark."""
    from app.scale import rollup

    try:
        mapping = importer.parse_map_args(args.map or [])
    except ValueError as exc:
        raise CliError(str(exc), 2) from exc
    if "://" not in args.events and not any(ch in args.events for ch in "*?[") and not Path(args.events).exists():
        raise CliError(f"--events {args.events}: no such file or folder", 2)
    spark = None
    if args.engine == "spark":
        from app.scale import spark as sparkmod

        spark = sparkmod.session(master=args.master)
    try:
        report = rollup.run(args.events, args.out, args.engine, mapping=mapping or None, zone=args.tz,
                            accounts=_known_accounts(args), keep_unknown=args.keep_unknown, spark=spark,
                            delimiter=args.delimiter)
    except rollup.RollupError as exc:
        raise CliError(str(exc), 2) from exc
    print("\n".join(report.lines()))
    if report.rows_out and not args.out.startswith(("s3:", "s3a:", "abfss:", "gs:", "dbfs:")):
        print(f"Load it with: python -m app load usage {args.out}")
    return 0


def cmd_forecast_groups(args: argparse.Namespace) -> int:
    """Top-down forecasts for every CSM, region or segment, each with its backtest, locally or on Spark."""
    from app.scale import fanout

    cur = _open(args)
    hist = fanout.histories(cur, args.by, args.quantity)
    cur.close()
    if hist.empty:
        raise CliError(f"no {args.by} groups with ARR history in the store (load accounts and subscriptions)")
    if args.engine == "spark":
        from app.scale import spark as sparkmod

        df = fanout.run_spark(hist, args.horizon_months, args.method, args.quantity,
                              spark=sparkmod.session(master=args.master))
    else:
        df = fanout.run_local(hist, args.horizon_months, args.method, args.quantity)
    fmt = args.format or ("parquet" if args.out and args.out.endswith(".parquet") else
                          "json" if args.out and args.out.endswith(".json") else "csv")
    _emit(df.rename(columns={"group": args.by}), fmt, args.out)
    bad = df[df["error"].notna()]
    if len(bad):
        print(f"warning: {len(bad)} group(s) could not be forecast: "
              + "; ".join(f"{g}: {e}" for g, e in zip(bad["group"], bad["error"], strict=True)), file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app", description="Customer Success planner: data and reports.")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error (and debug logging)")
    sub = p.add_subparsers(dest="command", required=True)
    _add_store_commands(sub)
    _add_report_commands(sub)
    _add_scale_commands(sub)
    _add_deck_command(sub)
    return p


def _with_db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sp.add_argument("--db", help="DuckDB store (default $CS_DB or data/cs.duckdb)")
    # SUPPRESS: without the flag here, the one given before the command stands.
    sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                    help="show the traceback of an error")
    return sp


def _sample_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--seed", type=int, default=7, help="sample: random seed (default 7)")
    sp.add_argument("--accounts", type=int, default=3000, help="sample: number of accounts (default 3000)")
    sp.add_argument("--as-of", help="sample: last day of its history (default: end of last month)")


def _add_store_commands(sub) -> None:
    """init, sample, load, refresh, currency, prepare and status: building and filling the store."""
    sp = _with_db(sub.add_parser("init", help="create or reset the store: --empty or --sample"))
    what = sp.add_mutually_exclusive_group(required=True)
    what.add_argument("--empty", action="store_true",
                      help="no data (removes every data table's rows; keeps settings and saved scenarios)")
    what.add_argument("--sample", action="store_true", help="the generated sample company (as `sample`)")
    _sample_options(sp)
    sp.set_defaults(fn=cmd_init, if_missing=False)

    sp = _with_db(sub.add_parser("sample", help="build the sample store"))
    _sample_options(sp)
    sp.add_argument("--if-missing", action="store_true", help="do nothing if the store file exists")
    sp.set_defaults(fn=cmd_sample)

    sp = _with_db(sub.add_parser("load", help="import a CSV, Parquet or Excel file into one table"))
    sp.add_argument("kind", choices=list(KINDS))
    sp.add_argument("file", nargs="?", help="the file (or --from-url with --query)")
    sp.add_argument("--preset", choices=[*presets.PRESETS, presets.NONE], metavar="NAME",
                    help="a ready-made source (docs/sources.md): " + ", ".join(presets.PRESETS)
                         + "; default: detected from the header; none: no preset")
    sp.add_argument("--from-url", metavar="URL",
                    help="a PostgreSQL source, postgresql://user@host:5432/db (the password from PGPASSWORD or "
                         "~/.pgpass, never in the URL)")
    sp.add_argument("--query", metavar="SQL", help="with --from-url: the SELECT whose rows are imported")
    sp.add_argument("--map", action="append", metavar="SOURCE=TARGET",
                    help="map a source column to a canonical column (TARGET empty: ignore it)")
    sp.add_argument("--mode", choices=["replace", "append"], default="replace")
    sp.add_argument("--sheet", help="Excel sheet name (default: the first)")
    sp.add_argument("--date-format", help="strftime format for ambiguous dates, e.g. %%d/%%m/%%Y")
    sp.add_argument("--no-prepare", action="store_true",
                    help="skip preparing the renewal forecasts and health scores after the import (loading "
                         "several files: run `prepare` after the last)")
    sp.set_defaults(fn=cmd_load)

    sp = _with_db(sub.add_parser("refresh", help="load every source of sources.toml in one transaction (all or "
                                                "nothing; see sources.example.toml)"))
    sp.add_argument("--config", default="sources.toml", help="the sources file (default: ./sources.toml)")
    sp.add_argument("--no-prepare", action="store_true",
                    help="skip preparing the renewal forecasts and health scores afterwards")
    sp.set_defaults(fn=cmd_refresh)

    sp = _with_db(sub.add_parser("currency", help="show or set the reporting currency and the conversion rule"))
    sp.add_argument("code", nargs="?", help="ISO code, e.g. USD, EUR (stored amounts are converted again)")
    sp.add_argument("--rule", choices=["start-month", "budget"],
                    help="start-month: the rate of each line's start month; budget: each currency's latest rate")
    sp.set_defaults(fn=cmd_currency)

    sp = _with_db(sub.add_parser("prepare", help="train the renewal model, score the contracts due, build the "
                                                "weekly health scores and store the pages' results for the current "
                                                "data (load does this)"))
    sp.add_argument("--force", action="store_true",
                    help="recompute the renewal forecasts even when prepared for this data already (the health "
                         "scores are built once per data version and kept)")
    sp.set_defaults(fn=cmd_prepare)

    sp = _with_db(sub.add_parser("status", help="tables, row counts, date coverage, last imports"))
    sp.set_defaults(fn=cmd_status)


def _add_report_commands(sub) -> None:
    """export, metrics, forecast, health and plan: reading the store."""
    from app.analytics import metrics

    sp = _with_db(sub.add_parser("export", help="export derived data"))
    sp.add_argument("what", choices=["arr-monthly"])
    sp.add_argument("--format", choices=["csv", "parquet"], default="csv")
    sp.add_argument("--out")
    sp.set_defaults(fn=cmd_export)

    sp = _with_db(sub.add_parser("metrics", help="retention metrics"))
    sp.add_argument("what", choices=["arr-bridge", "retention", "renewal-rates", "headwinds"],
                    help="arr-bridge: the monthly ARR bridge; retention: trailing GRR, NRR and logo retention per "
                         "month; renewal-rates: renewal rate of the contracts due in each period (known outcomes); "
                         "headwinds: churn + contraction (headwind) and expansion (tailwind) as shares of the "
                         "period's starting ARR")
    sp.add_argument("--segment", help="only accounts whose current segment is S")
    sp.add_argument("--window-months", type=int, default=12, help="retention window (retention only)")
    sp.add_argument("--freq", choices=list(metrics.FREQS), default="quarter",
                    help="period of renewal-rates and headwinds (fiscal quarters and years, as set on the Data page)")
    sp.add_argument("--format", choices=["csv", "json"], default="csv")
    sp.add_argument("--out")
    sp.set_defaults(fn=cmd_metrics)

    sp = _with_db(sub.add_parser("forecast", help="renewal forecast per renewal date or account, the window's "
                                                 "totals, or the ARR forecast"))
    sp.add_argument("what", choices=["renewals", "window", "arr"],
                    help="renewals: a table (--by renewal: one row per renewal date, the default; --by account: one "
                         "row per account); window: the window's totals with P10-P90 (one JSON object with "
                         "--format json); arr: the top-down ARR forecast")
    sp.add_argument("--by", choices=["renewal", "account"], default="renewal", help="renewals: the table's unit")
    sp.add_argument("--as-of", help="renewals/window: score as of this past date, using only data known then")
    sp.add_argument("--horizon-months", type=int, help="renewals/window: default 3 (1-12); arr: default 12 (1-36)")
    sp.add_argument("--segment", help="window, --by account, arr: only accounts whose current segment is S")
    sp.add_argument("--format", choices=["csv", "json"], default="csv")
    sp.add_argument("--out")
    sp.set_defaults(fn=cmd_forecast)

    sp = _with_db(sub.add_parser("health", help="health score per account at a date, points per factor"))
    sp.add_argument("--as-of", help="score at this date (default: the store's as-of date)")
    sp.add_argument("--compare", metavar="D2", help="also the score at D2: score_before, delta, delta_<factor>")
    sp.add_argument("--format", choices=["csv", "json"], default="csv")
    sp.add_argument("--out")
    sp.set_defaults(fn=cmd_health)

    sp = _with_db(sub.add_parser("plan", help="run a capacity and budget scenario"))
    sp.add_argument("--scenario", required=True, help="scenario JSON (see docs/planning.md)")
    sp.add_argument("--format", choices=["csv", "json"], default="csv")
    sp.add_argument("--out")
    sp.set_defaults(fn=cmd_plan)


def _add_scale_commands(sub) -> None:
    """usage-rollup and forecast-groups: the jobs that run on DuckDB or fan out on Spark."""
    sp = _with_db(sub.add_parser("usage-rollup", help="raw product events -> daily usage per account and metric "
                                                     "(Parquet for `load usage`), on DuckDB or Spark"))
    sp.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    sp.add_argument("--events", required=True, help="Parquet or CSV file, folder or glob (Spark: also s3://, abfss://)")
    sp.add_argument("--out", required=True, help="FILE.parquet (Spark: a folder or s3://... writes a dataset)")
    sp.add_argument("--map", action="append", metavar="SOURCE=TARGET",
                    help="map an events column to account_id, ts, metric, user_id or value (TARGET empty: ignore)")
    sp.add_argument("--tz", default="UTC", help="days are calendar days in this IANA zone (default UTC)")
    sp.add_argument("--accounts", metavar="FILE", help="known accounts (CSV/Parquet/Excel with an account id "
                                                       "column); default: the store's accounts")
    sp.add_argument("--no-account-check", action="store_true", help="do not check accounts against the store")
    sp.add_argument("--keep-unknown", action="store_true", help="keep rows of unknown accounts in the output")
    sp.add_argument("--delimiter", help="CSV delimiter (default: sniffed among , ; tab |)")
    sp.add_argument("--master", help="Spark master (default: the launcher's, else local[2])")
    sp.set_defaults(fn=cmd_usage_rollup)

    sp = _with_db(sub.add_parser("forecast-groups", help="top-down forecasts with backtests for every CSM, region "
                                                        "or segment, locally or fanned out on Spark"))
    sp.add_argument("--by", choices=["csm", "region", "segment"], required=True)
    sp.add_argument("--engine", choices=["local", "spark"], default="local")
    sp.add_argument("--quantity", default="arr", help="arr (default), new_arr, churned_arr, logos or new_logos")
    sp.add_argument("--horizon-months", type=int, default=12)
    sp.add_argument("--method", default="auto", choices=["auto", "prophet", "seasonal_naive", "drift"])
    sp.add_argument("--format", choices=["csv", "json", "parquet"], help="default: by --out's suffix, else csv")
    sp.add_argument("--out")
    sp.add_argument("--master", help="Spark master (default: the launcher's, else local[2])")
    sp.set_defaults(fn=cmd_forecast_groups)


def _add_deck_command(sub) -> None:
    sp = _with_db(sub.add_parser("deck", help="a board, forecast or plan pack as PowerPoint (.pptx) or PDF"))
    sp.add_argument("--kind", choices=["board", "forecast", "plan"], required=True,
                    help="board: retention, bridge, churn, benchmarks, renewals, at-risk, capacity; forecast: the "
                         "quarterly forecast review; plan: one scenario or 2-4 side by side")
    sp.add_argument("--segment", help="only accounts whose current segment is S (board, forecast)")
    sp.add_argument("--scenario", action="append", metavar="NAME",
                    help="a saved scenario's name or a scenario JSON file; repeat to compare 2-4 (plan); the "
                         "board's capacity headline uses the first (default: the Planner page's starting point)")
    sp.add_argument("--template", metavar="FILE", help="a .pptx whose layouts and theme the pack uses")
    sp.add_argument("--out", required=True, help="FILE.pptx or FILE.pdf")
    sp.set_defaults(fn=cmd_deck)


def _fail(message: str, debug: bool) -> None:
    """One paragraph on stderr: the message on one line (a traceback only with --debug, via logging)."""
    text = " ".join(message.split())
    print(text if text.startswith("error: ") else f"error: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    handler = None
    if debug:  # tracebacks and debug records of the app's loggers go to stderr
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger("app").addHandler(handler)
        logging.getLogger("app").setLevel(logging.DEBUG)
    try:
        return args.fn(args)
    except CliError as exc:
        log.debug("%s failed", args.command, exc_info=debug)
        _fail(str(exc), debug)
        return exc.code
    except store.StoreError as exc:
        log.debug("%s failed", args.command, exc_info=debug)
        _fail(str(exc), debug)
        return 1
    except (ValueError, OSError) as exc:  # a bad value or file the command met: said as is
        log.debug("%s failed", args.command, exc_info=debug)
        name = getattr(exc, "filename", None)
        msg = f"{name}: {exc.strerror}" if isinstance(exc, OSError) and name and exc.strerror else str(exc)
        _fail(msg or type(exc).__name__, debug)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line, keep the traceback in the log
        log.error("unexpected error in `python -m app %s`: %s: %s", args.command, type(exc).__name__, exc,
                  exc_info=True)
        _fail(f"{_first_line(exc)} ({type(exc).__name__} in `{args.command}`; run with --debug for the "
              "traceback)", debug)
        return 1
    finally:
        if handler is not None:
            logging.getLogger("app").removeHandler(handler)
            logging.getLogger("app").setLevel(logging.NOTSET)


if __name__ == "__main__":
    raise SystemExit(main())
