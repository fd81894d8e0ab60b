"""The node's HTTP application: operator API (``/api/v1``, OpenAPI at ``/openapi.json``),
federation API (``/federation/v1``, signed requests only), and ``/metrics``.

Views are thin: each calls one ``do_<verb>_<noun>`` action and maps ParleyError onto its
declared HTTP status and JSON error body.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from parley.api.auth import TokenCache, current_operator
from parley.console.app import mount_console
from parley.directory.audit import audit
from parley.directory.operators import Operator
from parley.errors import ForbiddenError, NotFoundError, ParleyError, PeerError
from parley.federation.server import federation_routes
from parley.service import Service


class MessageIn(BaseModel):
    channel: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    desk: str | None = Field(default=None, max_length=64)
    precedence: Literal["FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE"] = "ROUTINE"
    status: Literal["ACTUAL", "EXERCISE", "TEST"] = "ACTUAL"
    body: dict[str, Any]
    refs: list[str] = Field(default_factory=list, max_length=50)


class MessageOut(BaseModel):
    id: str
    seq: int
    hash: str


class BatchIn(BaseModel):
    messages: list[MessageIn] = Field(min_length=1, max_length=500)


class BatchItemOut(BaseModel):
    id: str | None = None
    seq: int | None = None
    hash: str | None = None
    error: str | None = None
    message: str | None = None
    details: dict[str, Any] | None = None


class BatchOut(BaseModel):
    stored: int
    refused: int
    results: list[BatchItemOut]


class AckIn(BaseModel):
    desk: str | None = Field(default=None, max_length=64)


class ErrorOut(BaseModel):
    error: str
    message: str
    hint: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorOut} for s in (400, 401, 403, 404, 409, 422)}
Op = Annotated[Operator, Depends(current_operator)]


def create_app(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.shutdown()

    app = FastAPI(
        title="Parley operator API",
        version="1",
        description="The API of one Parley node for its operators. Federation between nodes "
        "uses a separate, signed API (docs/protocol.md).",
        lifespan=lifespan if service.tick_s > 0 else None,
    )
    app.state.service = service
    app.state.tokens = TokenCache()
    node = service.node

    @app.exception_handler(ParleyError)
    async def parley_error(request: Request, exc: ParleyError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"path": "/" + "/".join(str(p) for p in e["loc"][1:]), "message": e["msg"]} for e in exc.errors()
        ]
        return JSONResponse(
            {
                "error": "invalid_request",
                "message": "request does not match the API",
                "details": {"problems": problems},
            },
            status_code=422,
        )

    @app.get("/api/v1/status", responses=ERRORS)
    async def get_status(op: Op) -> dict[str, Any]:
        from parley.status import node_status

        return await service.db(node_status, node)

    @app.get("/api/v1/channels", responses=ERRORS)
    async def get_channels(op: Op) -> list[dict[str, Any]]:
        from parley.channels.registry import list_channels_txn

        def load() -> list[dict[str, Any]]:
            with node.reader.connect() as conn:
                return [c.to_json() for c in list_channels_txn(conn)]

        return await service.db(load)

    @app.get("/api/v1/messages", responses=ERRORS)
    async def get_messages(
        op: Op,
        direction: Literal["in", "out"] = "in",
        channel: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[dict[str, Any]]:
        from parley.messaging.views import list_messages

        return await service.db(list_messages, node, direction == "out", channel, limit)

    @app.get("/api/v1/messages/{message_id}", responses=ERRORS)
    async def get_message(
        op: Op, message_id: str, lang: Literal["nb", "ru", "en"] | None = None
    ) -> dict[str, Any]:
        from parley.messaging.views import message_detail

        return await service.db(message_detail, node, message_id, lang or op.lang)

    @app.post("/api/v1/messages", status_code=201, responses=ERRORS)
    async def post_message(
        op: Op,
        msg: MessageIn,
        wait: Annotated[
            Literal["stored", "receipt"],
            Query(description="Answer once stored here (default) or once every peer has receipted it."),
        ] = "stored",
        timeout: Annotated[float, Query(gt=0, le=300)] = 30.0,
    ) -> MessageOut:
        draft = _draft(op, msg)
        env, waiters = await service.submit(draft, op.lang, op, wait_receipt=wait == "receipt")
        if waiters and not await service.wait_receipted(env, waiters, timeout):
            raise PeerError(
                f"message {env.id} is stored and queued, but not every peer receipted it within {timeout:g}s",
                code="receipt_timeout",
                http_status=504,
                hint="it will be delivered when the link allows; see GET /api/v1/status",
            )
        return MessageOut(id=env.id, seq=env.seq, hash=env.hash)

    @app.post("/api/v1/messages/batch", responses=ERRORS)
    async def post_message_batch(op: Op, batch: BatchIn) -> BatchOut:
        """Several messages in one request, for automated senders: each is checked on its own
        (a refused one refuses only itself, with its error in its place), in the order given,
        and all that pass share one commit."""
        results: list[BatchItemOut] = []
        pending: list[Any] = []
        for msg in batch.messages:
            try:
                pending.append(service.submit(_draft(op, msg), op.lang, op))
            except ParleyError as exc:
                pending.append(_refused(exc))
        for outcome in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(outcome, ParleyError):
                results.append(_refusal(outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
            elif isinstance(outcome, BatchItemOut):
                results.append(outcome)
            else:
                env, _ = outcome
                results.append(BatchItemOut(id=env.id, seq=env.seq, hash=env.hash))
        refused = sum(1 for r in results if r.error)
        return BatchOut(stored=len(results) - refused, refused=refused, results=results)

    @app.post("/api/v1/messages/{message_id}/ack", status_code=201, responses=ERRORS)
    async def post_ack(op: Op, message_id: str, ack: AckIn | None = None) -> MessageOut:
        from parley.messaging.acknowledge import do_acknowledge

        env = await service.db(do_acknowledge, node, message_id, op, ack.desk if ack else None)
        service.on_sent([env])
        await service.db(audit, node, op.username, "acknowledge", {"id": message_id})
        return MessageOut(id=env.id, seq=env.seq, hash=env.hash)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        from parley.api.metrics import render_metrics

        return PlainTextResponse(await service.db(render_metrics, node))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"node": node.name, "status": "ok"}

    for route in federation_routes(service):
        app.router.routes.append(route)
    mount_console(app, service)

    _ = NotFoundError
    return app


def _draft(op: Operator, msg: MessageIn) -> Any:
    from parley.messaging.send import Draft

    desk = msg.desk
    if desk is None:
        desks = [d for d in op.roles if op.can_act_on(d)]
        if len(desks) != 1:
            raise ForbiddenError("say which desk sends (desk)", code="desk_required", http_status=400)
        desk = desks[0]
    return Draft(msg.channel, desk, msg.type, msg.precedence, msg.status, msg.body, tuple(msg.refs))


async def _refused(exc: ParleyError) -> BatchItemOut:
    return _refusal(exc)


def _refusal(exc: ParleyError) -> BatchItemOut:
    return BatchItemOut(error=exc.code, message=exc.message, details=exc.details or None)
