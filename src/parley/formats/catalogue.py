"""Message catalogues: every label, enum value and UI string in each reader's language.

The catalogues are GNU gettext ``.po`` files read and written with Babel, one per language
under ``locale/<lang>/LC_MESSAGES/parley.po``. Message ids are stable keys
(``field.incident-at-sea.category``, ``enum.incident-at-sea.category.unsafe_approach``,
``type.incident-at-sea``, ``precedence.FLASH``) rather than English sentences, so English
has a catalogue of its own and a change of English wording never orphans a translation.

Each catalogue also says how its readers want dates and times: ``meta.locale`` (a CLDR
locale for babel.dates and babel.numbers) and ``meta.timezone`` (an IANA zone). Adding a
language is therefore adding one ``.po`` file; no code changes.

At run time a compiled ``.mo`` is used when it is present and newer than its ``.po``;
otherwise the ``.po`` is parsed in memory, so an editable install works without a build
step (``scripts/compile-catalogues`` writes the ``.mo`` files for a release).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from parley.errors import UsageError
from parley.formats.texts import T

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "parley"
FALLBACK_LANGUAGE = "en"


class Catalogue:
    """The translated strings of one language, with English behind it for anything missing.

    Missing keys fall back to English and then to the key itself, so a gap in a new
    catalogue shows as readable English rather than breaking a rendering; the completeness
    test is what keeps the shipped catalogues free of gaps.
    """

    def __init__(self, lang: str, messages: Mapping[str, str], fallback: Catalogue | None = None) -> None:
        self.lang = lang
        self.messages = dict(messages)
        self.fallback = fallback

    def has(self, key: str) -> bool:
        """Whether ``key`` is translated here or in the fallback language."""
        return key in self.messages or (self.fallback is not None and self.fallback.has(key))

    def get(self, key: str, **params: object) -> str:
        """The text for ``key``; ``{name}`` placeholders are filled from ``params``."""
        text = self.messages.get(key)
        if text is None:
            text = self.fallback.get(key) if self.fallback is not None else key
        return text.format(**params) if params else text

    @property
    def locale(self) -> str:
        """The CLDR locale for dates and numbers (e.g. ``nb_NO``)."""
        return self.get("meta.locale")

    @property
    def timezone(self) -> ZoneInfo:
        """The zone this language's readers keep their clocks in."""
        return ZoneInfo(self.get("meta.timezone"))


def po_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def available_languages(locale_dir: Path = LOCALE_DIR) -> list[str]:
    """Languages with a catalogue, in alphabetical order."""
    return sorted(p.name for p in locale_dir.iterdir() if po_path(p.name, locale_dir).is_file())


def read_catalogue(po: Path) -> Catalog:
    with po.open("rb") as fh:
        return read_po(fh, locale=po.parent.parent.name, domain=DOMAIN)


def compile_catalogue(po: Path, mo: Path | None = None) -> Path:
    """Write the ``.mo`` for ``po`` (next to it unless ``mo`` is given); returns its path."""
    target = mo or po.with_suffix(".mo")
    catalog = read_catalogue(po)
    with target.open("wb") as fh:
        write_mo(fh, catalog, use_fuzzy=False)
    return target


def _messages(catalog: Catalog) -> dict[str, str]:
    # Fuzzy entries are guesses a translator has not confirmed: treat them as missing.
    out: dict[str, str] = {}
    for message in catalog:
        key, text = message.id, message.string
        if key and isinstance(key, str) and text and isinstance(text, str) and not message.fuzzy:
            out[key] = text
    return out


def read_messages(lang: str, locale_dir: Path = LOCALE_DIR) -> dict[str, str]:
    """The translations of ``lang``: from a fresh ``.mo`` if there is one, else the ``.po``."""
    po = po_path(lang, locale_dir)
    if not po.is_file():
        known = ", ".join(available_languages(locale_dir))
        raise UsageError(
            T("no catalogue for language {lang!r}", lang=lang), hint=T("use one of: {known}", known=known)
        )
    mo = po.with_suffix(".mo")
    if mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fh:
            return _messages(read_mo(fh))
    return _messages(read_catalogue(po))


@functools.cache
def _load(lang: str, locale_dir: Path) -> Catalogue:
    fallback = None if lang == FALLBACK_LANGUAGE else _load(FALLBACK_LANGUAGE, locale_dir)
    return Catalogue(lang, read_messages(lang, locale_dir), fallback)


def load_catalogue(lang: str, locale_dir: Path = LOCALE_DIR) -> Catalogue:
    """The catalogue for ``lang`` (``nb``, ``ru``, ``en`` …); UsageError if there is none."""
    return _load(lang, locale_dir)
