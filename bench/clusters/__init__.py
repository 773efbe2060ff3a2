"""The cluster-model benchmark's parts (`bench.cluster_bench`): synthetic profiles, the runs, the report."""
