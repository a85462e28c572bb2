"""The benchmark runner end to end (`python -m bench`), on its cheapest section, plus its table parsing."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import target_rows
from bench.common import MISSED, Result, section, target_seconds

ROOT = Path(__file__).resolve().parent.parent


def test_targets_are_parsed_and_marked():
    assert target_seconds("< 3 s") == 3.0
    assert target_seconds("< 500 ms") == 0.5
    assert target_seconds("-") is None and target_seconds("") is None
    md = section("x", [Result("fast", 0.2, "base", 0.1, "< 500 ms", 3), Result("slow", 12.0, target="< 10 s"),
                       Result("context", 1.0)])
    assert "| fast | 200.0 ms | base: 100.0 ms | 2.00x | < 500 ms | met | 3 |" in md
    assert "| slow | 12.00 s | - | - | < 10 s | **MISSED** | 1 |" in md
    assert target_rows(md) == [("fast", "200.0 ms", "< 500 ms", "met"), ("slow", "12.00 s", "< 10 s", MISSED)]


@pytest.mark.slow
def test_runner_writes_results_for_one_section(tmp_path):
    out = tmp_path / "results.md"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "planner", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert text.startswith("# Benchmark results")
    assert "python -m bench --quick --only planner" in text
    assert re.search(r"cores \(.+\), \d+ GiB RAM", text)  # the machine's description
    assert "load average" in text
    # The planner's budget row: a median, the target and a verdict.
    m = re.search(r"\| planner \| run_plan, 36 months x 4 segments \| ([\d.,]+) ms \| < 20 ms "
                  r"\| (met|\*\*MISSED\*\*) \|", text)
    assert m, text
    assert (m.group(2) == "met") == (float(m.group(1).replace(",", "")) < 20)
    assert "## Planner recompute" in text and "same model, 1 segment" in text
    assert "## Import" not in text  # --only runs nothing else
