"""A pack as PDF (ReportLab): one 16:9 page per slide, charts as PNG from the app's Altair builders.

Same slides, same blocks and the same places as the PowerPoint (model.layout); charts are the
pages' own Altair charts rendered offline by vl-convert; the speaker notes (definitions and
sources) follow as the last pages. Text from the data is escaped (ReportLab paragraphs read a
small markup language).
"""
from __future__ import annotations

import io
import re
from functools import partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Frame, Paragraph, Spacer, TableStyle
from reportlab.platypus import Table as RLTable

from app.packs.model import Chart, Pack, Slide, Table, Text, Tiles, draw_blocks
from app.present import charts

W_IN, H_IN = 13.333, 7.5
PT = 72.0
DARK = colors.HexColor("#263238")
GREY = colors.HexColor("#606b73")
LIGHT = colors.HexColor("#f1f4f7")
HEAD = colors.HexColor("#4f81bd")
BAND = colors.HexColor("#e9eef5")
GOOD = colors.HexColor("#2e7d32")
BAD = colors.HexColor("#c62828")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_FONTS: tuple[str, str] | None = None


def fonts() -> tuple[str, str]:
    """(regular, bold): DejaVu Sans when Debian has it (wide Unicode), else the Vera fonts ReportLab ships."""
    global _FONTS
    if _FONTS is None:
        dejavu = Path("/usr/share/fonts/truetype/dejavu")
        vera = Path(reportlab.__file__).parent / "fonts"
        if (dejavu / "DejaVuSans.ttf").is_file() and (dejavu / "DejaVuSans-Bold.ttf").is_file():
            regular, bold = dejavu / "DejaVuSans.ttf", dejavu / "DejaVuSans-Bold.ttf"
        else:
            regular, bold = vera / "Vera.ttf", vera / "VeraBd.ttf"
        pdfmetrics.registerFont(TTFont("PackSans", str(regular)))
        pdfmetrics.registerFont(TTFont("PackSans-Bold", str(bold)))
        _FONTS = ("PackSans", "PackSans-Bold")
    return _FONTS


def _esc(text: str) -> str:
    return escape(_CONTROL.sub("", str(text)))


def _style(size: float, bold: bool = False, color=DARK, leading: float | None = None) -> ParagraphStyle:
    reg, b = fonts()
    return ParagraphStyle("p", fontName=b if bold else reg, fontSize=size, leading=leading or size * 1.22,
                          textColor=color, alignment=TA_LEFT)


def _y(y_in: float, h_in: float = 0.0) -> float:
    """Inches from the top to ReportLab's points from the bottom (of the box's lower edge)."""
    return (H_IN - y_in - h_in) * PT


def _string(c: Canvas, x: float, y: float, text: str, size: float, bold: bool = False, color=DARK) -> None:
    reg, b = fonts()
    c.setFont(b if bold else reg, size)
    c.setFillColor(color)
    c.drawString(x * PT, _y(y) - size, _CONTROL.sub("", text))


def _fit_string(text: str, size: float, width_in: float, bold: bool = False) -> float:
    reg, b = fonts()
    while size > 7 and pdfmetrics.stringWidth(text, b if bold else reg, size) > width_in * PT:
        size -= 0.5
    return size


# ---------------------------------------------------------------- blocks

def _tiles(c: Canvas, b: Tiles, x, y, w, h) -> None:
    n = len(b.tiles)
    gap = 0.15
    tw = (w - gap * (n - 1)) / n
    for k, t in enumerate(b.tiles):
        tx = x + k * (tw + gap)
        c.setFillColor(LIGHT)
        c.setStrokeColor(LIGHT)
        c.roundRect(tx * PT, _y(y, h), tw * PT, h * PT, 6, stroke=0, fill=1)
        lines: list[tuple[str, float, bool, Any]] = [(t.label, 12, False, GREY)]
        lines.append((t.value, _fit_string(t.value, 26 if tw > 2.2 else 20, tw - 0.2, True), True, DARK))
        if t.delta:
            lines.append((t.delta, _fit_string(t.delta, 11, tw - 0.2), False,
                          GREY if t.good is None else GOOD if t.good else BAD))
        if t.note:
            lines.append((t.note, _fit_string(t.note, 10, tw - 0.2), False, GREY))
        total = sum(s * 1.25 for _, s, _, _ in lines) / PT
        cy = y + max((h - total) / 2, 0.05)
        for text, size, bold, color in lines:
            _string(c, tx + 0.1, cy, text, size, bold, color)
            cy += size * 1.25 / PT


def _paragraph_flow(paras: list[str], size: float) -> list:
    out: list = []
    for p in paras:
        bullet = p.startswith("- ")
        text = _esc(p[2:] if bullet else p)
        out.append(Paragraph(("• " if bullet else "") + text, _style(size)))
        out.append(Spacer(1, size * 0.35))
    return out


def _text(c: Canvas, b: Text, x, y, w, h) -> None:
    size = b.size
    while True:
        flow = _paragraph_flow(list(b.paragraphs), size)
        need = sum(f.wrap(w * PT, h * PT)[1] for f in flow)
        if need <= h * PT or size <= 7:
            break
        size -= 0.5
    f = Frame(x * PT, _y(y, h), w * PT, h * PT, 0, 0, 0, 0, showBoundary=0)
    f.addFromList(flow, c)


