"""The escalation runner: which chain step is due, the page queue, retries and alarms.

Both sides page (DESIGN: overdue means escalation on both sides):

* **received** — a message received here and not acknowledged: the chains of the receiving
  desks (this node's desks on the channel's charter) run from the receipt time, the time
  this node signed in its receipt;
* **sent** — a message sent from here that the peer has not acknowledged by its deadline:
  the chain of the sending desk runs from the deadline (step ``0`` fires at the deadline,
  ``60`` a minute after), so the sender's people learn their message is unanswered.

Time is the node's injectable clock. A step that falls due creates, in one transaction,
a ``page_steps`` row (so it never fires twice) and one ``pages`` row per recipient and
medium; the sender delivers pending pages from the database with exponential backoff
(``[pager] retry_initial_s`` … ``retry_max_s``) until sent, given up (``give_up_after_s``
after it fell due) or cancelled by an acknowledgment. A page is marked sent after the
medium accepted it, so a crash between the two can repeat it once (at least once, never
lost). ``alarm_after_failures`` consecutive failures of a medium raise a ``pager_failing``
alarm, cleared by its next success; a page still undelivered ``alarm_after_s`` after it fell
due raises a ``page_undelivered`` alarm. Every page sent, every failure and every
cancellation is in the audit log (actor ``pager``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from parley.clock import format_time, parse_time
from parley.directory.audit import audit_txn
from parley.formats.texts import T, Text, from_stored, stored
from parley.node import Node
from parley.storage.alarms import raise_alarm_txn
from parley.storage.tables import acknowledgments, alarms, delivery, envelopes, memberships, operators
from parley.watch.chains import Chain, Step, chain_for
from parley.watch.pagers import Page, PagerFailure, default_media, deliver
from parley.watch.paging_tables import page_steps, pager_health, pages

log = logging.getLogger("parley.paging")

ACTOR = "pager"
MAX_CANDIDATES = 500  # messages looked at per tick; the oldest first
MAX_SEND_BATCH = 20  # pages delivered per tick
MAX_RECIPIENTS = 50  # people one step may page
CATCH_UP_S = 3600  # steps missed while the node was down still fire if this recent


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Candidate:
    message_id: str
    channel: str
    type: str
    precedence: str
    sender: str
    side: str  # received | sent
    desk: str
    start: datetime  # the chain's zero: receipt (received) or deadline (sent)
    received_at: str
    due_at: str


# --- which steps are due -----------------------------------------------------------------------


def _candidates(node: Node, now: datetime, longest_s: int) -> list[Candidate]:
    """Unacknowledged messages whose chains may still have a step to fire, newest first.

    Only messages younger than the longest chain (plus CATCH_UP_S, for a node that was down
    when a step fell due) can have a step left; newest first, so that under a flood the
    message that just arrived is never starved by old ones.
    """
    from parley.channels.registry import list_channels_txn

    since = format_time(now - timedelta(seconds=longest_s + CATCH_UP_S))
    cols = (
        envelopes.c.id,
        envelopes.c.channel,
        envelopes.c.type,
        envelopes.c.precedence,
        envelopes.c.sender_node,
        envelopes.c.sender_desk,
        envelopes.c.outgoing,
        delivery.c.receiver_node,
        delivery.c.receipted_at,
        delivery.c.due_at,
    )
    base = (
        select(*cols)
        .join(delivery, delivery.c.message_id == envelopes.c.id)
        .outerjoin(acknowledgments, acknowledgments.c.message_id == envelopes.c.id)
        .where(acknowledgments.c.message_id.is_(None), delivery.c.due_at.is_not(None))
    )
    received_q = (
        base.where(
            envelopes.c.outgoing.is_(False),
            delivery.c.receiver_node == node.name,
            delivery.c.receipted_at >= since,
        )
        .order_by(delivery.c.receipted_at.desc())
        .limit(MAX_CANDIDATES)
    )
    sent_q = (
        base.where(
            envelopes.c.outgoing.is_(True),
            delivery.c.due_at <= format_time(now),
            delivery.c.due_at >= since,
        )
        .order_by(delivery.c.due_at.desc())
        .limit(MAX_CANDIDATES)
    )
    out: list[Candidate] = []
    seen: set[tuple[str, str]] = set()
    with node.reader.connect() as conn:
        charters = {c.id: c.charter for c in list_channels_txn(conn)}
        for r in conn.execute(received_q):
            charter = charters.get(r.channel)
            for desk in charter.desks_of(node.name) if charter else []:
                out.append(
                    Candidate(
                        r.id,
                        r.channel,
                        r.type,
                        r.precedence,
                        f"{r.sender_node}/{r.sender_desk}",
                        "received",
                        desk,
                        parse_time(r.receipted_at),
                        r.receipted_at,
                        r.due_at,
                    )
                )
        for r in conn.execute(sent_q):
            if (r.id, r.sender_desk) in seen:
                continue  # several receivers: the earliest deadline starts the chain
            seen.add((r.id, r.sender_desk))
            out.append(
                Candidate(
                    r.id,
                    r.channel,
                    r.type,
                    r.precedence,
                    f"{r.sender_node}/{r.sender_desk}",
                    "sent",
                    r.sender_desk,
                    parse_time(r.due_at),
                    r.receipted_at,
                    r.due_at,
                )
            )
    return out


def _longest_chain_s(node: Node) -> int | None:
    """The latest step of any chain (seconds), or None when there is no chain at all."""
    from parley.watch.chains import list_chains

    chains = list_chains(node)
    return max((s.after_s for c in chains for s in c.steps), default=0) if chains else None


def recipients(node: Node, desk: str, target: str, at: datetime) -> list[str]:
    """The user names a step's target means at ``at`` (live operators only)."""
    from parley.watch import roster

    kind, _, name = target.partition(":")
    if target == "console":
        return []
    if target == "watch":
        names = roster.on_watch(node, desk, at)
        if not names and not roster.has_roster(node, desk):
            # A desk that keeps no roster: everyone on duty there is "on watch".
            names = _with_role(node, desk, "duty")
    elif target == "supervisor":
        names = roster.supervisors_on(node, desk, at)
    elif kind == "operator":
        names = [name]
    elif kind == "role":
        names = _with_role(node, None if name == "admin" else desk, name)
    else:
        names = []
    live = set(_live_operators(node, names))
    return [n for n in dict.fromkeys(names) if n in live][:MAX_RECIPIENTS]


