"""Past one machine: raw product events rolled up to the usage kind on DuckDB or Spark (rollup.py, one SQL
definition run by both engines), Spark sessions (spark.py) and many-group forecasts fanned out over Spark
(fanout.py, the same Python function as the local loop). See docs/scale.md.
"""
