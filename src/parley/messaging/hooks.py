"""Where the layers above messaging plug in: workflow rules and projections, the actions a
thread offers, and the watch's pages and escalation chains.

Messaging sits below the workflows and the watch (docs/architecture.md) and does not import
them. Yet no envelope may be stored without its workflow projection, and no workflow rule
may be skipped. So the running node wires their functions in here once
(:func:`parley.running.wiring.wire`, run when ``parley.running`` is imported, which the
CLI, the API and the console all do), and messaging asks :func:`hooks` for them: a process
that never wired them fails loudly instead of silently storing envelopes unprojected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from parley.channels.registry import Channel
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope

# offer(name, type, body, refs): propose one action on a message page.
Offer = Callable[..., None]


@dataclass(frozen=True)
class Hooks:
    # Raise a ParleyError if the envelope breaks a workflow rule; the connection is given
    # when sending (rules on incident and meeting state), None when receiving.
    check_rules: Callable[[Channel, SignedEnvelope, Connection | None], None]
    # Update the workflow projections in the transaction that stores the envelope.
    project_txn: Callable[[Connection, SignedEnvelope], None]
    # Offer the workflow steps a message allows (respond to an incident, accept a meeting…).
    thread_actions: Callable[[Node, SignedEnvelope, str, Offer], None]
    # Every page sent about a message, for its page and `parley show`.
    pages_for: Callable[[Node, str], list[dict[str, Any]]]
    # Whether an escalation chain pages people about this message.
    chain_covers: Callable[[Node, str], bool]


_installed: Hooks | None = None


def install(hooks_: Hooks) -> None:
    global _installed
    _installed = hooks_


def hooks() -> Hooks:
    if _installed is None:
        # A programming error, not an operator's: every entry point imports parley.running.
        raise RuntimeError("messaging hooks are not wired: import parley.running first")
    return _installed
