"""Helpers for Playwright tests against the running app."""
from __future__ import annotations

import re

READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def page_paths() -> list[str]:
    """URL paths of every page in the navigation ('' = Home), read from streamlit_app.py."""
    from app.present import navigation

    return [p.url_path for p in navigation.PAGES]


def wait_ready(page, text: str | None = None, timeout: int = 90_000) -> None:
    """Wait until the script run is over (and a text is shown)."""
    if text:
        page.get_by_text(text, exact=False).first.wait_for(timeout=timeout)
    page.locator(READY).wait_for(timeout=timeout)


def metric_value(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{re.escape(label)}$"))).first
    return m.locator('[data-testid="stMetricValue"]').inner_text(timeout=60_000)


def assert_no_exception(page) -> None:
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()
