"""Predictive scaling against the HPA default on four traces, with replicas that take 60 s to serve.

    python -m bench.predictive                 # the table of docs/predictive.md (about a minute of CPU)
    python -m bench.predictive --sweep         # + the margin-quantile and rounding-slack sweeps, the plots (docs/predictive-*.png)
    python -m bench.predictive --trace kafka   # one trace

Each trace is replayed by `scalerd.simulate.replay` at 15-second steps (scalerd's default interval) with
`--startup-delay 60s`. The target is the HPA's default behavior with no cooldown (as the baseline) plus
`predictive: {leadTime: 60s}`; the baseline is the same target without it, i.e. the HPA default. Costs are
replica-seconds as a multiple of the oracle's (exactly the load's proposal at every step); under-provisioned is
the share of steps whose load needs more replicas than serve.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from bench.traces.kafka_backlog import backlog_rows
from scalerd.config.model import Behavior, Predictive, Target
from scalerd.engine import ROUNDING_SLACK
from scalerd.forecast import DEFAULT_QUANTILE
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.simulate import Summary, TraceRow, read_trace, replay

REPO = Path(__file__).resolve().parent.parent
INTERVAL = 15.0
STARTUP_DELAY = 60.0
LEAD_TIME = 60.0
SWEEP_QUANTILES = (0.5, 0.7, 0.8, 0.9, 0.95)
SWEEP_SLACKS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35)


MEAN_REPLICAS = 16
"""Every trace is scaled alike: one replica serves a sixteenth of the trace's mean load (3 significant digits)."""


@dataclass(frozen=True)
class Trace:
    name: str
    title: str
    column: str
    kafka: bool = False
    path: Path | None = None
    """A CSV with `timestamp` and the column; None: the generated Kafka backlog."""

    def rows(self) -> list[TraceRow]:
        if self.path is None:
            return [TraceRow(float(now), (lag,)) for now, lag in backlog_rows()]
        with open(self.path, newline="", encoding="utf-8") as trace:
            return list(read_trace(trace, columns=[self.column], source=str(self.path)))

    def metric(self, rows: list[TraceRow]):
        mean = sum(row.values[0] for row in rows) / len(rows)
        per_replica = float(f"{mean / MEAN_REPLICAS:.3g}")
        if self.kafka:
            return KafkaMetric(name=self.column, group="g", topics=("t",), lag_per_replica=per_replica)
        return PrometheusMetric(name=self.column, query="q", target_per_replica=per_replica)


TRACES = (
    Trace("alibaba", "Alibaba 2018 (CPU %, 30 s, 7.8 d)", "cpu_util_percent",
          path=REPO.parent / "shared" / "traces" / "alibaba2018_machine_usage_30s.csv"),
    Trace("azure", "Azure 2019 (CPU cores, 5 min, 30 d)", "load", path=REPO / "bench" / "traces" / "azure2019_cpu_300s.csv"),
    Trace("google", "Google 2019 (CPU %, 5 min, 28 d)", "load", path=REPO / "bench" / "traces" / "google2019_cpu_300s.csv"),
    Trace("kafka", "Kafka backlog (bursty, 15 s, 7 d)", "lag", kafka=True),
)


def target_for(trace: Trace, rows: list[TraceRow]) -> Target:
    return Target(
        name=trace.name, namespace="default", deployment=trace.name, min_replicas=1, max_replicas=10 * MEAN_REPLICAS,
        timezone="UTC", metrics=(trace.metric(rows),), behavior=Behavior(cooldown=0.0),
        predictive=Predictive(lead_time=LEAD_TIME),
    )


@dataclass(frozen=True)
class Outcome:
    trace: str
    quantile: float
    rounding_slack: float
    steps: int
    oracle: float
    hpa_cost: float
    hpa_under: float
    predictive_cost: float
    predictive_under: float
    predictive_scale_events: int
    seconds: float

    def as_dict(self) -> dict:
        return self.__dict__ | {"hpa_cost_x_oracle": self.hpa_cost / self.oracle,
                                "predictive_cost_x_oracle": self.predictive_cost / self.oracle}


def run(
    trace: Trace, rows: list[TraceRow], *, quantile: float = DEFAULT_QUANTILE, rounding_slack: float = ROUNDING_SLACK,
    series: list | None = None,
) -> Outcome:
    summary = Summary(interval=INTERVAL, startup_delay_seconds=STARTUP_DELAY)
    started = time.process_time()
    for step in replay(target_for(trace, rows), interval=INTERVAL, rows=rows, startup_delay=STARTUP_DELAY,
                       margin_quantile=quantile, rounding_slack=rounding_slack):
        summary.add(step)
        if series is not None:
            series.append(step)
    elapsed = time.process_time() - started
    total = summary.steps * INTERVAL
    return Outcome(
        trace=trace.name, quantile=quantile, rounding_slack=rounding_slack, steps=summary.steps, oracle=summary.oracle_replica_seconds,
        hpa_cost=summary.baseline_replica_seconds, hpa_under=summary.baseline_underprovisioned_seconds / total,
        predictive_cost=summary.replica_seconds, predictive_under=summary.underprovisioned_seconds / total,
        predictive_scale_events=summary.scale_events, seconds=elapsed,
    )


