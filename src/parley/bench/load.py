"""Load generators for the benchmark: sequential latency and concurrent throughput."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from parley.protocol.tls import pinned_client_context


@dataclass
class Target:
    url: str
    cert_pem: str
    token: str = ""

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    s = sorted(samples_ms)
    if not s:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}

    def pick(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))], 3)

    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": round(s[-1], 3)}


def message(i: int) -> dict[str, Any]:
    return {
        "channel": "test-line",
        "type": "general",
        "body": {"text": f"benchmark message {i}", "lang": "en"},
    }


def _session(target: Target, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=pinned_client_context(target.cert_pem), limit=connections),
        headers=target.headers(),
        timeout=aiohttp.ClientTimeout(total=120),
    )


async def _post(c: aiohttp.ClientSession, url: str, path: str, payload: Any) -> None:
    async with c.post(url + path, json=payload) as r:
        text = await r.text()
        if r.status >= 300:
            raise RuntimeError(f"{path} answered {r.status}: {text[:200]}")


def sequential(target: Target, path: str, n: int, body: Any) -> list[float]:
    """``n`` requests one after another on one kept-alive connection; latencies in ms."""

    async def run() -> list[float]:
        out = []
        async with _session(target, 1) as c:
            for i in range(n):
                payload = body(i) if callable(body) else body
                t = time.perf_counter()
                await _post(c, target.url, path, payload)
                out.append((time.perf_counter() - t) * 1000)
        return out

    return asyncio.run(run())


def concurrent(target: Target, path: str, n: int, senders: int, body: Any) -> tuple[float, list[float]]:
    """``n`` requests from ``senders`` concurrent clients; (seconds, latencies ms).

    The client is aiohttp, the fastest measured here (``../shared/STACK.md``): the load
    generator shares the machine with both nodes, so its own cost is kept low."""

    async def run() -> tuple[float, list[float]]:
        lat: list[float] = []
        counter = iter(range(n))
        async with _session(target, senders) as c:

            async def sender() -> None:
                for i in counter:
                    payload = body(i) if callable(body) else body
                    t = time.perf_counter()
                    await _post(c, target.url, path, payload)
                    lat.append((time.perf_counter() - t) * 1000)

            start = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(senders)))
            return time.perf_counter() - start, lat

    return asyncio.run(run())