def _rl_table(b: Table, w: float, size: float) -> RLTable:
    reg, bold = fonts()
    if b.widths and len(b.widths) == len(b.columns):
        rel = list(b.widths)
    else:
        rel = [max(3, min(40, max([len(b.columns[i])] + [len(r[i]) for r in b.rows]))) for i in range(len(b.columns))]
    widths = [w * PT * r / sum(rel) for r in rel]
    head = _style(size, True, colors.white)
    body = _style(size)
    body_bold = _style(size, True)
    right = ParagraphStyle("r", parent=body, alignment=2)
    right_bold = ParagraphStyle("rb", parent=body_bold, alignment=2)
    data = [[Paragraph(_esc(col), head) for col in b.columns]]
    for i, row in enumerate(b.rows):
        last = b.bold_last and i == len(b.rows) - 1
        data.append([Paragraph(_esc(v), (right_bold if last else right) if (b.numeric and b.numeric[k])
                               else (body_bold if last else body)) for k, v in enumerate(row)])
    t = RLTable(data, colWidths=widths, repeatRows=1)
    t.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), HEAD),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, BAND]),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#c5cfdb")),
    ]))
    return t


def _table(c: Canvas, b: Table, x, y, w, h) -> None:
    size = b.size
    while True:
        t = _rl_table(b, w, size)
        _, th = t.wrap(w * PT, h * PT)
        if th <= h * PT or size <= 6:
            break
        size -= 0.5
    t.drawOn(c, x * PT, _y(y) - th)


def _chart_png(b: Chart, w: float) -> bytes | None:
    if b.altair is None:
        return None
    chart = b.altair()
    try:  # charts without a set width get one that suits the box (Vega-Lite's default is 300 px)
        if chart.to_dict().get("width") is None and "facet" not in chart.to_dict():
            chart = chart.properties(width=int(w * PT * 1.25) - 110)
    except Exception:  # a chart type that takes no width: render it as the page does
        pass
    return charts.to_png(chart, scale=2.0)


def _chart(c: Canvas, b: Chart, x, y, w, h) -> None:
    png = _chart_png(b, w)
    if png is None:  # no Altair twin: the chart's data as a table
        rows = tuple((cat, *[("" if s.values[i] is None else f"{s.values[i]:,.0f}") for s in b.series
                            if not s.invisible]) for i, cat in enumerate(b.categories))
        _table(c, Table(("", *[s.name for s in b.series if not s.invisible]), rows), x, y, w, h)
        return
    img = ImageReader(io.BytesIO(png))
    iw, ih = img.getSize()
    scale = min(w * PT / iw, h * PT / ih)
    dw, dh = iw * scale, ih * scale
    c.drawImage(img, x * PT + (w * PT - dw) / 2, _y(y) - dh, dw, dh, mask="auto")


# ---------------------------------------------------------------- pages

def _footer(c: Canvas, pack: Pack, number: int, total: int) -> None:
    _string(c, 0.5, H_IN - 0.4, f"{pack.footer} · {number}/{total}", 8.5, color=GREY)


def _page(c: Canvas, s: Slide, pack: Pack, number: int) -> None:
    n = len(pack.slides)
    if s.kind == "title":
        _string(c, 0.8, 2.6, s.title, _fit_string(s.title, 36, W_IN - 1.6, True), True)
        _string(c, 0.8, 3.7, s.subtitle, 20, color=GREY)
        _string(c, 0.8, H_IN - 0.9, pack.footer, 11, color=GREY)
        return
    _string(c, 0.5, 0.35, s.title, _fit_string(s.title, 26, W_IN - 1.0, True), True)
    top = 1.05
    if s.subtitle:
        sub = _fit_string(s.subtitle, 12, W_IN - 1.0)
        _string(c, 0.5, top, s.subtitle, sub, color=GREY)
        top += 0.45
    bottom = H_IN - 0.45
    draw_blocks(s, 0.5, top + 0.1, W_IN - 1.0, bottom - top - 0.15,
                {Tiles: partial(_tiles, c), Text: partial(_text, c), Table: partial(_table, c),
                 Chart: partial(_chart, c)})
    _footer(c, pack, number, n)


def _notes_pages(c: Canvas, pack: Pack) -> None:
    flow: list = []
    for i, s in enumerate(pack.slides, start=1):
        if not s.notes:
            continue
        flow.append(Paragraph(_esc(f"{i}. {s.title}"), _style(12, True)))
        flow.append(Spacer(1, 3))
        flow += _paragraph_flow([p for p in s.notes.split("\n") if p.strip()], 9.5)
    first = True
    while flow:
        _string(c, 0.5, 0.35, "Notes: definitions and sources" + ("" if first else " (continued)"), 22, True)
        frame = Frame(0.5 * PT, 0.6 * PT, (W_IN - 1.0) * PT, (H_IN - 1.6) * PT, 0, 0, 0, 0)
        before = len(flow)
        frame.addFromList(flow, c)
        if len(flow) == before:  # a piece larger than a page: leave it out rather than loop
            flow.pop(0)
        _string(c, 0.5, H_IN - 0.4, pack.footer, 8.5, color=GREY)
        c.showPage()
        first = False


def render(pack: Pack) -> bytes:
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(W_IN * PT, H_IN * PT), pageCompression=1)
    c.setTitle(pack.title)
    c.setSubject(pack.subtitle)
    c.setAuthor("Customer Success planner")
    c.setCreator("Customer Success planner (ReportLab)")
    for i, s in enumerate(pack.slides, start=1):
        _page(c, s, pack, i)
        c.showPage()
    _notes_pages(c, pack)
    c.save()
    return buf.getvalue()
