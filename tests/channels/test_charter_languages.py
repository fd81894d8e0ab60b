"""Charters in the reader's language: names, bases, topic labels and node names (issue 16).

A charter's texts are tables keyed by nb, ru, en; a missing language falls back visibly,
marked by the catalogue; topic codes are never shown raw; and a charter agreed before these
keys existed keeps its normal form, hash and signatures.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from parley.channels.charter import (
    Charter,
    CharterDocument,
    charter_from_dict,
    charter_from_toml,
    parse_charter_document,
    text_in,
    topic_label,
)
from parley.errors import UsageError, VerificationError
from parley.formats.catalogue import load_catalogue
from parley.protocol.keys import SigningKeyPair

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples" / "charters").glob("*.toml"))
TOPIC_CODE = re.compile(r"\b[a-z]+(?:[_-][a-z]+)+\b")

# examples/charters/border-1949.toml as it was before multilingual bases, in normal form, and
# the hash every node that signed it holds (computed by the code of that time).
OLD_BORDER_1949: dict[str, Any] = {
    "id": "border-1949",
    "name": {
        "nb": "Grensekommissærene (grenseavtalen 1949)",
        "ru": "Пограничные представители (соглашение 1949 г.)",
        "en": "Border commissioners (1949 agreement)",
    },
    "basis": {
        "agreement": "Agreement between Norway and the USSR on the regime of the Norwegian–Soviet "
        "frontier and the procedure for the settlement of frontier disputes and incidents",
        "date": "1949-12-29",
    },
    "members": ["no-njhq/border-commissioner", "no-njhq/gsv-duty", "ru-nf/border-representative"],
    "types": [
        "border-incident",
        "general",
        "incident-response",
        "meeting-acceptance",
        "meeting-proposal",
        "meeting-protocol",
        "meeting-protocol-signature",
        "sar-request",
        "sar-sitrep",
    ],
    "topics": ["border-situation", "fisheries-management", "search-and-rescue"],
    "languages": ["nb", "ru"],
    "deadlines_s": {"FLASH": 600, "IMMEDIATE": 3600, "PRIORITY": 21600, "ROUTINE": 172800},
    "link_test_interval_s": 3600,
    "cadence": [
        {"kind": "protocol-meeting", "every_months": 12, "before_months": 2},
        {"kind": "staff-meeting", "every_months": 6},
    ],
    "initial_status": "active",
}
OLD_BORDER_1949_HASH = "sha256:feebfcad8c935a3083ad6593a07bb14d24efdb5bee026d210825be9de882a697"

BASE = """
id = "ice-line"
name = { nb = "Islinjen", ru = "Ледовая линия", en = "Ice line" }
members = ["no-a/duty", "ru-b/duty"]
types = ["general"]
topics = ["border_situation", "call-signs", "ice-patrol"]
languages = ["nb", "ru", "en"]
"""


def charter(
    extra: str = "", basis: str = 'basis = { agreement = "Ice agreement", date = 2020-01-01 }'
) -> Charter:
    # Top-level keys first, then the tables the test adds.
    return charter_from_toml(BASE + basis + "\n" + extra)


def test_a_charter_agreed_before_the_language_tables_keeps_its_form_hash_and_signatures() -> None:
    again = charter_from_dict(copy.deepcopy(OLD_BORDER_1949))
    assert again.data == OLD_BORDER_1949
    assert "topic_labels" not in again.data
    assert "node_names" not in again.data
    assert again.hash == OLD_BORDER_1949_HASH
    keys = {"no-njhq": SigningKeyPair(b"n" * 32), "ru-nf": SigningKeyPair(b"r" * 32)}
    doc = CharterDocument(Charter(copy.deepcopy(OLD_BORDER_1949)), {})
    for node, key in keys.items():
        doc = doc.signed_by(node, key)
    parsed = parse_charter_document(doc.to_json(), lambda n: keys[n].public)
    assert parsed.complete
    assert parsed.charter.hash == OLD_BORDER_1949_HASH


def test_a_plain_agreement_is_english_and_shown_marked_to_other_readers() -> None:
    c = charter()
    assert c.data["basis"]["agreement"] == "Ice agreement"  # stays a string: same normal form
    assert c.agreement_in("en") == "Ice agreement"
    assert c.agreement_in("nb") == "Ice agreement (ikke oversatt; på engelsk)"
    assert c.agreement_in("ru") == "Ice agreement (перевод отсутствует; на английском языке)"


def test_an_agreement_table_is_read_in_each_language_and_falls_back_visibly() -> None:
    c = charter(
        basis='[basis]\ndate = 2020-01-01\nagreement = { nb = "Isavtalen", ru = "Ледовое соглашение" }'
    )
    assert c.data["basis"] == {
        "agreement": {"nb": "Isavtalen", "ru": "Ледовое соглашение"},
        "date": "2020-01-01",
    }
    assert c.agreement_in("nb") == "Isavtalen"
    assert c.agreement_in("ru") == "Ледовое соглашение"
    # No English: the Norwegian text, marked in English.
    assert c.agreement_in("en") == "Isavtalen (not translated; in Norwegian)"
    # The marked text goes through the signed round trip unchanged.
    assert charter_from_dict(copy.deepcopy(c.data)).data == c.data


def test_the_fallback_prefers_english_then_norwegian() -> None:
    assert text_in({"ru": "Текст", "en": "Text"}, "nb") == "Text (ikke oversatt; på engelsk)"
    assert text_in({"ru": "Текст"}, "nb") == "Текст (ikke oversatt; på russisk)"
    assert text_in({"nb": "Tekst", "ru": "Текст"}, "en") == "Tekst (not translated; in Norwegian)"
    # A language without a catalogue reads English markers rather than failing.
    assert text_in({"nb": "Tekst"}, "fi") == "Tekst (not translated; in Norwegian)"


def test_every_marker_is_in_every_catalogue_and_keeps_the_text() -> None:
    for reader in ("nb", "ru", "en"):
        cat = load_catalogue(reader)
        for source in ("nb", "ru", "en"):
            key = f"charter.untranslated.{source}"
            assert key in cat.messages, (reader, key)
            assert cat.get(key, text="XYZ").startswith("XYZ (")


def test_topics_read_as_labels_never_as_codes() -> None:
    c = charter('[topic_labels]\ncall-signs = { nb = "Kallesignaler (1998)", ru = "Позывные (1998)" }')
    # The charter's own label wins; underscores find the catalogue's hyphenated label.
    assert c.topic_label("call-signs", "ru") == "Позывные (1998)"
    assert c.topic_label("call-signs", "en") == "Kallesignaler (1998) (not translated; in Norwegian)"
    assert c.topic_label("border_situation", "ru") == "Обстановка на границе"
    assert c.topic_label("border_situation", "nb") == "Situasjonen på grensen"
    assert c.topic_label("border-situation", "en") == "Border situation"
    # A code nobody labelled: words, marked as English; never "ice-patrol".
    assert c.topic_label("ice-patrol", "nb") == "Ice patrol (ikke oversatt; på engelsk)"
    assert topic_label("ice_patrol", "en") == "Ice patrol"
    for lang in ("nb", "ru", "en"):
        for label in c.topic_labels_in(lang):
            assert not TOPIC_CODE.search(label), (lang, label)


def test_node_names_name_the_members_in_each_language() -> None:
    c = charter('[node_names]\nru-b = { nb = "Nordflåten", ru = "Северный флот", en = "Northern Fleet" }')
    assert c.node_name_in("ru-b", "ru") == "Северный флот"
    assert c.node_names_in("ru-b", ["nb", "en"]) == {"nb": "Nordflåten", "en": "Northern Fleet"}
    assert c.node_name_in("no-a", "ru") == "no-a"  # unnamed: its node name


@pytest.mark.parametrize(
    ("extra", "basis", "says"),
    [
        (
            "[topic_labels]\nfisheries = { nb = 'Fiske' }",
            None,
            "topic_labels names topic(s) the charter does not list: fisheries",
        ),
        ("[node_names]\nxx-c = { nb = 'X' }", None, "node_names names node(s) that are not members: xx-c"),
        (
            "[node_names]\nru-b = { de = 'Nordflotte' }",
            None,
            "node_names.ru-b must give non-empty texts keyed by nb, ru, en",
        ),
        ("[node_names]\nru-b = { nb = '' }", None, "node_names.ru-b must give non-empty texts"),
        (
            "[topic_labels]\ncall-signs = 'Call signs'",
            None,
            "topic_labels.call-signs must give non-empty texts",
        ),
        ("", "basis = { agreement = {}, date = 2020-01-01 }", "basis.agreement must give non-empty texts"),
        (
            "",
            "basis = { agreement = { nb = 'x' }, date = 2020-01-01 }".replace("'x'", "'" + "x" * 501 + "'"),
            "a text of basis.agreement is longer than 500 characters",
        ),
        ("", "basis = { date = 2020-01-01 }", "basis.agreement must name the agreement"),
    ],
)
def test_a_bad_language_table_is_refused_naming_the_key(extra: str, basis: str | None, says: str) -> None:
    with pytest.raises(UsageError) as err:
        charter(extra, basis) if basis else charter(extra)
    assert says in err.value.message
    assert err.value.hint


def test_a_hand_edited_label_breaks_the_signatures() -> None:
    c = charter('[node_names]\nru-b = { nb = "Nordflåten", ru = "Северный флот" }')
    keys = {"no-a": SigningKeyPair(b"a" * 32), "ru-b": SigningKeyPair(b"b" * 32)}
    doc = CharterDocument(c, {}).signed_by("no-a", keys["no-a"]).signed_by("ru-b", keys["ru-b"])
    raw = doc.to_json()
    raw["charter"]["node_names"]["ru-b"]["ru"] = "Балтийский флот"
    with pytest.raises(VerificationError):
        parse_charter_document(raw, lambda n: keys[n].public)


def test_export_languages_are_the_charters_with_the_readers_first() -> None:
    c = charter()
    assert c.export_languages("ru") == ["ru", "nb", "en"]
    assert c.export_languages(None) == ["nb", "ru", "en"]
    two = charter_from_toml(
        BASE.replace('["nb", "ru", "en"]', '["nb", "ru", "fi"]')
        + 'basis = { agreement = "A", date = 2020-01-01 }'
    )
    assert two.export_languages("en") == ["nb", "ru"]  # only the charter's; fi has no catalogue


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_each_example_says_everything_in_nb_ru_and_en(path: Path) -> None:
    raw = tomllib.loads(path.read_text())
    c = charter_from_toml(path.read_text(), str(path))
    assert set(raw["basis"]["agreement"]) == {"nb", "ru", "en"}
    assert set(c.data["node_names"]) == set(c.member_nodes)
    for node in c.member_nodes:
        assert set(c.data["node_names"][node]) == {"nb", "ru", "en"}
    for lang in ("nb", "ru", "en"):
        shown = [c.name_in(lang), c.agreement_in(lang), *c.topic_labels_in(lang)]
        shown += [c.node_name_in(n, lang) for n in c.member_nodes]
        for text in shown:
            assert "not translated" not in text, text
            assert "ikke oversatt" not in text, text
            assert "перевод отсутствует" not in text, text
        for label in c.topic_labels_in(lang):
            assert not TOPIC_CODE.fullmatch(label.lower()), (lang, label)
    # Review item 16 and docs/glossary.md: one Russian term for the commissioners, "ОШ ВС Норвегии".
    russian = " ".join(
        [c.name_in("ru"), c.agreement_in("ru"), *c.topic_labels_in("ru")]
        + [c.node_name_in(n, "ru") for n in c.member_nodes]
    )
    assert "ОКШ" not in russian
    assert "комиссар" not in russian.lower()
    if "NJHQ" in c.name_in("en"):
        assert "ОШ ВС Норвегии" in c.name_in("ru")
