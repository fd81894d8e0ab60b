"""Measure transcript verification: a synthetic transcript, checked as ``parley verify
--transcript`` checks one (the benchmark's transcript figure)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def measure_transcript(
    n: int, *, workers: int | None = None, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Verify a synthetic transcript of about ``n`` entries; entries per second.

    The transcript is made in memory with the real signing code
    (:func:`parley.evidence.transcript.synthetic_transcript`: two nodes' envelopes, receipts,
    a cosigned checkpoint and a set inclusion proof over a log with gaps), sent through a
    JSON round trip as a file would be, and checked by the same routine as ``parley verify
    --transcript``, on every core unless ``workers`` says otherwise. Only the check is timed.
    """
    import json

    from parley.evidence.transcript import synthetic_transcript, verify_transcript

    if progress is not None:
        progress(f"building a transcript of {n:,} entries")
    t = time.perf_counter()
    data, keys = synthetic_transcript(n)
    build_seconds = time.perf_counter() - t
    data = json.loads(json.dumps(data))
    if progress is not None:
        progress(f"verifying {len(data['entries']):,} entries")
    t = time.perf_counter()
    report = verify_transcript(data, keys, workers=workers)
    seconds = time.perf_counter() - t
    return {
        "entries": report.entries,
        "workers": workers,
        "build_seconds": build_seconds,
        "verify_seconds": seconds,
        "verify_rate": report.entries / seconds if seconds > 0 else float("inf"),
    }


def measure_transcript_verification(n: int) -> float:
    """Transcript entries verified per second at ``n`` entries, on every core (the benchmark)."""
    return float(measure_transcript(n)["verify_rate"])
