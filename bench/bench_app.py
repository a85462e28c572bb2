"""The app in a real browser: cold start, first render of every page, page switches, peak memory.

Starts `streamlit run streamlit_app.py` on a free port over a store (CS_DB), drives Debian's
Chromium with Playwright and times:

- cold start: process start -> Home's first render complete (the script run is over and an
  h1 is shown), median of several fresh processes; split into "server answers /_stcore/health"
  and "page load -> render complete";
- first render of each page: one pass over the sidebar navigation right after a cold start
  (every page's caches cold, as the first user after a restart sees them);
- page switches: further passes over the navigation (caches warm), median per page;
- prepare forecasts and health scores (`python -m app prepare`, what an import runs after it) before the
  cold starts;
- peak memory of the app process (and any children, e.g. CmdStan) after visiting every page:
  RSS sampled from /proc every 0.2 s, plus the kernel's high-water mark (VmHWM).

Baseline, measured in the same run: a trivial two-page Streamlit app (a title and a line of
text) started and switched the same way, so the ratios show what the app adds on top of
Streamlit itself. If tests/support/browser_timings.py exists, its `measure(base_url, browser)` runs
against the same server (planner slider-to-headline latency and its own page timings).

    PYTHONPATH=. python bench/bench_app.py STORE.duckdb [--runs 3] [--cold 3]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MISSED, Context, Result, load, machine, section  # noqa: E402
from tests.support.server import CHROMIUM_ARGS, Server, serve  # noqa: E402,F401  (shared with the browser tests)

CHROMIUM = "/usr/bin/chromium"
PAGE_TIMEOUT_MS = 900_000  # the forecast page trains the renewal model on the whole base when cold
TRIVIAL_APP = '''import streamlit as st


def one():
    st.title("Trivial page one")
    st.write("hello")


def two():
    st.title("Trivial page two")
    st.write("world")


st.navigation([st.Page(one, title="One", default=True), st.Page(two, title="Two")]).run()
'''
# True once the script run is over and the main area shows an h1 (not `prev`), on the expected path.
RENDERED_JS = """([prev, path]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const h1 = document.querySelector('[data-testid="stMain"] h1') || document.querySelector('h1');
  if (!h1) return false;
  const text = h1.innerText.trim();
  if (!text || (prev !== null && text === prev)) return false;
  if (path !== null && location.pathname.replace(/\\/$/, '') !== path) return false;
  return text;
}"""


def app_pages() -> list[tuple[str, str]]:
    """(URL path, navigation title) of every page ('' = Home), from the one page registry
    (app/present/navigation.py)."""
    from app.present import navigation

    return [(p.url_path, p.title) for p in navigation.PAGES]


# ---------------------------------------------------------------- memory (psutil is not installed: read /proc)

def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


@dataclass
class MemorySampler:
    """Samples the RSS of a process tree every `every` seconds in a thread; peaks in kB.

    Children still running the parent's program (a fork before its exec) share the parent's pages,
    so only exec'd children (CmdStan, ...) count towards children_peak_kb."""

    pid: int
    every: float = 0.2
    peak_kb: int = 0  # main + exec'd children, same sample
    main_peak_kb: int = 0
    children_peak_kb: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> int:
        main = _status_kb(self.pid, "VmRSS")
        name = _comm(self.pid)
        kids = sum(_status_kb(p, "VmRSS") for p in _descendants(self.pid)[1:] if _comm(p) != name)
        self.main_peak_kb = max(self.main_peak_kb, main)
        self.children_peak_kb = max(self.children_peak_kb, kids)
        self.peak_kb = max(self.peak_kb, main + kids)
        self.samples += 1
        return main + kids

    def __enter__(self) -> MemorySampler:
        def loop() -> None:
            while not self._stop.wait(self.every):
                self.sample()
        self.sample()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.sample()

    def hwm_kb(self) -> int:
        """The kernel's peak RSS of the main process (catches spikes between samples)."""
        return _status_kb(self.pid, "VmHWM")


# ---------------------------------------------------------------- browser steps

def wait_rendered(page, prev: str | None, path: str | None, timeout_ms: int = PAGE_TIMEOUT_MS) -> str:
    """Wait until the run is over with a new h1 on `path` ('/x' or '' for Home); returns the h1 text."""
    return page.wait_for_function(RENDERED_JS, arg=[prev, path], timeout=timeout_ms, polling=20).json_value()


