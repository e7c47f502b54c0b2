"""The simulate plot: the zoom window and the PNG it writes."""
from __future__ import annotations

import struct
import warnings

import pytest

from scalerd.plot import ZOOM_SECONDS, write_plot, zoom_range
from scalerd.simulate import Series, Step


def series_of(oracle_by_time: list[tuple[float, int]]) -> Series:
    series = Series(metric_names=("rps",))
    for timestamp, oracle in oracle_by_time:
        series.add(Step(timestamp, (oracle * 10.0,), oracle, oracle, oracle, False, "no_change", oracle, oracle, oracle,
                        oracle, oracle))
    return series


def hourly(hours: int, *, peak_hour: int) -> Series:
    return series_of([(hour * 3600.0, 9 if hour == peak_hour else 2) for hour in range(hours)])


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        pytest.param(hourly(12, peak_hour=5), None, id="shorter-than-two-zoom-widths-no-zoom"),
        pytest.param(hourly(48, peak_hour=20), (17, 24), id="centred-on-the-peak-17h-to-23h"),
        pytest.param(hourly(48, peak_hour=1), (0, 7), id="peak-near-the-start-clipped-to-0h-6h"),
        pytest.param(hourly(48, peak_hour=47), (41, 48), id="peak-at-the-end-clipped-to-41h-47h"),
    ],
)
def test_zoom_range(series, expected):
    assert zoom_range(series) == expected
    if expected:
        start, stop = expected
        assert series.timestamps[stop - 1] - series.timestamps[start] == ZOOM_SECONDS


def png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize(
    ("series", "expected_size"),
    [
        pytest.param(hourly(12, peak_hour=5), (1320, 704), id="two-panels-12in-by-6.4in-at-110dpi"),
        pytest.param(hourly(48, peak_hour=20), (1320, 1056), id="three-panels-with-the-zoom"),
    ],
)
def test_write_plot_writes_a_png_with_one_panel_row_per_view(tmp_path, series, expected_size):
    write_plot(series, path=str(tmp_path / "plot.png"), title="t")

    assert png_size(tmp_path / "plot.png") == expected_size


def test_a_schedule_only_target_plots_without_a_legend_warning(tmp_path):
    series = Series(metric_names=())
    for hour in range(12):
        series.add(Step(hour * 3600.0, (), None, 3, 3, False, "no_change", 1, None, 1, 3, 1))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_plot(series, path=str(tmp_path / "plot.png"), title="t")

    assert png_size(tmp_path / "plot.png") == (1320, 704)
