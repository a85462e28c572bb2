"""Presets: billing and CRM exports as they come, turned into canonical columns before the importer maps them.

A preset is recognised from the file's header (or named: the Data page's preset choice, `load --preset NAME`).
It works on the raw text cells: it picks and derives the canonical columns (for Stripe: ARR from amount,
quantity and interval; dates from statuses; trials left out), checks what only it can check (statuses,
intervals, duplicate and overlapping subscriptions, negative amounts that are not credit notes) and hands
the importer a table of canonical columns plus the columns kept as extras, each row carrying its row number
in the file, so every problem still names the file, row and column. Mapping, typing, validation, currency
conversion and the one-transaction write are the importer's, as for any file.

Every rule is documented in docs/sources.md. No preset applies when none matches the header: the plain
path (synonym mapping) is unchanged and costs one header comparison.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app.data.importer import (
    HEADER_ROWS,
    IGNORE,
    MAX_PROBLEMS_SHOWN,
    ROW_COLUMN,
    ImportRefused,
    Problem,
    RawTable,
    _clean_number,
    date_order,
    parse_dates,
)
from app.data.schema import normalize_name, safe_identifier
from app.sources.fx import ZERO_DECIMAL

NONE = "none"  # no preset, not even detection


# ---------------------------------------------------------------- the working context of one file

@dataclass
class Ctx:
    """One raw file under a preset: its columns by normalised name, problems and notes found so far."""

    frame: pd.DataFrame
    file_name: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_norm: dict[str, str] = {}
        for c in self.frame.columns:
            if c != ROW_COLUMN:
                self.by_norm.setdefault(normalize_name(c), c)

    def col(self, *names: str) -> str | None:
        """The file's column for the first of these (normalised) names it has."""
        for n in names:
            c = self.by_norm.get(normalize_name(n))
            if c is not None:
                return c
        return None

    def text(self, col: str | None) -> pd.Series:
        """Trimmed text of a column ('' for none or a missing column)."""
        if col is None:
            return pd.Series("", index=self.frame.index)
        return self.frame[col].astype(str).str.strip()

    def file_order(self) -> str | None:
        """One file, one day/month order: 'us' or 'eu' when the file's date columns show one (as the importer)."""
        if not hasattr(self, "_order"):
            cols = [c for n, c in self.by_norm.items() if "date" in n or n.endswith("utc") or n.startswith("created")]
            orders = {date_order(self.text(c)) for c in cols} - {None}
            self._order = orders.pop() if len(orders) == 1 else None
        return self._order

    def rows(self) -> pd.Series:
        return self.frame[ROW_COLUMN]

    def bad(self, mask: pd.Series, col: str | None, expected: str) -> None:
        """A problem for each row of mask (the first MAX_PROBLEMS_SHOWN, then one summary line)."""
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        values = self.text(col)
        for idx in mask[mask].index[:MAX_PROBLEMS_SHOWN]:
            self.problems.append(Problem(self.file_name, int(self.frame.at[idx, ROW_COLUMN]), col,
                                         values[idx] if col else None, expected))
        extra = int(mask.sum()) - MAX_PROBLEMS_SHOWN
        if extra > 0:
            self.problems.append(Problem(self.file_name, None, col, None, f"{expected} ({extra:,} more rows)", extra))

    def number(self, col: str | None, what: str = "a number") -> pd.Series:
        """Numbers of a column (NaN for blanks); unreadable cells are problems."""
        t = self.text(col)
        if col is None:
            return pd.Series(np.nan, index=self.frame.index)
        num = _clean_number(t)
        self.bad((t != "") & num.isna(), col, what)
        return num

    def date(self, col: str | None) -> pd.Series:
        """Dates of a column (NaT for blanks; time of day dropped); unreadable or mixed formats are problems."""
        t = self.text(col)
        if col is None:
            return pd.Series(pd.NaT, index=self.frame.index, dtype="datetime64[us]")
        parsed, col_problem = parse_dates(t, None, self.file_order())
        if col_problem:
            self.problems.append(Problem(self.file_name, None, col, None, col_problem))
        self.bad((t != "") & parsed.isna(), col, "a date (YYYY-MM-DD, optionally with a time, or MM/DD/YYYY)")
        return pd.to_datetime(parsed).dt.normalize()


def _iso(d: pd.Series) -> pd.Series:
    return pd.to_datetime(d).dt.strftime("%Y-%m-%d").fillna("")


def _num_text(x: pd.Series) -> pd.Series:
    return x.map(lambda v: "" if pd.isna(v) else repr(float(v)))


