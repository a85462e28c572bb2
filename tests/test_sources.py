"""Presets on realistic exports the tests write: Stripe, HubSpot, ChartMogul, Salesforce; bad input stays out."""
from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from app.data import importer, store
from app.rules import periods
from app.sources import presets

ROOT = Path(__file__).resolve().parent.parent

STRIPE_CUSTOMERS = """id,Description,Email,Name,Created (UTC),Delinquent,Currency,tier (metadata)
cus_1,,ops@acme.io,Acme,2023-12-20 09:12,false,usd,gold
cus_2,Beta Corp (legacy),ap@beta.com,,2023-01-03 15:00,false,usd,
cus_3,,finance@gamma.de,Gamma GmbH,2024-03-01 08:00,true,eur,
cus_4,,t@delta.io,Delta,2024-05-01 08:00,false,usd,
cus_5,,x@eps.io,Epsilon,2023-06-01 08:00,false,usd,silver
cus_6,,y@zeta.io,Zeta,2024-02-01 08:00,false,usd,
"""
HEADER = ("id,Customer ID,Customer Name,Status,Created (UTC),Start (UTC),Current Period Start (UTC),"
          "Current Period End (UTC),Canceled At (UTC),Ended At (UTC),Plan,Quantity,Interval,Amount,Currency,"
          "Trial End (UTC),region (metadata)")
STRIPE_SUBS = HEADER + """
sub_1,cus_1,Acme,active,2024-01-10 10:00,2024-01-10 10:00,2024-06-10 10:00,2024-07-10 10:00,,,Pro,3,month,49.00,usd,,EU
sub_2,cus_2,Beta,canceled,2023-02-10 10:00,2023-02-10 10:00,2024-02-10 10:00,2025-02-10 10:00,2024-01-20 11:00,2024-02-10 10:00,Basic,1,year,"1,200.00",usd,,
sub_3,cus_3,Gamma,past_due,2024-03-15 10:00,2024-03-15 10:00,2024-06-15 10:00,2024-07-15 10:00,,,Pro,2,month,45.00,eur,,DACH
sub_4,cus_4,Delta,trialing,2024-05-01 10:00,2024-05-01 10:00,2024-05-01 10:00,2024-05-15 10:00,,,Pro,1,month,49.00,usd,2024-05-15 10:00,
sub_5,cus_5,Epsilon,active,2023-06-05 10:00,2023-06-05 10:00,2024-06-05 10:00,2024-07-05 10:00,,,Pro,10,month,40.00,usd,,
sub_5,cus_5,Epsilon,active,2023-06-05 10:00,2023-06-05 10:00,2024-06-05 10:00,2024-07-05 10:00,,,Storage add-on,1,month,15.50,usd,,
sub_6,cus_6,Zeta,canceled,2024-02-01 10:00,2024-02-01 10:00,2024-02-01 10:00,2024-02-15 10:00,2024-02-10 10:00,2024-02-10 10:00,Pro,1,month,49.00,usd,2024-02-15 10:00,
sub_7,cus_6,Zeta,unpaid,2024-04-01 10:00,2024-04-01 10:00,2024-07-01 10:00,2024-10-01 10:00,,,Team,1,3 months,300.00,usd,,
"""  # noqa: E501 (verbatim export rows)
EUR_2024 = 1.09  # the built-in table's EUR rate from 2024-01-01 (app/sources/fx.py)


def _store(tmp_path):
    return store.connect(tmp_path / "s.duckdb")


def _load(cur, kind, text, name, **kw):
    return importer.import_file(cur, kind, text.encode(), name, **kw)


def _months(first: dt.date, end_excl: dt.date | None, asof: dt.date) -> list[dt.date]:
    """Months whose last day the line is active on (start <= day < end), up to the as-of month."""
    out, m = [], first.replace(day=1)
    while m <= asof.replace(day=1):
        last = periods.month_end(m)
        if first <= last and (end_excl is None or last < end_excl):
            out.append(m)
        m = periods.add_months(m, 1)
    return out


