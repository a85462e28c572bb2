"""Every CLI command over many store compositions: output and exit 0, or a clean message and a
non-zero exit; never a traceback (issue 10). Stores come from tests/support/compositions.py."""
from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from app import cli
from app.data import importer, store
from tests.conftest import ROOT
from tests.support.compositions import NAMED, Composition, build, compositions

SCENARIO = str(ROOT / "data" / "scenarios" / "example.json")
COMMANDS = [
    ["status"],
    ["export", "arr-monthly"],
    ["metrics", "arr-bridge"],
    ["metrics", "retention"],
    ["forecast", "renewals"],
    ["forecast", "renewals", "--as-of", "2023-06-30", "--horizon-months", "6"],
    ["forecast", "arr"],
    ["forecast", "arr", "--horizon-months", "3"],
    ["plan", "--scenario", SCENARIO],
]
# The cheap ones, for the random compositions (training and Prophet cost a second or two each).
QUICK_COMMANDS = [c for c in COMMANDS if c[0] != "forecast"] + [["forecast", "renewals"]]
# The default run covers the named cases but the plain sample (tested everywhere else).
DEFAULT_NAMED = [n for n in NAMED if n != "sample only"]

_built: dict[str, Path] = {}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Build a named composition's store once per module (commands below do not write)."""
    root = tmp_path_factory.mktemp("compositions")

    def get(name: str) -> Path:
        if name not in _built:
            _built[name] = build(NAMED[name], root / f"{len(_built)}.duckdb")
        return _built[name]

    yield get
    _built.clear()


def run_in_process(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(args)  # an exception escaping main fails the test with its traceback
    return rc, out.getvalue(), err.getvalue()


def assert_clean(args: list[str], rc: int, out: str, err: str) -> None:
    """Exit 0 with output, or exit 1/2 with one short paragraph on stderr; no traceback either way."""
    where = f"`python -m app {' '.join(args)}`"
    assert "Traceback" not in err + out, f"{where} printed a traceback:\n{err}"
    if rc == 0:
        assert out.strip(), f"{where} exited 0 with no output"
        return
    assert rc in (1, 2), f"{where} exited {rc}"
    msg = err.strip()
    assert msg, f"{where} exited {rc} with nothing on stderr"
    assert "\n\n" not in msg and len(msg.splitlines()) <= 3, f"{where}: not one paragraph:\n{err}"
    assert msg.startswith("error: "), f"{where}: {msg}"
    # main turns an unexpected exception (a bug) into this one-liner: here it fails the test.
    assert "run with --debug for the traceback" not in msg, f"{where} crashed: {msg}"


@pytest.mark.parametrize("name", DEFAULT_NAMED)
def test_every_command_on_named_composition(name, stores):
    db = str(stores(name))
    for args in COMMANDS:
        args = [*args, "--db", db]
        assert_clean(args, *run_in_process(args))


def _load_files(d: Path) -> dict[str, Path]:
    files = {"accounts": "account_id,name,segment\nNEW-1,New one,SMB\n",
             "subscriptions": "account_id,start_date,end_date,mrr\nNEW-1,2024-01-01,,100\n",
             "usage": "account_id,date,metric,value\nNOBODY,2024-01-01,logins,3\n"}
    out = {}
    for kind, text in files.items():
        out[kind] = d / f"new_{kind}.csv"
        out[kind].write_text(text)
    return out


@pytest.mark.parametrize("name", ["empty store", "sample + own accounts appended + own subscriptions replaced",
                                  "all subscriptions ended long ago (July 2023)", "one month"])
def test_load_on_composition(name, stores, tmp_path):
    """load appends an account and its line, then refuses usage of an unknown account: a listed problem."""
    db = tmp_path / "s.duckdb"
    db.write_bytes(stores(name).read_bytes())
    f = _load_files(tmp_path)
    for kind in ("accounts", "subscriptions"):
        args = ["load", kind, str(f[kind]), "--mode", "append", "--db", str(db)]
        rc, out, err = run_in_process(args)
        assert rc == 0 and f"Imported 1 rows into {kind} (append)" in out, err
        assert "Traceback" not in err
    rc, out, err = run_in_process(["load", "usage", str(f["usage"]), "--mode", "append", "--db", str(db)])
    assert rc == 1 and "Traceback" not in err
    assert "new_usage.csv, row 2, column 'account_id': got 'NOBODY' expected an account_id present in accounts" in err
    for args in (["status"], ["export", "arr-monthly"], ["forecast", "renewals"]):
        args = [*args, "--db", str(db)]
        rc, out, err = run_in_process(args)
        assert rc == 0, err
        assert_clean(args, rc, out, err)
    assert "NEW-1,2024-01-01,1200.0" in run_in_process(["export", "arr-monthly", "--db", str(db)])[1]


@pytest.mark.slow
def test_every_command_on_the_sample(stores):
    db = str(stores("sample only"))
    for args in COMMANDS:
        args = [*args, "--db", db]
        rc, out, err = run_in_process(args)
        assert rc == 0, err
        assert_clean(args, rc, out, err)


def test_reported_case_scores_contracts(stores):
    """Issue 10: sample + own accounts appended + own subscriptions replaced. Own contracts have no usage,
    sample accounts' usage has no contracts: the model left the usage features out and its model card
    then asked for them (KeyError: "None of [Index(['u0_level_log'] ...] are in the [columns]")."""
    db = str(stores("sample + own accounts appended + own subscriptions replaced"))
    args = ["forecast", "renewals", "--db", db, "--format", "json"]
    rc, out, err = run_in_process(args)
    assert rc == 0, err
    df = pd.read_json(io.StringIO(out))
    assert len(df) > 0 and df["account_id"].str.startswith("OWN-").all()
    assert df["p_renew"].between(0, 1).all()
    from app.forecasting import risk

    cur = store.connect(db, read_only=True)
    try:
        model = risk.train(cur)
    finally:
        cur.close()
    assert model.estimator_ is not None and model.card is not None  # a real model, not the baseline
    assert not any(f.startswith("u0_") for f in model.feature_names_)
    assert "usage0" not in set(model.card.importance["family"])


def _sweep(comp: Composition, commands: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        db = str(build(comp, Path(d) / "s.duckdb"))
        for args in commands:
            args = [*args, "--db", db]
            assert_clean(args, *run_in_process(args))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(compositions(allow_sample=False))
def test_quick_commands_on_random_compositions(comp):
    _sweep(comp, QUICK_COMMANDS)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(compositions())
def test_every_command_on_random_compositions(comp):
    _sweep(comp, COMMANDS)


# ----------------------------------------------------------------- errors, --debug, init, status


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})})


