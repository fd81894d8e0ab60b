"""The federation API: what one node serves to its peers (docs/protocol.md §Federation API).

Every route reads the body (bounded by ``federation.max_request_bytes``), refuses a body
that is not ``application/json`` (415), authenticates the request signature, parses the
body and checks it against the route's typed model (parley.federation.models), then acts.
Every refusal is a 4xx with ``{"error": code, "message": …}`` and changes nothing. A
request body that is not JSON, too large, or of the wrong shape is a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from parley.errors import AuthError, ParleyError, UsageError
from parley.federation.auth import authenticate_request
from parley.federation.models import BODY_MODELS, check_body
from parley.formats.texts import T
from parley.protocol.canonical import loads_strict

if TYPE_CHECKING:
    from parley.federation.runtime import Runtime

log = logging.getLogger("parley.federation")
PREFIX = "/federation/v1"


def _error(exc: ParleyError) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=exc.http_status)


def is_json(content_type: str | None) -> bool:
    """``application/json``, with or without parameters (RFC 8259 §11, RFC 9110 §8.3.1)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json"


def _unsupported(content_type: str | None) -> UsageError:
    shown = (content_type or "none")[:100]
    return UsageError(
        T("a federation request body must be application/json, not {shown!r}", shown=shown),
        code="unsupported_media_type",
        http_status=415,
        hint=T("send the body with Content-Type: application/json"),
    )


Handler = Callable[["Runtime", str, Any, Request], Awaitable[Any]]


def federation_routes(service: Runtime) -> list[Route]:
    def wrap(
        handler: Handler, method: str, *, own_nonce: bool = False, model: type[BaseModel] | None = None
    ) -> Callable[[Request], Awaitable[JSONResponse]]:
        """``own_nonce``: the handler stores the request's nonce in its own transaction
        (``request.state.auth.remember_txn``), saving a commit on the hot path. ``model``:
        the body's typed shape; the handler still gets the parsed JSON as it came (signed
        documents are verified over their own bytes, not over a model's)."""

        async def endpoint(request: Request) -> JSONResponse:
            limit = service.node.config.federation.max_request_bytes
            received = bytearray()
            async for chunk in request.stream():
                received += chunk
                if len(received) > limit:
                    return _error(
                        UsageError(
                            T("request larger than {limit} bytes", limit=limit),
                            code="request_too_large",
                            http_status=413,
                        )
                    )
            body = bytes(received)
            content_type = request.headers.get("content-type")
            if body and not is_json(content_type):
                # Before the signature check: the header is not signed, so checking the
                # signature first would not make this answer more trustworthy, and a
                # refusal that needs no key, no clock and no database spends nothing on
                # whoever sent it and cannot consume the nonce of a request that is then
                # sent again correctly. What it tells an unsigned sender (the API wants
                # JSON) is public in docs/federation.openapi.json.
                return _error(_unsupported(content_type))
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
                            T("request body is not valid JSON: {exc}", exc=str(exc)[:200]),
                            code="malformed_json",
                        ) from None
                if model is not None:
                    check_body(model, payload)
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

    from parley.federation import handlers, recovery_routes, witnessing

    def post(path: str, handler: Handler, *, own_nonce: bool = False) -> Route:
        endpoint = wrap(handler, "POST", own_nonce=own_nonce, model=BODY_MODELS[path])
        return Route(PREFIX + path, endpoint, methods=["POST"])

    return [
        post("/envelopes", handlers.after_key_documents(handlers.post_envelopes), own_nonce=True),
        # GET /chain checks its query in the handler (parley.federation.models.ChainQuery).
        Route(PREFIX + "/chain", wrap(handlers.get_chain, "GET"), methods=["GET"]),
        # §11.10, recovery after a restore; the queries are checked in the handlers too.
        Route(PREFIX + "/held", wrap(recovery_routes.get_held, "GET"), methods=["GET"]),
        Route(PREFIX + "/returned", wrap(recovery_routes.get_returned, "GET"), methods=["GET"]),
        post("/charters", handlers.post_charter),
        post("/status-records", handlers.post_status_record),
        post("/linktest", handlers.after_key_documents(handlers.post_linktest)),
        post("/checkpoint", handlers.after_key_documents(witnessing.post_checkpoint)),
        post("/keys", handlers.post_key_document),
    ]
