"""Health score configurations: the learned scorecard and house configs, their bins, points and versions.

A configuration gives every factor a set of bins (numeric edges, or categories; plus one bin for
"unknown") and a number of points per bin. An account's score at a date is the sum of the points
of the bins its factor values fall in, so the points add up exactly to the score. Points are
whole hundredths, never negative, and each factor's largest points summed over the factors is at
most 100, so the score stays in 0-100.

- learned (the default): an L2-regularised logistic regression of "churned at a renewal in the
  next 90 days" on the one-hot bins; a bin's points = k x (the factor's highest churn logit
  contribution - the bin's), with k = 100 / (sum over factors of the contribution's range),
  floored to hundredths. So the score is a decreasing affine map of the model's churn logit.
- house: points = the factor's weight (0-100, weights add up to 100) x the bin's fraction
  (0 = worst bin, 1 = best, from the factor's direction), bands set by hand.

Every config saved is a new version (health_configs); snapshots record the version they used.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app.data import store
from app.health.factors import Inputs

LEARNED = "learned"
HOUSE = "house"
ACTIVE_KEY = "health_config_active"  # meta key: the version in use ('' or absent: the learned one)
# Band thresholds of the learned config: the lowest RED_SHARE of training units' scores are red,
# the top GREEN_SHARE green.
RED_SHARE = 0.2
GREEN_SHARE = 0.5
L2_C = 0.1  # inverse regularisation strength of the learned scorecard
MAX_NAME = 60

# name suffix / name -> (label, fixed edges or None for quantiles, direction: +1 higher is better, -1 lower,
# 0 unknown), and how a bin reads.
FIXED: dict[str, tuple[list[float] | None, int]] = {
    "trend": ([-0.3, -0.1, 0.1, 0.3], +1),
    "level": (None, +1),
    "utilisation": ([0.3, 0.5, 0.7, 0.9], +1),
    "nps": ([7, 9], +1),
    "tickets": ([1, 3, 6, 11], -1),
    "high_tickets": ([1, 2, 4], -1),
    "tenure": ([3, 6, 12, 24], +1),
    "contraction": ([-0.2, -0.005, 0.005], +1),
}
# The fraction of a house weight the "unknown" bin earns, by factor kind.
UNKNOWN_FRACTION = {"nps": 0.3, "utilisation": 0.5, "level": 0.0, "trend": 0.5, "contraction": 0.5}


@dataclass(frozen=True)
class Factor:
    name: str  # safe identifier: points_<name> in the CLI
    label: str
    kind: str  # level, trend, utilisation, nps, tickets, high_tickets, tenure, contraction, x_num, x_cat
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    points: tuple[float, ...] = ()  # one per bin: numeric len(edges)+1 then unknown; cat: each, other, unknown
    direction: int = 0

    @property
    def n_bins(self) -> int:
        return (len(self.categories) + 2) if self.kind == "x_cat" else (len(self.edges) + 2)

    def bins(self, v: pd.Series | np.ndarray) -> np.ndarray:
        """Bin index of each value (the last bin = unknown)."""
        if self.kind == "x_cat":
            codes, uniques = pd.factorize(pd.Series(v).reset_index(drop=True), use_na_sentinel=True)
            # each distinct value once: its category's index, or "other" when not listed
            of_unique = pd.Index(list(self.categories), dtype=object).get_indexer(pd.Index(uniques).astype(object))
            of_unique = np.append(np.where(of_unique < 0, len(self.categories), of_unique),
                                  len(self.categories) + 1)  # codes == -1 (missing) -> unknown
            return of_unique[codes]
        x = v.to_numpy(dtype=float, na_value=np.nan) if isinstance(v, pd.Series) else np.asarray(v, dtype=float)
        idx = np.searchsorted(np.asarray(self.edges, float), x, side="right")
        return np.where(np.isnan(x), len(self.edges) + 1, idx)

    def bin_label(self, b: int) -> str:
        if self.kind == "x_cat":
            return (self.categories[b] if b < len(self.categories)
                    else ("other" if b == len(self.categories) else "unknown"))
        if b == len(self.edges) + 1:
            return "unknown"
        f = _edge_text(self.kind)
        lo = self.edges[b - 1] if b > 0 else None
        hi = self.edges[b] if b < len(self.edges) else None
        if lo is None and hi is None:  # a factor with one bin (too little data to split it)
            return "any value"
        if lo is None:
            return f"below {f(hi)}"
        if hi is None:
            return f"{f(lo)} or more"
        return f"{f(lo)} to under {f(hi)}"


def _edge_text(kind: str):
    if kind in ("trend", "contraction", "utilisation"):
        return lambda x: f"{x * 100:+.1f}%" if kind != "utilisation" else f"{x * 100:.0f}%"
    if kind == "level":
        return lambda x: f"{math.expm1(x):,.0f}"
    return lambda x: f"{x:,.4g}"


@dataclass(frozen=True)
class Config:
    """A scoring configuration as stored: version None until saved."""

    kind: str
    name: str
    factors: tuple[Factor, ...]
    red_below: float
    green_from: float
    version: int | None = None
    data_version: str = ""
    fit: Mapping[str, float] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.factors]

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "name": self.name, "red_below": self.red_below,
                           "green_from": self.green_from, "fit": dict(self.fit),
                           "factors": [{"name": f.name, "label": f.label, "kind": f.kind, "edges": list(f.edges),
                                        "categories": list(f.categories), "points": list(f.points),
                                        "direction": f.direction} for f in self.factors]})

    @staticmethod
    def from_json(text: str, version: int | None = None, data_version: str = "") -> Config:
        d = json.loads(text)
        fs = tuple(Factor(name=f["name"], label=f["label"], kind=f["kind"], edges=tuple(f["edges"]),
                          categories=tuple(f["categories"]), points=tuple(f["points"]),
                          direction=int(f.get("direction", 0))) for f in d["factors"])
        return Config(kind=d["kind"], name=d["name"], factors=fs, red_below=float(d["red_below"]),
                      green_from=float(d["green_from"]), version=version, data_version=data_version,
                      fit=d.get("fit", {}))


def band(score: np.ndarray | pd.Series, red_below: float, green_from: float) -> np.ndarray:
    """red below red_below, green from green_from up, yellow between."""
    s = np.asarray(score, float)
    return np.where(s < red_below, "red", np.where(s >= green_from, "green", "yellow"))


def points_matrix(cfg: Config, X: pd.DataFrame) -> np.ndarray:
    """Points of each unit (row) and factor (column), in hundredths; a missing factor column counts as unknown."""
    out = np.zeros((len(X), len(cfg.factors)))
    for j, f in enumerate(cfg.factors):
        col = X[f.name] if f.name in X else pd.Series(np.nan, index=X.index)
        out[:, j] = np.asarray(f.points, float)[f.bins(col.to_numpy() if f.kind != "x_cat" else col)]
    return out


def score(cfg: Config, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(score, points): score = the sum of the factor points, rounded to the hundredth they are in."""
    P = points_matrix(cfg, X)
    return np.round(P.sum(axis=1), 2), P


