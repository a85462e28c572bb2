"""The one small UI-glue module: Streamlit caching, shared filters, downloads.

Pages import this (and streamlit); nothing else in app/ does. Caching lives
here: the connection is a cache_resource, results are cache_data keyed by small
parameters plus the data version.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import gc
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import altair as alt
import pandas as pd
import streamlit as st

from app.data import store
from app.present import charts, export, navigation
from app.rules import periods

T = TypeVar("T")


def _leave_pages_directory_mode() -> None:
    """Make a first visit straight to a page URL go through streamlit_app.py.

    Streamlit treats an app with a pages/ folder as an old-style multipage app
    until some run calls st.navigation, so right after a server start a link to
    /planner would run pages/planner.py alone (no page config, file names in the
    sidebar). The first page to import this module switches that mode off and
    reruns, this time through the entry point.
    """
    # The app's only private Streamlit API, isolated here; tests/test_pages_foundation.py fails on an upgrade.
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if getattr(PagesManager, "uses_pages_directory", False) and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_directory_mode()

# Home's "where to go next": (page file, label, what the user gets there), from the one page registry.
NEXT_STEPS: list[tuple[str, str, str]] = [(p.file, p.title, p.blurb) for p in navigation.next_steps()]

SEGMENT_KEY = "segment_filter"  # non-widget key: survives page switches
ALL = "All segments"


# How long a page waits for the store while another process (a cron load) writes it.
STORE_WAIT_SECONDS = 60.0
# How often the janitor closes connections left by script threads that have ended.
JANITOR_SECONDS = 1.0


@dataclass
class _Held:
    """The store as one script run (one thread) sees it."""

    thread: threading.Thread  # the script thread that owns it; only it uses and closes it
    path: str
    con: store.Cursor  # read connection with an open transaction: one snapshot
    writers: list[store.Cursor] = field(default_factory=list)  # cursors for imports and saves
    version: str | None = None  # data version of the snapshot, read once


# Connections by owning thread. Not in st.session_state: with fast reruns Streamlit starts
# a session's new run in a new thread before the old run has stopped, and both share the
# session's state. When each run kept "the" connection there, two runs overwrote each
# other's entry and one connection was never closed; it held the file lock until Python's
# cyclic garbage collector happened to run (minutes on an idle server).
_HELD: dict[int, _Held] = {}
_schema_ready: set[str] = set()
# Guards _HELD, and serialises opens and closes: DuckDB shares one database instance among a
# process's connections to a file and tears it down with the last one; an open racing that
# teardown fails ("already attached").
_LOCK = threading.Lock()
_janitor: threading.Thread | None = None


def _close(held: _Held) -> None:
    store.unpin_meta(held.con)
    for c in [*held.writers, held.con]:
        with contextlib.suppress(Exception):  # already closed
            c.close()


def _reap() -> int:
    """Close the connections of script threads that have ended (a run killed before its release)."""
    with _LOCK:
        dead = [k for k, h in _HELD.items() if not h.thread.is_alive()]
        for k in dead:
            _close(_HELD.pop(k))
    return len(dead)


_STOP = threading.Event()


def _janitor_loop() -> None:
    while not _STOP.wait(JANITOR_SECONDS):
        _reap()


@atexit.register
def _stop_janitor() -> None:
    """At interpreter exit, before daemon threads are cut off: stop the janitor and close what it would have.

    A daemon thread cut off inside DuckDB's C++ (closing a connection as the interpreter finalises) aborts
    the process ("FATAL: exception not rethrown", exit 134) after everything else has passed."""
    _STOP.set()
    if _janitor is not None:
        _janitor.join(10)
    _reap()


def _start_janitor() -> None:
    global _janitor
    if _janitor is None or not _janitor.is_alive():
        _janitor = threading.Thread(target=_janitor_loop, name="cs-store-janitor", daemon=True)
        _janitor.start()


def _held() -> _Held | None:
    t = threading.current_thread()
    with _LOCK:
        held = _HELD.get(t.ident or 0)
    return held if held is not None and held.thread is t else None


def _open_waiting(path: str, ensure: bool) -> store.Cursor:
    """Open the store, waiting up to STORE_WAIT_SECONDS for another process (a cron load) to let go of it,
    without holding _LOCK meanwhile (this process's other sessions go on)."""
    deadline = time.monotonic() + STORE_WAIT_SECONDS
    while True:
        try:
            with _LOCK:
                return store.connect(path, ensure=ensure)
        except store.StoreError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.25)


