"""A flood of wrong passwords must not slow delivery (issue 14, item 4).

Two real node processes. Thirty clients keep posting wrong passwords to node A's log-in form
while node A sends a FLASH to node B; the FLASH's receipt must come back within 2 s.

The per-address brake would stop this flood after 20 guesses (every client is 127.0.0.1),
and then no password would be hashed at all; node A's address limit is raised so that every
admitted guess really costs an Argon2 check and the test measures the password threads, not
the brake. User names change every guess so the per-user brake never answers either.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from parley.protocol.tls import pinned_client_context
from tests.harness.nodes import NodeProcess, make_pair

pytestmark = [pytest.mark.e2e, pytest.mark.alone]

CLIENTS = 30
FLOOD_MAX_S = 20.0  # the flood stops by itself even if the test body fails
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _guess(
    node: NodeProcess, index: int, stop: threading.Event, seen: Counter[int], lock: threading.Lock
) -> None:
    ends = time.monotonic() + FLOOD_MAX_S
    with httpx.Client(base_url=node.url, verify=pinned_client_context(node.cert()), timeout=30) as c:
        form = c.get("/console/login")
        m = _CSRF.search(form.text)
        assert m, form.text[:300]
        n = 0
        while not stop.is_set() and time.monotonic() < ends:
            n += 1
            try:
                r = c.post(
                    "/console/login",
                    data={
                        "username": f"guess-{index}-{n}",
                        "password": "not the password",
                        "csrf": m.group(1),
                    },
                )
            except httpx.HTTPError:
                continue
            with lock:
                seen[r.status_code] += 1


def test_a_flash_is_receipted_within_2s_while_30_clients_guess_passwords(tmp_path: Path) -> None:
    a, b = make_pair(tmp_path, config={"console": {"login_failures_per_address": 1_000_000}})
    stop = threading.Event()
    seen: Counter[int] = Counter()
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_guess, args=(a, i, stop, seen, lock), daemon=True) for i in range(CLIENTS)
    ]
    try:
        a.start()
        b.start()
        a.send("test-line", "warm-up: the link works")  # connections open, charters delivered
        for t in threads:
            t.start()
        flooding = time.monotonic() + 10
        while True:  # until guesses are really being checked, and a second more
            with lock:
                if seen[401] > 0:
                    break
            assert time.monotonic() < flooding, f"no guess was checked in 10 s ({dict(seen)})"
            time.sleep(0.1)
        time.sleep(1.0)
        with a.client() as c:
            started = time.monotonic()
            r = c.post(
                "/api/v1/messages?wait=receipt&timeout=10",
                json={
                    "channel": "test-line",
                    "type": "general",
                    "precedence": "FLASH",
                    "body": {"text": "FLASH during a password flood", "lang": "en"},
                },
            )
            took = time.monotonic() - started
        assert r.status_code == 201, r.text
        assert took < 2.0, f"FLASH receipted after {took:.2f}s under a log-in flood ({dict(seen)})"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=35)
        for n in (a, b):
            n.stop()
    # Past the waiting room the gate refuses at once instead of queueing.
    assert set(seen) <= {401, 503}, seen
