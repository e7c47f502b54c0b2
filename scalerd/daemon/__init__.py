"""The daemon: the loop (`loop`), what it reports (`report`), what it needs from its collaborators
(`collaborators`), and how `run` and `once` assemble it from the real ones (`wiring`)."""
from scalerd.daemon.loop import Daemon
from scalerd.daemon.report import MetricResult, TargetResult

__all__ = ["Daemon", "MetricResult", "TargetResult"]
