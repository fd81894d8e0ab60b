"""Password checks in their own threads, behind a waiting room of bounded size.

Argon2id (RFC 9106) is slow and memory-hard on purpose. Run in the same thread pool as the
database work (``Service.db``), a burst of log-in attempts fills that pool and every
delivery, receipt and page waits behind the hashes. So a node checks passwords in a small
pool of its own (``[console] login_workers`` threads) and admits at most
``[console] login_queue`` more log-ins to wait for it; the next one is refused at once with
``login_busy`` (HTTP 503) instead of queueing without bound. This also bounds the memory
that hashing can take: ``login_workers`` × Argon2's memory cost.

On Linux the password threads also run at a lower CPU priority (nice +10; a thread's nice
value is its own there, and the threads Argon2 starts for its lanes inherit it). With as many
password threads as cores, a flood would otherwise take every core from the event loop and
the committer, and a FLASH would wait for CPU even though it no longer waits for a thread.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress

from parley.directory.operators import password_matches
from parley.errors import ParleyError
from parley.formats.texts import T

PASSWORD_THREAD_NICE = 10


def _lower_priority() -> None:
    """Lower this password thread's CPU priority, where the OS has per-thread priorities."""
    if sys.platform != "linux":  # elsewhere PRIO_PROCESS would lower the whole node
        return
    # A sandbox may forbid it; hashing still works then, only at normal priority.
    with suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_THREAD_NICE)


class LoginBusy(ParleyError):
    code = "login_busy"
    http_status = 503


class LoginGate:
    def __init__(self, workers: int, queue: int) -> None:
        self.workers = max(1, workers)
        self.capacity = self.workers + max(0, queue)
        self._pool = ThreadPoolExecutor(
            self.workers, thread_name_prefix="parley-password", initializer=_lower_priority
        )
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
