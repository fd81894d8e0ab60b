"""Rendering a message in its reader's language.

A body is language-neutral: enums, times, positions and counts. The renderer walks the
body alongside its JSON Schema 2020-12 schema and turns each field into a label and a value
text from the reader's catalogue: enum values as translated labels, times in the reader's
zone (``23. nov. 2026 10:15 UTC (11:15 CET)``, :mod:`parley.formats.times`), numbers with
their units through babel.numbers (:mod:`parley.formats.units`), positions in degrees and
minutes with the decimal form.

Free text is shown as written and marked as the original with its language. A machine
translation, when a translator is given and the text is in another language, is a separate
field labelled unofficial; it never replaces the original.

Drill traffic (status EXERCISE or TEST) carries a banner in every language and every output;
ACTUAL traffic carries none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from babel import Locale
from babel.core import UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal, get_decimal_symbol
from jinja2 import Environment, FileSystemLoader

from parley.errors import ParleyError, UsageError
from parley.formats.catalogue import Catalogue, load_catalogue
from parley.formats.geo import format_position
from parley.formats.registry import walker as schema_walker
from parley.formats.texts import N, T, Text
from parley.formats.times import when_for_reader
from parley.formats.translate import (
    MachineTranslation,
    NoTranslator,
    Translator,
    machine_translate,
    primary_language,
)
from parley.formats.units import field_unit, with_unit
from parley.formats.walk import Node, SchemaWalker

DRILL_STATUSES = ("EXERCISE", "TEST")
_SEP = " › "
_ENVELOPE_KEYS = ("type", "type_version", "precedence", "status", "body")

# The field whose value names the message best, after its type (title: "type: summary").
_SUMMARY_FIELD: dict[str, tuple[str, ...]] = {
    "activity-notification": ("name",),
    "incident-at-sea": ("category",),
    "border-incident": ("category",),
    "sar-request": ("situation", "nature"),
    "sar-sitrep": ("situation", "nature"),
    "meeting-proposal": ("meeting_id",),
    "meeting-protocol": ("meeting_id",),
    "general": ("subject",),
}


@dataclass(frozen=True)
class RenderedField:
    """One line of a rendered message: a label and the value as the reader sees it."""

    label: str
    value: str
    path: str
    lang: str | None = None
    original: bool = False
    unofficial: bool = False
    note: str | None = None
    translation: MachineTranslation | None = None


@dataclass(frozen=True)
class Rendered:
    """A message rendered for one reader; turn it into text or HTML with the functions below."""

    lang: str
    type: str
    status: str
    title: str
    type_label: str
    precedence_label: str
    status_label: str
    banner: str | None
    banner_note: str | None
    meta: list[RenderedField] = field(default_factory=list)
    fields: list[RenderedField] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_drill(self) -> bool:
        return self.status in DRILL_STATUSES


def language_name(tag: str, cat: Catalogue) -> str:
    """The name of language ``tag`` in the reader's language (CLDR via Babel)."""
    try:
        return Locale.parse(primary_language(tag)).get_display_name(cat.locale) or tag
    except (UnknownLocaleError, ValueError):
        return tag


def nautical_miles(value: float) -> Text:
    """A distance in nautical miles with the unit in the number's grammatical form (ngettext):
    ru 1 мор. миля, 2 мор. мили, 5 мор. миль; a fraction takes the form of 2 (2,5 мор. мили)."""
    whole = float(value).is_integer()
    count = int(value) if whole else 2
    number: float | int = int(value) if whole else float(value)
    return N("{n} NM", "{n} NM", count, n=number)


def localised_position(position: Mapping[str, Any], locale: str) -> str:
    """A position as :func:`parley.formats.geo.format_position` writes it, with the decimal
    sign of ``locale`` (Babel): ``71°31,20′N 030°02,40′E (71,52000; 30,04000)`` in nb and ru.
    Where the decimal sign is a comma, the two decimal degrees are separated by a semicolon."""
    text = format_position(position)
    sign = get_decimal_symbol(locale)
    if sign == ".":
        return text
    return text.replace(", ", "; ").replace(".", sign)


def format_utc_time(text: str, cat: Catalogue) -> str:
    """A wire time with its date, UTC first and the reader's own zone beside it when it differs.

    One format for every time a person reads (:mod:`parley.formats.times`); the zone is the
    reader's setting (UTC outside a console request), never implied by the language.
    """
    return when_for_reader(text, cat.lang, with_date=True)


def drill_banner(status: str, cat: Catalogue) -> str | None:
    """The banner for drill traffic in the reader's language, or None for ACTUAL."""
    return cat.get(f"banner.{status}") if status in DRILL_STATUSES else None


def drill_prefix(status: str, cat: Catalogue) -> str:
    """``[ØVELSE] `` for drill traffic, empty for ACTUAL: goes before every title."""
    return f"[{cat.get(f'banner.short.{status}')}] " if status in DRILL_STATUSES else ""


