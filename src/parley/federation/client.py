"""Talking to one peer over HTTPS with its pinned certificate and signed requests.

The client is aiohttp: on this machine it reaches 2–10× the request rate of httpx against the
same server (docs/decisions/0006), and the link between nodes is the hot path of every
message. The session is opened lazily, inside the event loop that uses it.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

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
        self._ssl = pinned_client_context(cert_pem)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=4),
                timeout=self._timeout,
                # Answers are JSON we parse ourselves; no cookies cross between nodes.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def call(self, method: str, path: str, payload: Any = None) -> Any:
        """Send a signed request; return the JSON answer; PeerRefused on 4xx, PeerError else."""
        full = PREFIX + path
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = sign_request(self.node, method, full, self.peer, body)
        headers["content-type"] = "application/json"
        try:
            async with self._open().request(method, self.base + full, data=body, headers=headers) as resp:
                status = resp.status
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PeerError(
                f"cannot reach {self.peer}: {type(exc).__name__}: {exc}", code="unreachable"
            ) from exc
        try:
            data = json.loads(raw)
        except ValueError:
            data = {"error": "bad_answer", "message": raw[:200].decode("utf-8", "replace")}
        if 400 <= status < 500:
            raise PeerRefused(status, data if isinstance(data, dict) else {})
        if status >= 300:
            raise PeerError(f"{self.peer} answered {status}: {str(data)[:200]}", code="peer_failed")
        return data


def is_outage(exc: ParleyError) -> bool:
    return not isinstance(exc, PeerRefused)
