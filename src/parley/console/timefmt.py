"""Times in the console: one format everywhere, UTC first, the operator's own zone beside it.

``18:39 UTC (19:39 CET)`` (RFC 3339 UTC on the wire, CLDR patterns via Babel on screen): the
implementation is :mod:`parley.formats.times`, shared with the message renderer and the CLI;
templates get :func:`when` as a global with the operator's zone and language bound
(:class:`parley.console.app.Page`).
"""

from __future__ import annotations

from parley.formats.times import (
    Reader,
    current_reader,
    read_as,
    stop_reading_as,
    when,
    when_for_reader,
    zone_label,
    zone_or_none,
)

__all__ = [
    "Reader",
    "current_reader",
    "read_as",
    "stop_reading_as",
    "when",
    "when_for_reader",
    "zone_label",
    "zone_or_none",
]
