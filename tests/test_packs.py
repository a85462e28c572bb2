"""Packs (issue 15): board, forecast and plan packs as PowerPoint and PDF, with the app's numbers.

Default tests reopen the .pptx with python-pptx (slides, native charts, numbers in text and chart
data against the pages' functions and the CLI) and check the PDF's structure; the slow ones open
the deck in LibreOffice Impress (headless: convert to PDF), rasterise it and the ReportLab PDF
with poppler's pdftoppm, and check that no page is blank.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pptx import Presentation
from pptx.enum.chart import XL_CHART_TYPE
from pptx.opc.constants import RELATIONSHIP_TYPE as RT

from app import cli, packs
from app.analytics import metrics
from app.data import store
from app.forecasting import renewals
from app.packs import content
from app.packs.model import Chart, Pack, Series, Slide, Table, Text, Tile, Tiles
from app.present import fmt
from planning import inputs as planner_inputs
from planning import model
from planning import scenario as sc
from tests.conftest import ROOT

EVIL = "=cmd|' /C calc'!A0"


# ---------------------------------------------------------------- helpers

def deck_texts(prs) -> list[str]:
    """Every text a reader sees in the deck: text boxes, tiles, tables, chart titles, categories, labels."""
    out: list[str] = []
    for slide in prs.slides:
        for sh in slide.shapes:
            if sh.has_text_frame:
                out += [p.text for p in sh.text_frame.paragraphs]
            if sh.has_table:
                out += [c.text for row in sh.table.rows for c in row.cells]
            if sh.has_chart:
                ch = sh.chart
                out.append(ch.chart_title.text_frame.text)
                out += [str(c) for c in ch.plots[0].categories]
                for s in ch.plots[0].series:
                    for i in range(len(s.values)):
                        dl = s.points[i].data_label
                        if dl.has_text_frame:
                            out.append(dl.text_frame.text)
    return out


def deck_notes(prs) -> str:
    return "\n".join(s.notes_slide.notes_text_frame.text for s in prs.slides if s.has_notes_slide)


def charts_of(prs) -> list:
    return [sh.chart for slide in prs.slides for sh in slide.shapes if sh.has_chart]


def chart_titled(prs, title: str):
    for ch in charts_of(prs):
        if ch.chart_title.text_frame.text == title:
            return ch
    raise AssertionError(f"no chart titled {title!r}: {[c.chart_title.text_frame.text for c in charts_of(prs)]}")


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


def cli_retention(db: Path, tmp_path: Path, segment: str | None = None) -> pd.Series:
    out = tmp_path / "retention.csv"
    args = ["metrics", "retention", "--db", str(db), "--out", str(out)] + (["--segment", segment] if segment else [])
    assert cli.main(args) == 0
    return pd.read_csv(out).iloc[-1]


# ---------------------------------------------------------------- the board pack on the sample

@pytest.fixture(scope="module")
def packs_db(sample_db, tmp_path_factory):
    """A copy of the session's sample store: building a pack stores the renewal forecasts it prepares."""
    import shutil

    dst = tmp_path_factory.mktemp("packs") / "sample.duckdb"
    shutil.copy(sample_db, dst)
    return dst


@pytest.fixture(scope="module")
def board(packs_db):
    """The board pack's content, .pptx and .pdf, built once (the sample store is only read)."""
    cur = store.connect(packs_db).cursor()
    t0 = time.perf_counter()
    pack = packs.build_content(cur, "board")
    pptx = packs.render(pack, "pptx")
    t_pptx = time.perf_counter() - t0
    pdf = packs.render(pack, "pdf")
    yield {"cur": cur, "pack": pack, "pptx": pptx, "pdf": pdf, "prs": Presentation(io.BytesIO(pptx)),
           "seconds": t_pptx}
    cur.close()