def test_stripe_customers_then_subscriptions_import_with_no_mapping_and_arr_by_hand(tmp_path):
    cur = _store(tmp_path)
    a = _load(cur, "accounts", STRIPE_CUSTOMERS, "customers.csv")
    assert a.ok, a.message
    assert any("stripe-customers" in n for n in a.notes)
    names = dict(store.query_rows(cur, "SELECT account_id, name FROM accounts"))
    assert names["cus_2"] == "Beta Corp (legacy)"  # no Name: the description
    assert "tier_metadata" in store.columns_of(cur, "accounts")
    r = _load(cur, "subscriptions", STRIPE_SUBS, "subscriptions.csv")
    assert r.ok, r.message
    subs = store.query_df(cur, "SELECT * FROM subscriptions ORDER BY subscription_id")
    # trialing (sub_4) and canceled inside its trial (sub_6) are left out; sub_5 has two items
    assert subs["subscription_id"].tolist() == ["sub_1", "sub_2", "sub_3", "sub_5:Pro", "sub_5:Storage add-on",
                                                "sub_7"]
    asof = store.as_of(cur)
    # by hand: Amount x Quantity x intervals per year
    lines = {  # account: [(start, end exclusive or None, ARR)]
        "cus_1": [(dt.date(2024, 1, 10), None, 49.00 * 3 * 12)],
        "cus_2": [(dt.date(2023, 2, 10), dt.date(2024, 2, 10), 1200.00)],
        "cus_3": [(dt.date(2024, 3, 15), None, 45.00 * 2 * 12 * EUR_2024)],
        "cus_5": [(dt.date(2023, 6, 5), None, 40.00 * 10 * 12), (dt.date(2023, 6, 5), None, 15.50 * 12)],
        "cus_6": [(dt.date(2024, 4, 1), None, 300.00 * 4)],
    }
    expected: dict[tuple[str, dt.date], float] = {}
    for acct, ls in lines.items():
        for s, e, arr in ls:
            for m in _months(s, e, asof):
                expected[(acct, m)] = expected.get((acct, m), 0.0) + arr
    got = store.query_df(cur, "SELECT account_id, month, arr FROM arr_monthly")
    got = {(r.account_id, pd.Timestamp(r.month).date()): r.arr for r in got.itertuples()}
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, abs=0.01), k
    eur = store.query_rows(cur, "SELECT currency, arr_original, arr FROM subscriptions WHERE subscription_id='sub_3'")
    assert eur == [("EUR", pytest.approx(1080.0), pytest.approx(1080.0 * EUR_2024))]
    assert store.query_rows(cur, "SELECT billing_period_months FROM subscriptions "
                                 "WHERE subscription_id='sub_7'") == [(3,)]
    assert "region_metadata" in store.columns_of(cur, "subscriptions")


def test_stripe_cli_load_without_map_and_export_equals_hand_computation(tmp_path):
    (tmp_path / "c.csv").write_text(STRIPE_CUSTOMERS)
    subs = HEADER + "\nsub_9,cus_1,Acme,active,2024-01-01 00:00,2024-01-01 00:00,,,,,Pro,2,year,1000.00,usd,,\n" \
                    "sub_8,cus_2,Beta,canceled,2023-01-01 00:00,2023-01-01 00:00,,,2023-06-01 00:00," \
                    "2023-07-01 00:00,Pro,1,month,10.00,usd,,\n"
    (tmp_path / "s.csv").write_text(subs)
    dbf = str(tmp_path / "x.duckdb")

    def run(*a):
        return subprocess.run([sys.executable, "-m", "app", *a, "--db", dbf], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)

    assert run("load", "accounts", str(tmp_path / "c.csv"), "--no-prepare").returncode == 0
    r = run("load", "subscriptions", str(tmp_path / "s.csv"), "--no-prepare")
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(io.StringIO(run("export", "arr-monthly").stdout))
    asof = store.as_of(store.connect(dbf, read_only=True))
    exp = [("cus_1", m, 2000.0) for m in _months(dt.date(2024, 1, 1), None, asof)]
    exp += [("cus_2", m, 120.0) for m in _months(dt.date(2023, 1, 1), dt.date(2023, 7, 1), asof)]
    exp = sorted((a, m.isoformat(), v) for a, m, v in exp)
    assert [(r.account_id, r.month, round(r.arr)) for r in out.itertuples()] == [(a, m, round(v)) for a, m, v in exp]


