"""Escalation chains: who is paged, by what means, how long after a message arrives.

A chain belongs to a desk and a precedence and is an ordered list of at most
:data:`MAX_STEPS` steps ``AFTER:TARGET[/MEDIUM,…]``:

* ``AFTER`` — seconds after receipt (``90``, ``90s``, ``5m``, ``1h``);
* ``TARGET`` — ``console`` (the console's alert bar, which is always on: the step is only
  recorded), ``watch`` (the officer(s) on watch per the roster), ``supervisor`` (the
  supervisor(s) on watch), ``operator:NAME``, ``role:ROLE`` (everyone with that role on the
  desk; ``role:admin`` means every admin of the node);
* ``MEDIUM`` — ``email``, ``webhook`` or ``command`` (default: ``[pager] default_media``).

A chain is refused whole, and nothing stored, if any step does not parse, names an unknown
operator or role, comes before the step above it, or falls after the acknowledgment deadline
for the precedence: the shortest deadline the charters of the desk's channels give it (a page
after the deadline would come after the message is already overdue on both sides; overdue
has its own alarm). The syntax and the sender's side are described in docs/watch.md.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import delete, insert, select

from parley.channels.registry import list_channels_txn
from parley.clock import format_time
from parley.directory.audit import audit_txn
from parley.errors import NotFoundError, UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.protocol.envelope import PRECEDENCES
from parley.protocol.verify import NAME_RE
from parley.watch.paging_tables import escalation_chains

MAX_STEPS = 10
MAX_STEP_CHARS = 120
MAX_AFTER_S = 7 * 86400  # with no channel to bound it: a week
MEDIA = ("email", "webhook", "command")
ROLE_TARGETS = ("duty", "supervisor", "auditor", "admin")
_AFTER_RE = re.compile(r"^([0-9]{1,7})([smh]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}
SYNTAX = "AFTER:TARGET[/MEDIUM,…], e.g. 60:watch, 300:operator:head-of-desk/email,command"


@dataclass(frozen=True)
class Step:
    after_s: int
    target: str  # console | watch | supervisor | operator:NAME | role:ROLE
    media: tuple[str, ...] = ()  # empty: [pager] default_media

    def to_json(self) -> dict[str, Any]:
        return {"after_s": self.after_s, "target": self.target, "media": list(self.media)}

    def text(self) -> str:
        return f"{self.after_s}:{self.target}" + (f"/{','.join(self.media)}" if self.media else "")


@dataclass(frozen=True)
class Chain:
    desk: str
    precedence: str
    steps: tuple[Step, ...]
    updated_by: str = ""
    updated_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "desk": self.desk,
            "precedence": self.precedence,
            "steps": [s.to_json() for s in self.steps],
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


def parse_step(text: str) -> Step:
    """One ``AFTER:TARGET[/MEDIA]``; UsageError saying what is wrong with it otherwise."""
    hint = T("write each step as {syntax}", syntax=SYNTAX)
    if len(text) > MAX_STEP_CHARS:
        raise UsageError(
            T(
                "step is {n_text} characters long, over {max_step_chars}",
                n_text=len(text),
                max_step_chars=MAX_STEP_CHARS,
            ),
            hint=hint,
        )
    head, _, media_text = text.strip().partition("/")
    after_text, sep, target = head.partition(":")
    m = _AFTER_RE.match(after_text.strip())
    if not sep or m is None:
        raise UsageError(
            T("step {text!r} does not start with a number of seconds and ':'", text=text), hint=hint
        )
    after_s = int(m.group(1)) * _UNIT[m.group(2)]
    target = target.strip()
    kind, _, name = target.partition(":")
    known = (
        target in ("console", "watch", "supervisor")
        or (kind == "operator" and NAME_RE.match(name) is not None)
        or (kind == "role" and name in ROLE_TARGETS)
    )
    if not known:
        raise UsageError(
            T("step {text!r}: unknown target {target!r}", text=text, target=target),
            hint=T(
                "targets: console, watch, supervisor, operator:NAME, role:{role_targets}",
                role_targets="|".join(ROLE_TARGETS),
            ),
        )
    media: tuple[str, ...] = ()
    if media_text:
        media = tuple(x.strip() for x in media_text.split(","))
        bad = [x for x in media if x not in MEDIA]
        if bad or len(set(media)) != len(media):
            raise UsageError(
                T("step {text!r}: media must be distinct ones of {media}", text=text, media=", ".join(MEDIA)),
                hint=hint,
            )
        if target == "console":
            raise UsageError(
                T("step {text!r}: the console step pages nobody, so it takes no media", text=text), hint=hint
            )
    return Step(after_s, target, media)


def desk_deadline_s(node: Node, desk: str, precedence: str) -> tuple[int, str] | None:
    """The shortest acknowledgment deadline for ``precedence`` over the desk's channels.

    Returns (seconds, channel id), or None when the desk is a member of no channel yet.
    """
    member = f"{node.name}/{desk}"
    best: tuple[int, str] | None = None
    with node.reader.connect() as conn:
        for channel in list_channels_txn(conn):
            if member in channel.charter.members and channel.status != "closed":
                d = channel.charter.deadline_s(precedence)
                if best is None or d < best[0]:
                    best = (d, channel.id)
    return best


def validate_chain(node: Node, desk: str, precedence: str, steps: list[Step]) -> None:
    """Raise UsageError / NotFoundError for a chain that must not be stored."""
    from parley.directory.desks import require_desk
    from parley.directory.operators import get_operator

    if precedence not in PRECEDENCES:
        raise UsageError(
            T("unknown precedence {precedence!r}", precedence=precedence),
            hint=T("choose one of {precedences}", precedences=", ".join(PRECEDENCES)),
        )
    require_desk(node, desk)
    if not steps:
        raise UsageError(
            T("a chain needs at least one step"),
            hint=T("add --step {syntax_split_1}", syntax_split_1=SYNTAX.split(", e.g. ")[1]),
        )
    if len(steps) > MAX_STEPS:
        raise UsageError(
            T("{n_steps} steps is more than {max_steps}", n_steps=len(steps), max_steps=MAX_STEPS),
            hint=T("page fewer people, or whole roles"),
        )
    for before, step in itertools.pairwise(steps):
        if step.after_s < before.after_s:
            raise UsageError(
                T(
                    "step {step_text} comes before the step above it ({before_text})",
                    step_text=step.text(),
                    before_text=before.text(),
                ),
                hint=T("list the steps in the order they fall due"),
            )
    if len({(s.after_s, s.target) for s in steps}) != len(steps):
        raise UsageError(
            T("the same target is paged twice at the same time"), hint=T("remove the repeated step")
        )
    bound = desk_deadline_s(node, desk, precedence)
    limit = bound[0] if bound else MAX_AFTER_S
    for step in steps:
        if step.after_s > limit:
            where = (
                f"the {precedence} acknowledgment deadline on channel {bound[1]} ({limit} s)"
                if bound
                else f"the longest wait allowed ({MAX_AFTER_S} s)"
            )
            raise UsageError(
                T("step {step_text} falls after {where}", step_text=step.text(), where=where),
                hint=T(
                    "page people before the deadline; once it passes the message is overdue on both sides"
                ),
            )
        kind, _, name = step.target.partition(":")
        if kind == "operator":
            try:
                get_operator(node, name)
            except NotFoundError:
                raise NotFoundError(
                    T("step {step_text}: unknown operator {name!r}", step_text=step.text(), name=name),
                    hint=T("see `parley operator list`"),
                ) from None


def set_chain(node: Node, desk: str, precedence: str, step_texts: list[str], actor: str) -> Chain:
    """Validate and store a chain, replacing the desk's chain for that precedence."""
    precedence = precedence.upper()
    if len(step_texts) > MAX_STEPS:
        raise UsageError(
            T(
                "{n_step_texts} steps is more than {max_steps}",
                n_step_texts=len(step_texts),
                max_steps=MAX_STEPS,
            ),
            hint=T("page fewer people, or whole roles"),
        )
    steps = [parse_step(t) for t in step_texts]
    validate_chain(node, desk, precedence, steps)
    now = node.clock.now()
    body = json.dumps([s.to_json() for s in steps])
    with node.engine.begin() as conn:
        conn.execute(
            delete(escalation_chains).where(
                (escalation_chains.c.desk == desk) & (escalation_chains.c.precedence == precedence)
            )
        )
        conn.execute(
            insert(escalation_chains).values(
                desk=desk, precedence=precedence, steps=body, updated_by=actor, updated_at=now
            )
        )
        audit_txn(
            conn,
            now,
            actor,
            "chain_set",
            {"desk": desk, "precedence": precedence, "steps": [s.text() for s in steps]},
        )
    return Chain(desk, precedence, tuple(steps), actor, format_time(now))


