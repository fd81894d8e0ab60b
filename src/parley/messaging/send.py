"""Sending: check, sign, chain and store an envelope in the outbox, in one transaction.

Delivery is the federation's job (parley.federation.sender): it reads what peers have not
receipted straight from the stored chains, so the "outbox" is a query, not a queue that
could diverge from the record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from parley.channels.registry import get_channel_txn
from parley.directory.audit import audit_txn
from parley.errors import ForbiddenError, ParleyError, UsageError
from parley.formats.texts import T
from parley.messaging.chains import chain_head_txn, store_envelope_txn
from parley.messaging.hooks import hooks
from parley.messaging.search_index import index_message_txn
from parley.node import Node
from parley.protocol.envelope import PRECEDENCES, STATUSES, SignedEnvelope, build_envelope
from parley.record.journal import buffered

R = TypeVar("R")


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
    reply_to: str | None = None  # the id of the message this answers (docs/protocol.md §4.3)


def validate_draft(node: Node, draft: Draft, lang: str = "en") -> int:
    """Check everything that does not need the database; return the schema version."""
    if draft.precedence not in PRECEDENCES:
        raise UsageError(
            T("unknown precedence {draft_precedence!r}", draft_precedence=draft.precedence),
            hint=T("one of {precedences}", precedences=", ".join(PRECEDENCES)),
        )
    if draft.status not in STATUSES:
        raise UsageError(
            T("unknown status {draft_status!r}", draft_status=draft.status),
            hint=T("one of {statuses}", statuses=", ".join(STATUSES)),
        )
    if draft.type == "acknowledgment":
        raise UsageError(T("acknowledgments are sent with `parley ack MESSAGE_ID`"))
    from parley.formats.registry import latest_version, validate_body

    version = draft.type_version or latest_version(draft.type)
    validate_body(draft.type, version, draft.body, lang=lang)
    return version


def do_send_message(node: Node, draft: Draft, *, lang: str = "en", acting_for: Any = None) -> SignedEnvelope:
    """Sign and store ``draft``; nothing is stored if any check fails.

    ``acting_for`` is the Operator on whose behalf the node sends (None from the CLI run
    by the node's owner), who must hold a sending role on the desk.
    """
    with node.engine.begin() as conn:
        return send_txn(node, conn, draft, lang=lang, acting_for=acting_for)


def do_send_many(
    node: Node, drafts: list[Draft], *, lang: str = "en", acting_for: Any = None
) -> list[SignedEnvelope]:
    """Sign and store several drafts in one transaction (one commit): all or none."""
    with node.engine.begin() as conn, buffered(conn):
        return [send_txn(node, conn, d, lang=lang, acting_for=acting_for) for d in drafts]


def send_group_txn(
    node: Node, conn: Any, items: list[tuple[Draft, str, Any]], *, isolate: bool = True
) -> list[SignedEnvelope | ParleyError]:
    """Group commit, inside the caller's (buffered) transaction: each (draft, lang, operator)
    is checked and stored on its own savepoint, so one refused draft refuses only itself, and
    the group shares one commit (one fsync) — see ``parley.running.committer``.

    ``isolate=False`` skips the savepoints: a draft refused by its checks wrote nothing, so
    only a refusal while storing (never expected) must fail the whole transaction, which the
    caller then runs again isolated (``parley.running.committer``)."""
    out: list[SignedEnvelope | ParleyError] = []
    for draft, lang, operator in items:
        if isolate:

            def act(d: Draft = draft, la: str = lang, op: Any = operator) -> SignedEnvelope:
                return send_txn(node, conn, d, lang=la, acting_for=op)

            out.append(isolated_txn(conn, act))
            continue
        try:
            env, now = checked_envelope_txn(node, conn, draft, lang=lang, acting_for=operator)
        except ParleyError as exc:
            out.append(exc)
            continue
        store_sent_txn(conn, env, now, operator)
        out.append(env)
    return out


def isolated_txn(conn: Any, act: Callable[[], R]) -> R | ParleyError:
    """Run ``act`` on a savepoint: a ParleyError undoes only its own writes (and log leaves)."""
    from parley.record.journal import BUFFER

    mark = len(conn.info[BUFFER])
    savepoint = conn.begin_nested()
    try:
        result = act()
    except ParleyError as exc:
        savepoint.rollback()
        del conn.info[BUFFER][mark:]  # the refused act's log leaves go too
        return exc
    savepoint.commit()
    return result


def send_txn(
    node: Node, conn: Any, draft: Draft, *, lang: str = "en", acting_for: Any = None
) -> SignedEnvelope:
    """The checks, signature and storage of one draft, inside the caller's transaction."""
    env, now = checked_envelope_txn(node, conn, draft, lang=lang, acting_for=acting_for)
    store_sent_txn(conn, env, now, acting_for)
    return env


def checked_envelope_txn(
    node: Node, conn: Any, draft: Draft, *, lang: str = "en", acting_for: Any = None
) -> tuple[SignedEnvelope, datetime]:
    """Every check of ``draft``, and its signed envelope next in the chain with the time it
    was made; writes nothing, so a refusal here needs no savepoint to undo."""
    if acting_for is not None and not acting_for.can_act_on(draft.desk):
        raise ForbiddenError(
            T(
                "{acting_for_username} may not send for desk {draft_desk!r}",
                acting_for_username=acting_for.username,
                draft_desk=draft.desk,
            )
        )
    channel = get_channel_txn(conn, draft.channel)
    if draft.desk not in channel.charter.desks_of(node.name):
        raise UsageError(
            T(
                "desk {draft_desk!r} is not a member of channel {draft_channel!r}",
                draft_desk=draft.desk,
                draft_channel=draft.channel,
            ),
            hint=T(
                "member desks of this node: {channel_charter_desks_of}",
                channel_charter_desks_of=", ".join(channel.charter.desks_of(node.name)),
            ),
        )
    channel.check_allows(draft.type)
    # The body is checked only once the charter allows its type: a type the channel
    # does not carry should be refused as such, not for the fields it lacks.
    version = validate_draft(node, draft, lang)
    if node.hold_sending is not None:
        node.hold_sending(draft.channel)  # recovering after a restore (parley.continuity.recovery)
    head = chain_head_txn(conn, draft.channel, node.name, for_update=True)
    seq, prev = (1, None) if head is None else (head[0] + 1, head[1])
    reply_ref, refs = None, list(draft.refs)
    if draft.reply_to is not None:
        from parley.messaging.threads import reply_reference_txn

        reply_ref = reply_reference_txn(conn, draft.channel, draft.reply_to)
        refs = list(dict.fromkeys([draft.reply_to, *refs]))  # §4.3: the answered id is in refs
    now = node.clock.now()
    env = build_envelope(
        key=node.signing_key(now),  # a rotation dated ahead takes over at its time (§13.4)
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
        refs=refs,
        reply_to=reply_ref,
    )
    hooks().check_rules(channel, env, conn)
    return env, now


def store_sent_txn(conn: Any, env: SignedEnvelope, now: datetime, acting_for: Any = None) -> None:
    """Store a checked envelope on this node's chain, with the operator's audit entry."""
    store_envelope_txn(conn, env, outgoing=True, stored_at=now)
    index_message_txn(conn, env, outgoing=True)  # found by search from the moment it is stored
    if env.reply_to is not None:
        from parley.messaging.threads import link_reply_txn

        link_reply_txn(conn, env)
    if acting_for is not None:
        audit_txn(
            conn, now, acting_for.username, "send", {"id": env.id, "channel": env.channel, "type": env.type}
        )
