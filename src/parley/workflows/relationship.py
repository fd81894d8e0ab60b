"""The status of a whole relationship: every channel shared with one peer, changed at once.

The 2014 case: all bilateral military cooperation with a party suspended, except the coast
guard, the border commissioners, search and rescue, INCSEA and the direct line. That is one
decision, but each channel's status is its own signed record (parley.channels.status), so
a relationship change is the same reason signed onto one record per channel, the exempt
channels left untouched and the exempt types kept flowing on the suspended ones.

Every target channel is checked before any record is signed, so a change that cannot be
made in full (an unknown peer or exempt channel, a closed channel) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parley.channels.registry import Channel, list_channels_txn
from parley.channels.status import TRANSITIONS, StatusRecord, history_txn
from parley.errors import NotFoundError, UsageError
from parley.formats.texts import T
from parley.node import Node

# What each relationship action sets, and from which statuses it applies.
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "suspend": ("suspended", ("active", "suspended")),
    "resume": ("active", ("suspended",)),
    "activate": ("active", ("planned",)),
    "close": ("closed", ("planned", "active", "suspended")),
}


@dataclass(frozen=True)
class PlannedChange:
    channel: str
    before: str
    after: str
    exempt_types: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "from": self.before,
            "to": self.after,
            "exempt_types": self.exempt_types,
        }


def channels_with(node: Node, peer: str) -> list[Channel]:
    with node.reader.connect() as conn:
        return [
            c
            for c in list_channels_txn(conn)
            if peer in c.charter.member_nodes and node.name in c.charter.member_nodes
        ]


def plan_relationship_change(
    node: Node,
    action: str,
    peer: str,
    *,
    exempt_channels: list[str] | None = None,
    exempt_types: list[str] | None = None,
) -> tuple[list[PlannedChange], list[str]]:
    """What ``action`` would change: (changes, channels left as they are with why)."""
    if action not in ACTIONS:
        raise UsageError(
            T("unknown relationship action {action!r}", action=action),
            hint=T("one of {actions}", actions=", ".join(ACTIONS)),
        )
    target, applies_to = ACTIONS[action]
    chans = channels_with(node, peer)
    if not chans:
        from parley.directory.peers import get_peer

        get_peer(node, peer)  # an unknown peer is NotFound with its own hint
        raise NotFoundError(
            T("this node shares no channel with {peer}", peer=peer), hint=T("see `parley channel list`")
        )
    ids = {c.id for c in chans}
    unknown = [c for c in exempt_channels or [] if c not in ids]
    if unknown:
        raise UsageError(
            T("exempt channel(s) {unknown} are not channels with {peer}", unknown=unknown, peer=peer),
            hint=T("channels with {peer}: {ids}", peer=peer, ids=", ".join(sorted(ids))),
        )
    types = sorted(set(exempt_types or []))
    if types and action != "suspend":
        raise UsageError(T("exempt types apply to a suspension only"), hint=T("drop --exempt-type"))
    if types and not any(t in c.charter.types for c in chans for t in types):
        raise UsageError(
            T("exempt type(s) {types} are in no charter of a channel with {peer}", types=types, peer=peer),
            hint=T("name message types the channels carry (see `parley channel show CHANNEL`)"),
        )
    changes: list[PlannedChange] = []
    kept: list[str] = []
    for c in chans:
        if c.id in (exempt_channels or []):
            kept.append(f"{c.id}: exempt, stays {c.status}")
        elif c.status not in applies_to or target not in TRANSITIONS[c.status]:
            kept.append(f"{c.id}: is {c.status}, not changed by {action}")
        else:
            own_types = [t for t in types if t in c.charter.types]
            changes.append(PlannedChange(c.id, c.status, target, own_types))
    return changes, kept


def do_change_relationship(
    node: Node,
    action: str,
    peer: str,
    reason: str,
    *,
    exempt_channels: list[str] | None = None,
    exempt_types: list[str] | None = None,
) -> list[StatusRecord]:
    """Sign one status record per affected channel, all with the same reason."""
    from parley.channels.lifecycle import do_change_status

    if not reason.strip():
        raise UsageError(T("a relationship change needs a reason"), hint=T("pass --reason '…'"))
    changes, _ = plan_relationship_change(
        node, action, peer, exempt_channels=exempt_channels, exempt_types=exempt_types
    )
    if not changes:
        raise UsageError(
            T("no channel with {peer} would change", peer=peer),
            hint=T("see `parley relationship show --peer PEER`"),
        )
    return [
        do_change_status(
            node, ch.channel, ch.after, reason, ch.exempt_types if ch.after == "suspended" else None
        )
        for ch in changes
    ]


def relationship_history(node: Node, peer: str) -> list[StatusRecord]:
    """Every status record of every channel with ``peer``, in the order they took effect."""
    chans = channels_with(node, peer)
    with node.reader.connect() as conn:
        records = [r for c in chans for r in history_txn(conn, c.id)]
    return sorted(records, key=lambda r: (r.effective, r.channel))
