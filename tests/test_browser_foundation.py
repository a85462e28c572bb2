"""Journeys 1 and 2 in a real browser: Home shows the data; a bad upload is refused and changes nothing."""
from __future__ import annotations

import re

import pytest

from tests.browser_util import assert_no_exception as no_exception
from tests.browser_util import metric_value, page_paths, wait_ready
from tests.conftest import BADFILES

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_every_page_renders_without_exception(app_server, page):
    for path in page_paths():
        page.goto(f"{app_server['url']}/{path}")
        wait_ready(page)
        page.locator("h1").first.wait_for(timeout=60_000)
        no_exception(page)


def test_home_then_bad_upload_then_home_unchanged(app_server, page):
    page.goto(app_server["url"])
    page.get_by_text("What is loaded").wait_for(timeout=60_000)
    accounts_before = metric_value(page, "Accounts with ARR")
    arr_before = metric_value(page, "ARR")
    assert re.fullmatch(r"[\d,]+", accounts_before) and int(accounts_before.replace(",", "")) > 100
    no_exception(page)

    page.goto(app_server["url"] + "/data")
    page.get_by_text("Import history").wait_for(timeout=60_000)
    page.locator('input[type="file"]').set_input_files(str(BADFILES / "duplicate_ids.csv"))
    page.get_by_text("problem(s) found").wait_for(timeout=60_000)
    body = page.inner_text("body")
    assert "a unique account_id (first seen at row 2)" in body
    assert page.get_by_role("button", name="Import").first.is_disabled()
    no_exception(page)

    page.goto(app_server["url"])
    page.get_by_text("What is loaded").wait_for(timeout=60_000)
    assert metric_value(page, "Accounts with ARR") == accounts_before
    assert metric_value(page, "ARR") == arr_before
    no_exception(page)


def test_first_visit_after_start_straight_to_a_page_uses_the_app_navigation(sample_db, tmp_path, page):
    """A bookmarked link opened right after the server starts still gets the app's layout and sidebar."""
    import shutil

    from tests.conftest import running_app

    db = tmp_path / "app.duckdb"
    shutil.copy(sample_db, db)
    with running_app(db, tmp_path / "st.log") as url:
        page.goto(url + "/benchmarks")
        wait_ready(page, "Retention benchmarks")
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Cohorts & churn" in nav and "streamlit app" not in nav
        no_exception(page)


def test_upload_over_the_size_limit_is_refused_and_nothing_changes(sample_db, tmp_path, page):
    """server.maxUploadSize (MB) caps uploads; here 1 MB, and a 2 MB file is refused with a clear message."""
    import shutil

    from tests.conftest import running_app

    db = tmp_path / "app.duckdb"
    shutil.copy(sample_db, db)
    big = tmp_path / "big.csv"
    big.write_text("account_id,name\n" + "".join(f"A-{i},Company {i}\n" for i in range(120_000)))
    assert big.stat().st_size > 2_000_000
    with running_app(db, tmp_path / "st.log", "--server.maxUploadSize", "1") as url:
        page.goto(url)
        wait_ready(page, "What is loaded")
        before = metric_value(page, "Accounts with ARR")
        page.goto(url + "/data")
        wait_ready(page, "Import history")
        page.locator('input[type="file"]').set_input_files(str(big))
        page.get_by_text("1.0MB", exact=False).first.wait_for(timeout=30_000)
        body = page.inner_text("body")
        assert "must be 1.0MB or smaller" in body or "exceeds" in body.lower()
        assert "Ready to import" not in body
        page.goto(url)
        wait_ready(page, "What is loaded")
        assert metric_value(page, "Accounts with ARR") == before


def test_cron_load_while_the_app_is_running_then_pages_show_it(sample_db, tmp_path, page):
    """Journey 2, step 3: `python -m app load` from cron works while the app serves users."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import ROOT, running_app

    db = tmp_path / "app.duckdb"
    shutil.copy(sample_db, db)
    new = tmp_path / "new_accounts.csv"
    new.write_text("Account ID,Company Name,Tier\nCRON-1,Cron Corp,SMB\n")
    with running_app(db, tmp_path / "st.log") as url:
        page.goto(url)
        wait_ready(page, "What is loaded")
        r = subprocess.run([sys.executable, "-m", "app", "load", "accounts", str(new), "--mode", "append",
                            "--db", str(db)], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        page.goto(url)
        wait_ready(page, "What is loaded")
        assert "Last import: new_accounts.csv into accounts (1 row, append)" in page.inner_text("body")
        no_exception(page)
