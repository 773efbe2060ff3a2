"""Parts of the privacy-request benchmark (`bench.request_bench`)."""
