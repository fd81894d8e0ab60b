"""Desks: the functions inside a node that send and receive (duty officer, commissioner…)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select

from parley.errors import ConflictError, NotFoundError, UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.protocol.verify import NAME_RE
from parley.storage.tables import desks


@dataclass(frozen=True)
class Desk:
    name: str
    title: str


def do_add_desk(node: Node, name: str, title: str = "") -> Desk:
    if not NAME_RE.match(name):
        raise UsageError(
            T("desk name {name!r} is not valid", name=name),
            hint=T("use lower-case letters, digits, '.', '_' or '-' (e.g. duty-officer)"),
        )
    with node.engine.begin() as conn:
        if conn.execute(select(desks.c.name).where(desks.c.name == name)).first():
            raise ConflictError(
                T("desk {name!r} already exists", name=name), hint=T("see `parley desk list`")
            )
        conn.execute(insert(desks).values(name=name, title=title, created_at=node.clock.now()))
    return Desk(name, title)


def list_desks(node: Node) -> list[Desk]:
    with node.reader.connect() as conn:
        return [Desk(r.name, r.title) for r in conn.execute(select(desks).order_by(desks.c.name))]


def require_desk(node: Node, name: str) -> Desk:
    with node.reader.connect() as conn:
        row = conn.execute(select(desks).where(desks.c.name == name)).first()
    if row is None:
        raise NotFoundError(
            T("unknown desk {name!r}", name=name),
            hint=T("see `parley desk list`; add one with `parley desk add NAME`"),
        )
    return Desk(row.name, row.title)
