"""The speed goals are ratios within one run (issue 17): computed from the figures, met or not."""

from __future__ import annotations

from typing import Any

from parley.bench.command import markdown_report
from parley.bench.goals import goals, signature_floor


def _engine(p50: float, rate: float, batched: float, history: list[tuple[int, float]]) -> dict[str, Any]:
    return {
        "latency_ms": {"p50": p50, "p90": p50, "p99": p50, "max": p50},
        "throughput": {"messages": 100, "submitted_per_s": rate, "receipted_per_s": rate},
        "throughput_batched": {"messages": 100, "per_request": 50, "receipted_per_s": batched},
        "catch_up": {"messages": 10, "seconds": 1, "per_s": 10},
        "rss_peak_mb": {"node-a": 50, "node-b": 50},
        "history": [
            {
                "stored_messages": n,
                "latency_ms": {"p50": ms, "p99": ms},
                "receipted_per_s": rate,
                "rss_peak_mb": {},
            }
            for n, ms in history
        ],
    }


def _run() -> dict[str, Any]:
    return {
        "machine": {"cores": 2, "memory_gb": 4, "system": "Linux", "python": "3.11"},
        "floor": {"latency_ms": {"p50": 1.0}, "throughput_per_s": 1000},
        "signatures": {"one_core_per_s": 10_000.0, "cores": 2, "floor_per_s": 20_000.0},
        "engines": {
            "sqlite": _engine(2.5, 1200, 2500, [(10_000, 2.5), (1_000_000, 2.6)]),
            "postgresql": _engine(6.0, 400, 1500, [(10_000, 6.0), (1_000_000, 9.0)]),
        },
        "record": [{"entries": 1000, "verify_per_s": 5000}, {"entries": 100_000, "verify_per_s": 13_000}],
    }


def test_each_goal_is_a_ratio_of_this_runs_figures_and_says_whether_it_is_met() -> None:
    got = {g["goal"]: (g["value"], g["met"]) for g in goals(_run())}
    assert got["sqlite: p50 latency × floor"] == (2.5, True)
    assert got["postgresql: p50 latency × floor"] == (6.0, False)
    assert got["sqlite: one message a request, rate × floor's"] == (1.2, True)
    assert got["postgresql: one message a request, rate × floor's"] == (0.4, False)
    assert got["sqlite: 50 messages a request, per second"] == (2500, True)
    assert got["postgresql: 50 messages a request, per second"] == (1500, False)
    assert got["sqlite: p50 at 1,000,000 stored × at 10,000"] == (1.04, True)
    assert got["postgresql: p50 at 1,000,000 stored × at 10,000"] == (1.5, False)
    assert got["PostgreSQL p50 × SQLite p50"] == (2.4, False)
    # The largest transcript measured counts: 13,000 / 20,000.
    assert got["transcript verification × signature floor"] == (0.65, True)


def test_a_run_without_a_section_has_no_goal_for_it_and_the_report_still_prints() -> None:
    run = _run()
    del run["engines"]["postgresql"], run["signatures"]
    names = {g["goal"] for g in goals(run)}
    assert "PostgreSQL p50 × SQLite p50" not in names
    assert "transcript verification × signature floor" not in names
    report = markdown_report({**run, "record": []})
    assert "| sqlite: p50 latency × floor | 2.5 | ≤ 3 | yes |" in report


def test_the_signature_floor_is_one_cores_rate_times_the_cores() -> None:
    sig = signature_floor(seconds=0.05)
    assert sig["one_core_per_s"] > 100
    assert sig["floor_per_s"] == round(sig["one_core_per_s"] * sig["cores"], 1)
