"""A renewal window simulated with shared risk: streams, accounts, and intervals that admit a bad quarter.

Pure numpy / pandas (no store): renewals.py feeds it the scored renewals of a window.

Model (docs/renewal_model.md, "Intervals"): each renewal j of a stream s happens with
probability expit(logit(p_j) + z), where z ~ N(0, sigma^2) is one shock shared by every
renewal of the window (a bad quarter, a price change moves churn together). A stream
still pays after renewal j when it renewed at every one of its renewals up to j. An
account still pays at the window's end when one of its streams does, or when part of
its ARR is not due in the window at all. sigma = 0 is independent renewals; sigma is
fitted on backfilled windows (renewals.calibrate).

Simulation: a grid of K shock values (equal-probability quantiles of N(0, sigma^2)); each
simulation picks one and draws one uniform U per stream, the stream surviving through
renewal j while U < its cumulative survival at j. One uniform per stream keeps a
stream's renewals consistent (a stream that churned in November is not renewed in
December).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit, logit

SHOCK_GRID = 41  # shock values per simulation grid: quantile midpoints of N(0, sigma^2)
P_CLIP = 1e-6  # probabilities are clipped to [P_CLIP, 1 - P_CLIP] before the logit


def shock_grid(sigma: float, k: int = SHOCK_GRID) -> np.ndarray:
    """k equal-probability values of N(0, sigma^2) (the midpoints of k quantile bins); [0.0] when sigma is 0."""
    if sigma <= 0:
        return np.zeros(1)
    nd = NormalDist(0.0, sigma)
    return np.array([nd.inv_cdf((i + 0.5) / k) for i in range(k)])


@dataclass(frozen=True)
class Paths:
    """A window's renewals as streams: renewal j belongs to stream[j]; rows sorted by stream, then date."""

    stream: np.ndarray  # int stream index per renewal, non-decreasing
    lp: np.ndarray  # logit of each renewal's P(renew)
    arr: np.ndarray  # ARR due at each renewal
    n_streams: int

    @classmethod
    def build(cls, stream: Sequence[int], p: Sequence[float], arr: Sequence[float], n_streams: int) -> Paths:
        s = np.asarray(stream, dtype=np.int64)
        order = np.lexsort((np.arange(len(s)), s))  # stable: callers pass renewals in date order
        if not (order == np.arange(len(s))).all():
            raise ValueError("renewals must be sorted by stream, then date")
        pp = np.clip(np.asarray(p, dtype=float), P_CLIP, 1 - P_CLIP)
        return cls(s, logit(pp), np.asarray(arr, dtype=float), int(n_streams))

    def centred(self, z: np.ndarray) -> Paths:
        """The same paths with each renewal's logit shifted so that its mean probability over the shock grid
        equals the model's P (a mean-preserving shock: it widens the band, not the expectation)."""
        z = np.asarray(z, dtype=float)
        if len(z) == 1 and z[0] == 0:
            return self
        target = expit(self.lp)
        c = np.zeros_like(self.lp)
        for _ in range(6):  # Newton steps on mean_k expit(lp + c + z_k) = p
            s = expit(self.lp[None, :] + c[None, :] + z[:, None])
            c -= (s.mean(axis=0) - target) / np.maximum((s * (1 - s)).mean(axis=0), 1e-12)
        return Paths(self.stream, self.lp + c, self.arr, self.n_streams)

    def cumulative(self, z: np.ndarray) -> np.ndarray:
        """len(z) x renewals: P(the stream renewed at every renewal up to and including this one | z)."""
        log_s = np.log(expit(self.lp[None, :] + np.asarray(z, dtype=float)[:, None]))
        c = np.cumsum(log_s, axis=1)
        if len(self.stream):
            first = np.r_[0, np.flatnonzero(np.diff(self.stream)) + 1]  # first renewal of each stream
            before = np.where(first > 0, c[:, np.maximum(first - 1, 0)], 0.0)  # sums of earlier streams
            c = c - np.repeat(before, np.diff(np.r_[first, len(self.stream)]), axis=1)
        return np.exp(c)

    def through(self, z: np.ndarray) -> np.ndarray:
        """len(z) x streams: P(the stream renewed at every renewal in the window | z)."""
        c = self.cumulative(z)
        out = np.ones((len(z), self.n_streams))
        if len(self.stream):
            last = np.r_[np.flatnonzero(np.diff(self.stream)), len(self.stream) - 1]
            out[:, self.stream[last]] = c[:, last]
        return out


def p_retained(through: np.ndarray, account_of_stream: np.ndarray, n_accounts: int,
               keeps_paying: np.ndarray) -> np.ndarray:
    """P(the account still pays at the window's end) for each row of through (len(z) x streams).

    1 - product over its streams of (1 - P(stream renews through the window)); 1 when part of the
    account's ARR is not due in the window (keeps_paying).
    """
    log_fail = np.log(np.clip(1 - through, 1e-300, 1.0))
    m = sparse.csr_matrix((np.ones(len(account_of_stream)), (account_of_stream, np.arange(len(account_of_stream)))),
                          shape=(n_accounts, len(account_of_stream)))
    fail = np.exp((m @ log_fail.T).T)
    return np.where(np.asarray(keeps_paying, bool)[None, :], 1.0, 1 - fail)


