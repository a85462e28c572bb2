"""Currencies: the store's reporting currency, exchange rates and the conversion rule applied at import.

Rule (docs/sources.md, "Currencies"): a line's money is converted with the rate of its start month, the
latest `fx_rates` row of its currency dated on or before the last day of the month its start date falls
in (the currency's earliest rate when the line starts before any rate). With the "budget" rule every line
of a currency takes that currency's latest rate (fixed budget rates). A rate is the number of units of
the reporting currency for one unit of the currency. The original ARR and currency stay on the line
(`arr_original`, `currency`), so the store can be converted again when the rates or the reporting
currency change.

Until the user loads `fx_rates`, a small built-in table (DEFAULT_RATES_USD, USD per unit, rounded monthly
averages) is used, expressed in the reporting currency by cross rates.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from app.data import store

CURRENCY_KEY = "reporting_currency"
RULE_KEY = "fx_rule"
RULES = ("start-month", "budget")
DEFAULT_CURRENCY = "USD"

# Currencies whose smallest unit is the unit itself: an amount "in cents" is already whole units.
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
                          "VUV", "XAF", "XOF", "XPF"})

# Built-in starting rates, USD per unit of the currency (rounded monthly averages; replace them with your
# finance team's table: `python -m app load fx_rates rates.csv`).
DEFAULT_RATES_USD: tuple[tuple[str, str, float], ...] = (
    ("2020-01-01", "EUR", 1.11), ("2020-01-01", "GBP", 1.31), ("2020-01-01", "CAD", 0.76),
    ("2020-01-01", "AUD", 0.69), ("2020-01-01", "CHF", 1.03), ("2020-01-01", "JPY", 0.0092),
    ("2020-01-01", "SEK", 0.106), ("2020-01-01", "DKK", 0.149), ("2020-01-01", "NOK", 0.112),
    ("2020-01-01", "INR", 0.014), ("2020-01-01", "BRL", 0.24), ("2020-01-01", "SGD", 0.74),
    ("2022-01-01", "EUR", 1.13), ("2022-01-01", "GBP", 1.35), ("2022-01-01", "CAD", 0.79),
    ("2022-01-01", "AUD", 0.72), ("2022-01-01", "CHF", 1.09), ("2022-01-01", "JPY", 0.0087),
    ("2022-01-01", "SEK", 0.110), ("2022-01-01", "DKK", 0.152), ("2022-01-01", "NOK", 0.113),
    ("2022-01-01", "INR", 0.0134), ("2022-01-01", "BRL", 0.18), ("2022-01-01", "SGD", 0.74),
    ("2024-01-01", "EUR", 1.09), ("2024-01-01", "GBP", 1.27), ("2024-01-01", "CAD", 0.74),
    ("2024-01-01", "AUD", 0.66), ("2024-01-01", "CHF", 1.16), ("2024-01-01", "JPY", 0.0068),
    ("2024-01-01", "SEK", 0.097), ("2024-01-01", "DKK", 0.146), ("2024-01-01", "NOK", 0.095),
    ("2024-01-01", "INR", 0.012), ("2024-01-01", "BRL", 0.20), ("2024-01-01", "SGD", 0.75),
)


def reporting_currency(cur: store.Cursor) -> str:
    """The store's reporting currency (ISO code): every amount in the store is in it. USD unless set."""
    return store.get_meta(cur, CURRENCY_KEY) or DEFAULT_CURRENCY


def rule(cur: store.Cursor) -> str:
    """The conversion rule: "start-month" (default) or "budget"."""
    return store.get_meta(cur, RULE_KEY) or RULES[0]


def default_rates(currency: str = DEFAULT_CURRENCY) -> pd.DataFrame:
    """The built-in table as rates to `currency` (cross rates through USD), with a row of 1 for USD."""
    usd = pd.DataFrame(DEFAULT_RATES_USD, columns=["date", "currency", "rate"])
    usd = pd.concat([usd, pd.DataFrame({"date": ["2020-01-01"], "currency": ["USD"], "rate": [1.0]})])
    usd["date"] = pd.to_datetime(usd["date"])
    if currency == "USD":
        return usd.reset_index(drop=True)
    base = usd[usd["currency"] == currency][["date", "rate"]].rename(columns={"rate": "base"})
    if base.empty:
        return usd.iloc[0:0]
    out = pd.merge_asof(usd.sort_values("date"), base.sort_values("date"), on="date", direction="backward")
    out["base"] = out["base"].fillna(base["base"].iloc[0])
    out["rate"] = out["rate"] / out["base"]
    return out[["date", "currency", "rate"]].reset_index(drop=True)


