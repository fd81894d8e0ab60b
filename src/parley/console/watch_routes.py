"""The console's roster and handover pages (docs/watch.md, "Rosters and handover").

``/console/roster`` shows a desk's shifts for two weeks with the coming week's gaps and
overlaps, and lets a supervisor or admin of the desk add and remove shifts (the warnings
are shown after each change; bad input is shown on the page and changes nothing).
``/console/handover`` starts a handover (the note; the node lists the open items),
``/console/handover/{id}`` shows one and lets the incoming officer confirm it. Who may see
and do what is in :mod:`parley.console.watch_views`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from parley.api.route_actions import Acting
from parley.console import watch_views as wv
from parley.directory.operators import Operator
from parley.directory.policy import Action
from parley.errors import ParleyError
from parley.running.service import Service

FormData = dict[str, list[str]]
MAX_FIELD = 4_000  # characters of any one form field (the note is the longest, 2,000)


def watch_routes(
    service: Service,
    operator: Callable[[Request], Awaitable[Operator]],
    page: Callable[..., Any],
    form_of: Callable[[Request], Awaitable[FormData]],
    check_csrf: Callable[[Request, FormData], Awaitable[None]],
    route_class: type[Any],
) -> APIRouter:
    """The roster and handover routes under ``/console``."""
    from parley.watch import handover, roster

    node = service.node
    router = APIRouter(prefix="/console", route_class=route_class, include_in_schema=False)
    Read = Depends(Acting(Action.READ, operator))
    # Editing a roster is a supervisor's act; the desk is checked too.
    Manage = Depends(Acting(Action.MANAGE_WATCH, operator))
    # Taking over or handing over the watch is acting for the desk, as acknowledging is.
    Act = Depends(Acting(Action.ACKNOWLEDGE, operator))

    def first(form: FormData, key: str) -> str:
        return (form.get(key) or [""])[0][:MAX_FIELD]

    def query(request: Request, key: str) -> str | None:
        value = request.query_params.get(key)
        return value[:100] if value else None

    async def render_roster(
        request: Request,
        op: Operator,
        desk: str | None,
        *,
        start: str | None = None,
        warnings: list[roster.RosterWarning] | None = None,
        error: ParleyError | None = None,
        done: str = "",
        form: FormData | None = None,
        status: int = 200,
    ) -> Response:
        data = await service.db(wv.roster_page, node, op, desk, start)
        p = page(request, op)
        shown = data["warnings"] if warnings is None else warnings
        resp: Response = p.render(
            "roster.html",
            d=data,
            warnings=[p.f(w.key, **w.params(data["tz"])) for w in shown],
            error=error,
            done=done,
            form={k: v[0] for k, v in (form or {}).items() if v and k != "csrf"},
            status=status,
        )
        return resp

    @router.get("/roster")
    async def roster_view(request: Request, op: Operator = Read) -> Response:
        return await render_roster(request, op, query(request, "desk"), start=query(request, "from"))

    @router.post("/roster/add")
    async def roster_add(request: Request, op: Operator = Manage) -> Response:
        form = await form_of(request)
        await check_csrf(request, form)
        desk = first(form, "desk")
        await service.db(wv.require_visible_desk, node, op, desk)
        wv.require_roster_editor(op, desk)
        spec = roster.ShiftSpec(
            first(form, "operator"),
            first(form, "start"),
            first(form, "end"),
            first(form, "tz") or "UTC",
            first(form, "role") or "watch",
            first(form, "repeat") or None,
            first(form, "until") or None,
        )
        try:
            change = await service.db(roster.add_shifts, node, desk, [spec], actor=op.username)
        except ParleyError as exc:
            return await render_roster(request, op, desk, error=exc, form=form, status=exc.http_status)
        p = page(request, op)
        done = p.f("roster.added", count=str(len(change.shifts)), operator=spec.username)
        return await render_roster(request, op, desk, warnings=change.warnings, done=done)

    @router.post("/roster/remove")
    async def roster_remove(request: Request, op: Operator = Manage) -> Response:
        form = await form_of(request)
        await check_csrf(request, form)
        text = first(form, "shift")
        shift_id = int(text) if text.isdigit() and len(text) < 12 else 0
        shift = await service.db(roster.get_shift, node, shift_id)  # 404 when there is none
        await service.db(wv.require_visible_desk, node, op, shift.desk)
        wv.require_roster_editor(op, shift.desk)
        change = await service.db(roster.remove_shift, node, shift_id, actor=op.username)
        done = page(request, op).f("roster.removed", id=str(shift_id), operator=shift.username)
        return await render_roster(request, op, shift.desk, warnings=change.warnings, done=done)

    async def render_handovers(
        request: Request, op: Operator, desk: str | None, *, error: ParleyError | None = None, note: str = ""
    ) -> Response:
        data = await service.db(wv.handover_page, node, op, desk)
        resp: Response = page(request, op).render(
            "handover.html",
            d=data,
            error=error,
            note=note,
            status=error.http_status if error else 200,
        )
        return resp

    @router.get("/handover")
    async def handover_view(request: Request, op: Operator = Read) -> Response:
        return await render_handovers(request, op, query(request, "desk"))

    @router.post("/handover/start")
    async def handover_start(request: Request, op: Operator = Act) -> Response:
        form = await form_of(request)
        await check_csrf(request, form)
        desk = first(form, "desk")
        await service.db(wv.require_visible_desk, node, op, desk)
        note = first(form, "note")
        try:
            h = await service.db(handover.start_handover, node, desk, op.username, note)
        except ParleyError as exc:
            if exc.http_status in (403, 404):
                raise
            return await render_handovers(request, op, desk, error=exc, note=note)
        return RedirectResponse(f"/console/handover/{h.id}", status_code=303)

    @router.get("/handover/{handover_id}")
    async def handover_show(request: Request, handover_id: str, op: Operator = Read) -> Response:
        data = await service.db(wv.handover_detail, node, op, handover_id)
        resp: Response = page(request, op).render("handover_detail.html", d=data)
        return resp

    @router.post("/handover/{handover_id}/confirm")
    async def handover_confirm(request: Request, handover_id: str, op: Operator = Act) -> Response:
        form = await form_of(request)
        await check_csrf(request, form)
        await service.db(wv.handover_detail, node, op, handover_id)  # 404 if not hers to see
        await service.db(handover.confirm_handover, node, handover_id, op.username)
        return RedirectResponse(f"/console/handover/{handover_id}", status_code=303)

    return router