def _with_role(node: Node, desk: str | None, role: str) -> list[str]:
    q = select(memberships.c.username).where(memberships.c.role == role)
    if desk is not None:
        q = q.where(memberships.c.desk == desk)
    with node.reader.connect() as conn:
        return sorted({r.username for r in conn.execute(q)})


def _live_operators(node: Node, names: list[str]) -> list[str]:
    if not names:
        return []
    with node.reader.connect() as conn:
        q = select(operators.c.username).where(
            operators.c.username.in_(names), operators.c.disabled.is_(False)
        )
        return [r.username for r in conn.execute(q)]


def _media_for(node: Node, step: Step, username: str) -> list[tuple[str, str]]:
    """(medium, address) pairs for one recipient of a step."""
    from parley.directory.contacts import contact_of

    contact = contact_of(node, username)
    email = contact.email if contact else None
    phone = contact.phone if contact else None
    media = list(step.media) or list(default_media(node.config.pager))
    if not step.media and not email and len(media) > 1:
        # Default media: reach the person by what they have; an explicit step medium stays,
        # so its failure (no address) is shown rather than silently skipped.
        media = [m for m in media if m != "email"]
    address = {"email": email or "", "command": phone or "", "webhook": ""}
    return [(m, address[m]) for m in media]


def escalation_tick(node: Node) -> int:
    """Fire every chain step that has fallen due; returns how many pages were queued."""
    now = node.clock.now()
    queued = 0
    longest = _longest_chain_s(node)
    if longest is None:
        return 0  # no desk has a chain: the [escalation] settings do everything
    candidates = _candidates(node, now, longest)
    if not candidates:
        return 0
    ids = sorted({c.message_id for c in candidates})
    with node.reader.connect() as conn:
        fired = {
            (r.message_id, r.desk, r.step)
            for r in conn.execute(select(page_steps).where(page_steps.c.message_id.in_(ids)))
        }
    chains: dict[tuple[str, str], Chain | None] = {}
    for c in candidates:
        key = (c.desk, c.precedence)
        if key not in chains:
            chains[key] = chain_for(node, c.desk, c.precedence)
        chain = chains[key]
        if chain is None:
            continue
        for index, step in enumerate(chain.steps):
            if (c.message_id, c.desk, index) in fired or c.start + timedelta(seconds=step.after_s) > now:
                continue
            queued += _fire(node, c, index, step, now)
    return queued


