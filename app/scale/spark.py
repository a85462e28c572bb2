"""The Spark session the scale commands use: an existing one on a cluster, or local mode here.

On a real cluster (``spark-submit`` or a Databricks job) a session already exists or is built by
the launcher's settings: ``session()`` takes it as it is (master, executors, shuffle partitions, and
the executors' Python from ``spark.pyspark.python`` / ``PYSPARK_PYTHON``). Only when no master is
configured anywhere (a laptop, the tests) it starts ``local[N]`` with the web UI off, few shuffle
partitions, and this interpreter (with the checkout on PYTHONPATH) as the workers' Python.

Either way the session time zone is set to UTC for the duration of a rollup (``utc_session``): the
rollup's SQL reads timestamps without an offset as UTC and converts to the rollup's zone itself.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# Local mode defaults: 2 cores here; few shuffle partitions (the default 200 makes small jobs slow).
LOCAL_MASTER = "local[2]"
LOCAL_SHUFFLE_PARTITIONS = 4


def _python_env() -> None:
    """Python workers run this interpreter and can import the app package (local mode)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *paths])


def session(master: str | None = None, shuffle_partitions: int | None = None, app_name: str = "cs-planner"):
    """The active SparkSession, or a new one.

    master: None = the launcher's (spark-submit --master, Databricks) or, when none is configured,
    ``LOCAL_MASTER``; "local[4]" and the like force local mode.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    b = SparkSession.builder.appName(app_name)
    configured = master or os.environ.get("SPARK_MASTER")
    if configured is None and _launched():
        # spark-submit / Databricks: their master, settings and Python (spark.pyspark.python or
        # PYSPARK_PYTHON) stand; this interpreter's path may not exist on the executors.
        pass
    elif configured is None or configured.startswith("local"):
        _python_env()
        b = (b.master(configured or LOCAL_MASTER)
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", str(shuffle_partitions or LOCAL_SHUFFLE_PARTITIONS))
             .config("spark.driver.memory", os.environ.get("CS_SPARK_DRIVER_MEMORY", "4g"))
             .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    elif shuffle_partitions:
        b = b.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    b = b.config("spark.sql.session.timeZone", "UTC")
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _launched() -> bool:
    """Started by spark-submit (which hands the driver a gateway) or on Databricks."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ


@contextmanager
def utc_session(spark) -> Iterator[None]:
    """Run with the session time zone at UTC, then restore the caller's setting."""
    key = "spark.sql.session.timeZone"
    before = spark.conf.get(key)
    spark.conf.set(key, "UTC")
    try:
        yield
    finally:
        spark.conf.set(key, before)