def rates(cur: store.Cursor) -> tuple[pd.DataFrame, str]:
    """(date, currency, rate) to the reporting currency, and where they come from ("fx_rates" or "built-in")."""
    rc = reporting_currency(cur)
    df = store.query_df(cur, "SELECT date, upper(currency) AS currency, rate FROM fx_rates "
                             "WHERE rate > 0 AND date IS NOT NULL AND currency IS NOT NULL")
    source = "fx_rates"
    if df.empty:
        df, source = default_rates(rc), "built-in"
    df["date"] = pd.to_datetime(df["date"])
    if not (df["currency"] == rc).any():  # the reporting currency converts to itself
        df = pd.concat([df, pd.DataFrame({"date": [pd.Timestamp("1900-01-01")], "currency": [rc], "rate": [1.0]})])
    return df.reset_index(drop=True), source


def lookup(table: pd.DataFrame, currencies: pd.Series, starts: pd.Series, how: str = "start-month") -> pd.Series:
    """The rate of each line (NaN when its currency has no rate): see the module's rule."""
    out = pd.Series(np.nan, index=currencies.index)
    known = currencies.notna() & currencies.isin(set(table["currency"]))
    if not known.any():
        return out
    t = table.sort_values("date")
    if how == "budget":
        latest = t.groupby("currency")["rate"].last()
        out[known] = currencies[known].map(latest).astype(float)
        return out
    # the last day of each line's start month (lines without a start take the latest rate)
    start = pd.to_datetime(starts[known])
    month_end = (start.dt.to_period("M").dt.to_timestamp(how="end")).dt.normalize()
    month_end = month_end.fillna(pd.Timestamp.max.normalize())
    lines = pd.DataFrame({"key": month_end.astype("datetime64[ns]"), "currency": currencies[known].values,
                          "i": known[known].index})
    rt = t.rename(columns={"date": "key"})[["key", "currency", "rate"]]
    rt["key"] = rt["key"].astype("datetime64[ns]")
    m = pd.merge_asof(lines.sort_values("key"), rt.sort_values("key"), on="key", by="currency", direction="backward")
    earliest = t.groupby("currency")["rate"].first()
    m["rate"] = m["rate"].fillna(m["currency"].map(earliest))
    out[m["i"].values] = m["rate"].values
    return out


def convert_frame(cur: store.Cursor, kind: str, frame: pd.DataFrame, file_name: str,
                  src_of: dict[str, str]) -> tuple[pd.DataFrame, list, list[str]]:
    """A prepared money frame with a currency column, converted to the reporting currency (a copy).

    Lines in another currency get arr (and renewed_arr) times their rate; arr_original keeps the amount
    in the line's currency. Lines with no currency are taken to be in the reporting currency. A currency
    without a rate is a problem of its rows.
    """
    from app.data.importer import MAX_PROBLEMS_SHOWN, Problem

    rc = reporting_currency(cur)
    how = rule(cur)
    table, source = rates(cur)
    frame = frame.copy()
    ccy = frame["currency"]
    ccy = ccy.where(ccy.notna(), None)
    other = ccy.notna() & (ccy != rc)
    problems: list = []
    notes: list[str] = []
    frame["currency"] = ccy.fillna(rc)
    if "arr_original" not in src_of:  # the amount the source gave; a mapped arr_original is kept as is
        frame["arr_original"] = frame["arr"]
    if not other.any():
        notes.append(f"currency: every line is in {rc}, the reporting currency")
        return frame, problems, notes
    start_col = "start_date" if "start_date" in frame else None
    starts = frame.loc[other, start_col] if start_col else pd.Series(pd.NaT, index=ccy[other].index)
    r = lookup(table, ccy[other], starts, how)
    missing = r.isna()
    if missing.any():
        col = src_of.get("currency", "currency")
        bad = r[missing].index
        have = sorted(set(table["currency"]))
        for idx in bad[:MAX_PROBLEMS_SHOWN]:
            problems.append(Problem(file_name, int(frame.at[idx, "__row"]), col, str(ccy[idx]),
                                    f"a currency with an exchange rate to {rc} (rates known for: {', '.join(have)}; "
                                    "load fx_rates with this currency)"))
        if len(bad) > MAX_PROBLEMS_SHOWN:
            n = len(bad) - MAX_PROBLEMS_SHOWN
            problems.append(Problem(file_name, None, col, None, f"known currencies ({n:,} more rows)", n))
    rate = pd.Series(1.0, index=frame.index)
    rate[other] = r.fillna(1.0)
    frame["arr"] = frame["arr"] * rate
    if "renewed_arr" in frame:
        frame["renewed_arr"] = frame["renewed_arr"] * rate
    used = sorted(set(ccy[other].dropna()))
    notes.append(f"currency: {int(other.sum()):,} line(s) in {', '.join(used)} converted to {rc} at the "
                 f"{'rate of their start month' if how == 'start-month' else 'fixed budget rate'} "
                 f"({'the built-in rates: load fx_rates to use your own' if source == 'built-in' else 'fx_rates'}); "
                 "the original amount is kept in arr_original")
    return frame, problems, notes


