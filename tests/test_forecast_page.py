"""AppTest: the forecast page on the sample company and on an empty store."""
from __future__ import annotations

import re
import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import app_page


def _run(timeout: int = 120) -> AppTest:
    at = app_page("pages/forecast.py", timeout)
    assert not at.exception, at.exception
    return at


def test_empty_store_points_to_data_page(tmp_path, monkeypatch):
    monkeypatch.setenv("CS_DB", str(tmp_path / "empty.duckdb"))
    at = _run()
    assert "Data page" in at.info[0].value
    assert not at.metric


def dollars(text: str) -> float:
    """'$16.99M' -> 16990000.0 (the pages show compact dollars)."""
    t = text.strip().lstrip("$").replace(",", "")
    mult = {"k": 1e3, "M": 1e6, "B": 1e9}.get(t[-1], 1)
    return float(t.rstrip("kMB")) * mult


@pytest.mark.slow
def test_forecast_page_on_sample(sample_copy, monkeypatch):
    monkeypatch.setenv("CS_DB", str(sample_copy))
    t0 = time.perf_counter()
    at = _run()
    cold = time.perf_counter() - t0
    labels = {m.label: m.value for m in at.metric}
    for label in ("Accounts due", "ARR due", "Expected renewed ARR", "ARR at risk"):
        assert label in labels, labels
    due = dollars(labels["ARR due"])
    expected = dollars(labels["Expected renewed ARR"])
    at_risk = dollars(labels["ARR at risk"])
    assert 0 < expected < due and 0 < at_risk < due
    # Lazy sections: only the open tab is built (the first one by default).
    assert [t.label for t in at.tabs][:4] == ["Renewals due", "At-risk accounts", "Model and track record",
                                              "Top-down forecast"]
    assert not [d for d in at.dataframe if "P(renew)" in d.value.columns], "a closed tab was built"
    at.session_state["fc_section"] = "At-risk accounts"
    at.run()
    # The at-risk table: bottom 20% of contracts, lowest P(renew) first, drivers filled in; one page of
    # AT_RISK_PAGE_ROWS rows, each linked to its account page.
    tables = [d.value for d in at.dataframe if "P(renew)" in d.value.columns]
    assert tables, "no at-risk table"
    table = tables[0]
    assert list(table["P(renew)"]) == sorted(table["P(renew)"])
    assert (table["Driver 1"] != "").mean() > 0.8
    assert table["link"].str.match(r"^/account\?account=.+").all()
    shown = re.search(r"([\d,]+) of the ([\d,]+) contracts least likely to renew.*rows 1-([\d,]+) shown",
                      " ".join(c.value for c in at.caption))
    assert shown, [c.value for c in at.caption]
    n_view = int(shown.group(1).replace(",", ""))
    assert len(table) == int(shown.group(3).replace(",", "")) == min(n_view, 100)
    if n_view > 100:  # the last page holds the rest
        last = -(-n_view // 100)
        page_input = [n for n in at.number_input if n.label.startswith("Page")][0]
        page_input.set_value(last).run()
        rest = [d.value for d in at.dataframe if "P(renew)" in d.value.columns][0]
        assert len(rest) == n_view - 100 * (last - 1)
    at.session_state["fc_section"] = "Model and track record"
    at.run()
    assert "AUC" in {m.label for m in at.metric}
    # The run was saved once; a rerun is warm and saves nothing new.
    t1 = time.perf_counter()
    at.run()
    warm = time.perf_counter() - t1
    assert not at.exception
    print(f"forecast page cold {cold:.2f} s, warm {warm * 1000:.0f} ms")
    runs = [d.value for d in at.dataframe if "within_p10_p90" in d.value.columns][0]
    assert len(runs) == 1 and runs["status"].iloc[0] == "pending"
    # The top-down tab on churned ARR says, in words, how it compares with the bottom-up expectation.
    at.session_state["fc_section"] = "Top-down forecast"
    at.session_state["fc_series"] = "churned_arr"
    at.run()
    assert not at.exception
    said = " ".join(i.value for i in at.info)
    assert re.search(r"Bottom-up: of \$[\d,]+ ARR due by .*expected to be lost at renewal", said), said
    assert re.search(r"Top-down \(\w[\w ]*\) forecasts \$[\d,]+ of churned ARR over the same 3 months", said), said
    # Switching to a 4-quarter window raises ARR due.
    at.sidebar.select_slider[0].set_value(4).run()
    assert not at.exception
    due4 = dollars({m.label: m.value for m in at.metric}["ARR due"])
    assert due4 > due


@pytest.mark.slow
def test_choices_survive_switching_sections(sample_copy, monkeypatch):
    """Only the open section's widgets are drawn, and Streamlit drops a widget's state in a run that does not
    draw it: the at-risk filters and the window are kept (ui.kept) while another section is open."""
    monkeypatch.setenv("CS_DB", str(sample_copy))
    at = _run()
    at.sidebar.select_slider[0].set_value(2).run()
    at.session_state["fc_section"] = "At-risk accounts"
    at.run()
    csm = at.multiselect(key="_widget_fc_csms").options[0]
    at.multiselect(key="_widget_fc_csms").set_value([csm]).run()
    at.number_input(key="_widget_fc_min_arr").set_value(5000).run()

    def shown() -> pd.DataFrame:
        return [d.value for d in at.dataframe if "P(renew)" in d.value.columns][0]

    before = shown()
    assert len(before) and set(before["CSM"]) == {csm} and (before["ARR due"] >= 5000).all()
    for section in ("Renewals due", "At-risk accounts"):
        at.session_state["fc_section"] = section
        at.run()
        assert not at.exception
    assert at.multiselect(key="_widget_fc_csms").value == [csm]
    assert at.number_input(key="_widget_fc_min_arr").value == 5000
    assert at.sidebar.select_slider[0].value == 2
    assert shown().equals(before)


@pytest.mark.slow
def test_forecast_with_only_accounts_and_subscriptions(tmp_path, monkeypatch):
    """Journey 2's first load (no usage, NPS, tickets or roster yet): the page and the CLI still forecast.

    Usage, seat utilisation and NPS features are then empty columns, which scikit-learn cannot
    bin: the model leaves them out and names drivers from what is there (contraction, tenure, size).
    """
    import datetime as dt

    from app.data import importer, sample, store
    from app.forecasting import renewals, risk

    frames = sample.generate(seed=7, n_accounts=1200, as_of=dt.date(2026, 10, 31))
    db = tmp_path / "two_tables.duckdb"
    con = store.connect(db)
    importer.load_frames(con, {k: frames[k] for k in ("accounts", "subscriptions")}, as_of="2026-10-31",
                         label="accounts and subscriptions only")
    model = risk.train(con)
    assert model.card is not None
    assert not {"utilisation", "nps_last", "nps_avg_12m"} & set(model.feature_names_)
    table = renewals.renewal_forecast_table(con, horizon_months=3)
    assert len(table) > 100 and table["p_renew"].between(0, 1).all()
    con.close()
    monkeypatch.setenv("CS_DB", str(db))
    at = _run()
    assert {"Accounts due", "ARR due", "Expected renewed ARR", "ARR at risk"} <= {m.label for m in at.metric}


def test_forecast_with_accounts_only(tmp_path, monkeypatch):
    """Accounts loaded, no subscriptions yet: no contracts to score, the page says so instead of failing."""
    import pandas as pd

    from app.data import importer, store

    db = tmp_path / "accounts_only.duckdb"
    con = store.connect(db)
    importer.load_frames(con, {"accounts": pd.DataFrame({"account_id": ["A", "B"], "segment": "SMB"})},
                         as_of="2026-10-31", label="accounts only")
    con.close()
    monkeypatch.setenv("CS_DB", str(db))
    at = _run()
    assert {m.label: m.value for m in at.metric}["Accounts due"] == "0"
    assert any("No contracts are due" in i.value for i in at.info)
