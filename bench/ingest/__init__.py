"""Parts of the ingest benchmark (`bench.ingest_bench`)."""
