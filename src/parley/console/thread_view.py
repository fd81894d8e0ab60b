"""The message page's thread and reply buttons (docs/console.md §Message page; protocol §4.3).

The thread is what both nodes hold: messages linked by their signed ``reply_to`` references
(:mod:`parley.messaging.threads`). Each button opens Compose prefilled — channel, type,
precedence, status, the message answered and the body the action implies — so the operator
writes only the text; nothing is sent until they preview and send it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from parley.console.views import when
from parley.directory.operators import Operator
from parley.messaging.threads import Action, reply_actions, thread_of
from parley.node import Node
from parley.watch.pagers import ngettext

# Compose carries at most this many extra references from a prefilled action (the API's bound).
MAX_COMPOSE_REFS = 50


def thread_panel(node: Node, op: Operator, message_id: str) -> dict[str, Any]:
    """The thread of ``message_id`` and the replies ``op`` may start; call after the page's
    visibility check (a thread never leaves its channel, so it is visible as a whole)."""
    messages = [
        dict(m, created_text=when(m["created_at"], op.lang), current=m["id"] == message_id)
        for m in thread_of(node, message_id)
    ]
    actions = [
        {"name": a.name, "label_key": a.label_key, "url": compose_url(a)}
        for a in reply_actions(node, op, message_id)
    ]
    return {
        "messages": messages,
        "actions": actions,
        "threaded": len(messages) > 1,
        "title": ngettext(op.lang, "console.thread.title", len(messages)),
    }


def compose_url(action: Action) -> str:
    """The Compose address that opens ``action``'s form filled in (body fields by JSON pointer)."""
    query: list[tuple[str, str]] = [
        ("_channel", action.channel),
        ("_type", action.type),
        ("_precedence", action.precedence),
        ("_status", action.status),
        ("_reply_to", action.reply_to),
    ]
    query += [("_ref", r) for r in action.refs if r != action.reply_to]
    query += [(f"/{k}", str(v)) for k, v in action.body.items() if isinstance(v, str | int) and v != ""]
    return "/console/compose?" + urlencode(query)


def reply_fields(form: Mapping[str, Iterable[str]]) -> tuple[str | None, tuple[str, ...]]:
    """The message answered and the extra references a compose form carries; anything that is
    not a message id is dropped (the send checks the answered message exists)."""
    reply_to = next((v for v in form.get("_reply_to", ()) if _is_id(v)), None)
    refs = tuple(dict.fromkeys(v for v in list(form.get("_ref", ()))[:MAX_COMPOSE_REFS] if _is_id(v)))
    return reply_to, refs


def _is_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
