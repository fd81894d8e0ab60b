"""One line per message, so that a list of messages can be told apart at a glance.

A title such as "Svar i hendelsessak" names only the type; five of them in a list cannot be
told apart. The summary line adds, after the type, the few fields a watch officer scans for,
chosen per message type from its JSON Schema 2020-12 body: a unit or vessel name, the
category or action (enum values as translated labels from the reader's catalogue), and the
position in degrees and decimal minutes, the seafarers' notation of ``parley.formats.geo``:

    Incident at sea — KV Barentshav, Dangerous manoeuvre, 70°03.25′N 031°13.00′E

Free text is quoted as written (the original, never a translation), cut at a word, and kept
apart with its language (:class:`Summary`): a page marks it ``<span lang="…">`` so that
readers (and screen readers) know the sender's own words from the product's. The whole
line is bounded (``MAX_SUMMARY`` characters) because lists show it in one table cell and the
body comes from the other side. A body the summariser does not understand (an unknown type or
version, a field of an unexpected shape) still gets the type label: a list must never fail
because one message in it is odd.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date
from markupsafe import Markup, escape

from parley.clock import parse_time
from parley.errors import ParleyError
from parley.formats.catalogue import Catalogue, load_catalogue
from parley.formats.geo import format_degrees_minutes
from parley.formats.registry import walker as schema_walker
from parley.formats.walk import SchemaWalker

MAX_SUMMARY = 160
MAX_QUOTE = 72
_DRILL = ("EXERCISE", "TEST")
_DASH = " — "
_ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters, cut at a word with an ellipsis."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[: max(limit - 1, 1)]
    # Cut at the last space if that keeps most of the text; a word is never broken otherwise.
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:—-") + _ELLIPSIS


def short_position(position: Any) -> str:
    """``70°03.25′N 031°13.00′E`` (degrees and decimal minutes), or "" if it is not a position."""
    if not isinstance(position, Mapping):
        return ""
    try:
        lat, lon = float(position["lat"]), float(position["lon"])
    except (KeyError, TypeError, ValueError):
        return ""
    return f"{format_degrees_minutes(lat, is_lat=True)} {format_degrees_minutes(lon, is_lat=False)}"


class _Parts:
    """Collects the pieces of one summary from a body, each looked up defensively."""

    def __init__(self, walker: SchemaWalker | None, body: Mapping[str, Any], cat: Catalogue) -> None:
        self.walker = walker
        self.body = body
        self.cat = cat
        self.out: list[tuple[str, str]] = []  # (text, lang of the sender's own words or "")

    def value(self, *path: str | int) -> Any:
        value: Any = self.body
        for part in path:
            if isinstance(part, int):
                if not isinstance(value, list) or len(value) <= part:
                    return None
                value = value[part]
            else:
                if not isinstance(value, Mapping) or part not in value:
                    return None
                value = value[part]
        return value

    def add(self, text: object, lang: str = "") -> None:
        if text is None:
            return
        shown = " ".join(str(text).split())
        if shown:
            self.out.append((shown, lang))

    def own_words(self, *path: str | int) -> None:
        """A free-text value shown unquoted (a subject line), in the language of its text."""
        value = self.value(*path)
        if isinstance(value, str):
            self.add(value, _lang_of(self.body))

    def text(self, *path: str | int) -> None:
        value = self.value(*path)
        if isinstance(value, str | int) and not isinstance(value, bool):
            self.add(value)

    def enum(self, *path: str | int) -> None:
        value = self.value(*path)
        if not isinstance(value, str):
            return
        node = self.walker.at(path)[0] if self.walker is not None else None
        if node is not None and node.enum is not None:
            key = node.enum_key(value)
            self.add(self.cat.get(key) if self.cat.has(key) else value)
        else:
            self.add(value)

    def position(self, *path: str | int) -> None:
        self.add(short_position(self.value(*path)))

    def day(self, *path: str | int) -> None:
        value = self.value(*path)
        if not isinstance(value, str):
            return
        try:
            # The day in UTC: the same on both sides of the border and in every language.
            day = date.fromisoformat(value) if len(value) == 10 else parse_time(value).date()
        except (ValueError, TypeError):
            return
        self.add(format_date(day, "medium", locale=self.cat.locale))

    def quote(self, *path: str | int) -> None:
        value = self.value(*path)
        lang = _lang_of(self.body)
        if isinstance(value, Mapping):
            lang = _lang_of(value) or lang
            value = value.get("text")
        if isinstance(value, str) and value.strip():
            # Quotation marks as each language writes them: «…» in nb and ru, “…” in en.
            opening, closing = ("“", "”") if self.cat.lang == "en" else ("«", "»")
            self.add(f"{opening}{clip(value, MAX_QUOTE)}{closing}", lang or "und")

    def keyed(self, key: str, *path: str | int) -> None:
        value = self.value(*path)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            self.add(self.cat.get(key, n=value))


def _lang_of(value: Mapping[str, Any]) -> str:
    lang = value.get("lang")
    return lang if isinstance(lang, str) else ""


def _incident_at_sea(p: _Parts) -> None:
    p.text("units", 0, "name")
    p.enum("category")
    p.position("position")


def _border_incident(p: _Parts) -> None:
    p.enum("category")
    p.keyed("summary.border_post", "place", "border_post")
    p.position("place", "position")


def _sar_request(p: _Parts) -> None:
    p.text("identity", "name")
    p.enum("situation", "nature")
    p.position("position")


def _sar_sitrep(p: _Parts) -> None:
    p.keyed("summary.sitrep", "sitrep_number")
    if p.value("final") is True:
        p.add(p.cat.get("summary.final"))
    _sar_request(p)


def _activity(p: _Parts) -> None:
    p.text("name")
    p.enum("kind")
    p.day("start")


def _incident_response(p: _Parts) -> None:
    p.enum("action")
    p.quote("text")


def _meeting_proposal(p: _Parts) -> None:
    p.text("meeting_id")
    p.day("start")
    p.text("place", "name")


def _meeting_acceptance(p: _Parts) -> None:
    p.text("meeting_id")
    p.quote("note")


def _meeting_protocol(p: _Parts) -> None:
    p.text("meeting_id")
    p.day("held_at")


def _general(p: _Parts) -> None:
    if p.value("subject"):
        p.own_words("subject")
    else:
        p.quote("text")


_BY_TYPE: dict[str, Callable[[_Parts], None]] = {
    "incident-at-sea": _incident_at_sea,
    "border-incident": _border_incident,
    "sar-request": _sar_request,
    "sar-sitrep": _sar_sitrep,
    "activity-notification": _activity,
    "incident-response": _incident_response,
    "meeting-proposal": _meeting_proposal,
    "meeting-acceptance": _meeting_acceptance,
    "meeting-protocol": _meeting_protocol,
    "meeting-protocol-signature": lambda p: p.text("meeting_id"),
    "general": _general,
}


def _walker(type_name: str, version: Any) -> SchemaWalker | None:
    # Without a schema (an unknown version) enum values are shown as sent, not as labels.
    try:
        return schema_walker(type_name, version if isinstance(version, int) else None)
    except ParleyError:
        return None


@dataclass(frozen=True)
class Summary:
    """A summary line as runs of text, each with the language of the sender's own words in it
    ("" for the product's words, in the reader's language; "und" for free text of no known
    language). ``str()`` is the whole line; a template shows it as Markup (``__html__``), the
    sender's words in ``<span lang="…">``; :meth:`label` is the line for an attribute."""

    runs: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return "".join(text for text, _ in self.runs)

    def __bool__(self) -> bool:
        return any(text for text, _ in self.runs)

    def __html__(self) -> Markup:
        return Markup("").join(
            Markup('<span lang="{}">{}</span>').format(lang, text) if lang else escape(text)
            for text, lang in self.runs
        )

    def label(self, lang: str) -> str:
        """The line for a ``title`` or ``aria-label`` (which cannot mark a language): the
        sender's words in another language than ``lang`` are left out, as "…"."""
        return "".join(
            text if not other or other.split("-")[0] == lang else _ELLIPSIS for text, other in self.runs
        )


