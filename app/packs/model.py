"""What a pack is made of: slides holding tiles, text, tables and charts, as plain data.

The content builders (app.packs.content) fill these from the app's own functions and
formatters; the renderers (render_pptx, render_pdf) only lay them out. So the PowerPoint and
the PDF of a pack say exactly the same thing, and a test can read the figures back.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

ChartKind = Literal["waterfall", "column", "bar", "line"]

# Compact money on chart axes ($12.3M, $450k, $950), as fmt.money writes it; LibreOffice and Excel
# both read these conditional formats.
MONEY_AXIS = '[>=1000000]$#,##0.0,,"M";[>=1000]$#,##0,"k";$#,##0'
PCT_AXIS = "0%"
COUNT_AXIS = "#,##0"


@dataclass(frozen=True)
class Tile:
    """A headline figure: label, value as the app shows it, optional change and a small note."""

    label: str
    value: str
    delta: str | None = None
    note: str = ""
    good: bool | None = None  # colour of the change: True green, False red, None neutral


@dataclass(frozen=True)
class Tiles:
    tiles: tuple[Tile, ...]


@dataclass(frozen=True)
class Text:
    """Paragraphs; one starting with "- " is a bullet."""

    paragraphs: tuple[str, ...]
    size: float = 14.0


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...] = ()  # right-aligned columns
    widths: tuple[float, ...] = ()  # relative column widths (default: from the text lengths)
    size: float = 11.0
    bold_last: bool = False  # a totals row


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float | None, ...]
    color: str | None = None  # "#rrggbb"
    point_colors: tuple[str | None, ...] = ()  # per point (waterfall kinds)
    labels: tuple[str, ...] = ()  # per-point data label text ("" = none)
    invisible: bool = False  # the waterfall's base
    dashed: bool = False


@dataclass(frozen=True)
class Chart:
    """A native chart (PowerPoint) whose PDF twin is the app's Altair chart (`altair()`)."""

    kind: ChartKind
    title: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    number_format: str = MONEY_AXIS
    axis_min: float | None = None
    axis_max: float | None = None
    major_unit: float | None = None
    legend: bool = True
    altair: Callable[[], Any] | None = field(default=None, compare=False, repr=False)



Block = Tiles | Text | Table | Chart


@dataclass(frozen=True)
class Slide:
    """One slide (one PDF page). Blocks sit side by side (columns) or one under another (rows)."""

    title: str
    subtitle: str = ""
    blocks: tuple[Block, ...] = ()
    notes: str = ""
    # Tiles always take a strip across the top; the other blocks sit side by side (columns), one under
    # another (rows), or the first on the left and the rest stacked on its right (left-stack).
    arrangement: Literal["columns", "rows", "left-stack"] = "columns"
    weights: tuple[float, ...] = ()  # relative share of each non-tile block (left-stack: left, right)
    kind: Literal["title", "content"] = "content"


@dataclass(frozen=True)
class Pack:
    kind: str
    title: str
    subtitle: str
    footer: str
    slides: tuple[Slide, ...]
    seconds: dict[str, float] = field(default_factory=dict, compare=False)

    def charts(self) -> list[Chart]:
        return [b for s in self.slides for b in s.blocks if isinstance(b, Chart)]

    def texts(self) -> list[str]:
        """Every piece of text the pack shows (titles, tiles, tables, paragraphs, data labels)."""
        out: list[str] = [self.title, self.subtitle, self.footer]
        for s in self.slides:
            out += [s.title, s.subtitle]
            for b in s.blocks:
                if isinstance(b, Tiles):
                    for t in b.tiles:
                        out += [t.label, t.value, t.delta or "", t.note]
                elif isinstance(b, Text):
                    out += list(b.paragraphs)
                elif isinstance(b, Table):
                    out += list(b.columns) + [c for r in b.rows for c in r]
                elif isinstance(b, Chart):
                    out += [b.title, *b.categories] + [lab for se in b.series for lab in se.labels]
        return [t for t in out if t]


Rect = tuple[float, float, float, float]  # x, y (from the top), width, height
TILE_STRIP = 1.3  # inches of the tiles' strip


def layout(slide: Slide, x: float, y: float, w: float, h: float, gap: float = 0.25) -> list[Rect]:
    """Where each block of the slide goes inside the content area (inches, y from the top), in block order."""
    rects: list[Rect | None] = [None] * len(slide.blocks)
    rest = [i for i, b in enumerate(slide.blocks) if not isinstance(b, Tiles)]
    top = y
    for i, b in enumerate(slide.blocks):
        if isinstance(b, Tiles):
            strip = min(TILE_STRIP, h * 0.4) if rest else min(TILE_STRIP * 1.4, h)
            rects[i] = (x, top, w, strip)
            top += strip + gap
    h_left = max(y + h - top, 0.5)
    if rest:
        n = len(rest)
        if slide.arrangement == "left-stack" and n > 1:
            wl, wr = (list(slide.weights) + [1.0, 1.0])[:2]
            left_w = (w - gap) * wl / (wl + wr)
            rects[rest[0]] = (x, top, left_w, h_left)
            sub = rest[1:]
            each = (h_left - gap * (len(sub) - 1)) / len(sub)
            for k, i in enumerate(sub):
                rects[i] = (x + left_w + gap, top + k * (each + gap), w - left_w - gap, each)
        else:
            ws = list(slide.weights)[:n] if len(slide.weights) >= n else [1.0] * n
            total = sum(ws)
            span = (w if slide.arrangement != "rows" else h_left) - gap * (n - 1)
            pos = x if slide.arrangement != "rows" else top
            for i, wt in zip(rest, ws, strict=False):
                size = span * wt / total
                rects[i] = (pos, top, size, h_left) if slide.arrangement != "rows" else (x, pos, w, size)
                pos += size + gap
    return [r for r in rects if r is not None]


def draw_blocks(slide: Slide, x: float, y: float, w: float, h: float,
                draw: dict[type, Callable[[Any, float, float, float, float], None]]) -> None:
    """Lay out the slide's blocks in the content area and draw each with the renderer's function for its type.

    One dispatch for both renderers (PowerPoint and PDF): draw maps Tiles / Text / Table / Chart to
    draw(block, x, y, w, h) bound to the renderer's slide or canvas.
    """
    for b, (bx, by, bw, bh) in zip(slide.blocks, layout(slide, x, y, w, h), strict=True):
        draw[type(b)](b, bx, by, bw, bh)

