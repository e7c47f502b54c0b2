"""`python -m tests.testbed --dir D` as users and CI run it: ready, usable, and gone without a trace on SIGTERM."""
from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes.client
import pytest

from tests.testbed.bed import REPO_ROOT

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10


def _read_line(process: subprocess.Popen, *, timeout: float) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError(f"no output from the test bed within {timeout}s")
    return process.stdout.readline().strip()


def _group_exists(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture
def bed_process(tmp_path: Path):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.testbed", "--dir", str(tmp_path)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with process:  # closes the pipes once the process is gone
        yield process
        if process.poll() is None:  # only when the test failed before it stopped the bed
            process.send_signal(signal.SIGTERM)
            process.wait(STOP_TIMEOUT_SECONDS)


def test_runs_until_sigterm_and_leaves_no_process_behind(bed_process, tmp_path):
    assert _read_line(bed_process, timeout=START_TIMEOUT_SECONDS) == "ready"

    endpoints = json.loads((tmp_path / "endpoints.json").read_text())
    assert set(endpoints) == {"kubernetes", "prometheus", "kafka", "exporter"}
    assert {urlsplit(url if "://" in url else f"tcp://{url}").hostname for url in endpoints.values()} == {
        "127.0.0.1"}
    assert set(json.loads((tmp_path / "startup.json").read_text())) == set(endpoints)

    namespaces = subprocess.run(
        ["kubectl", "--kubeconfig", str(tmp_path / "kubeconfig"), "get", "ns", "-o", "name"],
        check=False, capture_output=True, text=True, timeout=30)
    assert namespaces.returncode == 0, namespaces.stderr
    assert "namespace/default" in namespaces.stdout.split()

    children = json.loads((tmp_path / "pids.json").read_text())
    assert set(children) == set(endpoints)
    listed = _files_listed_in_readme(parts=list(endpoints))
    assert {name: (tmp_path / name).exists() for name in listed} == listed
    bed_process.send_signal(signal.SIGTERM)

    assert bed_process.wait(STOP_TIMEOUT_SECONDS) == 0
    assert [name for name, pid in children.items() if _group_exists(pid)] == []


def _files_listed_in_readme(*, parts: list[str]) -> dict[str, bool]:
    """The README's table of the bed's directory: file name -> whether it says the file is there at start."""
    text = (REPO_ROOT / "tests" / "testbed" / "README.md").read_text()
    table = text[text.index("| file | what |"):].split("\n\n", 1)[0].splitlines()[2:]
    listed = {}
    for row in table:
        names, what = row.strip("|").split("|", 1)
        present = "not there at start" not in what
        for name in re.findall(r"`([^`]+)`", names):
            for expanded in ([f"{part}.log" for part in parts] if name == "<part>.log" else [name.rstrip("/")]):
                listed[expanded] = present
    return listed


def test_sigint_stops_it_the_same_way(bed_process, tmp_path):
    assert _read_line(bed_process, timeout=START_TIMEOUT_SECONDS) == "ready"
    children = json.loads((tmp_path / "pids.json").read_text())

    bed_process.send_signal(signal.SIGINT)

    assert bed_process.wait(STOP_TIMEOUT_SECONDS) == 0
    assert [name for name, pid in children.items() if _group_exists(pid)] == []


def test_sigterm_while_starting_stops_the_parts_already_spawned(bed_process, tmp_path):
    pids_file = tmp_path / "pids.json"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not pids_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    children = json.loads(pids_file.read_text())
    assert not (tmp_path / "endpoints.json").exists()  # Prometheus' first scrape takes seconds: still starting

    bed_process.send_signal(signal.SIGTERM)

    assert bed_process.wait(STOP_TIMEOUT_SECONDS) == 0
    assert bed_process.stdout.read() == ""
    assert set(children) == {"kubernetes", "prometheus", "kafka", "exporter"}
    assert [name for name, pid in children.items() if _group_exists(pid)] == []


def test_the_kubeconfig_contexts_are_admin_and_the_scalerd_service_account(testbed):
    admin = kubernetes.client.CoreV1Api(testbed.admin_api_client())
    scalerd = kubernetes.client.CoreV1Api(testbed.scalerd_api_client())

    assert "scalerd" in {namespace.metadata.name for namespace in admin.list_namespace().items}
    assert admin.list_namespaced_secret("scalerd").items == []
    with pytest.raises(kubernetes.client.ApiException) as forbidden:
        scalerd.list_namespaced_secret("scalerd")
    assert forbidden.value.status == 403
    assert json.loads(forbidden.value.body)["message"] == (
        'secrets is forbidden: User "system:serviceaccount:scalerd:scalerd" cannot list resource "secrets" '
        'in API group "" in the namespace "scalerd"')
