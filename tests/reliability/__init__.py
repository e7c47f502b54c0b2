"""Reliability and security: the fault matrix, leader failover and secrets, with `scalerd run` subprocesses on the
test bed, each run with the least-privilege `scalerd` context (see docs/RELIABILITY.md)."""
