"""Benchmarks: scripts that measure the service's claims side by side (run them from the repository
root; those that share helpers, as modules: ``python -m benchmarks.supernet_ranking``)."""
