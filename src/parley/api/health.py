"""Health probes for load balancers and service managers: ``/healthz`` and ``/readyz``.

* ``GET /healthz`` — *liveness*: 200 while the process is alive and its event loop answers.
  It touches no database, so a slow or lost database never gets a live node restarted.
* ``GET /readyz`` — *readiness*: 200 only when the node can do its work:

  - ``database``: the database takes a real write (a row inserted in a transaction that is
    rolled back, so nothing stays), bounded by :data:`PROBE_TIMEOUT_S`; while one probe
    still waits, the next one does not start another but reports it;
  - ``identity_key``: the identity key is loaded and signs (a signature made and verified);
  - ``loops``: the background work runs — the delivery loop, the link tests, the deadline
    watch, one sending loop per peer — each has ticked within :func:`stale_after`, and
    none of the node's background tasks has ended; and the node is not holding its sends
    while it recovers its own chains after a restore (``recovering``, parley.continuity.recovery);
  - a ``serve`` whose database is a hot standby is not ready until the standby is promoted
    and it has taken over (``standby``, parley.continuity.standby).

  Otherwise 503, with each failed check as a code and a sentence in the language of
  ``Accept-Language``. Neither probe needs credentials; neither answer names a peer, a
  channel, the database or an error's text (those go to the log).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from parley.api.route_actions import Declared
from parley.directory.policy import Action
from parley.formats.texts import N, T, Text, accept_language, render
from parley.running.service import Service
from parley.storage.engines import is_sqlite
from parley.storage.tables import seen_requests

log = logging.getLogger("parley.health")

PROBE_TIMEOUT_S = 2.0
# The loops the service ticks by name (Service.beat), as a reader of the answer sees them.
LOOPS = {
    "delivery": T("the delivery loop"),
    "link_tests": T("the link tests"),
    "deadlines": T("the deadline watch"),
}
CHECKS = ("database", "identity_key", "loops")


def stale_after(tick_s: float) -> float:
    """Seconds after which a loop that has not ticked counts as stuck.

    A round may wait for a peer's answer (the request timeout), a lease (10 s) or a backoff
    (five ticks), so the bound is generous: a minute, or ten ticks when they are longer."""
    return max(60.0, 10 * tick_s)


@dataclass(frozen=True)
class Failure:
    check: str
    code: str
    text: Text

    def to_json(self, lang: str) -> dict[str, str]:
        return {"check": self.check, "code": self.code, "message": render(self.text, lang)}


class Probe:
    """The readiness checks of one service; at most one database probe in flight."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._pending: concurrent.futures.Future[None] | None = None
        self._lock = threading.Lock()

    async def failures(self) -> list[Failure]:
        standby = getattr(self.service, "standby", None)
        if standby is not None and standby.waiting:
            # Read-only until promoted (parley.continuity.standby): a write probe would only
            # fail, and the loops have not started on purpose.
            waiting = T("the database is a read-only standby: this process takes over once it is promoted")
            return [Failure("database", "standby", waiting), *self.identity_key()]
        return [*await self.database(), *self.identity_key(), *self.loops()]

    # --- database -------------------------------------------------------------------------
    async def database(self) -> list[Failure]:
        with self._lock:
            if self._pending is not None and not self._pending.done():
                return [
                    Failure("database", "database_busy", T("the previous write probe has not finished yet"))
                ]
            pending = self._pending = concurrent.futures.Future()
            pending.set_running_or_notify_cancel()  # from now on it cannot be cancelled
        threading.Thread(target=self._write_probe, args=(pending,), name="readyz", daemon=True).start()
        try:
            # Shielded: a probe that times out keeps running (bounded by the database's own
            # timeouts) and the next request reports it instead of starting another.
            waiting = asyncio.wrap_future(pending)
            # Its outcome is read even when nobody waits for it any more (no "never retrieved").
            waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
            await asyncio.wait_for(asyncio.shield(waiting), PROBE_TIMEOUT_S)
        except TimeoutError:
            log.warning("readiness: the database took no write within %gs", PROBE_TIMEOUT_S)
            return [
                Failure(
                    "database",
                    "database_timeout",
                    T("the database took no write within {s} seconds", s=PROBE_TIMEOUT_S),
                )
            ]
        except Exception as exc:
            log.warning("readiness: the database is not writable: %s: %s", type(exc).__name__, exc)
            return [Failure("database", "database_not_writable", T("the database does not take writes"))]
        return []

    def _write_probe(self, done: concurrent.futures.Future[None]) -> None:
        try:
            write_probe(self.service, PROBE_TIMEOUT_S)
        except Exception as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)

    # --- identity key ---------------------------------------------------------------------
    def identity_key(self) -> list[Failure]:
        key = getattr(self.service.node, "key", None)
        nonce = secrets.token_bytes(16)
        try:
            ok = key is not None and key.public.verify(nonce, key.sign(nonce))
        except Exception as exc:
            log.warning("readiness: the identity key does not sign: %s", type(exc).__name__)
            ok = False
        if ok:
            return []
        return [Failure("identity_key", "identity_key_missing", T("the node's identity key is not loaded"))]

    # --- background loops -----------------------------------------------------------------
    def loops(self) -> list[Failure]:
        service = self.service
        if service.stop.is_set():
            return [Failure("loops", "stopping", T("the node is shutting down"))]
        recovery = getattr(service, "recovery", None)
        if recovery is not None and recovery.holding:
            # The sending loops run but send nothing (parley.continuity.recovery): not ready.
            return [
                Failure(
                    "loops",
                    "recovering",
                    T("the node is recovering its own chains from its peers; it sends nothing yet"),
                )
            ]
        if not service.tasks:
            return [Failure("loops", "loops_not_started", T("the background loops have not started"))]
        out: list[Failure] = []
        ended = sum(1 for t in service.tasks if t.done())
        if ended:
            out.append(
                Failure(
                    "loops",
                    "loop_ended",
                    N("{n} background task has ended", "{n} background tasks have ended", ended),
                )
            )
        now = service.node.clock.monotonic()
        limit = stale_after(service.tick_s)
        for name, label in LOOPS.items():
            beat = service.beats.get(name)
            if beat is None or now - beat > limit:
                out.append(
                    Failure(
                        "loops",
                        f"{name}_stuck",
                        T("{loop}: no round for {s} seconds", loop=label, s=round(limit)),
                    )
                )
        stuck = sum(1 for s in service.senders.values() if now - s.ticked > limit)
        if stuck:
            sending = N(
                "sending to {n} peer: no round for {s} seconds",
                "sending to {n} peers: no round for {s} seconds",
                stuck,
                s=round(limit),
            )
            out.append(Failure("loops", "sending_stuck", sending))
        return out


