"""The DuckDB history: migrations, one-transaction snapshot ingest, the raw-payload archive and queries."""
