"""Shared benchmark helpers: timing medians, machine description, result sections, the runner's context."""
from __future__ import annotations

import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MISSED = "**MISSED**"


@dataclass(frozen=True)
class Context:
    """What `python -m bench` hands every section: a scratch dir, the size, the shared large base."""

    tmp: Path  # scratch directory of this run, removed afterwards
    quick: bool = False  # smoke run: smaller data, fewer runs
    big_db: Path | None = None  # the large base (bench.big_base); sections read it, one at a time
    big_note: str = ""  # one line describing it (size, build time)


_TARGET = re.compile(r"^\s*<\s*([\d.,]+)\s*(ms|s)\s*$")


def target_seconds(target: str) -> float | None:
    """'< 3 s' -> 3.0, '< 500 ms' -> 0.5; anything else (no budget) -> None."""
    m = _TARGET.match(target or "")
    if not m:
        return None
    v = float(m.group(1).replace(",", ""))
    return v / 1000 if m.group(2) == "ms" else v


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

    @property
    def met(self) -> bool | None:
        """True / False against the target; None when the row has no budget."""
        limit = target_seconds(self.target)
        return None if limit is None else self.median_s < limit

    def row(self) -> str:
        base = f"{self.baseline_name}: {fmt_s(self.baseline_s)}" if self.baseline_s else "-"
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else "-"
        status = {True: "met", False: MISSED, None: ""}[self.met]
        return (f"| {self.name} | {fmt_s(self.median_s)} | {base} | {ratio} | {self.target or '-'} | {status} "
                f"| {self.runs} |")


def fmt_s(seconds: float) -> str:
    """Milliseconds under 10 s (the budgets are in ms), seconds above."""
    if seconds < 0.001:
        return f"{seconds * 1000:.3f} ms"
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


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
    try:  # the CPU model says more than "x86_64"
        with open("/proc/cpuinfo") as f:
            name = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
        cpu = name or cpu
    except OSError:
        pass
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem}, "
            f"Python {platform.python_version()}")


def load() -> str:
    """The 1/5/15-minute load averages: other jobs share the cores, so every section records them."""
    try:
        a, b, c = os.getloadavg()
        return f"load average {a:.1f} / {b:.1f} / {c:.1f} (1/5/15 min)"
    except OSError:
        return "load average unknown"


def section(title: str, results: list[Result], notes: str = "") -> str:
    lines = [f"## {title}", "", "| measure | median | baseline (same run) | ratio | target | status | runs |",
             "|---|---|---|---|---|---|---|", *[r.row() for r in results]]
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"
