"""Top-down forecasts for many groups (every CSM, region or segment), each with its backtest, run locally
or fanned out over Spark with ``groupBy(...).applyInPandas``: the SAME Python function either way.

    hist = histories(cur, "csm", "arr")                   # long frame: group, month, value (from the store)
    local = run_local(hist, horizon=12)                   # a loop over the groups
    remote = run_spark(hist, horizon=12, spark=spark)     # one task per group, same function, same rows

Per group ``forecast_group`` backtests the methods on the group's monthly series (rolling origin, as
app/forecasting/topdown.py), picks the method (``auto``: the backtest winner) with its calibrated band and
forecasts ``horizon`` months. Prophet is seeded (``seed``), so a group's forecast is the same on a
Spark worker as in the local loop. The history is small (groups x months) and is read from the store
on the driver; only the fits are spread.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from app.forecasting import topdown as forecast

BY = {"csm": "csm_id", "region": "region", "segment": "segment"}
HISTORY_COLUMNS = ("group", "month", "value")
RESULT_SCHEMA = (
    ("group", "string"), ("month", "string"), ("yhat", "double"), ("yhat_lower", "double"),
    ("yhat_upper", "double"), ("method", "string"), ("n_history", "long"), ("backtest_mae", "double"),
    ("backtest_coverage", "double"), ("backtest_cutoffs", "long"), ("error", "string"),
)
RESULT_COLUMNS = tuple(n for n, _ in RESULT_SCHEMA)
NO_GROUP = "(none)"


def histories(cur, by: str, quantity: str = "arr") -> pd.DataFrame:
    """One row per group and month: group, month ('YYYY-MM-DD', month start), value of quantity.

    Groups are the distinct values of accounts.<segment|region|csm_id>; accounts without one form the
    group '(none)'. A flow's first month is left out, as in forecast.history.
    """
    from app.data import store

    if by not in BY:
        raise ValueError(f"--by {by!r}: expected one of {', '.join(BY)}")
    forecast._check_quantity(quantity)
    col = BY[by]
    groups = [r[0] for r in store.query_rows(
        cur, f"SELECT DISTINCT {col} FROM accounts WHERE {col} IS NOT NULL ORDER BY 1")]
    frames = []
    for g in groups:
        h = forecast.history_frame(cur, **{col: g})[quantity].dropna()
        frames.append(pd.DataFrame({"group": str(g), "month": h.index.strftime("%Y-%m-%d"),
                                    "value": h.to_numpy(dtype=float)}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(HISTORY_COLUMNS))
    return out.astype({"group": "str", "month": "str", "value": "float64"})[list(HISTORY_COLUMNS)]


def forecast_group(pdf: pd.DataFrame, horizon: int = 12, method: str = "auto", quantity: str = "arr",
                   seed: int = 0) -> pd.DataFrame:
    """Backtest and forecast one group's history (rows of ``histories``); RESULT_COLUMNS, one row a month.

    The function both engines run. A group that cannot be forecast gives one row with ``error`` set.
    """
    group = str(pdf["group"].iloc[0]) if len(pdf) else NO_GROUP
    try:
        s = pd.Series(pdf["value"].to_numpy(dtype=float),
                      index=pd.DatetimeIndex(pd.to_datetime(pdf["month"].astype(str))), name=quantity)
        s = s.sort_index()
        qe = None if forecast.QUANTITIES[quantity]["flow"] else False  # as forecast.forecast_quantity
        bt = forecast.backtest(s, seed=seed, quarter_end=qe)
        used, scale = bt.choice(method)
        fc = forecast.forecast(s, horizon, used, nonnegative=True, seed=seed, quarter_end=qe,
                               interval_scale=scale)
        summ = bt.summary[bt.summary["method"] == fc.method] if len(bt.summary) else bt.summary
        mae = float(summ["mae"].mean()) if len(summ) else math.nan
        cov = float(summ["coverage"].mean()) if len(summ) else math.nan
        f = fc.frame
        return pd.DataFrame({
            "group": group, "month": pd.DatetimeIndex(f["month"]).strftime("%Y-%m-%d"),
            "yhat": f["yhat"].to_numpy(float), "yhat_lower": f["yhat_lower"].to_numpy(float),
            "yhat_upper": f["yhat_upper"].to_numpy(float), "method": fc.method,
            "n_history": np.int64(len(s)), "backtest_mae": mae, "backtest_coverage": cov,
            "backtest_cutoffs": np.int64(len(bt.cutoffs)), "error": None,
        })[list(RESULT_COLUMNS)]
    except Exception as exc:  # one group's failure is reported in its row, not the whole run's
        return pd.DataFrame([{"group": group, "month": None, "yhat": math.nan, "yhat_lower": math.nan,
                              "yhat_upper": math.nan, "method": None, "n_history": np.int64(len(pdf)),
                              "backtest_mae": math.nan, "backtest_coverage": math.nan,
                              "backtest_cutoffs": np.int64(0), "error": f"{type(exc).__name__}: {exc}"}])


def _fn(horizon: int, method: str, quantity: str, seed: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        _quiet_workers()
        return forecast_group(pdf, horizon, method, quantity, seed)
    return apply


def _quiet_workers() -> None:
    """cmdstanpy configures an INFO handler on first use unless its logger has one (a fresh Spark
    worker has none): give it a null handler and keep its level at WARNING, as app/forecasting/topdown.py does."""
    log = logging.getLogger("cmdstanpy")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    log.setLevel(logging.WARNING)


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    df = df[list(RESULT_COLUMNS)].copy()
    df = df.astype({"group": "str", "yhat": "float64", "yhat_lower": "float64", "yhat_upper": "float64",
                    "n_history": "int64", "backtest_mae": "float64", "backtest_coverage": "float64",
                    "backtest_cutoffs": "int64"})
    for c in ("month", "method", "error"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df.sort_values(["group", "month"], na_position="first").reset_index(drop=True)


def run_local(hist: pd.DataFrame, horizon: int = 12, method: str = "auto", quantity: str = "arr",
              seed: int = 0) -> pd.DataFrame:
    """Every group's forecast in a loop on this machine."""
    fn = _fn(horizon, method, quantity, seed)
    parts = [fn(g.reset_index(drop=True)) for _, g in hist.groupby("group", sort=True)]
    if not parts:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    return _tidy(pd.concat(parts, ignore_index=True))


def run_spark(hist: pd.DataFrame, horizon: int = 12, method: str = "auto", quantity: str = "arr",
              seed: int = 0, spark=None) -> pd.DataFrame:
    """Every group's forecast as one Spark task per group (groupBy('group').applyInPandas)."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    from app.scale import spark as sparkmod

    if hist.empty:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    spark = spark or sparkmod.session()
    in_schema = StructType([StructField("group", StringType()), StructField("month", StringType()),
                            StructField("value", DoubleType())])
    # Plain Python rows (not a pandas 3 frame): PySpark's pandas 3 support is partial.
    rows = list(zip(hist["group"].astype(str).tolist(), hist["month"].astype(str).tolist(),
                    hist["value"].astype(float).tolist(), strict=False))
    n_groups = int(hist["group"].nunique())
    sdf = spark.createDataFrame(rows, in_schema).repartition(max(1, n_groups), "group")
    out_schema = ", ".join(f"`{n}` {t}" for n, t in RESULT_SCHEMA)
    res = sdf.groupBy("group").applyInPandas(_fn(horizon, method, quantity, seed), schema=out_schema)
    table = res.toArrow()
    return _tidy(table.to_pandas())
