"""The forecaster of `predictive`: from a metric's past samples only, an upper bound of its value over the next lead time.

Pure and deterministic: it holds a plain time series (`observe(time, value)`, times ascending), reads no clock and
does no I/O, so the simulator and the daemon can feed it alike (the daemon from a Prometheus `query_range` or its
own ring). Everything is incremental: each sample costs a bounded amount of work, never a refit over the history.

How a forecast is made (docs/predictive.md has the measurements behind each choice):

- Experts: the last value; a damped trend (Holt, per sample); seasonal naive at 1 day and at 7 days (the values
  one season ago, moved by the change in the last half hour's mean since then). A seasonal expert is enabled only
  when that season is really present: the history covers the season and the half-hour changes of the series
  correlate (>= 0.5) with those one season earlier, a repeating shape rather than a level.
- Two horizons. Upwards, the value when the lead time is up (a replica asked for now serves from then; earlier
  moments have their own replicas coming). Downwards, the largest value over twice the lead time (a removal
  acts at once, and what replaces it takes a lead time to serve), and no less than any bound made within the
  last lead time (each is still a forecast of a moment to come).
- Every prediction is scored once its horizon has passed (error = actual - predicted). The expert with the least
  recent asymmetric loss (an under-forecast costs four times an over-forecast; exponentially weighted, 3-hour
  half-life) is chosen.
- Margin: a quantile (default 0.8) of the chosen expert's own errors at that horizon, over the last 24 hours and
  over the last hour, whichever is larger (split-conformal style): it grows with noise at once, and shrinks
  when the expert is good. Bound = forecast + margin.
- `holding`: over the last 10 lead times the bounds missed the value at most twice as often as the quantile
  allows (2 × (1 - quantile)), and no gap or first forecast is more recent than 5 lead times.
- Cold start: no forecast before one hour of samples (or `history`, if shorter), or before the chosen expert
  has 20 scored predictions. A gap (no sample for more than max(lead time, 3 sample spacings)) drops the
  predictions it spans, restarts the trend, and gives no forecast for one lead time after it. Spikes: the live
  proposal is the engine's floor; one spike is one large error among a day's, so it barely moves the quantile.
- The horizon is the lead time, or the sample spacing when that is longer (a lead time of 0 looks one sample on).
- Memory (about 93 KB at 8 days of one-minute samples, every expert on: `python -m bench.forecasts`): only what
  an expert can still look back to is kept (a week and half an hour, or `history` if shorter: no expert looks
  further back than `history`, so a seasonal one needs a `history` longer than its season), the values in 4-byte
  floats, their times as runs of evenly spaced ones; the errors in 4-byte floats. The half-hour means, the trend
  and the scores are computed from exact values. Rounding to 4 bytes moves a forecast by about 1e-7 of itself.
"""
from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

DAY = 86400.0
WEEK = 7 * DAY
DEFAULT_HISTORY = 8 * DAY
DEFAULT_QUANTILE = 0.8
ERROR_WINDOW = DAY
RECENT_ERROR_WINDOW = 3600.0
"""The margin also takes the last hour's errors: a new regime's errors count at once, not after a tenth of a day."""
WARM_UP = 3600.0
MIN_SCORED = 20
SCORE_HALF_LIFE = 3 * 3600.0
UNDER_FORECAST_WEIGHT = 0.8
"""Pinball level of the expert score: an under-forecast costs 0.8 / 0.2 = 4 times an over-forecast."""
LEVEL_WINDOW = 1800.0
"""The seasonal experts' level correction: the change in this window's mean since one season ago."""
LOOKBACK = WEEK + LEVEL_WINDOW
"""The farthest back any expert looks: the weekly one's level one week and half an hour ago."""
SEASON_BLOCK = 1800.0
SEASON_MIN_CORRELATION = 0.5
SEASON_MIN_PAIRS = 20
"""Decayed count of block pairs (at most 1 / (1 - SEASON_DECAY) = 100): about 11 hours of them."""
SEASON_DECAY = 0.99
"""Per half-hour block: the season test remembers about two days of block pairs."""
DOWN_HORIZONS = 2
"""A scale-down must still serve the largest value over this many lead times."""
HOLDING_WINDOW = 10
"""Horizons over which the bounds' misses are counted for `holding`."""
HOLDING_SLACK = 2.0
"""`holding` allows this many times the nominal miss share (1 - quantile)."""
TREND_ALPHA, TREND_BETA, TREND_DAMPING = 0.5, 0.2, 0.98

