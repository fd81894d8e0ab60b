"""What an HTTP client can make the node hold: request bodies bounded in size and time while
they stream, credentials checked before a body is read, HSTS, and one log line (not a
traceback) for a client that went away.

Standards: ASGI 3.0 HTTP connection scope (``http.request`` / ``http.disconnect`` messages);
RFC 9110 §15.5.14 (413 Content Too Large), §15.5.9 (408 Request Timeout), §9.3 (a server
may close the connection after refusing a request whose body it has not read, with
``Connection: close``, RFC 9112 §9.6); RFC 6797 (Strict-Transport-Security).

:class:`RequestLimits` wraps the whole application (it is the outermost user middleware;
Starlette's ``ServerErrorMiddleware`` outside it reads no body). It counts the body's chunks
as the application asks for them, so nothing above the limit is ever buffered: uvicorn pauses
reading the socket while a chunk waits (its flow control), and a refused request's connection
is closed. Starlette's own ``RequestBodyLimitMiddleware`` has one fixed limit and a plain-text
answer; Parley's limit depends on who seems to be asking:

* ``/federation/``: ``[federation] max_request_bytes`` (the signature is checked after the
  body is read, so every peer-looking request gets the federation limit);
* a request with ``Authorization: Bearer`` (outside ``/console/``) or the console session
  cookie (present, not yet valid), except the log-in form: ``[http] body_bytes``;
* anything else: ``[http] anonymous_body_bytes``, enough for the log-in form.

:class:`CredentialsFirst` sits inside the console's session middleware and refuses an
``/api/v1`` request whose token or session is not valid *before* FastAPI reads and parses its
body (FastAPI parses the body before it runs dependencies, so a dependency cannot do this).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import fields

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.config import HttpSection
from parley.console.sessions import SESSION_COOKIE
from parley.errors import ParleyError, UsageError
from parley.formats.texts import T, accept_language

log = logging.getLogger("parley.http")

_SESSION = SESSION_COOKIE.encode() + b"="


class RequestRefused(ParleyError):
    """The node refused a request before its body was read (too large, too slow)."""

    code = "request_too_large"
    http_status = 413


def too_large(limit: int, credentials: bool, federation: bool) -> RequestRefused:
    if federation:
        hint = T("a federation request is limited by [federation] max_request_bytes on the receiving node")
    elif credentials:
        hint = T("send fewer messages per batch, or raise [http] body_bytes in parley.toml")
    else:
        hint = T("authenticate first (Authorization: Bearer <token> or a console session)")
    return RequestRefused(T("request body larger than {limit} bytes", limit=limit), hint=hint)


def too_slow(seconds: float) -> RequestRefused:
    return RequestRefused(
        T("request body not received within {seconds:g} s", seconds=seconds),
        code="request_timeout",
        http_status=408,
        hint=T("send the body without pauses; the limits are [http] body_idle_timeout_s and body_timeout_s"),
    )


class _BodyRefused(Exception):
    """Raised into the application once the refusal has been answered: stops its reading."""


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


def has_credentials(scope: Scope) -> bool:
    """Whether the request carries credentials its path accepts: a bearer token (not under
    ``/console/``, which knows only sessions) or the console session cookie. Their validity
    is checked later, by the application; the log-in form never needs more than the small
    limit, so it gets no more, whatever it carries."""
    path = str(scope.get("path", ""))
    if path.startswith("/console/login"):
        return False
    auth = _header(scope, b"authorization") or b""
    if auth[:7].lower() == b"bearer " and not path.startswith("/console/"):
        return True
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in bytes(value).split(b";"):
                if part.strip().startswith(_SESSION):
                    return True
    return False


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "unknown client"


def check_http_section(http: HttpSection) -> None:
    """Refuse settings that would switch a bound off (0, negative, NaN, infinite)."""
    for f in fields(http):
        value = getattr(http, f.name)
        least = 0 if f.name == "hsts_max_age_s" else 1 if isinstance(value, int) else 0.001
        if not (math.isfinite(value) and least <= value <= 2**62):
            raise UsageError(
                T("[http] {f_name} = {value!r} is out of range", f_name=f.name, value=value),
                hint=T("set it to at least {least} in parley.toml (see docs/operations.md)", least=least),
            )


class RequestLimits:
    """Outermost middleware: body size and time limits, HSTS, quiet client disconnects."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        http: HttpSection,
        federation_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_http_section(http)
        self.app = app
        self.http = http
        self.federation_bytes = federation_bytes
        self.clock = clock
        hsts = f"max-age={http.hsts_max_age_s}".encode()
        self.hsts: list[tuple[bytes, bytes]] = (
            [(b"strict-transport-security", hsts)] if http.hsts_max_age_s > 0 else []
        )

    def limit_for(self, scope: Scope) -> tuple[int, RequestRefused]:
        path = str(scope.get("path", ""))
        federation = path.startswith("/federation/")
        credentials = has_credentials(scope)
        if federation:
            limit = self.federation_bytes
        elif credentials:
            limit = self.http.body_bytes
        else:
            limit = self.http.anonymous_body_bytes
        return limit, too_large(limit, credentials, federation)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(self, scope, receive, send)
        limit, refusal = self.limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            # Refused on the header alone: not one byte of the body is read.
            await exchange.refuse(refusal)
            return
        exchange.limit, exchange.refusal = limit, refusal
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            if exchange.refused:
                return  # the application stopped reading because it was told to
            if exchange.client_gone:
                exchange.log_gone(exc)
                return
            raise
        if exchange.client_gone:
            exchange.log_gone(None)