def _fire(node: Node, c: Candidate, index: int, step: Step, now: datetime) -> int:
    people = recipients(node, c.desk, step.target, now)
    rows: list[dict[str, Any]] = []
    for username in people:
        for medium, address in _media_for(node, step, username):
            no_address = medium == "email" and not address
            rows.append(
                {
                    "message_id": c.message_id,
                    "desk": c.desk,
                    "step": index,
                    "side": c.side,
                    "target": step.target,
                    "recipient": username,
                    "medium": medium,
                    "address": address,
                    "state": "failed" if no_address else "pending",
                    "attempts": 0,
                    "last_error": stored(T("operator {operator} has no e-mail address", operator=username))
                    if no_address
                    else None,
                    "due_at": now,
                    "next_attempt_at": now,
                    "alarmed": 0,
                }
            )
    try:
        with node.engine.begin() as conn:
            conn.execute(
                insert(page_steps).values(
                    message_id=c.message_id,
                    desk=c.desk,
                    step=index,
                    side=c.side,
                    target=step.target,
                    fired_at=now,
                    recipients=len(people),
                )
            )
            if rows:
                conn.execute(insert(pages), rows)
            audit_txn(
                conn,
                now,
                ACTOR,
                "page_step",
                {
                    "id": c.message_id,
                    "desk": c.desk,
                    "side": c.side,
                    "step": index,
                    "target": step.target,
                    "recipients": people,
                },
            )
            for r in rows:
                if r["state"] == "failed":
                    audit_txn(
                        conn,
                        now,
                        ACTOR,
                        "page_failed",
                        {
                            "id": c.message_id,
                            "recipient": r["recipient"],
                            "medium": r["medium"],
                            "error": r["last_error"],
                        },
                    )
    except IntegrityError:
        return 0  # another tick (or node process) fired this step first
    return sum(1 for r in rows if r["state"] == "pending")


# --- delivering the queue ---------------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    sent: int
    failed: int
    cancelled: int


def cancel_acknowledged(node: Node) -> int:
    """Cancel pending pages of messages acknowledged since they were queued."""
    now = node.clock.now()
    acked = select(acknowledgments.c.message_id)
    with node.engine.begin() as conn:
        rows = conn.execute(
            select(pages.c.id, pages.c.message_id).where(
                pages.c.state == "pending", pages.c.message_id.in_(acked)
            )
        ).all()
        if not rows:
            return 0
        conn.execute(
            update(pages)
            .where(pages.c.id.in_([r.id for r in rows]), pages.c.state == "pending")
            .values(state="cancelled")
        )
        for message_id in sorted({r.message_id for r in rows}):
            count = sum(1 for r in rows if r.message_id == message_id)
            audit_txn(
                conn,
                now,
                ACTOR,
                "page_cancelled",
                {"id": message_id, "pages": count, "reason": "acknowledged"},
            )
    return len(rows)