def _no_exception(page) -> str | None:
    exc = page.locator('[data-testid="stException"]')
    return exc.first.inner_text()[:300] if exc.count() else None


def cold_start(browser, script: Path, db: Path | None, log: Path, keep=None) -> tuple[float, float, float]:
    """Process start -> Home rendered in a fresh browser context: (total, server healthy, page load -> render).
    With keep (a callable taking (server, page)), run it on the still running server afterwards."""
    with serve(script, db, log) as srv:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = ctx.new_page()
            t_load = time.perf_counter()
            page.goto(srv.url, timeout=PAGE_TIMEOUT_MS)
            wait_rendered(page, None, "")
            done = time.perf_counter()
            total, render = done - srv.started, done - t_load
            if keep is not None:
                keep(srv, page)
        finally:
            ctx.close()
    return total, srv.healthy_s, render


def nav_links(page, base: str) -> dict[str, object]:
    """URL path ('' = Home) -> the sidebar navigation link."""
    links = {}
    for a in page.locator('[data-testid="stSidebarNav"] a').all():
        href = a.get_attribute("href") or ""
        path = href.replace(base, "").strip("/")
        links[path] = a
    return links


def switch(page, base: str, path: str, prev_h1: str) -> tuple[float, str]:
    """Click the page's sidebar link; seconds until its run is over and its h1 is shown."""
    link = nav_links(page, base)[path]
    t0 = time.perf_counter()
    link.click()
    h1 = wait_rendered(page, prev_h1, f"/{path}" if path else "")
    return time.perf_counter() - t0, h1


@dataclass
class AppTimings:
    cold: list[tuple[float, float, float]] = field(default_factory=list)
    first: dict[str, float] = field(default_factory=dict)  # path -> first render after cold start
    switches: dict[str, list[float]] = field(default_factory=dict)  # path -> warm switch times
    peak_rss_kb: int = 0
    children_peak_kb: int = 0
    hwm_kb: int = 0
    rss_after_kb: int = 0
    samples: int = 0
    errors: list[str] = field(default_factory=list)
    extra: dict | None = None  # bench.browser_timings.measure(...)
    extra_error: str = ""


def measure_app(browser, db: Path, tmp: Path, cold_runs: int, warm_cycles: int, with_extra: bool = True
                ) -> AppTimings:
    res = AppTimings()
    pages = app_pages()
    script = ROOT / "streamlit_app.py"

    def tour(srv: Server, page) -> None:
        with MemorySampler(srv.proc.pid) as mem:
            base = srv.url
            h1 = wait_rendered(page, None, "")
            # First pass: every page's first render (caches cold), Home last again.
            for path, _ in [*pages[1:], pages[0]]:
                t, h1 = switch(page, base, path, h1)
                res.first.setdefault(path, t)
                if err := _no_exception(page):
                    res.errors.append(f"{path or 'home'}: {err}")
            # Warm passes.
            for _ in range(warm_cycles):
                for path, _ in [*pages[1:], pages[0]]:
                    t, h1 = switch(page, base, path, h1)
                    res.switches.setdefault(path, []).append(t)
            res.rss_after_kb = mem.sample()
        res.peak_rss_kb, res.hwm_kb, res.samples = mem.peak_kb, mem.hwm_kb(), mem.samples
        res.children_peak_kb = mem.children_peak_kb
        if with_extra:
            try:
                from tests.support import browser_timings
            except ImportError:
                res.extra_error = "tests/support/browser_timings.py not present: planner slider latency not measured"
                return
            try:
                res.extra = browser_timings.measure(srv.url, browser)
            except Exception as exc:  # report, do not lose the rest of the section
                res.extra_error = f"browser_timings.measure failed: {type(exc).__name__}: {exc}"[:500]

    for i in range(cold_runs):
        last = i == cold_runs - 1
        res.cold.append(cold_start(browser, script, db, tmp / f"app{i}.log", tour if last else None))
    return res


