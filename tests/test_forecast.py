"""Top-down forecasts: history from the store, the three methods, fallbacks, backtest, chart builders."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.forecasting import topdown as fc
from app.present import charts_forecast as cf
from tests.conftest import d, make_store

# prophet 1.5 on pandas 3 warns about DataFrame.drop(inplace=...) on every fit.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:prophet")

Z80 = 1.2815515655446004  # standard normal 90th percentile: the 80% interval's half-width in sigmas


def monthly(values, start: str = "2021-01-01") -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=pd.date_range(start, periods=len(values), freq="MS"))


def noisy_trend(n: int, seed: int = 0, level: float = 1000.0, slope: float = 20.0, qe_bump: float = 0.0):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2021-01-01", periods=n, freq="MS")
    y = level + slope * np.arange(n) + qe_bump * np.isin(idx.month, [3, 6, 9, 12]) + rng.normal(0, 10, n)
    return pd.Series(y, index=idx)


def assert_well_formed(res: fc.ForecastResult, horizon: int, last: pd.Timestamp) -> None:
    f = res.frame
    assert list(f.columns) == ["month", "yhat", "yhat_lower", "yhat_upper", "method"]
    assert len(f) == horizon
    months = pd.DatetimeIndex(f["month"])
    assert (months.day == 1).all()
    assert months[0] == last + pd.offsets.MonthBegin(1)
    assert (months.to_series().diff().dropna().dt.days.between(28, 31)).all()
    assert (f["yhat_lower"] <= f["yhat"]).all() and (f["yhat"] <= f["yhat_upper"]).all()
    assert (f["method"] == res.method).all()


# ------------------------------------------------------------------ history from a hand-made store


def small_store(tmp_path):
    """A: SMB from Jan. B: SMB Mar-May (churns in Jun). C: Enterprise from Feb.
    D: SMB in Feb only, back from May (reactivation). As of 2024-08-31."""
    subs = pd.DataFrame({
        "subscription_id": ["a", "b", "c", "d1", "d2"],
        "account_id": ["A", "B", "C", "D", "D"],
        "product": "core",
        "start_date": [d("2024-01-01"), d("2024-03-01"), d("2024-02-01"), d("2024-02-01"), d("2024-05-01")],
        "end_date": [None, d("2024-06-01"), None, d("2024-03-01"), None],
        "arr": [1200.0, 600.0, 10000.0, 300.0, 300.0],
        "quantity": 1.0,
        "billing_period_months": 12,
    })
    accounts = pd.DataFrame({"account_id": ["A", "B", "C", "D"], "segment": ["SMB", "SMB", "Enterprise", "SMB"]})
    return make_store(tmp_path / "f.duckdb", {"accounts": accounts, "subscriptions": subs}, "2024-08-31")


def test_history_quantities_by_hand(tmp_path):
    cur = small_store(tmp_path)
    h = fc.history_frame(cur)
    assert h.index[0] == pd.Timestamp("2024-01-01") and h.index[-1] == pd.Timestamp("2024-08-01")
    assert h["arr"].tolist() == [1200, 11500, 11800, 11800, 12100, 11500, 11500, 11500]
    assert h["logos"].tolist() == [1, 3, 3, 3, 4, 3, 3, 3]
    # First month's flows are unknown (everything looks new against a month before the data).
    assert math.isnan(h["new_arr"].iloc[0]) and math.isnan(h["churned_arr"].iloc[0])
    # Feb: C 10000 + D 300 new; Mar: B 600 new; May: D reactivates 300.
    assert h["new_arr"].iloc[1:].tolist() == [10300, 600, 0, 300, 0, 0, 0]
    # Mar: D churns 300; Jun: B churns 600.
    assert h["churned_arr"].iloc[1:].tolist() == [0, 300, 0, 0, 600, 0, 0]

    smb = fc.history(cur, "arr", "SMB")
    assert smb.tolist() == [1200, 1500, 1800, 1800, 2100, 1500, 1500, 1500]
    assert smb.index.freqstr == "MS"
    ent = fc.history(cur, "logos", "Enterprise")
    assert ent.index[0] == pd.Timestamp("2024-02-01") and ent.tolist() == [1] * 7
    assert fc.history(cur, "new_arr", "SMB").index[0] == pd.Timestamp("2024-02-01")
    # one segment list, in one order, on every page (SMB before Enterprise)
    from app.analytics import metrics
    from app.rules import segments

    assert fc.segments is metrics.segments is segments.segments and fc.segments(cur) == ["SMB", "Enterprise"]
    with pytest.raises(ValueError, match="quantity must be one of"):
        fc.history(cur, "arr; DROP TABLE accounts", None)


def test_forecast_arr_cli_table_falls_back_to_drift_on_8_months(tmp_path):
    cur = small_store(tmp_path)
    out = fc.forecast_arr(cur, horizon_months=3)
    assert list(out.columns) == ["month", "yhat", "yhat_lower", "yhat_upper", "method"]
    assert [m.strftime("%Y-%m-%d") for m in out["month"]] == ["2024-09-01", "2024-10-01", "2024-11-01"]
    assert set(out["method"]) == {"drift"}
    slope = (11500 - 1200) / 7  # drift: first to last month
    assert out["yhat"].tolist() == pytest.approx([11500 + slope, 11500 + 2 * slope, 11500 + 3 * slope], abs=0.005)
    seg = fc.forecast_arr(cur, horizon_months=2, segment="SMB")
    assert seg["yhat"].tolist() == pytest.approx([1500 + 300 / 7, 1500 + 600 / 7], abs=0.005)  # cents
    with pytest.raises(ValueError, match=r"segment 'Nope' \(segments in accounts: SMB, Enterprise\)"):
        fc.forecast_arr(cur, segment="Nope")
    assert fc.forecast_table(cur, "logos", 1)["yhat"].tolist() == pytest.approx([3 + 2 / 7], abs=0.005)


# ------------------------------------------------------------------ baselines, by hand


def test_drift_point_and_interval_by_hand():
    res = fc.forecast(monthly([0, 2, 1, 3]), 2, "drift", nonnegative=False)
    # slope (3-0)/3 = 1; residuals of the changes [2,-1,2] around 1: [1,-2,1], sd = sqrt(3).
    assert res.frame["yhat"].tolist() == pytest.approx([4, 5])
    half1 = Z80 * math.sqrt(3) * math.sqrt(1 * (1 + 1 / 3))
    half2 = Z80 * math.sqrt(3) * math.sqrt(2 * (1 + 2 / 3))
    assert res.frame["yhat_upper"].tolist() == pytest.approx([4 + half1, 5 + half2])
    assert res.frame["yhat_lower"].tolist() == pytest.approx([4 - half1, 5 - half2])


def test_seasonal_naive_repeats_last_year_and_widens_each_year():
    pattern = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]
    y = pattern + [p + 12 for p in pattern]  # a year later every month is 12 higher
    res = fc.forecast(monthly(y), 13, "seasonal_naive")
    assert_well_formed(res, 13, pd.Timestamp("2022-12-01"))
    assert res.frame["yhat"].tolist() == pytest.approx([p + 12 for p in pattern] + [22])
    # Seasonal differences are all 12: RMS 12; year 2 is sqrt(2) wider.
    assert (res.frame["yhat_upper"] - res.frame["yhat"]).iloc[0] == pytest.approx(Z80 * 12)
    assert (res.frame["yhat_upper"] - res.frame["yhat"]).iloc[12] == pytest.approx(Z80 * 12 * math.sqrt(2))


@pytest.mark.parametrize("method", ["drift", "seasonal_naive"])
def test_baselines_never_negative_on_a_steep_fall(method):
    s = monthly(np.linspace(1000, 100, 30) + np.tile([0, 40, -40], 10))
    raw = fc.forecast(s, 24, method, nonnegative=False)
    assert (raw.frame["yhat_lower"] < 0).any()  # the unclipped forecast does go below zero
    res = fc.forecast(s, 24, method)
    assert_well_formed(res, 24, s.index[-1])
    assert (res.frame[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()
    assert "zero" in res.note


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(0, 1e7, allow_nan=False), min_size=1, max_size=40),
       horizon=st.integers(1, 24), method=st.sampled_from(["drift", "seasonal_naive"]))
def test_baselines_ordered_and_nonnegative_on_any_series(values, horizon, method):
    s = monthly(values)
    res = fc.forecast(s, horizon, method)
    assert_well_formed(res, horizon, s.index[-1])
    assert (res.frame[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()


# ------------------------------------------------------------------ short histories


@pytest.mark.parametrize("method", ["auto", "prophet", "seasonal_naive", "drift"])
def test_eight_months_fall_back_to_drift_and_say_so(method):
    s = noisy_trend(8)
    res = fc.forecast(s, 6, method)
    assert res.method == "drift" and res.requested == method
    assert_well_formed(res, 6, s.index[-1])
    assert "Only 8 months of history" in res.note and "drift" in res.note


@pytest.mark.slow
def test_eighteen_months_prophet_without_yearly_seasonality():
    s = noisy_trend(18)
    res = fc.forecast(s, 6, "prophet")
    assert res.method == "prophet"
    assert dict(res.settings)["yearly_seasonality"] is False
    assert "without yearly seasonality" in res.note
    assert_well_formed(res, 6, s.index[-1])
    # Close to the trend it was given (1000 + 20 t, next t = 18..23).
    assert res.frame["yhat"].tolist() == pytest.approx([1000 + 20 * t for t in range(18, 24)], rel=0.03)


def test_yearly_seasonality_order_grows_with_history():
    assert fc.prophet_params(18)["yearly_seasonality"] is False
    assert fc.prophet_params(30)["yearly_seasonality"] == fc.YEARLY_ORDER_SHORT
    assert fc.prophet_params(48)["yearly_seasonality"] == fc.YEARLY_ORDER_FULL
    assert fc.prophet_params(48)["interval_width"] == fc.INTERVAL
    assert fc.prophet_params(48)["mcmc_samples"] == 0


def test_bad_input_is_refused():
    s = noisy_trend(20)
    with pytest.raises(ValueError, match="missing months"):
        fc.forecast(s.drop(s.index[5]), 3, "drift")
    with pytest.raises(ValueError, match="horizon"):
        fc.forecast(s, 0, "drift")
    with pytest.raises(ValueError, match="method"):
        fc.forecast(s, 3, "arima")


# ------------------------------------------------------------------ Prophet


@pytest.mark.slow
def test_prophet_well_formed_deterministic_and_nonnegative():
    s = noisy_trend(40)
    a = fc.forecast(s, 12, "prophet", seed=3)
    b = fc.forecast(s, 12, "prophet", seed=3)
    assert_well_formed(a, 12, s.index[-1])
    pd.testing.assert_frame_equal(a.frame, b.frame)
    falling = monthly(np.linspace(1000, 50, 30))
    res = fc.forecast(falling, 24, "prophet")
    assert_well_formed(res, 24, falling.index[-1])
    assert (res.frame[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()
    assert res.frame["yhat"].iloc[-1] == 0  # the fitted line crossed zero: clipped
    assert "below zero were set to zero" in res.note


@pytest.mark.slow
def test_quarter_end_regressor_lifts_quarter_end_months():
    s = noisy_trend(40, qe_bump=300.0)
    found, why = fc.quarter_end_effect(s)
    assert found, why
    res = fc.forecast(s, 6, "prophet", quarter_end=None)  # detect
    assert res.quarter_end and "Quarter-end regressor added" in res.note
    f = res.frame.set_index("month")["yhat"]
    # History ends Apr 2024: forecast May..Oct; June and September carry the bump.
    assert f[pd.Timestamp("2024-06-01")] - f[pd.Timestamp("2024-05-01")] > 200
    assert f[pd.Timestamp("2024-09-01")] - f[pd.Timestamp("2024-10-01")] > 200


def test_quarter_end_test_ignores_a_plain_trend():
    found, why = fc.quarter_end_effect(noisy_trend(40))
    assert not found and "do not stand out" in why
    found, _ = fc.quarter_end_effect(noisy_trend(40, qe_bump=300.0))
    assert found


# ------------------------------------------------------------------ backtest


def test_cutoffs_every_three_months_over_two_years():
    assert fc.backtest_cutoffs(48) == [24, 27, 30, 33, 36, 39, 42, 45]
    # The first cutoffs would leave under 15 months of training: dropped.
    assert fc.backtest_cutoffs(30) == [15, 18, 21, 24, 27]
    assert fc.backtest_cutoffs(16) == []


def test_summary_mae_mape_coverage_by_hand():
    errors = pd.DataFrame({
        "method": ["drift"] * 3, "horizon": [3, 3, 3],
        "abs_error": [10.0, 20.0, 30.0], "ape": [10.0, np.nan, 30.0], "covered": [True, False, True]})
    s = fc.summarise(errors).iloc[0]
    assert (s["n"], s["mae"], s["mape"]) == (3, 20.0, 20.0)
    assert s["coverage"] == pytest.approx(200 / 3)


def test_backtest_on_a_linear_trend_drift_wins_baselines_only():
    s = monthly(100 + 5 * np.arange(48))
    bt = fc.backtest(s, methods=("seasonal_naive", "drift"))
    summ = bt.summary.set_index(["method", "horizon"])
    assert summ.loc[("drift", 3), "n"] == 8 and summ.loc[("drift", 6), "n"] == 7
    assert summ.loc[("drift", 12), "n"] == 5
    assert summ.loc[("drift", 12), "mae"] == pytest.approx(0, abs=1e-9)
    # Seasonal naive lags by a year of growth: 12 x 5 at every horizon up to 12.
    assert summ.loc[("seasonal_naive", 6), "mae"] == pytest.approx(60)
    assert summ.loc[("seasonal_naive", 6), "mape"] == pytest.approx(
        100 * np.mean([60 / (100 + 5 * (c + 5)) for c in [24, 27, 30, 33, 36, 39, 42]]))
    assert bt.best_method == "drift"
    assert bt.explanation.startswith("Drift wins on this data") and "8 cutoffs" in bt.explanation
    assert len(bt.cutoffs) == 8 and bt.cutoffs[0] == s.index[23]
    err = bt.errors[(bt.errors["method"] == "seasonal_naive") & (bt.errors["horizon"] == 3)].iloc[0]
    assert (err["month"], err["actual"], err["yhat"]) == (s.index[26], s.iloc[26], s.iloc[14])


@pytest.mark.slow
def test_backtest_with_prophet_drift_still_wins_on_a_pure_line():
    s = monthly(100 + 5 * np.arange(40))
    bt = fc.backtest(s)
    assert set(bt.summary["method"]) == {"prophet", "seasonal_naive", "drift"}
    assert bt.best_method == "drift"
    assert bt.summary.set_index(["method", "horizon"]).loc[("prophet", 3), "mae"] < 5  # sensible, not wild


def test_best_method_tie_goes_to_simpler_and_thin_evidence_to_drift():
    summ = pd.DataFrame({"method": ["prophet", "seasonal_naive", "drift"], "horizon": [3, 3, 3], "n": [8, 8, 8],
                         "mae": [10.0, 10.02, 12.0], "mape": [1.0, 1.0, 1.2], "coverage": [80.0, 70.0, 90.0]})
    assert fc.best_method(summ)[0] == "seasonal_naive"  # within 0.5% of Prophet: simpler wins
    assert fc.best_method(summ.assign(n=3))[0] == "drift"
    assert "Too few backtest points" in fc.best_method(summ.assign(n=3))[1]
    assert fc.best_method(fc.summarise(pd.DataFrame()))[0] == "drift"


def test_auto_on_a_line_uses_the_backtest_winner():
    res = fc.forecast(monthly(100 + 5 * np.arange(36)), 3, "auto", quarter_end=False)
    assert res.method == "drift" and "Drift wins on this data" in res.note
    assert res.frame["yhat"].tolist() == pytest.approx([280, 285, 290])


# ------------------------------------------------------------------ charts


def test_forecast_chart_band_runs_from_lower_to_upper():
    res = fc.forecast(noisy_trend(30), 6, "drift")
    spec = cf.forecast_chart(res, "arr").to_dict()
    areas = [layer for layer in spec["layer"] if (layer["mark"] if isinstance(layer["mark"], str)
                                                  else layer["mark"]["type"]) == "area"]
    assert len(areas) == 1
    enc = areas[0]["encoding"]
    assert enc["y"]["field"] == "lower" and enc["y2"]["field"] == "upper"
    band = pd.DataFrame(spec["datasets"][areas[0]["data"]["name"]])
    assert len(band) == 6
    assert (band["lower"] <= band["upper"]).all() and (band["lower"] < band["upper"]).any()
    assert band["lower"].tolist() == pytest.approx(res.frame["yhat_lower"].tolist())


def test_backtest_chart_and_table():
    bt = fc.backtest(monthly(100 + 5 * np.arange(48)), methods=("seasonal_naive", "drift"))
    spec = cf.backtest_chart(bt, "arr").to_dict()
    assert spec["facet"]["column"]["field"] == "horizon"
    assert spec["spec"]["layer"][0]["encoding"]["y"]["field"] == "abs_error"
    table = cf.backtest_table(bt)
    assert list(table.columns) == ["method", "months ahead", "points", "MAE", "MAPE %", "coverage of 80% interval %"]
    assert len(table) == 6


# ------------------------------------------------------------------ calibrated bands


def test_interval_scale_by_hand():
    # Half-bands of 10 each side; misses of 0, 5, -10, 20, 40 -> ratios 0, .5, 1, 2, 4.
    errors = pd.DataFrame({"method": "drift", "yhat": 100.0, "yhat_lower": 90.0, "yhat_upper": 110.0,
                           "actual": [100.0, 105.0, 90.0, 120.0, 140.0]})
    # 80% quantile (linear) of [0, .5, 1, 2, 4] = 2 + 0.2 * (4 - 2) = 2.4
    assert fc.interval_scale(errors, "drift") == pytest.approx(2.4)
    # Bands are never narrowed.
    assert fc.interval_scale(errors.assign(actual=100.0), "drift") == 1.0
    assert fc.interval_scale(errors.head(3), "drift") == 1.0  # too few points


def test_auto_widens_the_winners_band_to_the_backtest_errors():
    # Accelerating growth: drift's band (from one-step changes) misses how far behind its line falls.
    t = np.arange(48)
    s = monthly(1000 + 2 * t ** 2 + np.tile([3, -3], 24))
    bt = fc.backtest(s, methods=("seasonal_naive", "drift"))
    method, k = bt.choice("auto")
    assert method == bt.best_method and k == bt.scale_for(method) and k > 1
    raw = fc.forecast(s, 6, method)
    cal = fc.forecast(s, 6, method, interval_scale=k)
    assert (cal.frame["yhat"] == raw.frame["yhat"]).all()
    assert (cal.frame["yhat_upper"] - cal.frame["yhat"]).to_numpy() == pytest.approx(
        k * (raw.frame["yhat_upper"] - raw.frame["yhat"]).to_numpy())
    assert "Band widened" in cal.note
    assert "widened" in str(cf.forecast_chart(cal, "arr").to_dict()["title"]["subtitle"])
    # A scale for another method does not apply to a short-history fallback.
    short = fc.forecast(s.iloc[:8], 3, "prophet", interval_scale=5.0)
    assert short.method == "drift" and "Band widened" not in short.note


def _result(values_hist: float, yhat: float, lo: float, hi: float) -> fc.ForecastResult:
    hist = pd.Series(values_hist, index=pd.date_range("2026-01-01", "2026-10-01", freq="MS"))
    months = pd.date_range("2026-11-01", "2027-03-01", freq="MS")
    frame = pd.DataFrame({"month": months, "yhat": yhat, "yhat_lower": lo, "yhat_upper": hi, "method": "drift"})
    return fc.ForecastResult(frame=frame, history=hist, method="drift", requested="drift", note="")


def test_forecast_by_fiscal_quarter_flows_and_stocks():
    flow = fc.by_period(_result(10, 20, 15, 25), "new_arr").set_index("period")
    # 2026-Q4: October actual (10) + November and December forecast (20 each); bounds add up
    assert flow.loc["2026-Q4"].tolist() == [1, 2, 50, 40, 60]
    assert flow.loc["2027-Q1"].tolist() == [0, 3, 60, 45, 75]
    stock = fc.by_period(_result(10, 20, 15, 25), "arr").set_index("period")
    assert stock.loc["2026-Q4", ["forecast", "p10", "p90"]].tolist() == [20, 15, 25]  # December's value
    feb = fc.by_period(_result(10, 20, 15, 25), "new_arr", fiscal_start=2)
    assert feb["period"].tolist() == ["FY2027-Q4", "FY2028-Q1 (Feb-Mar)"]
    assert feb["forecast"].tolist() == [60, 40]


@pytest.mark.slow
def test_prophet_bands_are_reproducible_across_concurrent_sessions():
    """Two sessions (threads) forecasting at once get the same band as one forecasting alone."""
    import threading

    months = pd.date_range("2022-01-01", periods=36, freq="MS")
    series = pd.Series(1000 + 20 * np.arange(36) + 50 * np.sin(np.arange(36)), index=months)
    alone = fc.forecast(series, 6, method="prophet", seed=3).frame[["yhat_lower", "yhat_upper"]].to_numpy()
    out: list[np.ndarray] = []

    def session() -> None:
        out.append(fc.forecast(series, 6, method="prophet", seed=3).frame[["yhat_lower", "yhat_upper"]].to_numpy())

    threads = [threading.Thread(target=session) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(out) == 6 and all(np.array_equal(o, alone) for o in out)