class _Exchange:
    """One request's body accounting and its response's state."""

    def __init__(self, limits: RequestLimits, scope: Scope, receive: Receive, send: Send) -> None:
        self.limits = limits
        self.scope = scope
        self._receive = receive
        self._send = send
        self.limit = 0
        self.refusal: RequestRefused | None = None
        self.received = 0
        self.body_complete = False
        self.started_at = limits.clock()
        self.response_started = False
        self.refused = False
        self.client_gone = False
        self._logged = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        if self.body_complete:
            # Waiting for a disconnect (server-sent events, long polls): no body deadline.
            return await self._receive()
        http = self.limits.http
        left = http.body_timeout_s - (self.limits.clock() - self.started_at)
        wait = min(http.body_idle_timeout_s, left)
        try:
            if wait <= 0:
                raise TimeoutError
            message = await asyncio.wait_for(self._receive(), wait)
        except TimeoutError:
            total = left <= http.body_idle_timeout_s
            await self.refuse(too_slow(http.body_timeout_s if total else http.body_idle_timeout_s))
            raise _BodyRefused from None
        if message["type"] == "http.disconnect":
            self.client_gone = True
            return message
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.body_complete = True
            if self.received > self.limit and self.refusal is not None:
                await self.refuse(self.refusal)
                raise _BodyRefused
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the refusal is the answer; the application's late reply is dropped
        if message["type"] == "http.response.start":
            self.response_started = True
            message = self._with_hsts(message)
        await self._send(message)

    def _with_hsts(self, message: Message) -> Message:
        if self.scope.get("scheme") != "https" or not self.limits.hsts:
            return message
        headers = list(message.get("headers", []))
        if not any(k.lower() == b"strict-transport-security" for k, _ in headers):
            headers += self.limits.hsts
        return {**message, "headers": headers}

    async def refuse(self, error: RequestRefused) -> None:
        """Answer with the error and close the connection (the unread body is not wanted)."""
        if self.response_started:
            # Too late for a status: dropping the connection is the only answer left.
            self.refused = True
            raise _BodyRefused
        self.refused = True
        body = json.dumps(error.to_json(_reader_lang(self.scope))).encode()
        start: Message = {
            "type": "http.response.start",
            "status": error.http_status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
        await self._send(self._with_hsts(start))
        await self._send({"type": "http.response.body", "body": body, "more_body": False})
        log.info(
            "refused %s %s from %s: %s",
            self.scope.get("method"),
            self.scope.get("path"),
            _client(self.scope),
            error.code,
        )

    def log_gone(self, exc: BaseException | None) -> None:
        if self._logged or (self.body_complete and exc is None):
            return
        self._logged = True
        log.warning(
            "client %s went away during %s %s after %d body bytes%s",
            _client(self.scope),
            self.scope.get("method"),
            self.scope.get("path"),
            self.received,
            "" if exc is None else f" ({type(exc).__name__})",
        )


class CredentialsFirst:
    """Refuse an ``/api/v1`` request without a valid token or session before its body is read.

    Runs inside the console's session middleware (which resolves the session cookie) and uses
    the API's own :func:`parley.api.auth.current_operator`, so the rules are the same; the
    token look-up it makes is cached, so the route's own check costs nothing more.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/api/v1/"):
            await self.app(scope, receive, send)
            return
        from parley.api.auth import current_operator

        try:
            await current_operator(Request(scope))
        except ParleyError as exc:
            await _send_error(send, exc, _reader_lang(scope))
            return
        await self.app(scope, receive, send)


def _reader_lang(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == b"accept-language":
            return accept_language(value.decode("latin-1"))
    return "en"


async def _send_error(send: Send, exc: ParleyError, lang: str = "en") -> None:
    body = json.dumps(exc.to_json(lang)).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if exc.http_status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