class _Renderer:
    def __init__(self, walker: SchemaWalker, cat: Catalogue, translator: Translator | None) -> None:
        self.walker = walker
        self.cat = cat
        self.translator = translator
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # -- values --------------------------------------------------------------------------

    def scalar(self, node: Node | None, value: Any, prop: str | None) -> str:
        cat = self.cat
        if node is not None and node.enum is not None:
            key = node.enum_key(value)
            return cat.get(key) if cat.has(key) else str(value)
        kind = node.kind if node is not None else None
        if prop == "topic" and isinstance(value, str):
            # A charter's topic code (``border_situation``) as its label in the reader's language.
            from parley.formats.labels import topic_label

            return topic_label(value, cat.lang)
        if kind == "utc_time" and isinstance(value, str):
            return format_utc_time(value, cat)
        if kind == "date" and isinstance(value, str):
            return format_date(date.fromisoformat(value), "medium", locale=cat.locale)
        if kind == "position" and isinstance(value, Mapping):
            return self.position(value)
        if kind == "circle" and isinstance(value, Mapping):
            return self.circle(value)
        if kind == "area" and isinstance(value, Mapping):
            if "circle" in value:
                return self.circle(value["circle"])
            corners = "; ".join(self.position(p) for p in value.get("polygon", ()))
            return cat.get("ui.polygon", corners=corners)
        if isinstance(value, bool):
            return cat.get("ui.yes" if value else "ui.no")
        if isinstance(value, int | float):
            return self.number(value, prop)
        return str(value)

    def number(self, value: float, prop: str | None) -> str:
        unit = field_unit(prop)
        if unit is None:
            return format_decimal(value, locale=self.cat.locale)
        if unit in ("nm", "NM"):
            return nautical_miles(value).render(self.cat.lang)
        return with_unit(value, unit, self.cat.lang)

    def circle(self, circle: Mapping[str, Any]) -> str:
        radius = self.number(circle["radius_nm"], "radius_nm")
        return self.cat.get("ui.circle", radius=radius, center=self.position(circle["center"]))

    def position(self, position: Mapping[str, Any]) -> str:
        """:func:`format_position` with the reader's decimal sign (``71°31,20′N`` in nb and ru);
        where that sign is a comma the decimal degrees are separated by a semicolon."""
        return localised_position(position, self.cat.locale)

    # -- walking -------------------------------------------------------------------------

    def fields(
        self, node: Node | None, value: Any, labels: list[str], path: list[str | int]
    ) -> Iterator[RenderedField]:
        label = _SEP.join(labels)
        pointer = "/" + "/".join(str(p) for p in path)
        prop = path[-1] if path and isinstance(path[-1], str) else None
        if node is not None and isinstance(value, Mapping) and node.is_free_text():
            yield from self.free_text(node, value, labels, path)
            return
        if node is not None and node.kind in ("position", "area", "circle"):
            yield RenderedField(label, self.scalar(node, value, prop), pointer)
            return
        if isinstance(value, Mapping):
            yield from self.object(node, value, labels, path)
            return
        if isinstance(value, list):
            items = self.walker.items(node) if node is not None else None
            if all(not isinstance(v, Mapping) for v in value) or (
                items is not None and items.kind == "position"
            ):
                text = ", ".join(self.scalar(items, v, prop) for v in value)
                yield RenderedField(label, text, pointer)
                return
            for i, item in enumerate(value):
                numbered = [*labels[:-1], self.cat.get("ui.item", label=labels[-1], n=i + 1)]
                yield from self.fields(items, item, numbered, [*path, i])
            return
        yield RenderedField(label, self.scalar(node, value, prop), pointer)

    def object(
        self, node: Node | None, value: Mapping[str, Any], labels: list[str], path: list[str | int]
    ) -> Iterator[RenderedField]:
        # Schema order first, then anything the schema does not know (never dropped silently).
        order = list(node.properties) if node is not None else []
        order += [k for k in value if k not in order]
        for prop in order:
            if prop not in value:
                continue
            child = self.walker.child(node, prop) if node is not None else None
            label = self.cat.get(node.field_key(prop)) if child is not None and node else prop
            yield from self.fields(child, value[prop], [*labels, label], [*path, prop])

    def free_text(
        self, node: Node, value: Mapping[str, Any], labels: list[str], path: list[str | int]
    ) -> Iterator[RenderedField]:
        others = {k: v for k, v in value.items() if k not in ("text", "lang")}
        if others:  # e.g. the subject of a general message
            yield from self.object(node, others, labels, path)
        # At the top of a body the text has no label of its own yet: use the field's label.
        label = _SEP.join(labels) if labels else self.cat.get(node.field_key("text"))
        pointer = "/" + "/".join(str(p) for p in [*path, "text"])
        tag = str(value.get("lang", ""))
        text = str(value.get("text", ""))
        original = self.cat.get("ui.original", language=language_name(tag, self.cat))
        yield RenderedField(label, text, pointer, lang=tag, original=True, note=original)
        if primary_language(tag) == self.cat.lang:
            return
        if self.translator is None or isinstance(self.translator, NoTranslator):
            self.note(self.cat.get("ui.no_translator"))
            return
        try:
            mt = machine_translate(self.translator, text, tag, self.cat.lang)
        except ParleyError as exc:
            # A failed translation must never stop a signed message from being shown.
            self.note(self.cat.get("ui.translation_failed", error=exc.message))
            return
        yield RenderedField(
            self.cat.get("ui.machine_translation", label=label),
            mt.text,
            pointer,
            lang=self.cat.lang,
            unofficial=True,
            note=self.cat.get(
                "ui.machine_translation_note",
                engine=mt.engine,
                source=language_name(tag, self.cat),
            ),
            translation=mt,
        )

    def summary(self, body: Mapping[str, Any], type_name: str) -> str:
        node: Node | None = self.walker.root
        value: Any = body
        prop = None
        for prop in _SUMMARY_FIELD.get(type_name, ()):
            if not isinstance(value, Mapping) or prop not in value or node is None:
                return ""
            node, value = self.walker.child(node, prop), value[prop]
        return self.scalar(node, value, prop) if prop else ""


