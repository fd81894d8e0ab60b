"""Sentences in the reader's language: plural forms, numbers, storage, negotiation, completeness."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from parley.errors import UsageError, ValidationError
from parley.formats.texts import (
    N,
    T,
    accept_language,
    cli_lang,
    lang_from_environment,
    render,
    speaking,
    text_from_json,
)

ROOT = Path(__file__).resolve().parents[2]
MORE = ("… and {n} more problem", "… and {n} more problems")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "ошибка"),
        (2, "ошибки"),
        (5, "ошибок"),
        (21, "ошибка"),
        (111, "ошибок"),
        (22, "ошибки"),
        (12, "ошибок"),
    ],
)
def test_russian_counts_take_the_form_of_their_number(n: int, expected: str) -> None:
    assert N(*MORE, n).render("ru") == f"… и ещё {n} {expected}"


@pytest.mark.parametrize(("n", "expected"), [(1, "… and 1 more problem"), (2, "… and 2 more problems")])
def test_english_counts(n: int, expected: str) -> None:
    assert str(N(*MORE, n)) == expected


def test_norwegian_counts_have_two_forms() -> None:
    # Bokmål: "1 feil", "2 feil" — the same word, but each form is looked up by the rule.
    assert N(*MORE, 1).render("nb") == "… og 1 feil til"
    assert N(*MORE, 2).render("nb") == "… og 2 feil til"


def test_numbers_follow_the_readers_locale_and_codes_stay_codes() -> None:
    text = T("{port} {count:,} {radius} {speed:.1f}", port=8443, count=1440, radius=2.5, speed=12)
    assert text.render("en") == "8443 1,440 2.5 12.0"
    assert text.render("nb") == "8443 1\xa0440 2,5 12,0"
    assert text.render("ru") == "8443 1\xa0440 2,5 12,0"


def test_parameters_that_are_texts_or_lists_render_in_the_same_language() -> None:
    inner = T("aborted")
    outer = T("error: {line}", line=inner)
    assert outer.render("ru") == "ошибка: прервано"
    assert T("error: {line}", line=["a", "b"]).render("nb") == "feil: a, b"


def test_a_text_survives_storage_as_json() -> None:
    original = T("error: {line}", line=N(*MORE, 5))
    stored = json.loads(json.dumps(original.to_json()))
    again = text_from_json(stored)
    assert again == original
    assert render(again, "ru") == "ошибка: … и ещё 5 ошибок"
    assert text_from_json("a plain string") == "a plain string"


def test_a_translation_with_an_unknown_placeholder_falls_back_to_english() -> None:
    # A template not in the catalogue renders as English, never as a KeyError.
    assert T("unheard of {x}", x=1).render("ru") == "unheard of 1"


def test_errors_render_in_the_readers_language_and_keep_their_code() -> None:
    err = UsageError(T("aborted"), hint=T("error: {line}", line="x"))
    assert err.message == "aborted"  # English for logs and peers
    body = err.to_json("ru")
    assert body == {"error": "bad_request", "message": "прервано", "hint": "ошибка: x", "lang": "ru"}
    assert err.one_line("nb") == "avbrutt — feil: x"
    invalid = ValidationError(T("aborted"), [("/a", T("aborted"))])
    assert invalid.to_json("nb")["details"]["problems"] == [{"path": "/a", "message": "avbrutt"}]


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        ("nb-NO", "nb"),
        ("no", "nb"),
        ("nn;q=0.5, ru;q=0.6", "ru"),
        ("de-DE, fr", "en"),
        ("", "en"),
        ("ru;q=0", "en"),
        ("ru;q=bogus, nb", "nb"),
    ],
)
def test_accept_language(header: str, lang: str) -> None:
    assert accept_language(header) == lang


@pytest.mark.parametrize(
    ("env", "lang"),
    [
        ({"PARLEY_LANG": "ru"}, "ru"),
        ({"LANG": "nb_NO.UTF-8"}, "nb"),
        ({"LC_ALL": "no_NO.UTF-8", "LANG": "ru_RU.UTF-8"}, "nb"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_the_command_line_language_comes_from_the_environment(env: dict[str, str], lang: str) -> None:
    assert lang_from_environment(env) == lang


def test_speaking_sets_the_command_line_language_for_a_block() -> None:
    outside = cli_lang()
    with speaking("ru"):
        assert cli_lang() == "ru"
    assert cli_lang() == outside


def test_every_sentence_in_the_source_has_a_translation() -> None:
    """scripts/extract-texts --check: texts.po matches the source and nothing is untranslated."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "extract-texts"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
