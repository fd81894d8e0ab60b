"""The console's web layer: routes under ``/console``, sessions, CSRF and live updates.

* Log-in by user name and Argon2 password, then (if enrolled) a TOTP code (RFC 6238).
  Passwords are checked in threads of their own behind a bounded waiting room
  (:mod:`parley.console.login_gate`), so a flood of log-ins cannot hold up delivery.
* Each route declares the action it performs, checked by the same authorization policy as
  the operator API's (:mod:`parley.directory.policy`).
  The session cookie is ``__Host-`` prefixed, ``Secure``, ``HttpOnly`` and
  ``SameSite=Strict`` (RFC 6265bis); the node always serves HTTPS.
* Every state-changing request carries the session's CSRF token (a hidden ``csrf`` field,
  or the ``X-CSRF-Token`` header that htmx and the console's scripts send). The same
  session also authenticates the console's own calls to ``/api/v1`` (``request.state
  .operator``, read by :func:`parley.api.auth.current_operator`), where an unsafe method
  needs the header too.
* Live updates are server-sent events (WHATWG HTML §9.2) from ``Service.publish``; the page
  re-fetches the fragments an event concerns, with htmx.
* Every action an operator takes, log-in and log-out included, goes to ``audit_log``.

Views are thin: they call the same actions as the API and the CLI.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.api.route_actions import Acting, Declared, declare
from parley.clock import format_time
from parley.console import counts, sessions
from parley.console.forms import FormBuilder, FormData, problems_at
from parley.console.login_gate import LoginGate
from parley.console.sessions import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Session
from parley.console.timefmt import read_as, stop_reading_as, when
from parley.directory.operators import Operator, get_operator
from parley.directory.policy import Action, visible_channels
from parley.directory.time_zones import MAX_ZONE_NAME, is_zone, set_time_zone, time_zone_of, zone_choices
from parley.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    ParleyError,
    UsageError,
    ValidationError,
)
from parley.formats.catalogue import Catalogue, load_catalogue
from parley.formats.texts import T, Text, render
from parley.formats.units import with_unit
from parley.protocol.envelope import PRECEDENCES, STATUSES
from parley.running.service import Service

HERE = Path(__file__).parent
LANGS = ("nb", "ru", "en")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
EVENT_STREAM_MAX_S = 300.0  # browsers reconnect by themselves; keeps streams from piling up
HEARTBEAT_S = 15.0

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)


class LoginRequired(Exception):
    """No live session: send the browser to the log-in page."""


# --- sessions on every request -------------------------------------------------------------
def _cookies(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k and k not in out:
                    out[k] = v
    return out


def _header(scope: Scope, name: bytes) -> str:
    for k, v in scope.get("headers", []):
        if k == name:
            return str(v.decode("latin-1"))
    return ""


class ConsoleSessionMiddleware:
    """Attach the console session (and its operator) to requests that carry the cookie."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(("/console/static/", "/federation/")):
            await self.app(scope, receive, send)
            return
        token = _cookies(scope).get(SESSION_COOKIE)
        reading = None  # whose clock times are shown against (parley.formats.times)
        if token:
            node = self.service.node
            session = await self.service.db(sessions.load_session, node, token)
            state = scope.setdefault("state", {})
            if session is not None:
                state["console_session"] = session
                state["console_token"] = token
            if session is not None and session.complete:
                try:
                    op = await self.service.db(get_operator, node, session.username)
                except NotFoundError:  # disabled or removed since logging in
                    op = None
                bearer = _header(scope, b"authorization").lower().startswith("bearer ")
                unsafe = scope.get("method", "GET") not in SAFE_METHODS
                api_write = op is not None and path.startswith("/api/") and unsafe and not bearer
                if api_write and not secrets.compare_digest(_header(scope, b"x-csrf-token"), session.csrf):
                    await _send_json(
                        send,
                        403,
                        ForbiddenError(
                            T("CSRF token missing or wrong"),
                            code="csrf",
                            hint=T("send the console's X-CSRF-Token header, or use an API token"),
                        ).to_json(),
                    )
                    return
                if op is not None:
                    state["operator"] = op
                    state["time_zone"] = await self.service.db(time_zone_of, node, op.username)
                    reading = read_as(state["time_zone"], node.clock.now().astimezone(UTC).date())
        try:
            await self.app(scope, receive, send)
        finally:
            if reading is not None:
                stop_reading_as(reading)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class SecurityHeadersMiddleware:
    """Headers that keep console pages out of frames, caches and other origins' scripts."""

    HEADERS: ClassVar[list[tuple[bytes, bytes]]] = [
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith("/console") or path.startswith("/console/static/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in self.HEADERS if k not in have
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- rendering ---------------------------------------------------------------------------
def request_lang(request: Request, op: Operator | None, default: str) -> str:
    if op is not None and op.lang in LANGS:
        return op.lang
    asked = request.query_params.get("lang", "")
    if asked in LANGS:
        return asked
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
        if code == "no" or code == "nn":
            return "nb"
    return default if default in LANGS else "en"


class Page:
    """What every template gets: the translator, the operator, the CSRF token."""

    def __init__(self, request: Request, op: Operator | None, lang: str) -> None:
        self.request = request
        self.op = op
        self.lang = lang
        self.cat: Catalogue = load_catalogue(lang)
        session: Session | None = getattr(request.state, "console_session", None)
        self.csrf = session.csrf if session is not None else ""
        service: Service = request.app.state.service
        self.now = format_time(service.node.clock.now())
        self.today = service.node.clock.now().astimezone(UTC).date()
        self.zone: str = getattr(request.state, "time_zone", None) or "UTC"

    def t(self, key: str, **params: Any) -> str:
        return self.cat.get(f"console.{key}", **params)

    def f(self, key: str, **params: Any) -> str:
        """A key of the message catalogue proper (precedence, status, type labels…)."""
        return self.cat.get(key, **params)

    def when(self, dt: datetime | str | None) -> str:
        """A time as every page shows it (parley.console.timefmt): UTC, then the operator's zone."""
        return "" if dt is None or dt == "" else when(dt, self.zone, self.lang, today=self.today)

    def say(self, value: Text | str | None) -> str:
        """A sentence (a :class:`Text`: an error, a count) in the page's language."""
        return "" if value is None else render(value, self.lang)

    def with_unit(self, value: float, unit: str) -> str:
        """``1 440 min``, ``12,5 kn``: a number in the operator's locale with its unit."""
        return with_unit(value, unit, self.lang)

    def render(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = _templates.get_template(name).render(
            p=self,
            t=self.t,
            f=self.f,
            when=ctx.pop("when", self.when),  # a page may bring its own
            with_unit=ctx.pop("with_unit", self.with_unit),
            say=self.say,
            counts=counts,
            op=self.op,
            lang=self.lang,
            csrf=self.csrf,
            path=self.request.url.path,
            **ctx,
        )
        return HTMLResponse(html, status_code=status)


def _status_of(exc: ParleyError) -> int:
    return exc.http_status if 400 <= exc.http_status < 600 else 400


class ConsoleRoute(APIRoute):
    """Console routes answer errors as pages in the operator's language, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except LoginRequired:
                return _to_login(request)
            except ParleyError as exc:
                op = getattr(request.state, "operator", None)
                service: Service = request.app.state.service
                page = Page(request, op, request_lang(request, op, service.node.config.console.default_lang))
                return page.render("error.html", status=_status_of(exc), error=exc)

        return handler


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = "/console/login?next=" + quote(target, safe="")
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str:
    # Only paths of this console: never an open redirect to another site.
    if not target or not target.startswith("/console/") or urlsplit(target).netloc or target.startswith("//"):
        return "/console/"
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


def _first(form: FormData, key: str) -> str:
    values = form.get(key) or [""]
    return values[0]


def mount_console(app: FastAPI, service: Service) -> None:
    """Add the console to the node's application (routes, static files, middleware)."""
    node = service.node
    default_lang = node.config.console.default_lang
    router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
    gate = LoginGate(node.config.console.login_workers, node.config.console.login_queue)
    app.state.login_gate = gate

    async def audit(actor: str, action: str, details: dict[str, Any]) -> None:
        from parley.directory.audit import audit as write_audit

        await service.db(write_audit, node, actor, action, details)

    async def operator(request: Request) -> Operator:
        op = getattr(request.state, "operator", None)
        if not isinstance(op, Operator):
            raise LoginRequired
        return op

    def page(request: Request, op: Operator | None = None) -> Page:
        return Page(request, op, request_lang(request, op, default_lang))

    async def check_csrf(request: Request, form: FormData | None = None) -> None:
        session: Session | None = getattr(request.state, "console_session", None)
        sent = request.headers.get("x-csrf-token") or (_first(form, "csrf") if form is not None else "")
        if session is None or not sent or not secrets.compare_digest(sent, session.csrf):
            raise ForbiddenError(
                T("this form did not come from your console session (CSRF token missing or wrong)"),
                code="csrf",
                hint=T("reload the page and try again"),
            )

    # Each route declares the action it performs (parley.directory.policy).
    Read = Depends(Acting(Action.READ, operator))
    Send = Depends(Acting(Action.SEND, operator))
    Acknowledge = Depends(Acting(Action.ACKNOWLEDGE, operator))
    Verify = Depends(Acting(Action.VERIFY, operator))
    Own = Depends(Acting(Action.SELF, operator))
    # Log-in and log-out act on the session the request carries, guarded by CSRF tokens.
    public = [Depends(Declared(Action.PUBLIC))]

    # --- log-in ------------------------------------------------------------------------
    def login_page(request: Request, error: str = "", status: int = 200, username: str = "") -> Response:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        resp = page(request).render(
            "login.html",
            status=status,
            error=error,
            username=username,
            login_csrf=token,
            next=_safe_next(request.query_params.get("next")),
        )
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, secure=True, httponly=True, samesite="strict", path="/")
        return resp

    @router.get("/login", dependencies=public)
    async def login_form(request: Request) -> Response:
        if isinstance(getattr(request.state, "operator", None), Operator):
            return RedirectResponse("/console/", status_code=303)
        return login_page(request)

    @router.post("/login", dependencies=public)
    async def login(request: Request) -> Response:
        form = await _form(request)
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        sent = _first(form, "csrf")
        if not expected or not secrets.compare_digest(sent, expected):
            raise ForbiddenError(
                T("this log-in form has expired (CSRF token missing or wrong)"),
                code="csrf",
                hint=T("reload the log-in page and try again"),
            )
        username = _first(form, "username").strip()
        password = _first(form, "password")
        p = page(request)
        try:
            sessions.require_credentials(username, password)
            # The place is taken before the attempt is counted: a log-in refused as busy
            # was never checked, so it costs the person nothing against the brake.
            async with gate.admit():
                attempt = await service.db(sessions.begin_log_in, node, username, _client(request))
                right = await gate.check(attempt.password_hash, password)
                token, session, op = await service.db(sessions.finish_log_in, node, attempt, right)
        except sessions.TooManyAttempts as exc:
            await audit(username or "-", "login_refused", {"reason": exc.code, "address": _client(request)})
            return login_page(request, p.t("login.locked", hint=render(exc.hint_text, p.lang)), 429, username)
        except (AuthError, UsageError):
            await audit(username or "-", "login_failed", {"address": _client(request)})
            return login_page(request, p.t("login.wrong"), 401, username)
        target = _safe_next(_first(form, "next"))
        if session.stage == "totp":
            resp: Response = RedirectResponse(
                "/console/login/totp?next=" + quote(target, safe=""), status_code=303
            )
        else:
            await audit(op.username, "login", {"address": _client(request)})
            resp = RedirectResponse(target, status_code=303)
        _set_session_cookie(resp, token, session)
        return resp

    @router.get("/login/totp", dependencies=public)
    async def totp_form(request: Request) -> Response:
        session: Session | None = getattr(request.state, "console_session", None)
        if session is None or session.stage != "totp":
            return RedirectResponse("/console/login", status_code=303)
        return page(request).render("totp.html", error="", next=_safe_next(request.query_params.get("next")))

    @router.post("/login/totp", dependencies=public)
    async def totp(request: Request) -> Response:
        form = await _form(request)
        await check_csrf(request, form)
        token = getattr(request.state, "console_token", "")
        p = page(request)
        try:
            new_token, session = await service.db(
                sessions.do_second_factor, node, token, _first(form, "code"), _client(request)
            )
        except sessions.TooManyAttempts as exc:
            return p.render(
                "totp.html",
                status=429,
                error=p.t("login.locked", hint=render(exc.hint_text, p.lang)),
                next="/console/",
            )
        except AuthError:
            pending: Session | None = getattr(request.state, "console_session", None)
            await audit(pending.username if pending else "-", "login_failed", {"second_factor": True})
            return p.render(
                "totp.html",
                status=401,
                error=p.t("totp.wrong"),
                next=_safe_next(_first(form, "next")),
            )
        await audit(session.username, "login", {"address": _client(request), "second_factor": True})
        resp = RedirectResponse(_safe_next(_first(form, "next")), status_code=303)
        _set_session_cookie(resp, new_token, session)
        return resp

    @router.post("/logout", dependencies=public)
    async def logout(request: Request) -> Response:
        form = await _form(request)
        await check_csrf(request, form)
        token = getattr(request.state, "console_token", "")
        session: Session | None = getattr(request.state, "console_session", None)
        await service.db(sessions.do_log_out, node, token)
        if session is not None:
            await audit(session.username, "logout", {})
        resp = RedirectResponse("/console/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return resp

    # --- dashboard and live updates ----------------------------------------------------------
    from parley.console import views

    @router.get("/")
    async def dashboard(request: Request, op: Operator = Read) -> Response:
        data = await service.db(views.dashboard, node, op)
        from parley.console.watch_views import on_watch_now  # who is on watch (docs/watch.md)

        data["watch"] = await service.db(on_watch_now, node, op)
        p = page(request, op)
        return p.render(
            "dashboard.html",
            d=data,
            facts=views.status_facts(data["extra"], p.lang, p.when),
            fragment=bool(request.headers.get("hx-request")),
        )

    @router.get("/events")
    async def events(request: Request, op: Operator = Read) -> Response:
        allowed = {c.id for c in await service.db(visible_channels, node, op)}
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        service.listeners.add(queue)

        async def stream() -> AsyncIterator[str]:
            loop = asyncio.get_running_loop()
            ends = loop.time() + EVENT_STREAM_MAX_S
            try:
                yield "retry: 3000\n: connected\n\n"
                while not service.stop.is_set() and loop.time() < ends:
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if "channel" in event and event["channel"] not in allowed:
                        continue
                    # Unnamed events: the page reads the kind from the data, so kinds added
                    # by other parts of the node (receipts, record alarms…) reach it too.
                    yield f"data: {json.dumps(event, default=str)}\n\n"
            finally:
                service.listeners.discard(queue)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    # --- inbox and messages ---------------------------------------------------------------
    # The inbox (paged search, bulk acknowledgment) is parley.console.inbox_routes.

    @router.get("/messages/{message_id}")
    async def message(request: Request, message_id: str, op: Operator = Read) -> Response:
        data = await service.db(views.message_page, node, op, message_id)
        from parley.console.escalation_view import pages_shown  # after message_page's visibility check

        shown = await service.db(pages_shown, node, message_id, op.lang)
        from parley.console.thread_view import thread_panel  # after the visibility check too

        thread = await service.db(thread_panel, node, op, message_id)
        return page(request, op).render(
            "message.html",
            m=data,
            pages=shown,
            thread=thread,
            confirm=request.query_params.get("confirm") == "ack",
            sent=request.query_params.get("sent") == "1",
            fragment=bool(request.headers.get("hx-request")),
        )

    @router.post("/messages/{message_id}/ack")
    async def acknowledge(request: Request, message_id: str, op: Operator = Acknowledge) -> Response:
        from parley.messaging.acknowledge import do_acknowledge

        form = await _form(request)
        await check_csrf(request, form)
        data = await service.db(views.message_page, node, op, message_id)  # visibility check
        desk = _first(form, "desk") or None
        if desk is not None and desk not in data["desks"]:
            raise ForbiddenError(
                T("{op_username} may not acknowledge for desk {desk!r}", op_username=op.username, desk=desk)
            )
        env = await service.db(do_acknowledge, node, message_id, op, desk)
        service.on_sent([env])
        await audit(op.username, "acknowledge", {"id": message_id, "ack": env.id, "via": "console"})
        return RedirectResponse(f"/console/messages/{message_id}", status_code=303)

    # --- compose ---------------------------------------------------------------------------
    @router.get("/compose")
    async def compose_start(request: Request, op: Operator = Read) -> Response:
        form = {k: request.query_params.getlist(k) for k in request.query_params}
        return await compose_page(request, op, form)

    @router.post("/compose")
    async def compose(request: Request, op: Operator = Send) -> Response:
        form = await _form(request)
        await check_csrf(request, form)
        action = _first(form, "action")
        if action.startswith(("add:", "remove:")):
            verb, _, name = action.partition(":")
            count = FormBuilder.item_count(form, name, required=False)
            form[f"_count{name}"] = [str(max(0, count + (1 if verb == "add" else -1)))]
            return await compose_page(request, op, form)
        if action in ("preview", "send"):
            return await compose_check(request, op, form, send=action == "send")
        return await compose_page(request, op, form)

    async def compose_context(op: Operator, form: FormData) -> dict[str, Any]:
        chans = [c for c in await service.db(visible_channels, node, op) if views.sending_desks(node, op, c)]
        channel_id = _first(form, "_channel") or (chans[0].id if len(chans) == 1 else "")
        channel = next((c for c in chans if c.id == channel_id), None)
        types = [t for t in channel.charter.types] if channel else []
        type_name = _first(form, "_type") if _first(form, "_type") in types else ""
        desks = views.sending_desks(node, op, channel) if channel else []
        from parley.console.thread_view import reply_fields

        reply_to, refs = reply_fields(form)
        return {
            "reply_to": reply_to,
            "refs": refs,
            "channels": [(c.id, c.charter.name_in(op.lang)) for c in chans],
            "channel": channel,
            "types": types,
            "type_name": type_name,
            "desks": desks,
            "desk": _first(form, "_desk") if _first(form, "_desk") in desks else (desks[0] if desks else ""),
            "precedence": _first(form, "_precedence")
            if _first(form, "_precedence") in PRECEDENCES
            else "ROUTINE",
            "status": _first(form, "_status") if _first(form, "_status") in STATUSES else "ACTUAL",
            "precedences": PRECEDENCES,
            "statuses": STATUSES,
            "read_only": not chans,
        }

    async def compose_page(
        request: Request,
        op: Operator,
        form: FormData,
        problems: list[tuple[str, str]] | None = None,
        status: int = 200,
    ) -> Response:
        ctx = await compose_context(op, form)
        p = page(request, op)
        fields: list[Any] = []
        loose: list[str] = []
        if ctx["type_name"]:
            builder = FormBuilder(ctx["type_name"], p.cat)
            fields = builder.fields(form, {}, op.lang)
            at, loose = problems_at(problems or [], fields)
            fields = builder.fields(form, at, op.lang)
        summary = [(f.dom_id, f.error) for top in fields for f in top.walk() if f.error]
        return p.render("compose.html", status=status, c=ctx, fields=fields, loose=loose, summary=summary)

    async def compose_check(request: Request, op: Operator, form: FormData, *, send: bool) -> Response:
        from parley.formats.registry import latest_version, validate_body
        from parley.messaging.send import Draft, do_send_message

        ctx = await compose_context(op, form)
        if ctx["read_only"]:
            raise ForbiddenError(
                T("{op_username} may not send on any channel (read-only role)", op_username=op.username)
            )
        channel = ctx["channel"]
        if channel is None or not ctx["type_name"]:
            raise UsageError(
                T("choose a channel and a message type first"), hint=T("start again from Compose")
            )
        p = page(request, op)
        builder = FormBuilder(ctx["type_name"], p.cat)
        body, problems = builder.body(form)
        try:
            channel.check_allows(ctx["type_name"])
            validate_body(ctx["type_name"], latest_version(ctx["type_name"]), body, lang=op.lang)
        except ValidationError as exc:
            return await compose_page(request, op, form, problems + exc.rendered(op.lang), status=422)
        if problems:
            return await compose_page(request, op, form, problems, status=422)
        draft = Draft(
            channel.id,
            ctx["desk"],
            ctx["type_name"],
            ctx["precedence"],
            ctx["status"],
            body,
            ctx["refs"],
            reply_to=ctx["reply_to"],
        )
        if not send:
            envelope = {
                "type": draft.type,
                "type_version": latest_version(draft.type),
                "precedence": draft.precedence,
                "status": draft.status,
                "body": body,
                "channel": channel.id,
                "sender": {"node": node.name, "desk": draft.desk},
            }
            langs = [lg for lg in channel.charter.data.get("languages", []) if lg in LANGS and lg != op.lang]
            previews = await service.db(_previews, envelope, langs or [op.lang], op.lang)
            hidden = [(k, v) for k, vs in form.items() if k not in ("csrf", "action") for v in vs]
            return p.render("preview.html", c=ctx, previews=previews, hidden=hidden)
        try:
            env = await service.db(do_send_message, node, draft, lang=op.lang, acting_for=op)
        except ValidationError as exc:
            return await compose_page(request, op, form, exc.rendered(op.lang), status=422)
        service.on_sent([env])
        await audit(
            op.username,
            "send",
            {"id": env.id, "channel": env.channel, "type": env.type, "via": "console"},
        )
        return RedirectResponse(f"/console/messages/{env.id}?sent=1", status_code=303)

    # --- incidents, meetings, channels, record ------------------------------------------------
    @router.get("/incidents")
    async def incidents(request: Request, op: Operator = Read) -> Response:
        data = await service.db(views.incidents, node, op)
        return page(request, op).render("incidents.html", d=data, geojson=script_json(data["geojson"]))

    @router.get("/meetings")
    async def meetings(request: Request, op: Operator = Read) -> Response:
        data = await service.db(views.meetings, node, op)
        return page(request, op).render("meetings.html", d=data)

    @router.get("/channels")
    async def channels(request: Request, op: Operator = Read) -> Response:
        data = await service.db(views.channels, node, op)
        return page(request, op).render("channels.html", chans=data)

    @router.get("/record")
    async def record(request: Request, op: Operator = Read) -> Response:
        data = await service.db(views.record, node)
        return page(request, op).render("record.html", r=data, result=None)

    @router.post("/meetings/sign")
    async def sign_protocol(request: Request, op: Operator = Send) -> Response:
        """Sign the latest protocol draft of a meeting, for a member desk of this node."""
        from parley.workflows.meetings import do_sign_protocol

        form = await _form(request)
        await check_csrf(request, form)
        channel_id = _first(form, "channel")
        meeting_id = _first(form, "meeting")
        channel = next((c for c in await service.db(visible_channels, node, op) if c.id == channel_id), None)
        if channel is None:  # not visible answers as not there (parley.directory.policy)
            raise NotFoundError(
                T("unknown channel {channel_id!r}", channel_id=channel_id),
                hint=T("pick a meeting from the list"),
            )
        desks = views.sending_desks(node, op, channel)
        if not desks:
            raise ForbiddenError(
                T(
                    "{op_username} may not sign for a desk of {channel_id!r}",
                    op_username=op.username,
                    channel_id=channel_id,
                )
            )
        env = await service.db(
            do_sign_protocol, node, meeting_id, channel=channel_id, desk=desks[0], acting_for=op
        )
        service.on_sent([env])
        await audit(
            op.username, "sign_protocol", {"meeting": meeting_id, "channel": channel_id, "id": env.id}
        )
        return RedirectResponse("/console/meetings", status_code=303)

    @router.post("/record/verify")
    async def verify(request: Request, op: Operator = Verify) -> Response:
        form = await _form(request)
        await check_csrf(request, form)
        result = await service.db(views.verify_record, node)
        await audit(op.username, "verify_record", {"ok": result["ok"], "size": result.get("size")})
        data = await service.db(views.record, node)
        return page(request, op).render(
            "record.html", r=data, result=result, fragment=bool(request.headers.get("hx-request"))
        )

    # --- settings ------------------------------------------------------------------------------
    @router.get("/settings")
    async def settings(request: Request, op: Operator = Own) -> Response:
        from parley.console.alerts import notifies

        notify = await service.db(notifies, node, op)  # desktop notices (console/alerts.py)
        saved = request.query_params.get("saved") == "1"
        return page(request, op).render("settings.html", saved=saved, notify=notify, zones=zone_choices())

    @router.post("/settings")
    async def save_settings(request: Request, op: Operator = Own) -> Response:
        from parley.directory.operators import set_language

        form = await _form(request)
        await check_csrf(request, form)
        lang = _first(form, "lang")
        zone = _first(form, "time_zone").strip()[: MAX_ZONE_NAME + 1] or None
        if zone is not None and not is_zone(zone):  # refused before anything is saved
            from parley.console.alerts import notifies

            notify = await service.db(notifies, node, op)
            return page(request, op).render(
                "settings.html", 400, saved=False, notify=notify, zones=zone_choices(), zone_value=zone
            )
        await service.db(set_language, node, op.username, lang)
        await audit(op.username, "set_language", {"lang": lang})
        if zone is not None and zone != getattr(request.state, "time_zone", None):
            await service.db(set_time_zone, node, op.username, zone)
            await audit(op.username, "set_time_zone", {"time_zone": zone})
        return RedirectResponse("/console/settings?saved=1", status_code=303)

    from parley.console.inbox_routes import inbox_routes  # before router: it owns /console/inbox

    app.include_router(inbox_routes(service, operator, page, _form, check_csrf, ConsoleRoute))
    app.include_router(router)
    from parley.console.alert_routes import alert_routes  # the alert bar (docs/watch.md)

    app.include_router(alert_routes(service, operator, page, _form, check_csrf, _safe_next, ConsoleRoute))
    from parley.console.watch_routes import watch_routes  # rosters and handovers (docs/watch.md)

    app.include_router(watch_routes(service, operator, page, _form, check_csrf, ConsoleRoute))
    from parley.console.incident_routes import incident_routes  # one page per incident

    app.include_router(incident_routes(service, operator, page, _form, check_csrf, ConsoleRoute, script_json))

    @app.get("/", include_in_schema=False, dependencies=public)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    @app.get("/console", include_in_schema=False, dependencies=public)
    async def console_root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    declare(app.routes[-1], Action.PUBLIC)
    app.add_middleware(ConsoleSessionMiddleware, service=service)
    app.add_middleware(SecurityHeadersMiddleware)


def _set_session_cookie(resp: Response, token: str, session: Session) -> None:
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        secure=True,
        httponly=True,
        samesite="strict",
        path="/",
        expires=session.expires_at,
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict")


def script_json(value: Any) -> Markup:
    """JSON to embed in a ``<script type="application/json">`` block.

    Entities are not decoded inside ``<script>``, so the JSON goes in unescaped, with the
    characters that could end the element or start markup written as JSON escapes; values
    come from peers and must never close the element.
    """
    text = json.dumps(value, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return Markup(text)  # noqa: S704 (escaped above for this context)


def _previews(envelope: Mapping[str, Any], langs: list[str], reader: str) -> list[tuple[str, str, str]]:
    """The draft rendered as each other side will read it: (lang, the language's name in the
    reader's language, HTML)."""
    from parley.formats.render import render as render_envelope
    from parley.formats.render import render_html

    names = load_catalogue(reader)
    out = []
    for lang in langs:
        out.append((lang, names.get(f"lang.{lang}"), render_html(render_envelope(envelope, lang))))
    return out
