"""The bundled sample company: a seeded, deterministic B2B SaaS customer base.

`generate()` simulates a company month by month. Every account carries a latent
health that evolves (persistent account quality + an AR(1) drift + "champion
left" shocks + an onboarding effect that fades). Health drives what a CS team
can observe: active users relative to seats, logins, NPS answers and support
tickets. Churn is then decided from those observable drivers, never from the
hidden health directly, so the drivers are a real (but noisy) signal:

* at each term end (annual / multi-year lines) the churn probability is a
  logistic function of the 90-day usage trend, seat utilisation, detractor NPS,
  ticket load, high-priority tickets, tenure and segment, plus noise;
* monthly-billed SMB lines face the same logistic hazard every month;
* on top, a random share of churn is outside anyone's control (M&A, budget).

Assumptions and calibration figures are documented in docs/sample_data.md.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from app.data.schema import KINDS
from app.data.store import default_as_of
from app.rules import periods

SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
SEGMENT_SHARE = (0.60, 0.30, 0.10)
REGIONS = ("NA", "EMEA", "APAC")
REGION_SHARE = (0.55, 0.30, 0.15)
INDUSTRIES = ("Software", "Financial Services", "Healthcare", "Retail", "Manufacturing", "Education",
              "Media", "Professional Services")
INDUSTRY_SHARE = (0.22, 0.14, 0.12, 0.12, 0.12, 0.08, 0.08, 0.12)

HISTORY_MONTHS = 48  # months of history up to as-of: usage, NPS, tickets cover these
PRE_MONTHS = 36  # accounts may already exist up to this many months before the window

CORE = "Core Platform"
ADDONS = ("Analytics", "Automation", "Premium Support", "API Access")

# Per segment (SMB, MM, Ent). Seats are lognormal around the median; price per seat-year.
SEATS_MEDIAN = np.array([7.5, 40.0, 130.0])
SEATS_SIGMA = np.array([0.55, 0.5, 0.5])
PRICE_PER_SEAT = np.array([480.0, 600.0, 750.0])  # ~ $5k / $30k / $150k per account
EMPLOYEES_MEDIAN = np.array([45.0, 450.0, 6000.0])
# Share of SMB accounts on monthly-billed open-ended lines; the rest sign annual terms.
SMB_MONTHLY_SHARE = 0.6
# Multi-year term mix for Mid-Market and Enterprise: P(12), P(24), P(36) months.
TERM_MIX = {1: (0.85, 0.12, 0.03), 2: (0.70, 0.18, 0.12)}

# ---- churn model: logit = intercept[segment] + sum(weight x driver) + N(0, CHURN_NOISE)
CHURN_INTERCEPT_TERM = np.array([-3.35, -3.95, -4.45])  # per term-end decision
CHURN_INTERCEPT_MONTHLY = -6.15  # per month, SMB monthly-billed lines
CHURN_WEIGHTS = {
    "usage_decline": 4.0,  # x max(0, -(90-day change in active users)), change capped at -60%
    "low_utilisation": 3.0,  # x max(0, 0.6 - active users / seats)
    "detractor": 0.8,  # latest NPS answer(s) in the last 12 months average <= 6
    "promoter": -0.5,  # ... average >= 9
    "ticket_load": 0.35,  # x max(0, tickets per month over 6 months / segment norm - 1)
    "high_priority": 0.25,  # x high/urgent tickets in the last 6 months (capped at 4)
    "tenure_under_12m": 0.9,
    "tenure_12_24m": 0.35,
}
CHURN_NOISE = 0.5
# Churn no driver explains (acquisitions, budget freezes): per year, by segment.
RANDOM_CHURN_YEARLY = np.array([0.03, 0.015, 0.01])
REACTIVATION_SHARE = np.array([0.10, 0.07, 0.05])  # of churned accounts that come back 3-18 months later
LATE_RENEWAL_SHARE = 0.03  # renewals whose new line starts 1-20 days after the old one ended

# ---- expansion
SEAT_GROWTH_AT_RENEWAL = np.array([0.10, 0.08, 0.09])  # mean seat change at renewal, healthy account
PRICE_UPLIFT = np.array([0.02, 0.03, 0.04])  # list price uplift at renewal
ADDON_MONTHLY_P = np.array([0.015, 0.018, 0.04])  # mid-term add-on / extra seats per month
TICKET_RATE = np.array([0.35, 1.2, 3.5])  # tickets per month for a median-size healthy account
NPS_CONTACTS = np.array([1, 2, 4])  # people surveyed per account and wave
NPS_RESPONSE = 0.4

CSM_BOOK = np.array([350.0, 60.0, 17.0])  # target active accounts per CSM
CSM_COST = np.array([110_000.0, 140_000.0, 180_000.0])
CSM_COST_SD = np.array([9_000.0, 11_000.0, 14_000.0])

_ADJ = ("Blue", "Bright", "North", "Silver", "Rapid", "Clear", "Summit", "Prime", "Harbor", "Cedar", "Atlas",
        "Nova", "Granite", "Lumen", "Vertex", "Orchid", "Iron", "Pioneer", "Quantum", "Red", "Golden", "Coastal",
        "Evergreen", "Falcon", "Maple", "Oak", "Polar", "River", "Stone", "Sun")
_NOUN = ("Logistics", "Health", "Labs", "Systems", "Foods", "Capital", "Retail", "Media", "Works", "Analytics",
         "Dynamics", "Partners", "Networks", "Energy", "Robotics", "Studios", "Learning", "Clinics", "Freight",
         "Software", "Bank", "Insurance", "Pharma", "Motors", "Outfitters")
_SUFFIX = ("Inc", "Ltd", "GmbH", "Group", "Co", "LLC", "SA", "Pty", "BV", "AB")
_FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Priya", "Chen", "Fatima", "Lucas", "Sofia", "Noah", "Mia",
          "Omar", "Yuki", "Elena", "David", "Amara", "Ben", "Clara", "Diego", "Hana", "Ivan", "Julia", "Kofi")
_LAST = ("Smith", "Garcia", "Müller", "Kim", "Patel", "Nguyen", "Rossi", "Silva", "Cohen", "Okafor", "Larsen",
         "Dubois", "Tanaka", "Novak", "Brown", "Khan", "Lopez", "Walsh", "Berg", "Costa")

_PROXIMATE = ("Champion left", "Acquired / M&A", "Moved to competitor", "Price / budget cuts", "Missing features",
              "No longer needed")
_ROOT = ("Poor onboarding", "Low early adoption", "Product fit", "Wrong contact / no exec sponsor",
         "Outside our control")


_add_months = periods.add_months  # the one month step (app/rules/periods.py)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class _Sim:
    """Month-by-month simulation state. Vectors are per account; lines are column lists."""

    def __init__(self, rng: np.random.Generator, n: int, as_of: dt.date) -> None:
        self.rng, self.n, self.as_of = rng, n, as_of
        last = as_of.replace(day=1)
        self.T = PRE_MONTHS + HISTORY_MONTHS
        self.months = [_add_months(last, t - self.T + 1) for t in range(self.T)]
        self.window0 = self.T - HISTORY_MONTHS
        T = self.T

        # ---- static account attributes, ordered by creation time
        start_t = np.concatenate([
            rng.integers(0, PRE_MONTHS, size=int(round(n * 0.28))),
            self._new_logo_months(n - int(round(n * 0.28))),
        ])
        start_t.sort()
        self.created_t = start_t
        self.seg = rng.choice(3, size=n, p=SEGMENT_SHARE)
        self.day = rng.integers(1, 29, size=n)
        # Deals closed in a quarter's last month land late in it.
        qend = np.array([(self.months[t].month % 3 == 0) for t in start_t])
        self.day = np.where(qend, np.maximum(self.day, rng.integers(10, 29, size=n)), self.day)
        last_ok = min(as_of.day, 28)
        self.day = np.where(start_t == T - 1, np.minimum(self.day, last_ok), self.day)
        self.monthly = (self.seg == 0) & (rng.random(n) < SMB_MONTHLY_SHARE)
        self.price = PRICE_PER_SEAT[self.seg] * np.exp(rng.normal(0, 0.12, n))
        self.seats0 = np.maximum(2, np.round(SEATS_MEDIAN[self.seg] * np.exp(rng.normal(0, SEATS_SIGMA[self.seg]))))
        self.mu = rng.normal(0.0, 0.55, n) + np.array([0.0, 0.1, 0.2])[self.seg]
        self.onboarding = rng.normal(0.0, 0.8, n)
        self.nps_offset = rng.integers(0, 6, size=n)

        # ---- dynamic state
        self.active = np.zeros(n, bool)
        self.tenure0 = start_t.copy()  # month the current spell started
        self.seats = self.seats0.astype(float)
        self.x = np.zeros(n)
        self.shock = np.zeros(n)
        self.shock_t = np.full(n, -99)
        self.term_end_t = np.full(n, -1)
        self.react_t = np.full(n, -1)
        self.nps_mean = np.full(n, np.nan)
        self.nps_t = np.full(n, -99)
        self.health = np.zeros((n, T), np.float32)
        self.au = np.zeros((n, T), np.float32)
        self.seats_hist = np.zeros((n, T), np.float32)
        self.tix = np.zeros((n, T), np.int16)
        self.hi = np.zeros((n, T), np.int16)
        self.was_active = np.zeros((n, T), bool)
        # per account python state: current term (start, end, months) and open line indices
        self.term: list[tuple[dt.date, dt.date, int] | None] = [None] * n
        self.open: list[list[int]] = [[] for _ in range(n)]
        self.lines: dict[str, list] = {k: [] for k in ("acct", "product", "start", "end", "arr", "qty", "bp")}
        self.nps_rows: list[tuple[np.ndarray, int, np.ndarray]] = []
        self.churns: list[tuple[int, dt.date, int, dict[str, float], bool]] = []

    def _new_logo_months(self, k: int) -> np.ndarray:
        """New logos over the window: growing ~2x over 4 years, quarter-end months ~2x the others."""
        w = np.linspace(1.0, 2.0, HISTORY_MONTHS)
        month_of = [_add_months(self.months[0], PRE_MONTHS + i).month for i in range(HISTORY_MONTHS)]
        w = w * np.array([2.0 if m % 3 == 0 else 1.0 for m in month_of])
        return PRE_MONTHS + self.rng.choice(HISTORY_MONTHS, size=k, p=w / w.sum())

    # ------------------------------------------------------------------ lines
    def _line(self, i: int, product: str, start: dt.date, end: dt.date | None, arr: float, qty: float,
              bp: int) -> int:
        L = self.lines
        L["acct"].append(i)
        L["product"].append(product)
        L["start"].append(start)
        L["end"].append(end)
        L["arr"].append(round(float(arr), 2))
        L["qty"].append(float(qty))
        L["bp"].append(int(bp))
        idx = len(L["acct"]) - 1
        self.open[i].append(idx)
        return idx

    def _term_months(self, i: int) -> int:
        s = int(self.seg[i])
        if s == 0:
            return 12
        return int(self.rng.choice((12, 24, 36), p=TERM_MIX[s]))

    def _start(self, i: int, t: int, start: dt.date, seats: float) -> None:
        """A new (or returning) customer signs: core line, sometimes an add-on."""
        self.active[i] = True
        self.tenure0[i] = t
        self.seats[i] = seats
        self.x[i] = 0.0
        self.open[i] = []
        arr = seats * self.price[i]
        if self.monthly[i]:
            self._line(i, CORE, start, None, arr, seats, 1)
            self.term[i] = None
            return
        months = self._term_months(i)
        end = _add_months(start, months)
        self._line(i, CORE, start, end, arr, seats, months)
        if self.rng.random() < (0.1, 0.25, 0.45)[self.seg[i]]:
            self._line(i, self.rng.choice(ADDONS), start, end, arr * self.rng.uniform(0.08, 0.2), 1, months)
        self.term[i] = (start, end, months)
        self.term_end_t[i] = t + months

    # ------------------------------------------------------------------ drivers
    def _drivers(self, t: int) -> dict[str, np.ndarray]:
        """Observable churn drivers at the start of month t (data up to t-1)."""
        prev = max(t - 1, 0)
        back = np.maximum(np.maximum(t - 4, self.tenure0), 0)
        au1 = self.au[:, prev].astype(float)
        au4 = self.au[np.arange(self.n), back].astype(float)
        trend = np.clip(np.where(au4 > 0, au1 / np.maximum(au4, 1e-9) - 1, 0.0), -0.6, 0.6)
        util = np.where(self.seats_hist[:, prev] > 0, au1 / np.maximum(self.seats_hist[:, prev], 1), 0.7)
        lo = max(t - 6, 0)
        months_seen = np.clip(t - np.maximum(self.tenure0, lo), 1, 6)
        norm = TICKET_RATE[self.seg] * np.sqrt(self.seats / SEATS_MEDIAN[self.seg])
        load = self.tix[:, lo:t].sum(axis=1) / months_seen / norm
        hi = np.minimum(self.hi[:, lo:t].sum(axis=1), 4)
        recent_nps = (t - self.nps_t) <= 12
        tenure = t - self.tenure0
        w = CHURN_WEIGHTS
        return {
            "usage_decline": w["usage_decline"] * np.maximum(0, -trend),
            "low_utilisation": w["low_utilisation"] * np.maximum(0, 0.6 - util),
            "detractor": w["detractor"] * (recent_nps & (self.nps_mean <= 6)),
            "promoter": w["promoter"] * (recent_nps & (self.nps_mean >= 9)),
            "ticket_load": w["ticket_load"] * np.maximum(0, load - 1),
            "high_priority": w["high_priority"] * hi,
            "tenure_under_12m": w["tenure_under_12m"] * (tenure < 12),
            "tenure_12_24m": w["tenure_12_24m"] * ((tenure >= 12) & (tenure < 24)),
            "_trend": trend,
            "_util": util,
        }

    # ------------------------------------------------------------------ churn
    def _churn(self, i: int, t: int, when: dt.date, contrib: dict[str, float], random_share: bool) -> None:
        for idx in self.open[i]:
            if self.lines["end"][idx] is None or self.lines["end"][idx] > when:
                self.lines["end"][idx] = when
        self.open[i] = []
        self.active[i] = False
        self.term[i] = None
        self.term_end_t[i] = -1
        self.churns.append((i, when, t, contrib, random_share))
        if self.rng.random() < REACTIVATION_SHARE[self.seg[i]]:
            self.react_t[i] = t + int(self.rng.integers(3, 19))

    # ------------------------------------------------------------------ the month loop
    def run(self) -> None:
        by_month = np.searchsorted(self.created_t, np.arange(self.T + 1))
        for t in range(self.T):
            self._month(t, by_month)

    def _month(self, t: int, by_month: np.ndarray) -> None:
        """One month: sign-ups, health, what the CS team sees, then cancellations, renewals and expansion.

        The order of the steps is the order of the random draws: changing it changes the seeded sample.
        """
        m0 = self.months[t]
        final = t == self.T - 1
        self._sign_ups(t, m0, final, by_month)
        act = self.active
        self.was_active[:, t] = act
        tenure = t - self.tenure0
        h = self._health(t, act, tenure)
        self._signals(t, act, tenure, h)

        drivers = self._drivers(t)
        parts = [v for key, v in drivers.items() if not key.startswith("_")]
        z_drivers = np.sum(parts, axis=0) + self.rng.normal(0, CHURN_NOISE, self.n)
        rand_u = self.rng.random(self.n)
        self.rng.integers(1, 29, size=self.n)  # unused draw, kept so the seeded stream (the calibrated sample)
        # is unchanged

        self._monthly_lines(t, m0, final, act, tenure, h, drivers, z_drivers, rand_u)
        self._term_ends(t, final, act, h, drivers, z_drivers, rand_u)
        self._mid_term_expansion(t, tenure, h)

    def _sign_ups(self, t: int, m0: dt.date, final: bool, by_month: np.ndarray) -> None:
        """New logos created this month, and churned accounts whose return falls in it."""
        rng = self.rng
        i: Any  # a Python int (range) in one loop, a numpy integer (np.flatnonzero) in the other
        for i in range(by_month[t], by_month[t + 1]):
            self._start(i, t, m0.replace(day=int(self.day[i])), self.seats0[i])
        for i in np.flatnonzero(self.react_t == t):
            self.react_t[i] = -1
            day = min(int(rng.integers(1, 29)), self.as_of.day) if final else int(rng.integers(1, 29))
            self.day[i] = day
            self._start(i, t, m0.replace(day=day), max(2.0, round(self.seats[i] * rng.uniform(0.5, 0.9))))

    def _health(self, t: int, act: np.ndarray, tenure: np.ndarray) -> np.ndarray:
        """Latent health this month: quality + AR(1) drift + champion-left shocks + fading onboarding."""
        rng, n = self.rng, self.n
        self.x = 0.88 * self.x + rng.normal(0, 0.22, n)
        champion = act & (rng.random(n) < 0.008)
        self.shock = 0.85 * self.shock - 1.3 * champion
        self.shock_t = np.where(champion, t, self.shock_t)
        h = self.mu + self.x + self.shock + self.onboarding * np.exp(-np.maximum(tenure, 0) / 6.0)
        self.health[:, t] = h
        return h

    def _signals(self, t: int, act: np.ndarray, tenure: np.ndarray, h: np.ndarray) -> None:
        """What a CS team observes this month: active users, tickets (high priority ones) and NPS answers."""
        rng, n = self.rng, self.n
        util = np.clip(_sigmoid(0.9 + 1.3 * h) * 0.95, 0.03, 1.0)
        au = np.maximum(1, np.round(self.seats * util * np.exp(rng.normal(0, 0.06, n))))
        self.au[:, t] = np.where(act, au, 0)
        self.seats_hist[:, t] = np.where(act, self.seats, 0)
        rate = TICKET_RATE[self.seg] * np.sqrt(self.seats / SEATS_MEDIAN[self.seg]) * np.exp(-0.6 * h)
        tix = np.where(act, rng.poisson(rate), 0)
        self.tix[:, t] = tix
        self.hi[:, t] = rng.binomial(tix, np.clip(0.15 * np.exp(-0.7 * h), 0.02, 0.7))
        wave = act & ((t - self.nps_offset) % 6 == 0) & (tenure >= 2)
        k = np.where(wave, rng.binomial(NPS_CONTACTS[self.seg], NPS_RESPONSE), 0)
        if k.any():
            who = np.repeat(np.arange(n), k)
            scores = np.clip(np.round(7.3 + 1.7 * h[who] + rng.normal(0, 1.5, who.size)), 0, 10)
            self.nps_rows.append((who, t, scores.astype(int)))
            sums = np.bincount(who, scores, n)
            has = k > 0
            self.nps_mean[has] = sums[has] / k[has]
            self.nps_t[has] = t

    def _skip_after_as_of(self, i: Any, final: bool) -> bool:
        """In the last month, an account whose billing day falls after the as-of date has no event yet."""
        return final and self.day[i] > self.as_of.day

    def _monthly_lines(self, t: int, m0: dt.date, final: bool, act: np.ndarray, tenure: np.ndarray,
                       h: np.ndarray, drivers: dict[str, np.ndarray], z_drivers: np.ndarray,
                       rand_u: np.ndarray) -> None:
        """Monthly-billed lines: a cancellation hazard every month after the first, seat changes and add-ons."""
        cand = np.flatnonzero(act & self.monthly & (tenure >= 1))
        if not cand.size:
            return
        p = _sigmoid(CHURN_INTERCEPT_MONTHLY + z_drivers[cand])
        p_rand = 1 - (1 - RANDOM_CHURN_YEARLY[0]) ** (1 / 12)
        u = rand_u[cand]
        i: Any  # a numpy integer (np.flatnonzero)
        for j, i in enumerate(cand):
            if self._skip_after_as_of(i, final):
                continue
            if u[j] < p[j] + p_rand:
                self._churn(i, t, m0.replace(day=int(self.day[i])),
                            {k2: float(v[i]) for k2, v in drivers.items()}, u[j] >= p[j])
        self._monthly_seat_changes(m0, final, tenure, drivers)
        self._monthly_addons(m0, final, tenure, h)

    def _monthly_seat_changes(self, m0: dt.date, final: bool, tenure: np.ndarray,
                              drivers: dict[str, np.ndarray]) -> None:
        """Seat changes on monthly plans: end the core line, open a new one (same billing day)."""
        rng = self.rng
        mover = np.flatnonzero(self.active & self.monthly & (tenure >= 2) & (rng.random(self.n) < 0.04))
        i: Any  # a numpy integer (np.flatnonzero)
        for i in mover:
            if self._skip_after_as_of(i, final):
                continue
            g = 0.5 * (drivers["_util"][i] - 0.65) + 0.6 * drivers["_trend"][i] + rng.normal(0.18, 0.12)
            new = max(1.0, round(self.seats[i] * (1 + float(np.clip(g, -0.4, 0.6)))))
            if new == self.seats[i]:
                continue
            when = m0.replace(day=int(self.day[i]))
            core = [idx for idx in self.open[i] if self.lines["product"][idx] == CORE]
            for idx in core:
                self.lines["end"][idx] = when
                self.open[i].remove(idx)
            self.seats[i] = new
            self._line(i, CORE, when, None, new * self.price[i], new, 1)

    def _monthly_addons(self, m0: dt.date, final: bool, tenure: np.ndarray, h: np.ndarray) -> None:
        rng = self.rng
        adders = np.flatnonzero(self.active & self.monthly & (tenure >= 2)
                                & (rng.random(self.n) < ADDON_MONTHLY_P[0] * _sigmoid(2 * h)))
        i: Any  # a numpy integer (np.flatnonzero)
        for i in adders:
            if self._skip_after_as_of(i, final):
                continue
            self._line(i, rng.choice(ADDONS), m0.replace(day=int(self.day[i])), None,
                       self.seats[i] * self.price[i] * rng.uniform(0.1, 0.25), 1, 1)

    def _term_ends(self, t: int, final: bool, act: np.ndarray, h: np.ndarray, drivers: dict[str, np.ndarray],
                   z_drivers: np.ndarray, rand_u: np.ndarray) -> None:
        """Term ends: renew (new lines from the old end date) or churn."""
        due = np.flatnonzero(act & ~self.monthly & (self.term_end_t == t))
        if not due.size:
            return
        z = CHURN_INTERCEPT_TERM[self.seg[due]] + z_drivers[due]
        p = _sigmoid(z)
        i: Any  # a numpy integer (np.flatnonzero)
        for j, i in enumerate(due):
            term = self.term[i]
            assert term is not None  # a line with a term end in this month has its term set
            start, end, months = term
            if final and end > self.as_of:
                continue  # the renewal is still ahead of the as-of date
            p_rand = 1 - (1 - RANDOM_CHURN_YEARLY[self.seg[i]]) ** (months / 12)
            u = rand_u[i]
            if u < p[j] + p_rand:
                self._churn(i, t, end, {k2: float(v[i]) for k2, v in drivers.items()}, u >= p[j])
            else:
                self._renew(i, t, end, drivers["_util"][i], drivers["_trend"][i], h[i])

    def _mid_term_expansion(self, t: int, tenure: np.ndarray, h: np.ndarray) -> None:
        """Add-on products or extra seats co-terminating with the term."""
        rng = self.rng
        adders = np.flatnonzero(self.active & ~self.monthly & (self.term_end_t - t >= 2)
                                & (tenure >= 2)
                                & (rng.random(self.n) < ADDON_MONTHLY_P[self.seg] * 2 * _sigmoid(1.5 * h)))
        i: Any  # a numpy integer (np.flatnonzero)
        for i in adders:
            term = self.term[i]
            assert term is not None  # an active line on a term has its term set
            start, end, months = term
            when = _add_months(start, t - self._month_index(start))
            if when > self.as_of or when <= start:
                continue
            if rng.random() < 0.5:
                extra = max(1.0, round(self.seats[i] * rng.uniform(0.1, 0.3)))
                self._line(i, CORE, when, end, extra * self.price[i], extra, months)
                self.seats[i] += extra
            else:
                owned = {self.lines["product"][idx] for idx in self.open[i]}
                left = [a for a in ADDONS if a not in owned]
                if left:
                    self._line(i, rng.choice(left), when, end,
                               self.seats[i] * self.price[i] * rng.uniform(0.08, 0.2), 1, months)

    def _month_index(self, d: dt.date) -> int:
        """Month index of a date."""
        first = self.months[0]
        return (d.year - first.year) * 12 + d.month - first.month

    def _renew(self, i: int, t: int, end: dt.date, util: float, trend: float, h: float) -> None:
        """Renew every line of the term as a new line from the old end date (seats re-sized, price uplift)."""
        rng, s = self.rng, int(self.seg[i])
        g = SEAT_GROWTH_AT_RENEWAL[s] + 0.5 * (util - 0.7) + 0.3 * trend + rng.normal(0, 0.08)
        g = float(np.clip(g, -0.35, 0.6))
        new_seats = max(1.0, round(self.seats[i] * (1 + g)))
        self.price[i] *= 1 + PRICE_UPLIFT[s] * rng.uniform(0.5, 1.5)
        months = self._term_months(i)
        start = end
        if rng.random() < LATE_RENEWAL_SHARE:
            start = end + dt.timedelta(days=int(rng.integers(1, 21)))
            if start > self.as_of:
                start = end
        new_end = _add_months(start, months)
        addons = [idx for idx in self.open[i] if self.lines["product"][idx] != CORE]
        self.open[i] = []
        self.seats[i] = new_seats
        self._line(i, CORE, start, new_end, new_seats * self.price[i], new_seats, months)
        for idx in addons:
            if rng.random() < 0.88 + 0.05 * np.tanh(h):  # unhealthy accounts drop add-ons
                arr = self.lines["arr"][idx] * (1 + PRICE_UPLIFT[s])
                self._line(i, self.lines["product"][idx], start, new_end, arr, self.lines["qty"][idx], months)
        self.term[i] = (start, new_end, months)
        self.term_end_t[i] = self._month_index(start) + months


def _reason(contrib: dict[str, float], random_share: bool, shock_recent: bool, tenure_m: int,
            rng: np.random.Generator) -> tuple[str, str, str]:
    """Proximate and root reason of one churn: a root drawn in proportion to the drivers behind it."""
    if random_share:
        prox = rng.choice(("Acquired / M&A", "Price / budget cuts"), p=(0.55, 0.45))
        return str(prox), "Outside our control", "Left for reasons outside the relationship."
    if shock_recent and rng.random() < 0.75:
        return "Champion left", "Wrong contact / no exec sponsor", "Our champion left; no executive sponsor."
    weights = {
        "Poor onboarding": contrib["tenure_under_12m"] + 0.5 * contrib["tenure_12_24m"],
        "Low early adoption": contrib["low_utilisation"],
        "Product fit": contrib["usage_decline"] + contrib["detractor"] + contrib["ticket_load"]
        + contrib["high_priority"],
        "Wrong contact / no exec sponsor": 0.15,
    }
    keys = sorted(weights)
    w = np.array([max(weights[k], 0.0) for k in keys])
    root = keys[int(rng.choice(len(keys), p=w / w.sum()))]
    support = contrib["ticket_load"] + contrib["high_priority"] > contrib["usage_decline"]
    months = f"{tenure_m} month" + ("" if tenure_m == 1 else "s")
    if root == "Poor onboarding":
        prox = rng.choice(("No longer needed", "Missing features"), p=(0.6, 0.4))
        note = f"Left after {months}; onboarding never completed."
    elif root == "Low early adoption":
        prox = rng.choice(("No longer needed", "Price / budget cuts"), p=(0.55, 0.45))
        note = "Few of the paid seats in use; value not established."
    elif root == "Product fit":
        prox = rng.choice(("Missing features", "Moved to competitor"), p=(0.6, 0.4) if support else (0.4, 0.6))
        note = "Heavy support load before leaving." if support else "Usage fell in the months before leaving."
    else:
        prox = rng.choice(("Moved to competitor", "Price / budget cuts", "No longer needed"))
        note = "Contact changed roles; no executive sponsor engaged."
    return str(prox), root, note


def generate(seed: int = 7, n_accounts: int = 3000, as_of: dt.date | None = None) -> dict[str, pd.DataFrame]:
    """The sample company: one DataFrame per canonical kind (contracts empty: derived from line items).

    Same seed and as-of give identical frames. History covers the 48 months up to
    as_of (default: the last day of the last complete month).
    """
    as_of = as_of or default_as_of()
    rng = np.random.default_rng(seed)
    sim = _Sim(rng, n_accounts, as_of)
    sim.run()
    ids = np.array([f"A{i + 1:05d}" for i in range(sim.n)], dtype=object)
    months64 = np.array(sim.months, dtype="datetime64[D]")
    # the order of these calls is the order of their random draws: changing it changes the seeded sample
    subs = _subscriptions(sim, ids, as_of)
    usage = _usage(sim, rng, ids, months64)
    nps = _nps(sim, rng, ids, months64, as_of)
    tickets = _tickets(sim, rng, ids, months64, as_of)
    churn = _churn_reasons(sim, rng, ids, as_of)
    csms, csm_of = _csms(rng, sim, as_of)
    accounts = _accounts(sim, rng, ids, csm_of)
    contracts = pd.DataFrame({c: pd.Series(dtype="object") for c in KINDS["contracts"].names})
    from app.sources import fx

    return {"accounts": accounts, "subscriptions": subs, "contracts": contracts, "usage": usage, "nps": nps,
            "tickets": tickets, "churn_reasons": churn, "csms": csms,
            "fx_rates": fx.default_rates("USD")}  # the built-in placeholder rates (docs/sources.md)


def _subscriptions(sim: _Sim, ids: np.ndarray, as_of: dt.date) -> pd.DataFrame:
    """The simulated lines (lines that start after as-of never happen: the loop stops there), in USD."""
    L = sim.lines
    subs = pd.DataFrame({
        "subscription_id": [f"S{k + 1:06d}" for k in range(len(L["acct"]))],
        "account_id": ids[np.array(L["acct"], dtype=int)],
        "product": L["product"],
        "start_date": L["start"],
        "end_date": L["end"],
        "arr": np.array(L["arr"], dtype=float),
        "quantity": np.array(L["qty"], dtype=float),
        "billing_period_months": np.array(L["bp"], dtype=int),
    })
    subs = subs[subs["start_date"] <= as_of].reset_index(drop=True)
    subs["end_date"] = subs["end_date"].astype(object)
    return subs.assign(currency="USD", arr_original=subs["arr"])  # the sample company bills in USD


def _usage(sim: _Sim, rng: np.random.Generator, ids: np.ndarray, months64: np.ndarray) -> pd.DataFrame:
    """Active users and logins per active account-month in the window."""
    w0 = sim.window0
    ai, ti = np.nonzero(sim.was_active[:, w0:])
    ti = ti + w0
    au = sim.au[ai, ti].astype(float)
    logins = np.round(au * np.exp(np.log(18) + 0.25 * sim.health[ai, ti] + rng.normal(0, 0.1, ai.size)))
    usage = pd.DataFrame({
        "account_id": np.concatenate([ids[ai], ids[ai]]),
        "date": np.concatenate([months64[ti], months64[ti]]),
        "metric": np.repeat(np.array(["active_users", "logins"], dtype=object), ai.size),
        "value": np.concatenate([au, logins]),
    })
    order = np.lexsort((usage["metric"].to_numpy(), usage["date"].to_numpy(), usage["account_id"].to_numpy()))
    usage = usage.iloc[order].reset_index(drop=True)
    usage["date"] = usage["date"].astype("datetime64[s]")
    return usage


def _nps(sim: _Sim, rng: np.random.Generator, ids: np.ndarray, months64: np.ndarray,
         as_of: dt.date) -> pd.DataFrame:
    """The NPS answers in the window, each on a random day of its wave's month up to as-of."""
    w0 = sim.window0
    who = np.concatenate([w for w, t, s in sim.nps_rows if t >= w0] or [np.zeros(0, int)])
    tt = np.concatenate([np.full(w.size, t) for w, t, s in sim.nps_rows if t >= w0] or [np.zeros(0, int)])
    sc = np.concatenate([s for w, t, s in sim.nps_rows if t >= w0] or [np.zeros(0, int)])
    nday = rng.integers(0, 28, size=who.size)
    ndate = months64[tt] + nday.astype("timedelta64[D]")
    keep = ndate <= np.datetime64(as_of)
    return pd.DataFrame({"account_id": ids[who[keep]], "date": ndate[keep].astype("datetime64[s]"),
                         "score": sc[keep].astype(int)})


