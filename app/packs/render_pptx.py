"""A pack as PowerPoint: native, editable charts (python-pptx chart objects), notes, an optional template.

Charts are real chart parts with their data in an embedded workbook (right-click > Edit data):
a waterfall is a stacked column whose base series has no fill (PowerPoint's own waterfall type
is not in the file format python-pptx writes). Text from the data (account, CSM, reason names)
goes in as text only: the embedded workbooks are written with formulas off, so a name such as
"=cmd|..." stays a string there too.

With a template (.pptx), its slide size, theme and layouts are used: the title layout for the
first slide, the layout with a title and the fewest other placeholders for the rest; its own
slides are dropped.
"""
from __future__ import annotations

import io
import math
import re
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.chart.xlsx import CategoryWorkbookWriter
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION, XL_MARKER_STYLE
from pptx.enum.dml import MSO_LINE_DASH_STYLE
from pptx.enum.shapes import MSO_SHAPE, PP_PLACEHOLDER
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.presentation import Presentation as Deck  # the class; pptx.Presentation is its factory
from pptx.util import Emu, Inches, Pt
from xlsxwriter import Workbook

from app.packs.model import Chart, Pack, Slide, Table, Text, Tiles, draw_blocks

EMU_PER_INCH = 914400
DARK = RGBColor(0x26, 0x32, 0x38)
GREY = RGBColor(0x60, 0x6B, 0x73)
LIGHT = RGBColor(0xF1, 0xF4, 0xF7)
GOOD = RGBColor(0x2E, 0x7D, 0x32)
BAD = RGBColor(0xC6, 0x28, 0x28)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TYPES = {"waterfall": XL_CHART_TYPE.COLUMN_STACKED, "column": XL_CHART_TYPE.COLUMN_CLUSTERED,
          "bar": XL_CHART_TYPE.BAR_CLUSTERED, "line": XL_CHART_TYPE.LINE}


class TemplateError(ValueError):
    """The template cannot be used (not a .pptx, unreadable)."""


def clean(text: str) -> str:
    """Text PowerPoint's XML accepts: control characters dropped."""
    return _CONTROL.sub("", str(text))


class _TextWorkbookWriter(CategoryWorkbookWriter):
    """The chart's embedded workbook with strings kept as strings (never formulas or links)."""

    @contextmanager
    def _open_worksheet(self, xlsx_file):
        workbook = Workbook(xlsx_file, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
        worksheet = workbook.add_worksheet()
        yield workbook, worksheet
        workbook.close()


class SafeChartData(CategoryChartData):
    @property
    def _workbook_writer(self):
        return _TextWorkbookWriter(self)


def _rgb(hex_color: str) -> RGBColor:
    return RGBColor.from_string(hex_color.lstrip("#").upper())


def _in(v: float) -> Emu:
    return Emu(int(round(v * EMU_PER_INCH)))


# ---------------------------------------------------------------- template and layouts

def _open(template: str | Path | None) -> tuple[Deck, bool]:
    if template is None:
        prs = Presentation()
        prs.slide_width, prs.slide_height = Inches(13.333), Inches(7.5)
        return prs, False
    path = Path(template)
    if not path.is_file():
        raise TemplateError(f"template {path}: no such file")
    try:
        prs = Presentation(str(path))
    except Exception as exc:  # python-pptx raises many kinds for a file it cannot read
        raise TemplateError(f"template {path}: not a PowerPoint .pptx file python-pptx can open "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); save the "
                            "template as .pptx (not .potx or .ppt)") from exc
    sld_ids = prs.slides._sldIdLst  # the template's own slides are examples: drop them
    for sld_id in list(sld_ids):
        prs.part.drop_rel(sld_id.rId)
        sld_ids.remove(sld_id)
    return prs, True


_IGNORED = {PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.SLIDE_NUMBER}


def _layouts(prs: Deck):
    def types(layout):
        return [ph.placeholder_format.type for ph in layout.placeholders]

    layouts = list(prs.slide_layouts)
    title = next((lay for lay in layouts if PP_PLACEHOLDER.CENTER_TITLE in types(lay)), None)
    with_title = [lay for lay in layouts
                  if PP_PLACEHOLDER.TITLE in types(lay) or PP_PLACEHOLDER.CENTER_TITLE in types(lay)]
    content = min(with_title, key=lambda lay: len([t for t in types(lay) if t not in _IGNORED]), default=None)
    content = content or layouts[min(6, len(layouts) - 1)]
    return title or content, content


