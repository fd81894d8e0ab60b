"""Measure the storage-backed Merkle log (RFC 9162 proofs over :mod:`parley.record.log`).

Used by the benchmark to show that appends stay fast and proofs stay O(log n) from 10^4 to
10^6 leaves. Leaves are synthetic (``kind="measure"``); the log tables are created if
missing, and an existing log is extended rather than replaced.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from parley.record import log, merkle
from parley.record.log import LeafEntry
from parley.record.tables import log_head, log_leaves, log_nodes
from parley.storage.metadata import metadata

BATCH = 1000
Progress = Callable[[int, int], None]


def _data(i: int) -> bytes:
    return f"parley measure leaf {i}".encode()


def measure_log(
    engine: Engine,
    n: int,
    progress: Progress | None = None,
    *,
    samples: int = 1000,
    consistency_samples: int = 100,
    seed: int = 1,
) -> dict[str, Any]:
    """Append ``n`` leaves in transactions of 1000, then time proofs on the result.

    ``progress(done, n)`` is called after every committed batch. Times are in seconds;
    proof times include generating the proof from storage and verifying it.
    """
    metadata.create_all(engine, tables=[log_leaves, log_nodes, log_head])
    with engine.connect() as conn:
        start_size = log.size(conn)

    t0 = time.perf_counter()
    for done in range(0, n, BATCH):
        count = min(BATCH, n - done)
        entries = [
            LeafEntry.from_data(_data(start_size + done + j), "measure", str(start_size + done + j))
            for j in range(count)
        ]
        with engine.begin() as conn:
            log.append_many_txn(conn, entries)
        if progress is not None:
            progress(done + count, n)
    append_seconds = time.perf_counter() - t0

    rng = random.Random(seed)
    with engine.connect() as conn:
        size = log.size(conn)
        t = time.perf_counter()
        root = log.root(conn)
        root_seconds = time.perf_counter() - t

        inclusion_total = 0.0
        for _ in range(samples if size else 0):
            index = rng.randrange(size)
            # Only this log's own synthetic leaves have data we can rehash here.
            expected = (
                merkle.leaf_hash(_data(index)) if index >= start_size else log.leaf(conn, index).leaf_hash
            )
            t = time.perf_counter()
            proof = log.inclusion_proof(conn, index, size)
            merkle.verify_inclusion(expected, index, size, proof, root)
            inclusion_total += time.perf_counter() - t

        consistency_total = 0.0
        for _ in range(consistency_samples if size else 0):
            size1 = rng.randrange(1, size + 1)
            root1 = log.root(conn, size1)
            t = time.perf_counter()
            proof = log.consistency_proof(conn, size1, size)
            merkle.verify_consistency(size1, size, proof, root1, root)
            consistency_total += time.perf_counter() - t

    return {
        "engine": engine.dialect.name,
        "appended": n,
        "size": size,
        "batch": BATCH,
        "append_seconds": append_seconds,
        "append_rate": n / append_seconds if append_seconds > 0 else float("inf"),
        "root_seconds": root_seconds,
        "inclusion_samples": samples if size else 0,
        "inclusion_mean_seconds": inclusion_total / samples if size and samples else 0.0,
        "consistency_samples": consistency_samples if size else 0,
        "consistency_mean_seconds": (
            consistency_total / consistency_samples if size and consistency_samples else 0.0
        ),
    }
