"""Schedules: daily entries with the midnight wrap, cron windows, both across DST changes."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalerd.config.model import CronWindow, DailyEntry
from scalerd.schedule import active_schedule_proposal, wall_time_instant

SEED = (DailyEntry(22 * 60, 2), DailyEntry(9 * 60, 10))
NIGHT_SHIFT = (DailyEntry(22 * 60, 2), DailyEntry(9 * 60, 10), DailyEntry(2 * 60 + 30, 5))


def local(text: str, zone: str, *, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        pytest.param("2026-06-10T00:00", 2, id="midnight-wraps-to-yesterdays-last-entry"),
        pytest.param("2026-06-10T08:59", 2, id="just-before-first-entry"),
        pytest.param("2026-06-10T09:00", 10, id="at-entry-time-inclusive"),
        pytest.param("2026-06-10T21:59:59", 10, id="just-before-evening"),
        pytest.param("2026-06-10T22:00", 2, id="evening-entry"),
        pytest.param("2026-06-10T23:59", 2, id="before-midnight"),
    ],
)
def test_seed_form_latest_entry_at_or_before_now(when, expected):
    assert active_schedule_proposal(SEED, local(when, "UTC"), "UTC") == expected


def test_entries_need_not_be_sorted_in_the_config():
    assert active_schedule_proposal(tuple(reversed(NIGHT_SHIFT)), local("2026-06-10T03:00", "UTC"), "UTC") == 5


def test_schedule_reads_the_targets_timezone_not_the_instants():
    instant = datetime(2026, 6, 10, 7, 30, tzinfo=UTC)  # 09:30 in Berlin (CEST), 03:30 in New York
    assert active_schedule_proposal(SEED, instant, "Europe/Berlin") == 10
    assert active_schedule_proposal(SEED, instant, "America/New_York") == 2


@pytest.mark.parametrize(
    ("when", "zone", "fold", "expected"),
    [
        # Europe/Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        pytest.param("2026-03-29T01:59", "Europe/Berlin", 0, 2, id="berlin-spring-before-gap"),
        pytest.param("2026-03-29T03:00", "Europe/Berlin", 0, 5, id="berlin-spring-skipped-0230-takes-effect-at-0300"),
        # Europe/Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:00-02:59 happen twice.
        pytest.param("2026-10-25T02:10", "Europe/Berlin", 0, 2, id="berlin-fall-first-0210-before-0230"),
        pytest.param("2026-10-25T02:30", "Europe/Berlin", 0, 5, id="berlin-fall-first-0230"),
        pytest.param("2026-10-25T02:10", "Europe/Berlin", 1, 5, id="berlin-fall-repeated-0210-keeps-0230-entry"),
        # America/New_York 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        pytest.param("2026-03-08T01:59", "America/New_York", 0, 2, id="new-york-spring-before-gap"),
        pytest.param("2026-03-08T03:00", "America/New_York", 0, 5, id="new-york-spring-at-jump"),
        # America/New_York 2026-11-01: 02:00 EDT falls back to 01:00 EST.
        pytest.param("2026-11-01T01:30", "America/New_York", 1, 2, id="new-york-fall-repeated-hour"),
        pytest.param("2026-11-01T02:30", "America/New_York", 0, 5, id="new-york-fall-after"),
        pytest.param("2026-11-01T08:59", "America/New_York", 0, 5, id="new-york-fall-before-0900"),
        pytest.param("2026-11-01T09:00", "America/New_York", 0, 10, id="new-york-fall-0900-wall-clock"),
    ],
)
def test_seed_form_across_dst(when, zone, fold, expected):
    assert active_schedule_proposal(NIGHT_SHIFT, local(when, zone, fold=fold), zone) == expected


def test_daily_entry_follows_the_wall_clock_across_dst():
    """09:00 every day stays 09:00 local, so its UTC instant moves by the DST offset."""
    before = local("2026-03-28T09:00", "Europe/Berlin")
    after = local("2026-03-30T09:00", "Europe/Berlin")
    assert active_schedule_proposal(SEED, before, "Europe/Berlin") == 10
    assert active_schedule_proposal(SEED, after, "Europe/Berlin") == 10
    assert active_schedule_proposal(SEED, after - timedelta(seconds=1), "Europe/Berlin") == 2
    assert before.astimezone(UTC).hour == 8 and after.astimezone(UTC).hour == 7


WEEKDAY_NOON = (CronWindow("0 12 * * 1-5", 7200.0, 15),)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        pytest.param("2026-06-10T11:59", None, id="wednesday-before-window"),
        pytest.param("2026-06-10T12:00", 15, id="window-opens-at-match"),
        pytest.param("2026-06-10T13:59:59", 15, id="last-second-of-window"),
        pytest.param("2026-06-10T14:00", None, id="window-closes-after-duration"),
        pytest.param("2026-06-13T12:30", None, id="saturday-no-match"),
        pytest.param("2026-06-15T12:30", 15, id="monday-again"),
    ],
)
def test_cron_window_is_active_for_duration_after_each_match(when, expected):
    assert active_schedule_proposal(WEEKDAY_NOON, local(when, "Europe/Berlin"), "Europe/Berlin") == expected


def test_daily_and_cron_entries_merge_by_max():
    schedule = SEED + WEEKDAY_NOON
    assert active_schedule_proposal(schedule, local("2026-06-10T12:30", "UTC"), "UTC") == 15
    assert active_schedule_proposal(schedule, local("2026-06-10T14:30", "UTC"), "UTC") == 10
    low_window = SEED + (CronWindow("0 12 * * *", 3600.0, 4),)
    assert active_schedule_proposal(low_window, local("2026-06-10T12:30", "UTC"), "UTC") == 10


def test_window_longer_than_its_interval_stays_open_across_matches():
    every_hour_for_90_minutes = (CronWindow("0 * * * *", 5400.0, 3),)
    for minute in range(0, 24 * 60, 7):
        when = datetime(2026, 6, 10, tzinfo=UTC) + timedelta(minutes=minute)
        assert active_schedule_proposal(every_hour_for_90_minutes, when, "UTC") == 3


@pytest.mark.parametrize(
    ("when", "fold", "expected"),
    [
        pytest.param("2026-03-29T03:00", 0, 7, id="skipped-0230-match-opens-at-0300-cest"),
        pytest.param("2026-03-29T03:09", 0, 7, id="skipped-match-window-runs-10-minutes"),
        pytest.param("2026-03-29T03:10", 0, None, id="skipped-match-window-closed"),
        pytest.param("2026-10-25T02:35", 0, 7, id="fall-back-first-0230-matches"),
        pytest.param("2026-10-25T02:35", 1, None, id="fall-back-repeated-0230-does-not-match-again"),
        pytest.param("2026-10-26T02:35", 0, 7, id="day-after-fall-back-normal"),
    ],
)
def test_cron_window_across_dst_in_berlin(when, fold, expected):
    schedule = (CronWindow("30 2 * * *", 600.0, 7),)
    assert active_schedule_proposal(schedule, local(when, "Europe/Berlin", fold=fold), "Europe/Berlin") == expected


def test_cron_in_new_york_fires_at_local_time_on_both_sides_of_dst():
    schedule = (CronWindow("0 9 * * *", 60.0, 6),)
    for day in ("2026-03-07", "2026-03-09", "2026-10-31", "2026-11-02"):
        opening = local(f"{day}T09:00", "America/New_York")
        assert active_schedule_proposal(schedule, opening, "America/New_York") == 6
        assert active_schedule_proposal(schedule, opening - timedelta(seconds=1), "America/New_York") is None


def test_repeated_queries_over_a_week_agree_with_fresh_lookups():
    """The cursor cache must not change answers when time moves forward in small steps or jumps back."""
    schedule = (CronWindow("*/20 8-17 * * 1-5", 300.0, 9),)
    start = datetime(2026, 3, 27, tzinfo=UTC)
    stepped = [active_schedule_proposal(schedule, start + timedelta(seconds=s), "Europe/Berlin")
               for s in range(0, 7 * 86400, 173)]
    backwards = [active_schedule_proposal(schedule, start + timedelta(seconds=s), "Europe/Berlin")
                 for s in reversed(range(0, 7 * 86400, 173))]
    assert stepped == list(reversed(backwards))
    assert stepped.count(9) > 0 and stepped.count(None) > stepped.count(9)


def test_empty_schedule_proposes_nothing():
    assert active_schedule_proposal((), datetime(2026, 6, 10, tzinfo=UTC), "UTC") is None


@pytest.mark.parametrize(
    ("naive", "zone", "expected_utc"),
    [
        pytest.param("2026-03-29T02:30", "Europe/Berlin", "2026-03-29T01:00", id="gap-maps-to-the-jump"),
        pytest.param("2026-10-25T02:30", "Europe/Berlin", "2026-10-25T00:30", id="repeated-maps-to-first"),
        pytest.param("2026-06-10T12:00", "Europe/Berlin", "2026-06-10T10:00", id="ordinary-time"),
    ],
)
def test_wall_time_instant(naive, zone, expected_utc):
    expected = datetime.fromisoformat(expected_utc).replace(tzinfo=UTC).timestamp()
    assert wall_time_instant(datetime.fromisoformat(naive), ZoneInfo(zone)) == expected


daily_entries = st.lists(
    st.builds(DailyEntry, minute_of_day=st.integers(min_value=0, max_value=1439), replicas=st.integers(0, 50)),
    min_size=1, max_size=6, unique_by=lambda entry: entry.minute_of_day,
).map(tuple)
instants = st.integers(min_value=1_767_225_600, max_value=1_798_761_599)  # the year 2026, in Unix seconds


@settings(max_examples=200, deadline=None)
@given(entries=daily_entries, instant=instants)
def test_daily_entries_in_utc_match_the_plain_minute_of_day_rule(entries, instant):
    when = datetime.fromtimestamp(instant, UTC)
    minute = when.hour * 60 + when.minute
    earlier = [entry for entry in entries if entry.minute_of_day <= minute]
    expected = max(earlier or entries, key=lambda entry: entry.minute_of_day).replicas
    assert active_schedule_proposal(entries, when, "UTC") == expected


@settings(max_examples=100, deadline=None)
@given(entries=daily_entries, instant=instants, zone=st.sampled_from(["Europe/Berlin", "America/New_York"]))
def test_a_warm_cursor_answers_like_a_fresh_one(entries, instant, zone):
    warm = list(entries)  # a list is copied to a new tuple per call, so each call starts from a fresh cursor
    for offset in range(0, 6 * 3600, 1800):
        when = datetime.fromtimestamp(instant + offset, UTC)
        assert active_schedule_proposal(entries, when, zone) == active_schedule_proposal(warm, when, zone)