@dataclass(frozen=True)
class Simulated:
    """n_sims draws of a window: renewed ARR (stream level), lost accounts, and per-group renewed ARR."""

    renewed_arr: np.ndarray  # n_sims: sum over streams renewed through the window of their ARR due
    lost_accounts: np.ndarray  # n_sims: accounts paying nothing at the window's end
    lost_arr: np.ndarray  # n_sims: ARR due of the streams lost
    groups: list[np.ndarray]  # per stream grouping: n_sims x groups renewed ARR
    renewal_groups: list[np.ndarray]  # per renewal grouping (e.g. month): n_sims x groups renewed ARR


def simulate(paths: Paths, stream_arr: np.ndarray, account_of_stream: np.ndarray, keeps_paying: np.ndarray,
             sigma: float = 0.0, stream_groupings: Sequence[np.ndarray] = (),
             renewal_groupings: Sequence[np.ndarray] = (), n_sims: int = 2000, seed: int = 0) -> Simulated:
    """Draw the window n_sims times (see the module doc); memory stays near 32 MB per chunk."""
    rng = np.random.default_rng(seed)
    z = shock_grid(sigma)
    paths = paths.centred(z)
    through = paths.through(z)  # K x streams
    cum = paths.cumulative(z) if renewal_groupings else None
    n_s, n_r = paths.n_streams, len(paths.stream)
    n_acc = int(account_of_stream.max()) + 1 if n_s else 0
    keeps = np.asarray(keeps_paying, bool)
    acc_m = sparse.csr_matrix((np.ones(n_s), (account_of_stream, np.arange(n_s))), shape=(n_acc, n_s))
    n_streams_of = np.asarray(acc_m.sum(axis=1)).ravel()

    def weights(codes: np.ndarray, w: np.ndarray, n: int) -> tuple[sparse.csr_matrix, int]:
        g = int(codes.max()) + 1 if n else 0
        return sparse.csr_matrix((w, (codes, np.arange(n))), shape=(g, n)), g

    sg = [weights(np.asarray(c, np.int64), stream_arr, n_s) for c in stream_groupings]
    rg = [weights(np.asarray(c, np.int64), paths.arr, n_r) for c in renewal_groupings]
    renewed = np.zeros(n_sims)
    lost_acc = np.zeros(n_sims)
    lost_arr = np.zeros(n_sims)
    groups = [np.zeros((n_sims, g)) for _, g in sg]
    rgroups = [np.zeros((n_sims, g)) for _, g in rg]
    chunk = max(1, 4_000_000 // max(n_s, n_r if rg else 0, 1))
    for s0 in range(0, n_sims if n_s else 0, chunk):
        k = min(chunk, n_sims - s0)
        zi = rng.integers(len(z), size=k)
        u = rng.random((k, n_s))
        alive = u < through[zi]  # k x streams
        a = alive.astype(float)
        renewed[s0:s0 + k] = a @ stream_arr
        lost_arr[s0:s0 + k] = (1 - a) @ stream_arr
        failed = (acc_m @ (1 - a).T).T  # k x accounts: streams lost
        lost_acc[s0:s0 + k] = ((failed >= n_streams_of[None, :] - 1e-9) & ~keeps[None, :]).sum(axis=1)
        for (w, _), out in zip(sg, groups, strict=False):
            out[s0:s0 + k] = (w @ a.T).T
        if rg:
            assert cum is not None  # rg is non-empty only when renewal_groupings are given
            alive_r = u[:, paths.stream] < cum[zi]  # k x renewals: renewed at this renewal and all before
            for (w, _), out in zip(rg, rgroups, strict=False):
                out[s0:s0 + k] = (w @ alive_r.astype(float).T).T
    return Simulated(renewed, lost_acc, lost_arr, groups, rgroups)


def pctl(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else 0.0


def fit_sigma(predicted: Sequence[float], realised: Sequence[float], var_independent: Sequence[float],
              slope: Sequence[float]) -> float:
    """Shared-shock sd from backfilled windows, by moments.

    For window w: realised lost accounts L_w, predicted E_w, the variance under independent
    renewals V_w, and dE_w/dz (slope). With a shared shock, Var(L - E) ~ V + slope^2 sigma^2, so
    sigma^2 = mean((L - E)^2 - V) / mean(slope^2), floored at 0. A forecast that was biased on
    past windows gets a wider band (the bias enters (L - E)^2): the band admits its own misses.
    """
    e = np.asarray(realised, float) - np.asarray(predicted, float)
    d2 = float(np.mean(np.square(np.asarray(slope, float)))) if len(e) else 0.0
    if not len(e) or d2 <= 0:
        return 0.0
    s2 = float(np.mean(np.square(e) - np.asarray(var_independent, float))) / d2
    return float(np.sqrt(max(s2, 0.0)))


def reliability(p: Sequence[float], retained: Sequence[bool], bins: int = 5) -> pd.DataFrame:
    """Reliability table of P(retained) by quintile: bin, n, mean predicted, realised rate."""
    df = pd.DataFrame({"p": np.asarray(p, float), "y": np.asarray(retained, float)})
    if df.empty:
        return pd.DataFrame(columns=["quintile", "accounts", "predicted", "realised"])
    df["quintile"] = pd.qcut(df["p"].rank(method="first"), min(bins, len(df)), labels=False) + 1
    g = df.groupby("quintile")
    return pd.DataFrame({"accounts": g.size(), "predicted": g["p"].mean(), "realised": g["y"].mean()}).reset_index()