def page_of(node: Node, row: Any, *, now: datetime) -> Page:
    """The Page a pager delivers, from a ``pages`` row and the message it is about."""
    from parley.directory.contacts import contact_of
    from parley.directory.operators import get_operator
    from parley.watch.pagers import console_url

    with node.reader.connect() as conn:
        env = conn.execute(select(envelopes).where(envelopes.c.id == row.message_id)).first()
        dues = conn.execute(
            select(delivery.c.receipted_at, delivery.c.due_at)
            .where(delivery.c.message_id == row.message_id, delivery.c.due_at.is_not(None))
            .order_by(delivery.c.due_at)
        ).first()
    if env is None or dues is None:
        raise PagerFailure(f"message {row.message_id} is no longer stored")
    try:
        lang = get_operator(node, row.recipient).lang
    except Exception:
        raise PagerFailure(f"operator {row.recipient} no longer exists or is disabled") from None
    contact = contact_of(node, row.recipient)
    start = parse_time(dues.receipted_at)
    return Page(
        page_id=row.id,
        node=node.name,
        message_id=row.message_id,
        channel=env.channel,
        type=env.type,
        precedence=env.precedence,
        status=env.status,
        side=row.side,
        desk=row.desk,
        sender=f"{env.sender_node}/{env.sender_desk}",
        received_at=dues.receipted_at,
        due_at=dues.due_at,
        waited_s=max(0, int((now - start).total_seconds())),
        target=row.target,
        recipient=row.recipient,
        lang=lang,
        email=row.address if row.medium == "email" else (contact.email if contact else None),
        phone=contact.phone if contact else None,
        link=f"{console_url(node)}/messages/{row.message_id}",
    )


def deliver_due(node: Node, post: Any = None, limit: int = MAX_SEND_BATCH) -> Delivered:
    """Deliver pending pages whose time has come (blocking: run in a thread)."""
    cancelled = cancel_acknowledged(node)
    now = node.clock.now()
    with node.reader.connect() as conn:
        due = conn.execute(
            select(pages)
            .where(pages.c.state == "pending", pages.c.next_attempt_at <= now)
            .order_by(pages.c.next_attempt_at, pages.c.id)
            .limit(limit)
        ).all()
    sent = failed = 0
    # A mail server that answers slowly must not hold the batch for limit × timeout: once
    # one delivery's worth of time is spent, the rest wait for the next tick (real time:
    # this is time spent on the network, not the node's clock).
    budget_end = time.monotonic() + node.config.pager.timeout_s
    for row in due:
        if time.monotonic() > budget_end:
            break
        with node.reader.connect() as conn:
            if conn.execute(
                select(acknowledgments.c.message_id).where(acknowledgments.c.message_id == row.message_id)
            ).first():
                cancelled += cancel_acknowledged(node)
                continue
        if not _claim(node, row):
            continue  # another process of this node (shared database) is sending it
        try:
            page = page_of(node, row, now=node.clock.now())
            deliver(node, page, row.medium, post)
        except PagerFailure as exc:
            failed += 1
            _record_failure(node, row, exc.text)
        else:
            sent += 1
            _record_success(node, row)
    _alarm_stale(node)
    return Delivered(sent, failed, cancelled)


def _claim(node: Node, row: Any) -> bool:
    """Take the page for this attempt: processes sharing the database never both send it.

    The claim moves its next attempt past the longest a delivery may take, so a process
    that dies mid-attempt leaves a page that is retried, not one that is stuck.
    """
    now = node.clock.now()
    with node.engine.begin() as conn:
        taken = conn.execute(
            update(pages)
            .where(
                pages.c.id == row.id,
                pages.c.state == "pending",
                pages.c.next_attempt_at == row.next_attempt_at,
            )
            .values(next_attempt_at=now + timedelta(seconds=3 * node.config.pager.timeout_s))
        ).rowcount
    return bool(taken == 1)


def _record_success(node: Node, row: Any) -> None:
    now = node.clock.now()
    with node.engine.begin() as conn:
        conn.execute(
            update(pages)
            .where(pages.c.id == row.id)
            .values(state="sent", sent_at=now, attempts=row.attempts + 1, last_error=None)
        )
        audit_txn(
            conn,
            now,
            ACTOR,
            "page_sent",
            {
                "id": row.message_id,
                "page": row.id,
                "recipient": row.recipient,
                "medium": row.medium,
                "attempt": row.attempts + 1,
            },
        )
        health = conn.execute(select(pager_health).where(pager_health.c.medium == row.medium)).first()
        if health is not None:
            if health.alarm_id is not None:
                conn.execute(update(alarms).where(alarms.c.id == health.alarm_id).values(cleared_at=now))
            conn.execute(
                update(pager_health)
                .where(pager_health.c.medium == row.medium)
                .values(consecutive_failures=0, last_error=None, alarm_id=None, updated_at=now)
            )


