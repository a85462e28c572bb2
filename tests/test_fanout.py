"""Many-group forecasts (app/scale/fanout.py): the same function in a local loop and on Spark
(groupBy.applyInPandas), results equal; each group's forecast equals the single-series forecast of
app/forecasting/topdown.py for that group."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from app import cli
from app.data import store
from app.forecasting import topdown as forecast
from app.scale import fanout


@pytest.fixture(scope="module")
def cur(sample_db: Path, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("fan") / "s.duckdb"
    shutil.copy(sample_db, path)
    con = store.connect(path)
    yield con
    con.close()


def test_histories_per_group_are_the_filtered_bridge(cur):
    h = fanout.histories(cur, "region", "arr")
    regions = [r[0] for r in cur.execute("SELECT DISTINCT region FROM accounts WHERE region IS NOT NULL "
                                         "ORDER BY 1").fetchall()]
    assert sorted(h["group"].unique()) == regions and len(regions) >= 2
    for g in regions:
        want = forecast.history_frame(cur, region=g)["arr"].dropna()
        got = h[h["group"] == g]
        assert got["value"].tolist() == want.tolist()
        assert got["month"].tolist() == want.index.strftime("%Y-%m-%d").tolist()
    # the groups add up to the whole book
    total = forecast.history(cur, "arr")
    by_month = h.groupby("month")["value"].sum()
    assert by_month.reindex(total.index.strftime("%Y-%m-%d")).fillna(0).tolist() == pytest.approx(total.tolist())
    with pytest.raises(ValueError, match="--by"):
        fanout.histories(cur, "planet")


@pytest.mark.slow
def test_group_forecast_equals_the_single_series_forecast(cur):
    """A group's row is forecast_quantity for that group (auto: backtest winner and calibrated band)."""
    h = fanout.histories(cur, "segment", "new_arr")
    seg = sorted(h["group"].unique())[0]
    got = fanout.forecast_group(h[h["group"] == seg].reset_index(drop=True), 6, "auto", "new_arr", seed=0)
    want = forecast.forecast_quantity(cur, "new_arr", seg, 6, "auto", seed=0)
    assert got["error"].isna().all()
    assert got["method"].iloc[0] == want.method
    assert got["yhat"].tolist() == pytest.approx(want.frame["yhat"].tolist(), rel=1e-9)
    assert got["yhat_upper"].tolist() == pytest.approx(want.frame["yhat_upper"].tolist(), rel=1e-9)
    bt = forecast.backtest_quantity(cur, "new_arr", seg)
    assert got["backtest_cutoffs"].iloc[0] == len(bt.cutoffs)
    assert got["backtest_mae"].iloc[0] == pytest.approx(
        bt.summary[bt.summary["method"] == want.method]["mae"].mean())


def test_a_group_that_cannot_be_forecast_says_why():
    bad = pd.DataFrame({"group": ["x", "x"], "month": ["2024-01-01", "2024-03-01"], "value": [1.0, 2.0]})
    out = fanout.forecast_group(bad, 3)
    assert len(out) == 1 and "missing months" in out["error"].iloc[0]


@pytest.mark.slow
def test_spark_fanout_equals_the_local_loop(cur, spark):
    h = fanout.histories(cur, "csm", "arr")
    assert h["group"].nunique() >= 4
    local = fanout.run_local(h, horizon=6)
    remote = fanout.run_spark(h, horizon=6, spark=spark)
    assert local["error"].isna().all()
    assert (local["backtest_cutoffs"] > 0).all() and local["backtest_mae"].notna().all()
    pd.testing.assert_frame_equal(local, remote)  # Prophet seeded: the same numbers, to the last bit
    assert len(local) == 6 * h["group"].nunique()


@pytest.mark.slow
def test_cli_forecast_groups_local_and_spark(sample_db: Path, tmp_path: Path, spark):
    db = tmp_path / "s.duckdb"
    shutil.copy(sample_db, db)
    outs = {}
    for engine in ("local", "spark"):
        out = tmp_path / f"{engine}.csv"
        assert cli.main(["forecast-groups", "--by", "region", "--engine", engine, "--horizon-months", "3",
                         "--db", str(db), "--out", str(out)]) == 0
        outs[engine] = pd.read_csv(out)
    pd.testing.assert_frame_equal(outs["local"], outs["spark"])
    assert list(outs["local"].columns[:2]) == ["region", "month"]
