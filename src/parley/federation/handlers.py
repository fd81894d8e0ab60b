"""What each federation route does once the request is authenticated."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from starlette.requests import Request

from parley.errors import ForbiddenError, RefusedError, UsageError
from parley.messaging.receive import GapError, hold_txn, receive_batch
from parley.protocol.canonical import loads_strict
from parley.storage.tables import envelopes

if TYPE_CHECKING:
    from parley.service import Service

MAX_BATCH = 5000


async def post_envelopes(service: Service, origin: str, payload: Any, request: Request) -> Any:
    if (
        not isinstance(payload, dict)
        or sorted(payload) != ["envelopes"]
        or not isinstance(payload["envelopes"], list)
    ):
        raise UsageError('body must be {"envelopes": [...]}', code="malformed_request")
    wires = payload["envelopes"]
    if len(wires) > MAX_BATCH:
        raise UsageError(f"at most {MAX_BATCH} envelopes per batch", code="batch_too_large", http_status=413)
    node = service.node
    auth = request.state.auth
    try:
        result = await service.db(receive_batch, node, origin, wires, before=auth.remember_txn)
    except GapError as gap:
        await _hold_ahead_of_gap(service, origin, wires, gap)
        raise
    if result.stored:
        service.on_received(result.new_envelopes)
    return result.to_json()


async def _hold_ahead_of_gap(service: Service, origin: str, wires: list[Any], gap: GapError) -> None:
    node = service.node
    index = int(gap.details.get("index", 0))

    def hold() -> None:
        with node.engine.begin() as conn:
            hold_txn(conn, wires[index], gap.channel, gap.sender, gap.got, node.clock.now())

    await service.db(hold)
    service.schedule_gap_fetch(origin, gap.channel, gap.expected, gap.got - 1)


async def get_chain(service: Service, origin: str, payload: Any, request: Request) -> Any:
    """A range of this node's own chain in a channel, for a member that found a gap."""
    node = service.node
    q = request.query_params
    channel = q.get("channel", "")
    try:
        start = int(q.get("from", ""))
        end = int(q.get("to", ""))
    except ValueError:
        raise UsageError("from and to must be integers", code="malformed_request") from None
    if start < 1 or end < start:
        raise UsageError("need 1 <= from <= to", code="malformed_request")
    end = min(end, start + node.config.federation.gap_fetch_limit - 1)

    def load() -> list[Any]:
        from parley.channels.registry import get_channel_txn

        with node.reader.connect() as conn:
            ch = get_channel_txn(conn, channel)
            if origin not in ch.charter.member_nodes:
                raise ForbiddenError(f"{origin} is not a member of {channel}", code="not_a_member")
            rows = conn.execute(
                select(envelopes.c.raw)
                .where(
                    envelopes.c.channel == channel,
                    envelopes.c.sender_node == node.name,
                    envelopes.c.seq >= start,
                    envelopes.c.seq <= end,
                )
                .order_by(envelopes.c.seq)
            ).all()
        return [loads_strict(r.raw) for r in rows]

    return {"envelopes": await service.db(load)}


async def post_charter(service: Service, origin: str, payload: Any, request: Request) -> Any:
    from parley.channels.setup import do_accept_channel

    doc, opened = await service.db(do_accept_channel, service.node, payload, countersign=False, via=origin)
    return {"channel": doc.charter.id, "opened": opened, "complete": doc.complete}


async def post_status_record(service: Service, origin: str, payload: Any, request: Request) -> Any:
    from parley.channels.status import apply_status_record_txn, parse_status_record

    node = service.node
    record = parse_status_record(payload, node.key_for)
    if record.signer != origin:
        raise RefusedError("a status record is delivered by the node that signed it", code="wrong_sender")

    def apply() -> bool:
        from parley.channels.registry import get_channel_txn

        with node.engine.begin() as conn:
            ch = get_channel_txn(conn, record.channel)
            if origin not in ch.charter.member_nodes:
                raise ForbiddenError(f"{origin} is not a member of {record.channel}", code="not_a_member")
            return apply_status_record_txn(conn, record, node.clock.now())

    applied = await service.db(apply)
    return {"applied": applied}


async def post_linktest(service: Service, origin: str, payload: Any, request: Request) -> Any:
    from parley.federation.linktest import answer_link_test

    return await service.db(answer_link_test, service.node, origin, payload)


async def fetch_gap(service: Service, peer: str, channel: str, start: int, end: int) -> int:
    """Fetch a missing range of ``peer``'s chain, then try what was held behind it."""
    from parley.messaging.receive import release_held

    client = service.client_for(peer)
    answer = await client.call("GET", f"/chain?channel={channel}&from={start}&to={end}")
    wires = answer.get("envelopes", []) if isinstance(answer, dict) else []
    if not wires:
        return 0
    result = await service.db(receive_batch, service.node, peer, wires)
    service.on_received(result.new_envelopes)
    released = await service.db(release_held, service.node, peer, channel)
    await asyncio.sleep(0)
    return len(result.stored) + released
