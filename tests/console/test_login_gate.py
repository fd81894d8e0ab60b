"""The password threads' waiting room (issue 14, item 4): bounded, and refusing at once."""

from __future__ import annotations

import threading

import pytest

from parley.console.login_gate import LoginBusy, LoginGate
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