def measure_trivial(browser, tmp: Path, cold_runs: int, switches: int) -> tuple[list, list[float], int]:
    """The baseline: the trivial two-page app's cold starts, switches and peak RSS."""
    d = tmp / "trivial"
    d.mkdir(exist_ok=True)
    script = d / "trivial_app.py"
    script.write_text(TRIVIAL_APP)
    times: list[float] = []
    peak = [0]

    def tour(srv: Server, page) -> None:
        with MemorySampler(srv.proc.pid) as mem:
            h1 = wait_rendered(page, None, "")
            links = nav_links(page, srv.url)
            other = next(p for p in links if p)
            for k in range(switches * 2):
                t, h1 = switch(page, srv.url, other if k % 2 == 0 else "", h1)
                times.append(t)
        peak[0] = max(mem.peak_kb, mem.hwm_kb())

    cold = [cold_start(browser, script, None, d / f"trivial{i}.log", tour if i == cold_runs - 1 else None)
            for i in range(cold_runs)]
    return cold, times, peak[0]


def _extra_rows(extra: dict) -> list[str]:
    """browser_timings' figures, compactly (first renders per page, medians of lists)."""
    lines = []
    for k, v in extra.items():
        if isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()):
            lines.append(f"- {k}: " + ", ".join(f"{p or 'home'} {x:.2f}" for p, x in v.items()))
        elif isinstance(v, list) and v and all(isinstance(x, dict) and "s" in x for x in v):
            ts = [float(x["s"]) for x in v]
            lines.append(f"- {k}: median {statistics.median(ts):.3f} over {len(ts)} switches, max {max(ts):.3f}")
        elif isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
            lines.append(f"- {k}: median {statistics.median(v):.3f} over {len(v)} ({', '.join(f'{x:.3f}' for x in v)})")
        elif isinstance(v, float):
            lines.append(f"- {k}: {v:.3f}")
        else:
            lines.append(f"- {k}: {v}")
    return lines


def _extra_results(extra: dict) -> list[Result]:
    """Rows with budgets from browser_timings: the planner slider latency (seconds, target < 250 ms: issue 10)."""
    v = extra.get("slider_to_headline_s")
    if isinstance(v, list) and v:
        return [Result("planner: slider move -> updated headline (tests/support/browser_timings.py)",
                       statistics.median(float(x) for x in v), None, None, "< 250 ms", len(v))]
    return []


@dataclass(frozen=True)
class MemoryResult(Result):
    """A peak-memory row: median_s holds megabytes; the target reads '< 1 GB'."""

    @property
    def met(self) -> bool | None:
        m = re.match(r"^\s*<\s*([\d.]+)\s*GB\s*$", self.target or "")
        return None if not m else self.median_s < float(m.group(1)) * 1024

    def row(self) -> str:
        base = f"{self.baseline_name}: {self.baseline_s:,.0f} MB" if self.baseline_s else "-"
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else "-"
        status = {True: "met", False: MISSED, None: ""}[self.met]
        return (f"| {self.name} | {self.median_s:,.0f} MB | {base} | {ratio} | {self.target or '-'} | {status} "
                f"| {self.runs} |")