def log1p_edge(e: float) -> float:
    """The smallest v >= 0 with numpy's log1p(v) >= e: "level >= e" is "v >= log1p_edge(e)" for a level log1p(v)."""
    if not e > 0:
        return 0.0 if e <= 0 else math.inf  # every v >= 0 has log1p(v) >= 0 >= e; NaN: never
    v = float(np.expm1(e))
    while v > 0 and np.log1p(v) >= e:  # step down while still at or above the edge ...
        v = float(np.nextafter(v, -math.inf))
    while not np.log1p(v) >= e:  # ... then up to the first value at or above it
        v = float(np.nextafter(v, math.inf))
    return v


def points_sql(cfg: Config, values: Mapping[str, str], params: dict[str, object]) -> list[str]:
    """points_matrix() in SQL: one expression per factor over the factor values (factors.value_sql).

    Same bins as Factor.bins: an edge value falls in the upper bin, NULL is unknown, a category not
    listed is "other"; a level is compared on its own scale (factors.value_sql). Categories are bound
    parameters added to params; numbers are exact DOUBLE literals.
    """
    from app.health.factors import sql_double

    out = []
    for j, f in enumerate(cfg.factors):
        pts = [sql_double(p) for p in f.points]
        v = values.get(f.name)
        if v is None:  # a factor the data no longer has: unknown
            out.append(pts[-1])
            continue
        if f.kind == "x_cat":
            whens = []
            for i, c in enumerate(f.categories):
                params[f"cat{j}_{i}"] = str(c)
                whens.append(f"WHEN ({v}) = $cat{j}_{i} THEN {pts[i]}")
            out.append(f"CASE WHEN ({v}) IS NULL THEN {pts[-1]} {' '.join(whens)} ELSE {pts[len(f.categories)]} END")
            continue
        edges = [log1p_edge(e) for e in f.edges] if f.kind == "level" else [float(e) for e in f.edges]
        whens = [f"WHEN ({v}) < {sql_double(e)} THEN {pts[i]}" for i, e in enumerate(edges)]
        out.append(f"CASE WHEN ({v}) IS NULL THEN {pts[-1]} {' '.join(whens)} ELSE {pts[len(edges)]} END")
    return out