def _strip_placeholders(slide, keep: set[int]) -> None:
    for ph in list(slide.placeholders):
        if ph.placeholder_format.idx not in keep:
            ph._element.getparent().remove(ph._element)


def _title_placeholder(slide):
    for ph in slide.placeholders:
        if ph.placeholder_format.type in (PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE):
            return ph
    return None


def _subtitle_placeholder(slide):
    for ph in slide.placeholders:
        if ph.placeholder_format.type == PP_PLACEHOLDER.SUBTITLE:
            return ph
    return None


# ---------------------------------------------------------------- text helpers

def _textbox(slide, x, y, w, h, paragraphs: list[tuple[str, float, bool, RGBColor | None]],
             align=PP_ALIGN.LEFT, anchor=MSO_ANCHOR.TOP):
    box = slide.shapes.add_textbox(_in(x), _in(y), _in(w), _in(h))
    tf = box.text_frame
    tf.word_wrap = True
    tf.vertical_anchor = anchor
    for m in ("margin_left", "margin_right"):
        setattr(tf, m, Inches(0.04))
    for k, (text, size, bold, color) in enumerate(paragraphs):
        p = tf.paragraphs[0] if k == 0 else tf.add_paragraph()
        p.alignment = align
        run = p.add_run()
        run.text = clean(text)
        run.font.size = Pt(size)
        run.font.bold = bold
        if color is not None:
            run.font.color.rgb = color
    return box


def _fit_size(paragraphs: list[str], w: float, h: float, size: float, floor: float = 8.0) -> float:
    """The largest font size (<= size) at which the paragraphs roughly fit w x h inches."""
    while size > floor:
        per_line = max(1, int(w * 72 / (size * 0.52)))
        lines = sum(max(1, math.ceil(len(p) / per_line)) for p in paragraphs)
        if lines * size * 1.25 / 72 + 0.1 * len(paragraphs) * size / 14 <= h:
            break
        size -= 0.5
    return size


# ---------------------------------------------------------------- blocks

def _tiles(slide, b: Tiles, x, y, w, h) -> None:
    n = len(b.tiles)
    gap = 0.15
    tw = (w - gap * (n - 1)) / n
    value_size = 26 if tw > 2.2 else 22 if tw > 1.8 else 18
    for k, t in enumerate(b.tiles):
        shape = slide.shapes.add_shape(MSO_SHAPE.ROUNDED_RECTANGLE, _in(x + k * (tw + gap)), _in(y), _in(tw), _in(h))
        shape.adjustments[0] = 0.08
        shape.fill.solid()
        shape.fill.fore_color.rgb = LIGHT
        shape.line.fill.background()
        shape.shadow.inherit = False
        tf = shape.text_frame
        tf.word_wrap = True
        tf.vertical_anchor = MSO_ANCHOR.MIDDLE
        for m in ("margin_left", "margin_right"):
            setattr(tf, m, Inches(0.08))
        color = GREY if t.good is None else GOOD if t.good else BAD
        lines = [(t.label, 12, False, GREY), (t.value, value_size, True, DARK)]
        if t.delta:
            lines.append((t.delta, 11, False, color))
        if t.note:
            lines.append((t.note, 10, False, GREY))
        for i, (text, size, bold, col) in enumerate(lines):
            p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
            p.alignment = PP_ALIGN.LEFT
            r = p.add_run()
            r.text = clean(text)
            r.font.size = Pt(size)
            r.font.bold = bold
            r.font.color.rgb = col


def _text(slide, b: Text, x, y, w, h) -> None:
    paras = [("• " + p[2:]) if p.startswith("- ") else p for p in b.paragraphs]
    size = _fit_size(paras, w, h, b.size)
    _textbox(slide, x, y, w, h, [(p, size, False, DARK) for p in paras])


def _table_height(b: Table, widths: list[float], size: float) -> float:
    total = 0.0
    for row in (b.columns, *b.rows):
        lines = max(max(1, math.ceil(len(c) * size * 0.5 / 72 / max(cw - 0.1, 0.2)))
                    for c, cw in zip(row, widths, strict=False))
        total += lines * size * 1.2 / 72 + 0.1
    return total


def _col_widths(b: Table, w: float) -> list[float]:
    if b.widths and len(b.widths) == len(b.columns):
        rel = list(b.widths)
    else:
        rel = [max(3, min(40, max([len(b.columns[i])] + [len(r[i]) for r in b.rows]))) for i in range(len(b.columns))]
    total = sum(rel)
    return [w * r / total for r in rel]


