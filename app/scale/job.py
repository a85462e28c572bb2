"""Entry point for `spark-submit` / a Databricks Python-script task: the app's CLI, unchanged.

    zip -qr app.zip app
    spark-submit --master yarn --py-files app.zip --conf spark.pyspark.python=/opt/cs-planner/bin/python \\
        app/scale/job.py usage-rollup --engine spark \\
        --events s3://lake/events/2026/11/ --out s3://lake/cs/usage_daily/2026-11/ --no-account-check

spark.pyspark.python (or PYSPARK_PYTHON): a Python with requirements.txt installed, on the driver
and the nodes (the CLI imports pandas and DuckDB). The launcher's Spark session (master, executors,
credentials for s3:// or abfss://) is used as it is (app/scale/spark.py); only the session time zone
is set to UTC while the rollup runs. Run in the tests as written, in local mode, from app.zip alone
(tests/test_scale_submit.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent.parent
    if (root / "app" / "__init__.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))  # run from a checkout (Databricks Git folder) without app.zip
    from app.cli import main

    raise SystemExit(main(sys.argv[1:]))