def test_board_has_slides_native_charts_and_notes(board):
    prs = board["prs"]
    assert len(prs.slides) >= 8
    charts = charts_of(prs)
    assert len(charts) >= 4  # native chart parts, not pictures
    assert not [sh for s in prs.slides for sh in s.shapes if sh.shape_type == 13]  # 13 = picture
    kinds = {c.chart_type for c in charts}
    assert {XL_CHART_TYPE.COLUMN_STACKED, XL_CHART_TYPE.LINE, XL_CHART_TYPE.BAR_CLUSTERED} <= kinds
    notes = deck_notes(prs)
    for key in ("grr", "nrr", "arr_bridge", "churn_reasons"):
        assert metrics.DEFINITIONS[key] in notes
    assert "SaaS Capital" in notes and "data year" in notes  # benchmark sources with their year
    assert len(prs.slides) == len(board["pack"].slides)


def test_board_headlines_equal_the_overview_and_the_cli(board, packs_db, tmp_path):
    cur, texts = board["cur"], deck_texts(board["prs"])
    kpis = metrics.kpis(cur, compare_months=12)
    assert [k.label for k in kpis] == ["ARR", "NRR", "GRR", "Logo retention", "Renewal rate"]
    for k in kpis:
        assert k.value_text in texts, k.label
        assert f"{k.delta_text} vs a year ago" in texts, k.label
    # the Overview tiles show the same values (their change is against 3 months)
    assert [k.value_text for k in metrics.kpis(cur)] == [k.value_text for k in kpis]
    latest = cli_retention(packs_db, tmp_path)
    assert fmt.pct(latest["nrr"]) in texts and fmt.pct(latest["grr"]) in texts
    assert fmt.pct(latest["nrr"]) == kpis[1].value_text and fmt.pct(latest["grr"]) == kpis[2].value_text
    assert f"nrr={float(latest['nrr'])!r}" in deck_notes(board["prs"])  # the CLI's own digits, for a reader to check


def test_board_bridge_waterfalls_hold_the_pages_steps(board):
    cur, prs = board["cur"], board["prs"]
    bridge = metrics.arr_bridge(cur)
    fy = store.fiscal_year_start(cur)
    quarter = next(p for p in metrics.bridge_periods(bridge, "quarter", fy) if "(" not in p)
    year = metrics.bridge_periods(bridge, "year", fy)[0]
    for period, freq in ((quarter, "quarter"), (year, "year")):
        steps = metrics.bridge_steps(bridge, period, freq, fy)
        ch = chart_titled(prs, f"ARR bridge, {period}")
        assert ch.chart_type == XL_CHART_TYPE.COLUMN_STACKED
        assert list(ch.plots[0].categories) == list(steps["step"])
        base, bars = ch.plots[0].series
        assert list(bars.values) == pytest.approx([abs(a) for a in steps["amount"]])
        flows = steps["kind"] != "total"
        assert list(base.values) == pytest.approx(
            [min(a, b) if f else 0.0 for f, a, b in zip(flows, steps["bar_start"], steps["bar_end"], strict=False)])
        # the base is invisible: no fill, no line
        assert base._element.spPr.xpath("./a:noFill") and base._element.spPr.xpath("./a:ln/a:noFill")
        texts = deck_texts(prs)
        assert fmt.money_exact(steps["amount"].iloc[-1]) in texts  # end ARR in the table beside it
        labels = [bars.points[i].data_label.text_frame.text for i in range(len(steps))]
        assert labels[0] == fmt.money(steps["amount"].iloc[0])
        assert labels[-2] in ("", fmt.money(steps["amount"].iloc[-2], signed=True))