def _tickets(sim: _Sim, rng: np.random.Generator, ids: np.ndarray, months64: np.ndarray,
             as_of: dt.date) -> pd.DataFrame:
    """One row per simulated ticket in the window: priority, opening day, closed unless still open at as-of."""
    w0 = sim.window0
    ai, ti = np.nonzero(sim.tix[:, w0:] > 0)
    ti = ti + w0
    cnt = sim.tix[ai, ti].astype(int)
    hic = sim.hi[ai, ti].astype(int)
    ta = np.repeat(ai, cnt)
    tt = np.repeat(ti, cnt)
    rank = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    is_hi = rank < np.repeat(hic, cnt)
    u = rng.random(ta.size)
    priority = np.where(is_hi, np.where(u < 0.25, "urgent", "high"), np.where(u < 0.35, "low", "normal"))
    opened = months64[tt] + rng.integers(0, 28, size=ta.size).astype("timedelta64[D]")
    ok = opened <= np.datetime64(as_of)
    ta, opened, priority = ta[ok], opened[ok], priority[ok]
    mean_days = np.where(np.isin(priority, ("urgent", "high")), 1.5, 4.0)
    closed = opened + np.ceil(rng.exponential(mean_days)).astype(int).astype("timedelta64[D]")
    is_open = closed > np.datetime64(as_of)
    order = np.lexsort((ta, opened))
    return pd.DataFrame({
        "ticket_id": [f"T{k + 1:06d}" for k in range(ta.size)],
        "account_id": ids[ta[order]],
        "opened_at": opened[order].astype("datetime64[s]"),
        "priority": priority[order].astype(object),
        "status": np.where(is_open[order], "open", "closed").astype(object),
        "closed_at": pd.Series(closed[order].astype("datetime64[s]")).where(~is_open[order]),
    })


