"""Sentences rendered in the reader's language: errors, alarms, refusals, CLI output.

Labels (field names, enum values, page headings) live in the key-based catalogue
(:mod:`parley.formats.catalogue`). Sentences with parameters — "no channel 'x' on this node",
"3 messages not acknowledged" — are kept as *texts*: an English template and its parameters,
stored as such (an alarm row, an error body) and rendered only when someone reads them, in
that reader's language. This is GNU gettext's model (the English template is the ``msgid``,
``ngettext`` chooses the plural form by the language's ``Plural-Forms`` rule), with the
translations in a second gettext domain, ``locale/<lang>/LC_MESSAGES/texts.po``, extracted
from the source by Babel (``scripts/extract-texts``, keywords ``T`` and ``N``).

Parameters are rendered too: numbers through Babel in the reader's locale (``{n:,}`` gives
``1 440`` in nb and ru, ``1,440`` in en; ``{x}`` gives ``2,5`` in nb), lists joined, nested
texts rendered in the same language.
A template without a translation falls back to English; ``scripts/extract-texts --check``
and the language tests keep the shipped catalogues complete.
"""

from __future__ import annotations

import functools
import gettext
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

# The same directory as parley.formats.catalogue's (that module imports parley.errors, which
# imports this one, so the path is not taken from there).
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "texts"
ENGLISH = "en"
LANGUAGES = ("nb", "ru", "en")
_LOCALES = {"nb": "nb_NO", "ru": "ru_RU", "en": "en_GB"}

_cli_lang: ContextVar[str | None] = ContextVar("parley_cli_lang", default=None)


class Text:
    """An English template with its parameters, rendered in a language when read.

    ``str(text)`` is the English rendering, so a Text can stand wherever a message string
    stood (logs, exception args, tests that compare English).
    """

    __slots__ = ("n", "params", "plural", "template")

    def __init__(
        self, template: str, params: Mapping[str, Any] | None = None, *, plural: str | None = None, n: int = 0
    ) -> None:
        self.template = template
        self.plural = plural
        self.n = n
        self.params: dict[str, Any] = dict(params or {})

    def render(self, lang: str = ENGLISH) -> str:
        forms = _translations(lang).get(self.template)
        if self.plural is None:
            pattern = forms if isinstance(forms, str) else self.template
        elif isinstance(forms, tuple) and forms:
            index = _plural_rule(lang)(self.n)
            pattern = forms[min(index, len(forms) - 1)]
        else:
            pattern = self.template if self.n == 1 else self.plural
        params = {k: _param(v, lang) for k, v in self.params.items()}
        try:
            return pattern.format(**params)
        except (KeyError, IndexError, ValueError):
            # A translation that names a placeholder the template lacks must not hide the
            # message: fall back to English, which the extraction keeps consistent.
            english = self.template if self.plural is None or self.n == 1 else self.plural
            return english.format(**params)

    def __str__(self) -> str:
        return self.render(ENGLISH)

    def __repr__(self) -> str:
        return f"T({self.template!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Text):
            return (self.template, self.plural, self.n, self.params) == (
                other.template,
                other.plural,
                other.n,
                other.params,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.template, self.plural, self.n))

    def to_json(self) -> dict[str, Any]:
        """A JSON form to store (an alarm row) and read back with :func:`text_from_json`."""
        params = {k: _jsonable(v) for k, v in self.params.items()}
        out: dict[str, Any] = {"text": self.template, "params": params}
        if self.plural is not None:
            out["plural"], out["n"] = self.plural, self.n
        return out


def T(template: str, /, **params: Any) -> Text:
    """A translatable sentence: ``T("no channel {name!r}", name=name)``."""
    return Text(template, params)


def N(singular: str, plural: str, n: int, /, **params: Any) -> Text:
    """A sentence with a count: ``N("{n} message", "{n} messages", n)`` (``n`` is a parameter)."""
    params.setdefault("n", n)
    return Text(singular, params, plural=plural, n=n)


def render(value: Text | str, lang: str = ENGLISH) -> str:
    """``value`` in ``lang``; a plain string (a name, an id, a sender's words) is kept."""
    return value.render(lang) if isinstance(value, Text) else value


def text_from_json(value: Any) -> Any:
    """The inverse of :meth:`Text.to_json`: a Text; a string, number or list stays as it is."""
    if isinstance(value, Mapping) and isinstance(value.get("text"), str):
        params = {k: text_from_json(v) for k, v in dict(value.get("params") or {}).items()}
        plural = value.get("plural")
        return Text(
            value["text"],
            params,
            plural=plural if isinstance(plural, str) else None,
            n=int(value.get("n") or 0),
        )
    return value  # strings, numbers and lists pass through


def stored(value: Text | str) -> str:
    """``value`` for a text column: a Text as its JSON form, a plain string as it is."""
    import json

    return json.dumps(value.to_json(), ensure_ascii=False) if isinstance(value, Text) else value


def from_stored(value: str | None) -> Text | str | None:
    """The inverse of :func:`stored`: a Text if the column holds one, else the string."""
    import json

    if value and value.startswith('{"text"'):
        try:
            parsed = text_from_json(json.loads(value))
        except ValueError:
            return value
        return parsed if isinstance(parsed, Text) else value
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Text):
        return value.to_json()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


