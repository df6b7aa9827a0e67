"""Kumppani's benchmark suite: ``python -m bench.run`` (``make bench``); see docs/performance.md."""
