"""Parts of the ledger benchmarks (`bench.ledger_bench`, `bench.profile_ledger`)."""
