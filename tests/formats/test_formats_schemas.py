"""Schemas, examples and validation problems in three languages."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from parley.errors import NotFoundError, UsageError, ValidationError
from parley.formats import get_schema, latest_version, list_types, validate_body
from parley.formats.registry import SCHEMA_DIR, all_schemas, common_schema
from tests.formats.formats_helpers import LANGS, TYPES, example

EXPECTED_TYPES = [
    "activity-notification",
    "border-incident",
    "general",
    "incident-at-sea",
    "incident-response",
    "meeting-acceptance",
    "meeting-protocol",
    "meeting-protocol-signature",
    "meeting-proposal",
    "sar-request",
    "sar-sitrep",
]


def test_every_type_has_a_schema_and_an_example() -> None:
    assert sorted(t.name for t in list_types()) == sorted(EXPECTED_TYPES)
    assert sorted(TYPES) == sorted(EXPECTED_TYPES)
    for t in list_types():
        assert t.versions == (1,)
        assert t.latest == 1 == latest_version(t.name)
        assert t.title
        assert t.description


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.json")), ids=lambda p: p.name)
def test_schema_files_are_valid_2020_12_with_id_title_and_descriptions(path: Any) -> None:
    schema = json.loads(path.read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/" + path.name)
    assert schema["title"]

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key in ("properties", "$defs"):
                for name, sub in node.get(key, {}).items():
                    assert sub.get("description"), f"{path.name}: {where}/{name} has no description"
                    walk(sub, f"{where}/{name}")
            if isinstance(node.get("items"), dict):
                walk(node["items"], where + "[]")

    walk(schema, "")


@pytest.mark.parametrize("type_name", TYPES)
def test_example_body_validates(type_name: str) -> None:
    validate_body(type_name, 1, example(type_name))
    validate_body(type_name, None, example(type_name), lang="nb")


def test_get_schema_returns_a_copy_and_unknowns_are_refused() -> None:
    schema = get_schema("general")
    schema["title"] = "changed"
    assert get_schema("general", 1)["title"] != "changed"
    with pytest.raises(NotFoundError, match="unknown message type"):
        get_schema("nonsense")
    with pytest.raises(NotFoundError, match="no version 2"):
        get_schema("general", 2)
    with pytest.raises(UsageError):
        validate_body("general", "1", {"text": "x", "lang": "en"})  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        validate_body("nonsense", None, {})
    with pytest.raises(UsageError, match="no catalogue"):
        validate_body("general", None, {}, lang="xx")


def test_common_definitions_are_published_with_the_types() -> None:
    names = set(all_schemas())
    assert "common.v1.json" in names
    assert {f"{t}.v1.json" for t in EXPECTED_TYPES} <= names
    assert "utc_time" in common_schema()["$defs"]


def with_(type_name: str, change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    body = example(type_name)
    change(body)
    return body


# Each case: a broken example body and the exact set of paths that must be reported.
BAD_BODIES: list[tuple[str, str, Any, set[str]]] = [
    (
        "incident-at-sea",
        "unit without hull number or call sign; call sign not text",
        with_(
            "incident-at-sea",
            lambda b: (
                b["units"][0].pop("hull_number"),
                b["units"][0].pop("call_sign"),
                b["units"][1].update(call_sign=5),
            ),
        ),
        {"/units/0", "/units/1/call_sign"},
    ),
    (
        "incident-at-sea",
        "latitude out of range; time not RFC 3339 UTC",
        with_(
            "incident-at-sea",
            lambda b: (b["position"].update(lat=95), b.update(time="2026-11-23 10:15")),
        ),
        {"/position/lat", "/time"},
    ),
    (
        "incident-at-sea",
        "unknown category, unknown field, missing description",
        with_(
            "incident-at-sea",
            lambda b: (b.update(category="rammed", weather=1), b.pop("description")),
        ),
        {"/category", "/weather", "/description"},
    ),
    (
        "border-incident",
        "place without border post or position",
        with_("border-incident", lambda b: b.update(place={})),
        {"/place"},
    ),
    (
        "border-incident",
        "border mark 0 and a negative count",
        with_(
            "border-incident",
            lambda b: (b["place"].update(border_post=0), b["persons_involved"].update(count=-1)),
        ),
        {"/place/border_post", "/persons_involved/count"},
    ),
    (
        "border-incident",
        "unknown action; language not a tag",
        with_(
            "border-incident",
            lambda b: (b.update(requested_action="war"), b["description"].update(lang="Norsk")),
        ),
        {"/requested_action", "/description/lang"},
    ),
    (
        "activity-notification",
        "area with both polygon and circle",
        with_(
            "activity-notification",
            lambda b: b["area"].update(circle={"center": {"lat": 70, "lon": 30}, "radius_nm": 5}),
        ),
        {"/area"},
    ),
    (
        "activity-notification",
        "closure of unknown kind; closure without end",
        with_(
            "activity-notification",
            lambda b: (b["closures"][0].update(kind="land"), b["closures"][1].pop("to")),
        ),
        {"/closures/0/kind", "/closures/1/to"},
    ),
    (
        "activity-notification",
        "fractional ship count; live firing not boolean",
        with_(
            "activity-notification",
            lambda b: (b["forces"].update(ships=2.5), b.update(live_firing="yes")),
        ),
        {"/forces/ships", "/live_firing"},
    ),
    (
        "sar-request",
        "no assistance requested",
        with_("sar-request", lambda b: b.update(assistance_required=[])),
        {"/assistance_required"},
    ),
    (
        "sar-request",
        "assistance repeated; MMSI too short",
        with_(
            "sar-request",
            lambda b: (
                b.update(assistance_required=["towing", "towing"]),
                b["identity"].update(mmsi="12"),
            ),
        ),
        {"/assistance_required", "/identity/mmsi"},
    ),
    (
        "sar-request",
        "identity missing; unknown nature of distress",
        with_(
            "sar-request",
            lambda b: (b.pop("identity"), b["situation"].update(nature="boom")),
        ),
        {"/identity", "/situation/nature"},
    ),
    (
        "sar-sitrep",
        "sitrep number zero",
        with_("sar-sitrep", lambda b: b.update(sitrep_number=0)),
        {"/sitrep_number"},
    ),
    (
        "sar-sitrep",
        "sea state beyond Douglas 9; search circle of radius zero",
        with_(
            "sar-sitrep",
            lambda b: (
                b["weather_on_scene"].update(sea_state=12),
                b["search_area"]["circle"].update(radius_nm=0),
            ),
        ),
        {"/weather_on_scene/sea_state", "/search_area/circle/radius_nm"},
    ),
    (
        "sar-sitrep",
        "case id missing",
        with_("sar-sitrep", lambda b: b.pop("case_id")),
        {"/case_id"},
    ),
    (
        "meeting-proposal",
        "empty agenda",
        with_("meeting-proposal", lambda b: b.update(agenda=[])),
        {"/agenda"},
    ),
    (
        "meeting-proposal",
        "reference not a message id; unknown level",
        with_(
            "meeting-proposal",
            lambda b: (b["agenda"][1].update(refs=["not-a-uuid"]), b.update(level="ministers")),
        ),
        {"/agenda/1/refs/0", "/level"},
    ),
    (
        "meeting-proposal",
        "30 February; meeting id too short",
        with_(
            "meeting-proposal",
            lambda b: b.update(start="2026-02-30T08:00:00Z", meeting_id="x"),
        ),
        {"/start", "/meeting_id"},
    ),
    (
        "meeting-protocol",
        "nobody attended",
        with_("meeting-protocol", lambda b: b.update(attendees=[])),
        {"/attendees"},
    ),
    (
        "meeting-protocol",
        "due date in local form; hash not sha256",
        with_(
            "meeting-protocol",
            lambda b: (
                b["action_items"][0].update(due="15.01.2027"),
                b.update(signed_text_hash="abc"),
            ),
        ),
        {"/action_items/0/due", "/signed_text_hash"},
    ),
    (
        "meeting-protocol",
        "decision without text",
        with_("meeting-protocol", lambda b: b["decisions"][0].pop("text")),
        {"/decisions/0/text"},
    ),
    ("general", "empty body", {}, {"/text", "/lang"}),
    ("general", "empty text; language a name", {"text": "", "lang": "Russian"}, {"/text", "/lang"}),
    ("general", "not an object", [], {"/"}),
]


@pytest.mark.parametrize(
    ("type_name", "case", "body", "paths"), BAD_BODIES, ids=[f"{c[0]}: {c[1]}" for c in BAD_BODIES]
)
def test_bad_bodies_report_every_problem_at_its_path_in_each_language(
    type_name: str, case: str, body: Any, paths: set[str]
) -> None:
    messages: dict[str, list[str]] = {}
    for lang in LANGS:
        with pytest.raises(ValidationError) as info:
            validate_body(type_name, 1, body, lang=lang)
        err = info.value
        assert {p for p, _ in err.problems} == paths, case
        assert all(m for _, m in err.problems)
        assert err.details["problems"][0]["path"] == err.problems[0][0]
        assert str(len(err.problems)) in err.message
        messages[lang] = [m for _, m in err.problems]
    # The same problems, said differently in each language.
    assert messages["nb"] != messages["en"] != messages["ru"]


@pytest.mark.parametrize(
    ("lang", "required", "enum_label", "time_hint"),
    [
        ("en", "required field is missing", "Dangerous manoeuvre", "expected a UTC time"),
        ("nb", "påkrevd felt mangler", "Farlig manøver", "forventet et tidspunkt i UTC"),
        ("ru", "отсутствует обязательное поле", "Опасное маневрирование", "ожидается время UTC"),
    ],
)
def test_messages_name_the_field_and_what_is_expected(
    lang: str, required: str, enum_label: str, time_hint: str
) -> None:
    body = example("incident-at-sea")
    del body["requested_action"]
    body["category"] = "rammed"
    body["time"] = "yesterday"
    with pytest.raises(ValidationError) as info:
        validate_body("incident-at-sea", 1, body, lang=lang)
    problems = dict(info.value.problems)
    assert required in problems["/requested_action"]
    # The allowed values are listed by wire value, each with its label in the reader's language.
    assert "dangerous_manoeuvre" in problems["/category"]
    assert enum_label in problems["/category"]
    assert time_hint in problems["/time"]
    assert "2026-11-23T10:15:00Z" in problems["/time"]
    assert "parley template incident-at-sea" in info.value.hint


def test_an_impossible_date_is_reported_once() -> None:
    with pytest.raises(ValidationError) as info:
        validate_body("incident-at-sea", 1, {**example("incident-at-sea"), "time": "2026-13-40T25:00:00Z"})
    assert [p for p, _ in info.value.problems] == ["/time"]
