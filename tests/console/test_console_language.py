"""The console in the operator's language (issue 16): nothing English, nothing raw.

Pages are fetched from the real nodes of ``conftest.py`` as an nb and a ru reader; the
sentences behind them (counts with plural forms, validation problems, positions, topics) are
also rendered directly, without a node.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parley.console import counts
from parley.console.app import _previews
from parley.errors import ValidationError
from parley.formats.registry import validate_body
from parley.formats.render import nautical_miles, render, render_text
from parley.formats.texts import T
from parley.formats.texts import render as say
from tests.console.conftest import _parley
from tests.console.console_support import ConsoleClient
from tests.console.test_console_http import INCIDENT_FORM
from tests.harness.nodes import PASSWORD, NodeProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "parley" / "formats" / "examples"
NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"
RAW = re.compile(r"\{'|'\}|log_size|datetime\.|cosigned_by|\bNone\b|\bTrue\b|\bFalse\b")
ENTRIES = {"nb": r"\d+ oppføring(er)?", "ru": r"\d+ запис(ь|и|ей)"}


@pytest.fixture
def reader(nodes: tuple[NodeProcess, NodeProcess], request: pytest.FixtureRequest) -> Iterator[ConsoleClient]:
    """The auditor of node A, reading in the test's language (put back to English after)."""
    a, _ = nodes
    lang = request.param
    with ConsoleClient(a) as c:
        c.login("auditor-a")
        assert c.post("/console/settings", {"lang": lang}).status_code == 303
        try:
            yield c
        finally:
            c.post("/console/settings", {"lang": "en"})


# --- pages --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", ["nb", "ru"], indirect=True)
def test_the_dashboard_shows_the_record_as_labelled_sentences(reader: ConsoleClient) -> None:
    lang = re.search(r'<html lang="(\w+)">', reader.get("/console/settings").text)
    assert lang is not None
    page = reader.get("/console/")
    assert page.status_code == 200
    assert not RAW.search(page.text), RAW.search(page.text)
    heading = {"nb": "Journal", "ru": "Журнал"}[lang.group(1)]
    assert f"<h2>{heading}</h2>" in page.text
    assert re.search(ENTRIES[lang.group(1)], page.text)
    assert " ms<" not in page.text or lang.group(1) == "nb"  # ru: "мс"


@pytest.mark.parametrize(
    ("reader", "words"),
    [("nb", ["fant ingen melding", "Hva du kan gjøre"]), ("ru", ["не найдено", "Что делать"])],
    indirect=["reader"],
)
def test_an_error_page_speaks_the_readers_language(reader: ConsoleClient, words: list[str]) -> None:
    page = reader.get(f"/console/messages/{NO_SUCH_ID}")
    assert page.status_code == 404
    for word in words:
        assert word in page.text
    lang = "ru" if words[0] == "не найдено" else "nb"
    assert html.escape(say(T("see the inbox"), lang), quote=False) in page.text
    assert "no message" not in page.text
    assert "see the inbox" not in page.text


@pytest.mark.parametrize(
    ("reader", "pattern"),
    [
        (
            "nb",
            r"Verifisert: \d+ melding(er)? i \d+ kjeder?, \d+ kvittering(er)?; journalen har \d+ oppføring",
        ),
        (
            "ru",
            r"Проверено: \d+ сообщени(е|я|й), \d+ цепоч(ка|ки|ек), \d+ квитанци(я|и|й); в журнале \d+ запис",
        ),
    ],
    indirect=["reader"],
)
def test_a_record_verification_counts_in_the_readers_grammar(reader: ConsoleClient, pattern: str) -> None:
    page = reader.post("/console/record/verify", {})
    assert page.status_code == 200
    assert re.search(pattern, page.text), page.text[page.text.find("verify-result") :][:400]


@pytest.mark.parametrize(
    ("lang", "headings"),
    [
        ("nb", ["Slik leser mottakeren det (russisk)", "Slik leser mottakeren det (engelsk)"]),
        ("ru", ["Так это прочитает получатель (норвежский)", "Так это прочитает получатель (английский)"]),
    ],
)
def test_the_send_preview_names_the_recipients_language_in_the_readers(
    nodes: tuple[NodeProcess, NodeProcess], lang: str, headings: list[str]
) -> None:
    a, _ = nodes
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        assert c.post("/console/settings", {"lang": lang}).status_code == 303
        try:
            preview = c.post("/console/compose", {**INCIDENT_FORM, "action": "preview"})
        finally:
            c.post("/console/settings", {"lang": "en"})
    assert preview.status_code == 200
    for heading in headings:
        assert heading in preview.text
    assert "Русский" not in preview.text
    assert "Slik det leses" not in preview.text


