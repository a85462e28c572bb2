"""Retention metrics on a tiny hand-computed book (see the month table in `book`)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from app.analytics import benchmarks, metrics
from app.data import store
from tests.conftest import make_store

ROOT = Path(__file__).resolve().parent.parent


def _lines(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["subscription_id", "account_id", "start_date", "end_date", "arr"])
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["end_date"] = pd.to_datetime(df["end_date"])
    return df


@pytest.fixture
def book(tmp_path: Path):
    """Month-end ARR, Jan..Aug 2023 (as of 2023-08-31):

    R (SMB)        1000 Jan-Mar, churns Apr, reactivates Jun-Aug
    S (SMB)        one line 5 Feb - 20 Feb: never at a month end, never counted
    M (Enterprise) two lines 1000 + 500 Jan-Apr; the 500 ends 1 May -> contraction 500 in May
    G (Enterprise) 2000 Jan-Feb, new line from 15 Mar: a gap inside March, invisible at month ends
    X (SMB)        600 from Mar, +300 add-on May-Jun (expansion), all gone in Jul (churn 900)
    """
    accounts = pd.DataFrame({"account_id": ["R", "S", "M", "G", "X"],
                             "segment": ["SMB", "SMB", "Enterprise", "Enterprise", "SMB"],
                             "region": ["EU", "EU", "NA", "EU", "NA"]})
    subs = _lines([
        ("r1", "R", "2023-01-01", "2023-04-01", 1000.0), ("r2", "R", "2023-06-01", None, 1000.0),
        ("s1", "S", "2023-02-05", "2023-02-20", 5000.0),
        ("m1", "M", "2023-01-01", None, 1000.0), ("m2", "M", "2023-01-01", "2023-05-01", 500.0),
        ("g1", "G", "2023-01-01", "2023-03-01", 2000.0), ("g2", "G", "2023-03-15", None, 2000.0),
        ("x1", "X", "2023-03-01", "2023-07-01", 600.0), ("x2", "X", "2023-05-01", "2023-07-01", 300.0),
    ])
    contracts = pd.DataFrame({
        "contract_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
        "account_id": ["R", "M", "G", "X", "R", "S"],
        "start_date": pd.to_datetime(["2022-02-15", "2022-03-10", "2022-03-20", "2022-05-05", "2022-09-30",
                                      "2022-06-01"]),
        "end_date": pd.to_datetime(["2023-02-15", "2023-03-10", "2023-03-20", "2023-05-05", "2023-09-30",
                                    "2023-06-01"]),
        "arr": [1000.0, 2000.0, 1000.0, 500.0, 700.0, 400.0],
        "outcome": ["renewed", "downgraded", "expanded", "churned", None, "renewed"],
        "renewed_arr": [1000.0, 1500.0, 1300.0, 0.0, None, None],
    })
    reasons = pd.DataFrame({
        "account_id": ["R", "X", "X", "M"],
        "date": pd.to_datetime(["2023-03-28", "2023-07-02", "2022-01-01", "2023-05-02"]),
        "proximate_reason": ["Champion left", "Price", "Other", "Budget"],
        "root_reason": ["Poor onboarding", "Low adoption", "Other", "Budget"],
    })
    frames = {"accounts": accounts, "subscriptions": subs, "contracts": contracts, "churn_reasons": reasons}
    return make_store(tmp_path / "book.duckdb", frames, "2023-08-31")


BRIDGE = [  # month, start, new, expansion, reactivation, contraction, churn, end, logos s/n/r/c/e
    ("2023-01-01", 0, 4500, 0, 0, 0, 0, 4500, 0, 3, 0, 0, 3),
    ("2023-02-01", 4500, 0, 0, 0, 0, 0, 4500, 3, 0, 0, 0, 3),
    ("2023-03-01", 4500, 600, 0, 0, 0, 0, 5100, 3, 1, 0, 0, 4),
    ("2023-04-01", 5100, 0, 0, 0, 0, 1000, 4100, 4, 0, 0, 1, 3),
    ("2023-05-01", 4100, 0, 300, 0, 500, 0, 3900, 3, 0, 0, 0, 3),
    ("2023-06-01", 3900, 0, 0, 1000, 0, 0, 4900, 3, 0, 1, 0, 4),
    ("2023-07-01", 4900, 0, 0, 0, 0, 900, 4000, 4, 0, 0, 1, 3),
    ("2023-08-01", 4000, 0, 0, 0, 0, 0, 4000, 3, 0, 0, 0, 3),
]


def test_arr_bridge_matches_hand_computed_months(book):
    got = metrics.arr_bridge(book)
    assert list(got.columns) == metrics.BRIDGE_COLUMNS
    want = pd.DataFrame(BRIDGE, columns=metrics.BRIDGE_COLUMNS)
    want["month"] = pd.to_datetime(want["month"])
    for c in metrics.BRIDGE_COLUMNS[1:]:
        assert got[c].tolist() == want[c].tolist(), c
    assert got["month"].tolist() == want["month"].tolist()


def test_arr_bridge_segment_filter_uses_current_segment(book):
    smb = metrics.arr_bridge(book, segment="SMB").set_index("month")
    # SMB = R and X only: R 1000 Jan-Mar, churn Apr, reactivation Jun; X 600 Mar, +300 May, churn Jul
    assert smb["end_arr"].tolist() == [1000, 1000, 1600, 600, 900, 1900, 1000, 1000]
    assert smb.loc["2023-06-01", "reactivation"] == 1000
    assert smb.loc["2023-07-01", "churn"] == 900
    ent_na = metrics.arr_bridge(book, segment="Enterprise", region="NA")  # M only
    assert ent_na["end_arr"].tolist() == [1500, 1500, 1500, 1500, 1000, 1000, 1000, 1000]
    assert ent_na["contraction"].sum() == 500 and ent_na["churn"].sum() == 0
    assert metrics.arr_bridge(book, segment="Nope").empty


def test_retention_series_hand_computed(book):
    got = metrics.retention_series(book, window_months=3).set_index("month")
    assert [str(m.date()) for m in got.index] == ["2023-04-01", "2023-05-01", "2023-06-01", "2023-07-01",
                                                  "2023-08-01"]
    # Apr vs Jan: cohort R 1000, M 1500, G 2000; R gone
    assert got.loc["2023-04-01", ["grr", "nrr", "logo_retention"]].tolist() == pytest.approx(
        [3500 / 4500, 3500 / 4500, 2 / 3], abs=1e-6)
    # Jun vs Mar: X expanded 600 -> 900 (capped at 600 for GRR), R came back (in the cohort since Mar)
    assert got.loc["2023-06-01", ["grr", "nrr", "logo_retention"]].tolist() == pytest.approx(
        [4600 / 5100, 4900 / 5100, 1.0], abs=1e-6)
    # Jul vs Apr: R was not active in Apr, so its reactivation is not retention
    assert got.loc["2023-07-01", ["grr", "nrr", "start_arr", "start_logos"]].tolist() == pytest.approx(
        [3000 / 4100, 3000 / 4100, 4100, 3], abs=1e-6)
    assert got.loc["2023-08-01", "grr"] == pytest.approx(3000 / 3900, abs=1e-6)
    assert metrics.retention_series(book).empty  # no 12 months of history yet


def test_retention_by_segment(book):
    got = metrics.retention_series(book, 3, segment="SMB").set_index("month")
    # Jun vs Mar: R 1000 -> 1000, X 600 -> 900
    assert got.loc["2023-06-01", ["grr", "nrr"]].tolist() == pytest.approx([1.0, 1900 / 1600], abs=1e-6)


def test_renewal_rates_by_quarter_known_outcomes_only(book):
    got = metrics.renewal_rates(book, "quarter").set_index("period")
    assert list(got.index.strftime("%Y-%m-%d")) == ["2023-01-01", "2023-04-01"]  # c5 (Q3) has no outcome
    q1 = got.loc["2023-01-01"]
    assert (q1.contracts_due, q1.renewed_count, q1.arr_due) == (3, 3, 4000)
    assert q1.rate_by_count == 1.0
    assert q1.gross_rate_by_arr == pytest.approx(3500 / 4000)
    assert q1.net_rate_by_arr == pytest.approx(3800 / 4000)
    q2 = got.loc["2023-04-01"]  # c4 churned, c6 renewed without renewed_arr: counted at its ARR
    assert (q2.contracts_due, q2.renewed_count) == (2, 1)
    assert q2.gross_rate_by_arr == pytest.approx(400 / 900, abs=1e-6)
    monthly = metrics.renewal_rates(book, "month")
    assert monthly["contracts_due"].tolist() == [1, 2, 1, 1]
    with pytest.raises(ValueError):
        metrics.renewal_rates(book, "week")


def test_kpis_now_and_three_months_earlier(book):
    k = {x.key: x for x in metrics.kpis(book, window_months=3)}
    assert [x.label for x in metrics.kpis(book)] == ["ARR", "NRR", "GRR", "Logo retention", "Renewal rate"]
    assert (k["arr"].value, k["arr"].prior) == (4000, 3900)
    assert k["nrr"].value == pytest.approx(3000 / 3900, abs=1e-6)
    assert k["nrr"].prior == pytest.approx(3000 / 4500, abs=1e-6)
    # renewal rate by account: due in the 12 months to 31 Aug R, M, G, X (churned), S vs to 31 May R, M, G, X
    assert (k["renewal_rate"].value, k["renewal_rate"].prior) == (pytest.approx(0.8), pytest.approx(0.75))
    assert k["renewal_rate"].delta_text == "+5.0 pts"
    assert k["arr"].delta_text == "+$100 (+2.6%)"  # 100 / 3900
    assert k["arr"].value_text == "$4.0k" and k["arr"].delta_text.startswith("+$100")
    assert "GRR" in k["grr"].help and "capped" in k["grr"].help
    twelve = {x.key: x for x in metrics.kpis(book)}
    assert twelve["grr"].value is None and twelve["grr"].value_text == "n/a"


def test_kpis_empty_store(empty_cur):
    assert metrics.kpis(empty_cur) == []
    assert metrics.arr_bridge(empty_cur).empty
    assert metrics.retention_series(empty_cur).empty
    assert metrics.cohort_retention(empty_cur).empty
    assert metrics.churn_reasons(empty_cur).empty
    assert metrics.segment_summary(empty_cur).empty


def test_cohort_retention_hand_computed(book):
    got = metrics.cohort_retention(book)
    assert set(got["cohort"]) == {"2023-Q1"}
    assert got["accounts"].iloc[0] == 4 and got["start_arr"].iloc[0] == 5100  # S never counted
    # k is each account's own months since start; max k = Aug - Mar (X, the last start) = 5
    assert got["months_since_start"].tolist() == [0, 1, 2, 3, 4, 5]
    assert got["active_accounts"].tolist() == [4, 4, 4, 3, 2, 3]
    assert got["arr"].tolist() == [5100, 5100, 5400, 4400, 3000, 4000]
    assert got["revenue_retention"].iloc[2] == pytest.approx(5400 / 5100, abs=1e-6)
    assert got["logo_retention"].iloc[4] == 0.5


def test_churn_reasons_match_nearest_reason(book):
    cr = metrics.churn_reasons(book, months=None)
    assert cr.by_proximate[["proximate_reason", "churned_arr", "logos"]].values.tolist() == [
        ["Champion left", 1000.0, 1], ["Price", 900.0, 1]]
    assert cr.by_root["root_reason"].tolist() == ["Poor onboarding", "Low adoption"]
    assert cr.by_proximate["cum_arr_share"].tolist() == pytest.approx([1000 / 1900, 1.0])
    t = cr.cross_table.set_index("root_reason")
    assert t.loc["Poor onboarding", "Champion left"] == 1000 and t.loc["Poor onboarding", "Price"] == 0
    assert t.loc["Total", "Total"] == 1900
    # last 3 months (Jun-Aug): only X's churn in July
    assert metrics.churn_reasons(book, months=3).by_root["churned_arr"].tolist() == [900.0]


def test_churn_without_a_reason_is_not_recorded(book):
    book.execute("DELETE FROM churn_reasons WHERE account_id = 'R'")
    cr = metrics.churn_reasons(book, months=None)
    assert metrics.NOT_RECORDED in cr.by_proximate["proximate_reason"].tolist()


def test_headwind_tailwind_by_quarter(book):
    q = metrics.headwind_tailwind(book, "quarter").set_index("period")
    assert q.loc["2023-Q2", "start_arr"] == 5100
    assert q.loc["2023-Q2", "headwind"] == pytest.approx(1500 / 5100, abs=1e-6)
    assert q.loc["2023-Q2", "tailwind"] == pytest.approx(300 / 5100, abs=1e-6)


def test_bridge_steps_waterfall(book):
    b = metrics.arr_bridge(book)
    # as of 31 Aug: the third quarter holds two months, and says so
    assert metrics.bridge_periods(b, "quarter") == ["2023-Q3 (Jul-Aug)", "2023-Q2", "2023-Q1"]
    assert metrics.bridge_periods(b, "year") == ["2023 (Jan-Aug)"]
    steps = metrics.bridge_steps(b, "2023-Q2").set_index("step")
    assert steps.loc["Start ARR", "amount"] == 5100 and steps.loc["End ARR", "amount"] == 4900
    assert steps.loc["Churn", "amount"] == -1000 and steps.loc["Contraction", "amount"] == -500
    # the last flow bar ends where End ARR stands
    assert steps.loc["Churn", "bar_end"] == 4900


def test_segments_small_to_large(book):
    assert metrics.segments(book) == ["SMB", "Enterprise"]


def test_segment_summary(book):
    s = metrics.segment_summary(book, window_months=4).set_index("segment")
    assert s.loc["SMB", "arr"] == 1000 and s.loc["SMB", "accounts"] == 1
    assert s.loc["Enterprise", "grr"] == pytest.approx(3000 / 3500, abs=1e-6)  # Aug vs Apr: M 1500 -> 1000, G 2000
    assert s.loc["SMB", "renewal_rate"] == pytest.approx(2 / 3)  # R and S renewed, X churned
    assert s.loc["SMB", "gross_renewal_rate"] == pytest.approx(1400 / 1900)  # c1 1000, c4 0 of 500, c6 400


def test_renewal_rate_counts_an_account_once_over_its_terms(book):
    # X: a churned contract and, later, a renewed one: not an account that renewed every time
    book.execute("UPDATE contracts SET account_id = 'X' WHERE contract_id = 'c6'")
    k = {x.key: x for x in metrics.kpis(book)}
    assert k["renewal_rate"].value == pytest.approx(3 / 4)  # R, M, G of R, M, G, X


def test_definitions_are_in_the_docs():
    doc = (ROOT / "docs" / "metrics.md").read_text()
    for key, text in metrics.DEFINITIONS.items():
        assert text in doc, key


# ---------------------------------------------------------------- benchmarks data

def test_benchmark_file_every_row_sourced():
    b = benchmarks.load_benchmarks()
    assert len(b) >= 23
    assert b[["source", "data_year", "confidence"]].notna().all().all()
    assert set(b["confidence"]) <= set(benchmarks.CONFIDENCE)
    smb = b[(b.metric == "nrr") & (b.statistic == "median") & (b.band == "ACV < $12k")]
    assert smb["value"].tolist() == [1.00] and smb["data_year"].tolist() == [2022]


def test_house_thresholds_labelled():
    t = benchmarks.load_thresholds().set_index("segment")
    assert t.loc["SMB", ["pass", "excellent"]].tolist() == [0.60, 0.80]
    assert t.loc["Enterprise", ["pass", "excellent"]].tolist() == [0.70, 0.90]
    assert (t["confidence"] == "house default").all()
    assert "interpolated" in t.loc["Mid-Market", "note"]


def test_classify_segments():
    company = pd.DataFrame({"segment": ["SMB", "Enterprise", "Mid Market"], "arr_per_account": [5e3, 150e3, 30e3],
                            "grr": [0.85, 0.94, 0.925], "nrr": [0.95, 1.10, 1.03],
                            "renewal_rate": [0.55, 0.92, 0.70]})
    out = benchmarks.classify(company, benchmarks.load_benchmarks(), benchmarks.load_thresholds())
    out = out.set_index(["segment", "metric"])
    assert out.loc[("SMB", "renewal_rate"), "status"] == "below pass"
    assert out.loc[("Enterprise", "renewal_rate"), "status"] == "excellent"
    assert out.loc[("Mid Market", "renewal_rate"), "status"] == "pass"
    # Enterprise at $150k ACV: SaaS Capital $100-250k band, GRR median 93%, NRR 107%
    assert out.loc[("Enterprise", "grr"), "peer_median"] == 0.93
    assert out.loc[("Enterprise", "grr"), "status"] == "above peer median"
    assert out.loc[("SMB", "nrr"), "status"] == "below peer median"
    assert out.loc[("Mid Market", "nrr"), "peer_segment"] == "Mid-Market"
    assert out.loc[("Mid Market", "nrr"), "peer_median"] == 1.03  # $25-50k band
    assert "SaaS Capital" in out.loc[("SMB", "grr"), "source"]


def test_fiscal_periods_feb_start(book):
    """Fiscal year from February, named by the year it ends in: FY2024-Q1 = Feb-Apr 2023."""
    b = metrics.arr_bridge(book)
    assert metrics.bridge_periods(b, "quarter", 2) == ["FY2024-Q3 (Aug only)", "FY2024-Q2", "FY2024-Q1",
                                                       "FY2023-Q4"]
    steps = metrics.bridge_steps(b, "FY2024-Q2", "quarter", 2).set_index("step")["amount"]
    # end of April 4,100 (R 0, M 1,500, G 2,000, X 600) -> end of July 4,000
    assert steps["Start ARR"] == 4100 and steps["End ARR"] == 4000
    assert (steps["Contraction"], steps["Expansion"], steps["Reactivation"], steps["Churn"]) == (-500, 300, 1000, -900)
    store.set_fiscal_year_start(book, 2)
    rates = metrics.renewal_rates(book, "quarter")
    assert rates["period"].dt.date.tolist() == [dt.date(2023, 2, 1), dt.date(2023, 5, 1)]
    assert rates["contracts_due"].tolist() == [3, 2]
    assert metrics.renewal_rates(book, "year")["period"].dt.date.tolist() == [dt.date(2023, 2, 1)]
    q = metrics.headwind_tailwind(book, "quarter").set_index("period")
    assert q.loc["FY2024-Q2", "headwind"] == pytest.approx(1400 / 4100, abs=1e-6)
