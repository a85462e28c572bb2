"""The currency rule by hand: the rate of the line's start month, budget rates, the reporting currency."""
from __future__ import annotations

import pandas as pd
import pytest

from app.data import importer, store
from app.sources import fx

RATES = """date,currency,rate
2024-01-01,EUR,1.10
2024-02-01,EUR,1.20
2024-03-15,EUR,1.30
2024-01-01,GBP,1.25
"""


@pytest.fixture
def cur(tmp_path):
    c = store.connect(tmp_path / "fx.duckdb")
    assert importer.import_file(c, "accounts", b"account_id\nA\nB\nC\nD\n", "a.csv").ok
    return c


def _subs(cur, text):
    return importer.import_file(cur, "subscriptions", text.encode(), "s.csv")


def test_rate_of_the_start_month_by_hand(cur):
    assert importer.import_file(cur, "fx_rates", RATES.encode(), "rates.csv").ok
    r = _subs(cur, "subscription_id,account_id,start_date,arr,currency\n"
                   "s1,A,2024-01-20,1000,EUR\n"   # Jan: 1.10
                   "s2,B,2024-02-29,1000,eur\n"   # Feb: 1.20
                   "s3,C,2024-03-02,1000,EUR\n"   # Mar: the rate dated 15 Mar is in the start month -> 1.30
                   "s4,D,2023-06-01,1000,EUR\n"   # before any rate: the earliest, 1.10
                   "s5,A,2024-05-01,1000,USD\n"   # the reporting currency: 1
                   "s6,B,2024-05-01,1000,\n")     # no currency: the reporting currency
    assert r.ok, r.message
    got = dict(store.query_rows(cur, "SELECT subscription_id, arr FROM subscriptions"))
    assert got == {"s1": pytest.approx(1100), "s2": pytest.approx(1200), "s3": pytest.approx(1300),
                   "s4": pytest.approx(1100), "s5": pytest.approx(1000), "s6": pytest.approx(1000)}
    orig = dict(store.query_rows(cur, "SELECT subscription_id, arr_original FROM subscriptions"))
    assert set(orig.values()) == {1000.0}


def test_budget_rule_uses_each_currency_latest_rate(cur):
    assert importer.import_file(cur, "fx_rates", RATES.encode(), "rates.csv").ok
    fx.set_reporting_currency(cur, "USD", "budget")
    assert _subs(cur, "account_id,start_date,arr,currency\nA,2024-01-20,1000,EUR\nB,2024-01-20,100,GBP\n").ok
    assert sorted(r[0] for r in store.query_rows(cur, "SELECT arr FROM subscriptions")) == \
        [pytest.approx(125), pytest.approx(1300)]


def test_unknown_currency_refused_by_row(cur):
    r = _subs(cur, "account_id,start_date,arr,currency\nA,2024-01-20,1000,EUR\nB,2024-01-20,10,XYZ\n"
                   "C,2024-01-20,10,E1\n")
    assert not r.ok
    text = [str(p) for p in r.problems]
    assert any("row 3" in t and "XYZ" in t and "exchange rate" in t for t in text)
    assert any("row 4" in t and "ISO currency code" in t for t in text)
    assert store.row_counts(cur)["subscriptions"] == 0


def test_built_in_rates_cross_to_another_reporting_currency():
    eur = fx.default_rates("EUR")
    row = eur[(eur["currency"] == "GBP") & (eur["date"] == pd.Timestamp("2024-01-01"))]["rate"].iloc[0]
    assert row == pytest.approx(1.27 / 1.09)
    assert eur[eur["currency"] == "EUR"]["rate"].eq(1.0).all()


def test_changing_the_reporting_currency_converts_stored_amounts_again(cur):
    assert importer.import_file(cur, "fx_rates", RATES.encode(), "rates.csv").ok
    assert _subs(cur, "account_id,start_date,arr,currency\nA,2024-01-20,1000,EUR\nB,2024-01-20,1000,USD\n").ok
    with pytest.raises(ValueError, match="no exchange rate"):
        fx.set_reporting_currency(cur, "CHF")  # no CHF rates loaded: refused, nothing changed
    assert fx.reporting_currency(cur) == "USD"
    # rates to EUR: EUR itself is 1, USD 0.5
    assert importer.import_file(cur, "fx_rates", b"date,currency,rate\n2024-01-01,USD,0.5\n", "eur.csv").ok
    fx.set_reporting_currency(cur, "EUR")
    got = dict(store.query_rows(cur, "SELECT account_id, arr FROM subscriptions"))
    assert got == {"A": pytest.approx(1000), "B": pytest.approx(500)}
    assert fx.reporting_currency(cur) == "EUR"
