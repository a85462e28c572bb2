"""Shared benchmark helpers: timing medians, machine description, result sections."""
from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    name: str
    median_s: float
    baseline_name: str | None = None
    baseline_s: float | None = None
    target: str = ""
    runs: int = 1

    @property
    def ratio(self) -> float | None:
        return self.median_s / self.baseline_s if self.baseline_s else None

    def row(self) -> str:
        base = f"{self.baseline_name}: {self.baseline_s * 1000:,.1f} ms" if self.baseline_s else "-"
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else "-"
        return f"| {self.name} | {self.median_s * 1000:,.1f} ms | {base} | {ratio} | {self.target} | {self.runs} |"


def timed(fn: Callable[[], object], runs: int = 5, warmup: int = 1) -> float:
    """Median wall time of fn over runs, after warmup calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem}, Python {platform.python_version()}"


def section(title: str, results: list[Result], notes: str = "") -> str:
    lines = [f"## {title}", "", "| measure | median | baseline (same run) | ratio | target | runs |",
             "|---|---|---|---|---|---|", *[r.row() for r in results]]
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"
