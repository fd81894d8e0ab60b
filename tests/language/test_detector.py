"""The detector itself: it finds what a reader must not see and passes what they may."""

from __future__ import annotations

from tests.language.detector import (
    ALLOW_LIST,
    allow_list,
    blank_originals,
    blank_values,
    english_vocabulary,
    is_code_value,
    scan_html,
    scan_text,
)


def kinds(text: str, lang: str) -> list[tuple[str, str]]:
    return [(f.kind, f.word) for f in scan_text(text, lang=lang, source="test")]


def test_english_in_russian_is_found_with_context() -> None:
    alarm = (
        "КРИТИЧНО FLASH incident-response on direct-line not acknowledged by this node "
        "(due 2026-11-29T18:39:21.600Z)"
    )
    found = scan_text(alarm, lang="ru", source="alarm ack_overdue")
    assert {f.word for f in found} == {"on", "not", "acknowledged", "by", "this", "node", "due"}
    assert all(f.source == "alarm ack_overdue" and f.kind == "english" for f in found)
    assert "direct-line not acknowledged" in found[1].context


def test_the_readers_own_words_and_codes_pass() -> None:
    assert (
        kinds(
            "Сообщение 0193c5e2-7f1a-7b3c-9d4e-2a6b8c0d1e2f от no-njhq/njhq-duty, 29.11.2026 18:39 UTC", "ru"
        )
        == []
    )
    assert kinds("Срочность: FLASH (молния); https://127.0.0.1:8441/console/ · sha256:2fb4e2fe", "ru") == []
    # Norwegian words spelt like English ones ("for", "status", "alarm", "node", "test").
    assert kinds("Status: Test. Alarm for node no-njhq, sendt til KV Barentshav ved Kirkenes.", "nb") == []


def test_the_allow_list_is_case_aware() -> None:
    assert kinds("FLASH", "ru") == []
    assert ("english", "flash") in kinds("молния flash", "ru")


def test_raw_keys_and_structures_are_found() -> None:
    found = kinds("Тема: border_situation; console.nav.inbox", "ru")
    assert ("raw key", "border_situation") in found
    assert ("raw key", "console.nav.inbox") in found
    text = "журнал: {'log_size': 36, 'at': datetime.datetime(2026, 11, 29)} None {\"a\": 1} {name!r}"
    structures = {
        f.word.split(":")[0] for f in scan_text(text, lang="ru", source="t") if f.kind == "raw structure"
    }
    assert {
        "Python dict repr",
        "Python repr",
        "Python constant",
        "JSON object",
        "unfilled placeholder",
    } <= structures


def test_the_other_readers_language_is_found() -> None:
    assert ("nb word", "Slik") in kinds("Slik det leses på русском", "ru")


def test_html_is_read_as_a_person_reads_it() -> None:
    page = """<!doctype html><html lang="ru"><head><title>Журнал</title><script>var x = "not shown";</script>
    <style>.a { color: red }</style></head><body>
    <p title="acknowledged by">Входящие</p>
    <dd class="free-text original" lang="en"><div>Test of the direct line</div></dd>
    <pre class="signed-json">{"type": "general"}</pre>
    <input type="hidden" name="csrf" value="not shown either"><input type="submit" value="Send">
    <a href="/console/login?lang=en" lang="en">English</a>
    </body></html>"""
    found = {(f.kind, f.word) for f in scan_html(page, lang="ru", source="page")}
    assert found == {("english", "acknowledged"), ("english", "by"), ("english", "Send")}
    wrong = scan_html(page.replace('lang="ru"', 'lang="en"', 1), lang="ru", source="page")
    assert "page language" in {f.kind for f in wrong}


def test_allow_list_entries_are_justified_and_unique() -> None:
    entries = []
    for line in ALLOW_LIST.read_text(encoding="utf-8").splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            assert line.split("#", 1)[1].strip(), f"{entry}: no reason given"
            entries.append(entry)
    assert len(entries) == len(set(entries)), "an entry is listed twice"
    assert len(entries) < 90, "the allow-list is for proper names and codes, not for untranslated words"
    assert allow_list().allows("Kirkenes")


def test_the_vocabulary_is_the_products_english() -> None:
    vocab = english_vocabulary()
    assert {"acknowledged", "receipted", "channel", "the"} <= vocab
    assert "журнал" not in vocab


def test_the_senders_words_are_taken_out_of_terminal_output() -> None:
    original = "FLASH: unidentified submarine contact 20 nm north of Vardø. Request identification."
    out = f"Текст [оригинал, английский]: {original}\nСводка: «{original[:40]}…»"
    assert kinds(blank_originals(out, {original}), "ru") == []
    assert kinds(out, "ru") != []


def test_the_other_side_shown_on_purpose_can_be_let_pass() -> None:
    shown = "Вид на норвежской стороне: Varsel om militær aktivitet, sirkel med radius 25 nm"
    assert scan_text(shown, lang="ru", source="demo", foreign=False) == []
    assert scan_text(shown, lang="ru", source="console") != []


def test_blanked_values_cannot_hide_the_products_english() -> None:
    """People's words are blanked by value; a product sentence in English next to them (or
    around them) is still found, and a value is never cut out of a longer word."""
    title = "NJHQ duty officer (Bodø)"
    values = {title, "head of delegation", "ola"}
    text = f"↗ {title} · Норвегия · #8\nРоль head of delegation\nsent by {title}, not acknowledged"
    found = {f.word for f in scan_text(blank_values(text, values), lang="ru", source="t")}
    assert found == {"sent", "by", "not", "acknowledged"}
    page = f'<html lang="ru"><body><p>{title}</p><p>{title} has not acknowledged</p></body></html>'
    assert {f.word for f in scan_html(page, lang="ru", source="p", values=values)} == {
        "has",
        "not",
        "acknowledged",
    }
    # "ola" is a user name: it is blanked as a word, never inside "violation".
    assert ("english", "violation") in kinds(blank_values("violation by ola", {"ola"}), "ru")


def test_codes_in_bodies_are_not_values() -> None:
    for code in ("border_situation", "exercise", "NO", "ROUTINE", "0193c5e2-7f1a-7b3c-9d4e-2a6b8c0d1e2f"):
        assert is_code_value(code), code
    for typed in ("Interpreter", "head of delegation", "Norwegian border commissioner"):
        assert not is_code_value(typed), typed


def test_single_quoted_values_are_values_but_not_structures() -> None:
    assert kinds("ошибка: неизвестный оператор 'nobody' — см. `parley operator list`", "ru") == []
    assert ("english", "unknown") in kinds("unknown operator 'nobody'", "ru")
    assert any(k == "raw structure" for k, _ in kinds("журнал: {'log_size': 36}", "ru"))
    # An apostrophe is no quote: "the operator's desk" is still English.
    assert ("english", "desk") in kinds("the operator's desk's", "ru")


def test_dates_in_the_readers_language_pass() -> None:
    assert kinds("Grenseavtalen (29. desember 1949), mandag", "nb") == []