def cursor() -> store.Cursor:
    """This run's read connection: one snapshot of the store for the whole script run.

    So a page never mixes data from before and after an import that commits while it
    renders. Each run (each script thread) opens its own connection (DuckDB rejects one
    connection shared by busy threads; the open costs ~20 ms) with an open read
    transaction; release() closes it when the run ends (streamlit_app.py), and a janitor
    closes any whose thread ended without it, so between runs the file is free for
    `python -m app load` from cron.
    """
    path = str(store.db_path())
    held = _held()
    if held is not None and held.path == path:
        return held.con
    release()
    con = _open_waiting(path, ensure=path not in _schema_ready)
    _schema_ready.add(path)
    t = threading.current_thread()
    try:
        con.execute("BEGIN TRANSACTION")
        store.pin_meta(con)  # the run's settings (as-of, fiscal year, currency...) in one query
    finally:
        with _LOCK:
            _HELD[t.ident or 0] = _Held(t, path, con)
    _start_janitor()
    return con


def write_cursor() -> store.Cursor:
    """A cursor for imports and saves (they open their own transaction); closed with the run."""
    cur = cursor().cursor()
    held = _held()
    assert held is not None
    held.writers.append(cur)
    return cur


def release() -> None:
    """Close this run's connection and cursors (called when a run or a fragment rerun ends)."""
    t = threading.current_thread()
    with _LOCK:
        held = _HELD.get(t.ident or 0)
        if held is None:
            return
        del _HELD[t.ident or 0]
        _close(held)


_FROZEN_AT_MODULES = [0]  # len(sys.modules) at the last freeze


def freeze_long_lived() -> None:
    """After a run that imported modules: collect once, then move every surviving object out of the cyclic
    garbage collector's reach (gc.freeze), called when a run ends.

    Why: Streamlit runs a full collection after every script run (runner.postScriptGC). With pandas,
    scikit-learn, Altair and Prophet loaded that walks ~300,000 objects, 110-220 ms holding the GIL, so the
    run's last messages reached the browser that much later on every page switch (measured: the forecast
    page's server CPU per warm switch 260 -> 120 ms, a page with nothing on it 170 -> 40 ms). What is frozen is
    mostly module state that lives as long as the process; a frozen object is still freed by reference counting,
    only cyclic garbage among them is not, and a freeze happens only when a run imported something new (a few
    times per process).
    """
    n = len(sys.modules)
    with _LOCK:
        if n <= _FROZEN_AT_MODULES[0]:
            return
        _FROZEN_AT_MODULES[0] = n
    gc.collect()
    gc.freeze()


@atexit.register
def _unfreeze() -> None:
    """Hand frozen objects back to the collector at exit, so interpreter shutdown frees them (DuckDB's bindings
    report every object still alive then as a leak)."""
    gc.unfreeze()


def open_connections(path: Any = None) -> int:
    """How many store connections this process holds now, to the store at path if given (for tests and
    diagnostics: other sessions' runs may hold connections to other stores meanwhile)."""
    with _LOCK:
        return sum(1 for h in _HELD.values() if path is None or h.path == str(path))


def fragment(fn: Callable[..., T]) -> Callable[..., T]:
    """st.fragment whose own reruns release the store too (they do not pass through streamlit_app.py).

    A fragment that finds no connection open in its thread is running on its own (a
    fragment rerun): it closes what it opened. Inside a full page run the page's
    connection is already open and the entry point closes it.
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        owns = _held() is None
        try:
            return fn(*args, **kwargs)
        finally:
            if owns:
                release()

    return st.fragment(run)


def data_version() -> str:
    """The store's data version as this run's snapshot sees it (read once per run)."""
    con = cursor()
    held = _held()
    assert held is not None
    if held.version is None:
        # The store's path too: the caches are per process, and two stores can share a version
        # string (the same number of imports and as-of date); tests open many stores in one process.
        held.version = f"{held.path}:{store.data_version(con)}"
    return held.version


@st.cache_data(ttl=3600, max_entries=256, show_spinner=False)
def _cached(fn_name: str, version: str, args: tuple, kwargs: tuple) -> Any:
    fn = _REGISTRY[fn_name]
    return fn(cursor(), *args, **dict(kwargs))


_REGISTRY: dict[str, Callable[..., Any]] = {}


def cached(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call fn(cursor, *args, **kwargs), cached by the function, its small arguments and the data version."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    _REGISTRY[name] = fn
    return _cached(name, data_version(), tuple(args), tuple(sorted(kwargs.items())))


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def _cached_write(fn_name: str, version: str, args: tuple, kwargs: tuple) -> Any:
    return _REGISTRY[fn_name](write_cursor(), *args, **dict(kwargs))


def cached_write(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """As cached, but fn gets a cursor that may write and sees the latest commits: for results stored in the store
    on first need (health snapshots) and read back in the same run."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    _REGISTRY[name] = fn
    return _cached_write(name, data_version(), tuple(args), tuple(sorted(kwargs.items())))


