"""Kafka consumer lag as the contract defines it, computed from offsets alone (no I/O).

Per partition: `high - committed`; with no committed offset, `high - low` under `earliest`, and under
`latest` 1 when the partition holds messages (so a target scaled to zero still wakes up), else 0.
Never negative: a committed offset past the high watermark (a recreated topic) counts as no lag.
"""
from __future__ import annotations

from collections.abc import Mapping

from scalerd.metric_types.kafka import OffsetResetPolicy
from scalerd.readings import PartitionLag

TopicPartitionKey = tuple[str, int]


def partition_lag(*, committed: int | None, low: int, high: int, policy: OffsetResetPolicy) -> int:
    if committed is not None:
        lag = high - committed
    elif policy is OffsetResetPolicy.EARLIEST:
        lag = high - low
    else:
        lag = 1 if high > low else 0
    return max(lag, 0)


def partition_lags(
    *,
    watermarks: Mapping[TopicPartitionKey, tuple[int, int]],
    committed: Mapping[TopicPartitionKey, int],
    policy: OffsetResetPolicy,
) -> tuple[PartitionLag, ...]:
    """One PartitionLag per partition of `watermarks` ((low, high) per partition), sorted by topic and partition.

    A partition absent from `committed` has no committed offset for the group.
    """
    lags = []
    for key in sorted(watermarks):
        topic, partition = key
        low, high = watermarks[key]
        offset = committed.get(key)
        lags.append(
            PartitionLag(
                topic=topic,
                partition=partition,
                committed=offset,
                low=low,
                high=high,
                lag=partition_lag(committed=offset, low=low, high=high, policy=policy),
            )
        )
    return tuple(lags)


def total_lag(lags: tuple[PartitionLag, ...]) -> int:
    return sum(lag.lag for lag in lags)
