"""`scalerd once` output: the contract's JSON line per target, or an aligned table."""
from __future__ import annotations

import io
import json

from scalerd.commands.once import print_results
from scalerd.daemon.report import MetricResult, TargetResult

SCALED = TargetResult(
    target="orders", namespace="apps", deployment="orders-consumer", current=2, desired=5, applied=True,
    reason="scale_up",
    metrics=(MetricResult(name="lag", type="kafka", value=4500.0, proposal=5, error=None),
             MetricResult(name="rps", type="prometheus", value=None, proposal=None, error="timeout")),
)
MISSING = TargetResult(
    target="gone", namespace="apps", deployment="gone", current=None, desired=None, applied=False,
    reason="deployment_not_found", error="deployment apps/gone not found",
)


def test_json_output_is_exactly_the_contract_fields_one_object_per_line():
    stream = io.StringIO()

    print_results([SCALED, MISSING], output="json", stream=stream)

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first == {
        "target": "orders", "namespace": "apps", "deployment": "orders-consumer", "current": 2, "desired": 5,
        "applied": True, "reason": "scale_up",
        "metrics": [{"name": "lag", "value": 4500.0, "proposal": 5}, {"name": "rps", "value": None, "proposal": None}],
    }
    assert second == {
        "target": "gone", "namespace": "apps", "deployment": "gone", "current": None, "desired": None,
        "applied": False, "reason": "deployment_not_found", "metrics": [],
    }


def test_table_output_has_a_header_and_one_aligned_row_per_target():
    stream = io.StringIO()

    print_results([SCALED, MISSING], output="table", stream=stream)

    header, scaled, missing = stream.getvalue().splitlines()
    reason_width = len("deployment_not_found: deployment apps/gone not found")
    assert header == "TARGET  NAMESPACE  DEPLOYMENT       CURRENT  DESIRED  APPLIED  " + "REASON".ljust(reason_width) + "  METRICS"
    assert scaled == (
        "orders  apps       orders-consumer  2        5        yes      " + "scale_up".ljust(reason_width)
        + "  lag=4500->5, rps=error"
    )
    assert missing == (
        "gone    apps       gone             -        -        no       "
        "deployment_not_found: deployment apps/gone not found  -"
    )
