"""The benchmarks: each scenario is a module run from the repository root with `python -m bench.<name>`
(`make bench`, `make load`); what they share is in `bench.harness`."""
