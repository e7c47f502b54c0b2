"""One way to build a `Target` in a test: the required fields filled in, everything else as the test says."""
from __future__ import annotations

from scalerd.config.model import Metric, Target


def make_target(name: str = "api", *metrics: Metric, namespace: str = "default", deployment: str | None = None,
                min_replicas: int = 1, max_replicas: int = 10, timezone: str = "UTC", **fields) -> Target:
    """A target named `name` scaling the Deployment of the same name (unless `deployment`), with `metrics`."""
    return Target(name=name, namespace=namespace, deployment=deployment or name, min_replicas=min_replicas,
                  max_replicas=max_replicas, timezone=timezone, metrics=metrics, **fields)
