"""The answer of ``GET /api/v1/messages``: one page of messages and links to its neighbours.

Keyset pagination (see :mod:`parley.messaging.search`): ``next`` and ``prev`` are relative
URLs (RFC 3986 §4.2) that repeat the filters and carry an opaque cursor; a client follows
them until ``next`` is null. Declared as Pydantic models so the OpenAPI document describes
the shape exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from parley.messaging.search import MessagePage, MessageQuery

PATH = "/api/v1/messages"
Precedence = Literal["FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE"]
Status = Literal["ACTUAL", "EXERCISE", "TEST"]


class MessageRow(BaseModel):
    """A message as listed; ``GET /api/v1/messages/{id}`` has the signed original and renderings."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    channel: str
    from_: str = Field(alias="from", description="sender as node/desk")
    seq: int
    type: str
    precedence: str
    status: str
    created: str = Field(description="when the sender signed it, RFC 3339 UTC")
    direction: str = Field(description="in (received) or out (sent by this node)")
    receipted_at: str | None = None
    due_at: str | None = Field(default=None, description="when the acknowledgment is due, if it is")
    acknowledged_by: str | None = None
    acknowledged_at: str | None = None
    late: bool | None = None
    summary: str | None = None


class MessageListOut(BaseModel):
    """One page, newest first."""

    items: list[MessageRow]
    total: int = Field(description="messages matching the filters (exact)")
    position: int = Field(description="0-based place of the first item in the whole result")
    next: str | None = Field(description="URL of the next (older) page; null on the last")
    prev: str | None = Field(description="URL of the previous (newer) page; null on the first")


def _link(query: MessageQuery, limit: int, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return f"{PATH}?{urlencode([*query.to_params(), ('limit', str(limit)), ('cursor', cursor)])}"


def page_out(page: MessagePage, query: MessageQuery, limit: int) -> MessageListOut:
    return MessageListOut(
        items=[MessageRow.model_validate(item) for item in page.items],
        total=page.total,
        position=page.position,
        next=_link(query, limit, page.next_cursor),
        prev=_link(query, limit, page.prev_cursor),
    )


def api_query(
    q: str | None,
    channel: Sequence[str],
    type: Sequence[str],
    precedence: Sequence[str],
    direction: str | None,
    ack: str | None,
    status: Sequence[str],
    since: str | None,
    until: str | None,
    incident: str | None,
) -> MessageQuery:
    """The query of the route's parameters, through the same reader as the console's URLs."""
    lists = {"channel": channel, "type": type, "precedence": precedence, "status": status}
    single = {
        "q": q,
        "direction": direction,
        "ack": ack,
        "since": since,
        "until": until,
        "incident": incident,
    }
    params: dict[str, str | list[str]] = {k: list(v) for k, v in lists.items() if v}
    params.update({k: v for k, v in single.items() if v is not None})
    return MessageQuery.from_params(params)