def write_probe(service: Service, timeout_s: float) -> None:
    """Insert a row in a transaction and roll it back; raise if the database refuses.

    The waits are bounded on the database's side too: SQLite's busy timeout and
    PostgreSQL's lock and statement timeouts are set to ``timeout_s`` for this probe."""
    engine = service.node.engine
    nonce = "readyz-" + secrets.token_hex(8)
    ms = max(1, int(timeout_s * 1000))
    with engine.connect() as conn:
        sqlite = is_sqlite(engine)
        raw = conn.connection.dbapi_connection
        before = None
        if sqlite:
            assert raw is not None
            # Before BEGIN IMMEDIATE (which waits for the write lock), on the driver directly.
            before = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
            raw.execute(f"PRAGMA busy_timeout={ms}")
        try:
            if not sqlite:
                conn.execute(text(f"SET LOCAL lock_timeout = {ms}"))
                conn.execute(text(f"SET LOCAL statement_timeout = {ms}"))
            conn.execute(seen_requests.insert().values(nonce=nonce, peer="", seen_at=datetime.now(UTC)))
        finally:
            conn.rollback()
            if before is not None and raw is not None:
                raw.execute(f"PRAGMA busy_timeout={before}")


def add_health_routes(app: FastAPI, service: Service) -> None:
    """``/healthz`` and ``/readyz`` on ``app``: public, outside the API's schema."""
    probe = Probe(service)
    public = [Depends(Declared(Action.PUBLIC))]

    @app.get("/healthz", include_in_schema=False, dependencies=public)
    async def healthz() -> dict[str, str]:
        return {"node": service.node.name, "status": "ok"}

    @app.get("/readyz", include_in_schema=False, dependencies=public)
    async def readyz(request: Request) -> JSONResponse:
        lang = accept_language(request.headers.get("accept-language"))
        failed = await probe.failures()
        body: dict[str, Any] = {
            "status": "not_ready" if failed else "ready",
            "checks": {
                check: "failed" if any(f.check == check for f in failed) else "ok" for check in CHECKS
            },
        }
        if failed:
            body["failed"] = [f.to_json(lang) for f in failed]
        return JSONResponse(
            body,
            status_code=503 if failed else 200,
            headers={"Content-Language": lang, "Cache-Control": "no-store"},
        )
