"""Talking to one peer over HTTPS with its pinned certificate and signed requests.

The client is aiohttp: on this machine it reaches 2–10× the request rate of httpx against the
same server (docs/decisions/0006), and the link between nodes is the hot path of every
message. The session is opened lazily, inside the event loop that uses it.

A pinned peer is trusted to be who it is, not to be kind (issue 14, docs/security.md), so
every answer is handled as hostile input: the URL must be ``https:`` (RFC 9110 §4.2.2), a
3xx answer is an outage and is never followed (RFC 9110 §15.4 lets a client decline, and
following one would re-send a signed envelope to an address nobody pinned), the body is read
as it streams and abandoned once it passes ``federation.max_answer_bytes``, and each phase
has its own clock: connecting, the silence between two reads, and the whole request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from parley.errors import ParleyError, PeerError
from parley.federation.auth import sign_request
from parley.formats.texts import T, Text
from parley.node import Node
from parley.protocol.tls import pinned_client_context

PREFIX = "/federation/v1"
CHUNK = 65536


class PeerRefused(PeerError):
    """The peer answered 4xx: it refused what we sent (a protocol-level answer, not an outage)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(
            T(
                "peer refused ({status} {body_error}): {body_message}",
                status=status,
                body_error=body.get("error", "?"),
                body_message=body.get("message", ""),
            ),
            code=str(body.get("error", "peer_refused")),
            details=body,
        )
        self.status = status
        self.body = body


def require_https(peer: str, url: str) -> None:
    """Refuse, before any byte is sent, a peer URL that is not ``https:``."""
    if urlsplit(url).scheme.lower() != "https" or not urlsplit(url).hostname:
        raise PeerError(
            T(
                "peer {peer}'s URL {url!r} is not an https:// address; nothing was sent",
                peer=peer,
                url=url[:200],
            ),
            code="peer_url_not_https",
            hint=T("ask the peer for a fresh identity card with an https:// URL and pin it"),
        )


class PeerClient:
    def __init__(self, node: Node, peer: str, url: str, cert_pem: str, timeout: float) -> None:
        require_https(peer, url)
        fed = node.config.federation
        self.node = node
        self.peer = peer
        self.base = url.rstrip("/")
        self._ssl = pinned_client_context(cert_pem)
        self.cert_pem = cert_pem
        self._total_s = timeout
        self._max_answer = fed.max_answer_bytes
        self._timeout = aiohttp.ClientTimeout(
            total=timeout,
            sock_connect=min(fed.connect_timeout_s, timeout),
            sock_read=min(fed.read_timeout_s, timeout),
        )
        self._session: aiohttp.ClientSession | None = None
        self._retiring: dict[asyncio.Task[None], aiohttp.ClientSession] = {}

    def repin(self, cert_pem: str) -> None:
        """Trust ``cert_pem`` (one or several certificates) from the next connection on.

        Requests in flight on the old session finish on their connections: it is closed
        once the longest of them has had its time (docs/protocol.md §13.7)."""
        self._ssl = pinned_client_context(cert_pem)
        self.cert_pem = cert_pem
        old, self._session = self._session, None
        if old is not None and not old.closed:

            async def close_later() -> None:
                await asyncio.sleep(self._total_s)
                await old.close()

            task = asyncio.ensure_future(close_later())
            self._retiring[task] = old
            task.add_done_callback(lambda t: self._retiring.pop(t, None))

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=4),
                timeout=self._timeout,
                # Answers are JSON we parse ourselves; no cookies cross between nodes.
                cookie_jar=aiohttp.DummyCookieJar(),
                # Nodes never compress (and ask for identity): a gzip answer inflated
                # inside aiohttp could grow a thousandfold before the size limit sees it.
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        for task, old in list(self._retiring.items()):
            task.cancel()
            await old.close()
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def call(self, method: str, path: str, payload: Any = None) -> Any:
        """Send a signed request; return the JSON answer; PeerRefused on 4xx, PeerError else."""
        full = PREFIX + path
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = sign_request(self.node, method, full, self.peer, body)
        headers["content-type"] = "application/json"
        headers["accept-encoding"] = "identity"
        try:
            # aiohttp's total covers the read too, but an outer clock also bounds the TLS
            # handshake and any phase aiohttp does not time (an answer trickling byte by byte).
            async with asyncio.timeout(self._total_s):
                status, raw = await self._exchange(method, self.base + full, body, headers)
        except PeerError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PeerError(
                T(
                    "cannot reach {peer}: {exc_type_name}: {exc}",
                    peer=self.peer,
                    exc_type_name=type(exc).__name__,
                    exc=exc,
                ),
                code="unreachable",
            ) from exc
        if 300 <= status < 400:
            raise PeerError(
                T(
                    "{peer} answered {status} (a redirect); Parley does not follow redirects "
                    "between nodes, so nothing was re-sent",
                    peer=self.peer,
                    status=status,
                ),
                code="peer_redirected",
                hint=T("the peer's node or a proxy in front of it is misconfigured; tell its operator"),
            )
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            data = {"error": "bad_answer", "message": raw[:200].decode("utf-8", "replace")}
        if 400 <= status < 500:
            raise PeerRefused(status, data if isinstance(data, dict) else {})
        if status >= 300:
            raise PeerError(
                T("{peer} answered {status}: {data}", peer=self.peer, status=status, data=str(data)[:200]),
                code="peer_failed",
            )
        return data

    async def _exchange(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        async with self._open().request(
            method, url, data=body, headers=headers, allow_redirects=False
        ) as resp:
            declared = resp.content_length
            if declared is not None and declared > self._max_answer:
                resp.close()
                raise self._too_large(
                    T(
                        "{peer}'s answer announces {declared} bytes; the limit is {max_answer} bytes; "
                        "it was abandoned",
                        peer=self.peer,
                        declared=declared,
                        max_answer=self._max_answer,
                    )
                )
            parts: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > self._max_answer:
                    # close(), not release(): the rest of the answer must not be read or pooled.
                    resp.close()
                    raise self._too_large(
                        T(
                            "{peer}'s answer sent more than {max_answer} bytes; the limit is {max_answer} "
                            "bytes; it was abandoned",
                            peer=self.peer,
                            max_answer=self._max_answer,
                        )
                    )
                parts.append(chunk)
            return resp.status, b"".join(parts)

    def _too_large(self, message: Text) -> PeerError:
        return PeerError(
            message,
            code="answer_too_large",
            hint=T(
                "if the peer's answers are legitimately this large, raise "
                "[federation] max_answer_bytes in parley.toml"
            ),
        )


def is_outage(exc: ParleyError) -> bool:
    return not isinstance(exc, PeerRefused)
