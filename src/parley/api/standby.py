"""The gate of a ``serve`` that waits on a hot standby: nothing that writes gets through.

While the service's database is a standby in recovery (parley.continuity.standby) every
request that would write is answered here, before authentication, routing or a body is
read, with ``503 Service Unavailable`` and ``Retry-After`` (RFC 9110 §15.6.4, §10.2.3) set
to the poll interval, and the ``standby`` error body (docs/protocol.md §11.8):

* the federation API, every method: even a signed ``GET`` stores its nonce, and a peer must
  get an answer it retries, never a ``500`` from a read-only database;
* the console, every method: a session is touched on every page;
* any other request that is not ``GET``, ``HEAD`` or ``OPTIONS`` (operator API writes).

``/healthz``, ``/readyz`` (which says ``standby``) and the operator API's reads pass: a hot
standby answers reads, so operators can look at the record while it waits.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from parley.continuity.standby import standby_error
from parley.formats.texts import accept_language

if TYPE_CHECKING:
    from parley.running.service import Service

READS = frozenset({"GET", "HEAD", "OPTIONS"})
ALWAYS_REFUSED = ("/federation/", "/console")


class StandbyGate:
    def __init__(self, app: ASGIApp, *, service: Service) -> None:
        self.app = app
        self.service = service

    def refuses(self, scope: Scope) -> bool:
        standby = getattr(self.service, "standby", None)  # test doubles of the service have none
        if scope["type"] != "http" or standby is None or not standby.waiting:
            return False
        path = str(scope.get("path", ""))
        return path.startswith(ALWAYS_REFUSED) or str(scope.get("method", "")) not in READS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.refuses(scope):
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"accept-language", b"").decode("latin-1")
        lang = accept_language(header or None)
        retry = max(1, math.ceil(self.service.standby.poll_s))
        body = json.dumps(standby_error(retry).to_json(lang)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry).encode()),
                    (b"content-language", lang.encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