@dataclass(frozen=True)
class Out:
    """What a preset hands the importer: canonical columns (text) + extras kept, and its notes."""

    columns: dict[str, pd.Series]
    extras: dict[str, pd.Series] = field(default_factory=dict)  # name in the file -> values (kept as extra columns)
    keep: pd.Series | None = None  # rows imported (others were excluded by a rule, with a note)


@dataclass(frozen=True)
class Preset:
    name: str
    kind: str
    label: str
    needs: tuple[tuple[str, ...], ...]  # every group must have one of its (normalised) names in the header
    transform: Callable[[Ctx], Out]
    avoid: tuple[str, ...] = ()  # a header with any of these is not this preset's

    def matches(self, norm_header: set[str]) -> bool:
        return (all(any(normalize_name(n) in norm_header for n in group) for group in self.needs)
                and not any(normalize_name(a) in norm_header for a in self.avoid))


# ---------------------------------------------------------------- Stripe

STRIPE_ACTIVE = ("active", "past_due", "unpaid")
STRIPE_ENDED = ("canceled", "cancelled", "ended")
STRIPE_EXCLUDED = ("trialing", "incomplete", "incomplete_expired", "paused")
_UNITS = {"day": (365.0, 1), "week": (52.0, 1), "month": (12.0, 1), "quarter": (4.0, 3), "year": (1.0, 12)}
_UNIT_WORDS = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter", "yearly": "year",
               "annual": "year", "annually": "year", "yr": "year", "mo": "month", "wk": "week"}


