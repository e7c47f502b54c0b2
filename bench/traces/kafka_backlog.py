"""A bursty Kafka backlog trace, generated deterministically (docs/predictive.md).

    python -m bench.traces.kafka_backlog          # prints the CSV (`timestamp,lag`) to stdout

Seven days at 15-second samples (40,320 rows) of a consumer group's total lag, from a seeded process
(`random.Random(2019)`):
- a daily rhythm: 3,000 + 2,000 × sin(2π t / 1 d), lower on the weekend (× 0.6 on days 5 and 6);
- noise: Gaussian with a standard deviation of 5 % of the rhythm;
- bursts: a batch producer dumps a backlog at random, on average once every 90 minutes (exponential gaps);
  each burst rises linearly over 1 to 4 minutes to a lognormal height (median 4,000 messages, σ 0.6) and
  drains linearly over 5 to 20 minutes.
The load is the lag itself; never negative.
"""
from __future__ import annotations

import math
import random
import sys

STEP_SECONDS = 15
DAYS = 7
SEED = 2019


def backlog_rows(*, seed: int = SEED, days: int = DAYS, step: int = STEP_SECONDS) -> list[tuple[int, float]]:
    randomness = random.Random(seed)
    bursts = []  # (start, rise seconds, height, drain seconds)
    time = 0.0
    end = days * 86400
    while time < end:
        time += randomness.expovariate(1 / 5400)
        bursts.append((time, randomness.uniform(60, 240), 4000 * math.exp(randomness.gauss(0, 0.6)),
                       randomness.uniform(300, 1200)))
    rows = []
    active: list[tuple[float, float, float, float]] = []
    upcoming = iter(bursts)
    following = next(upcoming)
    for index in range(days * 86400 // step + 1):
        now = index * step
        while following is not None and following[0] <= now:
            active.append(following)
            following = next(upcoming, None)
        day = int(now // 86400) % 7
        rhythm = (3000 + 2000 * math.sin(2 * math.pi * now / 86400)) * (0.6 if day in (5, 6) else 1.0)
        lag = rhythm + randomness.gauss(0, 0.05 * rhythm)
        still = []
        for start, rise, height, drain in active:
            age = now - start
            if age < rise:
                lag += height * age / rise
            elif age < rise + drain:
                lag += height * (1 - (age - rise) / drain)
            else:
                continue
            still.append((start, rise, height, drain))
        active = still
        rows.append((now, max(0.0, lag)))
    return rows


def main() -> None:
    out = sys.stdout
    out.write("timestamp,lag\n")
    for now, lag in backlog_rows():
        out.write(f"{now},{lag:.0f}\n")


if __name__ == "__main__":
    main()