class _Number:
    """A number that formats itself in the reader's locale (Babel, CLDR patterns).

    Plain ``{n}`` keeps whole numbers ungrouped — ports, years and sequence numbers are
    codes, not quantities — and writes a fraction with the locale's decimal sign. ``{n:,}``
    groups digits the locale's way (``1 440`` in nb and ru); ``{x:.1f}`` and ``{x:,.1f}`` fix
    the fraction.
    """

    __slots__ = ("locale", "value")

    def __init__(self, value: int | float, locale: str) -> None:
        self.value, self.locale = value, locale

    def __format__(self, spec: str) -> str:
        value = self.value
        if isinstance(value, float) and (not math.isfinite(value) or (value and abs(value) < 0.001)):
            # NaN, infinities and tiny values are shown as written, never as a rounded 0.
            return format(value, spec or "g")
        shape = re.fullmatch(r"(,?)(?:\.(\d)f)?", spec)
        if shape is None:
            return format(self.value, spec)
        grouped, digits = shape.group(1) == ",", shape.group(2)
        whole = "#,##0" if grouped else "0"
        if digits is not None:
            pattern = whole + ("." + "0" * int(digits) if int(digits) else "")
        elif isinstance(self.value, float) and not self.value.is_integer():
            pattern = whole + ".###"
        else:
            pattern = whole
        return format_decimal(self.value, format=pattern, locale=self.locale)

    def __str__(self) -> str:
        return self.__format__("")

    def __repr__(self) -> str:
        return repr(self.value)


def _param(value: Any, lang: str) -> Any:
    if isinstance(value, Text):
        return value.render(lang)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return _Number(value, _LOCALES.get(lang, "en_GB"))
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ", ".join(str(_param(v, lang)) for v in items)
    return value


# --- catalogues -------------------------------------------------------------------------------


def po_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _translations(lang: str, locale_dir: Path = LOCALE_DIR) -> dict[str, str | tuple[str, ...]]:
    if lang == ENGLISH:
        return {}
    po = po_path(lang, locale_dir)
    if not po.is_file():
        return {}
    mo = po.with_suffix(".mo")
    if mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fh:
            catalog = read_mo(fh)
    else:
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang, domain=DOMAIN)
    out: dict[str, str | tuple[str, ...]] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        key = str(message.id[0] if isinstance(message.id, tuple) else message.id)
        if isinstance(message.string, tuple):
            if all(message.string):
                out[key] = tuple(str(s) for s in message.string)
        elif message.string:
            out[key] = str(message.string)
    return out


@functools.cache
def _plural_rule(lang: str) -> Any:
    po = po_path(lang)
    expr = "(n != 1)"
    if po.is_file():
        with po.open("rb") as fh:
            expr = read_po(fh, locale=lang, domain=DOMAIN).plural_expr
    return gettext.c2py(expr)


def templates(lang: str) -> Iterable[str]:
    """The templates translated into ``lang`` (for the completeness tests)."""
    return _translations(lang).keys()


def accept_language(header: str | None, default: str = ENGLISH) -> str:
    """The first language of an HTTP ``Accept-Language`` header Parley speaks (RFC 9110 §12.5.4).

    Weights are honoured (``ru;q=0.2, nb`` reads Bokmål); ``no`` and ``nn`` read Bokmål.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:32]):
        tag, _, rest = part.strip().partition(";")
        weight = 1.0
        if rest.strip().startswith("q="):
            try:
                weight = float(rest.strip()[2:])
            except ValueError:
                weight = 0.0
        code = tag.strip().lower().split("-")[0]
        code = "nb" if code in ("no", "nn") else code
        if code in LANGUAGES and weight > 0:
            ranked.append((-weight, position, code))
    return min(ranked)[2] if ranked else default


# --- the reader's language on the command line -------------------------------------------------


def lang_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """``PARLEY_LANG``, else the POSIX locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``), else en.

    Norwegian locales (``no``, ``nb``, ``nn``) read Bokmål; anything Parley has no catalogue
    for reads English.
    """
    env = os.environ if environ is None else environ
    for name in ("PARLEY_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "").strip()
        if not value or value in ("C", "POSIX") or value.startswith("C."):
            continue
        code = value.split(".")[0].split("_")[0].split("-")[0].lower()
        if code in ("no", "nn"):
            code = "nb"
        if code in LANGUAGES:
            return code
        if name == "PARLEY_LANG":
            continue  # checked by the CLI, which refuses an unknown PARLEY_LANG
    return ENGLISH


def cli_lang() -> str:
    """The language the command line speaks now: ``--lang`` if given, else the environment."""
    return _cli_lang.get() or lang_from_environment()


@contextmanager
def speaking(lang: str | None) -> Iterator[None]:
    """Within the block, :func:`cli_lang` is ``lang`` (None: the environment's)."""
    token = _cli_lang.set(lang)
    try:
        yield
    finally:
        _cli_lang.reset(token)


def set_cli_lang(lang: str) -> None:
    """Set the command line's language for the rest of this process (the ``--lang`` option)."""
    _cli_lang.set(lang)
