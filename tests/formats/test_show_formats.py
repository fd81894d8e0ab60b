"""`parley show --format` exports a stored message as CAP 1.2, GeoJSON or iCalendar."""

from __future__ import annotations

import json
from pathlib import Path

import parley.formats
from parley.devnet.nodes import make_pair

EXAMPLES = Path(parley.formats.__file__).parent / "examples"


def test_show_exports_a_stored_exercise_report(tmp_path: Path) -> None:
    a, _b = make_pair(tmp_path)
    body = tmp_path / "incident.json"
    body.write_text((EXAMPLES / "incident-at-sea.json").read_text())
    sent = a.cli_here(
        "send",
        "--channel",
        "test-line",
        "--type",
        "incident-at-sea",
        "--precedence",
        "FLASH",
        "--status",
        "EXERCISE",
        "--body-file",
        str(body),
        "--json",
    )
    message_id = json.loads(sent.stdout)["id"]

    cap = a.cli_here("show", message_id, "--format", "cap").stdout
    assert "<status>Exercise</status>" in cap
    assert "urn:oasis:names:tc:emergency:cap:1.2" in cap

    feature = json.loads(a.cli_here("show", message_id, "--format", "geojson", "--lang", "nb").stdout)
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "Point"
    assert feature["geometry"]["coordinates"] == [31.2167, 70.0542]

    refused = a.cli_here("show", message_id, "--format", "ical", check=False)
    assert refused.returncode == 1
    assert "meeting-proposal" in refused.stderr

    bad = a.cli_here("show", message_id, "--format", "pdf", check=False)
    assert bad.returncode == 1
    assert "unknown format 'pdf'" in bad.stderr
