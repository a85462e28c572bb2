"""Retention as executives read it: metrics (SQL in DuckDB), what is loaded, public benchmarks."""
