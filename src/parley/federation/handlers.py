"""What each federation route does once the request is authenticated (docs/protocol.md §11).

The route's body was checked against its model (parley.federation.models) by the server;
each handler still gets the parsed JSON as it came, since signed documents are verified
over their own canonical bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from starlette.requests import Request

from parley.errors import ConflictError, ForbiddenError, RefusedError, UsageError, VerificationError
from parley.federation.models import MAX_BATCH, ChainQuery, check_query
from parley.formats.texts import T
from parley.messaging.receive import GapError, hold_txn, receive_batch
from parley.protocol.canonical import loads_strict
from parley.storage.tables import envelopes

if TYPE_CHECKING:
    from parley.federation.runtime import Runtime
    from parley.node import Node


Handler = Callable[["Runtime", str, Any, Request], Awaitable[Any]]


def after_key_documents(handler: Handler) -> Handler:
    """Answer ``origin`` only once it holds this node's key documents (docs/protocol.md §13.4).

    Answers carry signatures (receipts, link-test replies, checkpoints) by this node's
    current key; a peer that has not yet taken in the rotation would take a new-key
    signature for a forgery. The control loop delivers the documents within a tick."""

    async def wrapped(service: Runtime, origin: str, payload: Any, request: Request) -> Any:
        from parley.directory.keys import key_documents_pending

        if await service.db(key_documents_pending, service.node, origin):
            raise ConflictError(
                T(
                    "{node_name} has a key document {origin} has not taken in yet",
                    node_name=service.node.name,
                    origin=origin,
                ),
                code="key_update_pending",
                hint=T("retry in a moment"),
            )
        return await handler(service, origin, payload, request)

    return wrapped


async def post_envelopes(service: Runtime, origin: str, payload: Any, request: Request) -> Any:
    if (
        not isinstance(payload, dict)
        or sorted(payload) != ["envelopes"]
        or not isinstance(payload["envelopes"], list)
    ):
        raise UsageError(T('body must be {{"envelopes": [...]}}'), code="malformed_request")
    wires = payload["envelopes"]
    if len(wires) > MAX_BATCH:
        raise UsageError(
            T("at most {max_batch} envelopes per batch", max_batch=MAX_BATCH),
            code="batch_too_large",
            http_status=413,
        )
    node = service.node
    auth = request.state.auth
    try:
        result = await service.db(receive_batch, node, origin, wires, before=auth.remember_txn)
    except GapError as gap:
        await _hold_ahead_of_gap(service, origin, wires, gap)
        raise
    except VerificationError as exc:
        if exc.code == "key_revoked":
            await service.db(_alarm_revoked_key, node, origin, exc)
        raise
    if result.stored:
        service.on_received(result.new_envelopes)
    return result.to_json()


async def _hold_ahead_of_gap(service: Runtime, origin: str, wires: list[Any], gap: GapError) -> None:
    node = service.node
    index = int(gap.details.get("index", 0))

    def hold() -> None:
        with node.engine.begin() as conn:
            hold_txn(conn, wires[index], gap.channel, gap.sender, gap.got, node.clock.now())

    await service.db(hold)
    service.schedule_gap_fetch(origin, gap.channel, gap.expected, gap.got - 1)


def chain_range(node: Node, request: Request) -> tuple[str, int, int, int]:
    """A chain range asked for (``channel``, ``from``, ``to``), cut to what one answer holds:
    at most ``gap_fetch_limit`` envelopes, and the byte budget of one answer."""
    query = check_query(ChainQuery, request.query_params.multi_items())
    channel, start, end = query.channel, query.from_, query.to
    if end < start:
        raise UsageError(T("need 1 <= from <= to"), code="malformed_request")
    end = min(end, start + node.config.federation.gap_fetch_limit - 1)
    return channel, start, end, node.config.federation.max_request_bytes


async def get_chain(service: Runtime, origin: str, payload: Any, request: Request) -> Any:
    """A range of this node's own chain in a channel, for a member that found a gap.

    The answer holds at most ``gap_fetch_limit`` envelopes and at most
    ``max_request_bytes`` of them (what this node would take in one request itself): it
    stops before the envelope that would pass either, so a peer asking for a long range
    cannot make this node build a huge answer. The asker fetches the rest when it finds
    the next gap.
    """
    node = service.node
    channel, start, end, budget = chain_range(node, request)

    def load() -> list[Any]:
        from parley.channels.registry import get_channel_txn

        with node.reader.connect() as conn:
            ch = get_channel_txn(conn, channel)
            if origin not in ch.charter.member_nodes:
                raise ForbiddenError(
                    T("{origin} is not a member of {channel}", origin=origin, channel=channel),
                    code="not_a_member",
                )
            stmt = (
                select(envelopes.c.raw)
                .where(
                    envelopes.c.channel == channel,
                    envelopes.c.sender_node == node.name,
                    envelopes.c.seq >= start,
                    envelopes.c.seq <= end,
                )
                .order_by(envelopes.c.seq)
            )
            out: list[Any] = []
            size = len(b'{"envelopes":[]}')
            # Streamed in slices, so rows past the budget are never loaded.
            with conn.execution_options(yield_per=100).execute(stmt) as rows:
                for row in rows:
                    # Each envelope adds its stored bytes and a comma, as it goes out.
                    size += len(row.raw) + 1
                    if size > budget:
                        break
                    out.append(loads_strict(row.raw))
        return out

    return {"envelopes": await service.db(load)}


async def post_charter(service: Runtime, origin: str, payload: Any, request: Request) -> Any:
    from parley.channels.setup import do_accept_channel

    doc, opened = await service.db(do_accept_channel, service.node, payload, countersign=False, via=origin)
    return {"channel": doc.charter.id, "opened": opened, "complete": doc.complete}


async def post_status_record(service: Runtime, origin: str, payload: Any, request: Request) -> Any:
    from parley.channels.status import apply_status_record_txn, parse_status_record

    node = service.node
    record = parse_status_record(payload, node.key_for)
    if record.signer != origin:
        raise RefusedError(T("a status record is delivered by the node that signed it"), code="wrong_sender")

    def apply() -> bool:
        from parley.channels.registry import get_channel_txn

        with node.engine.begin() as conn:
            ch = get_channel_txn(conn, record.channel)
            if origin not in ch.charter.member_nodes:
                raise ForbiddenError(
                    T(
                        "{origin} is not a member of {record_channel}",
                        origin=origin,
                        record_channel=record.channel,
                    ),
                    code="not_a_member",
                )
            return apply_status_record_txn(conn, record, node.clock.now())

    applied = await service.db(apply)
    return {"applied": applied}


async def post_linktest(service: Runtime, origin: str, payload: Any, request: Request) -> Any:
    from parley.federation.linktest import answer_link_test

    return await service.db(answer_link_test, service.node, origin, payload)


def _alarm_revoked_key(node: Node, origin: str, exc: VerificationError) -> None:
    """A batch signed with a revoked key was refused (and rolled back): say so, once while open."""
    from parley.storage.alarms import raise_alarm_txn

    with node.engine.begin() as conn:
        now = node.clock.now()
        key_id, revoked_at = exc.details.get("key_id", "?"), exc.details.get("revoked_at", "?")
        raise_alarm_txn(
            conn, "key_revoked_use", origin, now, once=True, peer=origin, key_id=key_id, revoked_at=revoked_at
        )


async def post_key_document(service: Runtime, origin: str, payload: Any, request: Request) -> Any:
    """A peer's upgraded card or key record (docs/protocol.md §13)."""
    from parley.directory.keys import apply_peer_document

    applied = await service.db(apply_peer_document, service.node, origin, payload)
    if applied and isinstance(payload, dict) and "tls_update" in payload:
        await service.repin(origin)  # new connections to the peer trust its new pins (§13.7)
    return {"applied": applied}


async def fetch_gap(service: Runtime, peer: str, channel: str, start: int, end: int) -> int:
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
