"""Who is asking: an operator by API token (``Authorization: Bearer …``) or console session.

Token look-ups are remembered for ``TOKEN_TTL_S`` seconds per process: an automated client
sending hundreds of messages a second should not cost two database reads each. A changed
role or a revoked token therefore takes effect within that time (docs/operations.md).

What the operator may then do is the authorization policy's to say
(:mod:`parley.directory.policy`): each route asks for ``acting(Action.…)``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from fastapi import Request

from parley.api.route_actions import Acting
from parley.directory.operators import Operator, operator_for_token
from parley.directory.policy import Action
from parley.errors import AuthError
from parley.formats.texts import T

TOKEN_TTL_S = 2.0
_MAX_CACHED = 1000


class TokenCache:
    def __init__(self, ttl_s: float = TOKEN_TTL_S, clock: Any = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[str, tuple[float, Operator]] = {}

    def get(self, token: str) -> Operator | None:
        hit = self._entries.get(_key(token))
        if hit is None or hit[0] <= self.clock():
            return None
        return hit[1]

    def put(self, token: str, operator: Operator) -> None:
        if len(self._entries) >= _MAX_CACHED:
            self._entries.clear()  # rare: cheaper than bookkeeping an LRU
        self._entries[_key(token)] = (self.clock() + self.ttl_s, operator)


def _key(token: str) -> str:
    # Only a digest is kept in memory, like in the database.
    return hashlib.sha256(token.encode()).hexdigest()


async def current_operator(request: Request) -> Operator:
    service: Any = request.app.state.service
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        cache: TokenCache = request.app.state.tokens
        operator = cache.get(token)
        if operator is None:
            operator = await service.db(operator_for_token, service.node, token)
            cache.put(token, operator)
        request.state.operator_lang = operator.lang  # errors fall back to it (parley.api.app)
        return operator
    session_user = getattr(request.state, "operator", None)
    if isinstance(session_user, Operator):
        request.state.operator_lang = session_user.lang
        return session_user
    raise AuthError(
        T("authentication required"), hint=T("send Authorization: Bearer <token> (parley token issue USER)")
    )


def acting(action: Action) -> Acting:
    """The dependency of an operator API route that performs ``action``."""
    return Acting(action, current_operator)
