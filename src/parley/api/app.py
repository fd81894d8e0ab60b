"""The node's HTTP application: operator API (``/api/v1``, OpenAPI at ``/openapi.json``),
federation API (``/federation/v1``, signed requests only), and ``/metrics``.

Views are thin: each calls one ``do_<verb>_<noun>`` action and maps ParleyError onto its
declared HTTP status and JSON error body.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from parley.api.auth import TokenCache, acting
from parley.api.docs import add_docs_routes
from parley.api.limits import CredentialsFirst, RequestLimits
from parley.api.message_list import MessageListOut, Precedence, Status, api_query, page_out
from parley.api.route_actions import Declared, declare, declare_paths
from parley.console.app import mount_console
from parley.directory.audit import audit
from parley.directory.operators import Operator
from parley.directory.policy import (
    Action,
    MemberDesks,
    desk_to_act_for,
    status_for,
    visible_channels,
)
from parley.errors import NotFoundError, ParleyError, PeerError
from parley.federation.server import federation_routes
from parley.formats.texts import T, Text, accept_language
from parley.running.service import Service


class MessageIn(BaseModel):
    channel: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    desk: str | None = Field(default=None, max_length=64)
    precedence: Literal["FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE"] = "ROUTINE"
    status: Literal["ACTUAL", "EXERCISE", "TEST"] = "ACTUAL"
    body: dict[str, Any]
    refs: list[str] = Field(default_factory=list, max_length=50)
    # The id of the message this answers; the node signs its hash in (docs/protocol.md §4.3).
    reply_to: str | None = Field(default=None, min_length=36, max_length=36)


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
# Each route declares the action it performs (parley.directory.policy).
Reader = Annotated[Operator, Depends(acting(Action.READ))]
Sender = Annotated[Operator, Depends(acting(Action.SEND))]
Acknowledger = Annotated[Operator, Depends(acting(Action.ACKNOWLEDGE))]


def reader_lang(request: Request, op: Operator | None = None) -> str:
    """The language an answer is written in: ``Accept-Language`` when the client sends one,
    else the operator's own language, else English."""
    fallback = op.lang if op is not None else getattr(request.state, "operator_lang", "en")
    header = request.headers.get("accept-language")
    return accept_language(header, default=fallback) if header else fallback


# The request checks FastAPI (pydantic) makes before a route runs, by pydantic's error type.
_REQUEST_PROBLEMS = {
    "missing": T("required field is missing"),
    "extra_forbidden": T("this field is not part of the API"),
    "json_invalid": T("the body is not valid JSON"),
    "model_attributes_type": T("an object is expected here"),
    "dict_type": T("an object is expected here"),
    "list_type": T("a list is expected here"),
    "string_type": T("text is expected here"),
    "int_type": T("a whole number is expected here"),
    "int_parsing": T("a whole number is expected here"),
    "float_type": T("a number is expected here"),
    "float_parsing": T("a number is expected here"),
    "bool_type": T("true or false is expected here"),
    "bool_parsing": T("true or false is expected here"),
    "literal_error": T("this value is not one of those allowed"),
    "enum": T("this value is not one of those allowed"),
    "string_too_long": T("the text is too long"),
    "string_too_short": T("the text is too short"),
    "too_long": T("there are too many items"),
    "too_short": T("there are too few items"),
    "greater_than": T("the number is too small"),
    "greater_than_equal": T("the number is too small"),
    "less_than": T("the number is too large"),
    "less_than_equal": T("the number is too large"),
}


