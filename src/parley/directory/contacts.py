"""Operator contact addresses: where a page reaches a person away from the console.

An e-mail address is checked against the ``addr-spec`` of RFC 5322 §3.4.1 in its common,
dot-atom form (no quoted local parts, no comments, no address literals), with the length
limits of RFC 5321 §4.5.3.1 (64 octets local part, 254 in all) and host names per RFC 1123.
A phone number is an international number in E.164 form (ITU-T E.164: ``+``, a country
code that does not start with 0, at most 15 digits), the form SMS gateways expect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Column, String, Table, delete, insert, select, update

from parley.directory.audit import audit_txn
from parley.directory.operators import get_operator
from parley.errors import UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.storage.metadata import metadata
from parley.storage.tables import UTCDateTime

# One row per operator with an address; pages read it (parley.watch.pagers).
operator_contacts = Table(
    "operator_contacts",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("email", String(254), nullable=True),
    Column("phone", String(16), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

MAX_EMAIL = 254
MAX_LOCAL = 64

# RFC 5322 atext, without the characters that routinely break mail tooling in a To: line.
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_PHONE_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class Contact:
    username: str
    email: str | None
    phone: str | None


def check_email(address: str) -> str:
    """The address if it is a plain ``local@domain`` address; UsageError otherwise."""
    hint = T("give a plain address such as duty.officer@politi.no")
    if len(address) > MAX_EMAIL:
        raise UsageError(
            T(
                "e-mail address is {n_address} characters long, over {max_email}",
                n_address=len(address),
                max_email=MAX_EMAIL,
            ),
            hint=hint,
        )
    local, sep, domain = address.rpartition("@")
    if not sep or not local or not domain:
        raise UsageError(
            T("e-mail address {address!r} has no '@' between a name and a domain", address=address), hint=hint
        )
    if len(local) > MAX_LOCAL or not _LOCAL_RE.match(local):
        raise UsageError(
            T("e-mail address {address!r} has an invalid part before the '@'", address=address), hint=hint
        )
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels) or labels[-1].isdigit():
        raise UsageError(
            T("e-mail address {address!r} has an invalid domain {domain!r}", address=address, domain=domain),
            hint=hint,
        )
    return address


def check_phone(number: str) -> str:
    """The number with spaces removed, if it is an E.164 number; UsageError otherwise."""
    compact = re.sub(r"[ \u00a0-]", "", number)
    if len(number) > 32 or not _PHONE_RE.match(compact):
        raise UsageError(
            T("phone number {number!r} is not an international number", number=number),
            hint=T("write it as + and the country code, then the number, e.g. +4712345678"),
        )
    return compact


def contact_of(node: Node, username: str) -> Contact | None:
    """The contact addresses of ``username``; None if none are stored."""
    with node.reader.connect() as conn:
        row = conn.execute(select(operator_contacts).where(operator_contacts.c.username == username)).first()
    if row is None:
        return None
    return Contact(row.username, row.email, row.phone)


def set_contact(
    node: Node,
    username: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    clear: bool = False,
    actor: str = "cli",
) -> Contact | None:
    """Set (or with ``clear``, remove) an operator's addresses; given fields replace stored ones.

    Everything is checked before anything is written, so a bad address changes nothing.
    """
    get_operator(node, username)  # NotFoundError for an unknown or disabled operator
    if clear and (email is not None or phone is not None):
        raise UsageError(
            T("--clear cannot be combined with --email or --phone"), hint=T("clear first, then set")
        )
    if not clear and email is None and phone is None:
        raise UsageError(T("nothing to set"), hint=T("pass --email ADDR, --phone +NUMBER, or --clear"))
    email = None if email is None else check_email(email.strip())
    phone = None if phone is None else check_phone(phone.strip())
    now = node.clock.now()
    with node.engine.begin() as conn:
        row = conn.execute(select(operator_contacts).where(operator_contacts.c.username == username)).first()
        if clear:
            conn.execute(delete(operator_contacts).where(operator_contacts.c.username == username))
            audit_txn(conn, now, actor, "operator_contact_clear", {"username": username})
            return None
        new_email = email if email is not None else (row.email if row is not None else None)
        new_phone = phone if phone is not None else (row.phone if row is not None else None)
        values = {"email": new_email, "phone": new_phone, "updated_at": now}
        if row is None:
            conn.execute(insert(operator_contacts).values(username=username, **values))
        else:
            conn.execute(
                update(operator_contacts).where(operator_contacts.c.username == username).values(**values)
            )
        # The addresses themselves are personal data; the log says what changed, not to what.
        audit_txn(
            conn,
            now,
            actor,
            "operator_contact_set",
            {"username": username, "email": email is not None, "phone": phone is not None},
        )
    return Contact(username, new_email, new_phone)
