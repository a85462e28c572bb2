"""Top-down monthly forecasts: ARR, new ARR, churned ARR and logos, per segment and in total.

The only module in the project that imports prophet (lazily, on the first Prophet
fit, so the baselines and the history queries stay cheap to import).

Three methods, all giving an 80% interval (``INTERVAL``):

- ``prophet``: Prophet with explicit monthly settings (``prophet_params``), yearly
  seasonality reduced or switched off on short histories, an optional quarter-end
  regressor, LBFGS optimisation (fast, deterministic for a given seed).
- ``seasonal_naive``: the same month a year earlier.
- ``drift``: a straight line from the first to the last observation.

``auto`` picks the method with the lowest mean absolute error in a rolling-origin
backtest of the series itself (``backtest``), falling back to drift when the
history is too short to compare methods, and widens the winner's band by the factor
that makes it hold 80% of the backtest's actual values (``interval_scale``; Prophet's
own bands are far too narrow on smooth stocks like ARR). Under ``MIN_MODEL_MONTHS`` months no
model is fitted at all: drift, and the note says so. Quantities that cannot be
negative are clipped at zero. See docs/forecasting.md.

Typical calls (the page and the CLI use these):

    bt = backtest_quantity(cur, "arr", "SMB")            # once per data version
    method, scale = bt.choice("auto")                    # or "prophet" / "seasonal_naive" / "drift"
    fc = forecast_quantity(cur, "arr", "SMB", 12, method, scale)
    fc.frame   # month, yhat, yhat_lower, yhat_upper, method
    fc.note    # plain words: what was done and why
    forecast_arr(cur, horizon_months=12, segment=None)   # the CLI's table
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from app.data import store
from app.rules.segments import segments  # noqa: F401  (the one segment list, for pages)

# Prophet's plot module logs "Importing plotly failed" at import (plots are not used here): that one
# logger is silenced. cmdstanpy logs every optimisation run at INFO: it is raised to WARNING, so
# its warnings and errors still reach the log. Prophet's own warning about yearly seasonality on
# < 2 years of data is handled by choosing the seasonality order ourselves (and saying so in the note).
logging.getLogger("prophet.plot").disabled = True
logging.getLogger("prophet").setLevel(logging.ERROR)
logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
# Prophet samples its interval from numpy's global generator: concurrent sessions (threads) would
# interleave their draws, so the seeding and the sampling happen under one lock (a predict takes
# tens of milliseconds), and a seeded forecast gives the same band whatever else runs.
_GLOBAL_RNG_LOCK = threading.Lock()

# ----------------------------------------------------------------- parameters

METHODS = ("prophet", "seasonal_naive", "drift")
METHOD_LABELS = {"prophet": "Prophet", "seasonal_naive": "seasonal naive", "drift": "drift"}
# Simpler wins a tie: fewer moving parts, easier to explain.
_SIMPLICITY = {"drift": 0, "seasonal_naive": 1, "prophet": 2}

# Central interval level for every method (Prophet's interval_width too), so
# coverage figures in the backtest compare like with like. 80% is Prophet's
# default and reads as "P10 to P90".
INTERVAL = 0.80
_Z = NormalDist().inv_cdf(0.5 + INTERVAL / 2)  # 1.2816 for 80%

SEASON = 12  # months in a year
# Under a year of data nothing seasonal can be learnt and a fitted trend is
# mostly noise: every method falls back to drift.
MIN_MODEL_MONTHS = 12
# Yearly seasonality in Prophet by history length: off under 2 years (one cycle
# cannot separate season from trend), a low Fourier order for 2-3 years, more
# shape from 3 years (5 harmonics can follow a quarter-end pattern).
YEARLY_ORDER_SHORT = 3   # 24-35 months
YEARLY_ORDER_FULL = 5    # 36+ months
MAX_HORIZON = 36

# Backtest design: a cutoff every STEP months over the last SPAN months,
# errors measured exactly h months after each cutoff for each horizon h.
BACKTEST_HORIZONS = (3, 6, 12)
BACKTEST_STEP = 3
BACKTEST_SPAN = 24
# The earliest cutoff keeps at least a year plus a quarter of training data, so
# that no method falls back inside the backtest and seasonal naive has residuals
# for its interval.
BACKTEST_MIN_TRAIN = 15
# Fewer error points than this at the shortest horizon: too little evidence to
# pick a winner; auto uses drift.
BACKTEST_MIN_POINTS = 4

# Quarter-end test (flows only): the quarter-end months stand out from their
# neighbours by at least QE_MIN_LIFT of the series mean, with a t statistic of
# at least QE_MIN_T, over at least QE_MIN_QUARTERS quarter ends.
QE_MIN_LIFT = 0.05
QE_MIN_T = 2.0
QE_MIN_QUARTERS = 4
QUARTER_END_MONTHS = (3, 6, 9, 12)

# Quantities, their definitions (for help text) and whether they are flows
# (per-month amounts: quarter-end spikes possible) or stocks (month-end levels).
QUANTITIES: dict[str, dict[str, Any]] = {
    "arr": {"label": "ARR", "flow": False, "money": True,
            "definition": "ARR at month end: the summed ARR of each account's line items active on the "
                          "month's last day."},
    "new_arr": {"label": "New ARR", "flow": True, "money": True,
                "definition": "ARR added in the month by accounts at zero the month before: new logos plus "
                              "reactivations (expansion of existing accounts not included)."},
    "churned_arr": {"label": "Churned ARR", "flow": True, "money": True,
                    "definition": "ARR lost in the month by accounts that went to zero: their ARR the month "
                                  "before (contraction of continuing accounts not included)."},
    "logos": {"label": "Logos", "flow": False, "money": False,
              "definition": "Accounts with ARR above zero at month end."},
    "new_logos": {"label": "New logos", "flow": True, "money": False,
                  "definition": "Accounts with ARR for the first time in the month (reactivations not "
                                "included); the capacity planner's demand."},
}


def prophet_params(n_months: int, interval: float = INTERVAL) -> dict[str, Any]:
    """Prophet's constructor arguments for a monthly series of n_months points (all explicit)."""
    if n_months >= 36:
        yearly: bool | int = YEARLY_ORDER_FULL
    elif n_months >= 24:
        yearly = YEARLY_ORDER_SHORT
    else:
        yearly = False
    return {
        # ARR and logo counts grow roughly linearly over a few years; logistic
        # growth would need a capacity (market size) nobody can give us.
        "growth": "linear",
        # One potential trend change per quarter in the first 80% of the history
        # (Prophet's default of 25 is far too many for 48 monthly points).
        "n_changepoints": max(1, int(n_months * 0.8) // 3),
        "changepoint_range": 0.8,
        # Prophet's default trend flexibility; the backtest is the check on it.
        "changepoint_prior_scale": 0.05,
        "yearly_seasonality": yearly,
        "seasonality_prior_scale": 10.0,
        # Monthly points: weekly and daily cycles do not exist in the data.
        "weekly_seasonality": False,
        "daily_seasonality": False,
        # Additive: seasonal swings in CS data are modest next to the level.
        "seasonality_mode": "additive",
        "interval_width": interval,
        # ~200 draws give stable 80% bands at a fraction of the default 1000's cost.
        "uncertainty_samples": 200,
        # Never MCMC: minutes per fit.
        "mcmc_samples": 0,
    }


# ----------------------------------------------------------------- results


@dataclass(frozen=True)
class ForecastResult:
    """A forecast and what was done to make it.

    frame: month (month start), yhat, yhat_lower, yhat_upper, method (the method used).
    history: the observed series (month-start index).
    requested: the method asked for ("auto" included); method: the one used.
    note: plain words on the method, its settings and any fallback.
    """

    frame: pd.DataFrame
    history: pd.Series
    method: str
    requested: str
    note: str
    interval: float = INTERVAL
    quarter_end: bool = False
    settings: tuple[tuple[str, Any], ...] = ()
    fit_seconds: float = 0.0


@dataclass(frozen=True)
class Backtest:
    """Rolling-origin backtest of one series.

    summary: method, horizon, n (error points), mae, mape (%), coverage (% of actuals
    inside the 80% interval), mean_mae (the method's MAE averaged over horizons).
    errors: one row per method, cutoff and horizon: cutoff (last training month), month,
    horizon, actual, yhat, yhat_lower, yhat_upper, error (yhat - actual), abs_error,
    ape (%; NaN when actual is 0), covered.
    """

    summary: pd.DataFrame
    errors: pd.DataFrame
    cutoffs: tuple[pd.Timestamp, ...]
    best_method: str
    explanation: str
    n_history: int
    seconds: dict[str, float] = field(default_factory=dict)
    # (method, factor): widen that method's band by factor to hold INTERVAL of the backtest's actuals.
    scales: tuple[tuple[str, float], ...] = ()

    def scale_for(self, method: str) -> float:
        return dict(self.scales).get(method, 1.0)

    def choice(self, requested: str = "auto") -> tuple[str, float]:
        """(method, interval_scale) for a page's method switch: "auto" = the backtest winner."""
        method = self.best_method if requested == "auto" else requested
        return method, self.scale_for(method)


# ----------------------------------------------------------------- history from the store

def history_frame(cur: store.Cursor, segment: str | None = None, region: str | None = None,
                  csm_id: str | None = None) -> pd.DataFrame:
    """Monthly values of every quantity in QUANTITIES (month-start index) for a segment or all accounts
    (or the accounts of one region or CSM: the many-group fan-out, app/scale/fanout.py).

    From the account's current segment; months run from the segment's first month with
    ARR to the as-of month, gaps filled with zero. The first month's flows are left
    out (NaN): relative to a month before the data starts, every account looks new.
    """
    from app.analytics import metrics

    cols = list(QUANTITIES)
    # the bridge's flows, aggregated once (app/analytics/metrics.py)
    b = metrics.arr_bridge(cur, segment, region, csm_id)
    if b.empty:
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], freq="MS", name="month"), dtype=float)
    out = pd.DataFrame({"arr": b["end_arr"], "new_arr": b["new"] + b["reactivation"], "churned_arr": b["churn"],
                        "logos": b["end_logos"], "new_logos": b["new_logos"]}).astype(float)
    out.index = pd.DatetimeIndex(pd.to_datetime(b["month"]), freq="MS", name="month")
    out.iloc[0, [cols.index(q) for q in cols if QUANTITIES[q]["flow"]]] = np.nan
    return out