def request_problem(error: Mapping[str, Any]) -> Text:
    """One problem pydantic found, as a sentence; its English ``msg`` for any type not listed."""
    known = _REQUEST_PROBLEMS.get(str(error.get("type", "")))
    return known if known is not None else T("invalid value: {detail}", detail=str(error.get("msg", "")))


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
        # Served from vendored assets by add_docs_routes, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.state.tokens = TokenCache()
    member_desks = app.state.member_desks = MemberDesks()
    node = service.node

    @app.exception_handler(ParleyError)
    async def parley_error(request: Request, exc: ParleyError) -> JSONResponse:
        lang = reader_lang(request)
        headers = {"Content-Language": lang}
        return JSONResponse(exc.to_json(lang), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = reader_lang(request)
        problems = [
            {
                "path": "/" + "/".join(str(p) for p in e["loc"][1:]),
                "message": request_problem(e).render(lang),
                "type": e["type"],
            }
            for e in exc.errors()
        ]
        return JSONResponse(
            {
                "error": "invalid_request",
                "message": T("the request does not match the API").render(lang),
                "hint": T("see the OpenAPI description at /openapi.json").render(lang),
                "details": {"problems": problems},
            },
            status_code=422,
            headers={"Content-Language": lang},
        )

    @app.get("/api/v1/status", responses=ERRORS)
    async def get_status(op: Reader, request: Request) -> dict[str, Any]:
        """The node's status; an operator who is not an admin sees only the channels of
        their desks (and what is overdue or alarming on them). Alarms keep their ``kind``,
        ``code`` and ``params`` and read (``text``) in the ``Accept-Language`` asked for."""
        from parley.running.status import node_status, status_in

        lang = accept_language(request.headers.get("accept-language"))
        return await service.db(lambda: status_in(status_for(node, op, node_status(node)), node, lang))

    @app.get("/api/v1/channels", responses=ERRORS)
    async def get_channels(op: Reader) -> list[dict[str, Any]]:
        return await service.db(lambda: [c.to_json() for c in visible_channels(node, op)])

    @app.get("/api/v1/messages", responses=ERRORS, response_model=MessageListOut)
    async def get_messages(
        op: Reader,
        q: Annotated[str | None, Query(max_length=200, description="words to find, in nb, ru or en")] = None,
        channel: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006  (FastAPI copies it)
        type: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
        precedence: Annotated[list[Precedence], Query(max_length=4)] = [],  # noqa: B006
        direction: Literal["in", "out"] | None = None,
        ack: Literal["unacknowledged", "overdue", "acknowledged"] | None = None,
        status: Annotated[list[Status], Query(max_length=3)] = [],  # noqa: B006
        since: Annotated[str | None, Query(max_length=40, description="date or RFC 3339 time, UTC")] = None,
        until: Annotated[str | None, Query(max_length=40, description="date (the whole day) or time")] = None,
        incident: Annotated[str | None, Query(max_length=36)] = None,
        cursor: Annotated[str | None, Query(max_length=400, description="from a `next`/`prev` link")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        oldest: bool = False,
    ) -> MessageListOut:
        """Messages newest first, one page at a time (keyset paging: follow `next` until null)."""
        from parley.messaging.views import find_messages

        query = api_query(q, channel, type, precedence, direction, ack, status, since, until, incident)
        page = await service.db(find_messages, node, query, op, cursor=cursor, limit=limit, oldest=oldest)
        return page_out(page, query, limit)

    @app.get("/api/v1/messages/{message_id}", responses=ERRORS)
    async def get_message(
        op: Reader, message_id: str, lang: Literal["nb", "ru", "en"] | None = None
    ) -> dict[str, Any]:
        from parley.messaging.views import message_detail

        return await service.db(message_detail, node, message_id, lang or op.lang, op)

    @app.post("/api/v1/messages", status_code=201, responses=ERRORS)
    async def post_message(
        op: Sender,
        msg: MessageIn,
        request: Request,
        wait: Annotated[
            Literal["stored", "receipt"],
            Query(description="Answer once stored here (default) or once every peer has receipted it."),
        ] = "stored",
        timeout: Annotated[float, Query(gt=0, le=300)] = 30.0,
    ) -> MessageOut:
        draft = _draft(op, msg, await member_desks.of(service, msg.channel))
        lang = reader_lang(request, op)
        env, waiters = await service.submit(draft, lang, op, wait_receipt=wait == "receipt")
        if waiters and not await service.wait_receipted(env, waiters, timeout):
            raise PeerError(
                T(
                    "message {env_id} is stored and queued, "
                    "but not every peer receipted it within {timeout:g}s",
                    env_id=env.id,
                    timeout=timeout,
                ),
                code="receipt_timeout",
                http_status=504,
                hint=T("it will be delivered when the link allows; see GET /api/v1/status"),
            )
        return MessageOut(id=env.id, seq=env.seq, hash=env.hash)

    @app.post("/api/v1/messages/batch", responses=ERRORS)
    async def post_message_batch(op: Sender, batch: BatchIn, request: Request) -> BatchOut:
        """Several messages in one request, for automated senders: each is checked on its own
        (a refused one refuses only itself, with its error in its place), in the order given,
        and all that pass share one commit."""
        results: list[BatchItemOut] = []
        pending: list[Any] = []
        looked_up: dict[str, tuple[str, ...] | None] = {}  # an unknown channel is asked once
        lang = reader_lang(request, op)
        for msg in batch.messages:
            try:
                if msg.channel not in looked_up:
                    looked_up[msg.channel] = await member_desks.of(service, msg.channel)
                draft = _draft(op, msg, looked_up[msg.channel])
                pending.append(service.submit(draft, lang, op))
            except ParleyError as exc:
                pending.append(_refused(exc, lang))
        for outcome in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(outcome, ParleyError):
                results.append(_refusal(outcome, lang))
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
    async def post_ack(op: Acknowledger, message_id: str, ack: AckIn | None = None) -> MessageOut:
        from parley.messaging.acknowledge import do_acknowledge
        from parley.messaging.views import require_visible_message

        await service.db(require_visible_message, node, op, message_id)
        env = await service.db(do_acknowledge, node, message_id, op, ack.desk if ack else None)
        service.on_sent([env])
        await service.db(audit, node, op.username, "acknowledge", {"id": message_id})
        return MessageOut(id=env.id, seq=env.seq, hash=env.hash)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(Declared(Action.SCRAPE))])
    async def metrics(request: Request) -> PlainTextResponse:
        from parley.api.metrics import check_scrape_token, render_metrics

        check_scrape_token(node.config.metrics, request.headers.get("authorization", ""))
        return PlainTextResponse(await service.db(render_metrics, node))

    from parley.api.health import add_health_routes

    add_health_routes(app, service)  # /healthz and /readyz

    for route in federation_routes(service):
        app.router.routes.append(declare(route, Action.PEER))
    add_docs_routes(app)
    declare_paths(app.routes, Action.PUBLIC, app.openapi_url or "/openapi.json", "/docs", "/redoc")
    # Innermost: it needs the session the console's middleware attaches.
    app.add_middleware(CredentialsFirst)
    mount_console(app, service)
    from parley.api.standby import StandbyGate

    # On a standby database nothing that writes gets past this (parley.api.standby).
    app.add_middleware(StandbyGate, service=service)
    # Outermost (added last): bodies are bounded before anything else reads them.
    app.add_middleware(
        RequestLimits, http=node.config.http, federation_bytes=node.config.federation.max_request_bytes
    )

    _ = NotFoundError
    return app


def _draft(op: Operator, msg: MessageIn, member_desks: tuple[str, ...] | None) -> Any:
    from parley.messaging.send import Draft

    desk = desk_to_act_for(op, msg.channel, member_desks, Action.SEND, msg.desk)
    body, refs = msg.body, tuple(msg.refs)
    return Draft(msg.channel, desk, msg.type, msg.precedence, msg.status, body, refs, reply_to=msg.reply_to)


async def _refused(exc: ParleyError, lang: str) -> BatchItemOut:
    return _refusal(exc, lang)


def _refusal(exc: ParleyError, lang: str) -> BatchItemOut:
    body = exc.to_json(lang)
    return BatchItemOut(error=exc.code, message=body["message"], details=body.get("details") or None)
