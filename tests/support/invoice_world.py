"""A simulated company whose billing export has one line per account per month (an invoice-line export).

Each account has a latent health h ~ N(0, 1): healthier accounts log in more, answer NPS
higher and churn less. Every month an active account stops paying with probability
expit(base + slope * h + shock_month), where shock_month ~ N(0, shock_sd) is shared by every
account that month (churn moves together). The truth is known, so a forecast made at a past
as-of date can be held against what happened.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from app.data import importer, store
from app.rules import periods


def frames(n_accounts: int = 900, months: int = 36, last_month: dt.date = dt.date(2026, 6, 1), seed: int = 0,
           base: float = -3.6, slope: float = -0.9, shock_sd: float = 0.3, bp_given: bool = False,
           products: int = 1) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    first = periods.add_months(last_month, -(months - 1))
    month_list = [periods.add_months(first, i) for i in range(months)]
    shocks = rng.normal(0, shock_sd, months)
    h = rng.normal(0, 1, n_accounts)
    signup = rng.integers(0, months - 3, n_accounts)
    day = rng.integers(1, 29, n_accounts)  # billing day of month
    mrr = np.round(rng.lognormal(6.5, 0.8, n_accounts), 2)
    seg = rng.choice(["SMB", "Mid-Market", "Enterprise"], n_accounts, p=[0.6, 0.3, 0.1])
    ids = [f"ACC{i:05d}" for i in range(n_accounts)]
    lines, usage, nps = [], [], []
    for i in range(n_accounts):
        for t in range(signup[i], months):
            start = month_list[t].replace(day=int(day[i]))
            end = periods.add_months(start, 1)
            for p in range(products):
                lines.append((ids[i], f"P{p}", start, end, float(mrr[i] * 12 / products)))
            usage.append((ids[i], month_list[t], "logins", float(rng.poisson(np.exp(3 + 0.6 * h[i])))))
            if rng.random() < 0.15:
                nps.append((ids[i], start, int(np.clip(round(7 + 1.5 * h[i] + rng.normal(0, 1.5)), 0, 10))))
            # the invoice of month t was paid; does the account stop before the next one?
            if rng.random() < expit(base + slope * h[i] + shocks[t]):
                break
    subs = pd.DataFrame(lines, columns=["account_id", "product", "start_date", "end_date", "arr"])
    subs["subscription_id"] = [f"L{k}" for k in range(len(subs))]
    if bp_given:
        subs["billing_period_months"] = 1
    accounts = pd.DataFrame({"account_id": ids, "name": ids, "segment": seg,
                             "created_at": [month_list[s] for s in signup]})
    return {"accounts": accounts, "subscriptions": subs,
            "usage": pd.DataFrame(usage, columns=["account_id", "date", "metric", "value"]),
            "nps": pd.DataFrame(nps, columns=["account_id", "date", "score"])}


def build(path: Path, **kw) -> store.Cursor:
    """A store holding the world (as-of: the last month's end), derived tables built."""
    f = frames(**kw)
    for df in f.values():
        for c in ("start_date", "end_date", "date", "created_at"):
            if c in df:
                df[c] = pd.to_datetime(df[c])
    con = store.connect(path)
    last = kw.get("last_month", dt.date(2026, 6, 1))
    importer.load_frames(con, f, as_of=periods.month_end(last).isoformat(), label="invoice world", sample=False)
    return con
