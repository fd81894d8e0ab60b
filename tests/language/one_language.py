"""One check for a sentence built from fragments: translated, and no English word left in it."""

from __future__ import annotations

from parley.errors import ParleyError
from tests.language.detector import scan_text


def assert_one_language(error: ParleyError, codes: tuple[str, ...] = ()) -> None:
    """The error reads differently from English in nb and ru and holds no English word
    (``codes``: commands, options, ids and names, which stay as they are)."""
    english = error.one_line("en")
    for lang in ("nb", "ru"):
        said = error.one_line(lang)
        assert said != english, lang
        read = said
        for code in codes:
            read = read.replace(code, "")
        assert scan_text(read, lang=lang, source="test") == [], said
