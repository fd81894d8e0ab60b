"""Who may do what: the one authorization policy of the operator API and the console.

Role-based access control in the sense of NIST's RBAC model (INCITS 359): permissions are
given to roles, operators hold a role per desk (:mod:`parley.directory.operators`).

* Every route of the node's HTTP application declares the one :class:`Action` it performs,
  with :class:`Acting` (an operator must be logged in and hold a role that allows it) or
  :class:`Declared` / :func:`declare` (routes that no operator role governs: log-in pages,
  health, static files, the federation API signed by peers, the metrics scrape). A test
  walks every route of the application and fails on one that declares nothing.
* :data:`ROLE_ACTIONS` says which roles allow which action. An operator may perform an
  action when any of their roles allows it; a role that does not: **403**.
* Channels, and everything on them (messages, acknowledgments, link states, overdue
  deadlines), are desk-scoped: an operator sees a channel only when one of their desks is a
  member of it (an admin sees every channel). One that is not visible is answered **404**,
  exactly as one that does not exist, so its existence is not revealed. Sending and
  acknowledging also need a role that allows it on a member desk of that channel.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from parley.directory.operators import ROLES, Operator
from parley.errors import ForbiddenError, NotFoundError, UsageError
from parley.formats.texts import T, Text

if TYPE_CHECKING:
    from parley.channels.registry import Channel
    from parley.node import Node


class Action(StrEnum):
    PUBLIC = "public"  # no log-in: log-in forms, health, static files, API documentation
    PEER = "peer"  # the federation API: a pinned peer's signature, not an operator
    SCRAPE = "scrape"  # /metrics: its scrape credential, not an operator
    SELF = "self"  # one's own settings
    READ = "read"
    SEND = "send"
    ACKNOWLEDGE = "acknowledge"
    MANAGE_CHANNEL = "manage_channel"
    MANAGE_WATCH = "manage_watch"  # a desk's roster: who is on watch when
    VERIFY = "verify"
    ADMIN = "admin"


_READER = frozenset({Action.SELF, Action.READ, Action.VERIFY})
ROLE_ACTIONS: Mapping[str, frozenset[Action]] = {
    "auditor": _READER,
    "duty": _READER | {Action.SEND, Action.ACKNOWLEDGE},
    "supervisor": _READER | {Action.SEND, Action.ACKNOWLEDGE, Action.MANAGE_CHANNEL, Action.MANAGE_WATCH},
    "admin": _READER
    | {Action.SEND, Action.ACKNOWLEDGE, Action.MANAGE_CHANNEL, Action.MANAGE_WATCH, Action.ADMIN},
}
assert set(ROLE_ACTIONS) == set(ROLES)

# The names a reader sees. An action completes "{operator} may not …" (en "may not send").
ACTION_NAMES: Mapping[Action, Text] = {
    # Translators: completes "{op_username} may not …": the action in the infinitive.
    Action.PUBLIC: T("open the public pages"),
    Action.PEER: T("speak for a peer node"),
    Action.SCRAPE: T("read the metrics"),
    Action.SELF: T("change their own settings"),
    Action.READ: T("read"),
    Action.SEND: T("send"),
    Action.ACKNOWLEDGE: T("acknowledge"),
    Action.MANAGE_CHANNEL: T("manage channel"),
    Action.MANAGE_WATCH: T("manage watch"),
    Action.VERIFY: T("verify"),
    Action.ADMIN: T("administer"),
}
ROLE_NAMES: Mapping[str, Text] = {
    "duty": T("duty"),
    "supervisor": T("supervisor"),
    "auditor": T("auditor"),
    "admin": T("admin"),
}


def action_name(action: Action) -> Text:
    return ACTION_NAMES[action]


def role_name(role: str) -> Text | str:
    """A role in the reader's language (a code this version does not know is shown as it is)."""
    return ROLE_NAMES.get(role, role)


def role_names(roles: Iterable[str]) -> list[Text | str]:
    """Roles in the reader's language, in the order of :data:`ROLES`, each once."""
    given = set(roles)
    return [role_name(r) for r in ROLES if r in given] + [r for r in sorted(given) if r not in ROLES]


# Actions no operator role governs: the route's own check (or none) applies.
NOT_BY_ROLE = frozenset({Action.PUBLIC, Action.PEER, Action.SCRAPE})


def role_allows(role: str | None, action: Action) -> bool:
    return role is not None and action in ROLE_ACTIONS.get(role, frozenset())


def allows(op: Operator, action: Action) -> bool:
    return any(role_allows(r, action) for r in op.roles.values())


def require(op: Operator, action: Action) -> None:
    if not allows(op, action):
        roles = role_names(op.roles.values())
        may = role_names(r for r, acts in ROLE_ACTIONS.items() if action in acts)
        raise ForbiddenError(
            T(
                "{op_username} may not {action_value_replace} (roles: {roles})",
                op_username=op.username,
                action_value_replace=action_name(action),
                roles=roles or T("none"),
            ),
            code="not_allowed",
            hint=T("this needs one of the roles {may}; ask an admin", may=may),
        )