def _table(slide, b: Table, x, y, w, h) -> None:
    widths = _col_widths(b, w)
    size = b.size
    while size > 7 and _table_height(b, widths, size) > h:
        size -= 0.5
    shape = slide.shapes.add_table(len(b.rows) + 1, len(b.columns), _in(x), _in(y), _in(w),
                                   _in(min(h, _table_height(b, widths, size))))
    tbl = shape.table
    for i, cw in enumerate(widths):
        tbl.columns[i].width = _in(cw)
    for r in range(len(b.rows) + 1):
        tbl.rows[r].height = _in(size * 1.2 / 72 + 0.1)
        values = b.columns if r == 0 else b.rows[r - 1]
        for c, text in enumerate(values):
            cell = tbl.cell(r, c)
            cell.margin_left = cell.margin_right = Inches(0.05)
            cell.margin_top = cell.margin_bottom = Inches(0.025)
            tf = cell.text_frame
            tf.word_wrap = True
            p = tf.paragraphs[0]
            p.alignment = PP_ALIGN.RIGHT if (b.numeric and b.numeric[c] and r > 0) else PP_ALIGN.LEFT
            run = p.add_run()
            run.text = clean(text)
            run.font.size = Pt(size)
            run.font.bold = r == 0 or (b.bold_last and r == len(b.rows))


def _chart(slide, b: Chart, x, y, w, h) -> None:
    cats, series = list(b.categories), list(b.series)
    if b.kind == "bar":  # PowerPoint draws the first category at the bottom: largest first reads top-down
        cats = cats[::-1]
        series = [type(s)(s.name, s.values[::-1], s.color, s.point_colors[::-1], s.labels[::-1], s.invisible,
                          s.dashed) for s in series]
    data = SafeChartData(number_format=b.number_format)
    data.categories = [clean(c) for c in cats]
    for s in series:
        data.add_series(clean(s.name), [None if v is None or (isinstance(v, float) and math.isnan(v)) else v
                                        for v in s.values])
    frame = slide.shapes.add_chart(_TYPES[b.kind], _in(x), _in(y), _in(w), _in(h), data)
    ch = frame.chart
    ch.has_title = True
    ch.chart_title.text_frame.text = clean(b.title)
    ch.chart_title.text_frame.paragraphs[0].runs[0].font.size = Pt(13)
    ch.chart_title.text_frame.paragraphs[0].runs[0].font.bold = True
    visible = [s for s in series if not s.invisible]
    ch.has_legend = bool(b.legend and len(visible) > 1)
    if ch.has_legend:
        ch.legend.position = XL_LEGEND_POSITION.BOTTOM
        ch.legend.include_in_layout = False
        ch.legend.font.size = Pt(10)
    va = ch.value_axis
    va.tick_labels.number_format = b.number_format
    va.tick_labels.number_format_is_linked = False
    va.tick_labels.font.size = Pt(10)
    va.has_major_gridlines = True
    va.major_gridlines.format.line.color.rgb = RGBColor(0xE0, 0xE0, 0xE0)
    if b.axis_min is not None:
        va.minimum_scale = b.axis_min
    if b.axis_max is not None:
        va.maximum_scale = b.axis_max
    if b.major_unit:
        va.major_unit = b.major_unit
    ca = ch.category_axis
    ca.tick_labels.font.size = Pt(10 if len(cats) <= 12 else 9)
    if len(cats) > 12:  # every nth label, so month names do not pile up
        skip = ca._element.makeelement(qn("c:tickLblSkip"), {"val": str(math.ceil(len(cats) / 12))})
        ca._element.append(skip)
    plot = ch.plots[0]
    if b.kind in ("waterfall", "column", "bar"):
        plot.gap_width = 60 if b.kind == "waterfall" else 80
        if b.kind == "waterfall":
            plot.overlap = 100
    for s, ps in zip(series, plot.series, strict=False):
        if s.invisible:
            ps.format.fill.background()
            ps.format.line.fill.background()
            continue
        if b.kind == "line":
            ps.smooth = False
            line = ps.format.line
            line.width = Pt(2.25 if not s.dashed else 1.5)
            if s.color:
                line.color.rgb = _rgb(s.color)
            if s.dashed:
                line.dash_style = MSO_LINE_DASH_STYLE.DASH
            ps.marker.style = XL_MARKER_STYLE.NONE
        elif s.color:
            ps.format.fill.solid()
            ps.format.fill.fore_color.rgb = _rgb(s.color)
        for i, c in enumerate(s.point_colors):
            if c:
                pt = ps.points[i]
                pt.format.fill.solid()
                pt.format.fill.fore_color.rgb = _rgb(c)
        for i, text in enumerate(s.labels):
            if text:
                dl = ps.points[i].data_label
                dl.has_text_frame = True
                dl.text_frame.text = clean(text)
                dl.text_frame.paragraphs[0].runs[0].font.size = Pt(9)
                point_color = s.point_colors[i] if i < len(s.point_colors) else ""
                dark_fill = point_color == "#1f4e79" and b.kind == "waterfall"
                dl.text_frame.paragraphs[0].runs[0].font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF) if dark_fill else DARK


