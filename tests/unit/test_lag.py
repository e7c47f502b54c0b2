"""The contract's Kafka lag rules over offsets alone."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalerd.metric_types.kafka import OffsetResetPolicy
from scalerd.readings import PartitionLag
from scalerd.sources.lag import partition_lag, partition_lags, total_lag

EARLIEST = OffsetResetPolicy.EARLIEST
LATEST = OffsetResetPolicy.LATEST


@pytest.mark.parametrize(
    ("committed", "low", "high", "policy", "expected"),
    [
        pytest.param(2, 0, 5, LATEST, 3, id="committed-behind-high"),
        pytest.param(2, 0, 5, EARLIEST, 3, id="committed-ignores-policy"),
        pytest.param(5, 0, 5, LATEST, 0, id="caught-up"),
        pytest.param(0, 0, 7, LATEST, 7, id="committed-at-zero-is-a-commit"),
        pytest.param(9, 0, 5, EARLIEST, 0, id="committed-past-high-never-negative"),
        pytest.param(3, 10, 20, LATEST, 17, id="committed-below-low-counts-from-committed"),
        pytest.param(None, 0, 5, EARLIEST, 5, id="no-commit-earliest-whole-partition"),
        pytest.param(None, 4, 10, EARLIEST, 6, id="no-commit-earliest-from-low"),
        pytest.param(None, 0, 5, LATEST, 1, id="no-commit-latest-holds-messages-wakes"),
        pytest.param(None, 0, 0, LATEST, 0, id="no-commit-latest-empty"),
        pytest.param(None, 8, 8, LATEST, 0, id="no-commit-latest-all-deleted"),
        pytest.param(None, 8, 8, EARLIEST, 0, id="no-commit-earliest-all-deleted"),
    ],
)
def test_partition_lag(committed, low, high, policy, expected):
    assert partition_lag(committed=committed, low=low, high=high, policy=policy) == expected


def test_partition_lags_sorted_with_detail_and_total():
    lags = partition_lags(
        watermarks={("b", 0): (0, 4), ("a", 1): (0, 3), ("a", 0): (0, 5), ("a", 2): (0, 0)},
        committed={("a", 0): 2, ("b", 0): 4},
        policy=LATEST,
    )

    assert lags == (
        PartitionLag(topic="a", partition=0, committed=2, low=0, high=5, lag=3),
        PartitionLag(topic="a", partition=1, committed=None, low=0, high=3, lag=1),
        PartitionLag(topic="a", partition=2, committed=None, low=0, high=0, lag=0),
        PartitionLag(topic="b", partition=0, committed=4, low=0, high=4, lag=0),
    )
    assert total_lag(lags) == 4


def test_commits_for_partitions_not_asked_for_are_ignored():
    lags = partition_lags(watermarks={("a", 0): (0, 5)}, committed={("a", 0): 1, ("z", 3): 0}, policy=EARLIEST)

    assert [lag.lag for lag in lags] == [4]


offsets = st.integers(min_value=0, max_value=10**12)


@given(low=offsets, extra=offsets, committed=st.one_of(st.none(), offsets), policy=st.sampled_from(OffsetResetPolicy))
def test_lag_is_never_negative_and_never_above_the_partition_span_from_its_start(low, extra, committed, policy):
    high = low + extra
    lag = partition_lag(committed=committed, low=low, high=high, policy=policy)

    assert lag >= 0
    start = committed if committed is not None else low
    assert lag <= max(high - start, 0)


@given(low=offsets, extra=offsets)
def test_without_commit_latest_never_exceeds_earliest_and_wakes_when_not_empty(low, extra):
    high = low + extra
    latest = partition_lag(committed=None, low=low, high=high, policy=LATEST)
    earliest = partition_lag(committed=None, low=low, high=high, policy=EARLIEST)

    assert latest <= earliest
    assert (latest > 0) == (high > low)
