"""The console inbox: paged search with filters in the URL, and bulk acknowledgment.

``GET /console/inbox`` shows one page of :func:`parley.console.inbox_view.inbox_page`.
``POST /console/inbox/ack`` with the ticked ``id`` values first shows what will be
acknowledged (nothing changes yet); with ``confirm=1`` it acknowledges each message on its
own — a signed acknowledgment per message, the desk policy checked per message, each audited
— and shows the outcome per message. Both carry the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from parley.api.route_actions import Acting
from parley.console import inbox_view as iv
from parley.directory.operators import Operator
from parley.directory.policy import Action
from parley.running.service import Service

FormData = dict[str, list[str]]


def inbox_routes(
    service: Service,
    operator: Callable[[Request], Awaitable[Operator]],
    page: Callable[..., Any],
    form_of: Callable[[Request], Awaitable[FormData]],
    check_csrf: Callable[[Request, FormData], Awaitable[None]],
    route_class: type[Any],
) -> APIRouter:
    """The inbox routes under ``/console``."""
    from parley.directory.audit import audit

    node = service.node
    router = APIRouter(prefix="/console", route_class=route_class, include_in_schema=False)
    Read = Depends(Acting(Action.READ, operator))
    Acknowledge = Depends(Acting(Action.ACKNOWLEDGE, operator))

    @router.get("/inbox")
    async def inbox(request: Request, op: Operator = Read) -> Response:
        params = {k: request.query_params.getlist(k) for k in request.query_params}
        data = await service.db(iv.inbox_page, node, op, params)
        fragment = bool(request.headers.get("hx-request"))
        shown: Response = page(request, op).render("inbox.html", d=data, fragment=fragment)
        return shown

    @router.post("/inbox/ack")
    async def acknowledge_many(request: Request, op: Operator = Acknowledge) -> Response:
        form = await form_of(request)
        await check_csrf(request, form)
        ids = iv.bulk_ids(form.get("id", []))
        back = iv.safe_back(form.get("back", [""])[0])
        if form.get("confirm", [""])[0] != "1":
            chosen = await service.db(iv.chosen, node, op, ids)
            p = page(request, op)
            confirm: Response = p.render("inbox_ack.html", chosen=chosen, back=back, results=None)
            return confirm
        results = []
        sent = []
        for message_id in ids:
            env, outcome = await service.db(iv.ack_one, node, op, message_id)
            if env is not None:
                sent.append(env)
                details = {"id": message_id, "ack": env.id, "via": "console-bulk"}
                await service.db(audit, node, op.username, "acknowledge", details)
            results.append(outcome)
        if sent:
            service.on_sent(sent)
        # 200 either way: the page reports each message's outcome in its place.
        done: Response = page(request, op).render("inbox_ack.html", chosen=None, back=back, results=results)
        return done

    return router