def _check_envelope(envelope: Mapping[str, Any]) -> None:
    missing = [k for k in _ENVELOPE_KEYS if k not in envelope]
    if missing:
        raise UsageError(
            T("envelope lacks {missing}", missing=", ".join(missing)), hint=T("render a whole envelope")
        )


def render(envelope: Mapping[str, Any], lang: str, *, translator: Translator | None = None) -> Rendered:
    """Render ``envelope`` for a reader of ``lang`` (``nb``, ``ru``, ``en`` …)."""
    _check_envelope(envelope)
    cat = load_catalogue(lang)
    type_name = str(envelope["type"])
    status = str(envelope["status"])
    walker = schema_walker(type_name, envelope["type_version"])
    r = _Renderer(walker, cat, translator)
    body = envelope["body"]
    fields = list(r.fields(walker.root, body, [], []))
    type_label = cat.get(f"type.{type_name}")
    summary = r.summary(body, type_name)
    title = drill_prefix(status, cat) + (f"{type_label}: {summary}" if summary else type_label)
    return Rendered(
        lang=lang,
        type=type_name,
        status=status,
        title=title,
        type_label=type_label,
        precedence_label=cat.get(f"precedence.{envelope['precedence']}"),
        status_label=cat.get(f"status.{status}"),
        banner=drill_banner(status, cat),
        banner_note=cat.get(f"banner.note.{status}") if status in DRILL_STATUSES else None,
        meta=_meta(envelope, cat),
        fields=fields,
        notes=r.notes,
    )


def _meta(envelope: Mapping[str, Any], cat: Catalogue) -> list[RenderedField]:
    out = []
    if "channel" in envelope:
        out.append(RenderedField(cat.get("ui.channel"), str(envelope["channel"]), "channel"))
    sender = envelope.get("sender")
    if isinstance(sender, Mapping):
        who = f"{sender.get('desk', '?')} @ {sender.get('node', '?')}"
        out.append(RenderedField(cat.get("ui.sender"), who, "sender"))
    if "created" in envelope:
        created = format_utc_time(str(envelope["created"]), cat)
        out.append(RenderedField(cat.get("ui.created"), created, "created"))
    if "id" in envelope:
        out.append(RenderedField(cat.get("ui.message_id"), str(envelope["id"]), "id"))
    if "seq" in envelope:
        seq = str(envelope["seq"])  # a code, like a message id: never grouped ("1234", not "1 234")
        out.append(RenderedField(cat.get("ui.seq"), seq, "seq"))
    refs: Sequence[Any] = envelope.get("refs") or ()
    if refs:
        out.append(RenderedField(cat.get("ui.references"), ", ".join(map(str, refs)), "refs"))
    return out


def render_text(rendered: Rendered) -> str:
    """The rendered message as plain text for a terminal."""
    cat = load_catalogue(rendered.lang)
    lines: list[str] = []
    if rendered.banner:
        lines += [rendered.banner, str(rendered.banner_note), ""]
    lines.append(rendered.title)
    lines.append("=" * len(rendered.title))
    lines.append(f"{cat.get('ui.type')}: {rendered.type_label}")
    lines.append(f"{cat.get('ui.precedence')}: {rendered.precedence_label}")
    lines.append(f"{cat.get('ui.status')}: {rendered.status_label}")
    lines += [f"{f.label}: {f.value}" for f in rendered.meta]
    lines.append("")
    for f in rendered.fields:
        label = f"{f.label} [{f.note}]" if f.note and f.original else f.label
        value = f.value.replace("\n", "\n    ")
        lines.append(f"{label}: {value}")
        if f.unofficial and f.note:
            lines.append(f"    ({f.note})")
    if rendered.notes:
        lines.append("")
        lines += [f"* {n}" for n in rendered.notes]
    if rendered.banner:
        lines += ["", rendered.banner]
    return "\n".join(lines) + "\n"


_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render_html(rendered: Rendered) -> str:
    """The rendered message as an HTML fragment (an ``<article>``) for the console."""
    cat = load_catalogue(rendered.lang)
    labels = {k: cat.get(f"ui.{k}") for k in ("type", "precedence", "status")}
    return _TEMPLATES.get_template("message.html").render(m=rendered, labels=labels)
