"""Board, forecast and plan packs as editable PowerPoint or PDF, from the functions the pages call.

    from app import packs
    data = packs.build(cur, "board", fmt="pptx")            # bytes
    packs.write(cur, "forecast", "review.pdf", segment="SMB")

Plain Python (no streamlit): the pages' "Download pack" buttons (app.ui.pack_download) and
`python -m app deck` call these. content.py builds the slides from app functions and app.present.fmt;
render_pptx.py and render_pdf.py lay the same slides out. docs/packs.md says what each slide shows.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.data import store
from app.packs.content import KINDS, PackError, build_content
from app.packs.model import Pack

FORMATS = ("pptx", "pdf")
MIME = {"pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pdf": "application/pdf"}

__all__ = ["FORMATS", "KINDS", "MIME", "Pack", "PackError", "build", "build_content", "file_name", "render",
           "write"]


def render(pack: Pack, fmt: str = "pptx", template: str | Path | None = None) -> bytes:
    """A built pack as .pptx or .pdf bytes (a template applies to .pptx only)."""
    t0 = time.perf_counter()
    if fmt == "pptx":
        from app.packs import render_pptx

        data = render_pptx.render(pack, template)
    elif fmt == "pdf":
        from app.packs import render_pdf

        data = render_pdf.render(pack)
    else:
        raise PackError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    pack.seconds[f"render {fmt}"] = time.perf_counter() - t0
    return data


def build(cur: store.Cursor, kind: str, fmt: str = "pptx", segment: str | None = None,
          scenarios: Sequence[Any] = (), template: str | Path | None = None) -> bytes:
    """Build a pack of `kind` (board | forecast | plan) at the store's as-of date as .pptx or .pdf bytes.

    segment: one segment (None: all). scenarios: saved scenario names, scenario JSON files or
    planning Scenario objects (plan: 1-4; board: the first gives the capacity headline; none:
    the Planner page's starting scenario from the store).
    """
    if fmt not in FORMATS:
        raise PackError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return render(build_content(cur, kind, segment, scenarios), fmt, template)


def file_name(kind: str, as_of: Any, fmt: str, segment: str | None = None) -> str:
    """e.g. board_pack_2026-10-31.pptx, forecast_pack_SMB_2026-10-31.pdf"""
    seg = "" if segment is None else "_" + "".join(c if c.isalnum() else "-" for c in segment)
    return f"{kind}_pack{seg}_{as_of:%Y-%m-%d}.{fmt}"


def write(cur: store.Cursor, kind: str, out: str | Path, segment: str | None = None,
          scenarios: Sequence[Any] = (), template: str | Path | None = None) -> Pack:
    """Build the pack and write it to out (.pptx or .pdf by its suffix); returns the pack (timings in .seconds)."""
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise PackError(f"{out}: the file name must end in .pptx or .pdf")
    if template is not None and fmt != "pptx":
        raise PackError("--template applies to .pptx only (the PDF has its own layout)")
    pack = build_content(cur, kind, segment, scenarios)
    data = render(pack, fmt, template)
    out.write_bytes(data)
    return pack
