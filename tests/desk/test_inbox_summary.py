"""Summary lines: one line per message that tells messages of one type apart (issue 13 item 5).

Rendered from the shipped example bodies (the same ones the schemas are tested with) in nb,
ru and en; odd bodies from the other side still give the type; every line is bounded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from parley.formats.summary import MAX_SUMMARY, clip, short_position, summary_line

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "parley" / "formats" / "examples"
TYPES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


def envelope(type_name: str, body: Any = None, status: str = "ACTUAL") -> dict[str, Any]:
    if body is None:
        body = json.loads((EXAMPLES / f"{type_name}.json").read_text())
    return {"type": type_name, "type_version": 1, "status": status, "precedence": "ROUTINE", "body": body}


def test_an_incident_at_sea_names_unit_category_and_position() -> None:
    env = envelope("incident-at-sea")
    where = "70°03.25′N 031°13.00′E"
    assert summary_line(env, "en") == f"Incident at sea — KV Barentshav, Dangerous manoeuvre, {where}"
    assert summary_line(env, "nb") == f"Hendelse til sjøs — KV Barentshav, Farlig manøver, {where}"
    assert summary_line(env, "ru") == f"Инцидент на море — KV Barentshav, Опасное маневрирование, {where}"


def test_five_incident_responses_can_be_told_apart() -> None:
    """The issue's complaint: five identical titles "Svar i hendelsessak" in a list."""
    actions = ["request-information", "provide-information", "propose-closure", "agree-closure", "dispute"]
    lines = set()
    for a in actions:
        body = {"incident": "x", "action": a, "text": "Se vedlagt.", "lang": "nb"}
        lines.add(summary_line(envelope("incident-response", body), "nb"))
    assert len(lines) == len(actions)
    assert all(line.startswith("Svar i hendelsessak — ") for line in lines)
    assert all(line.endswith(", «Se vedlagt.»") for line in lines)


@pytest.mark.parametrize("lang", ["nb", "ru", "en"])
@pytest.mark.parametrize("type_name", TYPES)
def test_every_example_has_a_summary_beyond_its_type(type_name: str, lang: str) -> None:
    line = summary_line(envelope(type_name), lang)
    assert " — " in line, line  # something after the type label
    assert len(line) <= MAX_SUMMARY
    assert "\n" not in line
    assert "enum." not in line
    assert "summary." not in line


def test_drill_traffic_says_so_first() -> None:
    assert summary_line(envelope("general", status="EXERCISE"), "nb").startswith(
        "[ØVELSE] Generell melding — "
    )


@pytest.mark.parametrize(
    "env",
    [
        {"type": "incident-at-sea", "body": {"units": "not a list", "position": {"lat": "x"}, "category": 7}},
        {"type": "incident-at-sea", "type_version": 99, "body": {"category": "dangerous_manoeuvre"}},
        {"type": "no-such-type", "body": {"a": 1}},
        {"type": "general", "body": ["not", "an", "object"]},
        {"body": None},
    ],
)
def test_odd_bodies_still_give_a_line(env: dict[str, Any]) -> None:
    line = summary_line(env, "en")
    assert line
    assert len(line) <= MAX_SUMMARY


def test_long_text_is_cut_at_a_word_and_the_line_bounded() -> None:
    long = "ord " * 500
    line = summary_line(envelope("general", {"subject": long, "text": "x", "lang": "nb"}), "nb")
    assert len(line) <= MAX_SUMMARY
    assert line.endswith("ord…")
    assert clip("abcdefghij klm", 12) == "abcdefghij…"
    assert clip("  many\n\n spaces  ", 50) == "many spaces"


def test_positions_are_degrees_and_decimal_minutes() -> None:
    assert short_position({"lat": 71.52, "lon": 31.2}) == "71°31.20′N 031°12.00′E"
    assert short_position({"lat": -0.5, "lon": -179.999999}) == "00°30.00′S 180°00.00′W"
    assert short_position({"lat": None}) == ""
