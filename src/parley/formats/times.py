"""One way to show a time to a person: UTC first, the operator's own clock beside it.

Parley signs UTC times only (RFC 3339, ``Z``); a duty officer on either side of the border
reads them against UTC and, when their own zone differs, against the wall clock:
``18:39 UTC (19:39 CET)``. The date is added when the time is not today (in UTC), and the
local part carries its own date when it falls on another day than the UTC part. The zone is
an IANA name (an operator setting, default UTC), never derived from the language; the
language only chooses the CLDR date and time patterns (Babel).

Who is reading is known where the request is (the console's session middleware), not where
the text is made (views and the message renderer, in database threads): :func:`read_as` puts
the reader's zone and today's date in a context variable, which ``asyncio.to_thread`` carries
along, and :func:`when_for_reader` uses it. Outside a request (the CLI) the reader is UTC.
"""

from __future__ import annotations

import functools
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time

from parley.clock import parse_time
from parley.formats.catalogue import load_catalogue

# An IANA name is at most a few dozen characters; anything longer is not one.
MAX_ZONE_NAME = 64


@functools.cache
def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_or_none(name: str | None) -> tzinfo | None:
    """The zone named ``name``, or None when it is empty, UTC or not an IANA zone."""
    if not name or len(name) > MAX_ZONE_NAME or name in ("UTC", "Etc/UTC", "Z"):
        return None
    return _zone(name)


def _locale(lang: str) -> str:
    try:
        return load_catalogue(lang).locale
    except Exception:  # an unknown language shows English patterns rather than failing a page
        return "en_GB"


def zone_label(local: datetime, zone_name: str) -> str:
    """``CET``/``MSK`` where the zone has a lettered abbreviation, else its IANA name."""
    abbr = local.tzname() or ""
    return abbr if abbr[:1].isalpha() else zone_name


def _as_utc(dt: datetime | str) -> datetime:
    if isinstance(dt, str):
        return parse_time(dt)
    # Some drivers (SQLite) hand back naive datetimes; Parley stores UTC only.
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _clock(dt: datetime, locale: str, with_date: bool) -> str:
    hm = format_time(dt, "short", locale=locale)
    return f"{format_date(dt, 'medium', locale=locale)} {hm}" if with_date else hm


def when(
    dt: datetime | str,
    tz: str | None,
    lang: str,
    *,
    today: date | None = None,
    with_date: bool = False,
) -> str:
    """``18:39 UTC (19:39 CET)``; ``28 Nov 2026 18:39 UTC`` when not today and tz is UTC.

    ``today`` is the current UTC date (from the node's clock); None means the system clock.
    ``with_date`` always shows the date (a message body is a document, read on other days).
    """
    utc = _as_utc(dt)
    locale = _locale(lang)
    current = today if today is not None else datetime.now(UTC).date()
    shown = f"{_clock(utc, locale, with_date or utc.date() != current)} UTC"
    zone = zone_or_none(tz)
    if zone is None or tz is None:
        return shown
    local = utc.astimezone(zone)
    if local.utcoffset() == utc.utcoffset() and local.tzname() in ("UTC", "GMT", "UTC+00:00"):
        return shown
    return f"{shown} ({_clock(local, locale, local.date() != utc.date())} {zone_label(local, tz)})"


@dataclass(frozen=True)
class Reader:
    """Whose clock times are shown against: their zone (None: UTC) and today's UTC date."""

    zone: str | None = None
    today: date | None = None


_reader: ContextVar[Reader | None] = ContextVar("parley_time_reader", default=None)
_UTC_READER = Reader()


def read_as(zone: str | None, today: date | None) -> Token[Reader | None]:
    """Show times to the rest of this request (and its threads) in ``zone``."""
    return _reader.set(Reader(zone, today))


def stop_reading_as(token: Token[Reader | None]) -> None:
    _reader.reset(token)


def current_reader() -> Reader:
    return _reader.get() or _UTC_READER


def when_for_reader(dt: datetime | str, lang: str, *, with_date: bool = False) -> str:
    """:func:`when` for the reader of this request (UTC outside one)."""
    r = current_reader()
    return when(dt, r.zone, lang, today=r.today, with_date=with_date)
