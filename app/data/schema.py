"""The canonical data model: tables, columns, types and the synonyms users bring.

One place defines every canonical column. The store builds its DDL from it and
the importer maps and validates against it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# Column types understood by the importer and the store.
STR, DATE, NUMBER, INT = "str", "date", "number", "int"
SQL_TYPES = {STR: "VARCHAR", DATE: "DATE", NUMBER: "DOUBLE", INT: "INTEGER"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    synonyms: tuple[str, ...] = ()
    non_negative: bool = False
    description: str = ""


@dataclass(frozen=True)
class Kind:
    """One importable table."""

    name: str
    columns: tuple[Column, ...]
    key: str | None = None  # unique key column, if any
    money: bool = False  # carries arr, or mrr (mapped to arr x 12)
    keeps_extra: bool = False  # unknown source columns are kept (accounts, subscriptions, contracts)
    description: str = ""
    date_pairs: tuple[tuple[str, str], ...] = field(default=())  # (start, end): end >= start

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


_ACCOUNT_ID = Column(
    "account_id", STR, True,
    ("account id", "accountid", "account", "customer id", "customer_id", "customerid",
     "customer", "client id", "company id", "org id", "organization id", "acct id", "acct"),
    description="your identifier of the customer account",
)
_ARR = Column("arr", NUMBER, False, ("annual recurring revenue", "arr usd", "annual value", "acv",
                                     "annual contract value", "amount annual"), True,
              "annual recurring revenue of the line")
# Not stored: an MRR source column is converted to arr = 12 x mrr at import.
MRR = Column("mrr", NUMBER, False, ("monthly recurring revenue", "mrr usd", "monthly value",
                                    "monthly amount", "monthly fee", "monthly price"), True,
             "monthly recurring revenue (stored as arr = 12 x mrr)")

_CURRENCY = Column("currency", STR, False, ("currency code", "curr", "iso currency", "currencyisocode",
                                           "currency iso code", "deal currency code", "deal_currency_code"),
                   description="ISO code of the source amount (converted to the reporting currency at import)")
_ARR_ORIGINAL = Column("arr_original", NUMBER, False, ("arr original", "original arr"), True,
                       "ARR in the source currency, before conversion (kept)")

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "accounts",
            (
                _ACCOUNT_ID,
                Column("name", STR, False, ("account name", "customer name", "company", "company name",
                                            "client name", "organization", "organisation")),
                Column("segment", STR, False, ("tier", "customer segment", "market segment", "size segment")),
                Column("region", STR, False, ("geo", "geography", "territory", "country region")),
                Column("industry", STR, False, ("vertical", "sector")),
                # A CRM's account owner is, for a CS team's export, the CSM who owns the account; a
                # name works as an id (the csms roster can map it to a name and cost later).
                Column("csm_id", STR, False, ("csm", "csm id", "owner id", "cs owner", "success manager id",
                                              "customer success manager id", "customer success manager",
                                              "csm name", "account owner", "company owner", "owner",
                                              "account manager")),
                Column("created_at", DATE, False, ("created", "created date", "customer since", "signup date",
                                                   "create date", "first contract date")),
            ),
            key="account_id",
            keeps_extra=True,
            description="one row per customer account; extra columns are kept and usable as model features",
        ),
        Kind(
            "subscriptions",
            (
                Column("subscription_id", STR, False, ("subscription id", "line id", "line item id", "sub id",
                                                       "item id")),
                _ACCOUNT_ID,
                Column("product", STR, False, ("product name", "plan", "sku", "item", "product code")),
                Column("start_date", DATE, True, ("start", "start date", "period start", "period_start",
                                                  "service start", "begin date", "from")),
                Column("end_date", DATE, False, ("end", "end date", "period end", "period_end", "service end",
                                                 "to", "cancel date", "cancellation date")),
                _ARR,
                Column("quantity", NUMBER, False, ("qty", "seats", "licenses", "licences", "units"), True),
                Column("billing_period_months", INT, False, ("billing period", "billing frequency", "term months",
                                                             "billing cycle", "billing interval"), True),
                _CURRENCY,
                _ARR_ORIGINAL,
            ),
            key="subscription_id",
            money=True,
            keeps_extra=True,
            description="billing line items; monthly ARR per account is derived from them",
            date_pairs=(("start_date", "end_date"),),
        ),
        Kind(
            "contracts",
            (
                Column("contract_id", STR, False, ("contract id", "agreement id", "renewal id", "opportunity id")),
                _ACCOUNT_ID,
                Column("start_date", DATE, True, ("start", "contract start", "start date", "term start")),
                Column("end_date", DATE, True, ("end", "contract end", "end date", "renewal date", "term end")),
                _ARR,
                Column("outcome", STR, False, ("renewal outcome", "result", "renewal status", "status")),
                Column("renewed_arr", NUMBER, False, ("renewal arr", "renewed amount", "new arr"), True),
                _CURRENCY,
                _ARR_ORIGINAL,
            ),
            key="contract_id",
            money=True,
            keeps_extra=True,
            description="contracts with renewal dates and, once known, the outcome",
            date_pairs=(("start_date", "end_date"),),
        ),
        Kind(
            "usage",
            (
                _ACCOUNT_ID,
                Column("date", DATE, True, ("day", "usage date", "month", "period", "week")),
                Column("metric", STR, True, ("metric name", "event", "measure", "kpi")),
                Column("value", NUMBER, True, ("count", "amount", "metric value", "qty"), True),
            ),
            description="product usage by account, date and metric",
        ),
        Kind(
            "nps",
            (
                _ACCOUNT_ID,
                Column("date", DATE, True, ("survey date", "response date", "responded at", "submitted at")),
                Column("score", INT, True, ("nps", "nps score", "rating", "likelihood to recommend")),
            ),
            description="NPS survey responses, score 0-10",
        ),
        Kind(
            "tickets",
            (
                Column("ticket_id", STR, False, ("ticket id", "case id", "case number", "ticket number", "id")),
                _ACCOUNT_ID,
                Column("opened_at", DATE, True, ("opened", "created", "created at", "created date", "open date",
                                                 "date opened")),
                Column("priority", STR, False, ("severity", "urgency")),
                Column("status", STR, False, ("state", "ticket status")),
                Column("closed_at", DATE, False, ("closed", "closed date", "resolved at", "date closed")),
            ),
            key="ticket_id",
            description="support tickets",
            date_pairs=(("opened_at", "closed_at"),),
        ),
        Kind(
            "churn_reasons",
            (
                _ACCOUNT_ID,
                Column("date", DATE, True, ("churn date", "cancel date", "cancellation date", "lost date")),
                Column("proximate_reason", STR, True, ("reason", "churn reason", "proximate cause",
                                                       "stated reason", "cancellation reason")),
                Column("root_reason", STR, False, ("root cause", "root", "underlying reason")),
                Column("notes", STR, False, ("comment", "comments", "note", "details")),
            ),
            description="why customers left: the reason given and the root cause behind it",
        ),
        Kind(
            "csms",
            (
                Column("csm_id", STR, True, ("csm", "csm id", "id", "employee id", "owner id", "user id")),
                Column("name", STR, False, ("csm name", "full name", "employee name", "owner name")),
                Column("segment", STR, False, ("team", "book segment", "pod")),
                Column("start_date", DATE, False, ("start", "hire date", "hired", "start date")),
                Column("end_date", DATE, False, ("end", "leave date", "termination date", "left", "end date")),
                Column("fully_loaded_cost", NUMBER, False, ("cost", "loaded cost", "annual cost",
                                                            "fully loaded cost", "total cost"), True),
            ),
            key="csm_id",
            description="the CSM roster with fully loaded annual cost",
            date_pairs=(("start_date", "end_date"),),
        ),
        Kind(
            "fx_rates",
            (
                Column("date", DATE, True, ("rate date", "as of", "valid from", "effective date", "month")),
                Column("currency", STR, True, ("currency code", "iso currency", "from currency", "code")),
                Column("rate", NUMBER, True, ("fx rate", "exchange rate", "rate to reporting", "rate to usd"), True),
            ),
            description="exchange rates: units of the reporting currency per 1 unit of the currency, from a date on "
                        "(docs/sources.md)",
        ),
    )
}

OUTCOMES = ("renewed", "churned", "downgraded", "expanded")


def normalize_name(name: str) -> str:
    """Compare column names ignoring case, spaces, punctuation: 'Account ID' == 'account_id'."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def safe_identifier(name: str) -> str:
    """A user column name made into a safe SQL identifier: [a-z0-9_], not starting with a digit."""
    ident = re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")
    if not ident:
        ident = "col"
    if ident[0].isdigit():
        ident = "c_" + ident
    return ident[:60]


def quote_ident(ident: str) -> str:
    """Quote an identifier that already passed safe_identifier or is canonical."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", ident):
        raise ValueError(f"unsafe identifier: {ident!r}")
    return f'"{ident}"'
