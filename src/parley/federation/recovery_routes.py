"""What a peer answers a node that recovers its own chains (docs/protocol.md §11.10).

* ``GET /federation/v1/held?channel=C``: the asker's chain on C as this node holds it — the
  head (seq and envelope hash), the receipt this node signed for that head, and the latest
  checkpoint of the asker's log this node cosigned (the asker's signed note and this node's
  cosignature line).
* ``GET /federation/v1/returned?channel=C&from=N&to=M``: the asker's own envelopes N..M as
  this node holds them, bounded exactly as ``GET /chain`` (§11.5), with the receipts this
  node signed for that range.

Both are signed requests like every federation route; the asker must be a member of C.
Nothing here writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from starlette.requests import Request

from parley.errors import ForbiddenError
from parley.federation.handlers import chain_range
from parley.federation.models import HeldQuery, check_query
from parley.formats.texts import T
from parley.protocol.canonical import loads_strict
from parley.storage.tables import envelopes, receipts

MAX_RECEIPTS = 1000  # as many as the asker takes from one answer (parley.continuity.recovery)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from parley.federation.runtime import Runtime


def _member(conn: Connection, origin: str, channel: str) -> None:
    from parley.channels.registry import get_channel_txn

    ch = get_channel_txn(conn, channel)
    if origin not in ch.charter.member_nodes:
        raise ForbiddenError(
            T("{origin} is not a member of {channel}", origin=origin, channel=channel), code="not_a_member"
        )


async def get_held(service: Runtime, origin: str, payload: Any, request: Request) -> Any:
    node = service.node
    channel = check_query(HeldQuery, request.query_params.multi_items()).channel

    def load() -> dict[str, Any]:
        from parley.messaging.chains import chain_head_txn
        from parley.record.witness_tables import witness_state

        with node.reader.connect() as conn:
            _member(conn, origin, channel)
            head = chain_head_txn(conn, channel, origin)
            receipt = None
            if head is not None:
                row = conn.execute(
                    select(receipts.c.raw).where(
                        receipts.c.channel == channel,
                        receipts.c.sender_node == origin,
                        receipts.c.receiver_node == node.name,
                        receipts.c.upto_seq == head[0],
                    )
                ).first()
                receipt = None if row is None else loads_strict(row.raw)
            witnessed = conn.execute(
                select(witness_state.c.note, witness_state.c.cosignature).where(
                    witness_state.c.peer == origin
                )
            ).first()
        checkpoint = None
        if witnessed is not None and witnessed.note and witnessed.cosignature:
            checkpoint = {"note": witnessed.note, "cosignature": witnessed.cosignature}
        return {
            "channel": channel,
            "head": None if head is None else {"seq": head[0], "hash": head[1]},
            "receipt": receipt,
            "checkpoint": checkpoint,
        }

    return await service.db(load)


async def get_returned(service: Runtime, origin: str, payload: Any, request: Request) -> Any:
    """The asker's own envelopes, bounded like ``GET /chain``: at most ``gap_fetch_limit``
    of them and ``max_request_bytes`` in all (receipts included)."""
    node = service.node
    channel, start, end, budget = chain_range(node, request)

    def load() -> dict[str, Any]:
        with node.reader.connect() as conn:
            _member(conn, origin, channel)
            size = len(b'{"envelopes":[],"receipts":[]}')
            out: list[Any] = []
            stmt = (
                select(envelopes.c.raw, envelopes.c.seq)
                .where(
                    envelopes.c.channel == channel,
                    envelopes.c.sender_node == origin,
                    envelopes.c.seq >= start,
                    envelopes.c.seq <= end,
                )
                .order_by(envelopes.c.seq)
            )
            last = start - 1
            with conn.execution_options(yield_per=100).execute(stmt) as rows:
                for row in rows:
                    size += len(row.raw) + 1
                    if size > budget // 2:  # half for the envelopes, half for the receipts
                        break
                    out.append(loads_strict(row.raw))
                    last = int(row.seq)
            signed: list[Any] = []
            receipt_rows = conn.execute(
                select(receipts.c.raw)
                .where(
                    receipts.c.channel == channel,
                    receipts.c.sender_node == origin,
                    receipts.c.receiver_node == node.name,
                    receipts.c.upto_seq >= start,
                    receipts.c.upto_seq <= last,
                )
                .order_by(receipts.c.upto_seq)
            )
            for r in receipt_rows:
                size += len(r.raw) + 1
                if size > budget or len(signed) >= MAX_RECEIPTS:
                    break
                signed.append(loads_strict(r.raw))
        return {"envelopes": out, "receipts": signed}

    return await service.db(load)
