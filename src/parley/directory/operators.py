"""Operators: the people who read and acknowledge, with Argon2 passwords and API tokens.

An operator belongs to one or more desks with a role on each: ``duty`` (reads, sends,
acknowledges), ``supervisor`` (also receives escalations, suspends and resumes channels),
``auditor`` (reads and verifies, changes nothing), ``admin`` (manages desks and operators).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import insert, select, update

from parley.errors import AuthError, ConflictError, NotFoundError, UsageError
from parley.node import Node
from parley.protocol.verify import NAME_RE
from parley.storage.tables import api_tokens, memberships, operators

ROLES = ("duty", "supervisor", "auditor", "admin")
MIN_PASSWORD = 10
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Operator:
    username: str
    lang: str
    roles: dict[str, str] = field(default_factory=dict)  # desk -> role
    has_totp: bool = False

    def role_on(self, desk: str) -> str | None:
        return self.roles.get(desk)

    def can_act_on(self, desk: str) -> bool:
        """May send and acknowledge for ``desk`` (auditors only read)."""
        return self.roles.get(desk) in ("duty", "supervisor", "admin")

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles.values()

    @property
    def is_supervisor(self) -> bool:
        return any(r in ("supervisor", "admin") for r in self.roles.values())


def do_add_operator(node: Node, username: str, desk: str, role: str, password: str) -> Operator:
    """Create an operator, or give an existing one a role on another desk."""
    from parley.directory.desks import require_desk

    if not NAME_RE.match(username):
        raise UsageError(f"user name {username!r} is not valid", hint="use lower-case letters and digits")
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}", hint=f"choose one of {', '.join(ROLES)}")
    require_desk(node, desk)
    with node.engine.begin() as conn:
        exists = conn.execute(select(operators.c.username).where(operators.c.username == username)).first()
        if exists is None:
            if len(password) < MIN_PASSWORD:
                raise UsageError(
                    f"password too short ({len(password)} characters)",
                    hint=f"use at least {MIN_PASSWORD} characters",
                )
            conn.execute(
                insert(operators).values(
                    username=username,
                    password_hash=_hasher.hash(password),
                    lang=node.config.console.default_lang,
                    disabled=False,
                    created_at=node.clock.now(),
                )
            )
        already = conn.execute(
            select(memberships).where(memberships.c.username == username, memberships.c.desk == desk)
        ).first()
        if already is not None:
            raise ConflictError(f"{username} already has a role on desk {desk!r}")
        conn.execute(insert(memberships).values(username=username, desk=desk, role=role))
    return get_operator(node, username)


def get_operator(node: Node, username: str) -> Operator:
    with node.reader.connect() as conn:
        row = conn.execute(select(operators).where(operators.c.username == username)).first()
        if row is None or row.disabled:
            raise NotFoundError(f"unknown operator {username!r}", hint="see `parley operator list`")
        roles = {
            m.desk: m.role
            for m in conn.execute(select(memberships).where(memberships.c.username == username))
        }
    return Operator(row.username, row.lang, roles, row.totp_secret is not None)


def list_operators(node: Node) -> list[Operator]:
    with node.reader.connect() as conn:
        names = [
            r.username for r in conn.execute(select(operators.c.username).order_by(operators.c.username))
        ]
    return [get_operator(node, n) for n in names]


def check_password(node: Node, username: str, password: str) -> Operator:
    """The operator if the password is right; one AuthError for every kind of wrong."""
    with node.reader.connect() as conn:
        row = conn.execute(select(operators).where(operators.c.username == username)).first()
    if row is None or row.disabled:
        # Spend the same time as a real check so user names cannot be probed by timing.
        _hasher.hash(password)
        raise AuthError("wrong user name or password")
    try:
        _hasher.verify(row.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise AuthError("wrong user name or password") from None
    return get_operator(node, username)


def set_language(node: Node, username: str, lang: str) -> None:
    if lang not in ("nb", "ru", "en"):
        raise UsageError(f"unknown language {lang!r}", hint="choose nb, ru or en")
    with node.engine.begin() as conn:
        conn.execute(update(operators).where(operators.c.username == username).values(lang=lang))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def do_issue_token(node: Node, username: str, label: str = "") -> str:
    """A new API token for ``username``; only its hash is stored, so show it once."""
    get_operator(node, username)
    token = "pk_" + secrets.token_urlsafe(32)
    with node.engine.begin() as conn:
        conn.execute(
            insert(api_tokens).values(
                token_hash=_token_hash(token),
                username=username,
                label=label,
                created_at=node.clock.now(),
                revoked=False,
            )
        )
    return token


def do_revoke_tokens(node: Node, username: str, label: str | None = None) -> int:
    """Revoke ``username``'s API tokens (those with ``label`` only, if given); how many."""
    get_operator(node, username)
    with node.engine.begin() as conn:
        q = update(api_tokens).where(api_tokens.c.username == username, api_tokens.c.revoked.is_(False))
        if label is not None:
            q = q.where(api_tokens.c.label == label)
        count = conn.execute(q.values(revoked=True)).rowcount
    if not count:
        which = f" labelled {label!r}" if label is not None else ""
        raise NotFoundError(
            f"{username} has no API token{which} to revoke",
            hint=f"issue one with `parley token issue {username}`",
        )
    return int(count)


def operator_for_token(node: Node, token: str) -> Operator:
    with node.reader.connect() as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == _token_hash(token))).first()
    if row is None or row.revoked:
        raise AuthError("invalid or revoked API token", hint="issue one with `parley token issue USER`")
    return get_operator(node, row.username)