def test_board_churn_retention_and_capacity_equal_the_pages(board):
    cur, prs, texts = board["cur"], board["prs"], deck_texts(board["prs"])
    cr = metrics.churn_reasons(cur, months=12)
    ch = chart_titled(prs, "What customers said (proximate reason)")
    got = dict(zip(ch.plots[0].categories, ch.plots[0].series[0].values, strict=False))
    assert got == pytest.approx(dict(zip(cr.by_proximate["proximate_reason"], cr.by_proximate["churned_arr"],
                                         strict=True)))
    ret = metrics.retention_series(cur, 12)
    line = chart_titled(prs, "Retention, trailing 12 months")
    grr = next(s for s in line.plots[0].series if s.name == "GRR")
    assert list(grr.values) == pytest.approx(list(ret["grr"].tail(content.TREND_MONTHS)))
    s, _ = planner_inputs.initial_scenario(planner_inputs.store_defaults(cur))
    h = model.run_plan(s).headlines
    for key in ("hires_year", "year_end_headcount", "annual_cost", "cost_pct_arr"):
        assert h[key].text in texts, key
    assert f"{h['cost_pct_arr'].value - s.target_pct_arr:+.1f} pts vs target" in texts


def test_board_renewals_equal_the_forecast_page(board):
    """The Forecast page at 'next 2 quarters': score_due(), calibrate(6), summarise(..., sigma)."""
    cur, texts = board["cur"], deck_texts(board["prs"])
    scored = renewals.score_due(cur)
    cal = renewals.calibrate(cur, 6)
    fc = renewals.summarise(scored, 6, None, sigma=cal.sigma)
    t = fc.totals
    for text in (fmt.count(t["accounts"]), fmt.money(t["arr_due"]), fmt.money(t["expected"]),
                 f"P10 {fmt.money(t['p10'])} - P90 {fmt.money(t['p90'])}", fmt.money(t["arr_at_risk"])):
        assert text in texts, text
    ch = chart_titled(board["prs"], "ARR due and expected renewed ARR by month")
    assert list(ch.plots[0].series[1].values) == pytest.approx(list(fc.by_month["expected"]))
    risk = renewals.at_risk_table(fc).sort_values("Expected ARR lost", ascending=False).head(content.TOP_AT_RISK)
    for name, arr in zip(risk["Name"], risk["ARR due"], strict=True):
        assert str(name) in texts and fmt.money_exact(arr) in texts


def test_board_pdf_is_the_same_pack(board):
    data, pack = board["pdf"], board["pack"]
    assert data.startswith(b"%PDF")
    assert pdf_pages(data) > len(pack.slides)  # one page per slide, then the notes
    # its build time is measured by `make bench` (packs section), not asserted here


def test_segment_pack_and_its_cli_figures(packs_db, tmp_path):
    cur = store.connect(packs_db).cursor()
    try:
        seg = metrics.segments(cur)[0]
        pack = packs.build_content(cur, "board", segment=seg)
        texts = pack.texts()
        latest = cli_retention(packs_db, tmp_path, seg)
        assert fmt.pct(latest["nrr"]) in texts and fmt.pct(latest["grr"]) in texts
        assert seg in pack.title
        with pytest.raises(packs.PackError, match="not in the store"):
            packs.build_content(cur, "board", segment="No such segment")
    finally:
        cur.close()


# ---------------------------------------------------------------- forecast and plan packs

def test_forecast_pack_topdown_and_renewals(packs_db):
    from app.forecasting import topdown

    cur = store.connect(packs_db).cursor()
    try:
        pack = packs.build_content(cur, "forecast")
        prs = Presentation(io.BytesIO(packs.render(pack, "pptx")))
        texts = deck_texts(prs)
        assert len(charts_of(prs)) >= 4
        fy = store.fiscal_year_start(cur)
        for q in ("arr", "new_arr", "churned_arr"):
            bt = topdown.backtest_quantity(cur, q)
            res = topdown.forecast_quantity(cur, q, None, content.WINDOW_MONTHS, *bt.choice("auto"))
            table = topdown.by_period(res, q, fy)
            assert fmt.money(table["forecast"].iloc[-1]) in texts, q
            assert any(topdown.METHOD_LABELS[bt.best_method] + " (winner)" == t for t in texts), q
            label = topdown.QUANTITIES[q]["label"]
            ch = chart_titled(prs, f"{label}: history and forecast")
            fc_series = next(s for s in ch.plots[0].series if s.name == "Forecast")
            assert [v for v in fc_series.values if v is not None][-1] == pytest.approx(res.frame["yhat"].iloc[-1])
        assert any(s.title.startswith("At-risk list by CSM") for s in pack.slides)
        assert any(s.title == "Forecast against actual" for s in pack.slides)
    finally:
        cur.close()


