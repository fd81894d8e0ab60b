"""Every error code, every alarm kind and every lexical template reaches nb and ru (issue 16).

No nodes: these read the code (ast, Babel's extractor) and the catalogues, so they cover every
raise site and every alarm kind, not only those the demo happens to reach. An error or an alarm
can only be read in the reader's language if its text is a template — ``T("…", **params)`` or
``N("…", "…", n)``, rendered when read — with a translation in ``texts.po`` for nb and ru;
a plain string or f-string at the raise site is English for everyone.
"""

from __future__ import annotations

import re

import pytest

from tests.language.conftest import check
from tests.language.detector import Finding, scan_text, words
from tests.language.sources import (
    LANGS,
    alarm_kind_templates,
    alarm_sites,
    error_codes,
    error_sites,
    literal_text,
    templates_in,
    text_templates,
    texts_catalogue,
)

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


_CODE_TOKEN = re.compile(
    r"`[^`]+`|\[[a-z][a-z0-9_.]*\]|\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|\b[A-Z][A-Z_]{2,}\b"
)


def _codes_of(template: str) -> set[str]:
    """What an English template shows as code: `quoted`, [sections], snake_case keys and
    CAPITAL placeholders (FILE, USER); a translation keeps them as they are.

    Also every Latin word a Russian translation keeps exactly as the English has it: file
    keys, protocol fields and option values ("seq", "prev", "--direction both") are kept by
    design. Lenient on purpose; an English phrase left in a translation still shows in the
    rendered output, which the end-to-end tests read (test_every_word.py)."""
    plain = _PLACEHOLDER.sub(" ", template)
    return {m.group(0).strip("`") for m in _CODE_TOKEN.finditer(plain)}


def _kept(template: str, form: str) -> set[str]:
    """Latin words of ``form`` that the English ``template`` has too, spelt the same."""
    english = set(re.findall(r"[A-Za-z][A-Za-z-]*", _PLACEHOLDER.sub(" ", template)))
    return {w for w in re.findall(r"[A-Za-z][A-Za-z-]*", form) if w in english}


def _translation_findings(template: str, lang: str, source: str, where: str) -> list[Finding]:
    """The translation of ``template`` in ``lang``: missing, or with English in it."""
    forms = texts_catalogue(lang).get(template)
    if not forms or not all(f.strip() for f in forms):
        return [Finding(source, lang, "untranslated", template, f"{where}: no {lang} msgstr in texts.po")]
    found = []
    codes = _codes_of(template)
    for form in forms:
        prose = _PLACEHOLDER.sub("0", form)  # a filled placeholder reads as a code
        kept = _kept(template, prose) if lang == "ru" else set()
        for code in codes | kept:  # what the English shows as code (`smtp_url`, FILE) stays code
            prose = re.sub(rf"(?<![\w.-]){re.escape(code)}(?![\w-])", " ", prose)
        found += [
            Finding(f.source, f.lang, f.kind, f.word, f"{where}: {form}")
            for f in scan_text(prose, lang=lang, source=source)
        ]
    return found


@pytest.mark.parametrize("lang", LANGS)
def test_every_template_is_translated(lang: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    templates = text_templates()
    findings: list[Finding] = []
    if not templates:
        findings.append(
            Finding(
                "T()/N() templates", lang, "no templates", "-", "no T(...) or N(...) call in src/parley yet"
            )
        )
    for t in templates:
        findings += _translation_findings(t.msgid, lang, f"template {t.where.split(':')[0]}", t.where)
        if t.plural and lang in ("nb", "ru"):
            forms = texts_catalogue(lang).get(t.msgid) or []
            wanted = 3 if lang == "ru" else 2
            if forms and len([f for f in forms if f.strip()]) < wanted:
                findings.append(
                    Finding(
                        f"template {t.where}",
                        lang,
                        "plural forms",
                        t.msgid,
                        f"{len(forms)} of {wanted} forms",
                    )
                )
    check(findings, f"templates-{lang}", tmp_path_factory)


@pytest.mark.parametrize("lang", LANGS)
def test_every_error_code_speaks_the_language(lang: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each error code: every place it is raised gives a template translated into ``lang``."""
    sites = error_sites()
    codes = error_codes()
    assert {"bad_request", "not_found", "conflict", "verification_failed"} <= codes, codes
    findings: list[Finding] = []
    raised = set()
    for site in sites:
        raised.add(site.code)
        source = f"error {site.code}"
        for role, expr in (("message", site.message), ("hint", site.hint)):
            english = literal_text(expr)
            if english is not None and any(words(english.replace("{…}", " "))):
                findings.append(
                    Finding(
                        source, lang, "english (not a T() template)", english[:60], f"{site.where} {role}"
                    )
                )
            for template in templates_in(expr):
                findings += _translation_findings(template, lang, source, f"{site.where} {role}")
    # A code declared on a class but never raised with a text is nothing to read: fine.
    assert raised, "no raise site found: the ast walk is broken"
    check(findings, f"errors-{lang}", tmp_path_factory)


@pytest.mark.parametrize("lang", LANGS)
def test_every_alarm_kind_speaks_the_language(lang: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each alarm code has its text as a template translated into ``lang``, and a sample of it
    rendered in ``lang`` (``parley.storage.alarms.sample_alarms``) has no English in it; no
    place raises an alarm with an English sentence of its own."""
    sites = alarm_sites()
    findings: list[Finding] = []
    for site in sites:
        for text in site.english:
            findings.append(
                Finding(f"alarm {site.kind}", lang, "english (not a T() template)", text[:60], site.where)
            )
    try:
        from parley.storage.alarms import ALARM_KINDS, sample_alarms
    except ImportError:  # before the registry: every kind raised must give its own template
        registry = alarm_kind_templates()
        kinds = sorted({s.kind for s in sites})
        assert {"link_down", "ack_overdue", "watch_gap", "record_fork", "pager_failing"} <= set(kinds), kinds
        for kind in kinds:
            templates = [t for s in sites if s.kind == kind for t in s.templates] + registry.get(kind, [])
            where = ", ".join(sorted({s.where for s in sites if s.kind == kind}))
            if not templates:
                findings.append(Finding(f"alarm {kind}", lang, "no template", kind, f"raised at {where}"))
            for template in templates:
                findings += _translation_findings(template, lang, f"alarm {kind}", where)
        check(findings, f"alarms-{lang}", tmp_path_factory)
        return
    # The kinds known when this test was written (issue 16); a new one joins by registering.
    registered = {spec.kind for spec in ALARM_KINDS.values()}
    assert {"link_down", "ack_overdue", "watch_gap", "record_fork", "pager_failing"} <= registered
    unregistered = {s.kind for s in sites} - registered - set(ALARM_KINDS)
    assert not unregistered, f"alarms raised outside the registry: {unregistered}"
    samples = sample_alarms()
    assert set(samples) == set(ALARM_KINDS), "a registered alarm code has no sample"
    for code, spec in sorted(ALARM_KINDS.items()):
        findings += _translation_findings(spec.template, lang, f"alarm {code}", "parley.storage.alarms")
        findings += scan_text(
            samples[code].render(lang), lang=lang, source=f"alarm {code} (sample, rendered)"
        )
    check(findings, f"alarms-{lang}", tmp_path_factory)
