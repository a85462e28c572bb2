"""Store compositions: small stores built through the real import path, for "no page and no
command ever crashes" tests.

A ``Composition`` says which kinds are loaded and for which accounts: the sample company
(``importer.load_sample``) or none, then the user's own data imported as CSV files with
``importer.import_file`` (own accounts appended to the sample's, own subscriptions imported
with replace, ...). ``build(comp, path)`` writes the store; ``compositions()`` is a
hypothesis strategy over them; ``NAMED`` holds the cases users reported.

Own data is generated deterministically from the composition's seed: accounts with
annual lines, one invoice line per month per product, or one open monthly-billed line;
some churn; usage, NPS, tickets and imported contracts for chosen shares of accounts.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from app.data import importer, store
from app.rules import periods

BILLINGS = ("annual", "monthly_lines", "monthly_billing")
# Import order: the roster and accounts first (other rows must belong to a known account).
ORDER = ("csms", "accounts", "subscriptions", "contracts", "usage", "nps", "tickets", "churn_reasons")


def _add_months(d: dt.date, n: int) -> dt.date:
    """The first of the month n months after d's month."""
    return periods.add_months(d.replace(day=1), n)


@dataclass(frozen=True)
class Own:
    """The user's own data: which accounts have what, over which months."""

    n_accounts: int = 12
    start: dt.date = dt.date(2022, 1, 1)  # first month of the history
    months: int = 24  # months of subscription history
    billing: str = "annual"  # one of BILLINGS
    churn_share: float = 0.25  # accounts whose lines end before the data ends
    all_ended: bool = False  # every line ends within the history (e.g. data ending July 2023)
    subs_share: float = 1.0  # accounts with subscription lines (the rest have none)
    contracts_share: float = 0.0  # accounts with imported contracts
    usage_share: float = 0.0  # accounts with monthly usage rows
    nps_share: float = 0.0
    tickets_share: float = 0.0
    products: int = 1  # products per account (monthly_lines: one line per month per product)
    prefix: str = "OWN-"
    seed: int = 0


@dataclass(frozen=True)
class Composition:
    """A store: the sample company or not, then own files imported kind by kind (kind -> mode)."""

    name: str
    sample_accounts: int = 0  # 0: no sample company
    sample_as_of: dt.date = dt.date(2024, 12, 31)
    own: Own = field(default_factory=Own)
    imports: tuple[tuple[str, str], ...] = ()  # (kind, "replace" | "append"), imported in ORDER
    empty_first: bool = False  # importer.start_empty before the own imports

    def __str__(self) -> str:  # readable in pytest ids and hypothesis reports
        return self.name


# ----------------------------------------------------------------- own data


