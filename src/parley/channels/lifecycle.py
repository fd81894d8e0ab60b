"""Changing a channel's status: sign a record, store it, and queue it for the peers."""

from __future__ import annotations

from parley.channels.charter import CONTROL_TYPES
from parley.channels.registry import get_channel_txn
from parley.channels.status import StatusRecord, apply_status_record_txn, make_status_record
from parley.clock import format_time
from parley.directory.control_outbox import queue_control_txn
from parley.errors import UsageError
from parley.formats.texts import T
from parley.node import Node


def do_change_status(
    node: Node, channel_id: str, status: str, reason: str, exempt: list[str] | None = None
) -> StatusRecord:
    if not reason.strip():
        raise UsageError(T("a status change needs a reason"), hint=T("pass --reason '…'"))
    now = node.clock.now()
    with node.engine.begin() as conn:
        channel = get_channel_txn(conn, channel_id)
        bad = [t for t in (exempt or []) if t not in channel.charter.types and t not in CONTROL_TYPES]
        if bad:
            raise UsageError(
                T(
                    "exempt type(s) {bad} are not in the charter of {channel_id!r}",
                    bad=bad,
                    channel_id=channel_id,
                ),
                hint=T(
                    "charter types: {channel_charter_types}",
                    channel_charter_types=", ".join(channel.charter.types),
                ),
            )
        record = make_status_record(
            key=node.key,
            signer=node.name,
            channel=channel_id,
            status=status,
            reason=reason,
            effective=format_time(now),
            exempt_types=exempt,
        )
        apply_status_record_txn(conn, record, now)
        queue_control_txn(conn, node, channel.charter.member_nodes, "status", record.to_json())
    return record