def _clip_runs(runs: list[tuple[str, str]], limit: int) -> tuple[tuple[str, str], ...]:
    """``runs`` cut like :func:`clip` cuts their joined text, each run keeping its language."""
    whole = "".join(text for text, _ in runs)
    cut = clip(whole, limit)
    if cut == whole:
        return tuple(runs)
    keep = len(cut) - len(_ELLIPSIS)
    out: list[tuple[str, str]] = []
    for text, lang in runs:
        if keep <= 0:
            break
        out.append((text[:keep], lang))
        keep -= len(text)
    if out:
        text, lang = out[-1]
        out[-1] = (text + _ELLIPSIS, lang)
    return tuple(out)


def summary_of(envelope: Mapping[str, Any], lang: str) -> Summary:
    """The message in one line for a reader of ``lang``: type, then its telling fields.

    ``envelope`` needs ``type`` and ``body`` (``type_version`` and ``status`` are used when
    present); drill traffic starts with its short banner (``[ØVELSE]``). At most
    ``MAX_SUMMARY`` characters. The sender's own words keep their language (:class:`Summary`).
    """
    cat = load_catalogue(lang)
    type_name = str(envelope.get("type") or "")
    type_key = f"type.{type_name}"
    type_label = cat.get(type_key) if cat.has(type_key) else (type_name or "?")
    status = str(envelope.get("status") or "")
    prefix = f"[{cat.get(f'banner.short.{status}')}] " if status in _DRILL else ""
    body = envelope.get("body")
    parts: list[tuple[str, str]] = []
    summarise = _BY_TYPE.get(type_name)
    if summarise is not None and isinstance(body, Mapping):
        collected = _Parts(_walker(type_name, envelope.get("type_version")), body, cat)
        summarise(collected)
        parts = collected.out
    runs: list[tuple[str, str]] = [(prefix + type_label, "")]
    for i, part in enumerate(parts):
        runs.append((_DASH if i == 0 else ", ", ""))
        runs.append(part)
    merged: list[tuple[str, str]] = []
    for text, run_lang in runs:
        if merged and merged[-1][1] == run_lang:
            merged[-1] = (merged[-1][0] + text, run_lang)
        else:
            merged.append((text, run_lang))
    return Summary(_clip_runs(merged, MAX_SUMMARY))


def summary_line(envelope: Mapping[str, Any], lang: str) -> str:
    """:func:`summary_of` as plain text, the sender's words quoted as they are."""
    return str(summary_of(envelope, lang))
