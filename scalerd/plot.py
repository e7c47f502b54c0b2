"""Draw a replay (`scalerd simulate`): the load, then the target's, baseline's and oracle's replicas (and what
really ran, when known).

A replay of days has tens of thousands of steps, too dense to tell the lines apart, so a long replay gets
a third panel: the same replicas over the few hours around the load's peak.

matplotlib is the `plot` extra (`pip install 'scalerd[plot]'`), imported inside `write_plot` with the Agg backend:
the daemon's image does not carry it, the other commands never pay for it, and no display is ever needed.
"""
from __future__ import annotations

import bisect

from scalerd.simulate import Series

SECONDS_PER_DAY = 86400.0
ZOOM_SECONDS = 6 * 3600.0
"""The zoom panel's width; a replay shorter than twice this gets no zoom panel."""


def zoom_range(series: Series) -> tuple[int, int] | None:
    """[start, stop) step indices of the zoom panel: ZOOM_SECONDS around the highest oracle count, or None."""
    timestamps = series.timestamps
    if len(timestamps) == 0 or timestamps[-1] - timestamps[0] < 2 * ZOOM_SECONDS:
        return None
    peak_time = timestamps[max(range(len(series.oracle)), key=series.oracle.__getitem__)]
    start_time = min(max(peak_time - ZOOM_SECONDS / 2, timestamps[0]), timestamps[-1] - ZOOM_SECONDS)
    return bisect.bisect_left(timestamps, start_time), bisect.bisect_right(timestamps, start_time + ZOOM_SECONDS)


class PlotUnavailable(Exception):
    """matplotlib is not installed; the message says how to install it."""


def write_plot(series: Series, *, path: str, title: str) -> None:
    """Write a PNG of `series` to `path`. Time runs along x as UTC dates (the trace's Unix seconds)."""
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable(f"{path} not written: matplotlib is not installed; install the plot extra "
                              "(pip install 'scalerd[plot]', or `make install` in a checkout)") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # matplotlib's default date epoch is 1970-01-01, so Unix seconds / 86400 are its date numbers.
    days = [timestamp / SECONDS_PER_DAY for timestamp in series.timestamps]
    zoom = zoom_range(series)
    panels = 3 if zoom else 2
    figure, axes = plt.subplots(
        panels, 1, figsize=(12, 3.2 * panels), height_ratios=(1, 1.4, 1.4)[:panels], layout="constrained"
    )
    load_axes, replica_axes = axes[0], axes[1]
    for name, column in zip(series.metric_names, series.loads):
        load_axes.plot(days, column, linewidth=0.6, label=name)
    load_axes.set_ylabel("load (trace value)")
    if series.metric_names:
        load_axes.legend(loc="upper right", fontsize="small")
    else:
        load_axes.text(0.5, 0.5, "no metric: this target scales on its schedule only", ha="center", va="center",
                       transform=load_axes.transAxes)
    replica_axes.sharex(load_axes)
    _plot_replicas(replica_axes, series, days, start=0, stop=len(days))
    replica_axes.set_title("replicas over the whole trace", fontsize="medium")
    if zoom:
        start, stop = zoom
        _plot_replicas(axes[2], series, days, start=start, stop=stop)
        axes[2].set_title(f"replicas over the {ZOOM_SECONDS / 3600:g} h around the peak (shaded above)",
                          fontsize="medium")
        replica_axes.axvspan(days[start], days[stop - 1], color="gold", alpha=0.25)
    for panel in axes:
        _date_axis(panel)
    axes[-1].set_xlabel("time (UTC)")
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_replicas(axes, series: Series, days: list[float], *, start: int, stop: int) -> None:
    window = slice(start, stop)
    axes.plot(days[window], series.oracle[window], drawstyle="steps-post", linewidth=0.8, color="tab:gray",
              linestyle="--", label="oracle (metric proposal, within bounds)")
    axes.plot(days[window], series.baseline[window], drawstyle="steps-post", linewidth=0.9, color="tab:orange",
              label="baseline (HPA defaults, no cooldown, no schedule)")
    axes.plot(days[window], series.replicas[window], drawstyle="steps-post", linewidth=1.1, color="tab:blue",
              label="scalerd (this configuration)")
    if len(series.actual):
        axes.plot(days[window], series.actual[window], drawstyle="steps-post", linewidth=1.0, color="tab:red",
                  label="what ran (--actual-replicas-query)")
    axes.set_ylabel("replicas")
    axes.legend(loc="upper right", fontsize="small")


def _date_axis(axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.grid(alpha=0.3)
