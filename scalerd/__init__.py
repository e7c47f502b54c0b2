"""scalerd: a polling autoscaler for Kubernetes Deployments (Kafka lag, Prometheus, CPU, schedules)."""

__version__ = "0.1.0"