def own_frames(o: Own) -> dict[str, list[dict]]:
    """Rows per kind for the own data (a kind with no rows has an empty list)."""
    rnd = random.Random(o.seed)
    segs = ("SMB", "Mid-Market", "Enterprise")
    end = _add_months(o.start, o.months)  # first day after the history
    rows: dict[str, list[dict]] = {k: [] for k in ORDER}
    csm_ids = ["CSM-1", "CSM-2", "CSM-3"]
    for i, c in enumerate(csm_ids):
        rows["csms"].append({"csm_id": c, "name": f"CSM {i + 1}", "segment": segs[i],
                             "start_date": "2019-01-01", "end_date": "", "fully_loaded_cost": 120000 + 10000 * i})
    ids = [f"{o.prefix}{i + 1:03d}" for i in range(o.n_accounts)]

    def pick(share: float) -> set[str]:
        return {a for a in ids if rnd.random() < share}

    with_subs, with_contracts = pick(o.subs_share), pick(o.contracts_share)
    with_usage, with_nps, with_tickets = pick(o.usage_share), pick(o.nps_share), pick(o.tickets_share)
    sub_n = ticket_n = contract_n = 0
    for k, a in enumerate(ids):
        seg = segs[k % 3]
        first = _add_months(o.start, rnd.randrange(max(1, o.months // 2)))
        churned = o.all_ended or rnd.random() < o.churn_share
        last = _add_months(first, rnd.randrange(1, max(2, o.months))) if churned else None  # first month without
        if last is not None and last > end:
            last = end
        active_end = last or end  # months before this are active
        rows["accounts"].append({"account_id": a, "name": f"Own {a}", "segment": seg,
                                 "region": rnd.choice(["EMEA", "NA"]), "industry": "Software",
                                 "csm_id": csm_ids[k % 3], "created_at": first.isoformat()})
        base = {"SMB": 6000, "Mid-Market": 30000, "Enterprise": 120000}[seg] * (0.5 + rnd.random())
        if a in with_subs:
            for p in range(o.products):
                prod, arr = f"P{p + 1}", round(base / (p + 1), 2)
                if o.billing == "monthly_lines":
                    m = first
                    while m < active_end:
                        sub_n += 1
                        rows["subscriptions"].append({"subscription_id": f"{a}-L{sub_n}", "account_id": a,
                                                      "product": prod, "start_date": m.isoformat(),
                                                      "end_date": _add_months(m, 1).isoformat(), "mrr": arr / 12,
                                                      "quantity": 10, "billing_period_months": 1})
                        m = _add_months(m, 1)
                elif o.billing == "monthly_billing":
                    sub_n += 1
                    rows["subscriptions"].append({"subscription_id": f"{a}-L{sub_n}", "account_id": a,
                                                  "product": prod, "start_date": first.isoformat(),
                                                  "end_date": last.isoformat() if last else "", "mrr": arr / 12,
                                                  "quantity": 10, "billing_period_months": 1})
                else:  # annual lines, renewed each year; the current one runs past the data
                    s = first
                    while s < active_end:
                        e = _add_months(s, 12)
                        if last is not None and e > last:
                            e = last
                        sub_n += 1
                        rows["subscriptions"].append({"subscription_id": f"{a}-L{sub_n}", "account_id": a,
                                                      "product": prod, "start_date": s.isoformat(),
                                                      "end_date": e.isoformat(), "arr": arr, "quantity": 10,
                                                      "billing_period_months": 12})
                        s = e
        if a in with_contracts:
            s = first
            while s < end:
                e = _add_months(s, 12)
                gone = last is not None and e >= last
                contract_n += 1
                known = e < end
                rows["contracts"].append({"contract_id": f"C-{contract_n}", "account_id": a,
                                          "start_date": s.isoformat(), "end_date": e.isoformat(),
                                          "arr": round(base, 2),
                                          "outcome": ("churned" if gone else "renewed") if known else "",
                                          "renewed_arr": (0 if gone else round(base, 2)) if known else ""})
                if gone:
                    break
                s = e
        months = []
        m = first
        while m < active_end:
            months.append(m)
            m = _add_months(m, 1)
        if a in with_usage:
            for m in months:
                for metric in ("active_users", "logins"):
                    rows["usage"].append({"account_id": a, "date": m.isoformat(), "metric": metric,
                                          "value": rnd.randrange(0, 50)})
        if a in with_nps and months:
            for m in months[::6]:
                rows["nps"].append({"account_id": a, "date": (m + dt.timedelta(days=9)).isoformat(),
                                    "score": rnd.randrange(0, 11)})
        if a in with_tickets and months:
            for m in months[::3]:
                ticket_n += 1
                opened = m + dt.timedelta(days=rnd.randrange(0, 27))
                rows["tickets"].append({"ticket_id": f"T-{ticket_n}", "account_id": a,
                                        "opened_at": opened.isoformat(),
                                        "priority": rnd.choice(["low", "high", "urgent"]), "status": "closed",
                                        "closed_at": (opened + dt.timedelta(days=2)).isoformat()})
        if churned and last is not None:
            rows["churn_reasons"].append({"account_id": a, "date": last.isoformat(),
                                          "proximate_reason": rnd.choice(["price", "competitor", "champion left"]),
                                          "root_reason": rnd.choice(["product fit", "onboarding", ""]),
                                          "notes": ""})
    return rows


def to_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


class BuildError(AssertionError):
    """An own file the composition meant to import was refused (a bug in the generator or importer)."""


def build(comp: Composition, path: Path) -> Path:
    """Write the composition's store at path (through load_sample / start_empty / import_file)."""
    con = store.connect(path)
    try:
        if comp.sample_accounts:
            importer.load_sample(con, n_accounts=comp.sample_accounts, as_of=comp.sample_as_of)
        if comp.empty_first:
            importer.start_empty(con)
        rows = own_frames(comp.own)
        modes = dict(comp.imports)
        for kind in ORDER:
            if kind not in modes or not rows[kind]:
                continue  # a kind the composition leaves out, or with no rows for these accounts
            rep = importer.import_file(con, kind, to_csv(rows[kind]), f"own_{kind}.csv", mode=modes[kind])
            if not rep.ok:
                raise BuildError(f"{comp.name}: {rep.message}")
    finally:
        con.close()
    return path


# ----------------------------------------------------------------- named cases

ALL_OWN = tuple((k, "replace") for k in ORDER)
MIXED = (("accounts", "append"), ("subscriptions", "replace"))  # the reported way to add own data

NAMED: dict[str, Composition] = {c.name: c for c in (
    Composition("empty store"),
    Composition("emptied sample", sample_accounts=60, empty_first=True),
    Composition("sample only", sample_accounts=150),
    # Issue 10: sample loaded, own accounts appended, own subscriptions imported with replace:
    # sample accounts keep usage but have no contracts, own accounts have contracts but no usage.
    Composition("sample + own accounts appended + own subscriptions replaced", sample_accounts=150,
                own=Own(n_accounts=60, start=dt.date(2022, 7, 1), months=30, billing="monthly_lines",
                        churn_share=0.5, seed=1), imports=MIXED),
    Composition("sample + own, few own accounts", sample_accounts=100,
                own=Own(n_accounts=3, months=24, seed=2), imports=MIXED + (("usage", "append"),)),
    Composition("accounts only", own=Own(n_accounts=5), imports=(("accounts", "replace"),)),
    Composition("accounts without subscriptions, with usage and NPS",
                own=Own(n_accounts=8, subs_share=0.0, usage_share=1.0, nps_share=1.0, tickets_share=1.0),
                imports=ALL_OWN),
    Composition("one account", own=Own(n_accounts=1, churn_share=0.0, usage_share=1.0, nps_share=1.0),
                imports=ALL_OWN),
    Composition("one month", own=Own(n_accounts=6, months=1, churn_share=0.0, usage_share=1.0,
                                     start=dt.date(2024, 6, 1)), imports=ALL_OWN),
    Composition("all subscriptions ended long ago (July 2023)",
                own=Own(n_accounts=10, start=dt.date(2020, 8, 1), months=36, all_ended=True,
                        usage_share=0.5, contracts_share=0.0), imports=ALL_OWN),
    Composition("monthly invoice lines, two products",
                own=Own(n_accounts=15, months=18, billing="monthly_lines", products=2, usage_share=0.5,
                        nps_share=0.5), imports=ALL_OWN),
    Composition("imported contracts, no usage",
                own=Own(n_accounts=20, months=36, contracts_share=1.0, start=dt.date(2021, 1, 1)),
                imports=ALL_OWN),
    Composition("contracts only for some, usage only for others",
                own=Own(n_accounts=20, months=30, contracts_share=0.5, usage_share=0.5, nps_share=0.3,
                        billing="monthly_billing"), imports=ALL_OWN),
)}


# ----------------------------------------------------------------- hypothesis

_KIND_SETS = st.lists(st.sampled_from(ORDER[2:]), unique=True).map(
    lambda ks: ("accounts",) + tuple(ks))


@st.composite
def compositions(draw, allow_sample: bool = True) -> Composition:
    """A random small composition (kinds loaded, shares of accounts with each, shape of the lines)."""
    own = Own(
        n_accounts=draw(st.integers(1, 25)),
        start=draw(st.sampled_from([dt.date(2020, 8, 1), dt.date(2022, 1, 1), dt.date(2024, 3, 1)])),
        months=draw(st.sampled_from([1, 2, 7, 13, 30])),
        billing=draw(st.sampled_from(BILLINGS)),
        churn_share=draw(st.sampled_from([0.0, 0.3, 1.0])),
        all_ended=draw(st.booleans()),
        subs_share=draw(st.sampled_from([0.0, 0.5, 1.0])),
        contracts_share=draw(st.sampled_from([0.0, 0.5, 1.0])),
        usage_share=draw(st.sampled_from([0.0, 0.5, 1.0])),
        nps_share=draw(st.sampled_from([0.0, 1.0])),
        tickets_share=draw(st.sampled_from([0.0, 1.0])),
        products=draw(st.integers(1, 2)),
        seed=draw(st.integers(0, 1000)),
    )
    sample = draw(st.sampled_from([0, 0, 60])) if allow_sample else 0
    if sample:
        extra = draw(st.lists(st.sampled_from(ORDER[3:]), unique=True, max_size=3))
        imports = MIXED + tuple((k, "append") for k in extra)
        if draw(st.booleans()):
            imports = (("accounts", "append"),) + tuple((k, "append") for k in extra)
    else:
        imports = tuple((k, "replace") for k in draw(_KIND_SETS)) if draw(st.integers(0, 9)) else ()
    name = (f"{'sample+' if sample else ''}own[{','.join(k for k, _ in imports)}] {own.n_accounts} accounts, "
            f"{own.months} months from {own.start:%Y-%m}, {own.billing}")
    return Composition(name, sample_accounts=sample, own=own, imports=imports)


def replace_own(comp: Composition, **kw) -> Composition:
    return dataclasses.replace(comp, own=dataclasses.replace(comp.own, **kw))