def set_reporting_currency(cur: store.Cursor, code: str, how: str | None = None) -> str:
    """Set the reporting currency (and the rule) and convert every stored amount to it, in one transaction.

    Lines keep their original amount and currency (lines stored before without a currency are taken to
    be in the old reporting currency): each is converted again from its original with the rule. Refused
    (ValueError, nothing changed) when a stored currency has no rate to the new one.
    """
    code = code.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"currency {code!r}: expected a three-letter ISO code such as USD, EUR or GBP")
    if how is not None and how not in RULES:
        raise ValueError(f"rule {how!r}: expected one of {', '.join(RULES)}")
    old = reporting_currency(cur)
    with store.transaction(cur):
        store.set_meta(cur, CURRENCY_KEY, None if code == DEFAULT_CURRENCY else code)
        if how is not None:
            store.set_meta(cur, RULE_KEY, None if how == RULES[0] else how)
        table, _ = rates(cur)
        for kind in ("subscriptions", "contracts"):
            df = store.query_df(cur, f"SELECT rowid AS rid, start_date, arr, arr_original, currency, "
                                     f"{'renewed_arr' if kind == 'contracts' else 'NULL AS renewed_arr'} FROM {kind}")
            if df.empty:
                continue
            ccy = df["currency"].where(df["currency"].notna(), old)
            orig = df["arr_original"].where(df["arr_original"].notna(), df["arr"])
            r = lookup(table, ccy, df["start_date"], rule(cur))
            if r.isna().any():
                missing = sorted(set(ccy[r.isna()]))
                raise ValueError(f"no exchange rate from {', '.join(missing)} to {code}: load fx_rates with "
                                 f"rates to {code} first (nothing was changed)")
            ratio = (orig * r) / df["arr"].where(df["arr"] != 0)
            upd = pd.DataFrame({"rid": df["rid"], "arr": orig * r, "arr_original": orig, "currency": ccy,
                                "renewed_arr": df["renewed_arr"] * ratio.fillna(1.0)})
            cur.register("_fx_upd", upd)
            try:
                extra = ", renewed_arr = u.renewed_arr" if kind == "contracts" else ""
                cur.execute(f"UPDATE {kind} SET arr = u.arr, arr_original = u.arr_original, currency = u.currency"
                            f"{extra} FROM _fx_upd u WHERE {kind}.rowid = u.rid")
            finally:
                cur.unregister("_fx_upd")
        store.rebuild_derived(cur)
        store.log_import(cur, file_name="settings", sha256="", kind="currency", mode="set", rows=0, outcome="ok",
                         message=f"reporting currency {code} (was {old}), rule {rule(cur)}")
    return code


def rates_note(cur: store.Cursor) -> str:
    """One line for the Data page: the reporting currency, the rule, where the rates come from."""
    table, source = rates(cur)
    n = table["currency"].nunique()
    return (f"Reporting currency {reporting_currency(cur)}; conversion at the "
            f"{'rate of each line’s start month' if rule(cur) == 'start-month' else 'fixed budget rates'}; "
            f"{n} currencies with rates ({'the built-in table' if source == 'built-in' else 'your fx_rates'}).")
