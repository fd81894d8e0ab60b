"""Compose forms generated from the message schemas: fields, parsing, problems at fields."""

from __future__ import annotations

import pytest

from parley.console.forms import FormBuilder, problems_at
from parley.errors import ValidationError
from parley.formats.catalogue import load_catalogue
from parley.formats.registry import validate_body


def form(**values: str | list[str]) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in values.items()}


INCIDENT = {
    "/time": "2026-11-23T10:15",
    "/position/lat": "69,8",  # a Norwegian or Russian keyboard's decimal comma
    "/position/lon": "31.5",
    "/units/0/name": "Severomorsk",
    "/units/0/hull_number": "619",
    "/units/0/unit_type": "warship",
    "/category": "unsafe_approach",
    "/speed_kn": "12",
    "/description/text": "Passed within 2 cables.",
    "/description/lang": "en",
    "/requested_action": "explanation",
}


def test_incident_form_has_a_field_for_every_schema_field_with_translated_labels() -> None:
    fields = FormBuilder("incident-at-sea", load_catalogue("ru")).fields({}, {}, "ru")
    by_name = {f.name: f for top in fields for f in top.walk()}
    assert by_name["/position"].widget == "position"
    assert [c.name for c in by_name["/position"].children] == ["/position/lat", "/position/lon"]
    assert by_name["/units"].widget == "list"
    assert len(by_name["/units"].children) == 1
    assert by_name["/units/0/unit_type"].widget == "select"
    assert ("warship", "Военный корабль") in by_name["/units/0/unit_type"].options
    assert by_name["/time"].widget == "datetime"
    assert by_name["/description/text"].widget == "textarea"
    assert by_name["/description/lang"].value == "ru"  # free text defaults to the writer's language
    assert by_name["/category"].label == "Категория"


def test_a_filled_incident_form_becomes_a_valid_body() -> None:
    body, problems = FormBuilder("incident-at-sea", load_catalogue("en")).body(form(**INCIDENT))
    assert problems == []
    assert body["time"] == "2026-11-23T10:15:00Z"
    assert body["position"] == {"lat": 69.8, "lon": 31.5}
    assert body["units"] == [{"name": "Severomorsk", "hull_number": "619", "unit_type": "warship"}]
    assert body["speed_kn"] == 12
    assert "course_deg" not in body
    assert body["description"] == {"text": "Passed within 2 cables.", "lang": "en"}
    validate_body("incident-at-sea", None, body)


def test_problems_land_at_their_own_fields_in_the_readers_language() -> None:
    cat = load_catalogue("nb")
    builder = FormBuilder("incident-at-sea", cat)
    data = form(**{**INCIDENT, "/position/lat": "99", "/units/0/hull_number": "", "/category": ""})
    body, pre = builder.body(data)
    with pytest.raises(ValidationError) as err:
        validate_body("incident-at-sea", None, body, lang="nb")
    fields = builder.fields(data, {}, "nb")
    at, loose = problems_at(pre + list(err.value.problems), fields)
    assert loose == []
    assert "/position/lat" in at
    assert "90" in at["/position/lat"]
    assert at["/category"] == "Kategori: påkrevd felt mangler"
    assert "/units/0" in at  # hull number or call sign: a problem of the unit as a whole
    shown = {f.name: f.error for top in builder.fields(data, at, "nb") for f in top.walk()}
    assert shown["/position/lat"] == at["/position/lat"]


def test_more_items_on_request_and_areas_from_lines_of_corners() -> None:
    builder = FormBuilder("activity-notification", load_catalogue("en"))
    data = form(**{"_count/closures": "2", "/area/polygon": "69.5, 30.1\n69.9 30.9\n70.2, 31.0"})
    fields = {f.name: f for top in builder.fields(data, {}, "en") for f in top.walk()}
    assert len(fields["/closures"].children) == 2
    assert fields["/area"].widget == "area"
    body, problems = builder.body(data)
    assert problems == []
    assert body["area"] == {
        "polygon": [
            {"lat": 69.5, "lon": 30.1},
            {"lat": 69.9, "lon": 30.9},
            {"lat": 70.2, "lon": 31.0},
        ]
    }
    assert "closures" not in body  # two empty closures are no closures


def test_a_corner_that_is_not_a_position_is_reported_at_the_area() -> None:
    builder = FormBuilder("activity-notification", load_catalogue("en"))
    body, problems = builder.body(form(**{"/area/polygon": "69.5, 30.1\nnorth of Vardø"}))
    assert "area" not in body
    assert problems == [("/area/polygon", 'corner 2 ("north of Vardø") is not "lat, lon" in decimal degrees')]


def test_the_general_message_is_subject_text_and_language() -> None:
    builder = FormBuilder("general", load_catalogue("en"))
    names = [f.name for f in builder.fields({}, {}, "nb")]
    assert names == ["/subject", "/text", "/lang"]
    body, _ = builder.body(form(**{"/text": "Hei", "/lang": "nb"}))
    assert body == {"text": "Hei", "lang": "nb"}


def test_values_that_do_not_convert_are_left_for_the_schema_to_name() -> None:
    body, _ = FormBuilder("incident-at-sea", load_catalogue("en")).body(
        form(**{**INCIDENT, "/speed_kn": "fast", "/time": "yesterday"})
    )
    assert body["speed_kn"] == "fast"
    assert body["time"] == "yesterday"
    with pytest.raises(ValidationError) as err:
        validate_body("incident-at-sea", None, body)
    assert {p for p, _ in err.value.problems} == {"/speed_kn", "/time"}