# --- channels: who sees them and acts on them ----------------------------------------------
def sees_desks(op: Operator, member_desks: Sequence[str]) -> bool:
    """Whether ``op`` sees a channel whose member desks on this node are ``member_desks``."""
    return op.is_admin or any(d in op.roles for d in member_desks)


def sees_channel(node: Node, op: Operator, channel: Channel) -> bool:
    return sees_desks(op, channel.charter.desks_of(node.name))


def visible_channels(node: Node, op: Operator) -> list[Channel]:
    from parley.channels.registry import list_channels_txn

    with node.reader.connect() as conn:
        return [c for c in list_channels_txn(conn) if sees_channel(node, op, c)]


def visible_channel_ids(node: Node, op: Operator) -> set[str]:
    return {c.id for c in visible_channels(node, op)}


def acting_desks(member_desks: Sequence[str], op: Operator, action: Action = Action.SEND) -> list[str]:
    """The member desks for which ``op``'s role on that very desk allows ``action``."""
    return [d for d in member_desks if role_allows(op.roles.get(d), action)]


def not_found_channel(channel_id: str) -> NotFoundError:
    return NotFoundError(
        T("unknown channel {channel_id!r}", channel_id=channel_id),
        code="unknown_channel",
        hint=T("see GET /api/v1/channels"),
    )


def desk_to_act_for(
    op: Operator,
    channel_id: str,
    member_desks: Sequence[str] | None,
    action: Action,
    desk: str | None = None,
) -> str:
    """The desk ``op`` acts for on a channel (``member_desks``: None if it does not exist).

    404 if the channel is not visible to ``op``; 403 if no member desk of theirs allows
    ``action``, or ``desk`` is not one of them; 400 if they must say which desk."""
    if member_desks is None or not sees_desks(op, member_desks):
        raise not_found_channel(channel_id)
    desks = acting_desks(member_desks, op, action)
    if desk is None:
        if len(desks) == 1:
            return desks[0]
        if desks:
            raise UsageError(
                T("say which desk sends (desk)"),
                code="desk_required",
                hint=T(
                    "{op_username} may act for {desks} on {channel_id}",
                    op_username=op.username,
                    desks=", ".join(desks),
                    channel_id=channel_id,
                ),
            )
    elif desk in desks:
        return desk
    elif desk not in member_desks:
        raise UsageError(
            T("desk {desk!r} is not a member of channel {channel_id!r}", desk=desk, channel_id=channel_id),
            hint=T("member desks of this node: {member_desks}", member_desks=", ".join(member_desks)),
        )
    raise ForbiddenError(
        T(
            "{op_username} may not {action_value} for {desk} on channel {channel_id!r}",
            op_username=op.username,
            action_value=action_name(action),
            desk=T("desk {desk!r}", desk=desk) if desk else T("any member desk"),
            channel_id=channel_id,
        ),
        code="not_allowed",
        hint=T("this needs a duty, supervisor or admin role on a member desk of the channel"),
    )


class MemberDesks:
    """This node's member desks of every channel, kept for ``ttl_s`` seconds.

    Sending is the hot path: its visibility check should not cost a database read per
    message. Charters do not change their members once both sides signed them; a channel
    not known yet is looked up again at once, so a channel just opened is usable at once."""

    def __init__(self, ttl_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._until = 0.0
        self._desks: dict[str, tuple[str, ...]] = {}

    async def of(self, service: Any, channel: str) -> tuple[str, ...] | None:
        """This node's member desks of ``channel``; None if there is no such channel."""
        if self.clock() >= self._until or channel not in self._desks:
            self._desks = await service.db(self.load, service.node)
            self._until = self.clock() + self.ttl_s
        return self._desks.get(channel)

    @staticmethod
    def load(node: Node) -> dict[str, tuple[str, ...]]:
        from parley.channels.registry import list_channels_txn

        with node.reader.connect() as conn:
            return {c.id: tuple(c.charter.desks_of(node.name)) for c in list_channels_txn(conn)}


def status_for(node: Node, op: Operator, status: dict[str, Any]) -> dict[str, Any]:
    """The node's status as ``op`` may see it: an admin sees everything; anyone else sees
    the channels of their desks only (and the overdue messages, meetings and link alarms on
    them). Peers, the record and alarms that name no channel are the node's, not a desk's,
    and every role sees them."""
    if op.is_admin:
        return status
    seen = visible_channel_ids(node, op)
    every = MemberDesks.load(node)
    hidden = set(every) - seen

    def keep(item: Any) -> bool:
        if not isinstance(item, dict):
            return True
        channel = item.get("channel")
        if channel is not None:
            return channel in seen
        subject = str(item.get("subject", ""))
        return not any(subject == c or subject.startswith(f"{c}/") for c in hidden)

    return {k: [i for i in v if keep(i)] if isinstance(v, list) else v for k, v in status.items()}
