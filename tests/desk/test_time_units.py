"""Times, units and positions as a person reads and types them (issue 13 item 6).

One time format everywhere (UTC first, the operator's own zone beside it when it differs,
the zone named), numbers with their units in the reader's locale, positions typed as shown
(degrees and decimal minutes) or in decimal degrees, read back exactly, and the operator's
zone as a setting of their own, stored in a real database.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.console.forms import FormBuilder, problems_at
from parley.console.timefmt import read_as, stop_reading_as, when
from parley.console.views import when as view_when
from parley.errors import NotFoundError, UsageError, ValidationError
from parley.formats import render
from parley.formats.catalogue import load_catalogue
from parley.formats.geo import (
    MAX_POSITION_TEXT,
    PositionSyntaxError,
    format_degrees_minutes,
    parse_coordinate,
    parse_position,
)
from parley.formats.registry import validate_body
from parley.formats.units import field_unit, with_unit
from parley.node import Node
from tests.formats.formats_helpers import envelope, example
from tests.harness.nodes import PASSWORD, init_node

TODAY = date(2026, 11, 29)
WINTER = "2026-11-29T18:39:00Z"


# --- when ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lang", "zone", "expected"),
    [
        ("en", None, "18:39 UTC"),
        ("en", "UTC", "18:39 UTC"),
        ("en", "Europe/Oslo", "18:39 UTC (19:39 CET)"),
        ("nb", "Europe/Oslo", "18:39 UTC (19:39 CET)"),
        ("ru", "Europe/Moscow", "18:39 UTC (21:39 MSK)"),
        ("ru", "Europe/London", "18:39 UTC"),  # GMT in winter: the same clock, said once
        ("en", "Asia/Dubai", "18:39 UTC (22:39 Asia/Dubai)"),  # no lettered abbreviation: the name
        ("en", "Mars/Olympus", "18:39 UTC"),  # not a zone: UTC alone rather than a broken page
    ],
)
def test_utc_first_with_the_operators_zone_named(lang: str, zone: str | None, expected: str) -> None:
    assert when(WINTER, zone, lang, today=TODAY) == expected


def test_the_date_is_shown_when_not_today_in_each_language() -> None:
    t = datetime(2026, 11, 28, 23, 39, tzinfo=UTC)
    assert when(t, "Europe/Oslo", "en", today=TODAY) == "28 Nov 2026 23:39 UTC (29 Nov 2026 00:39 CET)"
    assert when(t, "Europe/Oslo", "nb", today=TODAY) == "28. nov. 2026 23:39 UTC (29. nov. 2026 00:39 CET)"
    assert when(t, None, "ru", today=TODAY) == "28 нояб. 2026\u202fг. 23:39 UTC"
    # Today in UTC but tomorrow on the operator's wall clock: the local part says which day.
    late = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
    assert when(late, "Europe/Moscow", "en", today=TODAY) == "22:30 UTC (30 Nov 2026 01:30 MSK)"
    # Summer time is named as such.
    summer = when("2026-06-01T12:00:00Z", "Europe/Oslo", "en", today=date(2026, 6, 1))
    assert summer == "12:00 UTC (14:00 CEST)"


def test_naive_database_times_are_utc() -> None:
    # SQLite hands back naive datetimes; Parley stores UTC only.
    assert when(datetime(2026, 11, 29, 18, 39), "Europe/Oslo", "en", today=TODAY) == "18:39 UTC (19:39 CET)"


def test_views_and_rendered_messages_use_the_readers_zone_not_the_language() -> None:
    # Outside a request (the CLI) the reader is UTC, whatever the language.
    assert view_when(WINTER, "nb").endswith("18:39 UTC")
    r = render(envelope("incident-at-sea"), "ru")
    assert {f.path: f.value for f in r.fields}["/time"] == "23 нояб. 2026\u202fг. 10:15 UTC"
    token = read_as("Europe/Oslo", TODAY)  # what the console's middleware does per request
    try:
        assert view_when(WINTER, "ru") == "18:39 UTC (19:39 CET)"
        r = render(envelope("incident-at-sea"), "ru")
    finally:
        stop_reading_as(token)
    # A message is a document: its times always carry the date.
    assert {f.path: f.value for f in r.fields}["/time"] == "23 нояб. 2026\u202fг. 10:15 UTC (11:15 CET)"
    assert view_when(WINTER, "en").endswith("18:39 UTC")  # and the setting ends with the request


# --- units ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1440.0, "min", {"nb": "1\u00a0440 min", "ru": "1\u00a0440 мин", "en": "1,440 min"}),
        (12.5, "kn", {"nb": "12,5 knop", "ru": "12,5 уз", "en": "12.5 kn"}),
        (270, "°", {"nb": "270°", "ru": "270°", "en": "270°"}),
        (3.0, "NM", {"nb": "3 nm", "ru": "3 мор. миль", "en": "3 NM"}),
        (-1.5, "°C", {"nb": "-1,5 °C", "ru": "-1,5 °C", "en": "-1.5 °C"}),
        (0.125, "m", {"nb": "0,125 m", "ru": "0,125 м", "en": "0.125 m"}),
    ],
)
def test_numbers_carry_their_units_in_each_language(
    value: float, unit: str, expected: dict[str, str]
) -> None:
    for lang, text in expected.items():
        assert with_unit(value, unit, lang) == text


def test_a_fields_unit_follows_its_name_or_its_schema() -> None:
    assert field_unit("speed_kn") == "kn"
    assert field_unit("radius_nm") == "NM"
    assert field_unit("wind_dir_deg") == "°"
    assert field_unit("air_temp_c") == "°C"
    assert field_unit("lat") == "°"
    assert field_unit("sea_state") is None
    assert field_unit("sitrep_number") is None
    assert field_unit("depth", {"type": "number", "x-unit": "m"}) == "m"


def test_rendered_numbers_and_form_labels_show_units() -> None:
    body = example("incident-at-sea") | {"speed_kn": 1440.0, "course_deg": 285}
    fields = {f.path: f.value for f in render(envelope("incident-at-sea", body=body), "nb").fields}
    assert fields["/speed_kn"] == "1\u00a0440 knop"  # never "1440.0"
    assert fields["/course_deg"] == "285°"
    for lang, speed in (("nb", "Fart (knop)"), ("ru", "Скорость (уз)"), ("en", "Speed (kn)")):
        labels = {f.name: f.label for top in FormBuilder("incident-at-sea", load_catalogue(lang)).fields(
            {}, {}, lang) for f in top.walk()}  # fmt: skip
        assert labels["/speed_kn"] == speed
        assert labels["/course_deg"].endswith("(°)")
        assert labels["/description/text"].count("(") == 0  # text has no unit


# --- positions -----------------------------------------------------------------------------
HUNDREDTH_MINUTE = 1 / 6000


@given(st.floats(min_value=-90, max_value=90, allow_nan=False))
def test_latitude_round_trips_through_degrees_and_minutes(lat: float) -> None:
    shown = format_degrees_minutes(lat, is_lat=True)
    assert abs(parse_coordinate(shown, is_lat=True) - lat) <= HUNDREDTH_MINUTE / 2 + 1e-9


@given(
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
)
def test_positions_round_trip_as_shown_and_as_typed_in_plain_ascii(lat: float, lon: float) -> None:
    shown = f"{format_degrees_minutes(lat, is_lat=True)} {format_degrees_minutes(lon, is_lat=False)}"
    typed = shown.replace("°", " ").replace("′", " ")  # "71 31.20 N 031 12.00 E"
    for text in (shown, typed):
        got_lat, got_lon = parse_position(text)
        assert abs(got_lat - lat) <= HUNDREDTH_MINUTE / 2 + 1e-9
        assert abs(got_lon - lon) <= HUNDREDTH_MINUTE / 2 + 1e-9


@given(
    st.decimals(min_value=-90, max_value=90, places=5, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=-180, max_value=180, places=5, allow_nan=False, allow_infinity=False),
)
def test_decimal_degrees_are_read_exactly(lat: object, lon: object) -> None:
    assert parse_position(f"{lat}, {lon}") == (float(str(lat)), float(str(lon)))
    assert parse_coordinate(str(lon).replace(".", ","), is_lat=False) == float(str(lon))


@pytest.mark.parametrize(
    "text",
    [
        "71°31.2′N 031°12.0′E",
        "71 31.2 N 31 12.0 E",
        "71°31,2'N 31°12,0'E",
        "N71 31.2 E031 12",
        "031°12.0′E 71°31.2′N",  # longitude first, but it says so
        "71°31′12″N 31°12′E",
        "71.52, 31.2",
        "71,52 31,2",
        "71 31,2 N 31 12,0 Ø",  # Norwegian øst
        "71°31,2′С 031°12,0′В",  # Russian север / восток
    ],
)
def test_positions_as_people_write_them(text: str) -> None:
    lat, lon = parse_position(text)
    assert (round(lat, 6), round(lon, 6)) == (71.52, 31.2)


@pytest.mark.parametrize(
    ("text", "is_lat", "reason"),
    [
        ("north of Vardø", True, "unreadable"),
        ("71 61 N", True, "minutes"),
        ("71 31.2 E", True, "hemisphere"),  # a longitude in the latitude field
        ("-71 N", True, "hemisphere"),  # a sign and a letter that disagree (or might)
        ("91", True, "lat_range"),
        ("90 00.1 S", True, "lat_range"),
        ("180 00.1 W", False, "lon_range"),
        ("1" * (MAX_POSITION_TEXT + 1), True, "unreadable"),
    ],
)
def test_a_position_that_cannot_be_read_says_why(text: str, is_lat: bool, reason: str) -> None:
    with pytest.raises(PositionSyntaxError) as err:
        parse_coordinate(text, is_lat=is_lat)
    assert err.value.reason == reason


INCIDENT = {"/time": "2026-11-23T10:15", "/category": "unsafe_approach", "/units/0/name": "Severomorsk",
            "/units/0/unit_type": "warship", "/units/0/hull_number": "619",
            "/requested_action": "explanation", "/description/text": "Close pass",
            "/description/lang": "en"}  # fmt: skip


def _form(**values: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in values.items()}


@pytest.mark.parametrize(
    "typed",
    [
        {"/position/lat": "71°31.2′N 031°12.0′E"},  # the whole position, as shown, in one field
        {"/position/lat": "71 31,2 N", "/position/lon": "31 12,0 E"},
        {"/position/lat": "71.52", "/position/lon": "31.2"},  # what the map picker writes
    ],
)
def test_the_compose_form_reads_positions_as_typed(typed: dict[str, str]) -> None:
    builder = FormBuilder("incident-at-sea", load_catalogue("nb"))
    body, problems = builder.body(_form(**INCIDENT, **typed))
    assert problems == []
    assert (round(body["position"]["lat"], 6), round(body["position"]["lon"], 6)) == (71.52, 31.2)
    validate_body("incident-at-sea", None, body, lang="nb")


@pytest.mark.parametrize(
    ("lang", "words"),
    [("nb", "minutter og sekunder må være under 60"), ("ru", "минуты и секунды должны быть меньше 60"),
     ("en", "minutes and seconds must be below 60")],
)  # fmt: skip
def test_a_bad_position_is_one_clear_error_at_its_own_field(lang: str, words: str) -> None:
    builder = FormBuilder("incident-at-sea", load_catalogue(lang))
    data = _form(**INCIDENT, **{"/position/lat": "71 61 N", "/position/lon": "31 12 E"})
    body, problems = builder.body(data)
    validate_body("incident-at-sea", None, body, lang=lang)  # the stand-in passes the schema…
    at, loose = problems_at(problems, builder.fields(data, {}, lang))
    assert loose == []
    assert at == {"/position/lat": f"«71 61 N»: {words}" if lang != "en" else f"“71 61 N”: {words}"}
    shown = {f.name: f for top in builder.fields(data, at, lang) for f in top.walk()}
    assert shown["/position/lat"].value == "71 61 N"  # …and what was typed stays in the field


def test_a_latitude_out_of_range_names_the_bounds() -> None:
    builder = FormBuilder("incident-at-sea", load_catalogue("en"))
    _, problems = builder.body(_form(**INCIDENT, **{"/position/lat": "95 00 N", "/position/lon": "31"}))
    assert problems == [("/position/lat", "“95 00 N”: latitude must be between 90°S and 90°N (−90 to 90)")]
    with pytest.raises(ValidationError):  # and a missing coordinate is the schema's to report
        validate_body("incident-at-sea", None, builder.body(_form(**INCIDENT, **{"/position/lat": "71"}))[0])


def test_area_corners_may_be_typed_in_degrees_and_minutes() -> None:
    builder = FormBuilder("activity-notification", load_catalogue("en"))
    corners_typed = "69°30.0′N 030°06.0′E\n69.9, 30.9\n70 12 N 31 E"
    body, problems = builder.body(_form(**{"/area/polygon": corners_typed}))
    assert problems == []
    corners = [(round(p["lat"], 6), round(p["lon"], 6)) for p in body["area"]["polygon"]]
    assert corners == [(69.5, 30.1), (69.9, 30.9), (70.2, 31.0)]


# --- the setting ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def node_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("zones")
    n = init_node(base, "node-a", "Norway")
    (base / "pw").write_text(PASSWORD)
    n.cli_here("desk", "add", "duty")
    n.cli_here(
        "operator", "add", "duty1", "--desk", "duty", "--role", "duty", "--password-file", str(base / "pw")
    )
    return n.home


def test_the_zone_is_an_operator_setting_defaulting_to_utc(node_home: Path) -> None:
    from parley.devnet.nodes import run_cli_here
    from parley.directory.time_zones import time_zone_of

    node = Node.open(node_home)
    try:
        assert time_zone_of(node, "duty1") == "UTC"
        shown = run_cli_here(node_home, "operator", "zone", "duty1").stdout.strip()
        assert shown == "duty1 reads times in UTC and UTC"
        out = run_cli_here(node_home, "operator", "zone", "duty1", "Europe/Oslo")
        assert out.stdout.strip() == "duty1 reads times in UTC and Europe/Oslo"
        assert time_zone_of(node, "duty1") == "Europe/Oslo"
        # A wrong name is refused with what to do, and changes nothing.
        for bad in ("Mars/Olympus", "../../etc/passwd", "Europe/" + "x" * 80, ""):
            bad_run = run_cli_here(node_home, "operator", "zone", "duty1", bad or " ", check=False)
            assert bad_run.returncode != 0, bad
            assert "IANA time zone name" in bad_run.stderr, bad_run.stderr
        assert time_zone_of(node, "duty1") == "Europe/Oslo"
        assert run_cli_here(node_home, "operator", "zone", "nobody", "UTC", check=False).returncode != 0
    finally:
        node.close()


def test_zone_names_are_checked_against_the_tz_database() -> None:
    from parley.directory.time_zones import valid_zone, zone_choices

    assert valid_zone(" Europe/Moscow ") == "Europe/Moscow"
    with pytest.raises(UsageError) as err:
        valid_zone("Europe/Atlantis")
    assert err.value.code == "unknown_time_zone"
    assert "Europe/Oslo" in (err.value.hint or "")
    assert zone_choices()[0] == "UTC"
    assert "Europe/Oslo" in zone_choices()
    assert not isinstance(err.value, NotFoundError)
