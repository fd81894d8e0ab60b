"""Workflow rules checked on every envelope, on the sending side and on the receiving side.

Two kinds of rule, kept apart on purpose:

* rules that depend only on the envelope and the channel's signed charter (agenda topics
  within the charter's topics) hold on both sides: a receiver refuses an envelope that
  breaks them, exactly as it refuses a type the charter does not allow;
* rules that depend on the state of an incident or meeting (agree only to the pending
  proposal, sign only the latest draft) are checked when sending, against the record the
  sender holds. A receiver does not refuse on them: a refused envelope would block the
  sender's chain for good, and two sides acting at once can each be right by their own
  record. The projections instead fold such envelopes deterministically, marked *not
  applied* with the reason, so both sides still agree.
"""

from __future__ import annotations

from sqlalchemy import Connection

from parley.channels.registry import Channel
from parley.protocol.envelope import SignedEnvelope


def check_workflow_rules(channel: Channel, env: SignedEnvelope, conn: Connection | None = None) -> None:
    """Raise a ParleyError if ``env`` breaks a workflow rule; ``conn`` given when sending."""
    from parley.workflows.incidents import RESPONSE_TYPE, check_response_txn
    from parley.workflows.meetings import (
        MEETING_TYPES,
        PROPOSAL,
        check_agenda_topics,
        check_meeting_txn,
    )

    if env.type == PROPOSAL:
        check_agenda_topics(channel.charter.topics, channel.id, env.body)
    if conn is None:
        return
    if env.type == RESPONSE_TYPE:
        check_response_txn(conn, env)
    elif env.type in MEETING_TYPES:
        check_meeting_txn(conn, env)