def _interval(values: pd.Series, counts: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(periods per year, billing period in months, readable) per row from 'month', 'year', '3 months' ..."""
    per_year = pd.Series(np.nan, index=values.index)
    months = pd.Series(np.nan, index=values.index)
    for v in values.unique():
        m = re.fullmatch(r"(?:every\s*)?(\d+)?\s*([a-z]+?)s?", v.lower().strip())
        if not m:
            continue
        unit = _UNIT_WORDS.get(m.group(2), m.group(2))
        if unit not in _UNITS:
            continue
        n = int(m.group(1)) if m.group(1) else 1
        mask = values == v
        c = counts[mask].fillna(1.0) * n
        per_year[mask] = _UNITS[unit][0] / c
        months[mask] = np.maximum(np.round(_UNITS[unit][1] * c), 1) if unit in ("month", "quarter", "year") else 1
    return per_year, months, values


def _stripe_customers(x: Ctx) -> Out:
    ids = x.text(x.col("id"))
    x.bad(ids == "", x.col("id"), "a customer id (cus_...)")
    name = x.text(x.col("Name"))
    desc = x.text(x.col("Description"))
    email = x.text(x.col("Email"))
    # A customer without a name is known by its description or email, as the Stripe dashboard shows it
    shown = name.where(name != "", desc.where(desc != "", email))
    created = x.date(x.col("Created (UTC)", "Created"))
    used = {x.col(n) for n in ("id", "Name", "Created (UTC)", "Created")} - {None}
    extras = {c: x.text(c) for c in x.frame.columns if c not in used and c != ROW_COLUMN}
    x.notes.append("account name: Name, else Description, else Email")
    return Out({"account_id": ids, "name": shown, "created_at": _iso(created)}, extras)


def _overlaps(x: Ctx, key: pd.Series, start: pd.Series, end: pd.Series, key_col: str | None, what: str) -> None:
    """Lines of one key may follow each other but not overlap: an exact repeat is a duplicate, else an overlap."""
    d = pd.DataFrame({"k": key, "s": start, "e": end.fillna(pd.Timestamp("9999-12-31")), "row": x.rows()})
    d = d[key != ""]
    if not key.duplicated().any():
        return
    d = d.sort_values(["k", "s", "row"])
    prev_e = d.groupby("k")["e"].shift(1)
    prev_s = d.groupby("k")["s"].shift(1)
    prev_row = d.groupby("k")["row"].shift(1)
    clash = prev_e.notna() & (d["s"] < prev_e)
    dup = clash & (d["s"] == prev_s)
    for idx in d.index[clash & ~dup][:MAX_PROBLEMS_SHOWN]:
        x.problems.append(Problem(x.file_name, int(d.at[idx, "row"]), key_col, str(d.at[idx, "k"]),
                                  f"{what} periods that do not overlap (it overlaps row {int(prev_row[idx])})"))
    for idx in d.index[dup][:MAX_PROBLEMS_SHOWN]:
        x.problems.append(Problem(x.file_name, int(d.at[idx, "row"]), key_col, str(d.at[idx, "k"]),
                                  f"each {what} once (a duplicate of row {int(prev_row[idx])})"))


def _stripe_subscriptions(x: Ctx) -> Out:
    c_id, c_cust = x.col("id", "Subscription ID"), x.col("Customer ID", "Customer")
    c_status, c_plan = x.col("Status"), x.col("Plan", "Plan Name", "Product", "Price")
    ids, cust, status = x.text(c_id), x.text(c_cust), x.text(c_status).str.lower()
    x.bad(ids == "", c_id, "a subscription id (sub_...)")
    x.bad(cust == "", c_cust, "a customer id (cus_...)")
    known = STRIPE_ACTIVE + STRIPE_ENDED + STRIPE_EXCLUDED
    x.bad(~status.isin(known), c_status, f"a Stripe status among {', '.join(known)}")
    excluded = status.isin(STRIPE_EXCLUDED)
    start, end, never_paid = _stripe_period(x, status, excluded)
    amount, ccy, qty, per_year, months = _stripe_price(x, ids, excluded)

    keep = ~excluded & ~never_paid
    plan = x.text(c_plan)
    line = _stripe_line_ids(x, ids, plan, keep, start, end, c_id)
    arr = amount * qty * per_year
    _stripe_notes(x, status, excluded, never_paid)
    meta = {c: x.text(c) for c in x.frame.columns if c != ROW_COLUMN and "metadata" in normalize_name(c)}
    extras = {"Status": x.text(c_status), **meta} if c_status else meta
    cols = {
        "subscription_id": line, "account_id": cust, "product": plan, "start_date": _iso(start),
        "end_date": _iso(end), "arr": _num_text(arr), "quantity": _num_text(qty),
        "billing_period_months": _num_text(months), "currency": ccy,
    }
    return Out(cols, extras, keep)


def _stripe_period(x: Ctx, status: pd.Series, excluded: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Each subscription's paid period: from Start (or the end of its trial) to Ended At (canceled ones);
    and the canceled ones never paid (ended on or before their start)."""
    start = x.date(x.col("Start (UTC)", "Start", "Start Date (UTC)"))
    created = x.date(x.col("Created (UTC)", "Created"))
    start = start.fillna(created)
    trial_end = x.date(x.col("Trial End (UTC)", "Trial End"))
    # paid from the end of a trial: a line starts when its trial ended
    start = start.where(~(trial_end.notna() & (trial_end > start)), trial_end)
    ended = x.date(x.col("Ended At (UTC)", "Ended At"))
    canceled = x.date(x.col("Canceled At (UTC)", "Canceled At", "Cancelled At (UTC)"))
    period_end = x.date(x.col("Current Period End (UTC)", "Current Period End"))
    is_ended = status.isin(STRIPE_ENDED)
    end = pd.Series(pd.NaT, index=x.frame.index, dtype=start.dtype)
    end = end.where(~is_ended, ended.fillna(canceled).fillna(period_end))
    x.bad(start.isna() & ~excluded, x.col("Start (UTC)", "Start") or x.col("Created (UTC)"),
          "a start date (Start (UTC) or Created (UTC))")
    x.bad(is_ended & end.isna(), x.col("Ended At (UTC)", "Ended At"),
          "an end date for a canceled subscription (Ended At, Canceled At or Current Period End)")
    # canceled before any paid day (a trial canceled, or canceled on the day it started): never paid
    never_paid = is_ended & end.notna() & start.notna() & (end <= start)
    return start, end, never_paid


def _stripe_price(x: Ctx, ids: pd.Series, excluded: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series,
                                                                        pd.Series]:
    """Amount per unit and interval (minor units divided out), currency, quantity, intervals per year and the
    billing period in months."""
    c_qty, c_int, c_cnt = x.col("Quantity"), x.col("Interval", "Plan Interval"), x.col("Interval Count",
                                                                                      "Plan Interval Count")
    cents_col = x.col("amount_in_cents", "Amount (cents)", "Amount in cents", "unit_amount", "Unit Amount")
    c_amount = x.col("Amount", "Plan Amount") or cents_col
    c_ccy = x.col("Currency", "Plan Currency")
    amount = x.number(c_amount, "an amount (a number)")
    ccy = x.text(c_ccy).str.upper()
    if c_amount == cents_col:  # minor units: cents, except currencies without a minor unit (JPY)
        amount = amount / np.where(ccy.isin(ZERO_DECIMAL), 1.0, 100.0)
        x.notes.append(f"amount: '{c_amount}' is in minor units (cents): divided by 100 (not for "
                       "zero-decimal currencies such as JPY)")
    x.bad(x.text(c_amount).eq("") & ~excluded, c_amount, "an amount (the price per unit and interval)")
    x.bad(amount < 0, c_amount, "a non-negative amount (a subscription's price is not a credit note)")
    qty = x.number(c_qty, "a quantity (a number)").fillna(1.0)
    x.bad(qty < 0, c_qty, "a non-negative quantity")
    counts = x.number(c_cnt, "an interval count (a whole number)") if c_cnt else pd.Series(1.0, index=ids.index)
    per_year, months, _ = _interval(x.text(c_int), counts)
    x.bad(per_year.isna() & ~excluded, c_int, "an interval: day, week, month or year (or '3 months')")
    return amount, ccy, qty, per_year, months


def _stripe_line_ids(x: Ctx, ids: pd.Series, plan: pd.Series, keep: pd.Series, start: pd.Series, end: pd.Series,
                     c_id: str | None) -> pd.Series:
    """Line ids: the subscription id; items of a multi-item subscription (same id, other plan): id:plan.
    Duplicates and overlaps among the rows kept (the same id and plan twice over the same days) are problems."""
    k = ids.where(keep, "") + "\u241f" + plan
    _overlaps(x, k.where(keep, ""), start, end, c_id, "subscription")
    line = ids.copy()
    multi = ids.where(keep).duplicated(keep=False) & keep
    line[multi] = ids[multi] + ":" + plan[multi]
    again = line.where(keep).duplicated(keep=False) & keep
    line[again] = line[again] + ":" + _iso(start)[again]
    return line


def _stripe_notes(x: Ctx, status: pd.Series, excluded: pd.Series, never_paid: pd.Series) -> None:
    """What was left out, and how ARR and the active period were read."""
    n_ex, n_np = int(excluded.sum()), int(never_paid.sum())
    if n_ex:
        counts_by = status[excluded].value_counts()
        x.notes.append(f"left out {n_ex:,} subscription(s) not paying: "
                       + ", ".join(f"{v:,} {s}" for s, v in counts_by.items()))
    if n_np:
        x.notes.append(f"left out {n_np:,} canceled subscription(s) that ended on or before their start "
                       "(or trial end): never paid")
    x.notes.append("ARR = Amount x Quantity x intervals per year (month: 12, year: 1, week: 52, day: 365; "
                   "divided by the interval count); active from Start (or Trial End) until Ended At, open while "
                   f"{', '.join(STRIPE_ACTIVE)}")


# ---------------------------------------------------------------- CRM deals and opportunities -> contracts

RENEWAL_WINDOW_BEFORE_DAYS = 180  # a renewal deal closing this long before a contract's end renews it
RENEWAL_GRACE_DAYS = 31  # ... or up to this long after it
DEFAULT_TERM_MONTHS = 12


def _deal_type(t: pd.Series) -> pd.Series:
    n = t.map(normalize_name)
    out = pd.Series("new", index=t.index)
    out[n.str.contains("renew|existingbusiness|downgrade|replacement", regex=True)] = "renewal"
    out[n.str.contains("upsell|upgrade|expansion|crosssell|addon", regex=True)] = "upsell"
    return out


def _deals(x: Ctx, c: dict[str, str | None], source: str) -> Out:
    """Won deals become contracts; a renewal deal (won or lost) decides the outcome of the contracts it renews."""
    ids, acct = x.text(c["id"]), x.text(c["account"])
    stage = x.text(c["stage"]).map(normalize_name)
    won = stage.str.contains("closedwon|^won$", regex=True)
    lost = stage.str.contains("closedlost|^lost$", regex=True)
    if c.get("won"):  # Salesforce's Won / Closed checkboxes when the stage names are the company's own
        wflag = x.text(c["won"]).str.lower().isin(("1", "true", "yes"))
        cflag = x.text(c.get("closed")).str.lower().isin(("1", "true", "yes")) if c.get("closed") else wflag
        won, lost = won | wflag, lost | (cflag & ~wflag)
    dtype = _deal_type(x.text(c["type"]))
    close = x.date(c["close"])
    start = x.date(c["start"]).fillna(close)
    term = x.number(c.get("term"), "a term in months") if c.get("term") else pd.Series(np.nan, index=ids.index)
    default_end = pd.Series([s + pd.DateOffset(months=int(t)) if pd.notna(s) else pd.NaT
                             for s, t in zip(start, term.fillna(DEFAULT_TERM_MONTHS), strict=False)], index=ids.index,
                            dtype="datetime64[us]") if len(ids) else start
    end = x.date(c["end"]).fillna(default_end)
    if c.get("arr"):
        money_col, arr = c["arr"], x.number(c["arr"])
    elif c.get("mrr"):
        money_col, arr = c["mrr"], x.number(c["mrr"]) * 12
    else:
        money_col, arr = c["amount"], x.number(c["amount"])
    if c.get("arr") and c.get("amount"):  # ARR blank on a deal: its amount
        arr = arr.fillna(x.number(c["amount"]))
    relevant = won | (lost & (dtype == "renewal"))
    x.bad(relevant & (ids == ""), c["id"], "a deal id")
    x.bad(relevant & (acct == ""), c["account"], "the deal's company or account id")
    x.bad(won & arr.isna(), money_col, "an amount (ARR, MRR or amount) on a won deal")
    x.bad(relevant & (arr < 0), money_col, "a non-negative amount (a negative deal is not a contract)")
    x.bad(relevant & close.isna(), c["close"], "a close date")
    keep = won.copy()
    d = pd.DataFrame({"id": ids, "acct": acct, "start": start, "end": end, "close": close, "arr": arr,
                      "won": won, "type": dtype})
    contracts = d[won]
    renew = d[(won | lost) & (dtype == "renewal")]
    m = contracts.reset_index().merge(renew.reset_index(), on="acct", suffixes=("", "_r"))
    m = m[(m["id"] != m["id_r"]) & (m["close_r"] > m["start"])
          & (m["close_r"] >= m["end"] - pd.Timedelta(days=RENEWAL_WINDOW_BEFORE_DAYS))
          & (m["close_r"] <= m["end"] + pd.Timedelta(days=RENEWAL_GRACE_DAYS))]
    m = m.sort_values(["index", "close_r"]).drop_duplicates("index")
    # a renewal shared by several contracts (a new deal and an upsell ending together): its ARR split by their ARR
    share = m["arr"] / m.groupby("index_r")["arr"].transform("sum")
    renewed = pd.Series(np.nan, index=ids.index)
    renewed[m["index"].values] = np.where(m["won_r"], m["arr_r"] * share.fillna(0), 0.0)
    n_open = int((~won & ~lost).sum())
    n_lost = int((lost & (dtype != "renewal")).sum())
    x.notes.append(f"{source}: won deals are contracts (start: contract start or close date; end: contract end, else "
                   f"start + {DEFAULT_TERM_MONTHS} months); a renewal deal closing from {RENEWAL_WINDOW_BEFORE_DAYS} "
                   f"days before to {RENEWAL_GRACE_DAYS} days after a contract's end renews it (won: its ARR is the "
                   "renewed ARR; lost: churned)")
    if n_open or n_lost:
        x.notes.append(f"left out {n_open:,} open deal(s) and {n_lost:,} lost new-business or upsell deal(s)")
    used = {v for v in c.values() if v}
    extras = {col: x.text(col) for col in x.frame.columns if col not in used and col != ROW_COLUMN}
    extras["deal_type"] = dtype
    cols = {"contract_id": ids, "account_id": acct, "start_date": _iso(start), "end_date": _iso(end),
            "arr": _num_text(arr), "renewed_arr": _num_text(renewed), "currency": x.text(c.get("currency")).str.upper()}
    return Out(cols, extras, keep)


def _hubspot_deals(x: Ctx) -> Out:
    return _deals(x, {
        "id": x.col("Record ID", "hs_object_id", "Deal ID", "dealId"),
        "account": x.col("Associated Company IDs (Primary)", "Associated Company ID", "associatedcompanyid",
                         "Associated Company IDs", "Company ID", "Associated Company"),
        "stage": x.col("Deal Stage", "dealstage"), "type": x.col("Deal Type", "dealtype"),
        "close": x.col("Close Date", "closedate"),
        "start": x.col("Contract Start Date", "contract_start_date", "Start Date"),
        "end": x.col("Contract End Date", "contract_end_date", "End Date", "Renewal Date"),
        "term": x.col("Term (months)", "hs_term_in_months", "Contract Term"),
        "arr": x.col("Annual recurring revenue", "hs_arr", "ARR"),
        "mrr": x.col("Monthly recurring revenue", "hs_mrr", "MRR"),
        "amount": x.col("Amount", "amount", "Amount in company currency", "amount_in_home_currency"),
        "currency": x.col("Currency", "deal_currency_code", "Deal currency code"),
    }, "HubSpot deals")


def _salesforce_opportunities(x: Ctx) -> Out:
    return _deals(x, {
        "id": x.col("Opportunity ID", "Id", "Opportunity Id"), "account": x.col("Account ID", "AccountId"),
        "stage": x.col("Stage", "StageName"), "type": x.col("Type", "Opportunity Type"),
        "close": x.col("Close Date", "CloseDate"),
        "start": x.col("Contract Start Date", "Contract_Start_Date__c", "Start Date"),
        "end": x.col("Contract End Date", "Contract_End_Date__c", "End Date", "Renewal Date"),
        "term": x.col("Contract Term", "Contract Term (months)", "Term"),
        "arr": x.col("ARR", "Annual Recurring Revenue", "ARR__c"), "mrr": x.col("MRR", "MRR__c"),
        "amount": x.col("Amount", "Total Amount"),
        "currency": x.col("Opportunity Currency", "CurrencyIsoCode", "Currency"),
        "won": x.col("Won", "IsWon"), "closed": x.col("Closed", "IsClosed"),
    }, "Salesforce opportunities")


# ---------------------------------------------------------------- CRM companies and accounts -> accounts

def _accounts(x: Ctx, c: dict[str, str | None]) -> Out:
    ids = x.text(c["account_id"])
    x.bad(ids == "", c["account_id"], "an account id")
    cols = {k: x.text(v) for k, v in c.items() if k not in ("created_at",) and v}
    if c.get("created_at"):
        cols["created_at"] = _iso(x.date(c["created_at"]))
    used = {v for v in c.values() if v}
    extras = {col: x.text(col) for col in x.frame.columns if col not in used and col != ROW_COLUMN}
    return Out(cols, extras)


def _hubspot_companies(x: Ctx) -> Out:
    return _accounts(x, {
        "account_id": x.col("Record ID", "hs_object_id", "Company ID"), "name": x.col("Company name", "name"),
        "csm_id": x.col("Company owner", "hubspot_owner_id", "Customer Success Manager"),
        "industry": x.col("Industry", "industry"), "region": x.col("Country/Region", "country", "Region"),
        "segment": x.col("Segment", "Company size", "Tier"), "created_at": x.col("Create Date", "createdate"),
    })


def _salesforce_accounts(x: Ctx) -> Out:
    return _accounts(x, {
        "account_id": x.col("Account ID", "Id", "Account Id"), "name": x.col("Account Name", "Name"),
        "csm_id": x.col("Customer Success Manager", "CSM", "Account Owner", "Owner"),
        "industry": x.col("Industry"), "region": x.col("Region", "Billing Country", "BillingCountry",
                                                         "Billing Country/Region"),
        "segment": x.col("Segment", "Customer Segment", "Account Segment"),
        "created_at": x.col("Created Date", "CreatedDate", "Customer Since"),
    })


def _chartmogul_customers(x: Ctx) -> Out:
    ext = x.col("External ID", "external_id", "Customer External ID")
    out = _accounts(x, {
        "account_id": ext or x.col("UUID", "uuid"), "name": x.col("Name", "name", "Company"),
        "region": x.col("Country", "country"), "csm_id": x.col("Owner", "owner"),
        "created_at": x.col("Customer Since", "customer-since", "customer_since"),
    })
    x.notes.append("account id: the customer's external id (as the invoices name it), else its ChartMogul UUID")
    return out


def _chartmogul_invoices(x: Ctx) -> Out:
    c_sub = x.col("subscription_external_id", "Subscription External ID", "subscription_uuid")
    c_cust = x.col("customer_external_id", "Customer External ID", "customer_uuid")
    c_type = x.col("line_item_type", "type", "Line Item Type")
    c_amt = x.col("amount_in_cents", "Amount in cents")
    c_tax = x.col("tax_amount_in_cents", "Tax amount in cents")
    c_ccy = x.col("currency", "Currency")
    c_inv_type = x.col("invoice_type", "document_type", "credit_note", "is_credit_note")
    sub, cust = x.text(c_sub), x.text(c_cust)
    ltype = x.text(c_type).str.lower()
    inv_type = x.text(c_inv_type).map(normalize_name)
    credit = ltype.isin(("refund", "credit", "credit_note")) | inv_type.isin(("creditnote", "credit", "refund",
                                                                              "true", "1", "yes"))
    one_time = ltype.isin(("one_time", "onetime", "one-time"))
    ccy = x.text(c_ccy).str.upper()
    minor = np.where(ccy.isin(ZERO_DECIMAL), 1.0, 100.0)
    amount = x.number(c_amt, "an amount in cents") / minor
    tax = x.number(c_tax, "a tax amount in cents").fillna(0) / minor if c_tax else 0.0
    start = x.date(x.col("service_period_start", "Service Period Start"))
    end = x.date(x.col("service_period_end", "Service Period End"))
    line = ~credit & ~one_time
    x.bad(line & (amount < 0), c_amt, "a non-negative amount (a negative line that is not a credit note: mark "
                                      "credit notes in line_item_type or invoice_type)")
    x.bad(line & (sub == ""), c_sub, "a subscription external id on a subscription line")
    x.bad(line & (cust == ""), c_cust, "a customer external id")
    x.bad(line & (start.isna() | end.isna()), x.col("service_period_start"), "a service period start and end")
    days = (end - start).dt.days
    months = np.maximum(np.round(days / 30.4375), 1)
    net = amount - tax
    arr = net * 12 / months
    prorated = x.text(x.col("prorated", "Prorated")).str.lower().isin(("true", "1", "yes"))
    _overlaps(x, sub.where(line & ~prorated, ""), start, end, c_sub, "subscription service")
    n_cr, n_ot = int(credit.sum()), int(one_time.sum())
    x.notes.append("ARR = (amount_in_cents - tax_amount_in_cents) / 100 x 12 / the service period in months "
                   "(days / 30.44, at least 1); each line active over its service period")
    if n_cr or n_ot:
        x.notes.append(f"left out {n_cr:,} credit note or refund line(s) and {n_ot:,} one-time line(s)")
    used = {c_sub, c_cust, c_type, c_amt, c_tax, c_ccy, x.col("service_period_start"), x.col("service_period_end"),
            x.col("quantity"), x.col("plan_external_id", "plan_uuid", "Plan")} - {None}
    extras = {col: x.text(col) for col in x.frame.columns if col not in used and col != ROW_COLUMN}
    cols = {"subscription_id": sub + ":" + _iso(start), "account_id": cust,
            "product": x.text(x.col("plan_external_id", "plan_uuid", "Plan")),
            "start_date": _iso(start), "end_date": _iso(end), "arr": _num_text(arr),
            "quantity": x.text(x.col("quantity", "Quantity")), "billing_period_months": _num_text(months),
            "currency": ccy}
    return Out(cols, extras, line)


# ---------------------------------------------------------------- the registry

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("stripe-subscriptions", "subscriptions", "Stripe subscriptions export",
           (("id",), ("Customer ID",), ("Status",), ("Interval", "Plan Interval"),
            ("Amount", "Plan Amount", "amount_in_cents", "unit_amount"), ("Start (UTC)", "Created (UTC)")),
           _stripe_subscriptions),
    Preset("stripe-customers", "accounts", "Stripe customers export",
           (("id",), ("Created (UTC)",), ("Email", "Name", "Description")), _stripe_customers,
           avoid=("Customer ID",)),
    Preset("chartmogul-invoices", "subscriptions", "ChartMogul invoices with line items",
           (("amount_in_cents",), ("service_period_start",), ("service_period_end",),
            ("customer_external_id", "customer_uuid")), _chartmogul_invoices),
    Preset("chartmogul-customers", "accounts", "ChartMogul customers export",
           (("UUID",), ("External ID", "external_id"), ("Customer Since", "customer-since", "customer_since")),
           _chartmogul_customers),
    Preset("hubspot-deals", "contracts", "HubSpot deals export",
           (("Deal Stage", "dealstage"), ("Close Date", "closedate"),
            ("Amount", "hs_arr", "hs_mrr", "Annual recurring revenue", "Monthly recurring revenue")),
           _hubspot_deals),
    Preset("hubspot-companies", "accounts", "HubSpot companies export",
           (("Record ID", "hs_object_id"), ("Company name", "name"),
            ("Company owner", "hubspot_owner_id", "Create Date", "createdate", "Lifecycle Stage", "lifecyclestage")),
           _hubspot_companies, avoid=("Deal Stage", "dealstage")),
    Preset("salesforce-opportunities", "contracts", "Salesforce opportunity report",
           (("Opportunity ID", "Opportunity Name"), ("Stage", "StageName"), ("Close Date", "CloseDate"),
            ("Account ID", "AccountId")), _salesforce_opportunities),
    Preset("salesforce-accounts", "accounts", "Salesforce account report",
           (("Account ID",), ("Account Name",), ("Account Owner", "Billing Country", "Billing State/Province",
                                                  "Created Date", "Account Type", "Type")),
           _salesforce_accounts, avoid=("Opportunity ID", "Opportunity Name", "Stage")),
)}


