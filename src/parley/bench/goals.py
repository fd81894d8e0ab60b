"""The speed goals (issue 17), as ratios of figures measured in one run of ``parley bench``.

A goal is a ratio, not an absolute figure, so that it holds on any machine: latency against
the floor (HTTPS plus one durable commit, measured in the same run), transcript verification
against the signature floor (this machine's cores × one core's Ed25519 verify rate with
PyNaCl, measured in the same run), PostgreSQL against SQLite, and a store of 10^6 messages
against one of 10^4.
"""

from __future__ import annotations

import os
import time
from typing import Any

from nacl.signing import SigningKey

# Goal name -> (what is compared, the bound, "max" if the ratio must stay at or under it).
LATENCY_X_FLOOR = 3.0
ONE_PER_REQUEST_X_FLOOR = 1.0
BATCHED_PER_S = 2000.0
VERIFY_X_SIGNATURE_FLOOR = 0.6
POSTGRES_X_SQLITE = 2.0
FLAT_WITHIN = 1.2


def signature_floor(seconds: float = 1.0) -> dict[str, Any]:
    """One core's Ed25519 verify rate (PyNaCl, a 300-byte message) and that × the cores."""
    key = SigningKey.generate()
    signed = key.sign(b"x" * 300)
    verify = key.verify_key.verify
    n, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(200):
            verify(signed)
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            break
    one_core = round(n / (now - started), 1)
    cores = os.cpu_count() or 1
    return {"one_core_per_s": one_core, "cores": cores, "floor_per_s": round(one_core * cores, 1)}


def _goal(name: str, value: float | None, bound: float, at_most: bool, detail: str) -> dict[str, Any]:
    met = None if value is None else (value <= bound if at_most else value >= bound)
    return {
        "goal": name,
        "value": None if value is None else round(value, 2),
        "bound": bound,
        "at_most": at_most,
        "met": met,
        "detail": detail,
    }


def goals(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Every goal this run's figures can answer; a goal it cannot (a section not run) says so."""
    out: list[dict[str, Any]] = []
    floor = r.get("floor", {})
    engines = {k: e for k, e in r.get("engines", {}).items() if "latency_ms" in e}
    for kind, e in engines.items():
        p50 = e["latency_ms"]["p50"]
        f50 = floor.get("latency_ms", {}).get("p50")
        out.append(
            _goal(
                f"{kind}: p50 latency × floor",
                p50 / f50 if f50 else None,
                LATENCY_X_FLOOR,
                True,
                f"{p50} ms against {f50} ms",
            )
        )
        rate, frate = e["throughput"]["receipted_per_s"], floor.get("throughput_per_s")
        out.append(
            _goal(
                f"{kind}: one message a request, rate × floor's",
                rate / frate if frate else None,
                ONE_PER_REQUEST_X_FLOOR,
                False,
                f"{rate}/s against {frate} requests/s",
            )
        )
        batched = e.get("throughput_batched", {})
        if batched:
            out.append(
                _goal(
                    f"{kind}: {batched.get('per_request', '?')} messages a request, per second",
                    float(batched["receipted_per_s"]),
                    BATCHED_PER_S,
                    False,
                    "receipted messages per second",
                )
            )
        history = e.get("history", [])
        if len(history) >= 2:
            first, last = history[0], history[-1]
            out.append(
                _goal(
                    f"{kind}: p50 at {last['stored_messages']:,} stored × at {first['stored_messages']:,}",
                    last["latency_ms"]["p50"] / max(first["latency_ms"]["p50"], 1e-9),
                    FLAT_WITHIN,
                    True,
                    f"{last['latency_ms']['p50']} ms against {first['latency_ms']['p50']} ms",
                )
            )
    if "sqlite" in engines and "postgresql" in engines:
        pg, lite = engines["postgresql"]["latency_ms"]["p50"], engines["sqlite"]["latency_ms"]["p50"]
        out.append(
            _goal(
                "PostgreSQL p50 × SQLite p50",
                pg / max(lite, 1e-9),
                POSTGRES_X_SQLITE,
                True,
                f"{pg} ms / {lite} ms",
            )
        )
    sig = r.get("signatures")
    record = r.get("record") or []
    if sig and record:
        best = max(record, key=lambda row: row["entries"])
        out.append(
            _goal(
                "transcript verification × signature floor",
                best["verify_per_s"] / max(sig["floor_per_s"], 1e-9),
                VERIFY_X_SIGNATURE_FLOOR,
                False,
                f"{best['verify_per_s']:,.0f} entries/s against {sig['floor_per_s']:,.0f} signatures/s "
                f"({sig['cores']} cores × {sig['one_core_per_s']:,.0f})",
            )
        )
    return out


def goal_cells(r: dict[str, Any], missed: str) -> list[tuple[str, str, str, str, str]]:
    """Each goal of a run as (goal, ratio, bound, met, figures); a missed goal reads ``missed``.
    A saved run from before goals were reported has them computed from its figures."""
    met_words = {True: "yes", False: missed, None: "not measured"}
    return [
        (
            g["goal"],
            str(g["value"]),
            ("≤ " if g["at_most"] else "≥ ") + f"{g['bound']:g}",
            met_words[g["met"]],
            g["detail"],
        )
        for g in r.get("goals") or goals(r)
    ]


def goal_lines(r: dict[str, Any]) -> list[str]:
    """The goals as Markdown table rows (a header first)."""
    rows = ["| goal | ratio | bound | met | figures |", "|---|---|---|---|---|"]
    return rows + ["| " + " | ".join(cells) + " |" for cells in goal_cells(r, "**no**")]