EXPERT_NAMES = ("last value", "damped trend", "daily seasonal", "weekly seasonal")
LAST, TREND, DAILY, WEEKLY = range(4)
SEASONS = ((DAILY, DAY), (WEEKLY, WEEK))


@dataclass(frozen=True, slots=True)
class Forecast:
    """An upper bound of the metric's value over the next `horizon` seconds, and how it was made."""

    value: float
    """The bound over (now, now + horizon]: `point + margin`."""
    down_value: float
    """The bound over (now, now + 2 × horizon], at least `value` and every bound made within the last horizon (each
    still covers a moment to come): what a scale-down must still serve."""
    point: float
    margin: float
    expert: str
    horizon: float
    error_window: float
    """Seconds of scored predictions the margin was taken from."""
    holding: bool
    """Every bound that came due in the last 2 × horizon covered the value."""


class _Times:
    """Times in ascending order, kept exactly as runs of evenly spaced ones: a time is `first + k × step` of its
    run, and a new run starts whenever that would not give back the time appended bit for bit. A regular series
    (a loaded history, a simulated trace) costs a few numbers instead of 8 bytes a time; an irregular one about 10
    bytes a time. Indexed like the values kept beside it; `drop_front` forgets the oldest ones."""

    __slots__ = ("runs", "start", "first", "step", "offset", "end")

    def __init__(self) -> None:
        self.runs: tuple[array, array, array] | None = None
        """(absolute index of the first time, first time, step) of each run before the last one."""
        self.start, self.first, self.step = 0, math.nan, 0.0
        """The last run's."""
        self.offset = 0
        """The absolute index of index 0: how many were dropped."""
        self.end = 0

    def __len__(self) -> int:
        return self.end - self.offset

    def append(self, time: float) -> None:
        size = self.end - self.start
        if size == 1:
            step = time - self.first
            if self.first + step == time:
                self.step = step
                self.end += 1
                return
        elif size and self.first + size * self.step == time:
            self.end += 1
            return
        if size:
            if self.runs is None:
                self.runs = (array("q"), array("d"), array("d"))
            for column, number in zip(self.runs, (self.start, self.first, self.step)):
                column.append(number)
        self.start, self.first, self.step = self.end, time, 0.0
        self.end += 1

    def __getitem__(self, index: int) -> float:
        absolute = index + (self.offset if index >= 0 else self.end)
        if absolute >= self.start:
            return self.first + (absolute - self.start) * self.step
        starts, firsts, steps = self.runs
        run = bisect_right(starts, absolute) - 1
        return firsts[run] + (absolute - starts[run]) * steps[run]

    def index_after(self, time: float) -> int:
        """The index of the first time after `time` (`bisect_right`)."""
        if time >= self.first:
            start, first, step, end = self.start, self.first, self.step, self.end
        else:
            if self.runs is None:
                return 0
            starts, firsts, steps = self.runs
            run = bisect_right(firsts, time) - 1
            if run < 0:
                return 0
            start, first, step = starts[run], firsts[run], steps[run]
            end = starts[run + 1] if run + 1 < len(starts) else self.start
        size = end - start
        if step > 0:
            # How many of the run are <= time, from the arithmetic, then corrected for its rounding.
            count = int((time - first) // step) + 1
            if count > size:
                count = size
            while count > 1 and first + (count - 1) * step > time:
                count -= 1
            while count < size and first + count * step <= time:
                count += 1
        else:
            count = size
        index = start + count - self.offset
        return index if index > 0 else 0

    def drop_front(self, count: int) -> None:
        self.offset += count
        if self.runs is None:
            return
        starts = self.runs[0]
        if self.offset >= self.start:
            self.runs = None
            return
        gone = bisect_right(starts, self.offset) - 1
        if gone > 0:
            for column in self.runs:
                del column[:gone]


class _Floats:
    """4-byte floats appended at the end and dropped from the front, in a buffer of the size they need and a little
    more (an array's own growth keeps up to 6 % more, and dropping its front moves the rest each time)."""

    __slots__ = ("data", "low", "high")

    def __init__(self) -> None:
        self.data = array("f")
        self.low = self.high = 0

    def __len__(self) -> int:
        return self.high - self.low

    def append(self, value: float) -> None:
        if self.high == len(self.data):
            self._make_room()
        self.data[self.high] = value
        self.high += 1

    def _make_room(self) -> None:
        count = self.high - self.low
        room = max(16, count >> 6)
        if self.low < room:
            data = array("f", [0.0]) * (count + room)
            data[:count] = self.data[self.low:self.high]
            self.data = data
        else:
            self.data[:count] = self.data[self.low:self.high]
        self.low, self.high = 0, count

    def __getitem__(self, index: int) -> float:
        return self.data[(self.low if index >= 0 else self.high) + index]

    def __setitem__(self, index: int, value: float) -> None:
        self.data[(self.low if index >= 0 else self.high) + index] = value

    def between(self, first: int, last: int) -> array:
        return self.data[self.low + first:self.low + last]

    def drop_front(self, count: int) -> None:
        self.low += count


class _ErrorWindow:
    """The signed errors of one expert at one horizon over the `seconds` before the last one added.

    Errors in 4-byte floats (a day of one-minute errors is 1,440 per window and a forecaster has eight windows):
    a quantile of the rounded errors is the rounded quantile, as rounding keeps their order. The quantile is
    taken when asked, from a sorted copy made then (numpy's sort, steadier than its partition when most errors
    are equal, e.g. all 0 between the rows of a 5-minute trace), not from a sorted window kept alongside; the
    last one is remembered with how many errors are below and up to it, so that while one error in and one out
    leave it the quantile, asking again costs no sort.
    """

    __slots__ = ("times", "errors", "seconds", "last_quantile")

    def __init__(self, seconds: float = ERROR_WINDOW) -> None:
        self.times = _Times()
        self.errors = _Floats()
        self.seconds = seconds
        self.last_quantile: tuple[float, float, int, int] | None = None
        """(level, quantile, errors below it, errors up to it) of the whole window, counted as errors come and go."""

    def __len__(self) -> int:
        return len(self.errors)

    def add(self, time: float, error: float) -> None:
        times, errors = self.times, self.errors
        times.append(time)
        errors.append(error)
        expired = times.index_after(time - self.seconds)
        if self.last_quantile is not None:
            level, quantile, below, up_to = self.last_quantile
            rounded = errors[-1]
            below += rounded < quantile
            up_to += rounded <= quantile
            for index in range(expired):
                gone = errors[index]
                below -= gone < quantile
                up_to -= gone <= quantile
            self.last_quantile = (level, quantile, below, up_to)
        if expired:
            times.drop_front(expired)
            errors.drop_front(expired)

    def quantile(self, level: float, *, within: float = math.inf) -> float:
        """The conformal quantile of the errors of the last `within` seconds (of the window): the
        ceil((n + 1) × level)-th smallest (the largest when that is past n)."""
        errors = self.errors
        whole = within >= self.seconds
        first = 0 if whole else self.times.index_after(self.times[-1] - within)
        count = len(errors) - first
        rank = max(min(count, math.ceil((count + 1) * level)) - 1, 0)
        last = self.last_quantile
        if whole and last is not None and last[0] == level and last[2] <= rank < last[3]:
            return last[1]
        # numpy only once a forecast is asked for: its import costs a daemon without `predictive` about 16 MB.
        import numpy

        ordered = numpy.sort(numpy.frombuffer(errors.data, dtype=numpy.float32)[errors.low + first:errors.high])
        quantile = float(ordered[rank])
        if whole:
            self.last_quantile = (level, quantile, bisect_left(ordered, quantile), bisect_right(ordered, quantile))
        return quantile

    def span(self) -> float:
        return self.times[-1] - self.times[0] if len(self) else 0.0


class _BlockRing:
    """The values of the last `SLOTS` half-hour blocks, by block number, set in ascending order (a week and a
    block: the farthest back a block is looked up from the newest). NaN: no value for that block."""

    SLOTS = int(WEEK // SEASON_BLOCK) + 2

    __slots__ = ("values", "newest")

    def __init__(self) -> None:
        self.values = array("d", [math.nan]) * self.SLOTS
        self.newest: int | None = None

    def get(self, block: int) -> float | None:
        if self.newest is None or not self.newest - self.SLOTS < block <= self.newest:
            return None
        value = self.values[block % self.SLOTS]
        return None if math.isnan(value) else value

    def __setitem__(self, block: int, value: float) -> None:
        values, slots = self.values, self.SLOTS
        if self.newest is not None:
            for skipped in range(max(self.newest + 1, block - slots + 1), block):
                values[skipped % slots] = math.nan
        values[block % slots] = value
        self.newest = block


class Forecaster:
    """One metric's forecaster. Feed it with `observe`; ask `forecast()` for the bound as of the last sample."""

    __slots__ = (
        "lead_time", "history", "quantile", "_times", "_values", "_front", "_recent_values", "_recent_sums",
        "_spacing", "_horizon", "_start", "_fresh_since", "_level", "_trend", "_pending", "_errors", "_scores",
        "_weights", "_scored_at", "_last_miss", "_coverage", "_missed", "_last_block_mean", "_block_changes",
        "_season_stats", "_block", "_first_forecast", "_forecast",
    )

    def __init__(self, *, lead_time: float, history: float = DEFAULT_HISTORY, quantile: float = DEFAULT_QUANTILE):
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must be in (0, 1) (got {quantile})")
        self.lead_time = lead_time
        self.history = history
        self.quantile = quantile
        # The samples the seasonal experts look back to (`LOOKBACK`, or `history` if shorter) in 4-byte floats,
        # and exactly, for the means and the scoring, those of the last half hour or so (`_forget_recent`).
        self._times = _Times()
        self._values = _Floats()
        self._front = 0
        """The index of the oldest sample within `history`: those before it are forgotten (and kept only while the
        exact recent values reach further back)."""
        self._recent_values = array("d")
        """The last len(_recent_values) samples' values."""
        self._recent_sums = array("d", [0.0])
        """_recent_sums[i] - _recent_sums[j] is the sum of _recent_values[j:i]: running sums since the first sample."""
        self._spacing = math.inf
        self._horizon = lead_time
        self._start = self._fresh_since = math.nan
        self._level = self._trend = 0.0
        self._pending: tuple[list, list] = ([], [])
        """Per horizon (lead, 2 × lead): (made at, predictions per expert, bound or None) not yet due."""
        self._errors = tuple((_ErrorWindow(), _ErrorWindow()) for _ in EXPERT_NAMES)
        self._scores = [0.0] * len(EXPERT_NAMES)
        self._weights = [0.0] * len(EXPERT_NAMES)
        self._scored_at = math.nan
        self._last_miss = -math.inf
        """When the bounds were last unknowable (a gap)."""
        self._coverage = _Times()
        """When each lead-time bound of the last HOLDING_WINDOW horizons came due, and (`_missed`) whether it missed."""
        self._missed = bytearray()
        self._last_block_mean: tuple[int, float] | None = None
        """(block, mean) of the last half-hour block with samples: a block's change is from the one before."""
        self._block_changes = _BlockRing()
        self._season_stats = {season: [0.0] * 6 for _, season in SEASONS}
        """Decayed (n, Σx, Σy, Σxy, Σx², Σy²) of (half-hour change, the change one season earlier)."""
        self._block: int | None = None
        self._first_forecast = math.nan
        self._forecast: Forecast | None = None

    @classmethod
    def from_series(cls, times: Iterable[float], values: Iterable[float], **settings) -> Forecaster:
        """A forecaster fed a whole history at once (e.g. a Prometheus `query_range` answer)."""
        forecaster = cls(**settings)
        for time, value in zip(times, values):
            forecaster.observe(time, value)
        return forecaster

    # --- feeding -----------------------------------------------------------------------------------------------

    def observe(self, time: float, value: float) -> None:
        """Add the sample (time, value); times must not go backwards. A non-finite value is a gap, not a zero."""
        times = self._times
        if not math.isfinite(value):
            return
        if times:
            spacing = time - times[-1]
            if spacing < 0:
                raise ValueError(f"sample time {time} is before the previous sample's {times[-1]}")
            if spacing == 0:
                self._values[-1] = self._recent_values[-1] = value
                self._recent_sums[-1] = self._recent_sums[-2] + value
                self._forecast = None
                return
            if spacing > max(self.lead_time, 3 * self._spacing):
                self._restart_after_gap(time)
            else:
                self._spacing = min(self._spacing, spacing)
                self._horizon = max(self.lead_time, self._spacing)
        else:
            self._start = self._fresh_since = time
        times.append(time)
        self._values.append(value)
        self._recent_values.append(value)
        self._recent_sums.append(self._recent_sums[-1] + value)
        self._update_trend(time, value)
        self._score_due(time)
        self._test_seasons(time)
        self._forget(time)
        self._forecast = self._make_forecast(time, value)
        self._forget_recent(time)

    def forecast(self) -> Forecast | None:
        """The bound as of the last sample; None while the history is too short (decide as without predictive)."""
        return self._forecast

    def _restart_after_gap(self, time: float) -> None:
        for pending in self._pending:
            pending.clear()
        self._fresh_since = time
        self._last_miss = time
        self._level = self._trend = 0.0

    def _update_trend(self, time: float, value: float) -> None:
        if self._fresh_since == time:
            self._level, self._trend = value, 0.0
            return
        previous_level = self._level
        self._level = TREND_ALPHA * value + (1 - TREND_ALPHA) * (previous_level + TREND_DAMPING * self._trend)
        self._trend = TREND_BETA * (self._level - previous_level) + (1 - TREND_BETA) * TREND_DAMPING * self._trend

    def _forget(self, time: float) -> None:
        """Forget the samples older than `history` (or than `LOOKBACK`, which no expert looks past)."""
        times = self._times
        front = times.index_after(time - min(self.history, LOOKBACK))
        drop = min(front, len(times) - len(self._recent_values))
        if drop:
            self._values.drop_front(drop)
            times.drop_front(drop)
        self._front = front - drop

    def _forget_recent(self, time: float) -> None:
        """Keep exact values for what the next sample reads: the half-hour means up to it and the last block,
        and the values its due predictions are scored against."""
        span = max(LEVEL_WINDOW, DOWN_HORIZONS * self._horizon + max(self.lead_time, 3 * self._spacing))
        keep = len(self._times) - self._times.index_after(time - span)
        drop = len(self._recent_values) - keep
        if drop > 0:
            del self._recent_values[:drop], self._recent_sums[:drop]

    # --- scoring -------------------------------------------------------------------------------------------------

    def _score_due(self, time: float) -> None:
        times, values = self._times, self._recent_values
        base = len(times) - len(values)
        late = max(self.lead_time, 3 * self._spacing)
        for horizon_index, horizon in enumerate((self._horizon, DOWN_HORIZONS * self._horizon)):
            pending = self._pending[horizon_index]
            while pending and pending[0][0] + horizon <= time + 1e-6:
                made_at, predictions, bound = pending.pop(0)
                if time - (made_at + horizon) > late:
                    continue
                first = times.index_after(made_at) - base
                last = times.index_after(made_at + horizon + 1e-6) - base
                if last <= first:
                    continue
                # Upwards only the value when the lead time is up matters (earlier steps have their own new
                # replicas coming); a removal acts at once, so the longer horizon must cover every value in it.
                actual = values[last - 1] if horizon_index == 0 else max(values[first:last])
                for expert, predicted in enumerate(predictions):
                    if predicted is None:
                        continue
                    error = actual - predicted
                    self._errors[expert][horizon_index].add(time, error)
                    if horizon_index == 0:
                        self._add_score(expert, error, time)
                if horizon_index == 0 and bound is not None:
                    missed = actual > bound + 1e-9
                    self._coverage.append(time)
                    self._missed.append(missed)
        expired = self._coverage.index_after(time - HOLDING_WINDOW * self._horizon)
        if expired:
            del self._missed[:expired]
            self._coverage.drop_front(expired)

    def _add_score(self, expert: int, error: float, time: float) -> None:
        loss = UNDER_FORECAST_WEIGHT * error if error > 0 else (UNDER_FORECAST_WEIGHT - 1) * error
        if self._scored_at != time:
            if self._scored_at == self._scored_at:  # not NaN: decay everything by the time since the last score
                decay = 0.5 ** ((time - self._scored_at) / SCORE_HALF_LIFE)
                self._scores = [score * decay for score in self._scores]
                self._weights = [weight * decay for weight in self._weights]
            self._scored_at = time
        self._scores[expert] += loss
        self._weights[expert] += 1.0

    def _test_seasons(self, time: float) -> None:
        """At each new half-hour block: correlate the last block's change with the change one season earlier."""
        block = int(time // SEASON_BLOCK)
        if block == self._block:
            return
        previous, self._block = self._block, block
        if previous is None:
            return
        completed = self._mean(previous * SEASON_BLOCK, (previous + 1) * SEASON_BLOCK)
        if completed is None:
            return
        last, self._last_block_mean = self._last_block_mean, (previous, completed)
        if last is None or last[0] != previous - 1:
            return
        before = last[1]
        change = self._block_changes[previous] = completed - before
        remembered = int((self.history + SEASON_BLOCK) // SEASON_BLOCK) + 2  # blocks back that `history` covers
        for _, season in SEASONS:
            lag = int(season // SEASON_BLOCK)
            earlier = self._block_changes.get(previous - lag) if lag <= remembered else None
            if earlier is None:
                continue
            stats = self._season_stats[season]
            for index in range(6):
                stats[index] *= SEASON_DECAY
            stats[0] += 1
            stats[1] += change
            stats[2] += earlier
            stats[3] += change * earlier
            stats[4] += change * change
            stats[5] += earlier * earlier

    def season_present(self, season: float) -> bool:
        """The half-hour changes of the series correlate (>= 0.5) with those one season earlier."""
        n, sum_x, sum_y, sum_xy, sum_xx, sum_yy = self._season_stats[season]
        if n < SEASON_MIN_PAIRS:
            return False
        covariance = sum_xy / n - (sum_x / n) * (sum_y / n)
        variance_x = sum_xx / n - (sum_x / n) ** 2
        variance_y = sum_yy / n - (sum_y / n) ** 2
        if variance_x <= 0 or variance_y <= 0:
            return False
        return covariance / math.sqrt(variance_x * variance_y) >= SEASON_MIN_CORRELATION

    def _holding(self, time: float) -> bool:
        """The bounds have covered the value at (about) their nominal rate over the last HOLDING_WINDOW horizons."""
        if time - max(self._last_miss, self._first_forecast) < HOLDING_WINDOW * self._horizon / 2:
            return False
        return self._missed.count(1) <= HOLDING_SLACK * (1 - self.quantile) * len(self._missed)

    # --- forecasting ---------------------------------------------------------------------------------------------

    def _mean(self, start: float, end: float) -> float | None:
        """The mean of the recent samples in (start, end], or None when there is none."""
        times = self._times
        base = len(times) - len(self._recent_values)
        first, last = times.index_after(start) - base, times.index_after(end) - base
        if last <= first:
            return None
        return (self._recent_sums[last] - self._recent_sums[first]) / (last - first)

    def _seasonal(self, time: float, season: float, horizons: tuple[float, float]) -> tuple[float, float] | None:
        """The largest values one season ago over both horizons, moved by the level change since then."""
        times, values = self._times, self._values
        then = time - season
        first = times.index_after(then)
        if first <= self._front or times[first] - then > max(self.lead_time, 3 * self._spacing):
            return None
        now_level = self._mean(time - LEVEL_WINDOW, time)
        level_start = max(times.index_after(then - LEVEL_WINDOW), self._front)
        if now_level is None or first <= level_start:
            return None
        correction = now_level - math.fsum(values.between(level_start, first)) / (first - level_start)
        short_end = times.index_after(then + horizons[0] + 1e-6)
        long_end = times.index_after(then + horizons[1] + 1e-6)
        short = values[max(short_end, first + 1) - 1]
        long = max(values.between(first, max(long_end, first + 1)))
        return short + correction, long + correction

    def _predictions(self, time: float, value: float) -> tuple[list, list]:
        horizon = self._horizon
        spacing = self._spacing if math.isfinite(self._spacing) else horizon
        short: list[float | None] = [value, None, None, None]
        long: list[float | None] = [value, None, None, None]
        if time > self._fresh_since:
            level, trend = self._level, self._trend
            steps = max(1, round(horizon / spacing))
            rise = trend * TREND_DAMPING * (1 - TREND_DAMPING ** steps) / (1 - TREND_DAMPING)
            long_rise = trend * TREND_DAMPING * (1 - TREND_DAMPING ** (DOWN_HORIZONS * steps)) / (1 - TREND_DAMPING)
            short[TREND], long[TREND] = level + rise, max(level, level + long_rise)
        for expert, season in SEASONS:
            if time - self._start >= season + LEVEL_WINDOW and self.season_present(season):
                seasonal = self._seasonal(time, season, (horizon, DOWN_HORIZONS * horizon))
                if seasonal is not None:
                    short[expert], long[expert] = seasonal
        return short, long

    def _make_forecast(self, time: float, value: float) -> Forecast | None:
        short, long = self._predictions(time, value)
        chosen = None
        if time - self._start >= min(WARM_UP, self.history) and time - self._fresh_since >= self._horizon:
            best = math.inf
            for expert, predicted in enumerate(short):
                if predicted is None or len(self._errors[expert][0]) < MIN_SCORED:
                    continue
                score = self._scores[expert] / self._weights[expert] if self._weights[expert] else math.inf
                if score < best:
                    best, chosen = score, expert
        forecast = None
        bound = None
        if chosen is not None:
            if self._first_forecast != self._first_forecast:
                self._first_forecast = time
            short_errors, long_errors = self._errors[chosen]
            margin = max(0.0, short_errors.quantile(self.quantile),
                         short_errors.quantile(self.quantile, within=RECENT_ERROR_WINDOW))
            long_margin = max(0.0, long_errors.quantile(self.quantile)) if len(long_errors) else margin
            bound = short[chosen] + margin
            # The bounds not yet due were made for moments still to come: a removal now must serve them too.
            standing = max((made[2] for made in self._pending[0] if made[2] is not None), default=bound)
            forecast = Forecast(
                value=bound,
                down_value=max(bound, long[chosen] + long_margin, standing),
                point=short[chosen],
                margin=margin,
                expert=EXPERT_NAMES[chosen],
                horizon=self._horizon,
                error_window=short_errors.span(),
                holding=self._holding(time),
            )
        self._pending[0].append((time, short, bound))
        self._pending[1].append((time, long, None))
        return forecast
