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
  acts at once, and what replaces it takes a lead time to serve).
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
"""
from __future__ import annotations

import math
from array import array
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

DAY = 86400.0
WEEK = 7 * DAY
DEFAULT_HISTORY = 8 * DAY
DEFAULT_QUANTILE = 0.8
ERROR_WINDOW = DAY
RECENT_ERROR_WINDOW = 3600.0
WARM_UP = 3600.0
MIN_SCORED = 20
SCORE_HALF_LIFE = 3 * 3600.0
UNDER_FORECAST_WEIGHT = 0.8
"""Pinball level of the expert score: an under-forecast costs 0.8 / 0.2 = 4 times an over-forecast."""
LEVEL_WINDOW = 1800.0
"""The seasonal experts' level correction: the change in this window's mean since one season ago."""
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
    """The bound over (now, now + 2 × horizon], at least `value`: what a scale-down must still serve."""
    point: float
    margin: float
    expert: str
    horizon: float
    error_window: float
    """Seconds of scored predictions the margin was taken from."""
    holding: bool
    """Every bound that came due in the last 2 × horizon covered the value."""


class _ErrorWindow:
    """The signed errors of one expert at one horizon over the last `seconds`, kept sorted.

    Stored in arrays of doubles (8 bytes a value, a Python float in a list costs 32): a day of one-minute errors
    is 1,440 of them per window, and a forecaster has ten windows. `times`/`errors` hold the window in arrival
    order from `first` on; the expired front is cut off in batches.
    """

    __slots__ = ("times", "errors", "first", "ordered", "seconds")

    def __init__(self, seconds: float = ERROR_WINDOW) -> None:
        self.times = array("d")
        self.errors = array("d")
        self.first = 0
        self.ordered = array("d")
        self.seconds = seconds

    def add(self, time: float, error: float) -> None:
        self.times.append(time)
        self.errors.append(error)
        insort(self.ordered, error)
        cutoff = time - self.seconds
        times, errors, ordered = self.times, self.errors, self.ordered
        first = self.first
        while times[first] <= cutoff:
            del ordered[bisect_right(ordered, errors[first]) - 1]
            first += 1
        if first >= 256:
            del times[:first], errors[:first]
            first = 0
        self.first = first

    def quantile(self, level: float) -> float:
        """The conformal quantile: the ceil((n + 1) × level)-th smallest error (the largest when that is past n)."""
        ordered = self.ordered
        index = min(len(ordered), math.ceil((len(ordered) + 1) * level)) - 1
        return ordered[max(index, 0)]

    def span(self) -> float:
        return self.times[-1] - self.times[self.first] if len(self.times) > self.first else 0.0


class _BlockRing:
    """Half-hour block number -> value, like a dict, in two arrays: a block is looked up at most a week back from
    the newest one set (blocks are set in ascending order), so `LOOKBACK` slots hold every block ever asked for."""

    LOOKBACK = int(WEEK // SEASON_BLOCK) + 2
    EMPTY = -(2**63)

    __slots__ = ("blocks", "values")

    def __init__(self) -> None:
        self.blocks = array("q", [self.EMPTY]) * self.LOOKBACK
        self.values = array("d", [0.0]) * self.LOOKBACK

    def get(self, block: int) -> float | None:
        slot = block % self.LOOKBACK
        return self.values[slot] if self.blocks[slot] == block else None

    def __setitem__(self, block: int, value: float) -> None:
        slot = block % self.LOOKBACK
        self.blocks[slot] = block
        self.values[slot] = value

    def pop(self, block: int) -> None:
        slot = block % self.LOOKBACK
        if self.blocks[slot] == block:
            self.blocks[slot] = self.EMPTY


class Forecaster:
    """One metric's forecaster. Feed it with `observe`; ask `forecast()` for the bound as of the last sample."""

    def __init__(self, *, lead_time: float, history: float = DEFAULT_HISTORY, quantile: float = DEFAULT_QUANTILE):
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must be in (0, 1) (got {quantile})")
        self.lead_time = lead_time
        self.history = history
        self.quantile = quantile
        # Arrays of doubles, not lists of floats: 8 days of one-minute samples are 11,520 of each.
        self._times = array("d")
        self._values = array("d")
        self._sums = array("d", [0.0])
        """_sums[i] - _sums[j] is the sum of _values[j:i]."""
        self._spacing = math.inf
        self._horizon = lead_time
        self._start = self._fresh_since = math.nan
        self._level = self._trend = 0.0
        self._pending: tuple[deque, deque] = (deque(), deque())
        """Per horizon (lead, 2 × lead): (made at, predictions per expert, bound or None) not yet due."""
        self._errors = tuple((_ErrorWindow(), _ErrorWindow()) for _ in EXPERT_NAMES)
        self._recent_errors = tuple(_ErrorWindow(RECENT_ERROR_WINDOW) for _ in EXPERT_NAMES)
        """The lead-time errors of the last hour: a new regime's errors count at once, not after a tenth of a day."""
        self._scores = [0.0] * len(EXPERT_NAMES)
        self._weights = [0.0] * len(EXPERT_NAMES)
        self._scored_at = math.nan
        self._last_miss = -math.inf
        """When the bounds were last unknowable (a gap)."""
        self._coverage: deque[tuple[float, bool]] = deque()
        """(time due, missed) of the lead-time bounds that came due in the last HOLDING_WINDOW horizons."""
        self._misses = 0
        self._block_means = _BlockRing()
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
                self._values[-1] = value
                self._sums[-1] = self._sums[-2] + value
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
        self._sums.append(self._sums[-1] + value)
        self._update_trend(value)
        self._score_due(time)
        self._test_seasons(time)
        self._trim(time)
        self._forecast = self._make_forecast(time, value)

    def forecast(self) -> Forecast | None:
        """The bound as of the last sample; None while the history is too short (decide as without predictive)."""
        return self._forecast

    def _restart_after_gap(self, time: float) -> None:
        for pending in self._pending:
            pending.clear()
        self._fresh_since = time
        self._last_miss = time
        self._level = self._trend = 0.0

    def _update_trend(self, value: float) -> None:
        if len(self._values) < 2 or self._fresh_since == self._times[-1]:
            self._level, self._trend = value, 0.0
            return
        previous_level = self._level
        self._level = TREND_ALPHA * value + (1 - TREND_ALPHA) * (previous_level + TREND_DAMPING * self._trend)
        self._trend = TREND_BETA * (self._level - previous_level) + (1 - TREND_BETA) * TREND_DAMPING * self._trend

    def _trim(self, time: float) -> None:
        """Forget samples older than `history`, in batches (an array's front is costly to drop one at a time)."""
        times = self._times
        drop = bisect_right(times, time - self.history)
        if drop > 1024 and drop * 4 > len(times):
            del times[:drop], self._values[:drop], self._sums[:drop]

    # --- scoring -------------------------------------------------------------------------------------------------

    def _score_due(self, time: float) -> None:
        times, values = self._times, self._values
        late = max(self.lead_time, 3 * self._spacing)
        for horizon_index, horizon in enumerate((self._horizon, DOWN_HORIZONS * self._horizon)):
            pending = self._pending[horizon_index]
            while pending and pending[0][0] + horizon <= time + 1e-6:
                made_at, predictions, bound = pending.popleft()
                if time - (made_at + horizon) > late:
                    continue
                first = bisect_right(times, made_at)
                last = bisect_right(times, made_at + horizon + 1e-6)
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
                        self._recent_errors[expert].add(time, error)
                        self._add_score(expert, error, time)
                if horizon_index == 0 and bound is not None:
                    missed = actual > bound + 1e-9
                    self._coverage.append((time, missed))
                    self._misses += missed
        coverage, cutoff = self._coverage, time - HOLDING_WINDOW * self._horizon
        while coverage and coverage[0][0] <= cutoff:
            self._misses -= coverage.popleft()[1]

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
        self._block_means[previous] = completed
        before = self._block_means.get(previous - 1)
        if before is None:
            return
        change = self._block_changes[previous] = completed - before
        for _, season in SEASONS:
            earlier = self._block_changes.get(previous - int(season // SEASON_BLOCK))
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
        oldest = previous - int((self.history + SEASON_BLOCK) // SEASON_BLOCK) - 2
        self._block_means.pop(oldest)
        self._block_changes.pop(oldest)

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
        return self._misses <= HOLDING_SLACK * (1 - self.quantile) * len(self._coverage)

    # --- forecasting ---------------------------------------------------------------------------------------------

    def _mean(self, start: float, end: float) -> float | None:
        """The mean of the samples in (start, end], or None when there is none."""
        times = self._times
        first, last = bisect_right(times, start), bisect_right(times, end)
        if last <= first:
            return None
        return (self._sums[last] - self._sums[first]) / (last - first)

    def _seasonal(self, time: float, season: float, horizons: tuple[float, float]) -> tuple[float, float] | None:
        """The largest values one season ago over both horizons, moved by the level change since then."""
        times, values = self._times, self._values
        then = time - season
        first = bisect_right(times, then)
        if first == 0 or first >= len(times) or times[first] - then > max(self.lead_time, 3 * self._spacing):
            return None
        now_level = self._mean(time - LEVEL_WINDOW, time)
        then_level = self._mean(then - LEVEL_WINDOW, then)
        if now_level is None or then_level is None:
            return None
        correction = now_level - then_level
        short_end = bisect_right(times, then + horizons[0] + 1e-6)
        long_end = bisect_right(times, then + horizons[1] + 1e-6)
        short = values[max(short_end, first + 1) - 1]
        long = max(values[first:max(long_end, first + 1)])
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
                if predicted is None or len(self._errors[expert][0].ordered) < MIN_SCORED:
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
            margin = max(0.0, short_errors.quantile(self.quantile), self._recent_errors[chosen].quantile(self.quantile))
            long_margin = max(0.0, long_errors.quantile(self.quantile)) if long_errors.ordered else margin
            bound = short[chosen] + margin
            forecast = Forecast(
                value=bound,
                down_value=max(bound, long[chosen] + long_margin),
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
