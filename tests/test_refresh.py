"""One refresh over sources.toml: all or nothing, each source logged, a fault in the last source changes nothing."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from app.data import importer, store
from app.sources import refresh

ROOT = Path(__file__).resolve().parent.parent

CUSTOMERS = """id,Description,Email,Name,Created (UTC)
cus_1,,a@acme.io,Acme,2023-12-20 09:12
cus_2,,b@beta.io,Beta,2023-01-03 15:00
"""
SUBS = """id,Customer ID,Customer Name,Status,Created (UTC),Start (UTC),Current Period Start (UTC),Current Period End (UTC),Canceled At (UTC),Ended At (UTC),Plan,Quantity,Interval,Amount,Currency
sub_1,cus_1,Acme,active,2024-01-10,2024-01-10,,,,,Pro,3,month,49.00,usd
sub_2,cus_2,Beta,active,2023-02-10,2023-02-10,,,,,Pro,1,year,1200.00,eur
"""  # noqa: E501 (verbatim export rows)
NPS = "account_id,date,score\ncus_1,2024-03-01,9\ncus_2,2024-03-01,7\n"
RATES = "date,currency,rate\n2023-01-01,EUR,1.5\n"


def _write(tmp: Path, nps: str = NPS) -> Path:
    ex = tmp / "exports"
    ex.mkdir(exist_ok=True)
    (ex / "stripe_customers_2024-06-01.csv").write_text(CUSTOMERS)
    (ex / "stripe_subscriptions_2024-06-01.csv").write_text(SUBS)
    (ex / "nps.csv").write_text(nps)
    (ex / "rates.csv").write_text(RATES)
    cfg = tmp / "sources.toml"
    cfg.write_text("""
[[sources]]
kind = "accounts"
file = "exports/stripe_customers_*.csv"
pick = "newest"

[[sources]]
kind = "subscriptions"
file = "exports/stripe_subscriptions_*.csv"

[[sources]]
kind = "fx_rates"
file = "exports/rates.csv"

[[sources]]
kind = "nps"
file = "exports/nps.csv"
""")
    return cfg


def _snapshot(cur) -> dict[str, pd.DataFrame]:
    out = {k: store.query_df(cur, f"SELECT * FROM {k} ORDER BY ALL") for k in ("accounts", "subscriptions", "nps",
                                                                             "fx_rates", "arr_monthly")}
    return out


@pytest.fixture
def sample_store(tmp_path):
    cur = store.connect(tmp_path / "r.duckdb")
    importer.load_sample(cur, n_accounts=50)
    return cur


def test_refresh_loads_every_source_in_one_go(tmp_path, sample_store):
    cur = sample_store
    rep = refresh.run(cur, refresh.load_config(_write(tmp_path)), "sources.toml")
    assert rep.ok, rep.message
    assert [r.kind for r in rep.results] == ["fx_rates", "accounts", "subscriptions", "nps"]  # rates, accounts first
    assert store.row_counts(cur)["accounts"] == 2 and store.row_counts(cur)["nps"] == 2
    assert store.sample_label(cur) is None
    # the EUR line converted with the rates loaded in the same refresh
    assert dict(store.query_rows(cur, "SELECT account_id, arr FROM subscriptions"))["cus_2"] == pytest.approx(1800)
    log = store.import_history(cur, 10)
    assert log["kind"].tolist()[:5] == ["refresh", "nps", "subscriptions", "accounts", "fx_rates"]
    assert (log["outcome"].head(5) == "ok").all()
    assert refresh.last(cur)["ok"] and refresh.last(cur)["rows"] == 7
    assert "Last refresh" in refresh.last_text(cur)


def test_a_bad_row_in_the_last_source_changes_nothing(tmp_path, sample_store):
    cur = sample_store
    before = _snapshot(cur)
    cfg = _write(tmp_path, nps="account_id,date,score\ncus_1,2024-03-01,9\ncus_2,2024-03-01,11\n")
    rep = refresh.run(cur, refresh.load_config(cfg), "sources.toml")
    assert not rep.ok
    assert "nps.csv" in rep.failed and any(p.row == 3 and "0 to 10" in p.expected for p in rep.problems)
    after = _snapshot(cur)
    for k in before:
        pd.testing.assert_frame_equal(before[k], after[k])
    assert store.sample_label(cur) is not None
    assert refresh.last(cur)["ok"] is False


def test_a_fault_writing_the_last_source_rolls_everything_back(tmp_path, sample_store, monkeypatch):
    cur = sample_store
    before = _snapshot(cur)
    n_log = len(store.import_history(cur, 1000))
    real = store.write_table

    def failing(c, kind, df, mode):  # the disk fills up while the last source is written
        if kind == "nps":
            real(c, kind, df, mode)
            raise OSError(28, "No space left on device")
        return real(c, kind, df, mode)

    monkeypatch.setattr(store, "write_table", failing)
    rep = refresh.run(cur, refresh.load_config(_write(tmp_path)), "sources.toml")
    assert not rep.ok and "No space left" in rep.message
    after = _snapshot(cur)
    for k in before:
        pd.testing.assert_frame_equal(before[k], after[k])
    log = store.import_history(cur, 1000)
    assert len(log) == n_log + 1 and log["outcome"].iloc[0] == "refused"  # only the refusal is recorded


def test_config_errors_are_plain(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[[sources]]\nkind = "accounts"\nurl = "postgresql://u:pw@h/db"\nquery = "select 1"\n')
    with pytest.raises(refresh.ConfigError, match="PGPASSWORD"):
        refresh.load_config(p)
    p.write_text('[[sources]]\nkind = "nope"\nfile = "x.csv"\n')
    with pytest.raises(refresh.ConfigError, match="kind 'nope'"):
        refresh.load_config(p)
    assert refresh.load_config(ROOT / "sources.example.toml")[0].kind == "fx_rates"


def test_cli_refresh_prints_a_summary(tmp_path):
    cfg = _write(tmp_path)
    db = tmp_path / "cli.duckdb"
    r = subprocess.run([sys.executable, "-m", "app", "refresh", "--config", str(cfg), "--db", str(db),
                        "--no-prepare"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ})
    assert r.returncode == 0, r.stderr
    assert "Refreshed 4 source(s)" in r.stdout and "subscriptions" in r.stdout
