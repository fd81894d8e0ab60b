"""Rotating the operational key while the node serves (docs/protocol.md §13.4, issue 15).

A rotation takes effect at its ``effective`` time, which the root signs. Dated ahead
(``parley key rotate --effective TIME``), it can be signed where the root is and installed
with ``--apply`` while ``parley serve`` runs: the record is stored and queued for every peer
at once, the new key stays in ``identity.key.pending``, and the serving process, on its
next tick, schedules the new key for that time (``Node.next_key``). From then on an
envelope is signed by the key valid at its ``created`` time (``Node.signing_key``), so
nothing signed before the time carries the new key and nothing after it the old one; at
the first tick past the time the new key becomes ``identity.key`` and signs everything else.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from parley.clock import format_time, parse_time
from parley.errors import UsageError
from parley.formats.texts import T
from parley.node import KEY_FILE, Node
from parley.protocol.keys import SigningKeyPair

# How far ahead a rotation must be dated when it is requested (to carry it to the root and
# back) and when it is installed (for the serving process to see it before its time).
REQUEST_LEAD_S = 10
APPLY_LEAD_S = 5


def check_ahead(node: Node, effective: str, *, at_request: bool) -> str:
    """``effective`` if it is far enough ahead of now, else a usage error saying what to do."""
    lead = REQUEST_LEAD_S if at_request else APPLY_LEAD_S
    earliest = format_time(node.clock.now() + timedelta(seconds=lead))
    if effective < earliest:
        if at_request:
            hint = T(
                "date it at least {lead} seconds ahead, with time to sign it where the root is: "
                "--effective {earliest}",
                lead=lead,
                earliest=earliest,
            )
        else:
            hint = T(
                "delete identity.key.pending and make a new request dated later "
                "(`parley key rotate --request FILE --effective TIME`)"
            )
        raise UsageError(
            T(
                "the rotation takes effect at {effective}, less than {lead} seconds from now",
                effective=effective,
                lead=lead,
            ),
            code="effective_too_soon",
            hint=hint,
        )
    return effective


def take_up_rotation(node: Node) -> str | None:
    """In the serving process, each tick: schedule or make the switch to a rotation installed
    ahead of its time. Returns "scheduled", "switched" or None (nothing to do)."""
    from parley.directory.keys import PENDING_KEY_FILE, own_history

    pending = node.home / PENDING_KEY_FILE
    if not pending.exists():
        return None
    history = own_history(node)  # from the database: another process installed it
    new = SigningKeyPair.load(pending)
    if history is None or history.current_id != new.public.key_id or node.key.public == new.public:
        return None  # requested, not installed yet
    at = parse_time(history.entries[new.public.key_id].valid_from)
    if node.clock.now() >= at:
        os.replace(pending, node.home / KEY_FILE)
        node.key = new
        node.next_key, node.next_at = None, None
        node.forget_key_cache()
        return "switched"
    if node.next_key is None or node.next_key.public != new.public:
        node.next_at = at  # before next_key: signing_key reads the key only with its time
        node.next_key = new
        node.forget_key_cache()  # this node's own history now has the new key
        return "scheduled"
    return None


def certificate_for(docs: dict[str, Any], key_id: str) -> dict[str, Any]:
    """The signed certificate of ``key_id`` in a node's history documents (the current one
    when it is not there): a card is signed by the key its certificate certifies, which
    between a rotation's installation and its time is the key it replaces."""
    from parley.directory.keys import current_certificate

    certs = [docs["certificate"]] + [
        d["record"]["certificate"] for d in docs["records"] if d["record"]["kind"] == "key-rotation"
    ]
    for cert in certs:
        if cert["cert"]["key_id"] == key_id:
            return dict(cert)
    return current_certificate(docs)
