"""``parley operator zone USER [ZONE]``: the time zone an operator reads times against.

Times are shown in UTC first everywhere; the operator's zone (an IANA tz database name,
RFC 6557) only adds their wall clock beside them (:mod:`parley.formats.times`).
"""

from __future__ import annotations

import typer

from parley.cli.common import node_from, say
from parley.formats.texts import T


def operator_zone(
    ctx: typer.Context,
    user: str = typer.Argument(...),
    zone: str = typer.Argument("", help="An IANA zone: Europe/Oslo, Europe/Moscow, UTC… (none: show it)."),
) -> None:
    """Show or set the time zone an operator's console shows beside UTC (default UTC)."""
    from parley.directory.audit import audit
    from parley.directory.operators import get_operator
    from parley.directory.time_zones import set_time_zone, time_zone_of

    node = node_from(ctx)
    get_operator(node, user)
    if not zone:
        say(
            T(
                "{user} reads times in UTC and {time_zone_of}",
                user=user,
                time_zone_of=time_zone_of(node, user),
            )
        )
        return
    stored = set_time_zone(node, user, zone)
    audit(node, "cli", "set_time_zone", {"operator": user, "time_zone": stored})
    say(T("{user} reads times in UTC and {stored}", user=user, stored=stored))
