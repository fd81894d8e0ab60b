"""A standby that takes over: a ``serve`` on a hot standby waits read-only until promotion.

A node can run across two machines: PostgreSQL streaming replication from the primary
cluster to a hot standby (PostgreSQL 15 documentation, §27.2 "Log-Shipping Standby Servers"
and §27.4 "Hot Standby"), with a second ``parley serve`` on the standby host pointed at the
standby. While the database is in recovery (``pg_is_in_recovery()`` is true, §9.27.4) that
process writes nothing and serves nothing that writes: ``/readyz`` says ``standby``, the
operator API refuses writes, and the federation API answers peers ``503`` with
``Retry-After`` so they retry (parley.api.standby). It asks the database again every
``[database] standby_poll_s`` seconds; once the standby is promoted (``pg_ctl promote``,
``pg_promote()``) it takes every sending lease — the leases in the promoted database were
written by the processes of the old primary, which can no longer write to it — and starts
the node's background work as any ``serve`` does, the recovery check first
(parley.continuity.recovery).

No receipted message is lost only with synchronous replication (``synchronous_standby_names``
with ``synchronous_commit = on`` or ``remote_apply``): a commit, and so a receipt or a
``201``, returns only once the standby holds it. docs/operations.md "A standby that takes
over" says what asynchronous replication loses and how the recovery from peers covers it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Engine, text, update

from parley.errors import ConflictError, UsageError
from parley.formats.texts import T
from parley.storage.engines import is_sqlite

if TYPE_CHECKING:
    from parley.continuity.recovery import Recovery
    from parley.federation.runtime import Runtime

    class StandbyRuntime(Runtime, Protocol):
        """A running node as the standby gate sees it: with its recovery and standby state."""

        recovery: Recovery
        standby: Standby


log = logging.getLogger("parley.standby")

POLL_BOUNDS_S = (0.1, 60.0)


def standby_error(retry_s: float) -> ConflictError:
    """What a request that would write is told while this process waits as a standby."""
    return ConflictError(
        T(
            "this node's database is a read-only standby: this process writes nothing until "
            "the standby is promoted; nothing was stored"
        ),
        code="standby",
        http_status=503,
        hint=T(
            "send to the node's primary, or promote the standby (pg_ctl promote) and retry in {s} seconds",
            s=retry_s,
        ),
    )


def check_poll(seconds: float) -> float:
    """``[database] standby_poll_s``, refused plainly when out of bounds (also nan, inf)."""
    lo, hi = POLL_BOUNDS_S
    if not lo <= seconds <= hi:
        raise UsageError(
            T(
                "[database] standby_poll_s = {s} is not between {lo} and {hi} seconds",
                s=seconds,
                lo=lo,
                hi=hi,
            ),
            hint=T("for example standby_poll_s = 3"),
        )
    return seconds


def in_recovery(engine: Engine) -> bool:
    """Whether the database is a standby in recovery (never, for SQLite)."""
    if is_sqlite(engine):
        return False
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT pg_is_in_recovery()")).scalar())


def take_leases(service: StandbyRuntime) -> int:
    """Take every peer's sending lease for this process; the number of leases taken over.

    Called once, right after promotion and before any sending loop starts: whoever holds
    a lease in the promoted database is a process of the old primary, which cannot write
    here. Run one standby ``serve`` per standby database (docs/operations.md)."""
    from parley.federation.sender import LEASE_S
    from parley.storage.tables import peer_links

    node = service.node
    with node.engine.begin() as conn:
        result = conn.execute(
            update(peer_links)
            .where(peer_links.c.lease_owner.is_not(None), peer_links.c.lease_owner != service.owner)
            .values(lease_owner=service.owner, lease_until=node.clock.now() + timedelta(seconds=LEASE_S))
        )
    return int(result.rowcount or 0)


@dataclass
class Standby:
    """Whether this process waits as a standby; ``waiting`` is read by the gate and /readyz."""

    poll_s: float
    waiting: bool = False
    promoted_at: float | None = None  # monotonic time the promotion was seen

    async def begin(self, service: StandbyRuntime) -> bool:
        """True when the database is a standby now: this process then waits."""
        self.waiting = await service.db(in_recovery, service.node.engine)
        if self.waiting:
            log.warning(
                "%s: the database is a standby in recovery; waiting for its promotion (polled every %gs)",
                service.node.name,
                self.poll_s,
            )
        return self.waiting

    async def wait(self, service: StandbyRuntime, take_over: Callable[[], Awaitable[None]]) -> None:
        """Poll until promotion (or stop), then take the leases and run ``take_over``.

        A database that does not answer (restarting, the network) is asked again on the
        next poll: the wait ends only on promotion or shutdown."""
        taken = 0
        while not service.stop.is_set():
            try:
                if not await service.db(in_recovery, service.node.engine):
                    taken = await service.db(take_leases, service)
                    break
            except Exception as exc:
                log.warning("standby: cannot ask the database whether it is promoted: %s", exc)
            await service._sleep(self.poll_s)
        else:
            return  # shut down while waiting
        self.promoted_at = service.node.clock.monotonic()
        if service.node.config.database.takeover_waits_for_peers:
            # Asynchronous replication may have lost the newest commits: send nothing until
            # every peer has said what it holds of this node's chains (as after a restore).
            service.recovery.strict = True
        log.warning("standby promoted: %s takes over (%d sending lease(s) taken)", service.node.name, taken)
        try:
            await take_over()
        finally:
            self.waiting = False


async def gate_wait(
    service: StandbyRuntime, take_over: Callable[[], Awaitable[None]]
) -> asyncio.Task[None] | None:
    """Start ``take_over`` now, or a task that waits for promotion and then starts it."""
    standby = service.standby
    if not await standby.begin(service):
        await take_over()
        return None
    return asyncio.ensure_future(standby.wait(service, take_over))
