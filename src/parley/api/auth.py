"""Who is asking: an operator by API token (``Authorization: Bearer …``) or console session."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from parley.directory.operators import Operator, operator_for_token
from parley.errors import AuthError


async def current_operator(request: Request) -> Operator:
    service: Any = request.app.state.service
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        operator: Operator = await service.db(operator_for_token, service.node, token)
        return operator
    session_user = getattr(request.state, "operator", None)
    if isinstance(session_user, Operator):
        return session_user
    raise AuthError(
        "authentication required", hint="send Authorization: Bearer <token> (parley token issue USER)"
    )
