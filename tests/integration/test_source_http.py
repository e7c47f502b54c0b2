"""The http metric type end to end: `scalerd metrics` and `scalerd once` (subprocesses) against a real HTTP server
on 127.0.0.1 serving JSON, `once` against the test bed's Kubernetes API."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.integration.daemon_support import REPO_ROOT, create_deployment, replicas_of, run_command
from tests.recording_server import RecordingServer, serve
from tests.testbed.kafka_tools import unique_name


@pytest.fixture
def queue_service() -> Iterator[RecordingServer]:
    """A service reporting its backlog: 250 pending at /stats, a list of queues at /queues."""
    answers = {"/stats": (200, "application/json", json.dumps({"backlog": {"pending": 250}})),
               "/queues": (200, "application/json", json.dumps({"items": [{"depth": 7}, {"depth": 31}]}))}
    recorder = RecordingServer(key=lambda path, _params: path, default=(404, "text/plain", "not found"),
                               answers=answers)
    yield from serve(recorder)


def test_metrics_reads_each_url_once_and_names_url_and_path_in_errors(queue_service, tmp_path):
    stats = f"{queue_service.url}/stats"
    config = tmp_path / "config.yaml"
    config.write_text(f"""\
apiVersion: scalerd/v1
targets:
  - name: workers
    deployment: workers
    maxReplicas: 20
    metrics:
      - {{type: http, name: pending, url: "{stats}", valueLocation: backlog.pending, targetPerReplica: 100}}
      - {{type: http, name: deepest, url: "{queue_service.url}/queues", valueLocation: items.1.depth, targetValue: 10}}
  - name: reports
    deployment: reports
    maxReplicas: 20
    metrics:
      - {{type: http, name: pending, url: "{stats}", valueLocation: backlog.pending, targetPerReplica: 50}}
      - {{type: http, name: typo, url: "{stats}", valueLocation: backlog.pendng, targetPerReplica: 50}}
""")

    result = subprocess.run([sys.executable, "-m", "scalerd", "metrics", "--config", str(config), "--output", "json"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert (result.returncode, result.stderr) == (1, "")
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"target": "workers", "metrics": [
            {"name": "pending", "type": "http", "value": 250, "proposal": 3, "error": None, "partitions": None},
            # Value: ceil(1 × 31 / 10), with the one replica `metrics` assumes.
            {"name": "deepest", "type": "http", "value": 31, "proposal": 4, "error": None, "partitions": None},
        ]},
        {"target": "reports", "metrics": [
            {"name": "pending", "type": "http", "value": 250, "proposal": 5, "error": None, "partitions": None},
            {"name": "typo", "type": "http", "value": None, "proposal": None, "partitions": None,
             "error": f"GET {stats} (valueLocation backlog.pendng): backlog has no key 'pendng'"},
        ]},
    ]
    assert sorted(request["path"] for request in queue_service.requests) == ["/queues", "/stats"]


def test_once_scales_a_deployment_on_an_http_metric(testbed, queue_service, tmp_path):
    admin = testbed.admin_api_client()
    deployment = unique_name("workers")
    create_deployment(admin, deployment, replicas=1)
    config = tmp_path / "config.yaml"
    config.write_text(f"""\
apiVersion: scalerd/v1
targets:
  - name: workers
    deployment: {deployment}
    maxReplicas: 10
    metrics:
      - {{type: http, name: pending, url: "{queue_service.url}/stats", valueLocation: backlog.pending,
          targetPerReplica: 100}}
""")

    finished = run_command(testbed, "once", config)

    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout) == {
        "target": "workers", "namespace": "default", "deployment": deployment, "current": 1, "desired": 3,
        "applied": True, "reason": "scale_up", "metrics": [{"name": "pending", "value": 250.0, "proposal": 3}],
    }
    assert replicas_of(admin, deployment) == 3
