"""The password threads' waiting room (issue 14, item 4): bounded, and refusing at once."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from parley.console.login_gate import PASSWORD_THREAD_NICE, LoginBusy, LoginGate
from parley.directory.operators import _hasher


async def test_past_workers_and_queue_a_log_in_is_refused_at_once() -> None:
    gate = LoginGate(workers=1, queue=1)
    try:
        async with gate.admit(), gate.admit():
            assert gate.inside == 2
            with pytest.raises(LoginBusy) as busy:
                async with gate.admit():
                    pass
            assert busy.value.http_status == 503
            assert busy.value.code == "login_busy"
            assert busy.value.hint
        assert gate.inside == 0  # places are given back, on errors too
    finally:
        gate.close()


async def test_passwords_are_checked_in_the_gates_own_threads() -> None:
    gate = LoginGate(workers=2, queue=0)
    try:
        stored = _hasher.hash("correct horse battery")
        assert await gate.check(stored, "correct horse battery")
        assert not await gate.check(stored, "wrong")
        assert not await gate.check(None, "anything")  # no such operator: still hashed
        names = {t.name for t in threading.enumerate()}
        assert any(n.startswith("parley-password") for n in names)
    finally:
        gate.close()


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU priority is Linux's")
async def test_password_threads_run_at_a_lower_cpu_priority_than_the_node() -> None:
    gate = LoginGate(workers=2, queue=0)
    try:
        node_nice = os.getpriority(os.PRIO_PROCESS, 0)
        loop = asyncio.get_running_loop()
        # getpriority(PRIO_PROCESS, 0) names the calling thread on Linux.
        thread_nice = await loop.run_in_executor(gate._pool, os.getpriority, os.PRIO_PROCESS, 0)
        assert thread_nice == min(19, node_nice + PASSWORD_THREAD_NICE)
        assert os.getpriority(os.PRIO_PROCESS, 0) == node_nice  # the event loop's thread is untouched
    finally:
        gate.close()
