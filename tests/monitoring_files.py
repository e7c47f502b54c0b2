"""The dashboard and the alert rules in manifests/monitoring/, read the way the tests check them."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

MONITORING = Path(__file__).resolve().parents[1] / "manifests" / "monitoring"
DASHBOARD = MONITORING / "scalerd-dashboard.json"
RULES = MONITORING / "scalerd-rules.yaml"
# What Grafana puts in place of its variables before it sends a query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$target": ".*"}
_SCALERD_NAME = re.compile(r"\bscalerd_[a-z_]+\b")


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, query as Grafana sends it) for every query of every panel."""
    queries = []
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            queries.append((panel["title"], expr))
    return queries


def rules_file() -> dict:
    """The PrometheusRule's spec: a Prometheus rules file (`groups:`)."""
    return yaml.safe_load(RULES.read_text())["spec"]


def alert_expressions() -> list[tuple[str, str]]:
    return [(rule["alert"], rule["expr"]) for group in rules_file()["groups"] for rule in group["rules"]]


def scalerd_names(expr: str) -> set[str]:
    return set(_SCALERD_NAME.findall(expr))


def exposed_names(exposition: str) -> set[str]:
    """Every sample name and metric family name of a /metrics text."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