def clear_chain(node: Node, desk: str, precedence: str | None, actor: str) -> int:
    """Remove the desk's chain (one precedence or all); returns how many were removed."""
    if precedence is not None:
        precedence = precedence.upper()
        if precedence not in PRECEDENCES:
            raise UsageError(
                T("unknown precedence {precedence!r}", precedence=precedence),
                hint=T("choose one of {precedences}", precedences=", ".join(PRECEDENCES)),
            )
    cond = escalation_chains.c.desk == desk
    if precedence is not None:
        cond = cond & (escalation_chains.c.precedence == precedence)
    with node.engine.begin() as conn:
        removed = conn.execute(delete(escalation_chains).where(cond)).rowcount
        if removed:
            audit_txn(conn, node.clock.now(), actor, "chain_clear", {"desk": desk, "precedence": precedence})
    return int(removed or 0)


def _from_row(row: Any) -> Chain:
    steps = tuple(
        Step(int(s["after_s"]), str(s["target"]), tuple(s.get("media", []))) for s in json.loads(row.steps)
    )
    at = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
    return Chain(row.desk, row.precedence, steps, row.updated_by, format_time(at))


def list_chains(node: Node, desk: str | None = None) -> list[Chain]:
    q = select(escalation_chains)
    if desk is not None:
        q = q.where(escalation_chains.c.desk == desk)
    with node.reader.connect() as conn:
        rows = conn.execute(q).all()
    order = {p: i for i, p in enumerate(PRECEDENCES)}
    chains = [_from_row(r) for r in rows]
    return sorted(chains, key=lambda c: (c.desk, order.get(c.precedence, 9)))


def chain_for(node: Node, desk: str, precedence: str, conn: Any = None) -> Chain | None:
    q = select(escalation_chains).where(
        (escalation_chains.c.desk == desk) & (escalation_chains.c.precedence == precedence)
    )
    if conn is not None:
        row = conn.execute(q).first()
    else:
        with node.reader.connect() as c:
            row = c.execute(q).first()
    return None if row is None else _from_row(row)


def target_label(target: str, lang: str) -> str:
    """A step's target as a person reads it: "watch" is the officer on watch, "role:duty" the
    desk's duty officers, "operator:ivan" ivan; an unknown target is shown as written."""
    from parley.formats.catalogue import load_catalogue

    cat = load_catalogue(lang)
    kind, _, name = target.partition(":")
    if not name and cat.has(f"page.console.target.{target}"):
        return cat.get(f"page.console.target.{target}")
    if kind == "role" and cat.has(f"console.role.{name}"):
        return cat.get("page.console.target.role", role=cat.get(f"console.role.{name}"))
    if kind == "operator" and name:
        return cat.get("page.console.target.operator", name=name)
    return target
