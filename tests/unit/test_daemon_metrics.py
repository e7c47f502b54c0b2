"""The per-target gauges the dashboard and the alerts read: replicas, bounds, reasons, metric values, failures."""
from __future__ import annotations

from scalerd.readings import Reading
from tests.unit.daemon_fakes import Harness, make_config, rps_target


def test_a_decision_exports_counts_bounds_reason_and_metric_value():
    bed = Harness(make_config(rps_target(max_replicas=4)))
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0)

    [result] = bed.daemon.run_cycle()

    assert (result.current, result.desired) == (2, 4)
    assert bed.sample("scalerd_replicas", target="api", kind="current") == 2.0
    assert bed.sample("scalerd_replicas", target="api", kind="desired") == 4.0
    assert bed.sample("scalerd_target_max_replicas", target="api") == 4.0
    assert bed.sample("scalerd_target_min_replicas", target="api") == 1.0
    assert bed.sample("scalerd_decision_reasons_total", target="api", reason=result.reason) == 1.0
    assert bed.sample("scalerd_metric_value", target="api", metric="rps", type="prometheus") == 45.0
    assert bed.sample("scalerd_metric_consecutive_failures", target="api", metric="rps", type="prometheus") == 0.0
    assert bed.sample("scalerd_interval_seconds") == 1.0


def test_failures_in_a_row_count_up_and_a_success_resets_them():
    bed = Harness(make_config(rps_target()))
    bed.cluster.add("api", replicas=2)
    bed.set_rps(20.0)
    bed.daemon.run_cycle()
    labels = {"target": "api", "metric": "rps", "type": "prometheus"}

    bed.sources.values[("api", "rps")] = Reading("rps", error="connection refused")
    for cycle in range(3):
        bed.clocks.advance(1.0)
        bed.daemon.run_cycle()
        assert bed.sample("scalerd_metric_consecutive_failures", **labels) == cycle + 1
    # A failing metric has no value to show.
    assert bed.sample("scalerd_metric_value", **labels) is None

    bed.set_rps(20.0)
    bed.clocks.advance(1.0)
    bed.daemon.run_cycle()
    assert bed.sample("scalerd_metric_consecutive_failures", **labels) == 0.0
    assert bed.sample("scalerd_metric_value", **labels) == 20.0


def test_a_standby_and_a_removed_target_export_no_per_target_gauges():
    bed = Harness(make_config(rps_target("api"), rps_target("old")), leading=True)
    bed.cluster.add("api", replicas=2)
    bed.cluster.add("old", replicas=2)
    bed.set_rps(20.0, "api")
    bed.set_rps(20.0, "old")
    bed.daemon.run_cycle()
    assert bed.sample("scalerd_replicas", target="old", kind="current") == 2.0

    bed.provider.next = make_config(rps_target("api"))
    bed.clocks.advance(1.0)
    bed.daemon.run_cycle()
    assert bed.sample("scalerd_replicas", target="old", kind="current") is None
    assert bed.sample("scalerd_metric_value", target="old", metric="rps", type="prometheus") is None
    assert bed.sample("scalerd_replicas", target="api", kind="current") == 2.0

    bed.elector.leading = False
    bed.clocks.advance(1.0)
    bed.daemon.run_cycle()
    assert bed.sample("scalerd_replicas", target="api", kind="current") is None
    assert bed.sample("scalerd_target_max_replicas", target="api") is None
    assert bed.sample("scalerd_leader") == 0.0


def test_the_rejected_edit_gauge_follows_the_provider():
    bed = Harness(make_config(rps_target()))
    bed.cluster.add("api", replicas=2)
    bed.set_rps(20.0)
    bed.provider.holds_rejected_edit = True
    bed.daemon.run_cycle()
    assert bed.sample("scalerd_config_rejected") == 1.0

    bed.provider.holds_rejected_edit = False
    bed.clocks.advance(1.0)
    bed.daemon.run_cycle()
    assert bed.sample("scalerd_config_rejected") == 0.0
