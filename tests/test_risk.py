"""The renewal model: metrics on hand-made numbers, no leakage, quality on the sample generator."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from app.data import importer, store
from app.forecasting import risk
from app.forecasting.risk import features, model


def test_auc_brier_lift_by_hand():
    y = np.array([0, 0, 1, 1])
    assert risk.auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)  # 3 of 4 pairs ordered
    assert risk.auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)  # ties count half
    assert risk.brier(np.array([0, 1]), np.array([0.2, 0.6])) == pytest.approx((0.04 + 0.16) / 2)
    y10 = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    s10 = np.array([0.9, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.3])
    assert risk.top_decile_lift(y10, s10) == pytest.approx(1.0 / 0.2)  # top row churned; base rate 20%


def test_calibration_table_deciles():
    p = np.linspace(0.05, 0.95, 20)
    y = (np.arange(20) < 4).astype(int)  # the 4 lowest-P contracts churned
    t = risk.calibration_table(y, p)
    assert list(t["n"]) == [2] * 10
    assert t["actual"].tolist()[:3] == [0.0, 0.0, 1.0]
    assert t["predicted"].iloc[0] == pytest.approx((p[0] + p[1]) / 2)


@pytest.fixture(scope="module")
def sample3000(tmp_path_factory):
    path = tmp_path_factory.mktemp("risk") / "s.duckdb"
    con = store.connect(path)
    importer.load_sample(con, seed=7, n_accounts=3000, as_of=dt.date(2026, 10, 31))
    yield con
    con.close()


@pytest.mark.slow
def test_model_beats_baseline_and_finds_true_drivers(sample3000):
    m = risk.train(sample3000, seed=0)
    c = m.card
    assert c is not None and c.n_holdout > 3000
    # Floors: measured 0.79 (all) / 0.66 (annual+) on seed 7. The generator's own drivers in
    # a logistic regression, measured at the renewal itself, reach 0.76 in-sample on term
    # renewals; features taken 90 days earlier lose part of that signal (health drifts,
    # AR(1) 0.88 a month), so 0.60 on annual+ terms and 0.72 overall leave room for seeds.
    assert c.auc > 0.72 and c.auc > c.base_auc
    assert c.auc_term > 0.60 and c.auc_term > c.base_auc_term + 0.03
    assert c.brier <= c.base_brier * 1.02
    assert c.lift > 3
    # Calibrated: mean predicted churn within 1 point of the actual holdout churn rate.
    assert abs(1 - c.calibration["predicted"].mean() - c.churn_rate_holdout) < 0.01
    # The generator's true drivers (utilisation, usage decline, NPS, tickets, tenure) lead,
    # after the billing term (monthly renewals churn far less often per renewal).
    top = list(c.importance["family"].head(6))
    assert "utilisation" in top[:4] and "tickets" in top[:4]
    assert {"nps", "usage0", "tenure"} & set(top)  # lower ranks swap between runs: permutation noise
    imp = c.importance.set_index("family")["auc_drop"]
    true = imp.reindex(["utilisation", "tickets", "nps", "usage0", "tenure"]).sum()
    assert true > 5 * max(imp.reindex(["x_employees", "x_plan_tier", "usage1"]).clip(lower=0).sum(), 0.001)
    # Account extras that do not drive churn in the generator are not at the top.
    assert "x_employees" not in top[:3]


def test_drivers_of_a_subset_are_those_of_the_whole(sample3000):
    """The page explains only its at-risk contracts: the same words as explaining every contract due."""
    from app.forecasting import renewals

    scored = renewals.score_due(sample3000)
    every = renewals.drivers(scored)
    rows = np.array([5, 0, 17, len(scored.contracts) - 1])
    assert renewals.drivers(scored, rows).to_dict("list") == every.iloc[rows].to_dict("list")
    assert (every["driver_1"] != "").mean() > 0.5  # most contracts have an adverse factor that stands out
    fc = renewals.summarise(scored, 3)
    at = fc.at_risk
    assert len(at) == fc.totals["n_at_risk"] and (at["driver_1"] != "").all()
    assert at[renewals.DRIVER_COLS].to_dict("list") == every.iloc[at["row"]][renewals.DRIVER_COLS].to_dict("list")
    # a monthly stream is explained by its renewal least likely to happen
    monthly = at[at["n_renewals"] > 1].head(1)
    if len(monthly):
        c = scored.contracts
        mine = c[(c["account_id"] == monthly["account_id"].iloc[0]) & (c["term_months"] < 12)
                 & (pd.to_datetime(c["end_date"]) <= pd.Timestamp(fc.window_end))]
        assert monthly["row"].iloc[0] == mine["p_renew"].idxmin()


def _shock_after(con: store.Cursor, t: dt.date) -> None:
    """Change every row dated after t: usage values, NPS scores, tickets, later line items."""
    with store.transaction(con):
        con.execute("UPDATE usage SET value = value * 0.1 + 7 WHERE date > ?", [t])
        con.execute("UPDATE nps SET score = 0 WHERE date > ?", [t])
        con.execute("INSERT INTO tickets SELECT ticket_id || 'x', account_id, opened_at, 'urgent', status, closed_at "
                    "FROM tickets WHERE opened_at > ?", [t])
        con.execute("DELETE FROM subscriptions WHERE start_date > ?", [t])
        store.rebuild_derived(con)


def test_no_leakage_data_after_the_decision_point(sample_copy):
    con = store.connect(sample_copy)
    t = dt.date(2025, 6, 30)
    lab = risk.labelled_contracts(con).head(400).assign(decision_date=t)
    metrics, active = risk.find_usage_metrics(con)
    before = risk.design_matrix(risk.raw_features(con, lab, metrics), metrics, active, [], [], ["SMB"])
    _shock_after(con, t)
    after = risk.design_matrix(risk.raw_features(con, lab, metrics), metrics, active, [], [], ["SMB"])
    assert before.notna().sum().sum() > 400 * 10  # real values, not an all-missing matrix
    pd.testing.assert_frame_equal(before, after)
    # ... while data before the decision point does move them (the test can fail).
    with store.transaction(con):
        con.execute("UPDATE usage SET value = value * 0.5 WHERE date < ?", [t])
    moved = risk.design_matrix(risk.raw_features(con, lab, metrics), metrics, active, [], [], ["SMB"])
    assert not moved["u0_level_log"].equals(before["u0_level_log"])
    con.close()


def _tiny(tmp_path):
    d = dt.date
    frames = {
        "accounts": pd.DataFrame({"account_id": ["A"], "segment": ["SMB"], "tier": ["Gold"], "employees": ["50"]}),
        "subscriptions": pd.DataFrame({"account_id": ["A", "A"], "product": ["Core", "Core"],
                                       "start_date": [d(2024, 1, 15), d(2025, 1, 15)],
                                       "end_date": [d(2025, 1, 15), d(2026, 1, 15)],
                                       "arr": [12000.0, 9000.0], "quantity": [20.0, 20.0],
                                       "billing_period_months": [12, 12]}),
        "usage": pd.DataFrame({"account_id": ["A"] * 6, "date": pd.to_datetime(
            ["2025-04-01", "2025-05-01", "2025-06-01", "2025-07-01", "2025-08-01", "2025-09-01"]),
            "metric": ["active_users"] * 6, "value": [20.0, 20, 20, 14, 12, 10]}),
        "nps": pd.DataFrame({"account_id": ["A", "A"], "date": pd.to_datetime(["2025-03-01", "2025-08-01"]),
                             "score": [8, 4]}),
        "tickets": pd.DataFrame({"ticket_id": ["t1", "t2", "t3"], "account_id": ["A"] * 3,
                                 "opened_at": pd.to_datetime(["2025-05-01", "2025-09-01", "2025-10-01"]),
                                 "priority": ["low", "Urgent", "high"], "status": ["closed"] * 3}),
    }
    return store.connect(tmp_path / "tiny.duckdb"), frames


def test_features_by_hand(tmp_path):
    con, frames = _tiny(tmp_path)
    importer.load_frames(con, frames, as_of="2025-12-31", label="tiny")
    k = pd.DataFrame({"contract_id": ["A:2026-01-15"], "account_id": ["A"], "arr": [9000.0], "term_months": [12],
                      "decision_date": [dt.date(2025, 9, 30)]})
    metrics, active = risk.find_usage_metrics(con)
    num, cat = risk.extra_account_columns(con)
    assert num == ["employees"] and cat == [("tier", ["Gold"])]
    raw = risk.raw_features(con, k, metrics, num, [c for c, _ in cat])
    X = risk.design_matrix(raw, metrics, active, num, cat, ["SMB"]).iloc[0]
    assert X["u0_trend_90d"] == pytest.approx(12 / 20 - 1)  # Jul-Sep mean 12 vs Apr-Jun mean 20
    assert X["u0_change_3m"] == pytest.approx(10 / 20 - 1)  # Sep vs Jun
    assert X["utilisation"] == pytest.approx(10 / 20)  # Sep active users / 20 seats
    assert X["nps_last"] == 4 and X["nps_avg_12m"] == pytest.approx(6.0)
    assert X["tickets_90d"] == 1 and X["tickets_180d"] == 2 and X["high_tickets_180d"] == 1  # Oct ticket is later
    assert X["arr_change_12m"] == pytest.approx(9000 / 12000 - 1)  # 30 Sep 2025 vs 30 Sep 2024
    assert X["tenure_months"] == pytest.approx((dt.date(2025, 9, 30) - dt.date(2024, 1, 1)).days / 30.4375)
    assert X["x_employees"] == 50 and X["x_tier=Gold"] == 1
    con.close()


@pytest.mark.slow
def test_a_model_that_loses_to_the_baseline_is_not_used(tmp_path):
    """On a 600-account sample the holdout AUC is below the segment-and-term baseline: baseline rates are used."""
    import datetime as dt

    from app.data import importer

    con = store.connect(tmp_path / "small.duckdb")
    importer.load_sample(con, seed=7, n_accounts=600, as_of=dt.date(2026, 10, 31))
    model = risk.train(con)
    assert model.card is not None and model.card.auc <= model.card.base_auc
    assert model.estimator_ is None
    assert any("did not beat the baseline" in n for n in model.notes)
    lab = risk.labelled_contracts(con).head(50)
    lab["decision_date"] = lab["end_date"]
    scored = risk.score(model, con, lab)
    assert scored["p_renew"].between(0, 1).all() and (scored["driver_1"] == "").all()


@pytest.mark.slow
def test_training_keeps_the_most_recent_contracts_beyond_the_cap(sample_copy, monkeypatch):
    con = store.connect(sample_copy)
    monkeypatch.setattr(features, "MAX_TRAIN_CONTRACTS", 1000)
    model = risk.train(con)
    assert model.n_labelled == 1000
    assert any("most recent of" in n for n in model.notes)


def _rank_auc(y: np.ndarray, score: np.ndarray) -> float:
    """The hand-written AUC the card used before sklearn's: mean rank of the positives (ties half)."""
    n1 = int(y.sum())
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(y) - n1)))


