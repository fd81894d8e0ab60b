"""RequestLimits driven by an injectable clock: the body's total deadline, counted chunks and
credential-dependent limits, without sleeping (parley.api.limits)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from parley.api.limits import RequestLimits
from parley.config import HttpSection
from parley.errors import UsageError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _scope(path: str = "/console/login", headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {"type": "http", "method": "POST", "path": path, "scheme": "https", "headers": headers or []}


async def _reader(scope: Scope, receive: Receive, send: Send) -> None:
    """An application that reads the whole body, then answers 200 with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def _run(
    limits: RequestLimits, scope: Scope, chunks: list[bytes], clock: Clock, step_s: float
) -> list[Message]:
    sent: list[Message] = []
    queue = list(chunks)

    async def receive() -> Message:
        clock.now += step_s  # each chunk arrives step_s after the previous one
        body = queue.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(queue)}

    async def send(message: Message) -> None:
        sent.append(message)

    await limits(scope, receive, send)
    return sent


def _answer(sent: list[Message]) -> tuple[int, dict[str, Any], dict[bytes, bytes]]:
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], json.loads(body) if body[:1] == b"{" else {}, dict(start["headers"])


async def test_a_body_that_never_pauses_long_still_hits_the_total_deadline() -> None:
    clock = Clock()
    limits = RequestLimits(
        _reader, http=HttpSection(body_idle_timeout_s=5, body_timeout_s=20), federation_bytes=1, clock=clock
    )
    # 30 chunks, 1 s apart: never idle for 5 s, but 30 s in all.
    sent = await _run(limits, _scope(), [b"a"] * 30, clock, 1.0)
    status, body, headers = _answer(sent)
    assert status == 408
    assert body["error"] == "request_timeout"
    assert headers[b"connection"] == b"close"
    assert len(sent) == 2  # the application's own late answer is dropped


async def test_a_body_within_its_deadline_passes() -> None:
    clock = Clock()
    limits = RequestLimits(_reader, http=HttpSection(body_timeout_s=20), federation_bytes=1, clock=clock)
    sent = await _run(limits, _scope(), [b"a"] * 10, clock, 1.0)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"10"
    assert (b"strict-transport-security", b"max-age=31536000") in sent[0]["headers"]


async def test_chunks_are_counted_against_the_limit_for_who_seems_to_ask() -> None:
    http = HttpSection(anonymous_body_bytes=100, body_bytes=1000)
    clock = Clock()
    limits = RequestLimits(_reader, http=http, federation_bytes=500, clock=clock)
    chunks = [b"x" * 60] * 10  # 600 bytes, chunked: no Content-Length
    anonymous = _answer(await _run(limits, _scope(), chunks, clock, 0))
    bearer_api = _scope("/api/v1/messages/batch", [(b"authorization", b"Bearer t")])
    bearer = _answer(await _run(limits, bearer_api, chunks, clock, 0))
    cookie = [(b"cookie", b"a=b; __Host-parley-session=s")]
    session = _answer(await _run(limits, _scope("/console/settings", cookie), chunks, clock, 0))
    federation = _answer(await _run(limits, _scope("/federation/v1/envelopes"), chunks, clock, 0))
    both = [(b"authorization", b"Bearer t"), *cookie]
    login = _answer(await _run(limits, _scope("/console/login", both), chunks, clock, 0))
    console = [(b"authorization", b"Bearer t")]
    console_bearer = _answer(await _run(limits, _scope("/console/settings", console), chunks, clock, 0))
    assert anonymous[0] == 413
    assert anonymous[1]["error"] == "request_too_large"
    assert "100 bytes" in anonymous[1]["message"]
    assert bearer[0] == 200
    assert session[0] == 200
    assert federation[0] == 413
    # The log-in form and a bearer token the console does not accept get the small limit.
    assert login[0] == 413
    assert console_bearer[0] == 413
    assert "500 bytes" in federation[1]["message"]


async def test_no_hsts_on_plain_http_or_when_switched_off() -> None:
    clock = Clock()
    plain = RequestLimits(_reader, http=HttpSection(), federation_bytes=1, clock=clock)
    sent = await _run(plain, {**_scope(), "scheme": "http"}, [b""], clock, 0)
    assert b"strict-transport-security" not in dict(sent[0]["headers"])
    off = RequestLimits(_reader, http=HttpSection(hsts_max_age_s=0), federation_bytes=1, clock=clock)
    sent = await _run(off, _scope(), [b""], clock, 0)
    assert b"strict-transport-security" not in dict(sent[0]["headers"])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("body_bytes", 0),
        ("anonymous_body_bytes", -1),
        ("body_timeout_s", float("nan")),
        ("header_timeout_s", 0.0),
    ],
)
def test_settings_that_switch_a_bound_off_are_refused(key: str, value: float) -> None:
    http = HttpSection()
    setattr(http, key, value)
    with pytest.raises(UsageError, match=f"\\[http\\] {key}") as caught:
        RequestLimits(_reader, http=http, federation_bytes=1)
    assert caught.value.hint
