"""Every page over store compositions (Streamlit AppTest through the entry point): no exception,
no traceback, whatever is loaded (issue 10). Stores come from tests/support/compositions.py."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.present import navigation
from tests.conftest import ROOT, each_section
from tests.support.compositions import NAMED, build

APP = "../streamlit_app.py"
PAGES = [p.file for p in navigation.PAGES]  # the one page registry

# A handful by default (each page run costs 1-3 s); the rest in the slow sweep.
DEFAULT = [
    "sample + own accounts appended + own subscriptions replaced",
    "one month",
    "accounts without subscriptions, with usage and NPS",
]
SLOW = [n for n in NAMED if n not in DEFAULT]


def test_every_page_is_listed():
    assert sorted(PAGES, key=PAGES.index) == PAGES and len(PAGES) == len(list((ROOT / "pages").glob("*.py"))) == 9
    assert "pages/forecast.py" in PAGES and "pages/home.py" in PAGES and "pages/account.py" in PAGES


def run_pages(db, monkeypatch) -> None:
    monkeypatch.setenv("CS_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    for page in PAGES:
        if page != "pages/home.py":
            at.switch_page(page)
            at.run()
        check(at, f"{page} on {db.name}")
        for opened in each_section(at):  # the lazy tabs and expanders too
            check(at, f"{page} on {db.name}, {opened}")


def check(at: AppTest, where: str) -> None:
    assert not at.exception, f"{where}: {[e.message for e in at.exception]}\n" + \
        "\n".join(str(e.stack_trace) for e in at.exception)[-3000:]
    for e in at.error:
        assert "Traceback" not in str(e.value), f"{where}: {e.value}"
    assert at.title or at.header or at.markdown, f"{where}: rendered nothing"


@pytest.mark.parametrize("name", DEFAULT)
def test_every_page_on_composition(name, tmp_path, monkeypatch):
    run_pages(build(NAMED[name], tmp_path / "store.duckdb"), monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_every_page_on_composition_slow(name, tmp_path, monkeypatch):
    run_pages(build(NAMED[name], tmp_path / "store.duckdb"), monkeypatch)


@pytest.mark.slow
def test_every_page_on_random_compositions(tmp_path_factory, monkeypatch):
    """Random compositions (tests/support/compositions.py): each page, no exception."""
    from hypothesis import HealthCheck, given, settings

    from tests.support.compositions import compositions

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(compositions())
    def check(comp):
        d = tmp_path_factory.mktemp("random")
        run_pages(build(comp, d / "store.duckdb"), monkeypatch)

    check()