def test_the_log_in_lock_out_waits_in_russian(nodes: tuple[NodeProcess, NodeProcess], tmp_path: Path) -> None:
    _, b = nodes
    (tmp_path / "pw").write_text(PASSWORD)
    _parley(
        "--home", str(b.home), "operator", "add", "brake-b", "--desk", "duty", "--role", "duty",
        "--password-file", str(tmp_path / "pw"),
    )  # fmt: skip
    with ConsoleClient(b) as c:
        c.http.headers["accept-language"] = "ru"
        for _ in range(5):
            assert c.start_login("brake-b", "wrong password!").status_code == 401
        locked = c.start_login("brake-b")
    assert locked.status_code == 429
    assert "Слишком много неудачных попыток входа" in locked.text
    assert re.search(r"подождите \d+ минут(у|ы)? или обратитесь к администратору", locked.text)
    assert "wait" not in locked.text
    assert " min," not in locked.text


# --- the sentences behind the pages ------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "ru", "nb"),
    [
        (1, "1 запись", "1 oppføring"),
        (2, "2 записи", "2 oppføringer"),
        (5, "5 записей", "5 oppføringer"),
        (21, "21 запись", "21 oppføringer"),
        (111, "111 записей", "111 oppføringer"),
    ],
)
def test_counts_take_each_languages_plural_form(n: int, ru: str, nb: str) -> None:
    assert say(counts.entries(n), "ru") == ru
    assert say(counts.entries(n), "nb") == nb


@pytest.mark.parametrize(
    ("n", "ru"),
    [(1, "1 ошибку"), (2, "2 ошибки"), (5, "5 ошибок"), (21, "21 ошибку"), (111, "111 ошибок")],
)
def test_the_compose_problem_count_agrees_with_its_number(n: int, ru: str) -> None:
    assert say(counts.problems_to_fix(n), "ru") == f"Перед отправкой исправьте {ru}"
    assert say(counts.problems_to_fix(n), "en").startswith(f"{n} problem")
    assert say(counts.problems_to_fix(n), "en").endswith("s to fix before sending") == (n != 1)


@pytest.mark.parametrize(
    ("value", "ru", "nb"),
    [
        (1, "1 мор. миля", "1 nm"),
        (2, "2 мор. мили", "2 nm"),
        (5, "5 мор. миль", "5 nm"),
        (21, "21 мор. миля", "21 nm"),
        (111, "111 мор. миль", "111 nm"),
        (2.5, "2,5 мор. мили", "2,5 nm"),
    ],
)
def test_nautical_miles_agree_with_the_number(value: float, ru: str, nb: str) -> None:
    assert say(nautical_miles(value), "ru") == ru
    assert say(nautical_miles(value), "nb") == nb


def _envelope(type_name: str, **extra: Any) -> dict[str, Any]:
    body = json.loads((EXAMPLES / f"{type_name}.json").read_text())
    return {
        "type": type_name,
        "type_version": 1,
        "precedence": "ROUTINE",
        "status": "ACTUAL",
        "channel": "test-line",
        "sender": {"node": "node-a", "desk": "duty"},
        "body": body,
        **extra,
    }


@pytest.mark.parametrize("lang", ["nb", "ru"])
def test_positions_use_the_decimal_comma_and_the_sequence_number_is_not_grouped(lang: str) -> None:
    text = render_text(render(_envelope("incident-at-sea", seq=1234), lang))
    assert re.search(r"\d\d°\d\d,\d\d′N \d{3}°\d\d,\d\d′E \(\d+,\d{5}; \d+,\d{5}\)", text), text
    assert "1234" in text
    assert "1 234" not in text
    assert "1\xa0234" not in text


def test_topics_are_shown_by_their_labels() -> None:
    ru = render_text(render(_envelope("meeting-proposal"), "ru"))
    nb = render_text(render(_envelope("meeting-proposal"), "nb"))
    assert "border_situation" not in ru
    assert "border_situation" not in nb
    assert "Тема: Обстановка на границе" in ru


@pytest.mark.parametrize(
    ("lang", "at_least", "field_label"),
    [("nb", "må ha minst 1 oppføring", "Navn"), ("ru", "должно содержать не менее 1 элемента", "Название")],
)
def test_validation_problems_count_and_name_fields_by_their_labels(
    lang: str, at_least: str, field_label: str
) -> None:
    body = json.loads((EXAMPLES / "incident-at-sea.json").read_text())
    for units, expected in (([], at_least), ([{"unit_type": "warship"}], field_label)):
        with pytest.raises(ValidationError) as caught:
            validate_body("incident-at-sea", None, {**body, "units": units}, lang=lang)
        shown = " | ".join(text for _, text in caught.value.rendered(lang))
        assert expected in shown, shown
        assert "hull_number" not in shown
        assert "call_sign" not in shown


def test_the_preview_names_languages_from_the_readers_catalogue() -> None:
    envelope = _envelope("incident-at-sea")
    assert [name for _, name, _ in _previews(envelope, ["ru", "en"], "nb")] == ["russisk", "engelsk"]
    assert [name for _, name, _ in _previews(envelope, ["nb"], "ru")] == ["норвежский"]
