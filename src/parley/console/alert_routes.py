"""The console's alert bar over HTTP: its fragment, the sound mute and desktop notices.

``GET /console/alerts`` answers the bar as an HTML fragment of its own, which the page's
script (``static/alerts.js``) fetches and swaps into ``#alert-bar`` without touching the
page's main content, so an alert never costs a half-written draft. The state itself is
:mod:`parley.console.alerts`. The forms work without scripts too (a 303 back to the page);
the script posts them with ``X-Requested-With: fetch`` and gets the fresh fragment instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from parley.api.route_actions import Acting
from parley.console import alerts
from parley.directory.operators import Operator
from parley.directory.policy import Action
from parley.running.service import Service

FormData = dict[str, list[str]]


def alert_routes(
    service: Service,
    operator: Callable[[Request], Awaitable[Operator]],
    page: Callable[..., Any],
    form_of: Callable[[Request], Awaitable[FormData]],
    check_csrf: Callable[[Request, FormData], Awaitable[None]],
    safe_next: Callable[[str | None], str],
    route_class: type[Any],
) -> APIRouter:
    """The alert routes under ``/console``, for the console's application."""
    from parley.console.views import when

    node = service.node
    router = APIRouter(prefix="/console", route_class=route_class, include_in_schema=False)
    Read = Depends(Acting(Action.READ, operator))
    Own = Depends(Acting(Action.SELF, operator))

    def first(form: FormData, key: str) -> str:
        return (form.get(key) or [""])[0]

    async def bar(request: Request, op: Operator) -> Response:
        state = await service.db(alerts.alert_state, node, op)
        muted = when(state.muted_until.isoformat(), op.lang) if state.muted_until else ""
        resp: Response = page(request, op).render(
            "alert_bar.html",
            s=state,
            kinds=alerts.KINDS,
            sounding=alerts.SOUNDING,
            minutes=alerts.MUTE_MINUTES,
            muted_text=muted,
            when=lambda dt: when(dt.isoformat(), op.lang),
            back=safe_next(request.query_params.get("from")),
        )
        return resp

    def answer(request: Request, back: str) -> Callable[[Operator], Awaitable[Response]]:
        async def respond(op: Operator) -> Response:
            if request.headers.get("x-requested-with") == "fetch":
                return await bar(request, op)
            return RedirectResponse(back, status_code=303)

        return respond

    @router.get("/alerts")
    async def alert_bar(request: Request, op: Operator = Read) -> Response:
        return await bar(request, op)

    @router.post("/alerts/mute")
    async def mute(request: Request, op: Operator = Own) -> Response:
        form = await form_of(request)
        await check_csrf(request, form)
        minutes = alerts.mute_minutes(first(form, "minutes"))  # refused before anything changes
        await service.db(alerts.mute, node, op, minutes)
        return await answer(request, safe_next(first(form, "next")))(op)

    @router.post("/alerts/unmute")
    async def unmute(request: Request, op: Operator = Own) -> Response:
        form = await form_of(request)
        await check_csrf(request, form)
        await service.db(alerts.unmute, node, op)
        return await answer(request, safe_next(first(form, "next")))(op)

    @router.post("/alerts/notifications")
    async def notifications(request: Request, op: Operator = Own) -> Response:
        form = await form_of(request)
        await check_csrf(request, form)
        on = alerts.notify_choice(first(form, "notify"))
        await service.db(alerts.set_notify, node, op, on)
        return RedirectResponse("/console/settings?saved=1", status_code=303)

    return router
