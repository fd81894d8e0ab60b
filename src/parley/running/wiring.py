"""Plug the workflows and the watch into messaging's hooks (``parley.messaging.hooks``).

The running node is the layer that knows every other; messaging, below the workflows and the
watch, only calls what is wired here. ``parley.running`` runs :func:`wire` when imported.
"""

from __future__ import annotations

from parley.messaging.hooks import Hooks, install
from parley.watch.paging import chain_covers, pages_for
from parley.workflows.projection import project_workflows_txn
from parley.workflows.rules import check_workflow_rules
from parley.workflows.thread_actions import workflow_actions


def wire() -> None:
    install(
        Hooks(
            check_rules=check_workflow_rules,
            project_txn=project_workflows_txn,
            thread_actions=workflow_actions,
            pages_for=pages_for,
            chain_covers=chain_covers,
        )
    )
