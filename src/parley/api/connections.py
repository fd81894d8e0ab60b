"""Bounds on a connection before its request reaches the application: how long and how
large a request's head (request line and header fields, RFC 9112 §2.1) may be.

uvicorn bounds neither for its default parser (httptools): it has no header-read timeout,
and ``h11_max_incomplete_event_size`` applies to the h11 parser only. This protocol adds
both, counted from a request's first byte (or from the connection's start) to its last
header field; a head too slow is dropped, a head too large answered 431
(RFC 6585 §5) and closed. Between requests, uvicorn's ``timeout_keep_alive`` applies.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("parley.http")


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request head."""

    head_timeout_s: float = 10.0
    max_head_bytes: int = 65_536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def _start_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._stop_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _stop_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Counted after parsing: a chunk that also carries body bytes ended the head already.
        if self._in_head and self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
            log.warning("request head from %s larger than %d bytes: closed", _peer(self), self.max_head_bytes)
            self._stop_timer()
            self._send_431()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:
            self._start_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_timer()
        super().on_headers_complete()

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            log.info("request head from %s too slow (%g s): closed", _peer(self), self.head_timeout_s)
            self.transport.close()

    def _send_431(self) -> None:
        body = b"request header fields too large"
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()


def _peer(protocol: HttpToolsProtocol) -> str:
    client = protocol.client
    return f"{client[0]}:{client[1]}" if client else "unknown client"


def bounded_protocol(head_timeout_s: float, max_head_bytes: int) -> type[BoundedHeadProtocol]:
    """A protocol class with these bounds (uvicorn instantiates the class it is given)."""
    return type(
        "BoundedHeadProtocol",
        (BoundedHeadProtocol,),
        {"head_timeout_s": head_timeout_s, "max_head_bytes": max_head_bytes},
    )