def names(kind: str | None = None) -> list[str]:
    return [p.name for p in PRESETS.values() if kind is None or p.kind == kind]


def detect(columns: list[str], kind: str | None = None) -> Preset | None:
    """The preset whose header signature the columns show (for kind, when given), or None."""
    header = {normalize_name(c) for c in columns}
    for p in PRESETS.values():
        if (kind is None or p.kind == kind) and p.matches(header):
            return p
    return None


# Salesforce report exports end with a footer: totals and a copyright notice in the first column.
_FOOTER = re.compile(r"^(grand totals?|total|copyright|confidential information|generated by|salesforce\.com)",
                     re.IGNORECASE)


def _drop_footer(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.shape[1] < 2 or len(frame) == 0:
        return frame
    tail = frame.tail(8)
    first = tail.iloc[:, 0].astype(str).str.strip()
    rest_empty = (tail.iloc[:, 1:].astype(str).apply(lambda s: s.str.strip()) == "").all(axis=1)
    foot = (first.str.match(_FOOTER) | (first == "")) & rest_empty
    # only a trailing block: stop at the last data row
    drop = []
    for idx in reversed(tail.index):
        if not foot[idx]:
            break
        drop.append(idx)
    return frame.drop(index=drop) if drop else frame


def apply(raw: RawTable, kind: str, file_name: str, preset: str | None = None
          ) -> tuple[RawTable, list[Problem], dict[str, str] | None]:
    """The raw table under its preset (named, or detected when None): (table, problems, mapping).

    With no preset (none matches, or "none"), the table is returned as it is, except that money columns
    in minor units (`arr_in_cents`, `mrr_in_cents`, `amount (cents)` ...) become major units.
    """
    if preset in (None, "") and kind in ("accounts", "subscriptions", "contracts"):
        p = detect([str(c) for c in raw.frame.columns], kind)
    elif preset in (None, "", NONE):
        p = None
    else:
        p = PRESETS.get(preset or "")  # not None here (the branches above)
        if p is None:
            raise ImportRefused([Problem(file_name, None, None, preset, f"a preset among {', '.join(PRESETS)} "
                                                                        "(or none)")])
        if p.kind != kind:
            raise ImportRefused([Problem(file_name, None, None, preset,
                                         f"a preset for {kind} ({p.label} loads {p.kind}; presets for {kind}: "
                                         f"{', '.join(names(kind)) or 'none'})")])
        header = {normalize_name(c) for c in raw.frame.columns}
        missing = [" or ".join(repr(n) for n in g) for g in p.needs
                   if not any(normalize_name(n) in header for n in g)]
        if missing:
            raise ImportRefused([Problem(file_name, None, None, None,
                                         f"the columns of a {p.label}: missing {'; '.join(missing)} (found "
                                         f"{[str(c) for c in raw.frame.columns]})")])
    if p is None:
        return _minor_units(raw), [], None
    frame = raw.frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if p.name.startswith("salesforce"):  # trailing rows only: the row numbers of the others stay
        frame = _drop_footer(frame)
    frame[ROW_COLUMN] = np.arange(len(frame)) + HEADER_ROWS + 1
    x = Ctx(frame.reset_index(drop=True), file_name)
    out = p.transform(x)
    cols = dict(out.columns)
    mapping = {c: c for c in cols}
    taken = set(cols)
    for name, values in out.extras.items():
        ident = name if name not in taken else f"{name} (source)"
        if safe_identifier(ident) in {safe_identifier(t) for t in taken}:
            ident = f"source {name}"
        cols[ident] = values
        mapping[ident] = IGNORE  # not a canonical column: kept as an extra column
        taken.add(ident)
    cols[ROW_COLUMN] = x.frame[ROW_COLUMN]
    result = pd.DataFrame(cols, index=x.frame.index)
    if out.keep is not None:
        result = result[out.keep.fillna(False).astype(bool)]
    detected = "named" if preset else "detected from the header"
    notes = (f"preset: {p.label} ({p.name}, {detected}); see docs/sources.md", *x.notes, *raw.notes)
    if result.empty and not x.problems:
        x.problems.append(Problem(file_name, None, None, None,
                                  f"at least one row to import under the {p.label} "
                                  "rules (every row was left out: " + "; ".join(x.notes) + ")"))
    return RawTable(result.reset_index(drop=True), notes), x.problems, mapping


_CENTS = re.compile(r"^(.*?)[\s_]*(?:in[\s_]*cents|\(cents\)|cents)$", re.IGNORECASE)


def _minor_units(raw: RawTable) -> RawTable:
    """Money columns named in cents (`arr_in_cents`, `MRR (cents)`) as major units, under the name without it."""
    cols = [str(c) for c in raw.frame.columns]
    hits = [(c, m.group(1).strip()) for c in cols if (m := _CENTS.match(c)) and m.group(1).strip()]
    if not hits:
        return raw
    frame = raw.frame.copy()
    frame.columns = cols
    norm = {normalize_name(c) for c in cols}
    ccy_col = next((c for c in cols if normalize_name(c) in ("currency", "currencycode")), None)
    div: float | np.ndarray = 100.0
    if ccy_col is not None:
        div = np.where(frame[ccy_col].astype(str).str.strip().str.upper().isin(ZERO_DECIMAL), 1.0, 100.0)
    notes = list(raw.notes)
    for c, base in hits:
        if normalize_name(base) in norm:
            continue
        num = _clean_number(frame[c].astype(str))
        text = frame[c].astype(str)
        frame[c] = np.where(num.notna(), (num / div).astype(str), text)
        frame = frame.rename(columns={c: base})
        notes.append(f"money: '{c}' is in minor units (cents): divided by 100 and read as '{base}'")
    return RawTable(frame, tuple(notes))
