"""Journey 3 in a real browser: CS Ops opens the forecast, reads renewals due and exports the at-risk list."""
from __future__ import annotations

import re

import openpyxl
import pandas as pd
import pytest

from tests.browser_util import assert_no_exception as no_exception
from tests.browser_util import metric_value
from tests.support.browser_timings import first_render

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AT_RISK_COLUMNS = ["Account", "Name", "Segment", "CSM", "CSM id", "Billing", "Renewal date", "Renewals in window",
                   "ARR due", "P(renew)", "Expected ARR lost", "Driver 1", "Play 1", "Driver 2", "Play 2", "Driver 3",
                   "Play 3"]
FORMULA_START = ("=", "+", "-", "@")


def dollars(text: str) -> tuple[float, float]:
    """'$3.22M' -> (3_220_000, 5_000): the value and half a unit of its last shown digit."""
    m = re.fullmatch(r"\$([\d,]+)(?:\.(\d+))?([kMB]?)", text.strip())
    assert m, f"not a money figure: {text!r}"
    scale = {"": 1, "k": 1e3, "M": 1e6, "B": 1e9}[m.group(3)]
    decimals = len(m.group(2) or "")
    value = float(m.group(1).replace(",", "") + (f".{m.group(2)}" if m.group(2) else "")) * scale
    return value, 0.5 * scale * 10 ** -decimals


def open_section(page, tab: str, waits_for: str) -> str:
    """Click one of the page's lazy tabs; once its content is there (the text waits_for), the body's text."""
    page.get_by_role("tab", name=tab).click()
    page.get_by_text(waits_for).first.wait_for(timeout=120_000)
    return page.inner_text("body")


def test_forecast_page_renewals_backtest_and_at_risk_xlsx(app_server, page, tmp_path):
    first_render(page, app_server["url"], "forecast")
    due, _ = dollars(metric_value(page, "ARR due"))
    expected, _ = dollars(metric_value(page, "Expected renewed ARR"))
    at_risk, at_risk_tol = dollars(metric_value(page, "ARR at risk"))
    assert 0 < expected <= due and 0 < at_risk < due, (due, expected, at_risk)
    band = page.locator('[data-testid="stMetric"]').filter(has_text="Expected renewed ARR").inner_text()
    assert re.search(r"P10 \$[\d,.]+[kMB]? - P90 \$[\d,.]+[kMB]?", band), band

    # Which method won the backtest, in words, and the method radio says the same (the top-down tab).
    body = open_section(page, "Top-down forecast", "Method")
    won = re.search(r"(Prophet|Seasonal naive|Drift) wins on this data", body, re.I)
    fallback = re.search(r"using (drift|seasonal naive|Prophet), the simplest method", body, re.I)
    assert won or fallback, "no statement of which method won the backtest"
    winner = (won or fallback).group(1).lower()
    assert re.search(rf"best in backtest \({re.escape(winner)}\)", body, re.I), winner
    if won:
        assert re.search(r"mean absolute error [\d,.]+", body) and "interval held the actual value" in body

    # The at-risk list as the CSM team gets it.
    body = open_section(page, "At-risk accounts", "At-risk list (XLSX)")
    shown = re.search(r"([\d,]+) of the ([\d,]+) contracts least likely to renew", body)
    assert shown, "the at-risk caption (n of m contracts) is missing"
    n_rows = int(shown.group(1).replace(",", ""))
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="At-risk list (XLSX)").click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.name == "at_risk_accounts.xlsx"
    df = pd.read_excel(path, sheet_name=None)
    assert list(df) == ["At-risk accounts"]
    sheet = df["At-risk accounts"]
    assert list(sheet.columns) == AT_RISK_COLUMNS
    assert len(sheet) == n_rows > 0
    assert sheet["Account"].notna().all()
    assert sheet["Driver 1"].notna().mean() > 0.8  # empty only where no factor stands out
    assert sheet["P(renew)"].between(0, 1).all()
    # Unfiltered, the list is exactly the contracts behind the "ARR at risk" tile.
    assert sheet["ARR due"].sum() == pytest.approx(at_risk, abs=at_risk_tol + 0.01)
    assert (sheet["Expected ARR lost"] - (1 - sheet["P(renew)"]) * sheet["ARR due"]).abs().max() < 0.01 * \
        sheet["ARR due"].max()
    wb = openpyxl.load_workbook(path)
    for row in wb["At-risk accounts"].iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"{cell.coordinate} is a formula: {cell.value!r}"
            if isinstance(cell.value, str):
                assert not cell.value.startswith(FORMULA_START), f"{cell.coordinate} unescaped: {cell.value!r}"
    no_exception(page)
