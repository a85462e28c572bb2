"""Customer health and account pages: AppTest on the sample and an empty store; the account page in Chromium."""
from __future__ import annotations

import pytest

from app.data import store
from app.health import scorecard
from tests.conftest import app_page

TIMEOUT = 60


def _no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_empty_store_points_to_data_page(tmp_path, monkeypatch):
    monkeypatch.setenv("CS_DB", str(tmp_path / "empty.duckdb"))
    for p in ("pages/health.py", "pages/account.py"):
        at = app_page(p, TIMEOUT)
        _no_exception(at)
        assert "Data page" in at.info[0].value


def test_health_page_scores_movers_stages_book_and_check(sample_copy, monkeypatch):
    monkeypatch.setenv("CS_DB", str(sample_copy))
    at = app_page("pages/health.py", TIMEOUT)
    _no_exception(at)
    labels = {m.label: m.value for m in at.metric}
    total = int(labels["Accounts scored"].replace(",", ""))
    assert total > 300
    assert sum(int(labels[b].replace(",", "")) for b in ("Red", "Yellow", "Green")) == total
    heads = [s.value for s in at.subheader]
    assert heads[:3] == ["Accounts, weakest first", "Biggest movers this week", "Lifecycle stages"]
    accounts = at.dataframe[0].value
    assert accounts["link"].str.fullmatch(r"/account\?account=A\d{5}").all()
    assert accounts["score"].is_monotonic_increasing
    assert len(accounts) == min(500, total)  # the weakest 500 are sent to the browser, the CSV has all
    reasons = [m.value for m in at.markdown if m.value.startswith("- ") and "points" in m.value]
    assert reasons and all(r.rstrip().endswith("points") for r in reasons)
    # a rerun reads everything from the caches (its time is measured by `make bench`, not here)
    at.run()
    _no_exception(at)
    # one CSM's book
    at.sidebar.selectbox(key="health_csm").select_index(1).run()
    _no_exception(at)
    csm = at.sidebar.selectbox(key="health_csm").value
    assert f"{csm}'s book" in [s.value for s in at.subheader]
    # the check against past renewals, next to the renewal model
    at.toggle(key="health_eval").set_value(True).run()
    _no_exception(at)
    text = " ".join(m.value for m in at.markdown)
    assert "the learned score ranks churn with an AUC of" in text and "the renewal model" in text


def test_house_config_saves_a_new_version_and_bad_weights_are_refused(sample_copy, monkeypatch):
    monkeypatch.setenv("CS_DB", str(sample_copy))
    at = app_page("pages/health.py", TIMEOUT)
    _no_exception(at)
    at.text_input(key="health_name").input("")
    at.button(key="health_save").click().run()
    assert any("Give the configuration a name" in e.value for e in at.error)
    at.text_input(key="health_name").input("Ours").run()
    at.button(key="health_save").click().run()
    _no_exception(at)
    assert any("Saved 'Ours' as version 2" in s.value for s in at.success)
    con = store.connect(sample_copy)  # same configuration as the app's open connection
    assert scorecard.active_version(con) == 2
    assert scorecard.load(con, 2).kind == scorecard.HOUSE and scorecard.load(con, 1).kind == scorecard.LEARNED
    con.close()
    assert "Ours" in at.caption[1].value or any("Ours" in c.value for c in at.caption)


def test_account_page_shows_everything_for_one_account(sample_copy, monkeypatch):
    monkeypatch.setenv("CS_DB", str(sample_copy))
    at = app_page("pages/health.py", TIMEOUT)
    acc = at.dataframe[0].value["account_id"].iloc[0]
    at.switch_page("pages/account.py")
    at.query_params["account"] = acc
    at.run()
    _no_exception(at)
    heads = [s.value for s in at.subheader]
    for h in ("Renewals due, drivers and plays", "Health history", "ARR history and bridge events", "Usage", "NPS",
              "Tickets", "Contracts"):
        assert h in heads, heads
    labels = {m.label for m in at.metric}
    assert {"ARR", "Health score", "Band", "Stage"} <= labels
    assert any(m.value.startswith("**Score ") for m in at.markdown)


def test_account_page_unknown_account(sample_copy, monkeypatch):
    monkeypatch.setenv("CS_DB", str(sample_copy))
    at = app_page("pages/account.py", TIMEOUT)
    at.query_params["account"] = "NOPE"
    at.run()
    _no_exception(at)
    assert "No such account" in at.info[0].value


@pytest.mark.browser
@pytest.mark.slow
def test_account_page_in_chromium_from_the_health_page(app_server, page):
    from tests.browser_util import assert_no_exception, wait_ready

    page.goto(app_server["url"] + "/health")
    wait_ready(page, "Accounts, weakest first", timeout=180_000)
    assert_no_exception(page)
    con = store.connect(app_server["db"], read_only=True)
    acc, name = store.query_rows(con, "SELECT account_id, name FROM accounts a WHERE EXISTS (SELECT 1 FROM "
                                      "health_snapshots h WHERE h.account_id = a.account_id) ORDER BY 1 LIMIT 1")[0]
    con.close()
    page.goto(app_server["url"] + f"/account?account={acc}")
    wait_ready(page, "Health history", timeout=120_000)
    assert_no_exception(page)
    assert page.locator("h1").first.inner_text().strip() == name
    body = page.inner_text("body")
    for text in ("ARR history and bridge events", "Renewals due, drivers and plays", "Contracts",
                 "Back to Customer health"):
        assert text in body


def test_choosing_the_learned_config_again(sample_copy, monkeypatch):
    monkeypatch.setenv("CS_DB", str(sample_copy))
    at = app_page("pages/health.py", TIMEOUT)
    at.text_input(key="health_name").input("Ours").run()
    at.button(key="health_save").click().run()
    assert any("version 2" in c.value for c in at.caption)
    at.selectbox(key="health_cfg_pick").select(None).run()
    _no_exception(at)
    assert any("Learned from renewals** (version 1" in c.value for c in at.caption)
