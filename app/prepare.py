"""What runs once per data version, after every successful import or setting, so that the pages read stored
results instead of computing them: the renewal forecasts (forecasting.renewals.prepare: the model, every contract
due scored, the backfilled windows, the page's views) and the weekly health scores (health.book.prepare: the
learned score fitted on past renewals, 52 weekly snapshots of every account).

Run by the Data page's Import, as-of and sample buttons, `python -m app load` (unless --no-prepare) and
`python -m app prepare`, always after the import's transaction has committed: a failure here leaves the import as
it is (logged; the page then computes what it needs on first view).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from app.data import store
from app.forecasting import renewals

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    renewals: renewals.PrepareReport | None  # None: it failed (logged)
    health_set: int | None  # the health snapshot set built or found; None: no score (too little data) or failed
    health_seconds: float
    health_note: str  # why there is no health score, or ""
    health_failed: bool = False  # building them raised (logged); health_note names the error


def run(cur: store.Cursor, force: bool = False, strict: bool = False) -> Prepared:
    """Prepare the renewal forecasts, then the health scores (which read the prepared renewal scores).

    strict: let a failure raise (the `prepare` command); otherwise log it and go on.
    """
    try:
        rep = renewals.prepare(cur, force=force)
    except Exception:
        if strict:
            raise
        _log.warning("preparing the renewal forecasts failed; the forecast page will compute them", exc_info=True)
        rep = None
    from app.health import book

    t0 = time.perf_counter()
    failed = False
    try:
        _, set_id = book.prepare(cur)
        note = ""
    except ValueError as exc:  # too little data for a score: the health page says the same
        set_id, note = None, str(exc)
    except Exception as exc:
        if strict:
            raise
        _log.warning("building the health scores failed; the health page will build them", exc_info=True)
        set_id, note, failed = None, f"failed ({type(exc).__name__})", True
    return Prepared(rep, set_id, time.perf_counter() - t0, note, failed)