def _churn_reasons(sim: _Sim, rng: np.random.Generator, ids: np.ndarray, as_of: dt.date) -> pd.DataFrame:
    """One row per churn event (every line ended) up to as-of."""
    rows = []
    for i, when, t, contrib, random_share in sim.churns:
        if when > as_of:
            continue
        prox, root, note = _reason(contrib, random_share, 0 <= t - sim.shock_t[i] <= 9 and sim.shock_t[i] >= 0,
                                   t - int(sim.tenure0[i]), rng)
        rows.append((ids[i], when, prox, root, note))
    churn = pd.DataFrame(rows, columns=["account_id", "date", "proximate_reason", "root_reason", "notes"])
    return churn.sort_values(["date", "account_id"], kind="stable").reset_index(drop=True)


def _accounts(sim: _Sim, rng: np.random.Generator, ids: np.ndarray, csm_of: np.ndarray) -> pd.DataFrame:
    """The accounts: segment, region, industry, CSM, creation date (the first line's), size and plan tier."""
    n = sim.n
    created = [sim.months[int(t)].replace(day=int(d)) for t, d in zip(sim.created_t, _first_days(sim), strict=False)]
    tiers = np.where(sim.seg == 0, np.where(rng.random(n) < 0.7, "Starter", "Professional"),
                     np.where(sim.seg == 1, np.where(rng.random(n) < 0.8, "Professional", "Enterprise"),
                              "Enterprise"))
    employees = np.round(EMPLOYEES_MEDIAN[sim.seg] * np.exp(rng.normal(0, 0.6, n))).astype(int)
    return pd.DataFrame({
        "account_id": ids,
        "name": _names(rng, n),
        "segment": np.array(SEGMENTS, dtype=object)[sim.seg],
        "region": rng.choice(np.array(REGIONS, dtype=object), size=n, p=REGION_SHARE),
        "industry": rng.choice(np.array(INDUSTRIES, dtype=object), size=n, p=INDUSTRY_SHARE),
        "csm_id": csm_of,
        "created_at": created,
        "employees": employees,
        "plan_tier": tiers.astype(object),
    })