def test_real_processes_on_the_reported_case(stores):
    db = str(stores("sample + own accounts appended + own subscriptions replaced"))
    r = run("forecast", "renewals", "--db", db)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.startswith("account_id,contract_end,arr_due,p_renew,driver_1,driver_2,driver_3\n")
    assert len(r.stdout.splitlines()) > 1
    r = run("status", "--db", db, env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(x) for x in lines) <= 80, "\n".join(x for x in lines if len(x) > 80)
    assert any(x.split()[:2] == ["accounts", "210"] for x in lines)  # 150 sample + 60 own, aligned columns
    assert any(x.split()[2:7] == ["own_subscriptio…", "subscriptions", "replace", "1,157", "ok"] for x in lines), lines


def test_unexpected_error_is_one_line_logged_and_debug_shows_traceback(stores, monkeypatch, capsys, caplog):
    from app.analytics import status

    def boom(cur):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(status, "status", boom)
    db = str(stores("empty store"))
    with caplog.at_level(logging.ERROR, logger="app.cli"):
        assert cli.main(["status", "--db", db]) == 1
    err = capsys.readouterr().err
    assert err == "error: boom (RuntimeError in `status`; run with --debug for the traceback)\n"
    rec = [r for r in caplog.records if r.name == "app.cli" and r.levelno == logging.ERROR]
    assert rec and rec[0].exc_info and "boom" in rec[0].getMessage()  # logged with its traceback, not swallowed
    for argv in (["--debug", "status", "--db", db], ["status", "--db", db, "--debug"]):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "RuntimeError: boom" in err, argv
        assert err.rstrip().endswith("run with --debug for the traceback)")


@pytest.mark.parametrize("args, code, words", [
    (["forecast", "renewals", "--as-of", "2024-31-12"], 2, "--as-of '2024-31-12': expected a date as YYYY-MM-DD"),
    (["forecast", "renewals", "--horizon-months", "40"], 1, "horizon must be 1 to 12 months"),
    (["forecast", "arr"], 1, "no ARR history in the store"),
    (["export", "arr-monthly", "--format", "parquet"], 2, "--format parquet needs --out FILE"),
    (["plan", "--scenario", "nope.json"], 2, "nope.json"),
    (["metrics", "retention", "--window-months", "0"], 1, "window_months must be at least 1"),
    (["forecast", "renewals", "--horizon-months", "0"], 1, "horizon must be 1 to 12 months, not 0"),
    (["forecast", "arr", "--horizon-months", "0", "--db=one month"], 1, "horizon must be 1 to 36 months, not 0"),
    (["export", "arr-monthly", "--out", "/nonexistent/dir/x.csv"], 1, "/nonexistent/dir/x.csv: No such file"),
])
def test_expected_failures_are_clean(args, code, words, stores, capsys):
    name = next((a.split("=", 1)[1] for a in args if a.startswith("--db=")), "empty store")
    args = [a for a in args if not a.startswith("--db=")]
    db = str(stores(name))
    assert cli.main([*args, "--db", db]) == code
    cap = capsys.readouterr()
    assert words in cap.err and "Traceback" not in cap.err
    assert_clean(args, code, cap.out, cap.err)


