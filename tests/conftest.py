"""Shared fixtures: tiny hand-made stores, the sample store, a running app and a browser."""
from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from app.data import importer, store

ROOT = Path(__file__).resolve().parent.parent
BADFILES = Path(__file__).resolve().parent / "badfiles"
SAMPLE_AS_OF = dt.date(2026, 10, 31)
SAMPLE_ACCOUNTS = 1200  # enough history for the renewal model to beat its baseline (at 600 it does not)


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def make_store(path: Path, frames: dict[str, pd.DataFrame], as_of: str) -> store.Cursor:
    """A store holding exactly these frames (missing kinds empty), derived tables built."""
    con = store.connect(path)  # a connection is also a cursor; close() releases the file
    importer.load_frames(con, frames, as_of=as_of, label="test data")
    return con


@pytest.fixture
def empty_cur(tmp_path: Path) -> store.Cursor:
    return store.connect(tmp_path / "empty.duckdb").cursor()


@pytest.fixture
def two_accounts_cur(tmp_path: Path) -> store.Cursor:
    """Accounts A-1 (SMB) and A-2 (Enterprise), no subscriptions."""
    frames = {"accounts": pd.DataFrame({"account_id": ["A-1", "A-2"], "name": ["Acme", "Beta"],
                                        "segment": ["SMB", "Enterprise"]})}
    return make_store(tmp_path / "two.duckdb", frames, "2024-12-31")


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small sample company (SAMPLE_ACCOUNTS accounts) built once per test session; copy it before writing."""
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    con = store.connect(path)
    importer.load_sample(con, seed=7, n_accounts=SAMPLE_ACCOUNTS, as_of=SAMPLE_AS_OF)
    con.close()
    return path


@pytest.fixture
def sample_copy(sample_db: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "sample.duckdb"
    shutil.copy(sample_db, dst)
    return dst


@contextlib.contextmanager
def running_app(db: Path, log_path: Path, *extra_args: str):
    """`streamlit run streamlit_app.py` on a free port over the store db (plus extra server options); yields the URL."""
    from tests.support.server import serve

    with serve(ROOT / "streamlit_app.py", db, log_path, extra_args=tuple(extra_args)) as server:
        yield server.url


@pytest.fixture(scope="session")
def app_server(sample_db: Path, tmp_path_factory: pytest.TempPathFactory):
    """The app over a copy of the sample store, shared by read-only browser tests."""
    d = tmp_path_factory.mktemp("server")
    db = d / "app.duckdb"
    shutil.copy(sample_db, db)
    with running_app(db, d / "streamlit.log") as url:
        yield {"url": url, "db": db}


from tests.support.server import CHROMIUM_ARGS  # noqa: E402  (one list of Chromium flags for tests and benchmarks)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def app_page(page: str, timeout: int = 120):
    """Run the app through its entry point (as a browser does: navigation, one snapshot per run) on a page."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../streamlit_app.py", default_timeout=timeout)
    at.run()
    if page != "pages/home.py":
        at.switch_page(page)
        at.run()
    return at


def each_section(at) -> Iterator[str]:
    """Rerun the page with every lazy section open (app.ui.LAZY_SECTIONS): each tab of each lazy tab group in
    turn, with every lazy expander open (those inside a tab once that tab has shown them); yields what is open
    after each run. The page must have run once."""
    from app import ui

    opened: set[str] = set()

    def open_expanders() -> bool:
        new = [k for k, v in list(ui.LAZY_SECTIONS.items()) if v == (True,) and k not in opened]
        for key in new:
            at.session_state[key] = True
            opened.add(key)
        return bool(new)

    if open_expanders():
        at.run()
        yield "every lazy expander open"
    seen: set[str] = set()
    while todo := [k for k in at.session_state.keys()  # noqa: SIM118  (AppTest's state has no __iter__)
                   if k in ui.LAZY_SECTIONS and ui.LAZY_SECTIONS[k] != (True,) and k not in seen]:
        for key in todo:
            seen.add(key)
            for value in ui.LAZY_SECTIONS[key]:
                at.session_state[key] = value
                at.run()
                yield f"{key} = {value}"
                if open_expanders():
                    at.run()
                    yield f"{key} = {value}, its lazy expanders open"


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test run (local[2], web UI off, 4 shuffle partitions): the
    JVM starts once (~20-30 s here) and stops at the session's end. Used by tests/test_rollup.py and
    tests/test_fanout.py (marked slow; they still run in `make test`)."""
    from app.scale import spark as sparkmod

    session = sparkmod.session(master="local[2]", shuffle_partitions=4)
    yield session
    session.stop()
