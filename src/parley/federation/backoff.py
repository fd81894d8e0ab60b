"""Retry timing for a peer that cannot be reached: jittered exponential backoff.

The delay doubles with each consecutive failure from ``initial`` up to ``ceiling``, and is
drawn uniformly from its upper half so that two nodes recovering at once do not retry in
lockstep. The failure count and next attempt time live in the database (``peer_links``) so
a restarted node keeps backing off instead of hammering a peer that is still down.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def backoff_delay(failures: int, initial: float, ceiling: float, rng: random.Random | None = None) -> float:
    if failures <= 0:
        return 0.0
    base = min(ceiling, initial * (2 ** min(failures - 1, 32)))
    r = (rng or random).uniform(0.5, 1.0)
    return float(base * r)


def next_attempt(
    now: datetime, failures: int, initial: float, ceiling: float, rng: random.Random | None = None
) -> datetime:
    return now + timedelta(seconds=backoff_delay(failures, initial, ceiling, rng))