@st.cache_data(ttl=3600, max_entries=8, show_spinner=False)
def _parse(file_id: str, kind: str, mapping: tuple | None, sheet: str | None, date_format: str | None,
           _data: bytes, file_name: str, preset: str | None = None) -> Any:
    from app.data import importer

    return importer.parse(_data, file_name, kind, dict(mapping) if mapping is not None else None, sheet, date_format,
                          preset)


def parsed_upload(upload: Any, kind: str, mapping: dict[str, str] | None, sheet: str | None,
                  date_format: str | None, preset: str | None = None) -> Any:
    """importer.parse of an uploaded file, once per file and choices (not on every rerun of the Data page).

    Keyed by the upload's id (a new upload of the same name is a new file), never by hashing its bytes.
    """
    return _parse(str(upload.file_id), kind, tuple(sorted(mapping.items())) if mapping is not None else None, sheet,
                  date_format, upload.getvalue(), upload.name, preset)


def as_of() -> dt.date:
    return store.as_of(cursor())


def fiscal_start() -> int:
    """The store's fiscal-year start month (1-12) as this run's snapshot sees it."""
    return store.fiscal_year_start(cursor())


def sidebar_context() -> None:
    """On every page: which data this is (the sample company badge), its as-of date, currency and fiscal year."""
    cur = cursor()
    sample = store.sample_label(cur)
    side = st.sidebar
    if sample:
        side.badge("Sample company", icon=":material/science:", color="orange",
                   help=f"Generated data ({sample}). Start with your own on the Data page.")
    fy = store.fiscal_year_start(cur)
    from app.present import fmt
    from app.sources import fx

    ccy = fx.reporting_currency(cur)
    fmt.set_currency(ccy)  # every money figure this run is written in the store's currency
    side.caption(f"As of {store.as_of(cur):%d %b %Y} · {ccy}"
                 + ("" if fy == 1 else f" · fiscal year {periods.fiscal_year_text(fy).split(',')[0]}"),
                 help="The month end every figure is computed at, and the reporting currency every amount is in; "
                      "set them and the fiscal year on the Data page.")


def kept(key: str, default: Any, options: Any = None) -> dict[str, Any]:
    """The keyword arguments (key, on_change, args) of a widget whose value survives runs that do not draw it.

    Streamlit drops a widget's state, keyed or not, in any run that does not draw it: another page, a closed
    lazy section. So the value lives under the non-widget key `key` (tests and links may set it) and is put
    back into the widget's own key before the widget is drawn; draw the widget without its own default
    (value, default, index). A kept value no longer among options (a list: its items) falls back to default.
    """
    value = st.session_state.get(key, default)
    if options is not None:
        allowed = list(options)
        value = [v for v in value if v in allowed] if isinstance(value, list) else (
            value if value in allowed else default)
    st.session_state[_KEPT_WIDGET + key] = value
    return {"key": _KEPT_WIDGET + key, "on_change": _keep, "args": (key,)}


_KEPT_WIDGET = "_widget_"


def _keep(key: str) -> None:
    st.session_state[key] = st.session_state[_KEPT_WIDGET + key]


def segment_filter(segments: list[str], where: Any = None) -> str | None:
    """A segment select whose value is kept across pages; returns None for all segments."""
    options = [ALL, *segments]
    choice = (where or st.sidebar).selectbox("Segment", options, help="Filters every page by the account's "
                                             "current segment.", **kept(SEGMENT_KEY, ALL, options))
    return None if choice == ALL else choice


def downloads(chart: alt.Chart | None, data: pd.DataFrame, name: str, where: Any = None) -> None:
    """PNG of the chart and CSV of its data, side by side."""
    where = where or st
    cols = where.columns(2)
    if chart is not None:
        # Callables defer the work to the click: rendering a PNG costs ~75 ms.
        cols[0].download_button("Chart (PNG)", data=lambda: charts.to_png(chart), file_name=f"{name}.png",
                                mime="image/png", key=f"png_{name}", on_click="ignore")
    cols[1].download_button("Data (CSV)", data=lambda: export.to_csv_bytes(data), file_name=f"{name}.csv",
                            mime="text/csv", key=f"csv_{name}", on_click="ignore")


