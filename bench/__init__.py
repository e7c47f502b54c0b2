"""scalerd's benchmarks (issue 8): `python -m bench [--quick] [--output json|table] [--only NAME]`.

Every figure is measured on the test bed (the Kubernetes API emulator, a real Prometheus, a real tansu) and,
where the seed had a counterpart, next to the seed's naive loop run in the same process and run, so that the
ratio stays meaningful on a shared machine whose absolute speed drifts.
"""