def score_sql(points: Sequence[str]) -> str:
    """score() in SQL: the sum of the points, rounded to the hundredth they are in."""
    return f"round({' + '.join(points) or '0.0'}, 2)"


def band_sql(cfg: Config, score: str) -> str:
    """band() in SQL."""
    from app.health.factors import sql_double

    return (f"CASE WHEN {score} < {sql_double(cfg.red_below)} THEN 'red' "
            f"WHEN {score} >= {sql_double(cfg.green_from)} THEN 'green' ELSE 'yellow' END")


# ----------------------------------------------------------------- the factor list


def factor_list(inp: Inputs) -> list[tuple[str, str, str]]:
    """(name, label, kind) of every factor the data allows, in display order."""
    out = []
    for m, k in zip(inp.usage_metrics, inp.metric_keys, strict=False):
        words = m.replace("_", " ")
        out.append((f"{k}_level", f"Usage: {words} (level)", "level"))
        out.append((f"{k}_trend", f"Usage: {words} (trend)", "trend"))
    if inp.active_metric is not None:
        out.append(("utilisation", "Seat utilisation", "utilisation"))
    out += [("nps", "NPS", "nps"), ("tickets", "Support tickets", "tickets"),
            ("high_tickets", "High/urgent tickets", "high_tickets"), ("tenure", "Tenure", "tenure"),
            ("contraction", "Past contraction (ARR over 12 months)", "contraction")]
    out += [(f"x_{c}", f"Account: {c.replace('_', ' ')}", "x_num") for c in inp.extra_numeric]
    out += [(f"x_{c}", f"Account: {c.replace('_', ' ')}", "x_cat") for c, _ in inp.extra_categories]
    return out


def _quantile_edges(v: pd.Series, n: int = 5) -> tuple[float, ...]:
    x = pd.to_numeric(v, errors="coerce").dropna().to_numpy(float)
    if len(x) == 0:
        return ()
    qs = np.quantile(x, np.linspace(0, 1, n + 1)[1:-1])
    return tuple(float(e) for e in np.unique(np.round(qs, 3)))


def bins_for(inp: Inputs, X: pd.DataFrame) -> list[Factor]:
    """Factors with their bins (points empty): fixed edges, or quintiles of X for levels and numeric columns."""
    cats = dict(inp.extra_categories)
    out = []
    for name, label, kind in factor_list(inp):
        if kind == "x_cat":
            out.append(Factor(name, label, kind, categories=tuple(cats[name[2:]])))
        elif kind in ("level", "x_num"):
            out.append(Factor(name, label, kind, edges=_quantile_edges(X[name]) if name in X else (),
                              direction=+1 if kind == "level" else 0))
        else:
            edges, direction = FIXED[kind]
            assert edges is not None  # only "level" has no fixed edges (handled above)
            out.append(Factor(name, label, kind, edges=tuple(edges), direction=direction))
    return out


# ----------------------------------------------------------------- learned


