"""Codes and language tables as a reader reads them: message types, agenda topics, durations,
language names, and a charter's multilingual texts with a visible fallback.

They sit with the catalogues, below the channels, because the renderers, exports and refusals
of every layer use them; a charter adds its own labels on top (``Charter.topic_label``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

from babel import Locale, UnknownLocaleError

from parley.errors import UsageError
from parley.formats.catalogue import Catalogue, load_catalogue
from parley.formats.texts import Text

# A language table: text keyed by language. ``basis.agreement`` may still be a plain string,
# as every charter before multilingual bases wrote it: that string is English (docs/channels.md).
PLAIN_TEXT_LANG = "en"
# The order in which a reader whose language a table lacks is offered the others.
FALLBACK_ORDER = ("en", "nb", "ru")


def catalogue_or_english(lang: str) -> Catalogue:
    try:
        return load_catalogue(lang)
    except UsageError:  # a language without a catalogue reads English
        return load_catalogue("en")


def text_in(value: str | Mapping[str, str], lang: str) -> str:
    """The text of a language table in ``lang``, falling back visibly.

    A plain string is English (:data:`PLAIN_TEXT_LANG`). When the table has no ``lang``, the
    text of another language (English first, then nb, ru) is shown with the catalogue's
    marker ``charter.untranslated.<that language>``: "… (ikke oversatt; på engelsk)".
    """
    table: Mapping[str, str] = {PLAIN_TEXT_LANG: value} if isinstance(value, str) else value
    text = table.get(lang)
    if text:
        return text
    for other in (*FALLBACK_ORDER, *table):
        text = table.get(other)
        if text:
            return catalogue_or_english(lang).get(f"charter.untranslated.{other}", text=text)
    return ""


def language_names(codes: Sequence[str], lang: str) -> list[str]:
    """Language codes as their names in ``lang`` (CLDR via Babel): ``norsk bokmål, russisk``."""
    names: Mapping[str, str]
    try:
        names = Locale.parse(catalogue_or_english(lang).locale).languages
    except (ValueError, UnknownLocaleError):
        names = {}
    return [names.get(code.replace("-", "_"), names.get(code.split("-")[0], code)) for code in codes]


def duration_in(seconds: float, lang: str) -> str:
    """A deadline or interval in its largest whole unit, in ``lang``'s locale (Babel):
    ``24 t``, ``24 ч``, ``90 min``, ``5 s`` — never ``1440.0 min``."""
    from parley.formats.units import with_unit

    if seconds >= 3600 and seconds % 3600 == 0:
        return with_unit(seconds // 3600, "h", lang)
    if seconds >= 60 and seconds % 60 == 0:
        return with_unit(seconds // 60, "min", lang)
    return with_unit(seconds, "s", lang)


class CodeLabel(Text):
    """A code (a message type, an agenda topic) that a refusal names: rendered as its label
    in each reader's language; its English form where the text is stored as JSON."""

    __slots__ = ("code", "label_in")

    def __init__(self, code: str, label_in: Callable[[str], str]) -> None:
        super().__init__(code)
        self.code, self.label_in = code, label_in

    def render(self, lang: str = "en") -> str:
        return self.label_in(lang)


def type_label(type_: str, lang: str) -> str:
    """The catalogue's label of a message type (``type.<id>``); the code if it has none."""
    cat = catalogue_or_english(lang)
    key = "type." + type_
    return cat.get(key) if cat.has(key) else type_


def type_labels(types: Sequence[str]) -> list[Text]:
    """Message types as labels, each read in its reader's language (refusal parameters)."""
    return [CodeLabel(t, functools.partial(type_label, t)) for t in types]


def topic_labels(topics: Sequence[str]) -> list[Text]:
    """Agenda topics as labels, each read in its reader's language (refusal parameters)."""
    return [CodeLabel(t, functools.partial(topic_label, t)) for t in topics]


def topic_label(topic: str, lang: str) -> str:
    """The catalogue's label of a topic code (``topic.border-situation``; ``_`` reads as ``-``).

    A code the catalogue does not know is shown as words (``call signs``), marked as English.
    """
    key = "topic." + topic.replace("_", "-")
    cat = catalogue_or_english(lang)
    if cat.has(key):
        return cat.get(key)
    words = topic.replace("_", " ").replace("-", " ").strip().capitalize()
    return text_in(words, lang)