def verdict(outcome: Outcome) -> tuple[bool, bool]:
    """(under-provisioned no more than the HPA's, cost no more than the HPA's + 1 % of the oracle's)."""
    return (outcome.predictive_under <= outcome.hpa_under,
            outcome.predictive_cost <= outcome.hpa_cost + 0.01 * outcome.oracle)


def table(outcomes: list[Outcome]) -> str:
    lines = ["| trace | HPA cost × oracle | predictive cost × oracle | HPA under-provisioned | predictive under-provisioned | under ≤ HPA | cost ≤ HPA + 1 % |",
             "|---|---|---|---|---|---|---|"]
    for outcome in outcomes:
        under_ok, cost_ok = verdict(outcome)
        lines.append(
            f"| {outcome.trace} | {outcome.hpa_cost / outcome.oracle:.3f} | {outcome.predictive_cost / outcome.oracle:.3f}"
            f" | {outcome.hpa_under:.1%} | {outcome.predictive_under:.1%} | {'yes' if under_ok else 'NO'}"
            f" | {'yes' if cost_ok else 'NO'} |"
        )
    hpa_total = sum(o.hpa_under * o.steps for o in outcomes)
    predictive_total = sum(o.predictive_under * o.steps for o in outcomes)
    ratio = predictive_total / hpa_total if hpa_total else math.nan
    lines.append(f"\nSummed over the traces, predictive is under-provisioned {ratio:.0%} of the HPA's time"
                 f" ({'at most' if ratio <= 0.5 else 'MORE than'} half).")
    return "\n".join(lines)


