"""Rendering in nb, ru and en: labels, times, positions, free text and drill banners."""

from __future__ import annotations

import pytest

from parley.errors import PeerError, UsageError
from parley.formats import NoTranslator, render, render_html, render_text
from parley.formats.geo import format_degrees_minutes, format_position
from parley.formats.times import read_as, stop_reading_as
from tests.formats.formats_helpers import LANGS, TYPES, envelope, example

BANNERS = {
    ("nb", "EXERCISE"): "*** ØVELSE — EXERCISE ***",
    ("ru", "EXERCISE"): "*** УЧЕБНОЕ — EXERCISE ***",
    ("en", "EXERCISE"): "*** EXERCISE — EXERCISE — EXERCISE ***",
    ("nb", "TEST"): "*** TEST — PRØVEMELDING — TEST ***",
    ("ru", "TEST"): "*** ПРОВЕРОЧНОЕ — TEST ***",
    ("en", "TEST"): "*** TEST — TEST — TEST ***",
}


class Upper:
    """A translator that shouts: enough to see where translations go."""

    engine = "upper-case test engine"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def translate(self, text: str, source: str, target: str) -> str:
        self.calls.append((text, source, target))
        return text.upper()


class Broken:
    engine = "broken"

    def translate(self, text: str, source: str, target: str) -> str:
        raise PeerError("translator at http://mt.invalid could not be reached")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("status", ["EXERCISE", "TEST"])
@pytest.mark.parametrize("type_name", TYPES)
def test_drill_traffic_carries_the_banner_in_every_output(type_name: str, status: str, lang: str) -> None:
    r = render(envelope(type_name, status), lang)
    banner = BANNERS[lang, status]
    assert r.banner == banner
    assert r.is_drill
    text = render_text(r)
    assert text.startswith(banner + "\n")
    assert text.rstrip().endswith(banner)
    html = render_html(r)
    assert html.count(banner) == 2
    assert 'class="drill-banner" role="alert"' in html
    assert r.title.startswith("[")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("type_name", TYPES)
def test_actual_traffic_has_no_banner(type_name: str, lang: str) -> None:
    r = render(envelope(type_name, "ACTUAL"), lang)
    assert r.banner is None
    assert r.banner_note is None
    assert not r.is_drill
    text, html = render_text(r), render_html(r)
    for banner in BANNERS.values():
        assert banner not in text
        assert banner not in html
    assert "drill-banner" not in html
    assert not r.title.startswith("[")


def test_incident_at_sea_in_norwegian() -> None:
    r = render(envelope("incident-at-sea"), "nb")
    assert r.title == "Hendelse til sjøs: Farlig manøver"
    assert r.type_label == "Hendelse til sjøs"
    assert r.precedence_label == "IMMEDIATE"
    assert r.status_label == "Reell"
    fields = {f.label: f.value for f in r.fields}
    assert fields["Tidspunkt"] == "23. nov. 2026 10:15 UTC"  # the zone is the reader's, not nb's
    assert fields["Posisjon"] == "70°03,25′N 031°13,00′E (70,05420; 31,21670)"  # nb decimal comma
    assert fields["Involverte enheter (1) › Enhetstype"] == "Kystvaktfartøy"
    assert fields["Involverte enheter (2) › Skrognummer"] == "619"
    assert fields["Fart"] == "18,5 knop"
    assert fields["Kurs"] == "285°"
    assert fields["Ønsket tiltak"] == "Forklaring ønskes"
    # Schema order: time, position, units, category, course, speed, description, action.
    labels = [f.label for f in r.fields]
    assert labels.index("Tidspunkt") < labels.index("Posisjon") < labels.index("Kategori")
    assert labels.index("Kategori") < labels.index("Beskrivelse") < labels.index("Ønsket tiltak")
    meta = {f.label: f.value for f in r.meta}
    assert meta["Sendt"] == "23. nov. 2026 10:20 UTC"
    assert meta["Fra"] == "duty-officer @ no-njhq"
    assert meta["Referanser"] == "3f1c2b9e-8d4a-4c1e-9b7a-2e6f0d5c4a11"


def test_incident_at_sea_in_russian_and_english() -> None:
    ru = render(envelope("incident-at-sea"), "ru")
    fields = {f.label: f.value for f in ru.fields}
    assert ru.title == "Инцидент на море: Опасное маневрирование"
    assert fields["Время"] == "23 нояб. 2026\u202fг. 10:15 UTC"
    assert fields["Участвующие единицы (№ 1) › Тип единицы"] == "Корабль береговой охраны"
    assert fields["Скорость"] == "18,5 уз"
    en = render(envelope("incident-at-sea"), "en")
    fields = {f.label: f.value for f in en.fields}
    assert fields["Time"] == "23 Nov 2026 10:15 UTC"
    assert fields["Category"] == "Dangerous manoeuvre"
    assert fields["Speed"] == "18.5 kn"