def one_hot(factors: Sequence[Factor], X: pd.DataFrame) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Indicator matrix of every factor bin, and (factor, bin) per column."""
    cols, keys = [], []
    for j, f in enumerate(factors):
        col = X[f.name] if f.name in X else pd.Series(np.nan, index=X.index)
        b = f.bins(col.to_numpy() if f.kind != "x_cat" else col)
        for k in range(f.n_bins):
            cols.append((b == k).astype(float))
            keys.append((j, k))
    return np.column_stack(cols) if cols else np.zeros((len(X), 0)), keys


def fit_learned(inp: Inputs, X: pd.DataFrame, y: np.ndarray, name: str = "Learned from renewals",
                data_version: str = "") -> Config:
    """The learned scorecard from units' factor values X and churn labels y (1 = churned)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y, int)
    factors = bins_for(inp, X)
    M, keys = one_hot(factors, X)
    if len(np.unique(y)) < 2:
        raise ValueError("the learned health score needs both renewals and churns in its training window "
                         f"({len(y):,} renewals, {int(y.sum()):,} churned)")
    lr = LogisticRegression(C=L2_C, max_iter=2000).fit(M, y)
    w = np.zeros((len(factors), max(f.n_bins for f in factors)))
    seen = np.zeros_like(w, dtype=bool)
    for (j, b), c, col in zip(keys, lr.coef_[0], M.T, strict=False):
        w[j, b] = c
        seen[j, b] = col.any()
    # An empty bin has no evidence: it gets the factor's mean over the bins seen (weighted by units).
    ranges = []
    contrib = []
    for j, f in enumerate(factors):
        wj = w[j, :f.n_bins].copy()
        sj = seen[j, :f.n_bins]
        if sj.any():
            wj[~sj] = wj[sj].mean()
        contrib.append(wj)
        ranges.append(float(wj.max() - wj.min()))
    total = sum(ranges)
    k = 100.0 / total if total > 0 else 0.0
    fitted = []
    for f, wj in zip(factors, contrib, strict=False):
        pts = np.floor(k * (wj.max() - wj) * 100 + 1e-9) / 100  # whole hundredths, never above the range
        fitted.append(Factor(f.name, f.label, f.kind, f.edges, f.categories, tuple(float(p) for p in pts),
                             f.direction))
    cfg = Config(LEARNED, name, tuple(fitted), 0.0, 100.0, data_version=data_version)
    s, _ = score(cfg, X)
    # whole points, 1 <= red < green <= 100 (a band must be possible to leave and to reach)
    red = float(min(99.0, max(1.0, np.floor(np.quantile(s, RED_SHARE)))))
    green = float(min(100.0, max(red + 1, np.ceil(np.quantile(s, 1 - GREEN_SHARE)))))
    from sklearn.metrics import roc_auc_score

    fit = {"n_units": float(len(y)), "churn_rate": float(y.mean()), "C": L2_C, "points_per_logit": k,
           "train_auc": float(roc_auc_score(y, -s))}
    return Config(LEARNED, name, tuple(fitted), red, green, data_version=data_version, fit=fit)


# ----------------------------------------------------------------- house


def house_fraction(f: Factor) -> np.ndarray:
    """Fraction of the weight each bin earns: 0 for the worst, 1 for the best, linear between."""
    if f.kind == "x_cat":
        return np.full(f.n_bins, 0.5)
    n = len(f.edges) + 1
    ramp = np.linspace(0, 1, n) if n > 1 else np.ones(1)
    if f.direction < 0:
        ramp = ramp[::-1]
    elif f.direction == 0:
        ramp = np.full(n, 0.5)
    return np.append(ramp, UNKNOWN_FRACTION.get(f.kind, 0.5))