def prepare_store(db: Path, log_path: Path) -> float:
    """`python -m app prepare --force` on the store: the step `python -m app load` and the Data page's Import run
    after an import (the model, every contract due scored, the next quarter's calibration and page views).
    --force: a reused base may hold an earlier preparation. Seconds, as a whole process."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "app", "prepare", "--force", "--db", str(db)], cwd=ROOT,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    log_path.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"python -m app prepare failed: {done.stderr[-2000:]}")
    return elapsed


def run(db: Path, tmp: Path, cold_runs: int = 3, warm_cycles: int = 5, db_note: str = "",
        accounts: int | None = None) -> str:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        return section("App in a real browser", [], f"Skipped: {CHROMIUM} is missing (`make bench` installs it).")
    load_before = load()
    t_prepare = prepare_store(db, tmp / "prepare.log")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            t_cold, t_switch, trivial_kb = measure_trivial(browser, tmp, cold_runs, max(3, warm_cycles * 2))
            app = measure_app(browser, db, tmp, cold_runs, warm_cycles)
        finally:
            browser.close()
    med = lambda xs: statistics.median(xs)  # noqa: E731
    b_cold, b_health, b_render = (med([c[k] for c in t_cold]) for k in range(3))
    a_cold, a_health, a_render = (med([c[k] for c in app.cold]) for k in range(3))
    b_switch = med(t_switch)
    titles = dict(app_pages())
    results = [
        Result("cold start: process start -> Home rendered", a_cold, "trivial app", b_cold, "", len(app.cold)),
        Result("  process start -> server answers health check", a_health, "trivial app", b_health, "",
               len(app.cold)),
        Result("  page load -> Home rendered (fresh browser context)", a_render, "trivial app", b_render, "",
               len(app.cold)),
    ]
    n_acc = f"{accounts:,} accounts" if accounts else "the large base"
    results.append(Result(f"prepare forecasts and health scores after import, {n_acc} (`python -m app prepare "
                          "--force`, whole process; health scores only if not built for this data yet)",
                          t_prepare, None, None, "", 1))
    for path, t in app.first.items():
        # the forecast page's budgets (issue 11): < 5 s cold, < 300 ms warm, at 100,000 accounts
        target = "< 5 s" if path == "forecast" and (accounts or 0) >= 100_000 else ""
        name = f"first render after cold start: {titles[path]}" + (f", {n_acc}" if path == "forecast" else "")
        results.append(Result(name, t, "trivial page switch", b_switch, target, 1))
    all_switches = [t for ts in app.switches.values() for t in ts]
    for path, ts in app.switches.items():
        target = "< 300 ms" if path == "forecast" and (accounts or 0) >= 100_000 else ""
        name = f"page switch (warm): -> {titles[path]}" + (f", {n_acc}" if path == "forecast" else "")
        results.append(Result(name, med(ts), "trivial page switch", b_switch, target, len(ts)))
    if all_switches:
        results.append(Result("page switch (warm), all pages", med(all_switches), "trivial page switch", b_switch,
                              "", len(all_switches)))
    if app.extra:
        results += _extra_results(app.extra)
    mb = lambda kb: kb / 1024  # noqa: E731
    results.append(MemoryResult(f"peak memory of the app process (VmHWM) after visiting every page, {n_acc}",
                                mb(max(app.hwm_kb, app.peak_rss_kb)), "trivial app", mb(trivial_kb),
                                "< 1 GB" if (accounts or 0) >= 100_000 else "", 1))
    notes = [
        f"Store: {db_note or db}. Browser: Debian Chromium, headless, one tab at 1400x1000; a page switch is a "
        "click on the sidebar link until the script run is over and the page's h1 is shown. First renders come "
        "from one pass over the navigation right after the last cold start (every cache cold); warm switches "
        f"from {warm_cycles} more passes. {load_before} before, {load()} after.",
        "",
        f"Before the cold starts the store is prepared as after an import (`python -m app prepare --force`: "
        f"{t_prepare:.1f} s, a process of its own, as `python -m app load` and the Data page's Import run it): the "
        "renewal model trained, every contract due in 12 months scored, the next quarter's backfilled windows and "
        "page views stored, and the weekly health scores built (kept if the store already held them for this "
        "data); the pages' first renders read them (other windows and segments are computed on first view and "
        "stored).",
        "",
        f"**Peak memory of the app process** after visiting every page: {mb(app.hwm_kb):,.0f} MB (the kernel's "
        f"high-water mark VmHWM of the streamlit process); RSS sampled every 0.2 s ({app.samples} samples): "
        f"peak {mb(app.peak_rss_kb):,.0f} MB with exec'd children (CmdStan; their own peak "
        f"{mb(app.children_peak_kb):,.0f} MB), {mb(app.rss_after_kb):,.0f} MB at the end. The trivial app peaks "
        f"at {mb(trivial_kb):,.0f} MB.",
    ]
    if app.errors:
        notes += ["", "Exceptions shown on pages: " + "; ".join(app.errors)]
    if app.extra:
        notes += ["", "From tests/support/browser_timings.py (`measure(base_url, browser)`, seconds):",
                  *_extra_rows(app.extra)]
    elif app.extra_error:
        notes += ["", f"Hook: {app.extra_error}."]
    return section("App in a real browser", results, "\n".join(notes))


def run_section(ctx: Context) -> str:
    """The runner's entry: the app over the large base."""
    if ctx.big_db is None:
        raise ValueError("the app section needs the large base (ctx.big_db)")
    d = ctx.tmp / "app"
    d.mkdir(exist_ok=True)
    from bench import big_base

    rows, _ = big_base.counts(ctx.big_db)
    return run(ctx.big_db, d, 1 if ctx.quick else 3, 1 if ctx.quick else 5, ctx.big_note, rows.get("accounts"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", type=Path, help="the store to serve (e.g. one built by `python -m bench.big_base`)")
    ap.add_argument("--cold", type=int, default=3, help="cold starts (median)")
    ap.add_argument("--runs", type=int, default=3, help="warm passes over the navigation")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        text = run(a.db, Path(d), a.cold, a.runs)
    print(f"Machine: {machine()}.\n\n{text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
