"""The bottom layer: settings, the database, prepared statements, broadcast and metrics.

Everything above imports from here; nothing here imports anything of ours (tests/test_imports.py).
"""