def test_plan_pack_side_by_side_equals_the_planner(sample_copy):
    cur = store.connect(sample_copy).cursor()
    try:
        s, _ = planner_inputs.initial_scenario(planner_inputs.store_defaults(cur, use_forecast=False))
        planner_inputs.save_scenario(cur, s, "Base")
        planner_inputs.save_scenario(cur, sc.set_field(s, s.segments[0].name, "coverage", "accounts_per_csm", 25.0),
                                     "Tight coverage")
        pack = packs.build_content(cur, "plan", scenarios=["Base", "Tight coverage"])
        prs = Presentation(io.BytesIO(packs.render(pack, "pptx")))
        texts = deck_texts(prs)
        cmp = model.compare({n: planner_inputs.load_saved(cur, n) for n in ("Base", "Tight coverage")})
        shown = planner_inputs.comparison_display(cmp.table)
        for col in ("Hires this year", "Year-end headcount", "Annual CS cost", "Cost % of ARR"):
            for v in shown[col]:
                assert v in texts, (col, v)
        hc = chart_titled(prs, "CSM headcount")
        assert [x.name for x in hc.plots[0].series] == ["Base", "Tight coverage"]
        assert list(hc.plots[0].series[1].values) == pytest.approx(list(cmp.totals["Tight coverage"]["headcount"]))
        assert sum(sl.title.startswith("Assumptions:") for sl in pack.slides) == 2
        one = packs.build_content(cur, "plan", scenarios=["Base"])
        h = model.run_plan(planner_inputs.load_saved(cur, "Base")).headlines
        assert {h[k].text for k in h} <= set(one.texts())
        with pytest.raises(packs.PackError, match="no saved scenario called 'Nope'.*saved scenarios: "):
            packs.build_content(cur, "plan", scenarios=["Nope"])
    finally:
        cur.close()


# ---------------------------------------------------------------- renderers: safety and template

def _evil_pack() -> Pack:
    chart = Chart("bar", "Reasons", (EVIL, "<b>bold & co</b>", "+SUM(A1)"),
                  (Series("=HYPERLINK(\"http://x\")", (3.0, 2.0, 1.0), "#e53935", labels=(EVIL, "", "")),),
                  altair=None)
    slide = Slide("Names from the data", EVIL, (Tiles((Tile("Account", EVIL, "<i>x</i> & y"),)),
                                                 Table(("Name", "ARR"), ((EVIL, "$1"), ("<b>&amp;</b>", "$2"))),
                                                 chart, Text(("- " + EVIL, "a\x01b <br/>"))),
                  notes=EVIL, arrangement="columns")
    return Pack("board", "T", "S", "F", (slide,))


def test_formula_like_text_is_harmless():
    pptx = packs.render(_evil_pack(), "pptx")
    prs = Presentation(io.BytesIO(pptx))
    texts = deck_texts(prs)
    assert EVIL in texts and "<b>bold & co</b>" in texts
    assert "ab <br/>" in texts  # a control character dropped, markup kept as text
    # the chart's embedded workbook (what "Edit data" opens) holds the names as strings, never formulas
    ch = charts_of(prs)[0]
    blob = ch.part.chart_workbook.xlsx_part.blob
    import openpyxl

    ws = openpyxl.load_workbook(io.BytesIO(blob)).active
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert EVIL in [c.value for c in cells]
    assert all(c.data_type != "f" for c in cells)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()
    pdf = packs.render(_evil_pack(), "pdf")  # ReportLab's markup is escaped: no error, and the text is there
    assert pdf.startswith(b"%PDF")