def _record_failure(node: Node, row: Any, failure: str | Text) -> None:
    error = stored(failure)
    cfg = node.config.pager
    now = node.clock.now()
    attempts = row.attempts + 1
    backoff = min(cfg.retry_initial_s * 2 ** min(attempts - 1, 20), cfg.retry_max_s)
    give_up = now - _aware(row.due_at) >= timedelta(seconds=cfg.give_up_after_s)
    with node.engine.begin() as conn:
        conn.execute(
            update(pages)
            .where(pages.c.id == row.id, pages.c.state == "pending")
            .values(
                state="failed" if give_up else "pending",
                attempts=attempts,
                last_error=error,
                next_attempt_at=now + timedelta(seconds=backoff),
            )
        )
        audit_txn(
            conn,
            now,
            ACTOR,
            "page_failed",
            {
                "id": row.message_id,
                "page": row.id,
                "recipient": row.recipient,
                "medium": row.medium,
                "attempt": attempts,
                "error": error,
                "gave_up": give_up,
            },
        )
        health = conn.execute(select(pager_health).where(pager_health.c.medium == row.medium)).first()
        failures = (health.consecutive_failures if health else 0) + 1
        alarm_id = health.alarm_id if health else None
        if failures >= cfg.alarm_after_failures and alarm_id is None:
            alarm_id = raise_alarm_txn(
                conn,
                "pager_failing",
                row.medium,
                now,
                medium=row.medium,
                failures=failures,
                error=failure,
            )
        values = {
            "consecutive_failures": failures,
            "last_error": error,
            "alarm_id": alarm_id,
            "updated_at": now,
        }
        if health is None:
            conn.execute(insert(pager_health).values(medium=row.medium, **values))
        else:
            conn.execute(update(pager_health).where(pager_health.c.medium == row.medium).values(**values))


def _alarm_stale(node: Node) -> None:
    """One alarm per page still undelivered ``alarm_after_s`` after it fell due."""
    now = node.clock.now()
    cutoff = now - timedelta(seconds=node.config.pager.alarm_after_s)
    with node.engine.begin() as conn:
        stale = conn.execute(
            select(pages.c.id, pages.c.message_id, pages.c.recipient, pages.c.medium, pages.c.last_error)
            .where(pages.c.state == "pending", pages.c.alarmed == 0, pages.c.due_at <= cutoff)
            .limit(MAX_SEND_BATCH)
        ).all()
        for r in stale:
            if r.last_error:
                raise_alarm_txn(
                    conn,
                    "page_undelivered",
                    r.message_id,
                    now,
                    recipient=r.recipient,
                    medium=r.medium,
                    error=from_stored(str(r.last_error)[:2000]),
                )
            else:
                raise_alarm_txn(
                    conn,
                    "page_undelivered.untried",
                    r.message_id,
                    now,
                    recipient=r.recipient,
                    medium=r.medium,
                )
            conn.execute(update(pages).where(pages.c.id == r.id).values(alarmed=1))


# --- views, test pages and the loop -------------------------------------------------------------


def pages_for(node: Node, message_id: str) -> list[dict[str, Any]]:
    """Every page about a message, for the message page and ``parley show``.

    Addresses stay in the table: whoever may read the message sees who was paged and how,
    not their e-mail address or phone number.
    """
    with node.reader.connect() as conn:
        rows = conn.execute(
            select(pages).where(pages.c.message_id == message_id).order_by(pages.c.due_at, pages.c.id)
        ).all()
    return [
        {
            "id": r.id,
            "desk": r.desk,
            "side": r.side,
            "step": r.step,
            "target": r.target,
            "recipient": r.recipient,
            "medium": r.medium,
            "state": r.state,
            "attempts": r.attempts,
            "last_error": str(from_stored(r.last_error) or "") or None,
            "last_error_text": _jsonable_text(r.last_error),
            "due_at": format_time(_aware(r.due_at)),
            "sent_at": format_time(_aware(r.sent_at)) if r.sent_at else None,
        }
        for r in rows
    ]


