"""Drills in the manner of the IAEA's ConvEx-1: is the other side's 24/7 desk really there?

A drill is one message: type ``general``, status TEST, precedence FLASH, addressed in its
text to the other side's duty desks on the channel. Its status marks it as drill traffic in
every view and export, and a TEST message never opens an incident
(:func:`parley.workflows.incidents.opens_incident`). What is measured comes from the signed
record alone: time to receipt (the other node's signed receipt) and time to human
acknowledgment (its signed acknowledgment envelope), against the channel's FLASH deadline.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, select

from parley.clock import parse_time
from parley.errors import NotFoundError, UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.storage.tables import acknowledgments, delivery, envelopes
from parley.workflows.tables import drills


@dataclass(frozen=True)
class DrillReport:
    id: str
    channel: str
    desk: str
    started_at: str
    started_by: str
    deadline_s: int
    receipts: dict[str, float]  # receiver node -> seconds from sending to its receipt
    acknowledged_by: str | None
    acknowledged_node: str | None
    ack_s: float | None
    met_deadline: bool | None  # None while it can still be met

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"status": "TEST", "precedence": "FLASH"}

    def to_text(self, lang: str = "en") -> str:
        """The after-action report for a person, in ``lang``."""
        from parley.formats.times import when

        at = when(self.started_at, None, lang, with_date=True)
        lines = [
            T("[TEST] After-action report, drill {id}", id=self.id),
            T(
                "channel {channel}, sent by {by} from desk {desk} at {at}",
                channel=self.channel,
                by=T("the command line") if self.started_by == "cli" else self.started_by,
                desk=self.desk,
                at=at,
            ),
            T("precedence FLASH, status TEST; acknowledgment deadline {s} s", s=self.deadline_s),
        ]
        if not self.receipts:
            lines.append(T("receipt: none yet — the message has not reached the other node"))
        for node, secs in sorted(self.receipts.items()):
            lines.append(T("receipt: {node} stored and signed for it after {s:.1f} s", node=node, s=secs))
        if self.ack_s is None:
            lines.append(T("acknowledgment: none yet"))
        else:
            lines.append(
                T(
                    "acknowledgment: {operator} ({node}) after {s:.1f} s",
                    operator=self.acknowledged_by,
                    node=self.acknowledged_node,
                    s=self.ack_s,
                )
            )
        verdict = {
            True: T("result: deadline MET"),
            False: T("result: deadline MISSED"),
            None: T("result: deadline still running"),
        }[self.met_deadline]
        lines.append(verdict)
        return "\n".join(line.render(lang) for line in lines) + "\n"


def do_start_drill(
    node: Node, channel: str, *, desk: str | None = None, started_by: str = "cli", lang: str = "en"
) -> str:
    """Send the drill message, written in ``lang`` (the operator's) and tagged so; return the
    drill's id (the message id)."""
    from parley.channels.registry import get_channel_txn
    from parley.messaging.send import Draft, do_send_message

    with node.reader.connect() as conn:
        charter = get_channel_txn(conn, channel).charter
    own = charter.desks_of(node.name)
    if desk is None:
        if len(own) != 1:
            raise UsageError(
                T(
                    "this node has {n_own} desks on {channel}: {own}",
                    n_own=len(own),
                    channel=channel,
                    own=own,
                ),
                hint=T("pass --desk NAME"),
            )
        desk = own[0]
    others = [m for m in charter.members if not m.startswith(node.name + "/")]
    text = T(
        "DRILL (TEST). To {members}: this is a communications drill, not a real event. "
        "Please acknowledge this message now; the time to acknowledgment is measured.",
        members=others,
    ).render(lang)
    subject = T("DRILL — acknowledge now").render(lang)
    draft = Draft(
        channel,
        desk,
        "general",
        "FLASH",
        "TEST",
        {"subject": subject, "text": text, "lang": lang},
    )
    env = do_send_message(node, draft)
    with node.engine.begin() as conn:
        conn.execute(
            insert(drills).values(
                id=env.id,
                channel=channel,
                desk=desk,
                started_at=node.clock.now(),
                started_by=started_by,
            )
        )
    return env.id


def drill_report(node: Node, drill_id: str) -> DrillReport:
    """The after-action report of a drill, from the receipts and acknowledgment on record."""
    from parley.channels.registry import get_channel_txn

    with node.reader.connect() as conn:
        row = conn.execute(select(drills).where(drills.c.id == drill_id)).first()
        if row is None:
            raise NotFoundError(
                T("no drill {drill_id}", drill_id=drill_id), hint=T("see `parley drill list`")
            )
        env = conn.execute(select(envelopes.c.created).where(envelopes.c.id == drill_id)).first()
        assert env is not None  # a drill row is written with its message
        deadline = get_channel_txn(conn, row.channel).charter.deadline_s("FLASH")
        dels = conn.execute(select(delivery).where(delivery.c.message_id == drill_id)).all()
        ack = conn.execute(select(acknowledgments).where(acknowledgments.c.message_id == drill_id)).first()
    sent = parse_time(env.created)
    rec = {d.receiver_node: (parse_time(d.receipted_at) - sent).total_seconds() for d in dels}
    ack_s = None if ack is None else (parse_time(ack.acked_at) - sent).total_seconds()
    if ack_s is not None:
        met: bool | None = ack_s <= deadline
    else:
        met = False if (node.clock.now() - sent).total_seconds() > deadline else None
    return DrillReport(
        id=drill_id,
        channel=row.channel,
        desk=row.desk,
        started_at=env.created,
        started_by=row.started_by,
        deadline_s=deadline,
        receipts=rec,
        acknowledged_by=None if ack is None else ack.operator,
        acknowledged_node=None if ack is None else ack.node,
        ack_s=ack_s,
        met_deadline=met,
    )


def list_drills(node: Node) -> list[DrillReport]:
    with node.reader.connect() as conn:
        ids = list(conn.execute(select(drills.c.id).order_by(drills.c.started_at)).scalars())
    return [drill_report(node, i) for i in ids]


def wait_for_ack(node: Node, drill_id: str, seconds: float, poll_s: float = 0.5) -> DrillReport:
    """Wait (at most ``seconds`` of wall time) for the acknowledgment, then report."""
    deadline = time.monotonic() + max(0.0, seconds)
    report = drill_report(node, drill_id)
    while report.ack_s is None and time.monotonic() < deadline:
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        report = drill_report(node, drill_id)
    return report
