"""The app's store connections: one per script thread, closed at the end of its run or by the janitor.

Streamlit's fast reruns start a session's new run in a new thread before the old run
has stopped. Runs that overlap must not close or overwrite each other's connection,
and a run that ends without releasing must not keep the file locked: another process
(a cron load) must be able to open the store within seconds.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app import ui
from app.data import store
from tests.conftest import ROOT

_OPEN = """
import sys
from app.data import store
con = store.connect(sys.argv[1], wait_seconds=float(sys.argv[2]), ensure=False)
con.execute("SELECT count(*) FROM accounts").fetchall()
con.close()
"""


def _other_process_opens(db: Path, wait_s: float = 5.0) -> bool:
    p = subprocess.run([sys.executable, "-c", _OPEN, str(db), str(wait_s)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    return p.returncode == 0


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ui.duckdb"
    store.connect(path).close()
    monkeypatch.setenv("CS_DB", str(path))
    return path


def test_overlapping_runs_keep_their_own_connections_and_free_the_file(db: Path) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            con = ui.cursor()
            barrier.wait()  # every run has opened: none may have closed another's
            for _ in range(20):
                assert con.execute("SELECT count(*) FROM accounts").fetchall() == [(0,)]
                assert ui.cursor() is con  # the same snapshot for the whole run
            ui.data_version()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            ui.release()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert ui.open_connections(db) == 0
    assert _other_process_opens(db)


def test_a_run_that_ends_without_release_is_closed_by_the_janitor(db: Path) -> None:
    opened = threading.Event()

    def killed_run() -> None:  # e.g. a script thread that died before the entry point's finally
        ui.cursor()
        opened.set()

    t = threading.Thread(target=killed_run)
    t.start()
    t.join(30)
    assert opened.is_set()
    deadline = time.monotonic() + 10 * ui.JANITOR_SECONDS
    while ui.open_connections(db) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ui.open_connections(db) == 0
    assert _other_process_opens(db)


def test_release_only_closes_the_callers_connection(db: Path) -> None:
    ready, done = threading.Event(), threading.Event()
    seen: list[object] = []

    def other_run() -> None:
        con = ui.cursor()
        ready.set()
        done.wait(30)
        seen.append(con.execute("SELECT 1").fetchall())  # still open although the main thread released
        ui.release()

    t = threading.Thread(target=other_run)
    t.start()
    ready.wait(30)
    ui.cursor()
    ui.release()  # the main thread's run ends
    done.set()
    t.join(30)
    assert seen == [[(1,)]]
    assert ui.open_connections(db) == 0


def test_an_upload_is_parsed_once_per_file_and_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.data import importer

    calls: list[str] = []
    real = importer.read_table

    def counting(data: bytes, file_name: str, sheet: str | None = None):  # type: ignore[no-untyped-def]
        calls.append(file_name)
        return real(data, file_name, sheet)

    monkeypatch.setattr(importer, "read_table", counting)

    class Upload:
        def __init__(self, file_id: str) -> None:
            self.file_id, self.name = file_id, "accounts.csv"

        def getvalue(self) -> bytes:
            return b"account_id,name\nA-1,Acme\n"

    up = Upload("test-file-1")
    first = ui.parsed_upload(up, "accounts", None, None, None)
    for _ in range(3):  # reruns of the page: no new parse
        assert ui.parsed_upload(up, "accounts", None, None, None).prep.frame.equals(first.prep.frame)
    assert calls == ["accounts.csv"]
    ui.parsed_upload(up, "accounts", {"account_id": "account_id", "name": ""}, None, None)  # a new mapping
    ui.parsed_upload(Upload("test-file-2"), "accounts", None, None, None)  # a new upload
    assert len(calls) == 3


def test_click_time_downloads_open_their_own_connection_and_close_it(sample_copy) -> None:
    """The lazy downloads (packs, the health CSV/XLSX) run on Streamlit's worker thread when clicked: they open
    the store themselves, wait for a writer like a page does, and leave the file free."""
    got = ui._store_bytes(str(sample_copy), lambda con, n: str(
        con.execute("SELECT count(*) FROM accounts").fetchall()[0][0] + n).encode(), (1,))
    assert int(got) > 1
    deck = ui._pack_bytes(str(sample_copy), "forecast", "pptx", None, ())
    assert deck[:2] == b"PK" and len(deck) > 10_000
    assert _other_process_opens(sample_copy, wait_s=0.0)


_FREEZE = """
import gc, sys, weakref
from app import ui

class Node:
    pass

def garbage_cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

before = garbage_cycle()
ui.freeze_long_lived()
frozen = gc.get_freeze_count()
assert frozen > 10_000, frozen  # the imported modules' objects (pandas, Altair, Streamlit, DuckDB...)
assert before() is None, "garbage made before the freeze was frozen instead of collected"
after = garbage_cycle()
assert gc.collect() >= 2 and after() is None, "garbage made after the freeze is no longer collected"
ui.freeze_long_lived()
assert gc.get_freeze_count() == frozen, "froze again although no module was imported"
import wave  # noqa: F401  (not imported by the app)
ui.freeze_long_lived()
assert gc.get_freeze_count() > frozen, "a run that imported a module did not freeze it"
print("ok")
"""

_ENTRY_POINT_FREEZES = """
import gc
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("streamlit_app.py", default_timeout=120).run()
assert not at.exception, at.exception
print(gc.get_freeze_count())
"""


def test_long_lived_objects_are_frozen_once_per_new_import_and_garbage_is_still_collected() -> None:
    """Streamlit collects every generation after each run; the objects of imported modules are frozen out of
    that walk (ui.freeze_long_lived), only after runs that imported something, and garbage made before or after
    a freeze is still collected. In a fresh interpreter: the freeze count is process-wide."""
    p = subprocess.run([sys.executable, "-c", _FREEZE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]


def test_the_entry_point_freezes_after_its_run(sample_copy: Path) -> None:
    p = subprocess.run([sys.executable, "-c", _ENTRY_POINT_FREEZES], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "CS_DB": str(sample_copy)})
    assert p.returncode == 0, p.stderr[-2000:]
    assert int(p.stdout.strip().splitlines()[-1]) > 10_000
