"""The benchmark as a picture: four panels drawn from ``parley bench --json`` output.

Latency percentiles and throughput per database engine against the floor measured in the
same run, latency as the stored history grows, and the record's rates as the log grows.
Rendered with matplotlib's Agg backend (no display needed), like ``parley report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = {"sqlite": "#1f77b4", "postgresql": "#d62728"}


def render_chart(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = {k: v for k, v in result["engines"].items() if "latency_ms" in v}
    floor = result["floor"]
    fig, ((lat, tput), (hist, rec)) = plt.subplots(2, 2, figsize=(12, 8.5))
    m = result["machine"]
    fig.suptitle(
        f"Parley benchmark — {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, loopback",
        fontsize=12,
    )

    # Latency percentiles, one group of bars per engine.
    marks = ("p50", "p90", "p99")
    width = 0.8 / max(len(engines), 1)
    for i, (kind, e) in enumerate(engines.items()):
        xs = [j + i * width for j in range(len(marks))]
        lat.bar(xs, [e["latency_ms"][k] for k in marks], width, label=kind, color=COLOURS.get(kind))
    lat.axhline(floor["latency_ms"]["p50"], color="grey", linestyle="--", label="floor p50")
    lat.set_xticks([j + width * (len(engines) - 1) / 2 for j in range(len(marks))], list(marks))
    lat.set_ylabel("ms, submit on A → receipt back at A")
    lat.set_title("end-to-end latency (sequential)")
    lat.legend()

    # Throughput: one message a request, batched, and catch-up.
    kinds = ("one a request", "batched", "catch-up")
    for i, (kind, e) in enumerate(engines.items()):
        values = [
            e["throughput"]["receipted_per_s"],
            e.get("throughput_batched", {}).get("receipted_per_s", 0),
            e["catch_up"]["per_s"],
        ]
        xs = [j + i * width for j in range(len(kinds))]
        tput.bar(xs, values, width, label=kind, color=COLOURS.get(kind))
    tput.axhline(floor["throughput_per_s"], color="grey", linestyle="--", label="floor (requests/s)")
    tput.set_xticks([j + width * (len(engines) - 1) / 2 for j in range(len(kinds))], list(kinds))
    tput.set_ylabel("messages/s delivered, stored on both nodes, receipted")
    tput.set_title("throughput (8 concurrent senders)")
    tput.legend()

    # Latency and throughput as the stored history grows.
    for kind, e in engines.items():
        rows = e.get("history", [])
        if not rows:
            continue
        sizes = [r["stored_messages"] for r in rows]
        hist.plot(sizes, [r["latency_ms"]["p50"] for r in rows], "o-", color=COLOURS.get(kind), label=kind)
    hist.set_xscale("log")
    hist.set_xlabel("messages stored on each node")
    hist.set_ylabel("p50 latency, ms")
    hist.set_ylim(bottom=0)
    hist.set_title("latency as history grows")
    if any(e.get("history") for e in engines.values()):
        hist.legend()

    # The record: append rate and proof time as the log grows.
    entries = [r["entries"] for r in result.get("record", [])]
    if entries:
        rec.plot(entries, [r["append_rate"] for r in result["record"]], "o-", label="append/s")
        rec.plot(entries, [r["verify_per_s"] for r in result["record"]], "s-", label="transcript verify/s")
        rec.set_xscale("log")
        rec.set_xlabel("entries in the Merkle log")
        rec.set_ylabel("entries/s")
        ms = rec.twinx()
        ms.plot(
            entries,
            [r["inclusion_mean_seconds"] * 1000 for r in result["record"]],
            "^--",
            color="black",
            label="inclusion proof (ms, right)",
        )
        ms.set_ylabel("ms")
        ms.set_ylim(bottom=0)
        lines = rec.get_legend_handles_labels()
        more = ms.get_legend_handles_labels()
        rec.legend(lines[0] + more[0], lines[1] + more[1], loc="center left")
    rec.set_title("the record (Merkle log)")

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