@dataclass(frozen=True)
class TestResult:
    medium: str
    address: str
    ok: bool
    error: str = ""


def send_test_page(node: Node, username: str, media: list[str], post: Any = None) -> list[TestResult]:
    """Send a test page to ``username`` now by each medium, without queueing; audited."""
    from parley.directory.contacts import contact_of
    from parley.directory.operators import get_operator
    from parley.errors import UsageError
    from parley.watch.pagers import MEDIA, check_pager_config, console_url

    check_pager_config(node)
    op = get_operator(node, username)
    chosen = media or list(default_media(node.config.pager))
    bad = [m for m in chosen if m not in MEDIA]
    if bad:
        raise UsageError(
            T("unknown medium {bad_0!r}", bad_0=bad[0]), hint=T("choose from {media}", media=", ".join(MEDIA))
        )
    contact = contact_of(node, username)
    now = node.clock.now()
    page = Page(
        page_id=None,
        node=node.name,
        message_id="test",
        channel="-",
        type="test",
        precedence="-",
        status="TEST",
        side="test",
        desk="-",
        sender=node.name,
        received_at=format_time(now),
        due_at="-",
        waited_s=0,
        target=f"operator:{username}",
        recipient=username,
        lang=op.lang,
        email=contact.email if contact else None,
        phone=contact.phone if contact else None,
        link=f"{console_url(node)}/",
        test=True,
    )
    results: list[TestResult] = []
    for medium in dict.fromkeys(chosen):
        try:
            address = deliver(node, page, medium, post)
            results.append(TestResult(medium, address, True))
        except PagerFailure as exc:
            results.append(TestResult(medium, "", False, str(exc)))
    with node.engine.begin() as conn:
        audit_txn(
            conn,
            now,
            "cli",
            "page_test",
            {
                "recipient": username,
                "results": [{"medium": r.medium, "ok": r.ok, "error": r.error} for r in results],
            },
        )
    return results


async def paging_loop(service: Any) -> None:
    """Fire due steps, and deliver the queue, every tick until the service stops.

    Two loops, so that a slow or unreachable mail server delays deliveries only, never the
    firing of the next step.
    """
    node: Node = service.node

    async def steps() -> None:
        while not service.stop.is_set():
            try:
                await asyncio.to_thread(escalation_tick, node)
            except Exception:
                log.exception("escalation chains failed; retrying")
            await service._sleep(service.tick_s)

    async def deliveries() -> None:
        while not service.stop.is_set():
            try:
                result = await asyncio.to_thread(deliver_due, node)
                if result.sent or result.failed or result.cancelled:
                    service.publish({"event": "pages", "sent": result.sent, "failed": result.failed})
            except Exception:
                log.exception("paging failed; retrying")
            await service._sleep(service.tick_s)

    await asyncio.gather(steps(), deliveries())


def chain_covers(node: Node, message_id: str) -> bool:
    """Whether a chain pages people about this message (it then replaces [escalation] paging).

    The desks are those the runner uses: the sending desk for a message sent from here, this
    node's desks on the channel's charter for one received.
    """
    from parley.channels.registry import get_channel_txn

    with node.reader.connect() as conn:
        env = conn.execute(select(envelopes).where(envelopes.c.id == message_id)).first()
        if env is None:
            return False
        if env.outgoing:
            desks = [env.sender_desk]
        else:
            desks = get_channel_txn(conn, env.channel).charter.desks_of(node.name)
        return any(chain_for(node, d, env.precedence, conn) is not None for d in desks)


__all__ = [
    "Candidate",
    "Delivered",
    "TestResult",
    "cancel_acknowledged",
    "chain_covers",
    "deliver_due",
    "escalation_tick",
    "page_of",
    "pages_for",
    "paging_loop",
    "recipients",
    "send_test_page",
]


def _jsonable_text(value: str | None) -> Any:
    """A stored failure as JSON a reader renders (``text_from_json``), or the plain string."""
    text = from_stored(value)
    return text.to_json() if isinstance(text, Text) else text