def history(cur: store.Cursor, quantity: str, segment: str | None = None) -> pd.Series:
    """One monthly series (month-start index) of quantity in QUANTITIES; flows start one month later."""
    _check_quantity(quantity)
    s = history_frame(cur, segment)[quantity].dropna()
    s.name = quantity
    if len(s):
        s.index.freq = "MS"
    return s


def _check_quantity(quantity: str) -> None:
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {', '.join(QUANTITIES)}, not {quantity!r}")


# ----------------------------------------------------------------- helpers


def _as_monthly(series: pd.Series) -> pd.Series:
    """Validate and normalise: month-start DatetimeIndex, sorted, no gaps, finite values."""
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ValueError("the series needs a DatetimeIndex of months")
    s = series.astype(float).sort_index()
    idx = s.index.to_period("M").to_timestamp()
    if idx.has_duplicates:
        raise ValueError("the series has two values for one month")
    s.index = idx
    if len(s) and len(pd.date_range(idx[0], idx[-1], freq="MS")) != len(s):
        raise ValueError("the series has missing months; fill them before forecasting")
    if not np.isfinite(s.to_numpy()).all():
        raise ValueError("the series has missing or infinite values")
    if len(s):
        s.index.freq = "MS"
    return s


def _future_months(last: pd.Timestamp, horizon: int) -> pd.DatetimeIndex:
    return pd.date_range(last + pd.offsets.MonthBegin(1), periods=horizon, freq="MS", name="month")


