"""Sending: check, sign, chain and store an envelope in the outbox, in one transaction.

Delivery is the federation's job (parley.federation.sender): it reads what peers have not
receipted straight from the stored chains, so the "outbox" is a query, not a queue that
could diverge from the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parley.channels.registry import get_channel_txn
from parley.errors import ForbiddenError, UsageError
from parley.messaging.chains import chain_head_txn, store_envelope_txn
from parley.node import Node
from parley.protocol.envelope import PRECEDENCES, STATUSES, SignedEnvelope, build_envelope


@dataclass(frozen=True)
class Draft:
    channel: str
    desk: str
    type: str
    precedence: str
    status: str
    body: dict[str, Any]
    refs: tuple[str, ...] = ()
    type_version: int | None = None


def validate_draft(node: Node, draft: Draft, lang: str = "en") -> int:
    """Check everything that does not need the database; return the schema version."""
    if draft.precedence not in PRECEDENCES:
        raise UsageError(
            f"unknown precedence {draft.precedence!r}", hint=f"one of {', '.join(PRECEDENCES)}"
        )
    if draft.status not in STATUSES:
        raise UsageError(f"unknown status {draft.status!r}", hint=f"one of {', '.join(STATUSES)}")
    if draft.type == "acknowledgment":
        raise UsageError("acknowledgments are sent with `parley ack MESSAGE_ID`")
    from parley.formats.registry import latest_version, validate_body

    version = draft.type_version or latest_version(draft.type)
    validate_body(draft.type, version, draft.body, lang=lang)
    return version


def do_send_message(
    node: Node, draft: Draft, *, lang: str = "en", acting_for: Any = None
) -> SignedEnvelope:
    """Sign and store ``draft``; nothing is stored if any check fails.

    ``acting_for`` is the Operator on whose behalf the node sends (None from the CLI run
    by the node's owner), who must hold a sending role on the desk.
    """
    if acting_for is not None and not acting_for.can_act_on(draft.desk):
        raise ForbiddenError(f"{acting_for.username} may not send for desk {draft.desk!r}")
    with node.engine.begin() as conn:
        channel = get_channel_txn(conn, draft.channel)
        if draft.desk not in channel.charter.desks_of(node.name):
            raise UsageError(
                f"desk {draft.desk!r} is not a member of channel {draft.channel!r}",
                hint=f"member desks of this node: {', '.join(channel.charter.desks_of(node.name))}",
            )
        channel.check_allows(draft.type)
        # The body is checked only once the charter allows its type: a type the channel
        # does not carry should be refused as such, not for the fields it lacks.
        version = validate_draft(node, draft, lang)
        head = chain_head_txn(conn, draft.channel, node.name, for_update=True)
        seq, prev = (1, None) if head is None else (head[0] + 1, head[1])
        now = node.clock.now()
        env = build_envelope(
            key=node.key,
            channel=draft.channel,
            sender_node=node.name,
            sender_desk=draft.desk,
            seq=seq,
            prev=prev,
            created=now,
            type=draft.type,
            type_version=version,
            precedence=draft.precedence,
            status=draft.status,
            body=draft.body,
            refs=list(draft.refs),
        )
        store_envelope_txn(conn, env, outgoing=True, stored_at=now)
    return env
