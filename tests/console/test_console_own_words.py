"""The console's leftovers of issue 16: the sender's own words marked with their language,
party names, escalation targets, handover items and acknowledgments in the reader's language.

Real catalogues and the real summariser; no node is needed for these (the language test in
tests/language reads the same pages on the demo's nodes).
"""

from __future__ import annotations

from typing import Any

import pytest
from markupsafe import Markup, escape

from parley.console.escalation_view import target_label
from parley.console.views import _html, party_name
from parley.console.watch_views import readable_item
from parley.formats.summary import MAX_SUMMARY, Summary, summary_line, summary_of
from parley.watch.handover import HandoverItem


def general(text: str, lang: str, subject: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text, "lang": lang}
    if subject is not None:
        body["subject"] = subject
    return {"type": "general", "type_version": 1, "status": "ACTUAL", "body": body}


def test_the_senders_quote_is_marked_with_its_language_and_escaped() -> None:
    line = summary_of(general("JRCC North: <b>test</b> of the SAR channel.", "en"), "nb")
    html = str(escape(line))  # as a template shows it
    assert html.startswith("Generell melding — ")
    assert '<span lang="en">«JRCC North: &lt;b&gt;test&lt;/b&gt; of the SAR channel.»</span>' in html
    # Plain text (the CLI, the old callers) is unchanged.
    assert summary_line(general("JRCC North: test.", "en"), "nb") == "Generell melding — «JRCC North: test.»"


def test_a_subject_is_the_senders_words_too() -> None:
    line = summary_of(general("Текст.", "ru", subject="ПРОВЕРКА ГОТОВНОСТИ"), "nb")
    assert '<span lang="ru">ПРОВЕРКА ГОТОВНОСТИ</span>' in str(escape(line))


def test_the_label_for_an_attribute_leaves_out_words_in_another_language() -> None:
    line = summary_of(general("Melding 2 under linjebrudd.", "nb"), "ru")
    assert line.label("ru") == "Общее сообщение — …"
    assert line.label("nb") == str(line)  # the reader's own language stays


def test_incident_response_quote_takes_the_language_of_its_free_text() -> None:
    env = {
        "type": "incident-response",
        "type_version": 1,
        "body": {"incident": "x", "action": "close", "text": {"text": "Инцидент закрыт.", "lang": "ru"}},
    }
    assert '<span lang="ru">«Инцидент закрыт.»</span>' in str(escape(summary_of(env, "nb")))


def test_a_long_quote_is_cut_inside_its_span_and_the_line_stays_bounded() -> None:
    line = summary_of(general("word " * 100, "en", subject="word " * 60), "nb")
    assert len(str(line)) <= MAX_SUMMARY
    assert str(line).endswith("…")
    assert str(escape(line)).endswith("…</span>")


def test_an_empty_summary_is_false() -> None:
    assert not Summary(())
    assert Markup("{}").format(Summary((("a<", ""),))) == "a&lt;"


@pytest.mark.parametrize(
    ("party", "lang", "shown"),
    [
        ("Norway", "nb", "Norge"),
        ("Russia", "nb", "Russland"),
        ("Norway", "ru", "Норвегия"),
        ("RU", "ru", "Россия"),
        ("Norway", "en", "Norway"),
        ("Atlantis", "ru", "Atlantis"),  # unknown: as the node's operator wrote it
        ("", "nb", ""),
    ],
)
def test_party_names_in_the_readers_language(party: str, lang: str, shown: str) -> None:
    assert party_name(party, lang) == shown


@pytest.mark.parametrize(
    ("target", "lang", "shown"),
    [
        ("watch", "ru", "дежурный"),
        ("watch", "nb", "vakthavende"),
        ("supervisor", "ru", "старший дежурный"),
        ("role:duty", "nb", "rolle: vakthavende"),
        ("operator:ivan", "ru", "оператор ivan"),
        ("something:else", "nb", "something:else"),
    ],
)
def test_escalation_targets_are_labels_not_codes(target: str, lang: str, shown: str) -> None:
    assert target_label(target, lang) == shown


def test_handover_items_show_type_labels_and_reader_times() -> None:
    item = HandoverItem(
        "unacknowledged",
        "m1",
        {
            "precedence": "ROUTINE",
            "type": "general",
            "channel": "direct-line",
            "due": "2026-12-07T17:24:11.099Z",
        },
    )
    shown = readable_item(item, "ru")
    assert shown.params["type"] == "Общее сообщение"
    assert "T17:24" not in shown.params["due"]
    assert "17:24" in shown.params["due"]
    assert item.params["type"] == "general"  # the stored item is left alone


@pytest.mark.parametrize("lang", ["nb", "ru"])
def test_an_acknowledgment_page_says_what_it_confirms(lang: str) -> None:
    env = {
        "type": "acknowledgment",
        "body": {
            "message": "0b6e1d1c-0000-4000-8000-000000000001",
            "hash": "x",
            "operator": "ivan",
            "desk": "nf-duty",
        },
    }
    page = _html(env, lang)
    assert "unknown" not in page
    assert "acknowledgment" not in page
    assert '<a href="/console/messages/0b6e1d1c-0000-4000-8000-000000000001">' in page
    assert "ivan" in page
    assert "nf-duty" in page
    assert ("bekreftet" if lang == "nb" else "подтвердил") in page