# Session keys of the lazy sections (lazy_tabs, lazy_expander) -> the values that open each of them: a section's
# content is built and sent only while it is open, so the page tests open every one (tests/conftest.py).
LAZY_SECTIONS: dict[str, tuple[Any, ...]] = {}


def lazy_tabs(labels: list[str], key: str) -> Any:
    """st.tabs whose closed tabs are not built: `if tab.open: with tab: ...` (a rerun on every switch)."""
    LAZY_SECTIONS[key] = tuple(labels)
    return st.tabs(labels, key=key, on_change="rerun")


def lazy_expander(label: str, key: str, where: Any = None) -> Any:
    """st.expander whose content is built only while it is open: `if box.open: with box: ...`."""
    LAZY_SECTIONS[key] = (True,)
    return (where or st).expander(label, key=key, on_change="rerun")


def with_account_links(df: pd.DataFrame, id_col: str = "account_id") -> pd.DataFrame:
    """df with a first column "link": the account page's URL for the row's account (render it with
    account_link_column). Every table that lists accounts opens the account page this way."""
    from urllib.parse import quote

    out = df.copy()
    out.insert(0, "link", [f"/account?account={quote(str(a), safe='')}" for a in out[id_col]])
    return out


def account_link_column(label: str = "Account", width: int | None = None) -> Any:
    """The link column of with_account_links: shows the account id, opens the account page."""
    return st.column_config.LinkColumn(label, display_text=r"account=(.*)$", help="Opens the account page.",
                                       width=width)


def pack_download(kind: str, segment: str | None = None, scenarios: tuple[Any, ...] = (), where: Any = None,
                  key: str = "") -> None:
    """"Download pack" as PowerPoint and as PDF, built on click from the store (the button spins meanwhile).

    kind: board | forecast | plan (app.packs); scenarios: saved names or Scenario objects (plan, board).
    """
    from app import packs

    where = where or st
    path, day = str(store.db_path()), as_of()
    cols = where.columns(2)
    labels = ("Download pack (PowerPoint)", "Download pack (PDF)")
    for col, fmt_, label in zip(cols, packs.FORMATS, labels, strict=False):
        col.download_button(
            label, data=functools.partial(_pack_bytes, path, kind, fmt_, segment, tuple(scenarios)),
            file_name=packs.file_name(kind, day, fmt_, segment), mime=packs.MIME[fmt_], on_click="ignore",
            key=f"pack_{kind}_{fmt_}_{key}",
            icon=":material/slideshow:" if fmt_ == "pptx" else ":material/picture_as_pdf:",
            help=f"The {kind} pack ({segment or 'all segments'}, as of {day:%d %b %Y}): the figures of these pages "
                 "with definitions and sources in the notes. PowerPoint charts are native and editable. Built when "
                 "clicked (a few seconds; `python -m app deck` does the same from cron).")


def _pack_bytes(path: str, kind: str, fmt_: str, segment: str | None, scenarios: tuple[Any, ...]) -> bytes:
    """Runs on Streamlit's worker thread when the button is clicked: its own store connection, closed here."""
    from app import packs

    return _store_bytes(path, packs.build, (kind, fmt_, segment, scenarios))


def store_bytes(fn: Callable[..., bytes], *args: Any) -> Callable[[], bytes]:
    """data= for st.download_button (with on_click="ignore"): fn(connection, *args) run only when clicked, on
    its own store connection as the packs are (a big export is not built on every rerun)."""
    return functools.partial(_store_bytes, str(store.db_path()), fn, args)


def _store_bytes(path: str, fn: Callable[..., bytes], args: tuple[Any, ...]) -> bytes:
    con = _open_waiting(path, ensure=False)
    try:
        return fn(con, *args)
    finally:
        with _LOCK:
            con.close()


_FLASH = "_flash"


def flash(message: str, ok: bool) -> None:
    """A message to show once on the next run (after st.rerun)."""
    st.session_state[_FLASH] = (message, ok)


def show_flash() -> None:
    msg = st.session_state.pop(_FLASH, None)
    if msg:
        (st.success if msg[1] else st.error)(msg[0])