def _template(path: Path) -> Path:
    """A corporate template: 4:3 (10 x 7.5 in), a serif theme font, a renamed layout and an example slide."""
    prs = Presentation()
    theme = prs.slide_masters[0].part.part_related_by(RT.THEME)
    theme._blob = theme.blob.replace(b'typeface="Calibri"', b'typeface="Georgia"')
    prs.slide_layouts[5].name = "Corp title only"
    ex = prs.slides.add_slide(prs.slide_layouts[1])
    ex.shapes.title.text = "TEMPLATE EXAMPLE SLIDE"
    prs.save(path)
    return path


def test_template_layouts_and_theme_are_used(packs_db, tmp_path):
    tpl = _template(tmp_path / "corp.pptx")
    cur = store.connect(packs_db).cursor()
    try:
        data = packs.build(cur, "plan", "pptx", template=tpl)
    finally:
        cur.close()
    prs = Presentation(io.BytesIO(data))
    assert (prs.slide_width, prs.slide_height) == (9144000, 6858000)  # not the default 16:9
    assert b'typeface="Georgia"' in prs.slide_masters[0].part.part_related_by(RT.THEME).blob
    assert "TEMPLATE EXAMPLE SLIDE" not in deck_texts(prs)
    layouts = [s.slide_layout.name for s in prs.slides]
    assert layouts[0] == "Title Slide" and set(layouts[1:]) == {"Corp title only"}
    assert all(s.shapes.title is not None and s.shapes.title.text for s in prs.slides)
    for s in prs.slides:  # nothing drawn past the template's (smaller) slide
        for sh in s.shapes:
            assert sh.left + sh.width <= prs.slide_width * 1.001 and sh.top + sh.height <= prs.slide_height * 1.001


def test_cli_deck_writes_both_formats_and_says_what_is_wrong(sample_copy, tmp_path, capsys):
    for suffix, magic in ((".pptx", b"PK"), (".pdf", b"%PDF")):
        out = tmp_path / f"plan{suffix}"
        assert cli.main(["deck", "--kind", "plan", "--db", str(sample_copy), "--out", str(out)]) == 0
        assert out.read_bytes().startswith(magic)
        assert f"Wrote {out}" in capsys.readouterr().out
    cases = [(["--out", str(tmp_path / "x.txt")], 2, "must end in .pptx or .pdf"),
             (["--out", str(tmp_path / "x.pdf"), "--template", str(tmp_path / "t.pptx")], 2, ".pptx pack only"),
             (["--out", str(tmp_path / "x.pptx"), "--template", str(tmp_path / "none.pptx")], 2, "no such file"),
             (["--out", str(tmp_path / "x.pptx"), "--scenario", "Nope"], 1, "no saved scenario called 'Nope'")]
    (tmp_path / "t.pptx").write_bytes(b"x")
    for extra, code, message in cases:
        assert cli.main(["deck", "--kind", "plan", "--db", str(sample_copy), *extra]) == code
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    bad = tmp_path / "bad.pptx"
    bad.write_bytes(b"not a zip")
    assert cli.main(["deck", "--kind", "plan", "--db", str(sample_copy), "--template", str(bad),
                     "--out", str(tmp_path / "y.pptx")]) == 2
    assert "not a PowerPoint .pptx" in capsys.readouterr().err


def test_empty_store_is_a_clear_error(empty_cur):
    with pytest.raises(packs.PackError, match="no ARR data"):
        packs.build_content(empty_cur, "board")


# ---------------------------------------------------------------- a real office suite (slow)

def _need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} is missing: `make test` installs it from Debian (libreoffice-impress, poppler-utils)")
    return path


def _rasterise(pdf: Path, out: Path, dpi: int = 40) -> list[Path]:
    subprocess.run([_need("pdftoppm"), "-r", str(dpi), "-png", str(pdf), str(out / "page")], check=True, timeout=120)
    return sorted(out.glob("page-*.png"))


def _ink(png: Path) -> tuple[float, float]:
    """(share of non-white pixels, grey-level standard deviation) of a page."""
    from PIL import Image

    a = np.asarray(Image.open(png).convert("L"), dtype=float)
    return float((a < 200).mean()), float(a.std())


