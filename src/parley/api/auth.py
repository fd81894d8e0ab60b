"""Who is asking: an operator by API token (``Authorization: Bearer …``) or console session.

Token look-ups are remembered for ``TOKEN_TTL_S`` seconds per process: an automated client
sending hundreds of messages a second should not cost two database reads each. A changed
role or a revoked token therefore takes effect within that time (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from fastapi import Request

from parley.directory.operators import Operator, operator_for_token
from parley.errors import AuthError

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
        return operator
    session_user = getattr(request.state, "operator", None)
    if isinstance(session_user, Operator):
        return session_user
    raise AuthError(
        "authentication required", hint="send Authorization: Bearer <token> (parley token issue USER)"
    )
