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
from parley.formats.texts import T
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
        raise UsageError(
            T("user name {username!r} is not valid", username=username),
            hint=T("use lower-case letters and digits"),
        )
    if role not in ROLES:
        raise UsageError(
            T("unknown role {role!r}", role=role), hint=T("choose one of {roles}", roles=", ".join(ROLES))
        )
    require_desk(node, desk)
    with node.engine.begin() as conn:
        exists = conn.execute(select(operators.c.username).where(operators.c.username == username)).first()
        if exists is None:
            if len(password) < MIN_PASSWORD:
                raise UsageError(
                    T("password too short ({n_password} characters)", n_password=len(password)),
                    hint=T("use at least {min_password} characters", min_password=MIN_PASSWORD),
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
            raise ConflictError(
                T("{username} already has a role on desk {desk!r}", username=username, desk=desk)
            )
        conn.execute(insert(memberships).values(username=username, desk=desk, role=role))
    return get_operator(node, username)


def get_operator(node: Node, username: str) -> Operator:
    with node.reader.connect() as conn:
        row = conn.execute(select(operators).where(operators.c.username == username)).first()
        if row is None or row.disabled:
            raise NotFoundError(
                T("unknown operator {username!r}", username=username), hint=T("see `parley operator list`")
            )
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


def password_hash_of(node: Node, username: str) -> str | None:
    """The stored Argon2 hash of a live operator; None for an unknown or disabled one."""
    with node.reader.connect() as conn:
        row = conn.execute(
            select(operators.c.password_hash, operators.c.disabled).where(operators.c.username == username)
        ).first()
    if row is None or row.disabled:
        return None
    return str(row.password_hash)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Argon2id verification (RFC 9106). Slow and memory-hard on purpose: the web layer runs
    it through :class:`parley.console.login_gate.LoginGate`, never in the database threads."""
    if stored_hash is None:
        # Spend the same time as a real check so user names cannot be probed by timing.
        _hasher.hash(password)
        return False
    try:
        return bool(_hasher.verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password(node: Node, username: str, password: str) -> Operator:
    """The operator if the password is right; one AuthError for every kind of wrong."""
    if not password_matches(password_hash_of(node, username), password):
        raise AuthError(T("wrong user name or password"))
    return get_operator(node, username)


def set_language(node: Node, username: str, lang: str) -> None:
    if lang not in ("nb", "ru", "en"):
        raise UsageError(T("unknown language {lang!r}", lang=lang), hint=T("choose nb, ru or en"))
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
            T("{username} has no API token{which} to revoke", username=username, which=which),
            hint=T("issue one with `parley token issue {username}`", username=username),
        )
    return int(count)


def operator_for_token(node: Node, token: str) -> Operator:
    with node.reader.connect() as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == _token_hash(token))).first()
    if row is None or row.revoked:
        raise AuthError(T("invalid or revoked API token"), hint=T("issue one with `parley token issue USER`"))
    return get_operator(node, row.username)
