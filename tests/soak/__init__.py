"""The chaos soak: `python -m tests.soak --seconds N --targets 50 --out DIR` (see runner.py)."""
