"""The catalogues: complete for every schema label and enum value, alike in every language."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from parley.errors import UsageError
from parley.formats.catalogue import (
    LOCALE_DIR,
    available_languages,
    load_catalogue,
    po_path,
    read_catalogue,
    read_messages,
)
from parley.formats.registry import list_types, walker

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "src" / "parley" / "formats"


def schema_keys() -> set[str]:
    keys: set[str] = set()
    for info in list_types():
        for version in info.versions:
            keys.update(walker(info.name, version).catalogue_keys())
    return keys


def code_keys() -> set[str]:
    """Literal catalogue keys the code asks for (f-string keys are covered below)."""
    keys: set[str] = set()
    for path in SOURCES.glob("*.py"):
        keys.update(
            re.findall(r'"((?:ui|unit|cap|template|validation|banner|meta)\.[\w.-]+)"', path.read_text())
        )
    return keys


FIXED_KEYS = {
    *(f"precedence.{p}" for p in ("FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE")),
    *(f"status.{s}" for s in ("ACTUAL", "EXERCISE", "TEST")),
    *(f"banner.{s}" for s in ("EXERCISE", "TEST")),
    *(f"banner.short.{s}" for s in ("EXERCISE", "TEST")),
    *(f"banner.note.{s}" for s in ("EXERCISE", "TEST")),
    *(
        f"validation.typename.{t}"
        for t in ("string", "integer", "number", "boolean", "object", "array", "null")
    ),
    *(
        f"validation.{k}"
        for k in (
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "minLength",
            "maxLength",
            # minItems and maxItems are counted sentences: N() texts in parley.formats.problems
            "minProperties",
            "maxProperties",
            "uniqueItems",
            "format.date-time",
            "format.date",
        )
    ),
    *(
        f"template.hint.{k}"
        for k in (
            "string",
            "integer",
            "number",
            "boolean",
            "count",
            "utc_time",
            "date",
            "lat",
            "lon",
            "message_id",
            "party",
            "meeting_id",
            "item_id",
            "sha256",
            "lang_tag",
            "enum",
        )
    ),
    "meta.locale",
    "meta.timezone",
    "meta.name",
}


def test_the_three_languages_are_shipped() -> None:
    assert set(available_languages()) >= {"nb", "ru", "en"}


@pytest.mark.parametrize("lang", ["nb", "ru", "en"])
def test_every_schema_label_and_enum_value_is_translated(lang: str) -> None:
    messages = read_messages(lang)
    needed = schema_keys() | FIXED_KEYS | code_keys()
    missing = sorted(needed - set(messages))
    assert not missing, f"{lang} lacks: {missing}"
    # A translation is never the key itself (an untranslated placeholder).
    assert not [k for k in needed if messages[k] == k]


def test_every_catalogue_has_the_same_message_ids() -> None:
    ids = {lang: {str(m.id) for m in read_catalogue(po_path(lang)) if m.id} for lang in available_languages()}
    every = set().union(*ids.values())
    for lang, have in ids.items():
        assert every - have == set(), f"{lang} lacks {sorted(every - have)}"


def test_translations_really_differ_from_english() -> None:
    en, nb, ru = (read_messages(lang) for lang in ("en", "nb", "ru"))
    assert nb["type.incident-at-sea"] == "Hendelse til sjøs"
    assert ru["type.incident-at-sea"] == "Инцидент на море"
    same_nb = [k for k in en if en[k] == nb[k] and k.startswith("field.")]
    # A few labels are the same word in both (Status, Radio, MMSI…), not most of them.
    assert len(same_nb) < 20, same_nb
    assert not [
        k
        for k in en
        if k.startswith(("field.", "enum.")) and en[k] == ru[k] and k != "field.common.casualty.mmsi"
    ]


def test_placeholders_agree_across_languages() -> None:
    en = read_messages("en")
    for lang in ("nb", "ru"):
        other = read_messages(lang)
        for key, text in en.items():
            assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", other[key])), (
                lang,
                key,
            )


def test_unknown_language_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no catalogue for language 'xx'"):
        load_catalogue("xx")


def test_catalogue_falls_back_to_english_then_to_the_key() -> None:
    nb = load_catalogue("nb")
    assert nb.get("type.general") == "Generell melding"
    assert nb.get("no.such.key") == "no.such.key"
    assert nb.get("validation.minimum", limit=3) == "må være minst 3"
    assert str(nb.timezone) == "Europe/Oslo"
    assert nb.locale == "nb_NO"


def test_compiled_catalogues_are_used_when_fresh_and_ignored_when_stale(tmp_path: Path) -> None:
    locale_dir = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale_dir, ignore=shutil.ignore_patterns("*.mo"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    script = REPO / "scripts" / "compile-catalogues"
    check = subprocess.run(
        [sys.executable, str(script), "--locale-dir", str(locale_dir), "--check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert not list(locale_dir.rglob("*.mo"))
    done = subprocess.run(
        [sys.executable, str(script), "--locale-dir", str(locale_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    po = po_path("nb", locale_dir)
    mo = po.with_suffix(".mo")
    assert mo.is_file()
    assert read_messages("nb", locale_dir)["type.general"] == "Generell melding"

    # Edit the .po after compiling: the stale .mo must not hide the edit.
    text = po.read_text("utf-8").replace('msgstr "Generell melding"', 'msgstr "Generell beskjed"')
    po.write_text(text, "utf-8")
    stat = mo.stat()
    os.utime(po, (stat.st_atime, stat.st_mtime + 10))
    assert read_messages("nb", locale_dir)["type.general"] == "Generell beskjed"

    # A fresh .mo wins over the .po (the .mo holds the old text here, to tell them apart).
    os.utime(mo, (stat.st_atime, stat.st_mtime + 20))
    assert read_messages("nb", locale_dir)["type.general"] == "Generell melding"


def test_check_reports_a_missing_translation(tmp_path: Path) -> None:
    locale_dir = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale_dir, ignore=shutil.ignore_patterns("*.mo"))
    po = po_path("ru", locale_dir)
    po.write_text(po.read_text("utf-8").replace('msgstr "Инцидент на море"', 'msgstr ""'), "utf-8")
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "compile-catalogues"),
            "--locale-dir",
            str(locale_dir),
            "--check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert result.returncode == 1
    assert "ru: type.incident-at-sea: not translated" in result.stderr
