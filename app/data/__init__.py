"""The data layer: the canonical schema, the DuckDB store (the only module that opens connections), the importer
and the sample company."""