def test_cents_column_is_minor_units_and_amount_is_major(tmp_path):
    cur = _store(tmp_path)
    assert _load(cur, "accounts", STRIPE_CUSTOMERS, "c.csv").ok
    cents = HEADER.replace(",Amount,", ",amount_in_cents,") + \
        "\nsub_1,cus_1,Acme,active,2024-01-10,2024-01-10,,,,,Pro,1,month,4900,usd,,\n" \
        "sub_2,cus_2,Beta,active,2024-01-10,2024-01-10,,,,,Pro,1,month,5000,jpy,,\n"
    r = _load(cur, "subscriptions", cents, "s.csv")
    assert r.ok, r.message
    got = dict(store.query_rows(cur, "SELECT subscription_id, arr_original FROM subscriptions"))
    assert got == {"sub_1": pytest.approx(49.0 * 12), "sub_2": pytest.approx(5000.0 * 12)}  # JPY has no cents


def test_stripe_bad_input_is_reported_by_row_and_nothing_changes(tmp_path):
    cur = _store(tmp_path)
    assert _load(cur, "accounts", STRIPE_CUSTOMERS, "c.csv").ok
    assert _load(cur, "subscriptions", STRIPE_SUBS, "s.csv").ok
    before = store.query_df(cur, "SELECT * FROM subscriptions ORDER BY subscription_id")
    rows = [
        "sub_1,cus_1,Acme,active,2024-01-10,2024-01-10,,,,,Pro,3,month,49.00,usd,,",       # row 2
        "sub_1,cus_1,Acme,active,2024-01-10,2024-01-10,,,,,Pro,3,month,49.00,usd,,",       # row 3 duplicate
        "sub_2,cus_2,Beta,canceled,2023-01-01,2023-01-01,,,,2023-12-01,Pro,1,month,10,usd,,",  # row 4
        "sub_2,cus_2,Beta,canceled,2023-06-01,2023-06-01,,,,2024-03-01,Pro,1,month,10,usd,,",  # row 5 overlaps 4
        "sub_3,cus_3,Gamma,active,2024-01-10,2024-01-10,,,,,Pro,1,month,10,xyz,,",          # row 6 no rate
        "sub_4,cus_4,Delta,active,2024-01-10,2024-01-10,,,,,Pro,1,month,-10,usd,,",         # row 7 negative
        "sub_5,cus_5,Eps,active,13/01/2024,13/01/2024,,,,,Pro,1,month,10,usd,,",           # row 8 day-first
        "sub_6,cus_6,Zeta,active,01/13/2024,01/13/2024,,,,,Pro,1,month,10,usd,,",          # row 9 month-first
        "sub_7,cus_6,Zeta,sleeping,2024-01-10,2024-01-10,,,,,Pro,1,month,10,usd,,",        # row 10 status
    ]
    r = _load(cur, "subscriptions", HEADER + "\n" + "\n".join(rows) + "\n", "bad.csv")
    assert not r.ok
    text = [str(p) for p in r.problems]
    def has(row, words):
        return any(f"row {row}," in t and words in t for t in text)
    assert has(3, "duplicate of row 2")
    assert has(5, "overlaps row 4")
    assert has(6, "exchange rate")
    assert has(7, "non-negative amount")
    assert has(10, "Stripe status")
    assert any("one day/month order" in t for t in text)  # mixed date formats in one column
    after = store.query_df(cur, "SELECT * FROM subscriptions ORDER BY subscription_id")
    pd.testing.assert_frame_equal(before, after)


def test_detection_and_named_presets():
    assert presets.detect(HEADER.split(","), "subscriptions").name == "stripe-subscriptions"
    assert presets.detect(STRIPE_CUSTOMERS.splitlines()[0].split(","), "accounts").name == "stripe-customers"
    assert presets.detect(HEADER.split(","), "accounts") is None  # a subscriptions export is not a customers one
    assert presets.detect(["Account ID", "ARR", "Start Date"], "subscriptions") is None
    raw = importer.RawTable(pd.DataFrame({"Account ID": ["A"], "ARR": ["1"]}))
    with pytest.raises(importer.ImportRefused, match="columns of a Stripe"):
        presets.apply(raw, "subscriptions", "f.csv", "stripe-subscriptions")
    with pytest.raises(importer.ImportRefused, match="preset for accounts"):
        presets.apply(raw, "accounts", "f.csv", "stripe-subscriptions")


