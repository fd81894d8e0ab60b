"""The console's incident page: ``/console/incidents/{id}`` (issue 13, item 4).

One page per incident: its state, the parties, the timeline, every position on the offline
map, the exports (OASIS CAP 1.2 and RFC 7946 GeoJSON, as downloads) and the steps open now.
A step is a form on the page; the first post shows what will be signed and asks to confirm,
the second sends the signed ``incident-response`` through the same path as ``parley incident
…`` (:func:`parley.workflows.incidents.do_respond_incident`), with the session's CSRF token,
the desk policy's send action (:mod:`parley.directory.policy`) and an audit entry. A step
refused (wrong state, not allowed, not visible, bad input) is answered with an error page
and sends nothing. The read model is :mod:`parley.console.incident_view`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from parley.api.route_actions import Acting
from parley.console import incident_view as iv
from parley.directory.operators import Operator
from parley.directory.policy import Action
from parley.running.service import Service
from parley.workflows.incidents import ACTIONS

FormData = dict[str, list[str]]
MAX_FIELD = iv.MAX_STEP_TEXT + 1  # longer is refused by the check, not cut silently
STEP_FIELDS = ("action", "text", "lang", "desk", "confirmed")


def incident_routes(
    service: Service,
    operator: Callable[[Request], Awaitable[Operator]],
    page: Callable[..., Any],
    form_of: Callable[[Request], Awaitable[FormData]],
    check_csrf: Callable[[Request, FormData], Awaitable[None]],
    route_class: type[Any],
    script_json: Callable[[Any], Any],
) -> APIRouter:
    """The incident page, its exports and its steps under ``/console/incidents``."""
    node = service.node
    router = APIRouter(prefix="/console", route_class=route_class, include_in_schema=False)
    Read = Depends(Acting(Action.READ, operator))
    Send = Depends(Acting(Action.SEND, operator))

    async def render(
        request: Request, op: Operator, incident_id: str, *, confirm: dict[str, str] | None = None
    ) -> Response:
        data = await service.db(iv.incident_page, node, op, incident_id)
        resp: Response = page(request, op).render(
            "incident.html",
            d=data,
            geojson=script_json(data["geojson"]),
            confirm=confirm,
            sent=sent if (sent := request.query_params.get("sent", "")) in ACTIONS else "",
            fragment=bool(request.headers.get("hx-request")),
        )
        return resp

    @router.get("/incidents/{incident_id}")
    async def incident(request: Request, incident_id: str, op: Operator = Read) -> Response:
        return await render(request, op, incident_id)

    @router.get("/incidents/{incident_id}/cap.xml")
    async def incident_cap(request: Request, incident_id: str, op: Operator = Read) -> Response:
        xml = await service.db(iv.export_cap, node, op, incident_id)
        return Response(
            xml,
            media_type="application/xml",
            headers={"content-disposition": f'attachment; filename="incident-{incident_id}.cap.xml"'},
        )

    @router.get("/incidents/{incident_id}/positions.geojson")
    async def incident_geojson(request: Request, incident_id: str, op: Operator = Read) -> Response:
        data = await service.db(iv.export_geojson, node, op, incident_id)
        return Response(
            json.dumps(data, ensure_ascii=False, indent=2),
            media_type="application/geo+json",
            headers={"content-disposition": f'attachment; filename="incident-{incident_id}.geojson"'},
        )

    @router.post("/incidents/{incident_id}/step")
    async def incident_step(request: Request, incident_id: str, op: Operator = Send) -> Response:
        from parley.directory.audit import audit
        from parley.workflows.incidents import do_respond_incident

        form = await form_of(request)
        await check_csrf(request, form)
        fields = {k: (form.get(k) or [""])[0][:MAX_FIELD] for k in STEP_FIELDS}
        step = await service.db(iv.check_step, node, op, incident_id, fields)
        if fields["confirmed"] != "1":
            return await render(request, op, incident_id, confirm=step)
        env = await service.db(
            do_respond_incident,
            node,
            incident_id,
            step["action"],
            step["text"],
            lang=step["lang"],
            desk=step["desk"],
            acting_for=op,
        )
        service.on_sent([env])
        details = {"incident": incident_id, "action": step["action"], "id": env.id, "via": "console"}
        await service.db(audit, node, op.username, "incident_step", details)
        return RedirectResponse(f"/console/incidents/{incident_id}?sent={step['action']}", status_code=303)

    return router