def _pdftotext(pdf: Path) -> str:
    return subprocess.run([_need("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=120).stdout


def office_pdf(pptx: Path, out: Path) -> Path:
    """Open the deck in LibreOffice Impress (headless) and export it as PDF, as a user's office suite would."""
    profile = out / "lo-profile"
    env = {**os.environ, "HOME": str(out)}
    r = subprocess.run([_need("soffice"), f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                        "--convert-to", "pdf", "--outdir", str(out), str(pptx)], capture_output=True, text=True,
                       timeout=300, env=env)
    pdf = out / (pptx.stem + ".pdf")
    assert r.returncode == 0 and pdf.is_file(), r.stdout + r.stderr
    return pdf


@pytest.mark.slow
def test_board_opens_in_libreoffice_and_no_page_is_blank(board, tmp_path):
    deck = tmp_path / "board.pptx"
    deck.write_bytes(board["pptx"])
    pdf = office_pdf(deck, tmp_path)
    pages = _rasterise(pdf, tmp_path)
    assert len(pages) == len(board["prs"].slides)
    for p in pages:
        ink, std = _ink(p)
        assert ink > 0.004 and std > 8, (p.name, ink, std)
    text = _pdftotext(pdf)
    nrr = metrics.kpis(board["cur"])[1].value_text
    assert nrr in text and "ARR bridge" in text


@pytest.mark.slow
def test_pdf_pack_pages_are_not_blank(board, tmp_path):
    pdf = tmp_path / "board.pdf"
    pdf.write_bytes(board["pdf"])
    pages = _rasterise(pdf, tmp_path)
    assert len(pages) == pdf_pages(board["pdf"])
    for p in pages:
        ink, std = _ink(p)
        assert ink > 0.004 and std > 8, (p.name, ink, std)
    text = _pdftotext(pdf)
    for k in metrics.kpis(board["cur"]):
        assert k.value_text in text
    assert "Notes: definitions and sources" in text


@pytest.mark.slow
def test_cli_board_deck_both_formats_and_formula_names(sample_copy, tmp_path):
    con = store.connect(sample_copy)
    con.execute("UPDATE accounts SET name = ? || account_id", [EVIL])
    con.execute("UPDATE churn_reasons SET proximate_reason = ? WHERE proximate_reason = "
                "(SELECT min(proximate_reason) FROM churn_reasons)", [EVIL])
    con.close()
    for suffix in (".pptx", ".pdf"):
        out = tmp_path / f"board{suffix}"
        r = subprocess.run([sys.executable, "-m", "app", "deck", "--kind", "board", "--db", str(sample_copy),
                            "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert out.stat().st_size > 20_000
    prs = Presentation(str(tmp_path / "board.pptx"))
    texts = deck_texts(prs)
    assert any(t.startswith(EVIL) for t in texts)  # account names, as text
    reasons = chart_titled(prs, "What customers said (proximate reason)")
    assert EVIL in list(reasons.plots[0].categories)
    import openpyxl

    ws = openpyxl.load_workbook(io.BytesIO(reasons.part.chart_workbook.xlsx_part.blob)).active
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    (tmp_path / "lo").mkdir()
    pdf = office_pdf(tmp_path / "board.pptx", tmp_path / "lo")
    assert EVIL.split("|")[0] in _pdftotext(pdf)


def test_a_scenario_name_from_the_page_is_never_opened_as_a_file(tmp_path):
    """Saved-scenario names are user text: a name that is a path to a scenario file must not load it."""
    import shutil

    from app.packs import content
    from tests.conftest import ROOT

    f = tmp_path / "stolen.json"
    shutil.copy(ROOT / "data" / "scenarios" / "example.json", f)
    con = store.connect(tmp_path / "s.duckdb")
    with pytest.raises(content.PackError, match="no scenario is saved yet"):
        content._resolve_scenarios(con, [str(f)])
    assert content.scenario_file(con, str(f)).segments  # the CLI's explicit path still works
    con.close()
