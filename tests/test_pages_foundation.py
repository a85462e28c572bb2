"""AppTest page tests: Home and Data."""
from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import d, make_store

APP = "../streamlit_app.py"


@pytest.fixture
def tiny_db(tmp_path, monkeypatch):
    frames = {
        "accounts": pd.DataFrame({"account_id": ["A-1", "A-2"], "name": ["Acme", "Beta"],
                                  "segment": ["SMB", "Enterprise"]}),
        "subscriptions": pd.DataFrame({"account_id": ["A-1", "A-2"], "start_date": [d("2024-01-01"), d("2024-03-01")],
                                       "end_date": [None, None], "arr": [1200.0, 50000.0]}),
    }
    path = tmp_path / "tiny.duckdb"
    cur = make_store(path, frames, "2024-06-30")
    cur.close()
    monkeypatch.setenv("CS_DB", str(path))
    return path


def run_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, at.exception
    return at


def test_home_shows_what_is_loaded(tiny_db):
    at = run_app()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["As of"] == "30 Jun 2024"
    assert metrics["Accounts with ARR"] == "2"
    assert metrics["ARR"] == "$51.2k"  # compact, as on every page; the exact figure is in its help
    assert [m.help for m in at.metric if m.label == "ARR"][0].startswith("$51,200: ")
    table = at.dataframe[0].value
    assert dict(zip(table["table"], table["rows"], strict=True))["subscriptions"] == 2


def test_home_on_an_empty_store_points_to_data(tmp_path, monkeypatch):
    monkeypatch.setenv("CS_DB", str(tmp_path / "empty.duckdb"))
    at = run_app()
    assert "holds no data yet" in at.warning[0].value


def test_data_page_renders_history_and_choices(tiny_db):
    at = run_app("pages/data.py")
    assert at.title[0].value == "Data"
    assert "accounts" in at.selectbox[0].options[0]
    assert at.radio[0].options == ["replace", "append"]
    hist = at.dataframe[0].value
    assert hist["file_name"].iloc[0] == "test data"


def test_the_one_private_streamlit_dependency_is_still_there():
    """app/ui.py's _leave_pages_directory_mode is the app's only use of a private Streamlit API.

    It switches off the old pages-directory mode so a first visit straight to /planner runs through
    streamlit_app.py. If a Streamlit upgrade renames or drops this attribute, fail here, loudly, rather
    than let that first visit silently lose the page config and navigation.
    """
    import streamlit
    from streamlit.runtime.pages_manager import PagesManager

    assert streamlit.__version__ == "1.67.0", "re-check app/ui.py _leave_pages_directory_mode for this release"
    assert hasattr(PagesManager, "uses_pages_directory")


def test_one_page_registry_for_the_app_the_tests_and_the_benchmark():
    from pathlib import Path

    from app import ui
    from app.present import navigation
    from bench.bench_app import app_pages
    from tests.browser_util import page_paths

    root = Path(__file__).resolve().parent.parent
    files = {p.file for p in navigation.PAGES}
    assert files == {f"pages/{f.name}" for f in (root / "pages").glob("*.py")}  # every page file is registered
    assert [p for p, _ in app_pages()] == page_paths() == [p.url_path for p in navigation.PAGES]
    assert [f for f, _, _ in ui.NEXT_STEPS] == [p.file for p in navigation.next_steps()]
    assert "navigation.sections()" in (root / "streamlit_app.py").read_text()
