"""Helpers for the incident page tests: two real node processes and an incident report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.harness.nodes import NodeProcess

CHANNEL = "test-line"
POSITION = {"lat": 69.8, "lon": 31.5}


def incident_body(text: str = "Destroyer passed within two cables of KV Svalbard.") -> dict[str, Any]:
    return {
        "time": "2026-11-23T10:15:00Z",
        "position": dict(POSITION),
        "units": [{"name": "Severomorsk", "hull_number": "619", "unit_type": "warship"}],
        "category": "unsafe_approach",
        "description": {"text": text, "lang": "en"},
        "requested_action": "explanation",
    }


def report_incident(node: NodeProcess, status: str = "ACTUAL") -> str:
    """An incident-at-sea report sent through the operator API; its id is the incident's."""
    with node.client() as c:
        r = c.post(
            "/api/v1/messages",
            json={
                "channel": CHANNEL,
                "type": "incident-at-sea",
                "precedence": "IMMEDIATE",
                "status": status,
                "body": incident_body(),
            },
        )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``check`` (a real node's answer) until it holds; bounded in time."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(0.2)


def phase_of(node: NodeProcess, incident_id: str) -> str:
    shown = json.loads(node.cli_here("incident", "show", incident_id, "--json").stdout)
    return str(shown["phase"])


def has_incident(node: NodeProcess, incident_id: str) -> bool:
    out = node.cli_here("incident", "show", incident_id, "--json", check=False)
    return out.returncode == 0
