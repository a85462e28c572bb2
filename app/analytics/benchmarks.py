"""Public retention benchmarks and house renewal thresholds: load, validate, classify segments.

data/benchmarks.csv holds one row per published figure with its source, data year and
confidence; data/house_thresholds.csv holds the seed documents' renewal-rate thresholds
(house defaults, no public source). Values are fractions (0.93 = 93%).

How a company segment meets its peers:
- peer segment: the label itself when it names SMB / Mid-Market / Enterprise, else the
  band its ARR per account falls in (SMB < $12k, Mid-Market $12-50k, Enterprise > $50k);
- peer median (GRR, NRR): the SaaS Capital median of the ACV band holding the segment's
  ARR per account (their bands are by ACV), else the all-company median;
- target band: Bessemer's range for the peer segment;
- renewal rate: the house thresholds of the peer segment (below pass / pass / excellent).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from app.present import fmt

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS_CSV = ROOT / "data" / "benchmarks.csv"
THRESHOLDS_CSV = ROOT / "data" / "house_thresholds.csv"

CONFIDENCE = ("primary", "second-hand", "unverified", "house default")
STATISTICS = ("median", "p25", "p75", "target_low", "target_high")
PEER_SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
# ACV bands of the peer segments (Bessemer's split), in dollars of ARR per account.
SEGMENT_ACV = {"SMB": (0.0, 12_000.0), "Mid-Market": (12_000.0, 50_000.0), "Enterprise": (50_000.0, np.inf)}
_SEGMENT_WORDS = {"smb": "SMB", "small business": "SMB", "small": "SMB", "smallbusiness": "SMB",
                  "mid-market": "Mid-Market", "mid market": "Mid-Market", "midmarket": "Mid-Market",
                  "mm": "Mid-Market", "mid": "Mid-Market", "enterprise": "Enterprise", "ent": "Enterprise",
                  "large": "Enterprise", "strategic": "Enterprise"}
_BENCH_COLUMNS = ["metric", "band", "acv_min", "acv_max", "segment", "statistic", "value", "data_year", "source",
                  "confidence", "note"]
_THRESHOLD_COLUMNS = ["segment", "metric", "pass", "excellent", "source", "confidence", "note"]
AT_MEDIAN_TOLERANCE = 0.0005  # a rounding difference is 'at' the median, not above or below


class BenchmarkDataError(ValueError):
    """The benchmark file breaks a rule (missing source, unknown confidence, ...)."""


def load_benchmarks(path: Path | str = BENCHMARKS_CSV) -> pd.DataFrame:
    """The benchmark rows, validated: every row has a value, source, data year and a known confidence."""
    df = pd.read_csv(path, dtype={"note": "string"})
    missing = [c for c in _BENCH_COLUMNS if c not in df.columns]
    if missing:
        raise BenchmarkDataError(f"{path}: missing columns {missing}")
    for col in ("metric", "segment", "statistic", "value", "data_year", "source", "confidence"):
        bad = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if bad.any():
            raise BenchmarkDataError(f"{path}: row {int(bad.idxmax()) + 2} has no {col}")
    bad_conf = ~df["confidence"].isin(CONFIDENCE)
    if bad_conf.any():
        raise BenchmarkDataError(f"{path}: row {int(bad_conf.idxmax()) + 2}: confidence must be one of {CONFIDENCE}")
    bad_stat = ~df["statistic"].isin(STATISTICS)
    if bad_stat.any():
        raise BenchmarkDataError(f"{path}: row {int(bad_stat.idxmax()) + 2}: statistic must be one of {STATISTICS}")
    if ((df["value"] <= 0) | (df["value"] > 3)).any():
        raise BenchmarkDataError(f"{path}: values are fractions (0.93 = 93%)")
    df["data_year"] = df["data_year"].astype(int)
    df["note"] = df["note"].fillna("")
    return df[_BENCH_COLUMNS]


def load_thresholds(path: Path | str = THRESHOLDS_CSV) -> pd.DataFrame:
    """House renewal-rate thresholds by peer segment (pass < excellent, fractions)."""
    df = pd.read_csv(path, dtype={"note": "string"})
    missing = [c for c in _THRESHOLD_COLUMNS if c not in df.columns]
    if missing:
        raise BenchmarkDataError(f"{path}: missing columns {missing}")
    validate_thresholds(df)
    df["note"] = df["note"].fillna("")
    return df[_THRESHOLD_COLUMNS]


def validate_thresholds(df: pd.DataFrame) -> None:
    """Raise when a threshold is missing, outside 0-100% or pass >= excellent (also for user edits)."""
    for i, r in df.reset_index(drop=True).iterrows():
        p, e = r["pass"], r["excellent"]
        if pd.isna(p) or pd.isna(e) or not (0 < p < e <= 1):
            raise BenchmarkDataError(f"threshold row {i + 1} ({r['segment']}): need 0 < pass < excellent <= 100%")


def peer_segment(label: str, arr_per_account: float | None = None) -> str | None:
    """The benchmark segment of a company segment: by its name, else by its ARR per account."""
    key = str(label).strip().lower().replace("_", " ")
    if key in _SEGMENT_WORDS:
        return _SEGMENT_WORDS[key]
    if arr_per_account is not None and not pd.isna(arr_per_account):
        for seg, (lo, hi) in SEGMENT_ACV.items():
            if lo <= arr_per_account < hi:
                return seg
    return None


def _median_row(bench: pd.DataFrame, metric: str, acv: float | None) -> pd.Series | None:
    rows = bench[(bench["metric"] == metric) & (bench["statistic"] == "median")]
    if acv is not None and not pd.isna(acv):
        banded = rows[rows["segment"].isin(PEER_SEGMENTS)]
        lo, hi = banded["acv_min"].fillna(-np.inf), banded["acv_max"].fillna(np.inf)
        hit = banded[(lo <= acv) & (acv < hi)]
        if len(hit):
            return hit.iloc[0]
    overall = rows[rows["segment"] == "All"]
    return overall.iloc[0] if len(overall) else None


def _target(bench: pd.DataFrame, metric: str, seg: str | None, stat: str) -> float | None:
    rows = bench[(bench["metric"] == metric) & (bench["segment"] == seg) & (bench["statistic"] == stat)]
    return float(rows["value"].iloc[0]) if len(rows) else None


def classify(company: pd.DataFrame, bench: pd.DataFrame, thresholds: pd.DataFrame) -> pd.DataFrame:
    """One row per company segment and metric (grr, nrr, renewal_rate) with where it stands.

    company: segment, arr_per_account, grr, nrr, renewal_rate (metrics.segment_summary).
    Returns segment, metric, value, peer_segment, status, peer_median, band, target_low, target_high,
    target_status, pass, excellent, source, data_year, confidence.
    """
    out = []
    for _, c in company.iterrows():
        acv = c.get("arr_per_account")
        peer = peer_segment(c["segment"], acv)
        for metric in ("grr", "nrr"):
            v = c.get(metric)
            v = None if v is None or pd.isna(v) else float(v)
            med = _median_row(bench, metric, acv)
            lo, hi = _target(bench, metric, peer, "target_low"), _target(bench, metric, peer, "target_high")
            status = "no data"
            if v is not None and med is not None:
                diff = v - float(med["value"])
                status = ("at peer median" if abs(diff) <= AT_MEDIAN_TOLERANCE
                          else "above peer median" if diff > 0 else "below peer median")
            target_status = ""
            if v is not None and lo is not None:
                target_status = ("below target band" if v < lo else
                                 "above target band" if hi is not None and v > hi else "within target band")
            out.append({"segment": c["segment"], "metric": metric, "value": v, "peer_segment": peer,
                        "status": status,
                        "peer_median": float(med["value"]) if med is not None else None,
                        "band": med["band"] if med is not None else "",
                        "target_low": lo, "target_high": hi, "target_status": target_status,
                        "pass": None, "excellent": None,
                        "source": med["source"] if med is not None else "",
                        "data_year": int(med["data_year"]) if med is not None else None,
                        "confidence": med["confidence"] if med is not None else ""})
        v = c.get("renewal_rate")
        v = None if v is None or pd.isna(v) else float(v)
        th = thresholds[(thresholds["segment"] == peer) & (thresholds["metric"] == "renewal_rate")]
        p = float(th["pass"].iloc[0]) if len(th) else None
        e = float(th["excellent"].iloc[0]) if len(th) else None
        status = "no data" if v is None else "no threshold" if p is None else (
            "excellent" if e is not None and v >= e else "pass" if v >= p else "below pass")
        out.append({"segment": c["segment"], "metric": "renewal_rate", "value": v, "peer_segment": peer,
                    "status": status, "peer_median": None, "band": "", "target_low": None, "target_high": None,
                    "target_status": "", "pass": p, "excellent": e,
                    "source": th["source"].iloc[0] if len(th) else "", "data_year": None,
                    "confidence": th["confidence"].iloc[0] if len(th) else ""})
    return pd.DataFrame(out)


METRIC_LABELS = {"grr": "GRR", "nrr": "NRR", "renewal_rate": "Renewal rate"}


def scorecard(classified: pd.DataFrame) -> pd.DataFrame:
    """A readable table for the page: one row per segment, value and status per metric."""
    if classified.empty:
        return pd.DataFrame(columns=["Segment"])
    rows = []
    for seg, g in classified.groupby("segment", sort=False):
        row = {"Segment": seg, "Peer segment": g["peer_segment"].iloc[0] or "unmapped"}
        for _, r in g.iterrows():
            label = METRIC_LABELS[r["metric"]]
            row[label] = "n/a" if r["value"] is None or pd.isna(r["value"]) else fmt.pct(r['value'])
            if r["metric"] == "renewal_rate":
                ref = ("" if r["pass"] is None or pd.isna(r["pass"])
                       else f" (house default: pass {fmt.pct(r['pass'], 0)}, excellent {fmt.pct(r['excellent'], 0)})")
            else:
                ref = ("" if r["peer_median"] is None or pd.isna(r["peer_median"])
                       else f" (median {fmt.pct(r['peer_median'], 0)}, {r['band']})")
            row[f"{label} status"] = r["status"] + ref
        rows.append(row)
    return pd.DataFrame(rows)


def display_table(bench: pd.DataFrame) -> pd.DataFrame:
    """The benchmark rows as text for the page (percentages, source, year, confidence)."""
    out = bench.copy()
    out["value"] = [fmt.pct(v, 0) if m != "gross_dollar_churn" else f"{fmt.pct(v, 0)} churned"
                    for m, v in zip(out["metric"], out["value"], strict=True)]
    out["metric"] = out["metric"].map({**METRIC_LABELS, "gross_dollar_churn": "Gross dollar churn"})
    out["statistic"] = out["statistic"].str.replace("_", " ")
    return out[["metric", "band", "segment", "statistic", "value", "data_year", "source", "confidence", "note"]]
