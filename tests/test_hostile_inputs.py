"""Hostile filter values reach every query as bound values: a harmless (empty) result, tables intact."""
from __future__ import annotations

import pytest

from app import cli, forecast, metrics, renewals, store

EVIL = ["'; DROP TABLE accounts; --", "SMB' OR '1'='1", 'x"; DELETE FROM subscriptions; --', "%", "\\' OR 1=1 --"]


def counts(cur) -> tuple:
    return tuple(store.query_rows(cur, f"SELECT count(*) FROM {t}")[0][0]
                 for t in ("accounts", "subscriptions", "arr_monthly", "arr_bridge_account"))


@pytest.mark.parametrize("evil", EVIL)
def test_metric_filters_bind_hostile_values(sample_copy, evil):
    cur = store.connect(sample_copy)
    before = counts(cur)
    assert (metrics.arr_bridge(cur, segment=evil)[["new", "churn", "end_arr"]] == 0).all().all()
    assert metrics.arr_bridge(cur, region=evil, csm_id=evil)["end_arr"].sum() == 0
    assert metrics.kpis(cur, segment=evil) == []
    assert metrics.retention_series(cur, 12, evil)["grr"].isna().all() or \
        len(metrics.retention_series(cur, 12, evil)) == 0
    with pytest.raises(ValueError):
        forecast.forecast_arr(cur, 6, evil)  # unknown segment: a clean error naming the known ones
    assert counts(cur) == before


def test_cli_with_hostile_segment_is_harmless(sample_copy, capsys):
    code = cli.main(["metrics", "arr-bridge", "--db", str(sample_copy), "--segment", EVIL[0]])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("month,start_arr,")
    cur = store.connect(sample_copy)
    assert store.query_rows(cur, "SELECT count(*) FROM accounts")[0][0] > 0


def test_renewal_forecast_table_reads_without_changing_the_store(sample_copy):
    cur = store.connect(sample_copy)
    before = counts(cur)
    table = renewals.renewal_forecast_table(cur, None, 3)
    assert list(table.columns) == ["account_id", "contract_end", "arr_due", "p_renew", "driver_1", "driver_2",
                                   "driver_3"]
    assert counts(cur) == before
