"""Draw a replay (`scalerd simulate`): the load on top, the target's, baseline's and oracle's replicas below.

matplotlib is imported inside `write_plot` with the Agg backend, so that the daemon and the other
commands never pay for it and no display is ever needed.
"""
from __future__ import annotations

from scalerd.simulate import Series

SECONDS_PER_DAY = 86400.0


def write_plot(series: Series, *, path: str, title: str) -> None:
    """Write a PNG of `series` to `path`. Time runs along x as UTC dates (the trace's Unix seconds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    # matplotlib's default date epoch is 1970-01-01, so Unix seconds / 86400 are its date numbers.
    days = [timestamp / SECONDS_PER_DAY for timestamp in series.timestamps]
    figure, (load_axes, replica_axes) = plt.subplots(
        2, 1, sharex=True, figsize=(12, 6.5), height_ratios=(1, 1.6), layout="constrained"
    )
    for name, column in zip(series.metric_names, series.loads):
        load_axes.plot(days, column, linewidth=0.7, label=name)
    load_axes.set_ylabel("load (trace value)")
    load_axes.grid(alpha=0.3)
    load_axes.legend(loc="upper right", fontsize="small")

    replica_axes.plot(days, series.oracle, drawstyle="steps-post", linewidth=0.8, color="tab:gray",
                      linestyle="--", label="oracle (metric proposal, within bounds)")
    replica_axes.plot(days, series.baseline, drawstyle="steps-post", linewidth=0.9, color="tab:orange",
                      label="baseline (HPA defaults, no cooldown, no schedule)")
    replica_axes.plot(days, series.replicas, drawstyle="steps-post", linewidth=1.1, color="tab:blue",
                      label="scalerd (this configuration)")
    replica_axes.set_ylabel("replicas")
    replica_axes.set_xlabel("time (UTC)")
    replica_axes.grid(alpha=0.3)
    replica_axes.legend(loc="upper right", fontsize="small")

    locator = mdates.AutoDateLocator()
    replica_axes.xaxis.set_major_locator(locator)
    replica_axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    plt.close(figure)
