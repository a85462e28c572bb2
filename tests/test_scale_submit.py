"""The documented cluster entry point, for real: `spark-submit ... --py-files app.zip app/scale/job.py
usage-rollup --engine spark ...` (README, "On a real cluster, unchanged"), in local mode.

Laid out as on a cluster's gateway: only ``app.zip`` (the package, zipped as the README says) and the
job script, outside the checkout, so the job imports the app from the zip as the driver and the
executors would. The output (a Parquet dataset, as written to s3://...) must equal the DuckDB rollup
of the same events. Needs Java (as the other Spark tests); marked slow (about a minute: its own JVM).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from app.scale import rollup, synth

ROOT = Path(__file__).resolve().parent.parent


def spark_submit() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-submit"


def zip_app(dest: Path) -> Path:
    """What `zip -qr app.zip app` (run at the checkout's root) builds: app/... entries."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted((ROOT / "app").rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                z.write(p, p.relative_to(ROOT).as_posix())
    return dest


def read_rows(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    df["date"] = pd.to_datetime(df["date"]).dt.date
    for c in ("account_id", "metric"):
        df[c] = df[c].astype(object)
    return df[list(rollup.OUTPUT_COLUMNS)].sort_values(["account_id", "date", "metric"]).reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="no Java runtime")
def test_spark_submit_job_equals_duckdb(tmp_path: Path):
    events = synth.write_events(tmp_path / "events.parquet", 50_000, n_accounts=200, seed=5)
    known = synth.account_ids(150)  # a quarter of the accounts unknown: the check must leave them out
    pd.DataFrame({"Customer ID": known}).to_csv(tmp_path / "accounts.csv", index=False)
    gateway = tmp_path / "gateway"  # no checkout here: the app comes from app.zip only
    (gateway / "app" / "scale").mkdir(parents=True)
    shutil.copy(ROOT / "app" / "scale" / "job.py", gateway / "app" / "scale" / "job.py")
    zip_app(gateway / "app.zip")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON",
                                                            "SPARK_MASTER", "CS_DB")}
    out = tmp_path / "usage_daily"
    cmd = [str(spark_submit()), "--master", "local[2]", "--py-files", "app.zip",
           "--conf", f"spark.pyspark.python={sys.executable}",
           "app/scale/job.py", "usage-rollup", "--engine", "spark",
           "--events", str(events), "--out", f"{out}/", "--accounts", str(tmp_path / "accounts.csv"),
           "--tz", "Europe/Berlin"]
    done = subprocess.run(cmd, cwd=gateway, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Rolled up 50,000 event rows on spark" in done.stdout, done.stdout
    assert "unknown accounts: " in done.stdout and "left out of the output" in done.stdout
    assert any(out.glob("*.parquet"))  # a Parquet dataset, as on s3://

    rollup.run(events, tmp_path / "duck.parquet", "duckdb", zone="Europe/Berlin", accounts=known)
    want = read_rows(tmp_path / "duck.parquet")
    got = read_rows(out)
    assert len(want) > 10_000 and set(got["account_id"]) <= set(known)
    pd.testing.assert_frame_equal(got, want)  # integer values: sums are exact on both engines