def test_a_time_on_another_local_day_shows_the_utc_date() -> None:
    body = example("incident-at-sea")
    body["time"] = "2026-11-23T22:30:00Z"
    token = read_as("Europe/Moscow", None)  # a reader who chose Moscow time (parley.formats.times)
    try:
        fields = {f.path: f.value for f in render(envelope("incident-at-sea", body=body), "ru").fields}
    finally:
        stop_reading_as(token)
    assert fields["/time"] == "23 нояб. 2026\u202fг. 22:30 UTC (24 нояб. 2026\u202fг. 01:30 MSK)"


def test_numbers_and_areas_in_the_readers_locale() -> None:
    fields = {f.path: f.value for f in render(envelope("activity-notification"), "en").fields}
    assert fields["/forces/personnel"] == "3,500"
    assert fields["/closures/0/area"].startswith("circle, radius 25 NM, centre 71°00.00′N 035°00.00′E")
    assert fields["/area"].startswith("polygon: 70°30.00′N 033°00.00′E (70.50000, 33.00000); ")
    assert fields["/live_firing"] == "Yes"
    nb = {f.path: f.value for f in render(envelope("activity-notification"), "nb").fields}
    assert nb["/forces/personnel"] == "3\xa0500"
    assert nb["/live_firing"] == "Ja"


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (69.72, 30.04, "69°43.20′N 030°02.40′E (69.72000, 30.04000)"),
        (-33.8568, -151.2153, "33°51.41′S 151°12.92′W (-33.85680, -151.21530)"),
        (69.99999999, 0.0, "70°00.00′N 000°00.00′E (70.00000, 0.00000)"),
    ],
)
def test_position_formatting(lat: float, lon: float, expected: str) -> None:
    assert format_position({"lat": lat, "lon": lon}) == expected
    assert format_degrees_minutes(59.9999999, is_lat=True) == "60°00.00′N"


def test_free_text_is_marked_as_original_with_its_language() -> None:
    r = render(envelope("activity-notification"), "nb")
    (desc,) = [f for f in r.fields if f.path == "/description/text"]
    assert desc.original
    assert desc.lang == "ru"
    assert not desc.unofficial
    assert desc.note == "original, russisk"
    assert desc.value.startswith("Учение разнородных сил")
    assert r.notes == ["Ingen oversetter er satt opp: fritekst vises bare på originalspråket."]
    assert "Beskrivelse [original, russisk]: Учение" in render_text(r)
    # Same language as the reader: nothing to translate, nothing to say about translators.
    assert render(envelope("incident-at-sea"), "nb").notes == []


def test_machine_translation_is_a_separate_unofficial_field() -> None:
    mt = Upper()
    r = render(envelope("activity-notification"), "en", translator=mt)
    assert mt.calls
    assert mt.calls[0][1:] == ("ru", "en")
    original = [f for f in r.fields if f.path == "/description/text"]
    assert [f.unofficial for f in original] == [False, True]
    translated = original[1]
    assert translated.label == "Description — machine translation, unofficial"
    assert translated.value == original[0].value.upper()
    assert translated.translation is not None
    assert translated.translation.engine == mt.engine
    assert translated.translation.unofficial
    assert "only the original is authoritative" in str(translated.note)
    html = render_html(r)
    assert 'data-unofficial="true"' in html
    assert "machine translation, unofficial" in html
    # Text already in the reader's language is not sent to the translator.
    mt.calls.clear()
    render(envelope("sar-sitrep"), "en", translator=mt)
    assert mt.calls == []


def test_no_translator_and_a_failing_one_are_said_plainly() -> None:
    r = render(envelope("general"), "en", translator=NoTranslator())
    assert r.notes == ["No translator configured: free text is shown in its original language only."]
    assert not any(f.unofficial for f in r.fields)
    r = render(envelope("general"), "en", translator=Broken())
    assert r.notes == ["Machine translation failed: translator at http://mt.invalid could not be reached"]
    with pytest.raises(UsageError, match="no translator configured"):
        NoTranslator().translate("x", "ru", "en")


def test_general_message_shows_subject_and_text() -> None:
    r = render(envelope("general"), "nb")
    assert r.title == "Generell melding: Подтверждение получения уведомления"
    (text,) = [f for f in r.fields if f.path == "/text"]
    assert text.label == "Tekst"
    assert text.lang == "ru"
    assert text.original


def test_html_escapes_what_a_peer_sent() -> None:
    body = {"subject": "<b>hi</b>", "text": "<script>alert(1)</script>", "lang": "en"}
    html = render_html(render(envelope("general", body=body), "en"))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>hi</b>" not in html


def test_an_incomplete_envelope_is_a_usage_error() -> None:
    env = envelope("general")
    del env["status"]
    with pytest.raises(UsageError, match="envelope lacks status"):
        render(env, "en")
