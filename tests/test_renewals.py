"""Renewal forecast: streams, simulation, at-risk list, contracts due, CLI table, saved runs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.data import store
from app.forecasting import renewals
from tests.conftest import d, make_store


def _scored(rows: list[tuple]) -> renewals.ScoredRenewals:
    c = pd.DataFrame(rows, columns=["contract_id", "account_id", "segment", "csm_id", "end_date", "arr",
                                    "term_months", "p_renew"])
    c["name"] = c["account_id"]
    c["billing"] = np.where(c["term_months"] < 12, "monthly", "annual")
    return renewals.ScoredRenewals(as_of=d("2025-12-31"), horizon_months=12, contracts=c, card=None,
                                   model_version="test", train_seconds=0.0, n_labelled=0)


SCORED = _scored([
    ("A:2026-01-10", "A", "SMB", "C1", d("2026-01-10"), 1200.0, 1, 0.9),
    ("A:2026-02-10", "A", "SMB", "C1", d("2026-02-10"), 1200.0, 1, 0.8),
    ("B:2026-03-01", "B", "Enterprise", "C2", d("2026-03-01"), 10000.0, 12, 0.5),
    ("E:2026-06-15", "E", "Enterprise", "C2", d("2026-06-15"), 50000.0, 12, 0.95),  # outside 3 months
])


def test_summary_by_hand():
    fc = renewals.summarise(SCORED, 3, n_sims=4000, seed=1)
    t = fc.totals
    # A's monthly subscription is one stream: ARR 1,200 once, P = 0.9 x 0.8 = 0.72.
    assert t["contracts"] == 2 and t["renewals"] == 3
    assert t["arr_due"] == pytest.approx(11200)
    assert t["expected"] == pytest.approx(0.72 * 1200 + 0.5 * 10000)
    # At risk: ceil(20% of 2) = 1 stream, the least likely to renew (B).
    assert t["n_at_risk"] == 1 and t["arr_at_risk"] == pytest.approx(10000)
    # Outcomes are 0 / 1,200 / 10,000 / 11,200; P(B renews) = 0.5, so P10 <= 1,200 and P90 = 11,200.
    assert t["p10"] <= 1200 and t["p90"] == pytest.approx(11200)
    seg = fc.by_segment.set_index("segment")
    assert seg.loc["SMB", "expected"] == pytest.approx(864) and seg.loc["Enterprise", "arr_due"] == 10000
    assert list(fc.by_month["n"]) == [1, 1, 1]  # every renewal date: A in January and February, B in March
    only_smb = renewals.summarise(SCORED, 3, "SMB")
    assert only_smb.totals["arr_due"] == 1200
    assert renewals.summarise(SCORED, 12).totals["arr_due"] == pytest.approx(61200)


def test_at_risk_table_columns_and_order():
    fc = renewals.summarise(SCORED, 12, share=0.5)
    t = renewals.at_risk_table(fc)
    assert list(t["Account"]) == ["B", "A"]  # P 0.5, then 0.72
    assert t["Expected ARR lost"].tolist() == pytest.approx([5000, 0.28 * 1200])
    assert {"Driver 1", "Play 1", "Driver 3", "Play 3"} <= set(t.columns)
    assert (t["Driver 1"] == "").all()  # no model behind these hand-made scores: nothing to explain


def test_accounts_and_renewal_dates_by_hand():
    fc = renewals.summarise(SCORED, 3, n_sims=4000, seed=1)
    acc = fc.accounts.set_index("account_id")
    # A renews in January (0.9) and February (0.8): still paying at the window's end with P 0.72
    assert acc.loc["A", "p_retained"] == pytest.approx(0.72) and acc.loc["A", "renewals_in_window"] == 2
    assert acc.loc["B", "p_retained"] == pytest.approx(0.5) and acc.loc["A", "arr_due"] == 1200
    assert fc.totals["expected_churned_accounts"] == pytest.approx(0.28 + 0.5)
    # lost accounts: 0, 1 or 2; P(none lost) = 0.72 x 0.5 = 0.36, P(both) = 0.14
    assert fc.totals["churned_accounts_p10"] == 0 and fc.totals["churned_accounts_p90"] == 2
    # by month every renewal date counts, at ARR x P(still paying after it): the same in any window
    by_month = fc.by_month.set_index("month")["expected"].tolist()
    assert by_month == pytest.approx([1200 * 0.9, 1200 * 0.72, 10000 * 0.5])
    longer = renewals.summarise(SCORED, 12, n_sims=200).by_month["expected"].tolist()
    assert longer[:3] == pytest.approx(by_month)


def test_window_end_keeps_month_ends():
    assert renewals.window_end(d("2026-10-31"), 4) == d("2027-02-28")
    assert renewals.window_end(d("2026-10-15"), 3) == d("2027-01-15")


def test_compare_top_down_explains_the_difference():
    fc = renewals.summarise(SCORED, 3)
    months = pd.date_range("2026-01-01", periods=6, freq="MS")
    churned = pd.DataFrame({"month": months, "yhat": 1000.0, "yhat_lower": 500.0, "yhat_upper": 1500.0})
    text = renewals.compare_top_down(fc, churned, "Prophet")
    lost = 11200 - (0.72 * 1200 + 5000)
    assert f"${lost:,.0f} is expected to be lost" in text
    assert "$3,000 of churned ARR over the same 3 months" in text  # Jan-Mar only
    assert "No top-down" in renewals.compare_top_down(fc, None)


def test_due_contracts_past_as_of_ignores_later_facts(tmp_path):
    frames = {
        "accounts": pd.DataFrame({"account_id": ["M", "T"], "segment": ["SMB", "Mid-Market"]}),
        "subscriptions": pd.DataFrame({
            "account_id": ["M", "T", "T"],
            "start_date": [d("2025-01-05"), d("2025-03-01"), d("2026-03-01")],
            # M: monthly, cancelled in Aug 2025 (not known at 31 May 2025). T renews on 1 Mar 2026.
            "end_date": [d("2025-08-05"), d("2026-03-01"), d("2027-03-01")],
            "arr": [1200.0, 24000.0, 26000.0], "billing_period_months": [1, 12, 12]}),
    }
    con = make_store(tmp_path / "p.duckdb", frames, "2026-06-30")
    due = renewals.due_contracts(con, d("2025-05-31"), 3)
    assert list(due["contract_id"]) == ["M:2025-06-05", "M:2025-07-05", "M:2025-08-05"]
    assert list(due["billing"]) == ["monthly"] * 3
    # At the store's own as-of the derived contracts equal the store's renewals view.
    now = renewals.due_contracts(con, None, 12)
    view = store.query_df(con, "SELECT contract_id, arr FROM renewals WHERE end_date > DATE '2026-06-30' "
                               "AND end_date <= DATE '2027-06-30' ORDER BY end_date")
    assert list(now["contract_id"]) == list(view["contract_id"]) == ["T:2027-03-01"]
    assert now["decision_date"].iloc[0] == d("2026-06-30")  # min(end - 90 days, as-of)
    con.close()


@pytest.mark.slow
def test_cli_table_and_runs_on_sample(sample_copy):
    con = store.connect(sample_copy)
    tab = renewals.renewal_forecast_table(con, d("2026-04-30"), 3)
    assert list(tab.columns) == ["account_id", "contract_end", "arr_due", "p_renew", "driver_1", "driver_2",
                                 "driver_3"]
    assert tab["contract_end"].min() > d("2026-04-30") and tab["contract_end"].max() <= d("2026-07-31")
    assert tab["p_renew"].between(0, 1).all() and (tab["arr_due"] > 0).all()
    # Same contracts as the store's view for that window (no line in the sample starts after as-of
    # inside the window without being a renewal of a line known then).
    view = store.query_rows(con, "SELECT count(*) FROM renewals WHERE end_date > DATE '2026-04-30' "
                                 "AND end_date <= DATE '2026-07-31'")[0][0]
    assert len(tab) <= view
    # A run as of six months back is saved once and compared with what happened.
    rid = renewals.backfill_run(con, months_back=6, horizon_months=3)
    assert rid is not None and renewals.backfill_run(con, months_back=6, horizon_months=3) is None
    fva = renewals.forecast_vs_actual(con)
    row = fva.set_index("id").loc[rid]
    assert row["status"] == "complete"
    # Actual by hand: ARR due of the saved streams none of whose contracts churned.
    import json
    out = json.loads(store.query_rows(con, "SELECT outputs_json FROM forecast_runs WHERE id = ?", [rid])[0][0])
    oc = dict(store.query_rows(con, "SELECT contract_id, outcome FROM renewals"))
    by_hand = sum(s["arr_due"] for s in out["streams"]
                  if all(oc.get(c) not in ("churned", None) for c in s["contract_ids"].split()))
    assert row["actual"] == pytest.approx(by_hand)
    assert 0.8 < row["expected"] / row["actual"] < 1.2
    con.close()
