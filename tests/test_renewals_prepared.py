"""Renewal forecasts prepared once per data version (renewals.prepare): stored results equal a fresh
computation, a new import invalidates them, and the forecast page reads them instead of training."""
from __future__ import annotations

import pandas as pd
import pytest

from app.data import importer, store
from app.forecasting import renewals, risk
from tests.conftest import app_page


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


@pytest.mark.slow
def test_prepared_results_equal_a_fresh_computation(sample_copy):
    con = store.connect(sample_copy)
    report = renewals.prepare(con, segments=False)
    assert {"scored", "calibration:3", "view:3:"} <= set(report.done)
    assert renewals.prepare(con, segments=False).done == ()  # already prepared: nothing recomputed

    view = renewals.forecast_view(con, 3, None)  # read back from the store
    scored = renewals.prepared_scored(con)
    assert scored.scores is None and scored.model is not None  # the model, not the feature matrix

    fresh = renewals.score_due(con)
    _frames_equal(scored.contracts, fresh.contracts)
    cal = renewals.calibrate(con, 3)
    assert view.calibration.sigma == cal.sigma
    _frames_equal(view.calibration.windows, cal.windows)
    fc = renewals.summarise(fresh, 3, None, sigma=cal.sigma)
    assert view.forecast.totals == fc.totals
    for name in ("at_risk", "by_month", "by_segment", "by_csm"):
        _frames_equal(getattr(view.forecast, name), getattr(fc, name))
    assert view.card.auc == fresh.card.auc and view.model_version == fresh.model_version

    # A window and segment not prepared: computed from the stored scored contracts (drivers recomputed for
    # the listed rows only) it equals the fresh computation too.
    seg = fresh.contracts["segment"].dropna().iloc[0]
    a = renewals.summarise(scored, 6, seg, sigma=0.3, cur=con)
    b = renewals.summarise(fresh, 6, seg, sigma=0.3)
    assert a.totals == b.totals
    _frames_equal(a.at_risk, b.at_risk)
    assert (a.at_risk["driver_1"] != "").mean() > 0.5
    con.close()


def test_a_new_import_invalidates_the_prepared_forecasts(sample_copy, tmp_path):
    con = store.connect(sample_copy)
    key = renewals.prepared_key(con)
    with store.transaction(con):  # stand-in for a preparation (the real one is tested above)
        con.execute("INSERT INTO renewal_prepared VALUES (?, 'view:3:', now(), 0, ?)", [key, b"x"])
    assert len(renewals.prepared_status(con)) == 1

    bad = tmp_path / "nps.csv"  # a refused import changes nothing: the preparation stands
    bad.write_text("account_id,date,score\nNOPE,2026-01-05,9\n")
    assert not importer.import_path(con, "nps", bad, mode="append").ok
    assert renewals.prepared_key(con) == key and len(renewals.prepared_status(con)) == 1

    account = store.query_rows(con, "SELECT min(account_id) FROM accounts")[0][0]
    good = tmp_path / "nps2.csv"
    good.write_text(f"account_id,date,score\n{account},2026-10-05,3\n")
    assert importer.import_path(con, "nps", good, mode="append").ok
    assert renewals.prepared_key(con) != key
    assert renewals.prepared_status(con).empty  # the page will not read the old results
    con.close()


@pytest.mark.slow
def test_the_page_reads_the_prepared_forecasts(sample_copy, monkeypatch, capsys):
    from app import cli

    assert cli.main(["prepare", "--db", str(sample_copy)]) == 0  # as `python -m app load` runs it
    said = capsys.readouterr().out
    assert said.startswith("Prepared the renewal forecasts in ")
    for item in ("scored", "calibration:3", "view:3:", "view:6:"):  # what the page reads, listed
        assert f"\n  {item} " in said, said
    assert "Health scores: snapshot set " in said, said  # built after the forecasts, not on the page
    con = store.connect(sample_copy)
    expected = renewals.forecast_view(con, 3, None).forecast.totals
    con.close()

    def no_training(*args, **kwargs):
        raise AssertionError("the page trained a model although the forecasts were prepared")

    monkeypatch.setattr(risk, "train", no_training)
    monkeypatch.setenv("CS_DB", str(sample_copy))
    at = app_page("pages/forecast.py", 120)
    assert not at.exception, at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Accounts due"] == f"{expected['accounts']:,.0f}"
    at.session_state["fc_section"] = "Model and track record"
    at.run()
    assert not at.exception, at.exception
    assert "AUC" in {m.label for m in at.metric}


def test_the_health_pages_read_the_scores_prepared_after_import(sample_copy, monkeypatch):
    """app.prepare builds the weekly health scores after an import: the health and account pages then
    read them and never build a snapshot set themselves."""
    from app import prepare
    from app.health import snapshots

    con = store.connect(sample_copy)
    r = prepare.run(con, strict=True)
    assert r.health_set is not None and r.renewals is not None
    assert snapshots.snapshot_set(con, snapshots.config(con)) == r.health_set
    con.close()

    def no_build(*args, **kwargs):
        raise AssertionError("a page built health snapshots although they were prepared")

    monkeypatch.setattr(snapshots, "build_sql", no_build)
    monkeypatch.setenv("CS_DB", str(sample_copy))
    for page in ("pages/health.py", "pages/account.py"):
        at = app_page(page, 120)
        assert not at.exception, (page, at.exception)
