"""Two real node processes and a real SMTP server: a FLASH from A that nobody on B
acknowledges pages B's officer on watch (per the roster), then the supervisor; the
acknowledgment stops the chain before the head of desk is paged. The chain is shortened to
seconds, in the database, as an operator would set it with ``parley chain set``.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from parley.devnet.nodes import PASSWORD
from parley.directory.contacts import set_contact
from parley.directory.operators import do_add_operator
from parley.node import Node
from parley.watch.roster import ShiftSpec, add_shifts
from tests.console.console_support import ConsoleClient
from tests.harness.nodes import make_pair
from tests.harness.smtp import SmtpSink

pytestmark = pytest.mark.e2e

STEPS = ["0:console", "1:watch", "3:supervisor", "8:operator:head"]


def _prepare_b(home: Path) -> None:
    node = Node.open(home)
    try:
        for name, role in (("officer", "duty"), ("chief", "supervisor"), ("head", "duty")):
            do_add_operator(node, name, "duty", role, PASSWORD)
            set_contact(node, name, email=f"{name}@node-b.example")
        today = node.clock.now().replace(hour=0, minute=0)
        start, end = (d.strftime("%Y-%m-%dT%H:%M") for d in (today, today + timedelta(days=2)))
        add_shifts(node, "duty", [ShiftSpec("officer", start, end, "UTC")], actor="test")
    finally:
        node.close()


def test_a_flash_pages_the_officer_on_watch_then_the_supervisor_until_acknowledged(tmp_path: Path) -> None:
    with SmtpSink(starttls=True, auth=("node-b", "mail-password")) as sink:
        config = {"pager": {"smtp_url": sink.url, "from_address": "parley@node-b.example"}}
        a, b = make_pair(tmp_path, flash=60, config=config)
        _prepare_b(b.home)
        b.cli_here("chain", "set", "duty", "FLASH", *[a for s in STEPS for a in ("--step", s)])
        try:
            a.start()
            b.start()
            sent = a.send("test-line", "FLASH: vessel on fire", precedence="FLASH")
            t0 = time.monotonic()
            officer = sink.wait_for(lambda m: "officer@" in str(m["To"]), timeout=15)
            assert sent["id"] in officer.get_content()
            chief = sink.wait_for(lambda m: "chief@" in str(m["To"]), timeout=15)
            assert "[FLASH]" in str(chief["Subject"])
            with b.client() as c:
                assert c.post(f"/api/v1/messages/{sent['id']}/ack").status_code == 201
            # The head of desk's step (8 s after receipt) passes with the acknowledgment in.
            with pytest.raises(TimeoutError):
                sink.wait_for(
                    lambda m: "head@" in str(m["To"]), timeout=max(0.0, 10 - (time.monotonic() - t0))
                )
            shown = b.cli_json("show", sent["id"])
            assert [(p["recipient"], p["state"]) for p in shown["pages"]] == [
                ("officer", "sent"),
                ("chief", "sent"),
            ]
            assert len(sink.messages) == 2
            # The console's message page shows the escalation: who was paged, how, and when.
            with ConsoleClient(b) as console:
                console.login("chief")
                page = console.get(f"/console/messages/{sent['id']}").text
            assert 'data-page-state="sent" data-recipient="officer"' in page
            assert 'data-page-state="sent" data-recipient="chief"' in page
        finally:
            a.stop()
            b.stop()