def _frame(months: pd.DatetimeIndex, yhat, lower, upper, method: str, nonnegative: bool) -> pd.DataFrame:
    yhat, lower, upper = (np.asarray(a, dtype=float) for a in (yhat, lower, upper))
    # An interval must hold its point forecast (Prophet's sampled band can, rarely, miss it).
    lower, upper = np.minimum(lower, yhat), np.maximum(upper, yhat)
    if nonnegative:
        yhat, lower, upper = (np.clip(a, 0.0, None) for a in (yhat, lower, upper))
    return pd.DataFrame({"month": months, "yhat": yhat, "yhat_lower": lower, "yhat_upper": upper,
                         "method": method})


def _n_months(n: int) -> str:
    return f"{n} month" + ("" if n == 1 else "s")


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


# ----------------------------------------------------------------- baselines


def _drift(y: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Line from the first to the last point; sd grows as sqrt(h (1 + h / (T-1))) (Hyndman, fpp3 5.5)."""
    t = len(y)
    h = np.arange(1, horizon + 1, dtype=float)
    if t < 2:
        yhat = np.full(horizon, y[-1])
        return yhat, yhat, yhat
    slope = (y[-1] - y[0]) / (t - 1)
    yhat = y[-1] + h * slope
    resid = np.diff(y) - slope
    sigma = float(np.std(resid, ddof=1)) if t >= 3 else 0.0
    half = _Z * sigma * np.sqrt(h * (1 + h / (t - 1)))
    return yhat, yhat - half, yhat + half


def _seasonal_naive(y: np.ndarray, horizon: int, m: int = SEASON) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same month last year; sd grows as sqrt(k + 1) with k whole years ahead (fpp3 5.5).

    sigma is the root mean square of y_t - y_{t-m} (bias included: on a growing series
    seasonal naive lags by a year of growth, and its interval should say so).
    """
    t = len(y)
    h = np.arange(1, horizon + 1)
    k = (h - 1) // m
    yhat = y[t - m + (h - 1) % m]
    resid = y[m:] - y[:-m]
    sigma = float(np.sqrt(np.mean(resid ** 2))) if len(resid) else 0.0
    half = _Z * sigma * np.sqrt(k + 1)
    return yhat, yhat - half, yhat + half


# ----------------------------------------------------------------- quarter-end effect


def quarter_end_effect(series: pd.Series) -> tuple[bool, str]:
    """Do quarter-end months (Mar, Jun, Sep, Dec) stand out? Meant for flows (new / churned ARR).

    Each inner month's bump d_t = y_t - (y_{t-1} + y_{t+1}) / 2 is compared between
    quarter-end and other months (Welch t statistic). An effect needs at least
    QE_MIN_QUARTERS quarter ends, a lift of QE_MIN_LIFT of the series mean and t >= QE_MIN_T.
    """
    s = _as_monthly(series)
    y = s.to_numpy()
    if len(y) < 3:
        return False, "too short to test for a quarter-end effect"
    d = y[1:-1] - (y[:-2] + y[2:]) / 2
    qe = np.isin(s.index.month[1:-1], QUARTER_END_MONTHS)
    a, b = d[qe], d[~qe]
    if len(a) < QE_MIN_QUARTERS or len(b) < 2:
        return False, f"fewer than {QE_MIN_QUARTERS} quarter ends with both neighbours: no quarter-end test"
    diff = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    t = diff / se if se > 0 else (math.inf if diff > 0 else 0.0)
    level = float(np.mean(np.abs(y))) or 1.0
    lift = diff / level
    found = t >= QE_MIN_T and lift >= QE_MIN_LIFT
    words = "stand out" if found else "do not stand out"
    return found, (f"quarter-end months {words}: {lift:+.0%} of the monthly mean above their neighbours "
                   f"(t = {t:.1f}, {len(a)} quarter ends; needs >= {QE_MIN_LIFT:.0%} and t >= {QE_MIN_T:g})")


def _qe_flag(months: pd.DatetimeIndex) -> np.ndarray:
    return np.isin(months.month, QUARTER_END_MONTHS).astype(float)


# ----------------------------------------------------------------- Prophet

_PROPHET = None


def _prophet_class():
    """Import Prophet once, on first use (0.7 s), with its noise silenced."""
    global _PROPHET
    if _PROPHET is None:
        from cmdstanpy.utils import get_logger
        from prophet import Prophet

        # prophet.forecaster sets its logger to INFO at import, and cmdstanpy sets its own to DEBUG (with an
        # INFO handler) the first time it is asked for it: ask first, then set both levels.
        logging.getLogger("prophet").setLevel(logging.ERROR)
        get_logger().setLevel(logging.WARNING)
        _PROPHET = Prophet
    return _PROPHET


def _prophet(s: pd.Series, horizon: int, quarter_end: bool, seed: int) -> tuple[np.ndarray, ...]:
    model = _prophet_class()(**prophet_params(len(s)))
    df = pd.DataFrame({"ds": s.index, "y": s.to_numpy()})
    future = pd.DataFrame({"ds": _future_months(s.index[-1], horizon)})
    if quarter_end:
        # Additive 0/1 bump for Mar/Jun/Sep/Dec, prior as wide as the seasonality's.
        model.add_regressor("quarter_end", prior_scale=10.0, standardize=False)
        df["quarter_end"] = _qe_flag(pd.DatetimeIndex(df["ds"]))
        future["quarter_end"] = _qe_flag(pd.DatetimeIndex(future["ds"]))
    model.fit(df, algorithm="LBFGS", seed=seed)
    with _GLOBAL_RNG_LOCK:  # see _GLOBAL_RNG_LOCK
        np.random.seed(seed)
        pred = model.predict(future)
    return pred["yhat"].to_numpy(), pred["yhat_lower"].to_numpy(), pred["yhat_upper"].to_numpy()


# ----------------------------------------------------------------- forecast


def forecast(series: pd.Series, horizon: int, method: str = "auto", nonnegative: bool = True, seed: int = 0,
             quarter_end: bool | None = False, interval_scale: float | None = None) -> ForecastResult:
    """Forecast a monthly series horizon months ahead with an 80% interval.

    Parameters
    ----------
    series : monthly values on a month-start (or any in-month) DatetimeIndex, no gaps.
    horizon : months ahead, 1..MAX_HORIZON.
    method : "auto" (backtest winner), "prophet", "seasonal_naive" or "drift".
    nonnegative : clip forecasts and bounds at zero (ARR, logos and flows cannot go negative).
    seed : fixes Prophet's optimiser and interval sampling.
    quarter_end : add Prophet's quarter-end regressor: True, False, or None to add it
        when ``quarter_end_effect`` finds one (meant for flows; a stock's quarter-end
        steps are not spikes).
    interval_scale : widen the band about yhat by this factor (>= 1; from
        ``Backtest.scale_for``). None: 1 for a named method; with "auto", the factor
        the backtest found for the winner (calibrated band).
    """
    if method not in ("auto", *METHODS):
        raise ValueError(f"method must be auto or one of {', '.join(METHODS)}, not {method!r}")
    if not 1 <= int(horizon) <= MAX_HORIZON:
        raise ValueError(f"horizon must be 1 to {MAX_HORIZON} months, not {horizon}")
    horizon = int(horizon)
    s = _as_monthly(series)
    n = len(s)
    if n == 0:
        raise ValueError("no history to forecast from")
    notes: list[str] = []
    used, interval_scale = _choose_method(s, method, nonnegative, seed, quarter_end, interval_scale, notes)
    settings: dict[str, Any] = {"interval": INTERVAL, "history_months": n}
    t0 = time.perf_counter()
    months = _future_months(s.index[-1], horizon)
    qe = False
    if used == "drift":
        yhat, lo, hi = _drift(s.to_numpy(), horizon)
        if n < 3:
            notes.append("Too few months to estimate an interval: the band is the line itself.")
    elif used == "seasonal_naive":
        yhat, lo, hi = _seasonal_naive(s.to_numpy(), horizon)
    else:
        yhat, lo, hi, qe = _fit_prophet(s, horizon, quarter_end, seed, settings, notes)
    fit_seconds = time.perf_counter() - t0
    # A scale belongs to the method it was measured for, not to a short-history fallback.
    applies = method == "auto" or used == method
    k = float(interval_scale) if interval_scale is not None and applies else 1.0
    if k > 1.0:
        yhat, lo, hi = _widen(yhat, lo, hi, k)
        notes.append(f"Band widened {k:.1f}x so that it would have held {INTERVAL:.0%} of the actual values in the "
                     "backtest (the method's own band held fewer).")
        settings["interval_scale"] = round(k, 3)
    frame = _frame(months, yhat, lo, hi, used, nonnegative)
    if nonnegative and (np.asarray(yhat) < 0).any():
        notes.append("Forecast values below zero were set to zero: this quantity cannot be negative.")
    elif nonnegative and (np.asarray(lo) < 0).any():
        notes.append("The interval's lower bound was cut at zero: this quantity cannot be negative.")
    head = {"prophet": "Prophet (trend, seasonality and change points fitted to the history)",
            "seasonal_naive": "Seasonal naive: each month repeats the same month a year earlier",
            "drift": "Drift: the average monthly change over the history, continued"}[used]
    note = " ".join([f"{head}; shaded band: {INTERVAL:.0%} interval.", *notes])
    return ForecastResult(frame=frame, history=s, method=used, requested=method, note=note,
                          quarter_end=qe, settings=tuple(settings.items()), fit_seconds=fit_seconds)


def _choose_method(s: pd.Series, method: str, nonnegative: bool, seed: int, quarter_end: bool | None,
                   interval_scale: float | None, notes: list[str]) -> tuple[str, float | None]:
    """The method forecast() uses (the backtest's winner for "auto"; drift on a short history) and the band
    scale; appends what it decided to notes."""
    n = len(s)
    used = method
    if method == "auto":
        if n < MIN_MODEL_MONTHS:
            used = "drift"
        else:
            bt = backtest(s, nonnegative=nonnegative, seed=seed, quarter_end=quarter_end)
            used = bt.best_method
            notes.append(bt.explanation)
            if interval_scale is None:
                interval_scale = bt.scale_for(used)
    if n < MIN_MODEL_MONTHS and used != "drift":
        notes.append(f"Only {_n_months(n)} of history (fewer than {MIN_MODEL_MONTHS}): no model is fitted and "
                     f"{METHOD_LABELS[used]} cannot be used; the forecast is a straight line through the first "
                     f"and last months (drift).")
        used = "drift"
    elif n < MIN_MODEL_MONTHS:
        notes.append(f"Only {_n_months(n)} of history (fewer than {MIN_MODEL_MONTHS}): no model is fitted; the "
                     f"forecast is a straight line through the first and last months (drift).")
    return used, interval_scale


def _fit_prophet(s: pd.Series, horizon: int, quarter_end: bool | None, seed: int, settings: dict[str, Any],
                 notes: list[str]) -> tuple[Any, Any, Any, bool]:
    """Prophet's yhat, lower and upper bound, and whether the quarter-end regressor was added; records its
    settings and says in notes which seasonality and regressor it used and why."""
    n = len(s)
    if quarter_end is None:
        qe, why = quarter_end_effect(s)
        notes.append(f"Quarter-end regressor {'added' if qe else 'not added'}: {why}.")
    else:
        qe = bool(quarter_end)
    params = prophet_params(n)
    settings.update({k: params[k] for k in ("yearly_seasonality", "n_changepoints", "changepoint_prior_scale",
                                             "uncertainty_samples")})
    settings["quarter_end_regressor"] = qe
    yearly = params["yearly_seasonality"]
    if yearly is False:
        notes.append(f"Prophet without yearly seasonality: {_n_months(n)} of history is under 24, too "
                     "little to tell a yearly pattern from trend.")
    elif yearly == YEARLY_ORDER_SHORT:
        notes.append(f"Prophet with a low-order yearly seasonality (Fourier order {yearly}): "
                     f"{_n_months(n)} of history is under 36.")
    yhat, lo, hi = _prophet(s, horizon, qe, seed)
    return yhat, lo, hi, qe


def _widen(yhat: Any, lo: Any, hi: Any, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band about yhat widened k times (the backtest's calibration factor)."""
    yhat, lo, hi = (np.asarray(a, dtype=float) for a in (yhat, lo, hi))
    return yhat, yhat - k * (yhat - lo), yhat + k * (hi - yhat)


# ----------------------------------------------------------------- backtest


def backtest_cutoffs(n: int, horizons: Sequence[int] = BACKTEST_HORIZONS, step: int = BACKTEST_STEP,
                     span_months: int = BACKTEST_SPAN, min_train: int = BACKTEST_MIN_TRAIN) -> list[int]:
    """Training lengths c (train = first c points) for a series of n points.

    A cutoff every step months, the first span_months before the end, the last leaving
    at least min(horizons) months to check; none with fewer than min_train points.
    """
    first = n - span_months
    last = n - min(horizons)
    return [c for c in range(first, last + 1, step) if c >= min_train]


def backtest(series: pd.Series, horizons: Sequence[int] = BACKTEST_HORIZONS, step: int = BACKTEST_STEP,
             span_months: int = BACKTEST_SPAN, methods: Sequence[str] = METHODS, nonnegative: bool = True,
             seed: int = 0, quarter_end: bool | None = False) -> Backtest:
    """Rolling-origin backtest: at each cutoff fit on the past, forecast, compare h months later.

    One fit per method and cutoff covers every horizon. Each method runs with the
    same rules as ``forecast`` (so Prophet's seasonality order follows the training length).
    """
    s = _as_monthly(series)
    horizons = tuple(sorted(int(h) for h in horizons))
    cuts = backtest_cutoffs(len(s), horizons, step, span_months)
    rows = []
    seconds = {m: 0.0 for m in methods}
    for c in cuts:
        train = s.iloc[:c]
        hs = [h for h in horizons if c + h <= len(s)]
        for m in methods:
            t0 = time.perf_counter()
            fc = forecast(train, max(hs), m, nonnegative=nonnegative, seed=seed, quarter_end=quarter_end)
            seconds[m] += time.perf_counter() - t0
            for h in hs:
                f = fc.frame.iloc[h - 1]
                actual = float(s.iloc[c + h - 1])
                rows.append({"method": m, "cutoff": s.index[c - 1], "month": f["month"], "horizon": h,
                             "actual": actual, "yhat": f["yhat"], "yhat_lower": f["yhat_lower"],
                             "yhat_upper": f["yhat_upper"]})
    errors = pd.DataFrame(rows, columns=["method", "cutoff", "month", "horizon", "actual", "yhat", "yhat_lower",
                                         "yhat_upper"])
    errors["error"] = errors["yhat"] - errors["actual"]
    errors["abs_error"] = errors["error"].abs()
    errors["ape"] = np.where(errors["actual"] != 0,
                             100 * errors["abs_error"] / errors["actual"].abs().where(errors["actual"] != 0), np.nan)
    errors["covered"] = (errors["actual"] >= errors["yhat_lower"]) & (errors["actual"] <= errors["yhat_upper"])
    summary = summarise(errors)
    best, why = best_method(summary, n_cutoffs=len(cuts), step=step, span_months=span_months)
    scales = tuple((m, interval_scale(errors, m)) for m in methods)
    widen = dict(scales).get(best, 1.0)
    if widen > 1.0 and "wins on this data" in why:  # say that the band drawn is not the raw one
        why += (f" The band drawn is that interval widened {widen:.1f}x, so that it would have held "
                f"{INTERVAL:.0%} of the backtest's actual values.")
    return Backtest(summary=summary, errors=errors, cutoffs=tuple(s.index[c - 1] for c in cuts), best_method=best,
                    explanation=why, n_history=len(s), seconds=seconds, scales=scales)


def interval_scale(errors: pd.DataFrame, method: str, level: float = INTERVAL) -> float:
    """The factor (>= 1) by which method's band must widen to hold `level` of the backtest's actuals.

    Each backtest point's miss in units of its own half-band (the upper half when the
    actual came in above yhat, the lower half when below); the factor is the level-quantile
    of those, at least 1: bands are widened, never narrowed. Points with a zero-width half
    are left out; fewer than BACKTEST_MIN_POINTS points: 1.
    """
    e = errors[errors["method"] == method]
    miss = (e["actual"] - e["yhat"]).to_numpy(dtype=float)
    half = np.where(miss >= 0, e["yhat_upper"] - e["yhat"], e["yhat"] - e["yhat_lower"]).astype(float)
    ok = half > 0
    if ok.sum() < BACKTEST_MIN_POINTS:
        return 1.0
    ratio = np.abs(miss[ok]) / half[ok]
    return max(1.0, float(np.quantile(ratio, level)))


def summarise(errors: pd.DataFrame) -> pd.DataFrame:
    """MAE, MAPE (%, months with actual 0 left out) and 80% interval coverage (%) per method and horizon."""
    cols = ["method", "horizon", "n", "mae", "mape", "coverage", "mean_mae"]
    if errors.empty:
        return pd.DataFrame(columns=cols)
    g = errors.groupby(["method", "horizon"], sort=True)
    out = g.agg(n=("abs_error", "size"), mae=("abs_error", "mean"), mape=("ape", "mean"),
                coverage=("covered", "mean")).reset_index()
    out["coverage"] = 100 * out["coverage"]
    out["mean_mae"] = out.groupby("method")["mae"].transform("mean")
    return out[cols]


def best_method(summary: pd.DataFrame, n_cutoffs: int | None = None, step: int = BACKTEST_STEP,
                span_months: int = BACKTEST_SPAN) -> tuple[str, str]:
    """The method with the lowest MAE averaged over horizons, and why, in plain words.

    Each horizon counts equally. Ties (within 0.5%) go to the simpler method. With fewer
    than BACKTEST_MIN_POINTS errors at the shortest horizon: drift, with that reason.
    """
    if summary.empty:
        return "drift", ("Too little history to backtest (the first cutoff needs "
                         f"{BACKTEST_MIN_TRAIN} months of training data): using drift, the simplest method.")
    shortest = summary["horizon"].min()
    if summary.loc[summary["horizon"] == shortest, "n"].min() < BACKTEST_MIN_POINTS:
        return "drift", (f"Too few backtest points (under {BACKTEST_MIN_POINTS} at {shortest} months ahead) to "
                         "tell methods apart: using drift, the simplest method.")
    # Only horizons every method was scored on, so averages compare like with like.
    counts = summary.groupby("horizon")["method"].nunique()
    hs = counts[counts == summary["method"].nunique()].index
    per = summary[summary["horizon"].isin(hs)].groupby("method").agg(mae=("mae", "mean"), cov=("coverage", "mean"))
    per["simple"] = [_SIMPLICITY.get(m, 9) for m in per.index]
    low = per["mae"].min()
    tied = per[per["mae"] <= low * 1.005 + 1e-12]
    best = tied.sort_values("simple").index[0]
    others = per.drop(index=best).sort_values("mae")
    hs_words = ", ".join(str(h) for h in hs) + "-month" if len(hs) > 1 else f"{hs[0]}-month"
    cut_words = (f" at {n_cutoffs} cutoffs, one every {step} months over the last {span_months} months"
                 if n_cutoffs else "")
    vs = "; ".join(f"{METHOD_LABELS.get(m, m)} {_fmt(r.mae)}" for m, r in others.iterrows())
    lead = ""
    if len(others):
        ratio = others["mae"].iloc[0] / per.loc[best, "mae"] if per.loc[best, "mae"] > 0 else math.inf
        lead = (" (a clear margin)" if ratio >= 1.2 else " (a narrow margin: the methods are close)"
                if ratio < 1.05 else "")
    text = (f"{METHOD_LABELS.get(best, best).capitalize()} wins on this data{lead}: mean absolute error "
            f"{_fmt(per.loc[best, 'mae'])} over {hs_words} horizons{cut_words}"
            + (f", against {vs}" if vs else "")
            + f". In the backtest its raw {INTERVAL:.0%} interval held the actual value "
            f"{'only ' if per.loc[best, 'cov'] < 100 * INTERVAL - 5 else ''}{per.loc[best, 'cov']:.0f}% of the time.")
    return str(best), text


# ----------------------------------------------------------------- store-level entry points


def backtest_quantity(cur: store.Cursor, quantity: str, segment: str | None = None, seed: int = 0) -> Backtest:
    """Backtest every method on one stored series (cache it per data version: it fits Prophet ~8 times)."""
    _check_quantity(quantity)
    s = history(cur, quantity, segment)
    _require_history(cur, s, segment, quantity)
    qe = None if QUANTITIES[quantity]["flow"] else False
    return backtest(s, seed=seed, quarter_end=qe)


def forecast_quantity(cur: store.Cursor, quantity: str, segment: str | None = None, horizon_months: int = 12,
                      method: str = "auto", interval_scale: float | None = None, seed: int = 0) -> ForecastResult:
    """Forecast one stored series.

    method "auto" runs the backtest first and calibrates the band from it. A page that
    caches ``backtest_quantity`` passes ``bt.choice(switch)`` (method, interval_scale)
    instead, so a horizon change refits one model, not the backtest.
    """
    _check_quantity(quantity)
    s = history(cur, quantity, segment)
    _require_history(cur, s, segment, quantity)
    # Quarter-end spikes are a property of flows; stocks show them as steps the trend absorbs.
    qe = None if QUANTITIES[quantity]["flow"] else False
    return forecast(s, horizon_months, method, nonnegative=True, seed=seed, quarter_end=qe,
                    interval_scale=interval_scale)


def _require_history(cur: store.Cursor, s: pd.Series, segment: str | None, quantity: str = "arr") -> None:
    if len(s):
        return
    n = len(history_frame(cur, segment))
    if n:  # ARR for n months, but a flow starts a month later (nothing to compare the first month with)
        where = f" for segment {segment!r}" if segment is not None else ""
        raise ValueError(f"not enough history to forecast {QUANTITIES[quantity]['label']}{where} ({_n_months(n)} "
                         "of ARR; needs 2 months: a monthly flow is measured against the month before)")
    if segment is None:
        raise ValueError("no ARR history in the store: load subscriptions first")
    raise ValueError(f"no ARR history for segment {segment!r} (segments in accounts: "
                     f"{', '.join(segments(cur)) or 'none'})")


def forecast_table(cur: store.Cursor, quantity: str = "arr", horizon_months: int = 12, segment: str | None = None,
                   method: str = "auto") -> pd.DataFrame:
    """The CLI table: month (first of month), yhat, yhat_lower, yhat_upper, method."""
    out = forecast_quantity(cur, quantity, segment, horizon_months, method).frame.reset_index(drop=True)
    # Cents for money, hundredths for logos: more digits are noise.
    return out.round({"yhat": 2, "yhat_lower": 2, "yhat_upper": 2})


def forecast_arr(cur: store.Cursor, horizon_months: int = 12, segment: str | None = None,
                 method: str = "auto") -> pd.DataFrame:
    """`python -m app forecast arr`: total (or one segment's) ARR, month,yhat,yhat_lower,yhat_upper,method."""
    return forecast_table(cur, "arr", horizon_months, segment, method)


def by_period(result: ForecastResult, quantity: str, fiscal_start: int = 1, freq: str = "quarter") -> pd.DataFrame:
    """The forecast as a table by fiscal quarter (or year), with its P10-P90 band.

    Columns: period, actual_months, forecast_months, forecast, p10, p90 (P10-P90 = the
    forecast's 80% interval). A period the forecast enters partway holds its actual
    months too:
    - a stock (ARR, logos) is its value at the period's last month (the forecast's
      value and band for that month);
    - a flow (new ARR, churned ARR, new logos) is the sum of its months: the actual months
      plus the forecast months, with P10 and P90 the sums of the monthly bounds (months
      assumed to move together: a conservative, wide band).
    Periods the forecast does not reach are left out; a period it leaves partway is
    labelled with the months it holds.
    """
    from app.rules import periods

    flow = QUANTITIES.get(quantity, {}).get("flow", False)
    f = result.frame
    if f.empty:
        return pd.DataFrame(columns=["period", "actual_months", "forecast_months", "forecast", "p10", "p90"])
    rows = pd.DataFrame({"month": pd.to_datetime(f["month"]), "value": f["yhat"].to_numpy(),
                         "lo": f["yhat_lower"].to_numpy(), "hi": f["yhat_upper"].to_numpy(), "actual": False})
    hist = result.history
    first_start = periods.period_start(rows["month"].iloc[0].date(), freq, fiscal_start)
    past = hist[hist.index >= pd.Timestamp(first_start)]
    rows = pd.concat([pd.DataFrame({"month": pd.to_datetime(past.index), "value": past.to_numpy(),
                                    "lo": past.to_numpy(), "hi": past.to_numpy(), "actual": True}), rows],
                     ignore_index=True)
    last = rows["month"].iloc[-1].date()
    rows["start"] = [periods.period_start(m.date(), freq, fiscal_start) for m in rows["month"]]
    out = []
    for start, g in rows.groupby("start", sort=True):
        pick = g if flow else g.tail(1)
        out.append({"period": periods.period_label_partial(start, freq, fiscal_start, last),
                    "actual_months": int(g["actual"].sum()), "forecast_months": int((~g["actual"]).sum()),
                    "forecast": float(pick["value"].sum()), "p10": float(pick["lo"].sum()),
                    "p90": float(pick["hi"].sum())})
    return pd.DataFrame(out)
