"""Each operator's time zone: an IANA name (tz database, RFC 6557), UTC unless they choose one.

The zone is a setting of the person, not of their language: a Russian-speaking officer in
Kirkenes keeps Norwegian time. Times are always shown in UTC first; the zone only adds the
wall clock beside them (:func:`parley.console.timefmt.when`). Names are checked against the
tz database through :mod:`zoneinfo`, so a typo is refused rather than stored.
"""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import Column, String, Table, delete, insert, select

from parley.errors import UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.storage.metadata import metadata

DEFAULT_ZONE = "UTC"
MAX_ZONE_NAME = 64  # the longest tz database name is about 32 characters

operator_settings = Table(
    "operator_settings",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("time_zone", String(MAX_ZONE_NAME), nullable=False),
)


def valid_zone(name: str) -> str:
    """``name`` as a tz database zone; UsageError (changing nothing) when it is not one."""
    name = name.strip()
    hint = T("give an IANA time zone name such as Europe/Oslo, Europe/Moscow or UTC")
    if not name or len(name) > MAX_ZONE_NAME or name.startswith(("/", ".")) or ".." in name:
        shown = name[:MAX_ZONE_NAME]
        raise UsageError(
            T("{shown!r} is not a time zone name", shown=shown), code="unknown_time_zone", hint=hint
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            T("unknown time zone {name!r}", name=name), code="unknown_time_zone", hint=hint
        ) from None
    return name


def is_zone(name: str) -> bool:
    """Whether ``name`` is a zone :func:`valid_zone` accepts."""
    try:
        valid_zone(name)
    except UsageError:
        return False
    return True


@functools.cache
def zone_choices() -> list[str]:
    """The zones offered in the settings page, UTC first."""
    return [DEFAULT_ZONE, *sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))]


def time_zone_of(node: Node, username: str) -> str:
    """The operator's zone; UTC when they never chose one."""
    with node.reader.connect() as conn:
        zone = conn.execute(
            select(operator_settings.c.time_zone).where(operator_settings.c.username == username)
        ).scalar()
    return str(zone) if zone else DEFAULT_ZONE


def set_time_zone(node: Node, username: str, zone: str) -> str:
    """Store the operator's zone (validated first); returns the name stored."""
    from parley.directory.operators import get_operator

    zone = valid_zone(zone)
    get_operator(node, username)  # NotFoundError for an unknown or disabled operator
    with node.engine.begin() as conn:
        conn.execute(delete(operator_settings).where(operator_settings.c.username == username))
        conn.execute(insert(operator_settings).values(username=username, time_zone=zone))
    return zone
