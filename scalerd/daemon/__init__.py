"""The daemon: the loop (`loop`) and how `run` and `once` assemble it from real collaborators (`wiring`)."""
from scalerd.daemon.loop import Daemon, MetricResult, TargetResult

__all__ = ["Daemon", "MetricResult", "TargetResult"]
