"""What federation and continuity code needs of a running node, as a typing Protocol.

The running node (``parley.running.service.Service``) sits above federation in the layers
(docs/architecture.md). Handlers, loops and the witness exchange take it as a ``Runtime``:
they see its database worker, its peers' HTTP clients and its events, and never import the
layer above them. ``Service`` satisfies the Protocol structurally; mypy checks that it does
wherever a ``Service`` is passed as a ``Runtime``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from parley.federation.client import PeerClient
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope

T = TypeVar("T")


class Runtime(Protocol):
    node: Node
    tick_s: float
    owner: str
    stop: asyncio.Event
    clients: dict[str, PeerClient]
    # Loads tls/cert.pem and tls/key.pem into the live server context (set by `parley serve`).
    tls_reload: Callable[[], None] | None

    async def db(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run ``fn`` in a worker thread: database work never blocks the event loop."""
        ...

    def client_for(self, peer: str) -> PeerClient: ...

    async def repin(self, peer: str) -> None: ...

    def wake_senders(self) -> None: ...

    def on_received(self, envs: list[SignedEnvelope]) -> None: ...

    def publish(self, event: dict[str, Any]) -> None: ...

    def schedule_gap_fetch(self, peer: str, channel: str, start: int, end: int) -> None: ...

    def beat(self, loop: str) -> None: ...

    async def _sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``; returns early when the node stops."""
        ...
