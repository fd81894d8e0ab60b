"""The benchmark, run tiny: every figure issue 8 asks for is reported, and drawn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from parley.bench.chart import render_chart
from parley.bench.run import BenchPlan, run_bench

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(300)
def test_bench_reports_every_figure_and_draws_them(tmp_path: Path) -> None:
    plan = BenchPlan(
        latency_n=20,
        throughput_n=400,
        senders=4,
        batch_per_request=20,
        catchup_n=300,
        record_sizes=(1000,),
        history_sizes=(1000,),
        history_latency_n=10,
        history_throughput_n=100,
        engines=("sqlite",),
    )
    lines: list[str] = []
    result = run_bench(plan, lines.append)
    assert any("catch-up" in line for line in lines), lines  # progress is shown as it goes

    floor = result["floor"]
    assert 0 < floor["latency_ms"]["p50"] <= floor["latency_ms"]["p99"]
    assert floor["throughput_per_s"] > 0
    e = result["engines"]["sqlite"]
    assert 0 < e["latency_ms"]["p50"] <= e["latency_ms"]["p90"] <= e["latency_ms"]["p99"]
    assert e["throughput"]["messages"] == 400
    assert e["throughput"]["receipted_per_s"] > 0
    assert e["throughput_batched"] == {
        "messages": 400,
        "per_request": 20,
        "receipted_per_s": e["throughput_batched"]["receipted_per_s"],
    }
    assert e["catch_up"]["messages"] == 300
    assert e["catch_up"]["per_s"] > 0
    assert set(e["rss_peak_mb"]) == {"node-a", "node-b"}
    [grown] = e["history"]
    assert grown["stored_messages"] == 1000
    assert grown["receipted_per_s"] > 0
    assert e["ratio_to_floor"]["latency_p50"] > 0
    [record] = result["record"]
    assert record["entries"] == 1000
    assert record["append_rate"] > 0
    assert record["verify_per_s"] > 0
    sig = result["signatures"]
    assert sig["cores"] >= 1
    assert sig["one_core_per_s"] > 0
    assert sig["floor_per_s"] == pytest.approx(sig["one_core_per_s"] * sig["cores"], rel=1e-3)
    named = {g["goal"]: g for g in result["goals"]}
    assert {
        "sqlite: p50 latency × floor",
        "sqlite: one message a request, rate × floor's",
        "sqlite: 20 messages a request, per second",
        "transcript verification × signature floor",
    } <= set(named), sorted(named)
    assert all(g["met"] in (True, False) for g in named.values())

    png = render_chart(result, tmp_path / "bench.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The CLI reports a saved run again without measuring anything.
    saved = tmp_path / "bench.json"
    saved.write_text(json.dumps(result))
    again = subprocess.run(
        [sys.executable, "-m", "parley", "bench", "--from-json", str(saved)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert "latency, end to end" in again.stdout
    assert "batched/s" in again.stdout
    md = subprocess.run(
        [sys.executable, "-m", "parley", "bench", "--from-json", str(saved), "--markdown"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert md.returncode == 0, md.stderr
    assert f"| sqlite | {e['latency_ms']['p50']} / " in md.stdout
    assert "| 1,000 |" in md.stdout  # the record row


def test_bench_refuses_figures_it_cannot_read(tmp_path: Path) -> None:
    bad = tmp_path / "bench.json"
    bad.write_text('{"machine": {}}')
    proc = subprocess.run(
        [sys.executable, "-m", "parley", "bench", "--from-json", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "cannot read benchmark figures" in proc.stderr
    assert "parley bench --json" in proc.stderr
