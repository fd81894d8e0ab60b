"""Password checks in their own threads, behind a waiting room of bounded size.

Argon2id (RFC 9106) is slow and memory-hard on purpose. Run in the same thread pool as the
database work (``Service.db``), a burst of log-in attempts fills that pool and every
delivery, receipt and page waits behind the hashes. So a node checks passwords in a small
pool of its own (``[console] login_workers`` threads) and admits at most
``[console] login_queue`` more log-ins to wait for it; the next one is refused at once with
``login_busy`` (HTTP 503) instead of queueing without bound. This also bounds the memory
that hashing can take: ``login_workers`` × Argon2's memory cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from parley.directory.operators import password_matches
from parley.errors import ParleyError
from parley.formats.texts import T


class LoginBusy(ParleyError):
    code = "login_busy"
    http_status = 503


class LoginGate:
    def __init__(self, workers: int, queue: int) -> None:
        self.workers = max(1, workers)
        self.capacity = self.workers + max(0, queue)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="parley-password")
        # Only the event loop touches the count, so no lock is needed.
        self._inside = 0

    @property
    def inside(self) -> int:
        return self._inside

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one place for a whole log-in, or refuse at once when all are taken."""
        if self._inside >= self.capacity:
            raise LoginBusy(
                T("too many log-ins are being checked at once"),
                hint=T("try again in a few seconds"),
                details={"retry_after_s": 2},
            )
        self._inside += 1
        try:
            yield
        finally:
            self._inside -= 1

    async def check(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash`` (None: no such operator), off the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, password_matches, stored_hash, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
