"""The local test bed: real Prometheus, real tansu, a Kubernetes API emulator; see bed.py and README.md."""
