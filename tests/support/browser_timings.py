"""What a user waits for in a real browser: page first render, page switch, slider to headline.

Used by the benchmark suite (which measures app cold start itself) and by the
planner browser test. Everything is driven through Playwright's sync API on an
already running app; figures are in seconds.

- first render: ``page.goto`` until the page's ``h1`` is visible and the script
  state is ``notRunning`` (a fresh browser session per page, warm server caches
  after the first visit);
- page switch: a click on a sidebar navigation link until the new page's ``h1``
  is shown and its script run is over (the median over several switches);
- slider to headline: a key press on a planner slider until a headline metric
  shows a new value (the median over several moves that each cross a point where
  the headline changes, so every move is a real update).
"""
from __future__ import annotations

import re
import statistics
import time
from collections.abc import Sequence
from typing import Any

READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
NAV_LINK = '[data-testid="stSidebarNavLink"]'
# The pages in navigation order, by URL path ('' = Home); see streamlit_app.py.
PAGES: tuple[str, ...] = ("", "overview", "benchmarks", "cohorts", "forecast", "planner", "data")
PLANNER_SLIDER = "Accounts per CSM (Mid-Market)"
PLANNER_HEADLINES: tuple[str, ...] = ("Year-end headcount", "Cost as % of ARR")
TIMEOUT_MS = 90_000  # 2 shared cores: a cold page (model fit) can take a while