def test_not_a_store_file_is_a_clean_error(tmp_path):
    bad = tmp_path / "accounts.csv"
    bad.write_text("account_id\nA-1\n" * 50)
    r = run("status", "--db", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"error: {bad}: not a DuckDB store")
    r = run("--debug", "status", "--db", str(bad))
    assert r.returncode == 2 and "Traceback" in r.stderr
    assert bad.read_text().startswith("account_id\nA-1\n")  # untouched
    empty = tmp_path / "zero.duckdb"
    empty.write_bytes(b"")
    assert cli.main(["status", "--db", str(empty)]) == 2


def test_init_empty_and_sample(tmp_path):
    db = tmp_path / "s.duckdb"
    r = run("init", "--sample", "--accounts", "40", "--as-of", "2024-12-31", "--db", str(db))
    assert r.returncode == 0, r.stderr
    cur = store.connect(db)
    cur.execute("INSERT INTO scenarios (name, saved_at, inputs_json) VALUES ('keep me', now(), '{}')")
    store.set_fiscal_year_start(cur, 4)
    assert store.row_counts(cur)["accounts"] == 40
    cur.close()
    assert cli.main(["init", "--empty", "--db", str(db)]) == 0
    cur = store.connect(db)
    try:
        counts = store.row_counts(cur)
        assert all(counts[k] == 0 for k in ("accounts", "subscriptions", "usage", "csms")), counts
        assert store.query_rows(cur, "SELECT name FROM scenarios") == [("keep me",)]
        assert store.fiscal_year_start(cur) == 4
    finally:
        cur.close()
    new = tmp_path / "new.duckdb"
    assert cli.main(["init", "--empty", "--db", str(new)]) == 0 and new.exists()
    r = run("init", "--db", str(new))
    assert r.returncode == 2 and "one of the arguments --empty --sample is required" in r.stderr


def test_status_tables_fit_the_terminal(stores, monkeypatch, capsys):
    """Aligned columns, ISO dates, thousands separators, long messages cut to fit 80 or 100 columns."""
    path = Path(stores("sample + own, few own accounts"))
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "s.duckdb"
        db.write_bytes(path.read_bytes())
        cur = store.connect(db)
        rep = importer.import_file(cur, "usage", b"account_id,date,metric,value\nNOPE,2024-01-01,x,1\n" * 3,
                                   "a_file_with_a_very_long_name_for_a_terminal.csv", mode="append")
        assert not rep.ok
        cur.close()
        for width in (80, 100):
            monkeypatch.setenv("COLUMNS", str(width))
            assert cli.main(["status", "--db", str(db)]) == 0
            lines = capsys.readouterr().out.splitlines()
            assert max(len(x) for x in lines) <= width
            header = next(x for x in lines if x.split()[:3] == ["table", "rows", "from"])
            usage = next(x for x in lines if x.strip().startswith("usage "))
            # rows right-aligned under their header; dates ISO
            assert usage[: header.index("rows") + 4].endswith(usage.split()[1])
            assert "," in usage.split()[1] and usage.split()[2].count("-") == 2
            i = next(i for i, x in enumerate(lines) if "a_file_with" in x)
            assert lines[i].split()[-4:] == ["usage", "append", "0", "refused"], lines[i]
            assert lines[i + 1].startswith("      a_file_with_a_very_long_name_for_a_terminal.csv was not imported")
            assert lines[i + 1].endswith("…")


def test_contracts_with_no_outcome_yet_import_without_pandas_warning(tmp_path):
    """A contracts file whose outcome column is empty (none known yet) parsed as float; filling it with
    the outcomes derived from renewed_arr warned (Pandas4Warning: a future pandas raises)."""
    import warnings

    cur = store.connect(tmp_path / "c.duckdb")
    try:
        assert importer.import_file(cur, "accounts", b"account_id\nA\nB\n", "a.csv").ok
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rep = importer.import_file(cur, "contracts", b"account_id,start_date,end_date,arr,outcome,renewed_arr\n"
                                       b"A,2023-01-01,2024-01-01,100,,\nB,2023-01-01,2024-01-01,100,,50\n", "c.csv")
        assert rep.ok, rep.message
        assert store.query_rows(cur, "SELECT account_id, outcome FROM renewals ORDER BY 1") == \
            [("A", None), ("B", "downgraded")]
    finally:
        cur.close()


def test_flows_with_one_month_say_not_enough_history(stores):
    """One month of ARR: ARR forecasts; new/churned ARR and new logos (flows) need a month before it.
    They said "no ARR history in the store: load subscriptions first", wrong with ARR loaded."""
    from app.forecasting import topdown as forecast

    cur = store.connect(stores("one month"), read_only=True)
    try:
        assert len(forecast.forecast_table(cur, "arr", 3)) == 3
        for q in ("new_arr", "churned_arr", "new_logos"):
            for call in (lambda q=q: forecast.forecast_table(cur, q, 3),
                         lambda q=q: forecast.backtest_quantity(cur, q)):
                with pytest.raises(ValueError, match=r"^not enough history to forecast .* \(1 month of ARR; needs 2 "):
                    call()
    finally:
        cur.close()
