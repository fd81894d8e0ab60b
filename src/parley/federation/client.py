"""Talking to one peer over HTTPS with its pinned certificate and signed requests."""

from __future__ import annotations

import json
from typing import Any

import httpx

from parley.errors import ParleyError, PeerError
from parley.federation.auth import sign_request
from parley.federation.tls import pinned_client_context
from parley.node import Node

PREFIX = "/federation/v1"


class PeerRefused(PeerError):
    """The peer answered 4xx: it refused what we sent (a protocol-level answer, not an outage)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(
            f"peer refused ({status} {body.get('error', '?')}): {body.get('message', '')}",
            code=str(body.get("error", "peer_refused")),
            details=body,
        )
        self.status = status
        self.body = body


class PeerClient:
    def __init__(self, node: Node, peer: str, url: str, cert_pem: str, timeout: float) -> None:
        self.node = node
        self.peer = peer
        self.base = url.rstrip("/")
        self._client = httpx.AsyncClient(
            verify=pinned_client_context(cert_pem),
            timeout=timeout,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, path: str, payload: Any = None) -> Any:
        """Send a signed request; return the JSON answer; PeerRefused on 4xx, PeerError else."""
        full = PREFIX + path
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = sign_request(self.node, method, full, self.peer, body)
        headers["content-type"] = "application/json"
        try:
            resp = await self._client.request(method, self.base + full, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PeerError(
                f"cannot reach {self.peer}: {type(exc).__name__}: {exc}", code="unreachable"
            ) from exc
        try:
            data = resp.json()
        except ValueError:
            data = {"error": "bad_answer", "message": resp.text[:200]}
        if 400 <= resp.status_code < 500:
            raise PeerRefused(resp.status_code, data if isinstance(data, dict) else {})
        if resp.status_code >= 300:
            raise PeerError(f"{self.peer} answered {resp.status_code}: {str(data)[:200]}", code="peer_failed")
        return data


def is_outage(exc: ParleyError) -> bool:
    return not isinstance(exc, PeerRefused)