# Counts finished script runs (any state -> notRunning), so a wait cannot be
# satisfied by the idle state from before a click or key press.
_RUN_COUNTER_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.__csRunCounter) return;
  app.__csRunCounter = true;
  window.__csRuns = window.__csRuns || 0;
  let last = app.getAttribute('data-test-script-state');
  new MutationObserver(() => {
    const s = app.getAttribute('data-test-script-state');
    if (s !== last) { if (s === 'notRunning') window.__csRuns++; last = s; }
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""

# The value text of each named metric (label matched exactly), or null when absent.
_METRICS_JS = """(labels) => labels.map(l => {
  for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
    const lab = m.querySelector('[data-testid="stMetricLabel"]');
    if (lab && lab.innerText.trim() === l) {
      const v = m.querySelector('[data-testid="stMetricValue"]');
      return v ? v.innerText.trim() : null;
    }
  }
  return null;
})"""


def wait_rendered(page: Any, timeout: int = TIMEOUT_MS) -> None:
    """The page's title (h1) is visible and the script run is over."""
    page.locator("h1").first.wait_for(state="visible", timeout=timeout)
    page.locator(READY).wait_for(timeout=timeout)


def install_run_counter(page: Any) -> None:
    page.locator('[data-testid="stApp"]').wait_for(state="attached", timeout=TIMEOUT_MS)
    page.evaluate(_RUN_COUNTER_JS)


def runs_done(page: Any) -> int:
    """Script runs finished in this document since install_run_counter."""
    return int(page.evaluate("() => window.__csRuns || 0"))


def wait_run_after(page: Any, n: int, timeout: int = TIMEOUT_MS, grace: int = 10_000) -> None:
    """Wait until more than n script runs have finished and the app is idle.

    If no finished run is seen within `grace` ms (a very short run can be missed
    when the page re-mounts its root), settle for the app being idle.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("(n) => (window.__csRuns || 0) > n", arg=n, timeout=min(grace, timeout),
                               polling=20)
    except PlaywrightTimeout:
        install_run_counter(page)
    page.locator(READY).wait_for(timeout=timeout)


def headline_texts(page: Any, labels: Sequence[str] = PLANNER_HEADLINES) -> tuple[str | None, ...]:
    return tuple(page.evaluate(_METRICS_JS, list(labels)))


def wait_headlines(page: Any, labels: Sequence[str] = PLANNER_HEADLINES, timeout: int = TIMEOUT_MS
                   ) -> tuple[str, ...]:
    """Wait until every named metric shows a value; return the values."""
    page.wait_for_function(f"(labels) => ({_METRICS_JS})(labels).every(v => v)", arg=list(labels),
                           timeout=timeout, polling=50)
    return headline_texts(page, labels)  # type: ignore[return-value]


def first_render(page: Any, base_url: str, path: str) -> float:
    """Seconds from goto to the page rendered (h1 visible, script idle)."""
    t0 = time.perf_counter()
    page.goto(f"{base_url.rstrip('/')}/{path}")
    wait_rendered(page)
    return time.perf_counter() - t0


def switch_to(page: Any, path: str, title: str) -> float:
    """Click the sidebar link of `path`; seconds until its h1 `title` shows and its run is over."""
    href = re.compile(rf"/{re.escape(path)}$" if path else r"/$")
    target = None
    for i in range(page.locator(NAV_LINK).count()):
        cand = page.locator(NAV_LINK).nth(i)
        if href.search(cand.get_attribute("href") or ""):
            target = cand
            break
    if target is None:
        raise AssertionError(f"no sidebar link to /{path} (links: {page.locator(NAV_LINK).all_inner_texts()})")
    t0 = time.perf_counter()
    target.click()
    # The new page's h1 is sent during its run, so idle after it means that run is over.
    page.locator("h1", has_text=re.compile(f"^{re.escape(title)}$")).first.wait_for(timeout=TIMEOUT_MS)
    page.locator(READY).wait_for(timeout=TIMEOUT_MS)
    return time.perf_counter() - t0


def slider_moves(page: Any, moves: int = 5, slider: str = PLANNER_SLIDER,
                 labels: Sequence[str] = PLANNER_HEADLINES, search: int = 40,
                 timeout_s: float = 30.0) -> tuple[list[float], list[tuple[str | None, ...]]]:
    """On a rendered planner page: seconds from each slider key press to a changed headline.

    First presses ArrowRight (each press waits for its run) until a headline
    changes, then alternates ArrowLeft / ArrowRight across that point, timing
    each move until the headline text differs from before. Returns the times and
    the headline texts seen after each timed move.
    """
    tab = page.get_by_role("tab", name="Coverage")
    if tab.count():
        tab.first.click()
    thumb = page.get_by_role("slider", name=slider)
    thumb.wait_for(timeout=TIMEOUT_MS)
    install_run_counter(page)
    page.locator(READY).wait_for(timeout=TIMEOUT_MS)
    before = wait_headlines(page, labels)
    thumb.focus()
    for _ in range(search):  # find a step where the headline changes
        n = runs_done(page)
        page.keyboard.press("ArrowRight")
        wait_run_after(page, n)
        now = headline_texts(page, labels)
        if now != before:
            before = now
            break
    else:
        raise AssertionError(f"{search} ArrowRight presses on {slider!r} never changed {list(labels)}")
    times: list[float] = []
    seen: list[tuple[str | None, ...]] = []
    for i in range(moves):
        key = "ArrowLeft" if i % 2 == 0 else "ArrowRight"
        n = runs_done(page)
        thumb.focus()
        t0 = time.perf_counter()
        page.keyboard.press(key)
        while True:
            now = headline_texts(page, labels)
            if now != before and None not in now:
                times.append(time.perf_counter() - t0)
                break
            if time.perf_counter() - t0 > timeout_s:
                raise AssertionError(f"{key} on {slider!r}: {list(labels)} still {before} after {timeout_s:.0f} s")
            page.wait_for_timeout(10)
        wait_run_after(page, n)  # let the run finish before the next move
        before = headline_texts(page, labels)
        seen.append(before)
    return times, seen


def measure(base_url: str, browser: Any, switch_rounds: int = 2, moves: int = 5) -> dict[str, Any]:
    """Per-page first render, page-switch times and the planner's slider-to-headline latency, in seconds.

    browser: a Playwright (sync) Browser. Opens and closes its own contexts.
    Keys: first_render_s {path: s}, first_render_median_s, page_switch_s
    [{from, to, s}], page_switch_median_s, slider_to_headline_s [s], slider_to_headline_median_s,
    pages_with_exception [path] (should be empty; if not, the timings are not of the real pages).
    """
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = ctx.new_page()
        # Home first, then every page by its URL (a fresh session each).
        first: dict[str, float] = {}
        titles: dict[str, str] = {}
        failed: list[str] = []  # a page showing a traceback renders fast: its figure would mislead
        for path in PAGES:
            first[path] = first_render(page, base_url, path)
            titles[path] = page.locator("h1").first.inner_text().strip()
            if page.locator('[data-testid="stException"]').count():
                failed.append(path)
        first_render(page, base_url, "")
        switches = []
        here = ""
        for _ in range(switch_rounds):
            for path in (*PAGES[1:], ""):
                switches.append({"from": here, "to": path, "s": switch_to(page, path, titles[path])})
                here = path
    finally:
        ctx.close()
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = ctx.new_page()
        first_render(page, base_url, "planner")
        slider, _ = slider_moves(page, moves)
    finally:
        ctx.close()
    return {
        "first_render_s": first,
        "first_render_median_s": statistics.median(first.values()),
        "page_switch_s": switches,
        "page_switch_median_s": statistics.median(s["s"] for s in switches),
        "slider_to_headline_s": slider,
        "slider_to_headline_median_s": statistics.median(slider),
        "pages_with_exception": failed,
    }


if __name__ == "__main__":  # quick manual run: python -m tests.support.browser_timings http://127.0.0.1:8501
    import json
    import sys

    from playwright.sync_api import sync_playwright

    from tests.support.server import CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        print(json.dumps(measure(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8501", b), indent=2))
        b.close()