def plot_table(outcomes: list[Outcome], path: Path) -> None:
    """Two panels: cost × oracle and under-provisioned share, HPA default beside predictive, per trace."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cost_axes, under_axes) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    positions = range(len(outcomes))
    names = [outcome.trace for outcome in outcomes]
    for axes, hpa, predictive, label in (
        (cost_axes, [o.hpa_cost / o.oracle for o in outcomes], [o.predictive_cost / o.oracle for o in outcomes],
         "cost × oracle"),
        (under_axes, [100 * o.hpa_under for o in outcomes], [100 * o.predictive_under for o in outcomes],
         "under-provisioned time (%)"),
    ):
        axes.bar([p - 0.2 for p in positions], hpa, width=0.4, label="HPA default", color="tab:gray")
        axes.bar([p + 0.2 for p in positions], predictive, width=0.4, label="predictive", color="tab:blue")
        axes.set_xticks(list(positions), names)
        axes.set_ylabel(label)
        axes.grid(axis="y", alpha=0.3)
    cost_axes.set_ylim(0.9, max(max(o.hpa_cost, o.predictive_cost) / o.oracle for o in outcomes) + 0.03)
    cost_axes.legend()
    figure.suptitle(f"60 s start-up, leadTime 60s, margin quantile {outcomes[0].quantile:g},"
                    f" rounding slack {outcomes[0].rounding_slack:g}")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _percent(share: float, *, digits: int = 1) -> str:
    return f"{100 * share:.{digits}f} %"


def quantile_sweep(sweep: list[Outcome], rounding_slack: float) -> list[Outcome]:
    return [outcome for outcome in sweep if outcome.rounding_slack == rounding_slack]


def slack_sweep(sweep: list[Outcome], quantile: float) -> list[Outcome]:
    return [outcome for outcome in sweep if outcome.quantile == quantile]


def sweep_table(points: list[Outcome], setting: str) -> str:
    """One row per trace (the HPA's point first, then each value of `setting`), and the summed under-provisioning."""
    values = sorted({getattr(outcome, setting) for outcome in points})
    traces = list(dict.fromkeys(outcome.trace for outcome in points))
    label = setting.replace("_", " ")
    lines = ["| trace | HPA default | " + " | ".join(f"{label} {value:g}" for value in values) + " |",
             "|---|---|" + "---|" * len(values)]
    for name in traces:
        by_value = {getattr(o, setting): o for o in points if o.trace == name}
        hpa = by_value[values[0]]
        cells = [f"{hpa.hpa_cost / hpa.oracle:.3f} / {_percent(hpa.hpa_under)}"]
        for value in values:
            outcome = by_value[value]
            cell = f"{outcome.predictive_cost / outcome.oracle:.3f} / {_percent(outcome.predictive_under)}"
            cells.append(f"**{cell}**" if all(verdict(outcome)) else cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    shares = []
    for value in values:
        chosen = [o for o in points if getattr(o, setting) == value]
        shares.append(sum(o.predictive_under * o.steps for o in chosen) / sum(o.hpa_under * o.steps for o in chosen))
    lines.append("| summed under-provisioned time, share of the HPA's | 100 % | "
                 + " | ".join(_percent(share, digits=0) for share in shares) + " |")
    return "\n".join(lines)


def plot_sweep(sweep: list[Outcome], path: Path, *, quantile: float, rounding_slack: float) -> None:
    """Per trace: cost × oracle against under-provisioned share over the margin quantiles (at the rounding slack)
    and over the rounding slacks (at the quantile), and the HPA's point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traces = list(dict.fromkeys(outcome.trace for outcome in sweep))
    figure, all_axes = plt.subplots(1, len(traces), figsize=(4 * len(traces), 4), dpi=110, squeeze=False)
    for axes, name in zip(all_axes[0], traces):
        for points, setting, label, marker in (
            (quantile_sweep(sweep, rounding_slack), "quantile", f"quantile (slack {rounding_slack:g})", "o"),
            (slack_sweep(sweep, quantile), "rounding_slack", f"rounding slack (quantile {quantile:g})", "^"),
        ):
            points = sorted((o for o in points if o.trace == name), key=lambda o: getattr(o, setting))
            axes.plot([100 * o.predictive_under for o in points], [o.predictive_cost / o.oracle for o in points],
                      marker=marker, label=label)
            for outcome in points:
                axes.annotate(f"{getattr(outcome, setting):g}",
                              (100 * outcome.predictive_under, outcome.predictive_cost / outcome.oracle),
                              textcoords="offset points", xytext=(4, 4), fontsize=7)
        hpa = next(o for o in sweep if o.trace == name)
        axes.plot([100 * hpa.hpa_under], [hpa.hpa_cost / hpa.oracle], marker="s", color="tab:gray", linestyle="",
                  label="HPA default")
        axes.axhline(hpa.hpa_cost / hpa.oracle + 0.01, color="tab:gray", linestyle=":", linewidth=1,
                     label="HPA + 1 % of oracle")
        axes.set_title(name)
        axes.set_xlabel("under-provisioned time (%)")
        axes.set_ylabel("cost × oracle")
        axes.grid(alpha=0.3)
    all_axes[0][0].legend(fontsize=7)
    figure.suptitle("sweeps of the margin quantile and the rounding slack (labels: the swept value)")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", choices=[trace.name for trace in TRACES], action="append")
    parser.add_argument("--quantile", type=float, default=DEFAULT_QUANTILE)
    parser.add_argument("--rounding-slack", type=float, default=ROUNDING_SLACK)
    parser.add_argument("--sweep", action="store_true",
                        help="also sweep the margin quantile and the rounding slack, and draw the plots")
    parser.add_argument("--json", metavar="FILE", help="write every outcome as JSON")
    args = parser.parse_args(argv)
    chosen = [trace for trace in TRACES if not args.trace or trace.name in args.trace]
    settings = [(quantile, args.rounding_slack) for quantile in SWEEP_QUANTILES]
    settings += [(args.quantile, slack) for slack in SWEEP_SLACKS if (args.quantile, slack) not in settings]
    outcomes, sweep = [], []
    for trace in chosen:
        rows = trace.rows()
        outcome = run(trace, rows, quantile=args.quantile, rounding_slack=args.rounding_slack)
        outcomes.append(outcome)
        print(json.dumps(outcome.as_dict()), flush=True)
        if args.sweep:
            for quantile, slack in settings:
                default = (quantile, slack) == (args.quantile, args.rounding_slack)
                swept = outcome if default else run(trace, rows, quantile=quantile, rounding_slack=slack)
                sweep.append(swept)
                print(json.dumps(swept.as_dict()), flush=True)
    print(table(outcomes))
    if args.sweep:
        print(sweep_table(quantile_sweep(sweep, args.rounding_slack), "quantile"))
        print(sweep_table(slack_sweep(sweep, args.quantile), "rounding_slack"))
        plot_table(outcomes, REPO / "docs" / "predictive-table.png")
        plot_sweep(sweep, REPO / "docs" / "predictive-sweep.png", quantile=args.quantile,
                   rounding_slack=args.rounding_slack)
        print("wrote docs/predictive-table.png, docs/predictive-sweep.png")
    if args.json:
        Path(args.json).write_text(json.dumps({"default": [o.as_dict() for o in outcomes],
                                               "sweep": [o.as_dict() for o in sweep]}, indent=1))


if __name__ == "__main__":
    main()