def _first_days(sim: _Sim) -> np.ndarray:
    """Day of month of each account's first line (reactivations may have changed sim.day)."""
    first = {}
    for a, s in zip(sim.lines["acct"], sim.lines["start"], strict=True):
        if a not in first:
            first[a] = s.day
    return np.array([first.get(i, 1) for i in range(sim.n)])


def _names(rng: np.random.Generator, n: int) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for a, b, c in zip(rng.integers(0, len(_ADJ), n), rng.integers(0, len(_NOUN), n),
                       rng.integers(0, len(_SUFFIX), n), strict=True):
        name = f"{_ADJ[a]} {_NOUN[b]} {_SUFFIX[c]}"
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def _csms(rng: np.random.Generator, sim: _Sim, as_of: dt.date) -> tuple[pd.DataFrame, np.ndarray]:
    """Roster sized to the active book per segment, a few leavers; accounts assigned with uneven books."""
    active_now = sim.active
    rows, csm_of = [], np.empty(sim.n, dtype=object)
    k = 0
    first = sim.months[sim.window0]
    span = (as_of - first).days
    for s, seg in enumerate(SEGMENTS):
        n_active = int((active_now & (sim.seg == s)).sum())
        n_csm = max(1, int(round(n_active / CSM_BOOK[s])))
        n_left = max(1, int(round(n_csm * 0.25)))
        ids_active, ids_all = [], []
        for j in range(n_csm + n_left):
            k += 1
            cid = f"C{k:03d}"
            leaver = j >= n_csm
            if leaver:
                start = first - dt.timedelta(days=int(rng.integers(0, 720)))
                end = first + dt.timedelta(days=int(rng.integers(60, span - 60)))
            else:
                # about a third hired inside the window as the base grew
                start = (first + dt.timedelta(days=int(rng.integers(0, span - 90))) if rng.random() < 0.35
                         else first - dt.timedelta(days=int(rng.integers(0, 1500))))
                end = None
            cost = round(float(rng.normal(CSM_COST[s], CSM_COST_SD[s])) / 500) * 500
            name = f"{_FIRST[rng.integers(len(_FIRST))]} {_LAST[rng.integers(len(_LAST))]}"
            rows.append((cid, name, seg, start, end, float(cost)))
            ids_all.append(cid)
            if not leaver:
                ids_active.append(cid)
        # uneven books: each CSM gets a share drawn around the mean
        share = rng.dirichlet(np.full(len(ids_active), 12.0))
        idx = np.flatnonzero(sim.seg == s)
        act = active_now[idx]
        csm_of[idx[act]] = rng.choice(np.array(ids_active, dtype=object), size=int(act.sum()), p=share)
        csm_of[idx[~act]] = rng.choice(np.array(ids_all, dtype=object), size=int((~act).sum()))
    csms = pd.DataFrame(rows, columns=["csm_id", "name", "segment", "start_date", "end_date", "fully_loaded_cost"])
    csms["end_date"] = csms["end_date"].astype(object)
    return csms, csm_of
