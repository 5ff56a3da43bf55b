"""``make bench``: figures measured side by side in one run (throughput, latency percentiles)."""