HUBSPOT_COMPANIES = """Record ID,Company name,Company owner,Create Date,Industry,Country/Region,Lifecycle Stage
101,Acme,Jane Roe,2022-12-01 10:00,Software,US,customer
102,Beta,John Doe,2022-11-01 10:00,Retail,DE,customer
103,Gamma,Jane Roe,2023-01-01 10:00,Health,UK,customer
"""
HUBSPOT_DEALS = """Record ID,Deal Name,Deal Stage,Close Date,Amount,Deal Type,Annual recurring revenue,Currency,Associated Company IDs (Primary),Pipeline
1,Acme new,Closed Won,2023-01-15,12000,New Business,,USD,101,Sales
2,Acme renewal,Closed Won,2024-01-10,15000,Existing Business,,USD,101,Renewals
3,Beta new,closedwon,2023-02-01,,newbusiness,8000,EUR,102,Sales
4,Beta renewal,closedlost,2024-02-01,8000,existingbusiness,,EUR,102,Renewals
5,Gamma new,Appointment Scheduled,2024-09-01,5000,New Business,,USD,103,Sales
6,Gamma new,Closed Won,2023-03-01,6000,New Business,,USD,103,Sales
"""  # noqa: E501 (verbatim export rows)


def test_hubspot_companies_and_deals_as_renewal_contracts(tmp_path):
    cur = _store(tmp_path)
    a = _load(cur, "accounts", HUBSPOT_COMPANIES, "companies.csv")
    assert a.ok, a.message
    assert dict(store.query_rows(cur, "SELECT account_id, csm_id FROM accounts"))["102"] == "John Doe"
    r = _load(cur, "contracts", HUBSPOT_DEALS, "deals.csv")
    assert r.ok, r.message
    c = store.query_df(cur, "SELECT c.contract_id, c.start_date, c.end_date, c.arr, c.arr_original, c.currency, "
                            "r.outcome, c.renewed_arr FROM contracts c JOIN renewals r USING (contract_id) "
                            "ORDER BY contract_id").set_index("contract_id")
    assert list(c.index) == ["1", "2", "3", "6"]  # open deal 5 and lost renewal 4 are not contracts
    assert c.loc["1", "outcome"] == "expanded" and c.loc["1", "renewed_arr"] == pytest.approx(15000)
    assert pd.Timestamp(c.loc["1", "end_date"]).date() == dt.date(2024, 1, 15)  # close + 12 months
    assert c.loc["3", "outcome"] == "churned" and c.loc["3", "renewed_arr"] == 0
    assert c.loc["3", "arr_original"] == 8000 and c.loc["3", "currency"] == "EUR"
    assert c.loc["3", "arr"] == pytest.approx(8000 * 1.13)  # the built-in EUR rate of Feb 2023 (from 2022-01-01)
    assert pd.isna(c.loc["6", "outcome"])  # no renewal deal: unknown, not churned


def test_hubspot_internal_names_detected():
    cols = ["hs_object_id", "dealname", "dealstage", "closedate", "amount", "dealtype", "hs_arr", "hs_mrr",
            "deal_currency_code", "associatedcompanyid"]
    assert presets.detect(cols, "contracts").name == "hubspot-deals"


SF_ACCOUNTS = """Account ID,Account Name,Account Owner,Industry,Billing Country,Created Date,Type
001A,Acme,Jane Roe,Software,United States,1/15/2022,Customer
001B,Beta,John Doe,Retail,Germany,3/30/2022,Customer
,,,,,,
Grand Totals (2 records),,,,,,
,,,,,,
Confidential Information - Do Not Distribute,,,,,,
"Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved.",,,,,,
"""
SF_OPPS = """Opportunity ID,Opportunity Name,Account ID,Type,Stage,Amount,Close Date,Contract Start Date,Contract End Date,Opportunity Currency,Won,Closed
006A,Acme - New,001A,New Customer,Closed Won,"10,000.00",1/20/2023,2/1/2023,1/31/2024,USD,1,1
006B,Acme - Renewal,001A,Renewal,Closed Won,"9,000.00",1/25/2024,2/1/2024,1/31/2025,USD,1,1
006C,Acme - Upsell,001A,Existing Customer - Upgrade,Closed Won,"2,000.00",6/15/2023,7/1/2023,1/31/2024,USD,1,1
006D,Beta - New,001B,New Customer,Negotiation,"5,000.00",10/15/2024,,,USD,0,0
Grand Totals (4 records),,,,,"26,000.00",,,,,,
"""  # noqa: E501 (verbatim export rows)


