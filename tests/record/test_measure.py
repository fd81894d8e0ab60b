"""The log measurement used by the benchmark, run small."""

from __future__ import annotations

from sqlalchemy import Engine

from parley.record import log, merkle
from parley.record.measure import measure_log


def test_measure_log(db_engine: Engine) -> None:
    seen: list[tuple[int, int]] = []
    result = measure_log(db_engine, 2000, progress=lambda done, n: seen.append((done, n)))
    assert seen == [(1000, 2000), (2000, 2000)]
    assert result["size"] == result["appended"] == 2000
    assert result["append_rate"] > 0
    assert result["inclusion_samples"] == 1000
    assert 0 < result["inclusion_mean_seconds"] < 1
    assert 0 < result["consistency_mean_seconds"] < 1
    # A second run extends the same log.
    again = measure_log(db_engine, 500, samples=50, consistency_samples=5)
    assert again["size"] == 2500
    with db_engine.connect() as conn:
        assert log.leaf(conn, 2499).leaf_hash == merkle.leaf_hash(b"parley measure leaf 2499")
