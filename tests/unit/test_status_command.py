"""`scalerd status`: rows from the stored records and the Deployments' counts; the table and the JSON lines."""
from __future__ import annotations

import io
import json

import pytest

from scalerd.commands.status import print_rows, status_rows
from scalerd.config.loader import load_config_text
from scalerd.engine import EngineState
from scalerd.writeahead import Intent, TargetRecord

CONFIG = load_config_text("""\
apiVersion: scalerd/v1
targets:
  - {name: api, namespace: shop, deployment: api, minReplicas: 1, maxReplicas: 10, schedule: [{time: "00:00", replicas: 3}]}
  - {name: worker, namespace: shop, deployment: worker, maxReplicas: 4, schedule: [{time: "00:00", replicas: 2}]}
  - {name: gone, namespace: shop, deployment: gone, maxReplicas: 4, schedule: [{time: "00:00", replicas: 2}]}
""")
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
CHANGED = TargetRecord.for_intent(Intent(from_replicas=2, to_replicas=5, at=NOW - 190, by="a"),
                                     state=EngineState(), reason="scale_up")


@pytest.mark.parametrize(("record", "count", "desired", "last_change", "reason"), [
    pytest.param(None, 2, None, None, None, id="never changed"),
    pytest.param(CHANGED.confirmed(applied=True, at=NOW - 190), 5, 5, "2025-12-31T23:56:50Z", "scale_up",
                 id="a confirmed change"),
    pytest.param(CHANGED, 5, 5, "2026-01-01T00:00:00Z", "scale_up",
                 id="an unconfirmed intent the count confirms: now, the latest it can have landed"),
    pytest.param(CHANGED, 2, 5, None, "scale_up", id="an unconfirmed intent the count denies: no change"),
])
def test_a_row_shows_the_last_change_as_a_successor_would_settle_it(record, count, desired, last_change, reason):
    records = {} if record is None else {("shop", "api"): record}

    [row, *_] = status_rows(CONFIG, records=records, counts={("shop", "api"): count}, now=NOW)

    assert row.to_json() == {"target": "api", "namespace": "shop", "deployment": "api", "minReplicas": 1,
                             "maxReplicas": 10, "current": count, "desired": desired, "last_change": last_change,
                             "reason": reason}


def test_the_table_and_the_json_lines():
    records = {("shop", "api"): CHANGED.confirmed(applied=True, at=NOW - 190)}
    rows = status_rows(CONFIG, records=records, counts={("shop", "api"): 5, ("shop", "worker"): 2}, now=NOW)
    table, lines = io.StringIO(), io.StringIO()

    print_rows(rows, output="table", now=NOW, stream=table)
    print_rows(rows, output="json", now=NOW, stream=lines)

    assert table.getvalue().splitlines() == [
        "TARGET  NAMESPACE  DEPLOYMENT  MIN  MAX  CURRENT    DESIRED    LAST CHANGE  REASON",
        "api     shop       api         1    10   5          5          3m10s ago    scale_up",
        "worker  shop       worker      1    4    2          <unknown>  <none>       <none>",
        "gone    shop       gone        1    4    <unknown>  <unknown>  <none>       deployment_not_found",
    ]
    assert [json.loads(line)["current"] for line in lines.getvalue().splitlines()] == [5, 2, None]