def test_salesforce_reports_footer_dropped_and_renewals_split(tmp_path):
    cur = _store(tmp_path)
    a = _load(cur, "accounts", SF_ACCOUNTS, "accounts.csv")
    assert a.ok, a.message
    assert store.row_counts(cur)["accounts"] == 2
    assert dict(store.query_rows(cur, "SELECT account_id, region FROM accounts"))["001B"] == "Germany"
    r = _load(cur, "contracts", SF_OPPS, "opps.csv")
    assert r.ok, r.message
    c = store.query_df(cur, "SELECT c.* EXCLUDE (outcome), r.outcome FROM contracts c JOIN renewals r "
                            "USING (contract_id) ORDER BY contract_id").set_index("contract_id")
    assert list(c.index) == ["006A", "006B", "006C"]
    # the renewal (9,000) renews both the new deal (10,000) and the upsell (2,000) ending with it: split 10:2
    assert c.loc["006A", "renewed_arr"] == pytest.approx(9000 * 10 / 12)
    assert c.loc["006C", "renewed_arr"] == pytest.approx(9000 * 2 / 12)
    assert c.loc["006A", "outcome"] == "downgraded"
    assert c.loc["006B", "deal_type"] == "renewal"


CM_CUSTOMERS = """UUID,External ID,Name,Country,Customer Since,Status
cus_aaa,C-1,Acme,US,2023-01-01,Active
cus_bbb,C-2,Beta,FR,2023-02-01,Active
"""
CM_HEADER = ("invoice_external_id,customer_external_id,date,currency,line_item_type,amount_in_cents,"
             "tax_amount_in_cents,quantity,plan_external_id,subscription_external_id,service_period_start,"
             "service_period_end,prorated")
CM_LINES = CM_HEADER + """
INV-1,C-1,2024-01-01,USD,subscription,12000,2000,1,pro_monthly,S-1,2024-01-01,2024-02-01,false
INV-2,C-1,2024-02-01,USD,subscription,12000,2000,1,pro_monthly,S-1,2024-02-01,2024-03-01,false
INV-3,C-1,2024-02-01,USD,one_time,50000,0,1,setup,,,,false
INV-4,C-2,2024-01-15,EUR,subscription,120000,0,5,team_annual,S-2,2024-01-15,2025-01-15,false
INV-5,C-2,2024-03-01,EUR,refund,-10000,0,1,team_annual,S-2,,,false
"""


def test_chartmogul_customers_and_invoice_lines(tmp_path):
    cur = _store(tmp_path)
    assert _load(cur, "accounts", CM_CUSTOMERS, "cm_customers.csv").ok
    r = _load(cur, "subscriptions", CM_LINES, "cm_invoices.csv")
    assert r.ok, r.message
    s = store.query_df(cur, "SELECT * FROM subscriptions ORDER BY subscription_id").set_index("subscription_id")
    assert list(s.index) == ["S-1:2024-01-01", "S-1:2024-02-01", "S-2:2024-01-15"]  # one-time and refund left out
    assert s.loc["S-1:2024-01-01", "arr"] == pytest.approx(100.0 * 12)  # (12000 - 2000) cents monthly
    assert s.loc["S-2:2024-01-15", "arr_original"] == pytest.approx(1200.0)  # annual: 12 months
    assert s.loc["S-2:2024-01-15", "billing_period_months"] == 12
    bad = CM_HEADER + """
INV-1,C-1,2024-01-01,USD,subscription,12000,0,1,pro,S-1,2024-01-01,2024-02-01,false
INV-2,C-1,2024-01-15,USD,subscription,12000,0,1,pro,S-1,2024-01-15,2024-02-15,false
INV-3,C-1,2024-02-01,USD,subscription,-500,0,1,pro,S-9,2024-02-01,2024-03-01,false
"""
    r = _load(cur, "subscriptions", bad, "bad.csv")
    assert not r.ok
    text = " | ".join(str(p) for p in r.problems)
    assert "row 3" in text and "overlaps row 2" in text
    assert "row 4" in text and "not a credit note" in text
    assert store.row_counts(cur)["subscriptions"] == 3


def test_generic_file_in_cents_and_currency_without_preset(tmp_path):
    cur = _store(tmp_path)
    assert _load(cur, "accounts", "account_id\nA\nB\n", "a.csv").ok
    r = _load(cur, "subscriptions", "account_id,start_date,mrr_in_cents,currency\nA,2024-01-01,10050,usd\n"
                                    "B,2024-01-01,1000,GBP\n", "s.csv")
    assert r.ok, r.message
    got = dict(store.query_rows(cur, "SELECT account_id, arr FROM subscriptions"))
    assert got["A"] == pytest.approx(100.50 * 12)
    assert got["B"] == pytest.approx(10.0 * 12 * 1.27)  # GBP at the built-in 2024 rate
