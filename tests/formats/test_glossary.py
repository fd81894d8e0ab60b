"""docs/glossary.md is followed: each term is the word the nb and ru catalogues use for its keys.

The glossary's table names, for each concept, the catalogue keys that carry it, a stem per
language that every inflected form of the term contains, and words that must not be used for
it (the review's corrections: nb "Protokoll" for the record, ru "УЧЕНИЕ" as the exercise
marking, ...). A second table lists texts that must appear nowhere ("ОКШ"). Reverting a
correction in a catalogue fails here; the last test shows that on a copy of the catalogues.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from parley.formats.catalogue import LOCALE_DIR, read_messages

REPO = Path(__file__).resolve().parents[2]
GLOSSARY = REPO / "docs" / "glossary.md"
SCENARIO = REPO / "src" / "parley" / "demo" / "scenarios" / "barents.toml"
README = REPO / "README.md"
LANGS = ("nb", "ru")

Messages = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class Term:
    concept: str
    terms: dict[str, str]
    stems: dict[str, tuple[str, ...]]  # alternatives; any one must occur
    keys: tuple[str, ...]
    banned: dict[str, tuple[str, ...]]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(text: str, heading: str) -> list[dict[str, str]]:
    """The first Markdown table after ``heading``, as one dict per row keyed by column name."""
    lines = text.splitlines()
    start = lines.index(heading)
    block: list[str] = []
    for ln in lines[start + 1 :]:
        if ln.startswith("|"):
            block.append(ln)
        elif block:
            break
    assert len(block) > 2, f"no table under {heading!r} in {GLOSSARY}"
    header = _cells(block[0])
    out = []
    for ln in block[2:]:
        cells = _cells(ln)
        assert len(cells) == len(header), f"glossary row has {len(cells)} cells, not {len(header)}: {ln}"
        out.append(dict(zip(header, cells, strict=True)))
    return out


def _per_lang(cell: str) -> dict[str, tuple[str, ...]]:
    """``nb: a, b; ru: c`` -> {"nb": ("a", "b"), "ru": ("c",)}; ``—`` -> {}."""
    out: dict[str, tuple[str, ...]] = {}
    if cell in ("", "—"):
        return out
    for part in cell.split(";"):
        lang, _, words = part.partition(":")
        assert lang.strip() in LANGS, f"'Not' cell names an unknown language: {cell!r}"
        out[lang.strip()] = tuple(w.strip() for w in words.split(",") if w.strip())
    return out


def parse_glossary(text: str) -> list[Term]:
    terms = []
    for row in _table(text, "## Terms"):
        keys = tuple(re.findall(r"`([^`]+)`", row["Catalogue keys"]))
        stems: dict[str, tuple[str, ...]] = {}
        if row["Stems (nb / ru)"] != "—":
            nb, ru = (s.strip() for s in row["Stems (nb / ru)"].split(" / "))
            stems = {lang: tuple(a.strip() for a in s.split(" or ")) for lang, s in (("nb", nb), ("ru", ru))}
        terms.append(
            Term(
                concept=row["Concept"],
                terms={lang: row[lang] for lang in ("en", "nb", "ru")},
                stems=stems,
                keys=keys,
                banned=_per_lang(row["Not"]),
            )
        )
    return terms


def parse_nowhere(text: str) -> list[tuple[str, str]]:
    return [(row["Text"], row["Language"]) for row in _table(text, "## Not anywhere")]


def term_problems(terms: list[Term], messages: Messages) -> list[str]:
    """Every way the catalogues ``messages`` (lang -> key -> text) depart from the glossary."""
    problems = []
    for term in terms:
        for key in term.keys:
            if key not in messages["en"]:
                problems.append(f"{term.concept}: the glossary names {key}, which is not a catalogue key")
                continue
            for lang in LANGS:
                text = messages[lang].get(key, "")
                low = text.casefold()
                stems = term.stems.get(lang, ())
                if not any(s.casefold() in low for s in stems):
                    problems.append(
                        f"{term.concept}: {lang} {key} = {text!r} does not use the glossary term "
                        f"{term.terms[lang]!r} (stem {' or '.join(stems)!r})"
                    )
                for word in term.banned.get(lang, ()):
                    if word.casefold() in low:
                        problems.append(
                            f"{term.concept}: {lang} {key} = {text!r} uses {word!r}, which the glossary "
                            f"rules out for this concept"
                        )
    return problems


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def texts_po(lang: str) -> list[str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "texts.po"
    if not path.is_file():
        return []
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain="texts")
    return [s for m in catalog if m.id for s in _strings(m.string)]


def scenario_texts(lang: str) -> list[str]:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == lang and isinstance(v, str):
                    out.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(tomllib.loads(SCENARIO.read_text(encoding="utf-8")))
    return out


@pytest.fixture(scope="module")
def glossary() -> str:
    return GLOSSARY.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def messages() -> dict[str, dict[str, str]]:
    return {lang: read_messages(lang) for lang in ("en", *LANGS)}


def test_the_glossary_covers_the_concepts_of_issue_16(glossary: str) -> None:
    concepts = {t.concept for t in parse_glossary(glossary)}
    wanted = {
        "record", "receipt", "acknowledgment", "meeting protocol", "charter", "channel",
        "link test", "desk", "watch", "officer on watch", "precedence", "FLASH", "IMMEDIATE",
        "PRIORITY", "ROUTINE", "exercise", "test", "real", "suspension", "exemption",
        "incident", "checkpoint", "cosignature", "peer, counterpart", "handover", "roster",
        "escalation", "overdue", "alarm", "security alarm", "node", "party",
        "Norwegian Joint Headquarters", "Northern Fleet", "border commissioner",
    }  # fmt: skip
    assert wanted <= concepts, f"missing from docs/glossary.md: {sorted(wanted - concepts)}"
    for term in parse_glossary(glossary):
        assert all(term.terms.values()), f"{term.concept}: a language has no term"
        if term.keys:
            assert set(term.stems) == set(LANGS), f"{term.concept}: keys named but no stems"


def test_the_catalogues_use_the_glossary_terms(glossary: str, messages: Messages) -> None:
    problems = term_problems(parse_glossary(glossary), messages)
    assert not problems, "\n".join(problems)


def test_banned_texts_appear_nowhere(glossary: str, messages: Messages) -> None:
    found = []
    for text, lang in parse_nowhere(glossary):
        sources = {
            "parley.po": list(messages[lang].values()),
            "texts.po": texts_po(lang),
            "barents.toml": scenario_texts(lang),
        }
        for where, values in sources.items():
            found += [f"{lang} {where}: {v!r} contains {text!r}" for v in values if text in v]
    assert not found, "\n".join(found)


def test_the_readme_links_the_glossary() -> None:
    assert "(docs/glossary.md)" in README.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("lang", "key", "old"),
    [
        ("nb", "console.nav.record", "Protokoll"),
        ("nb", "console.dash.overdue", "Forsinkede kvitteringer"),
        ("nb", "console.time.overdue", "FORSINKET {time}"),
        ("nb", "console.charter.signed_by", "Charter signert av"),
        ("nb", "precedence.FLASH", "FLASH (lyn)"),
        ("nb", "ui.precedence", "Prioritet"),
        ("nb", "console.mphase.agreed", "protokoll vedtatt"),
        ("nb", "console.col.desk", "Vaktpost"),
        ("ru", "banner.short.EXERCISE", "УЧЕНИЕ"),
        ("ru", "status.TEST", "Тест"),
        ("ru", "console.charter.hash", "Хеш устава"),
        ("ru", "precedence.PRIORITY", "PRIORITY (приоритетно)"),
        ("ru", "console.dash.alarms", "Тревоги"),
        ("ru", "enum.meeting-proposal.level.commissioners", "Уровень комиссаров"),
    ],
)
def test_a_reverted_correction_fails(
    glossary: str, messages: Messages, lang: str, key: str, old: str
) -> None:
    reverted = {lg: dict(m) for lg, m in messages.items()}
    reverted[lang][key] = old
    problems = term_problems(parse_glossary(glossary), reverted)
    assert any(f"{lang} {key} = {old!r}" in p for p in problems), problems