def check_house(weights: Mapping[str, float], red_below: float, green_from: float, name: str,
                factor_names: Sequence[str]) -> list[str]:
    """Problems with a house config (empty when it may be saved): bounds on every number."""
    problems = []
    if not name or not name.strip():
        problems.append("Give the configuration a name.")
    elif len(name) > MAX_NAME:
        problems.append(f"The name is {len(name)} characters long; at most {MAX_NAME}.")
    unknown = sorted(set(weights) - set(factor_names))
    if unknown:
        problems.append(f"Unknown factors: {', '.join(unknown)}.")
    for k, v in weights.items():
        if v is None or not math.isfinite(float(v)) or not 0 <= float(v) <= 100:
            problems.append(f"Weight of {k} must be between 0 and 100 (got {v}).")
    total = sum(float(v) for v in weights.values() if v is not None and math.isfinite(float(v)))
    if abs(total - 100) > 0.005:
        problems.append(f"The weights add up to {total:g}; they must add up to 100 (the best possible score).")
    if not (0 < red_below < green_from <= 100):
        problems.append(f"Bands need 0 < red below ({red_below:g}) < green from ({green_from:g}) <= 100.")
    return problems


def house(base: Config, weights: Mapping[str, float], red_below: float, green_from: float, name: str) -> Config:
    """A house config on base's bins: points = weight x bin fraction (floored to hundredths)."""
    problems = check_house(weights, red_below, green_from, name, base.names)
    if problems:
        raise ValueError(" ".join(problems))
    fs = []
    for f in base.factors:
        wgt = float(weights.get(f.name, 0.0))
        pts = np.floor(wgt * house_fraction(f) * 100 + 1e-9) / 100
        fs.append(Factor(f.name, f.label, f.kind, f.edges, f.categories, tuple(float(p) for p in pts), f.direction))
    return Config(HOUSE, name.strip(), tuple(fs), float(red_below), float(green_from),
                  data_version=base.data_version)


def default_house_weights(factor_names: Sequence[str]) -> dict[str, float]:
    """A starting point for a house config: equal weights over the non-account factors, adding up to 100."""
    core = [n for n in factor_names if not n.startswith("x_")] or list(factor_names)
    each = math.floor(10000 / len(core)) / 100
    w = {n: (each if n in core else 0.0) for n in factor_names}
    w[core[0]] = round(100 - each * (len(core) - 1), 2)
    return w


def weights_of(cfg: Config) -> dict[str, float]:
    """Each factor's largest points: its weight in the score."""
    return {f.name: float(max(f.points)) if f.points else 0.0 for f in cfg.factors}


# ----------------------------------------------------------------- versions in the store


def save(cur: store.Cursor, cfg: Config) -> Config:
    """Record cfg as a new version (never overwrites one) and return it with its version number."""
    with store.transaction(cur):
        v = store.query_rows(cur, "SELECT coalesce(max(version), 0) + 1 FROM health_configs")[0][0]
        cur.execute("INSERT INTO health_configs VALUES (?, ?, ?, ?, ?, ?)",
                    [v, cfg.name, cfg.kind, dt.datetime.now().replace(microsecond=0), cfg.data_version,
                     cfg.to_json()])
    return load(cur, int(v))


def load(cur: store.Cursor, version: int) -> Config:
    rows = store.query_rows(cur, "SELECT spec_json, data_version FROM health_configs WHERE version = ?", [version])
    if not rows:
        raise ValueError(f"no health score configuration version {version}")
    return Config.from_json(rows[0][0], version=version, data_version=rows[0][1] or "")


def versions(cur: store.Cursor) -> pd.DataFrame:
    """Every saved config: version, name, kind, created_at, data_version (newest first)."""
    return store.query_df(cur, "SELECT version, name, kind, created_at, data_version FROM health_configs "
                               "ORDER BY version DESC")


def active_version(cur: store.Cursor) -> int | None:
    """The version chosen on the page (None: the learned config of the current data)."""
    v = store.get_meta(cur, ACTIVE_KEY)
    return int(v) if v else None


def set_active(cur: store.Cursor, version: int | None) -> None:
    if version is not None:
        load(cur, version)  # must exist
    with store.transaction(cur):
        store.set_meta(cur, ACTIVE_KEY, str(version) if version is not None else None)


def learned_for(cur: store.Cursor, data_version: str) -> Config | None:
    """The learned config fitted on this data version, if saved."""
    rows = store.query_rows(cur, "SELECT max(version) FROM health_configs WHERE kind = ? AND data_version = ?",
                            [LEARNED, data_version])
    return load(cur, int(rows[0][0])) if rows and rows[0][0] is not None else None
