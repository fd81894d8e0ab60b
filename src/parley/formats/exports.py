"""Exports of Parley messages to the open formats other systems read.

* OASIS Common Alerting Protocol 1.2 (CAP) for alert-like types: one ``<info>`` block per
  requested language (the callers pass the charter's languages), each tagged as CAP 1.2 asks
  (RFC 3066: ``nb-NO``, ``ru-RU``, ``en-US``) and naming the *sending* node in that language
  (``<senderName>``), ``<scope>Restricted</scope>`` because channel traffic is for the
  counterpart authorities only, and ``<status>`` carrying the drill marking (Exercise, Test).
* RFC 7946 GeoJSON: a Feature per message with a position or area (a circle becomes a Point
  with its radius as a property, since GeoJSON has no circles), and FeatureCollections.
* RFC 5545 iCalendar for meeting proposals: a VEVENT whose UID is stable across
  counter-proposals (``<meeting_id>@parley``), so calendars update instead of duplicating.

Every export marks drill traffic: the CAP status, a ``drill`` GeoJSON property and banner,
and an iCalendar summary prefix.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC
from typing import Any

from icalendar import Calendar, Event

from parley.clock import parse_time
from parley.errors import UsageError
from parley.formats.catalogue import load_catalogue
from parley.formats.geo import NM_IN_METRES, closed_ring, counterclockwise, format_position
from parley.formats.problems import pointer
from parley.formats.registry import walker as schema_walker
from parley.formats.render import DRILL_STATUSES, drill_banner, render
from parley.formats.texts import T
from parley.formats.walk import Node

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ALERT_TYPES = (
    "activity-notification",
    "incident-at-sea",
    "border-incident",
    "sar-request",
    "sar-sitrep",
)
_CAP_STATUS = {"ACTUAL": "Actual", "EXERCISE": "Exercise", "TEST": "Test"}
# Precedence says how fast the other side must act, which is what CAP urgency and severity
# tell a receiving system; the mapping keeps FLASH at the top of both scales.
_CAP_URGENCY_SEVERITY = {
    "FLASH": ("Immediate", "Extreme"),
    "IMMEDIATE": ("Immediate", "Severe"),
    "PRIORITY": ("Expected", "Moderate"),
    "ROUTINE": ("Future", "Minor"),
}
_CAP_CATEGORY = {
    "activity-notification": "Safety",
    "incident-at-sea": "Safety",
    "border-incident": "Security",
    "sar-request": "Rescue",
    "sar-sitrep": "Rescue",
}
# A notification announces what is planned; the other types report what was observed.
_CAP_CERTAINTY = {"activity-notification": "Likely"}
# The time the event starts (CAP onset) and ends (CAP expires), where a type has them.
_ONSET = {"activity-notification": "start", "incident-at-sea": "time", "border-incident": "time"}
_EXPIRES = {"activity-notification": "end"}
_LOCATION_KINDS = ("position", "area", "circle")
# CAP 1.2 §3.2.2: <language> is an RFC 3066 tag; a language with no region of its own here
# keeps its bare code.
CAP_LANGUAGE_TAGS = {"nb": "nb-NO", "ru": "ru-RU", "en": "en-US"}


def _locations(envelope: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], Node, Any]]:
    w = schema_walker(str(envelope["type"]), envelope["type_version"])
    return list(w.find(envelope["body"], _LOCATION_KINDS))


def _cap_time(text: str) -> str:
    # CAP 1.2 wants "2002-05-24T16:49:00-07:00": an explicit offset, no fraction, no "Z".
    return parse_time(text).replace(microsecond=0).isoformat()


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _cap_circle(circle: Mapping[str, Any]) -> str:
    center = circle["center"]
    radius_km = float(circle["radius_nm"]) * NM_IN_METRES / 1000
    return f"{center['lat']},{center['lon']} {radius_km:.3f}"


def _cap_area(info: ET.Element, desc: str, node: Node, value: Mapping[str, Any]) -> None:
    area = _sub(info, "area")
    _sub(area, "areaDesc", desc)
    if node.kind == "position":
        # A point is a circle of radius zero in CAP (CAP 1.2 §3.2.4, circle).
        _sub(area, "circle", f"{value['lat']},{value['lon']} 0")
    elif node.kind == "circle":
        _sub(area, "circle", _cap_circle(value))
    elif "circle" in value:
        _sub(area, "circle", _cap_circle(value["circle"]))
    else:
        ring = closed_ring(value["polygon"])
        _sub(area, "polygon", " ".join(f"{lat},{lon}" for lat, lon in ring))


def to_cap(
    envelope: Mapping[str, Any],
    sender_name: str | Mapping[str, str] | None = None,
    *,
    langs: Sequence[str] = ("en",),
) -> str:
    """The message as a CAP 1.2 alert (XML text), one ``<info>`` per language in ``langs``.

    ``sender_name`` is the display name of the node that *sent* the message (never the node
    exporting it): one name, or one per language (``{"nb": "Nordflåten", "ru": "Северный
    флот"}``, as :meth:`parley.channels.charter.Charter.node_names_in` gives); a language it
    lacks, or ``None``, names the sending node by its node name.
    """
    type_name = str(envelope["type"])
    if type_name not in ALERT_TYPES:
        raise UsageError(
            T("a {type_name} message is not an alert and has no CAP form", type_name=type_name),
            hint=T("CAP export covers: {alert_types}", alert_types=", ".join(ALERT_TYPES)),
        )
    status = str(envelope["status"])
    sender = envelope.get("sender") or {}
    body = envelope["body"]
    ET.register_namespace("", CAP_NS)
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(alert, "identifier", str(envelope["id"]))
    _sub(alert, "sender", f"{sender.get('desk', 'desk')}@{sender.get('node', 'node')}")
    _sub(alert, "sent", _cap_time(str(envelope["created"])))
    _sub(alert, "status", _CAP_STATUS[status])
    _sub(alert, "msgType", "Alert")
    _sub(alert, "source", f"Parley {envelope.get('protocol', 'parley/1')}")
    _sub(alert, "scope", "Restricted")
    en = load_catalogue("en")
    _sub(alert, "restriction", en.get("cap.restriction", channel=envelope.get("channel", "?")))
    _sub(alert, "code", f"parley:{type_name}.v{envelope['type_version']}")
    if status in DRILL_STATUSES:
        _sub(alert, "note", f"{drill_banner(status, en)} {en.get(f'banner.note.{status}')}")
    urgency, severity = _CAP_URGENCY_SEVERITY[str(envelope["precedence"])]
    locations = _locations(envelope)
    for lang in langs:
        cat = load_catalogue(lang)
        rendered = render(envelope, lang)
        info = _sub(alert, "info")
        _sub(info, "language", CAP_LANGUAGE_TAGS.get(lang, lang))
        _sub(info, "category", _CAP_CATEGORY[type_name])
        _sub(info, "event", rendered.type_label)
        _sub(info, "urgency", urgency)
        _sub(info, "severity", severity)
        _sub(info, "certainty", _CAP_CERTAINTY.get(type_name, "Observed"))
        code = _sub(info, "eventCode")
        _sub(code, "valueName", "parley:type")
        _sub(code, "value", type_name)
        if type_name in _ONSET and _ONSET[type_name] in body:
            _sub(info, "onset", _cap_time(body[_ONSET[type_name]]))
        if type_name in _EXPIRES and _EXPIRES[type_name] in body:
            _sub(info, "expires", _cap_time(body[_EXPIRES[type_name]]))
        _sub(info, "senderName", _sender_name(sender_name, lang, sender))
        _sub(info, "headline", rendered.title)
        lines = [f"{f.label}: {f.value}" for f in rendered.fields]
        if rendered.banner:
            lines = [rendered.banner, *lines, rendered.banner]
        _sub(info, "description", "\n".join(lines))
        param = _sub(info, "parameter")
        _sub(param, "valueName", "parley:precedence")
        _sub(param, "value", str(envelope["precedence"]))
        w = schema_walker(type_name, envelope["type_version"])
        for path, node, value in locations:
            _, key = w.at(path)
            label = cat.get(key) if key else pointer(path)
            desc = label if node.kind != "position" else f"{label}: {format_position(value)}"
            _cap_area(info, desc, node, value)
    ET.indent(alert)
    xml: str = ET.tostring(alert, encoding="unicode", xml_declaration=False)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + xml + "\n"


def _sender_name(names: str | Mapping[str, str] | None, lang: str, sender: Mapping[str, Any]) -> str:
    if isinstance(names, str) and names:
        return names
    if isinstance(names, Mapping) and names.get(lang):
        return str(names[lang])
    return str(sender.get("node", "node"))


def _geometry(node: Node, value: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A GeoJSON geometry and the properties it needs (a circle's radius)."""
    if node.kind == "position":
        return {"type": "Point", "coordinates": [value["lon"], value["lat"]]}, {}
    circle = value if node.kind == "circle" else value.get("circle")
    if circle is not None:
        center = circle["center"]
        radius = float(circle["radius_nm"])
        props = {"radius_nm": radius, "radius_m": radius * NM_IN_METRES}
        return {"type": "Point", "coordinates": [center["lon"], center["lat"]]}, props
    ring = counterclockwise(closed_ring(value["polygon"]))
    return {"type": "Polygon", "coordinates": [[[lon, lat] for lat, lon in ring]]}, {}


def to_geojson(envelope: Mapping[str, Any], *, lang: str = "en") -> dict[str, Any]:
    """An RFC 7946 Feature at the message's first position or area (in schema order)."""
    locations = _locations(envelope)
    if not locations:
        raise UsageError(
            T("a {envelope_type} message has no position or area", envelope_type=envelope["type"]),
            hint=T("only messages with a position or an area can be shown on a map"),
        )
    path, node, value = locations[0]
    geometry, extra = _geometry(node, value)
    status = str(envelope["status"])
    rendered = render(envelope, lang)
    sender = envelope.get("sender") or {}
    properties: dict[str, Any] = {
        "id": envelope.get("id"),
        "type": envelope["type"],
        "type_version": envelope["type_version"],
        "channel": envelope.get("channel"),
        "sender_node": sender.get("node"),
        "sender_desk": sender.get("desk"),
        "created": envelope.get("created"),
        "precedence": envelope["precedence"],
        "status": status,
        "drill": status in DRILL_STATUSES,
        "banner": rendered.banner,
        "title": rendered.title,
        "location": pointer(path),
        **extra,
    }
    return {
        "type": "Feature",
        "id": envelope.get("id"),
        "geometry": geometry,
        "properties": properties,
    }


def to_feature_collection(envelopes: Iterable[Mapping[str, Any]], *, lang: str = "en") -> dict[str, Any]:
    """An RFC 7946 FeatureCollection of every message that has a position or area."""
    features = [to_geojson(e, lang=lang) for e in envelopes if _locations(e)]
    return {"type": "FeatureCollection", "features": features}


def to_ical(envelope: Mapping[str, Any], *, lang: str = "en") -> bytes:
    """An RFC 5545 calendar with the proposed meeting as one VEVENT."""
    if envelope["type"] != "meeting-proposal":
        raise UsageError(
            T("a {envelope_type} message is not a meeting proposal", envelope_type=envelope["type"]),
            hint=T("iCalendar export covers meeting-proposal messages"),
        )
    from parley.formats.labels import topic_label

    body = envelope["body"]
    cat = load_catalogue(lang)
    rendered = render(envelope, lang)
    w = schema_walker("meeting-proposal", envelope["type_version"])

    cal = Calendar()
    cal.add("prodid", "-//Parley//formats//EN")
    cal.add("version", "2.0")
    event = Event()
    event.add("uid", f"{body['meeting_id']}@parley")
    stamp = envelope.get("created")
    event.add("dtstamp", parse_time(str(stamp)) if stamp else parse_time(body["start"]))
    event.add("dtstart", parse_time(body["start"]).astimezone(UTC))
    event.add("dtend", parse_time(body["end"]).astimezone(UTC))
    event.add("summary", rendered.title)
    event.add("location", body["place"]["name"])
    if "position" in body["place"]:
        event.add("geo", (body["place"]["position"]["lat"], body["place"]["position"]["lon"]))
    # A proposal is not yet agreed; the agreed meeting is recorded by its protocol.
    event.add("status", "TENTATIVE")
    lines = [rendered.banner] if rendered.banner else []
    level = w.child(w.root, "level")
    level_text = cat.get(level.enum_key(body["level"])) if level else str(body["level"])
    lines.append(f"{cat.get('field.meeting-proposal.level')}: {level_text}")
    lines.append(f"{cat.get('field.meeting-proposal.agenda')}:")
    for item in body["agenda"]:
        title = item["title"]
        topic = topic_label(str(item["topic"]), lang)  # a label, never the code (issue 16)
        lines.append(f"{item['item_id']}. {title['text']} [{topic}] ({title['lang']})")
    for d in body.get("delegations", ()):
        head = cat.get("field.meeting-proposal.delegations.head")
        lines.append(f"{d['party']}: {head}: {d['head']}")
    event.add("description", "\n".join(lines))
    cal.add_component(event)
    ical: bytes = cal.to_ical()
    return ical
