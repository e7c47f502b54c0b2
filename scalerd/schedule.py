"""The schedule's proposal at an instant: daily entries and cron windows, read in the target's timezone.

Wall-clock times become instants with one rule, so both forms behave alike across DST changes:
- a time that does not exist (skipped by a spring-forward) takes effect when the clock jumps past it,
  i.e. at the first existing minute after it (02:30 on a Europe/Berlin spring-forward day → 03:00 CEST);
- a time that exists twice (repeated by a fall-back) takes effect once, at its first occurrence.
This mapping from wall time to instant never goes backwards, so "the latest entry at or before now" is
well defined.

Daily (seed) form: the active entry is the one whose latest activation is at or before now; before today's
first entry, yesterday's last entry is still active (midnight wrap). Cron form: a window opens at each match
and lasts `duration`; it is active while now < match + duration (only the latest match can still be open,
since every window of an entry has the same length). The proposal is the maximum over active entries, None
when nothing is active.

Each schedule keeps cursors (the active daily entry and each cron entry's latest match, with the instant
until which they hold), because the simulator asks about consecutive instants tens of thousands of times.
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from croniter import croniter

from scalerd.config.model import CronWindow, DailyEntry, ScheduleEntry

_MINUTE = timedelta(minutes=1)
_LONGEST_DST_GAP_MINUTES = 180


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def wall_time_instant(naive: datetime, tz: ZoneInfo) -> float:
    """Unix seconds at which the wall-clock time `naive` takes effect in `tz` (see the module docstring)."""
    for _ in range(_LONGEST_DST_GAP_MINUTES):
        aware = naive.replace(tzinfo=tz, fold=0)
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
            return aware.timestamp()
        naive += _MINUTE
    raise ValueError(f"no existing wall time within {_LONGEST_DST_GAP_MINUTES} minutes of {naive} in {tz.key}")


def _daily_activations(entries: tuple[DailyEntry, ...], tz: ZoneInfo, day: date) -> tuple[list[float], list[int]]:
    """Activation instants (ascending) and replicas of the entries of the day before `day`, `day` and the day after."""
    activations = []
    for activation_day in (day - timedelta(days=1), day, day + timedelta(days=1)):
        for entry in entries:
            naive = datetime.combine(activation_day, time(entry.minute_of_day // 60, entry.minute_of_day % 60))
            # Two skipped times share one instant: the later wall time wins, so it sorts last.
            activations.append((wall_time_instant(naive, tz), naive, entry.replicas))
    activations.sort()
    return [instant for instant, _, _ in activations], [replicas for _, _, replicas in activations]


class _DailyCursor:
    """The active daily entry, and the instants between which it stays active."""

    __slots__ = ("entries", "span", "tz")

    def __init__(self, entries: tuple[DailyEntry, ...], tz: ZoneInfo):
        self.entries = entries
        self.tz = tz
        # (since, until, replicas) in one attribute, so a reader in another thread never sees half an update.
        self.span = (float("inf"), float("-inf"), 0)

    def replicas_at(self, now: float) -> int:
        since, until, replicas = self.span
        if not (since <= now < until):
            since, until, replicas = self.span = self._seek(now)
        return replicas

    def _seek(self, now: float) -> tuple[float, float, int]:
        local_day = datetime.fromtimestamp(now, self.tz).date()
        instants, replicas = _daily_activations(self.entries, self.tz, local_day)
        # Yesterday's entries are all at or before now and tomorrow's all after it, so both indexes exist.
        index = bisect.bisect_right(instants, now) - 1
        return instants[index], instants[index + 1], replicas[index]


class _CronCursor:
    """The latest match at or before some instant, and the next match after it (when the answer changes)."""

    __slots__ = ("expression", "span", "tz")

    def __init__(self, expression: str, tz: ZoneInfo):
        self.expression = expression
        self.tz = tz
        # (match, next match) in one attribute, so a reader in another thread never sees half an update.
        self.span = (float("inf"), float("-inf"))

    def latest_match(self, now: float) -> float:
        match, next_match = self.span
        if not (match <= now < next_match):
            match, next_match = self.span = self._seek(now)
        return match

    def _seek(self, now: float) -> tuple[float, float]:
        local = datetime.fromtimestamp(now, self.tz).replace(tzinfo=None)
        # Matches fall on whole minutes: the latest at or before `local` is the latest before the next minute.
        after_local = local.replace(second=0, microsecond=0) + _MINUTE
        match = croniter(self.expression, after_local).get_prev(datetime)
        upcoming = croniter(self.expression, match)
        next_match = upcoming.get_next(datetime)
        # Inside a fall-back's repeated hour the wall clock reads earlier than matches already passed.
        while wall_time_instant(next_match, self.tz) <= now:
            match = next_match
            next_match = upcoming.get_next(datetime)
        return wall_time_instant(match, self.tz), wall_time_instant(next_match, self.tz)


class _ScheduleCursor:
    """One target's schedule in one timezone, with a cursor per form so that consecutive instants are cheap."""

    __slots__ = ("daily", "windows")

    def __init__(self, schedule: tuple[ScheduleEntry, ...], tz: ZoneInfo):
        daily = tuple(entry for entry in schedule if isinstance(entry, DailyEntry))
        self.daily = _DailyCursor(daily, tz) if daily else None
        self.windows = [
            (_CronCursor(entry.cron, tz), entry.duration, entry.replicas)
            for entry in schedule
            if isinstance(entry, CronWindow)
        ]

    def proposal_at(self, now: float) -> int | None:
        proposal = None if self.daily is None else self.daily.replicas_at(now)
        for cursor, duration, replicas in self.windows:
            if now < cursor.latest_match(now) + duration and (proposal is None or replicas > proposal):
                proposal = replicas
        return proposal


_cursors: dict[tuple[int, str], tuple[tuple[ScheduleEntry, ...], _ScheduleCursor]] = {}


def _cursor(schedule: tuple[ScheduleEntry, ...], timezone: str) -> _ScheduleCursor:
    """The schedule's cursor, cached by identity: a config's schedule tuple lives as long as the config."""
    cached = _cursors.get((id(schedule), timezone))
    if cached is None or cached[0] is not schedule:
        if len(_cursors) > 4096:
            _cursors.clear()
        cached = _cursors[(id(schedule), timezone)] = (schedule, _ScheduleCursor(schedule, zone(timezone)))
    return cached[1]


def active_schedule_proposal(schedule: Sequence[ScheduleEntry], wall_time: datetime, timezone: str) -> int | None:
    """The largest `replicas` among the schedule entries active at `wall_time` (aware), None when none is."""
    if not schedule:
        return None
    entries = schedule if isinstance(schedule, tuple) else tuple(schedule)
    return _cursor(entries, timezone).proposal_at(wall_time.timestamp())
