"""`python -m app ...`: the same functions the pages call, for cron and scripts.

Exit code 0 on success; on failure a clear message on stderr and a non-zero
code, with the store unchanged.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
from pathlib import Path

import pandas as pd

from app import importer, store
from app.schema import KINDS


# A cron job waits this long for the app to finish a page run that holds the store.
CLI_WAIT_SECONDS = 120.0


def _open(args: argparse.Namespace) -> store.Cursor:
    return store.connect(args.db, wait_seconds=CLI_WAIT_SECONDS)


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
            raise SystemExit("--format parquet needs --out FILE")
        df.to_parquet(out, index=False)
        return
    if fmt == "json":
        text = df.to_json(orient="records", indent=None, date_format="iso")
    else:
        from app.export import safe_frame

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
    cur = _open(args)
    asof = dt.date.fromisoformat(args.as_of) if args.as_of else None
    rows = importer.load_sample(cur, seed=args.seed, n_accounts=args.accounts, as_of=asof)
    print(f"Built the sample store {path}: {rows:,} rows (seed {args.seed}, {args.accounts} accounts).")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    try:
        mapping = importer.parse_map_args(args.map or [])
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    cur = _open(args)
    report = importer.import_path(cur, args.kind, args.file, mode=args.mode, mapping=mapping or None,
                                  sheet=args.sheet, date_format=args.date_format)
    if report.ok:
        print(report.message)
        for n in report.notes:
            print(f"  {n}")
        return 0
    print(report.message, file=sys.stderr)
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    from app import status as status_mod

    cur = _open(args)
    st = status_mod.status(cur)
    print(f"Store: {store.db_path(args.db)}")
    print(f"As of: {st.as_of}   accounts with ARR: {st.active_accounts:,}   ARR: ${st.arr:,.0f}")
    print(st.tables.to_string(index=False))
    print("\nLast imports:")
    print(st.imports.head(10).to_string(index=False) if len(st.imports) else "  none")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from app import status as status_mod

    cur = _open(args)
    _emit(status_mod.arr_monthly_export(cur), args.format, args.out)
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from app import metrics

    cur = _open(args)
    if args.what == "arr-bridge":
        df = metrics.arr_bridge(cur, segment=args.segment)
    else:
        df = metrics.retention_series(cur, args.window_months, args.segment)[metrics.RETENTION_CLI_COLUMNS]
    _emit(df, args.format, args.out)
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    cur = _open(args)
    if args.what == "renewals":
        from app import renewals

        as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
        df = renewals.renewal_forecast_table(cur, as_of, args.horizon_months or 3)
    else:
        from app import forecast

        df = forecast.forecast_arr(cur, args.horizon_months or 12, args.segment)
    _emit(df, args.format, args.out)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from app import planner_inputs
    from planning.scenario import ScenarioError

    try:
        df = planner_inputs.plan_table(args.scenario, _open(args))
    except ScenarioError as exc:
        print(f"{args.scenario}: {exc}", file=sys.stderr)
        return 2
    _emit(df, args.format, args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app", description="Customer Success planner: data and reports.")
    sub = p.add_subparsers(dest="command", required=True)

    def with_db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--db", help="DuckDB store (default $CS_DB or data/cs.duckdb)")
        return sp

    sp = with_db(sub.add_parser("sample", help="build the sample store"))
    sp.add_argument("--seed", type=int, default=7)
    sp.add_argument("--accounts", type=int, default=3000)
    sp.add_argument("--as-of", help="last day of the sample's history (default: end of last month)")
    sp.add_argument("--if-missing", action="store_true", help="do nothing if the store file exists")
    sp.set_defaults(fn=cmd_sample)

    sp = with_db(sub.add_parser("load", help="import a CSV, Parquet or Excel file into one table"))
    sp.add_argument("kind", choices=list(KINDS))
    sp.add_argument("file")
    sp.add_argument("--map", action="append", metavar="SOURCE=TARGET",
                    help="map a source column to a canonical column (TARGET empty: ignore it)")
    sp.add_argument("--mode", choices=["replace", "append"], default="replace")
    sp.add_argument("--sheet", help="Excel sheet name (default: the first)")
    sp.add_argument("--date-format", help="strftime format for ambiguous dates, e.g. %%d/%%m/%%Y")
    sp.set_defaults(fn=cmd_load)

    sp = with_db(sub.add_parser("status", help="tables, row counts, date coverage, last imports"))
    sp.set_defaults(fn=cmd_status)

    sp = with_db(sub.add_parser("export", help="export derived data"))
    sp.add_argument("what", choices=["arr-monthly"])
    sp.add_argument("--format", choices=["csv", "parquet"], default="csv")
    sp.add_argument("--out")
    sp.set_defaults(fn=cmd_export)

    sp = with_db(sub.add_parser("metrics", help="retention metrics"))
    sp.add_argument("what", choices=["arr-bridge", "retention"])
    sp.add_argument("--segment", help="only accounts whose current segment is S")
    sp.add_argument("--window-months", type=int, default=12, help="retention window (retention only)")
    sp.add_argument("--format", choices=["csv", "json"], default="csv")
    sp.add_argument("--out")
    sp.set_defaults(fn=cmd_metrics)

    sp = with_db(sub.add_parser("forecast", help="renewal forecast per contract, or the ARR forecast"))
    sp.add_argument("what", choices=["renewals", "arr"])
    sp.add_argument("--as-of", help="renewals: score as of this past date, using only data known then")
    sp.add_argument("--horizon-months", type=int, help="renewals: default 3 (max 12); arr: default 12 (3-24)")
    sp.add_argument("--segment", help="arr: only accounts whose current segment is S")
    sp.add_argument("--format", choices=["csv", "json"], default="csv")
    sp.add_argument("--out")
    sp.set_defaults(fn=cmd_forecast)

    sp = with_db(sub.add_parser("plan", help="run a capacity and budget scenario"))
    sp.add_argument("--scenario", required=True, help="scenario JSON (see docs/planning.md)")
    sp.add_argument("--format", choices=["csv", "json"], default="csv")
    sp.add_argument("--out")
    sp.set_defaults(fn=cmd_plan)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except store.StoreError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