# ---------------------------------------------------------------- slides

def _add_slide(prs, s: Slide, pack: Pack, number: int, title_layout, content_layout, templated: bool) -> None:
    W, H = prs.slide_width / EMU_PER_INCH, prs.slide_height / EMU_PER_INCH
    sx = W / 13.333
    layout_ = title_layout if s.kind == "title" else content_layout
    slide = prs.slides.add_slide(layout_)
    title_ph = _title_placeholder(slide)
    sub_ph = _subtitle_placeholder(slide) if s.kind == "title" else None
    keep = {ph.placeholder_format.idx for ph in (title_ph, sub_ph) if ph is not None}
    _strip_placeholders(slide, keep)
    if s.kind == "title":
        if title_ph is None:
            _textbox(slide, 0.8 * sx, H * 0.32, W - 1.6 * sx, 1.4, [(s.title, 36, True, DARK)])
        else:
            title_ph.text = clean(s.title)
            if not templated:
                title_ph.left, title_ph.top, title_ph.width, title_ph.height = (
                    _in(0.8), _in(2.3), _in(W - 1.6), _in(1.5))
        sub_text = clean(s.subtitle)
        if sub_ph is not None:
            sub_ph.text = sub_text
            if not templated:
                sub_ph.left, sub_ph.top, sub_ph.width, sub_ph.height = (_in(0.8), _in(3.9), _in(W - 1.6), _in(0.9))
        else:
            _textbox(slide, 0.8 * sx, H * 0.55, W - 1.6 * sx, 0.8, [(s.subtitle, 20, False, GREY)])
        _textbox(slide, 0.8 * sx, H - 0.9, W - 1.6 * sx, 0.4, [(pack.footer, 11, False, GREY)])
    else:
        if title_ph is None:
            _textbox(slide, 0.5 * sx, 0.3, W - 1.0 * sx, 0.8, [(s.title, 28, True, DARK)], anchor=MSO_ANCHOR.MIDDLE)
            title_bottom = 1.1
        else:
            title_ph.text = clean(s.title)
            if not templated:
                title_ph.left, title_ph.top, title_ph.width, title_ph.height = _in(0.5), _in(0.25), _in(W - 1), _in(0.8)
                title_ph.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT
                for r in title_ph.text_frame.paragraphs[0].runs:
                    r.font.size = Pt(28)
                    r.font.bold = True
                    r.font.color.rgb = DARK
            title_bottom = (title_ph.top + title_ph.height) / EMU_PER_INCH
        top = title_bottom + 0.05
        if s.subtitle:
            _textbox(slide, 0.5 * sx, top, W - 1.0 * sx, 0.4, [(s.subtitle, 13, False, GREY)])
            top += 0.45
        bottom = H - 0.45
        draw_blocks(s, 0.5 * sx, top + 0.1, W - 1.0 * sx, bottom - top - 0.15,
                    {Tiles: partial(_tiles, slide), Text: partial(_text, slide), Table: partial(_table, slide),
                     Chart: partial(_chart, slide)})
        _textbox(slide, 0.5 * sx, H - 0.4, W - 1.0 * sx, 0.3,
                 [(f"{pack.footer} · {number}/{len(pack.slides)}", 9, False, GREY)])
    if s.notes:
        slide.notes_slide.notes_text_frame.text = clean(s.notes)


def render(pack: Pack, template: str | Path | None = None) -> bytes:
    """The pack as .pptx bytes (native charts; the template's layouts and theme when given)."""
    prs, templated = _open(template)
    title_layout, content_layout = _layouts(prs)
    for i, s in enumerate(pack.slides, start=1):
        _add_slide(prs, s, pack, i, title_layout, content_layout, templated)
    props = prs.core_properties
    props.title = clean(pack.title)
    props.subject = clean(pack.subtitle)
    props.author = "Customer Success planner"
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()
