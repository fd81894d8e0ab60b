"""Messaging reaches the workflows and the watch only through its hooks (issue 17, the house)."""

from __future__ import annotations

import subprocess
import sys

from parley.messaging.hooks import hooks
from parley.watch.paging import chain_covers, pages_for
from parley.workflows.projection import project_workflows_txn
from parley.workflows.rules import check_workflow_rules
from parley.workflows.thread_actions import workflow_actions


def test_the_running_node_wires_the_workflows_and_the_watch_into_messaging() -> None:
    h = hooks()
    assert h.check_rules is check_workflow_rules
    assert h.project_txn is project_workflows_txn
    assert h.thread_actions is workflow_actions
    assert h.pages_for is pages_for
    assert h.chain_covers is chain_covers


def test_a_process_that_never_wired_them_fails_loudly_instead_of_skipping_rules() -> None:
    code = (
        "import parley.messaging.send, parley.messaging.receive\n"
        "from parley.messaging.hooks import hooks\n"
        "try:\n    hooks()\nexcept RuntimeError as e:\n    print('refused:', e)\n"
        "import parley.running\n"
        "print('wired:', hooks().check_rules.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "refused: messaging hooks are not wired" in out.stdout
    assert "wired: check_workflow_rules" in out.stdout
