"""Account-level renewal forecast on an invoice-line billing export (issue 11): every renewal in the window,
lost accounts near the realised count and inside P10-P90, the CLI's window and account views, saved runs once."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from app import cli
from app.data import store
from app.forecasting import renewals
from tests.conftest import ROOT
from tests.support import invoice_world

AS_OF = dt.date(2026, 1, 31)  # the world's data runs to June 2026: a 5-month window has fully played out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("world") / "w.duckdb"
    invoice_world.build(path, seed=1, shock_sd=0.3).close()
    return path


def _lost_by_window_end(cur: store.Cursor, accounts: list[str], end: dt.date) -> np.ndarray:
    paying = dict(cur.execute("SELECT account_id, arr FROM arr_monthly WHERE month = ?",
                              [end.replace(day=1)]).fetchall())
    return np.array([paying.get(a, 0.0) <= 0 for a in accounts])


def test_lost_accounts_near_realised_and_inside_the_band(world: Path) -> None:
    cur = store.connect(world)
    scored, fc, cal = renewals.window_forecast(cur, AS_OF, 5)
    acc = fc.accounts
    paying_then = cur.execute("SELECT count(*) FROM arr_monthly WHERE month = ?", [AS_OF.replace(day=1)]).fetchall()
    assert len(acc) == paying_then[0][0]  # every paying account is due: invoices come up every month
    lost = _lost_by_window_end(cur, acc["account_id"].tolist(), fc.window_end)
    t = fc.totals
    # expected lost accounts within 25% of realised, and the realised count inside P10-P90
    assert abs(t["expected_churned_accounts"] - lost.sum()) <= 0.25 * lost.sum()
    assert t["churned_accounts_p10"] <= lost.sum() <= t["churned_accounts_p90"]
    # the old view (each account's next renewal only) implied far fewer: the 3.4x under-forecast of the report
    first = scored.contracts.sort_values("end_date").groupby("account_id").head(1).set_index("account_id")
    assert (1 - first["p_renew"]).sum() < 0.4 * lost.sum()
    # the ranking of accounts is at least as good as ranking by that next renewal
    auc_new = roc_auc_score(lost, 1 - acc["p_retained"])
    auc_old = roc_auc_score(lost, 1 - first["p_renew"].reindex(acc["account_id"]).to_numpy())
    assert auc_new > 0.6 and auc_new >= auc_old - 0.02
    # the calibration table: past windows, predicted vs realised, a reliability table by quintile
    assert len(cal.windows) >= 3 and cal.coverage is not None
    assert set(cal.reliability.columns) == {"quintile", "accounts", "predicted", "realised"}
    cur.close()


def test_cli_window_json_and_account_table(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["forecast", "window", "--db", str(world), "--as-of", AS_OF.isoformat(),
                     "--horizon-months", "5", "--format", "json"]) == 0
    w = json.loads(capsys.readouterr().out)
    for key in ("accounts_due", "arr_due", "expected_renewed_arr", "renewed_arr_p10", "renewed_arr_p50",
                "renewed_arr_p90", "expected_churned_accounts", "churned_accounts_p10", "churned_accounts_p90"):
        assert key in w, key
    assert w["renewed_arr_p10"] <= w["renewed_arr_p50"] <= w["renewed_arr_p90"] <= w["arr_due"]
    assert w["churned_accounts_p10"] <= w["expected_churned_accounts"] <= w["churned_accounts_p90"]
    out = subprocess.run([sys.executable, "-m", "app", "forecast", "renewals", "--by", "account", "--db", str(world),
                          "--as-of", AS_OF.isoformat(), "--horizon-months", "5"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == ("account_id,segment,csm_id,arr_due,renewals_in_window,p_retained,expected_arr_retained,"
                        "driver_1,driver_2,driver_3,play")
    import io

    import pandas as pd

    tab = pd.read_csv(io.StringIO(out.stdout))
    assert len(tab) == w["accounts_due"]
    assert tab["expected_arr_retained"].sum() == pytest.approx(w["expected_renewed_arr"], rel=1e-4)
    assert (1 - tab["p_retained"]).sum() == pytest.approx(w["expected_churned_accounts"], abs=0.05 * len(tab) / 100)
    assert (tab["renewals_in_window"] == 5).mean() > 0.8  # a monthly invoice comes up in each of the 5 months


def test_a_month_reads_the_same_in_every_window(world: Path) -> None:
    cur = store.connect(world)
    scored = renewals.score_due(cur, AS_OF, 12)
    months = [renewals.summarise(scored, h, n_sims=100).by_month.set_index("month")["expected"] for h in (3, 6, 12)]
    for m in months[1:]:
        assert m.iloc[:3].to_numpy() == pytest.approx(months[0].to_numpy())
    cur.close()


def test_saved_runs_once_per_question(world: Path, tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "runs.duckdb"
    shutil.copy(world, db)
    cur = store.connect(db)
    scored = renewals.score_due(cur, AS_OF, 3)
    a = renewals.summarise(scored, 3, seed=0)
    first = renewals.save_run(cur, a)
    assert first is not None and renewals.save_run(cur, a) is None  # the same outputs: nothing written
    b = renewals.summarise(scored, 3, seed=1)  # the same question, other outputs: it replaces the first
    assert renewals.save_run(cur, b) is not None
    assert renewals.save_run(cur, renewals.summarise(scored, 2)) is not None  # another question
    r = renewals.runs(cur)
    assert sorted(r["horizon_months"].tolist()) == [2, 3]
    assert len(renewals.forecast_vs_actual(cur)) == 2
    cur.close()


def test_a_large_book_is_calibrated_on_a_fixed_sample(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cur = store.connect(world)
    full = renewals.calibrate(cur, 5, as_of=AS_OF)
    monkeypatch.setattr(renewals, "CALIBRATION_MAX_ACCOUNTS", 300)  # the world has 900 accounts: 1 in 3
    part = renewals.calibrate(cur, 5, as_of=AS_OF)
    assert "fixed sample of about 1 in 3 accounts" in part.note and "sample" not in full.note
    ratio = part.windows["accounts_due"] / full.windows["accounts_due"]
    assert ratio.between(0.2, 0.5).all()  # about a third of the accounts due, every window
    assert part.windows["realised_lost"].sum() < full.windows["realised_lost"].sum()
    cur.close()
