"""The federation API: what one node serves to its peers (docs/protocol.md §Federation API).

Every route authenticates the request signature first, then parses the body, then acts.
Every refusal is a 4xx with ``{"error": code, "message": …}`` and changes nothing. A
request body that is not JSON, too large, or of the wrong shape is a 400, never a 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from parley.errors import AuthError, ParleyError, UsageError
from parley.federation.auth import authenticate_request
from parley.protocol.canonical import loads_strict

if TYPE_CHECKING:
    from parley.service import Service

log = logging.getLogger("parley.federation")
PREFIX = "/federation/v1"


def _error(exc: ParleyError) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=exc.http_status)


Handler = Callable[["Service", str, Any, Request], Awaitable[Any]]


def federation_routes(service: Service) -> list[Route]:
    def wrap(
        handler: Handler, method: str, *, own_nonce: bool = False
    ) -> Callable[[Request], Awaitable[JSONResponse]]:
        """``own_nonce``: the handler stores the request's nonce in its own transaction
        (``request.state.auth.remember_txn``), saving a commit on the hot path."""

        async def endpoint(request: Request) -> JSONResponse:
            limit = service.node.config.federation.max_request_bytes
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    return _error(
                        UsageError(
                            f"request larger than {limit} bytes", code="request_too_large", http_status=413
                        )
                    )
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            try:
                # The checks are CPU only (the peer's key is cached): no thread hop for them.
                auth = authenticate_request(service.node, method, path, request.headers, body)
                request.state.auth = auth
                if not own_nonce:
                    await asyncio.to_thread(auth.remember, service.node)
                payload: Any = None
                if body:
                    try:
                        payload = loads_strict(body)
                    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                        raise UsageError(
                            f"request body is not valid JSON: {exc}", code="malformed_json"
                        ) from None
                answer = await handler(service, auth.origin, payload, request)
            except ParleyError as exc:
                checked = getattr(request.state, "auth", None)
                if own_nonce and checked is not None and not isinstance(exc, AuthError):
                    # The refusal rolled the nonce back with everything else (or came before
                    # the handler's transaction): remember it on its own, so a refused
                    # request cannot be replayed either; a replay is refused as one.
                    try:
                        await asyncio.to_thread(checked.remember, service.node)
                    except AuthError as replay:
                        return _error(replay)
                return _error(exc)
            except IntegrityError:
                # Another process stored the same thing a moment ago: safe to retry.
                return JSONResponse(
                    {"error": "conflict_retry", "message": "concurrent write, retry"}, status_code=409
                )
            except OperationalError as exc:
                log.error("database unavailable: %s", exc)
                return JSONResponse(
                    {"error": "unavailable", "message": "database unavailable"}, status_code=503
                )
            return JSONResponse(answer)

        return endpoint

    from parley.federation import handlers
    from parley.record import witnessing

    return [
        Route(PREFIX + "/envelopes", wrap(handlers.post_envelopes, "POST", own_nonce=True), methods=["POST"]),
        Route(PREFIX + "/chain", wrap(handlers.get_chain, "GET"), methods=["GET"]),
        Route(PREFIX + "/charters", wrap(handlers.post_charter, "POST"), methods=["POST"]),
        Route(PREFIX + "/status-records", wrap(handlers.post_status_record, "POST"), methods=["POST"]),
        Route(PREFIX + "/linktest", wrap(handlers.post_linktest, "POST"), methods=["POST"]),
        Route(PREFIX + "/checkpoint", wrap(witnessing.post_checkpoint, "POST"), methods=["POST"]),
    ]
