"""Public figures for CS spend as % of ARR (data/spend_benchmarks.csv), with source, year, confidence."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SPEND_FILE = Path(__file__).resolve().parent.parent / "data" / "spend_benchmarks.csv"


@dataclass(frozen=True)
class SpendBenchmark:
    label: str
    pct_arr: float  # percent of ARR
    role: str  # median | band_low | band_high | reference
    source: str
    year: str  # data year as published; "n.d." when the source gives none
    confidence: str  # primary | second-hand | opinion | house default

    @property
    def cite(self) -> str:
        return f"{self.source}, {self.year}, {self.confidence}"


@dataclass(frozen=True)
class Band:
    low: SpendBenchmark
    high: SpendBenchmark
    median: SpendBenchmark

    def describe(self, pct: float) -> str:
        """Where pct sits against the band, in words, with sources and years."""
        if pct < self.low.pct_arr:
            where = "below the public band"
        elif pct > self.high.pct_arr:
            where = "above the public band"
        else:
            where = "within the public band"
        return (f"{where} of {self.low.pct_arr:g}-{self.high.pct_arr:g}% ({self.low.label}: {self.low.cite}; "
                f"{self.high.label}: {self.high.cite}); median {self.median.pct_arr:g}% ({self.median.cite})")


@lru_cache(maxsize=4)
def load_spend_benchmarks(path: str | None = None) -> tuple[SpendBenchmark, ...]:
    with open(path or SPEND_FILE, newline="", encoding="utf-8") as fh:
        return tuple(SpendBenchmark(r["label"], float(r["pct_arr"]), r["role"], r["source"], r["year"],
                                    r["confidence"]) for r in csv.DictReader(fh))


def spend_band(rows: tuple[SpendBenchmark, ...] | None = None) -> Band:
    rows = rows or load_spend_benchmarks()
    by = {r.role: r for r in rows}
    return Band(by["band_low"], by["band_high"], by["median"])
