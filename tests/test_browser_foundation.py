"""Journeys 1 and 2 in a real browser: Home shows the data; a bad upload is refused and changes nothing."""
from __future__ import annotations

import re

import pytest

from tests.conftest import BADFILES

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def metric_value(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return m.locator('[data-testid="stMetricValue"]').inner_text(timeout=30_000)


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


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