@pytest.mark.slow
def test_sklearn_metrics_and_calibration_against_the_hand_written_ones(sample_db):
    """Issue 12: the card's AUC and Brier (sklearn's) equal the hand-written rank formula and mean squared
    error; CalibratedClassifierCV's sigmoid on the same time slice is close to the estimator's Platt fit but
    not equal (Platt's smoothed targets), and no better on the holdout, so the Platt fit stays."""
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    con = store.connect(sample_db, read_only=True)
    metrics, active = risk.find_usage_metrics(con)
    num, cat = risk.extra_account_columns(con)
    lab, _ = features.training_contracts(con, store.as_of(con))
    X = risk.design_matrix(risk.raw_features(con, lab, metrics, num, [c for c, _ in cat]), metrics, active,
                           num, cat, ["SMB", "Mid-Market", "Enterprise"])
    con.close()
    X = X.loc[:, X.notna().any()].reset_index(drop=True)
    y = lab["churned"].to_numpy(int)
    nh = int(len(X) * risk.HOLDOUT_SHARE)
    Xt, yt, Xh, yh = X.iloc[:-nh], y[:-nh], X.iloc[-nh:], y[-nh:]
    est = risk.RenewalClassifier(random_state=0)
    assert est.fit(Xt, yt) is est and clone(est).get_params() == est.get_params()
    p = est.predict_proba(Xh)[:, 1]
    assert risk.auc(yh, p) == pytest.approx(_rank_auc(yh, p), abs=1e-9)
    assert risk.brier(yh, p) == pytest.approx(float(np.mean((p - yh) ** 2)), abs=1e-15)
    a, b = est.platt_
    assert p == pytest.approx(1 / (1 + np.exp(-(a * np.log(est.raw_score(Xh) / (1 - est.raw_score(Xh))) + b))))
    n_cal = int(len(Xt) * model.CALIBRATION_SHARE)
    ccv = CalibratedClassifierCV(FrozenEstimator(est.trees_), method="sigmoid").fit(
        Xt.iloc[-n_cal:].to_numpy(float), yt[-n_cal:])
    p_ccv = ccv.predict_proba(Xh.to_numpy(float))[:, 1]
    assert risk.auc(yh, p_ccv) == pytest.approx(risk.auc(yh, p), abs=1e-12)  # both monotone in the raw score
    assert 1e-3 < np.abs(p_ccv - p).max() < 0.02  # close, not equal
    assert risk.brier(yh, p_ccv) >= risk.brier(yh, p) - 1e-6  # no gain: the Platt fit stays


def test_the_estimator_works_without_the_store():
    """RenewalClassifier is a plain scikit-learn estimator on any feature frame (rows in time order)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"usage_trend": rng.normal(size=2000), "tickets": rng.poisson(1, 2000).astype(float)})
    X.loc[::7, "usage_trend"] = np.nan  # missing values are fine
    y = (rng.random(2000) < 1 / (1 + np.exp(2.5 + 1.5 * X["usage_trend"].fillna(0) - 0.5 * X["tickets"]))).astype(int)
    est = risk.RenewalClassifier(min_samples_leaf=20)
    p = est.fit(X, y).predict_proba(X)
    assert p.shape == (2000, 2) and np.allclose(p.sum(axis=1), 1)
    assert risk.auc(y, p[:, 1]) > 0.7 and abs(p[:, 1].mean() - y.mean()) < 0.03
    assert set(est.predict(X)) <= {0, 1} and est.n_features_in_ == 2
    with pytest.raises(ValueError):
        est.predict_proba(X[["tickets", "usage_trend"]])
