"""The audit log: who did what, when, recorded with the act itself.

Every operator action (sending, acknowledging, logging in to the console, signing a
protocol…) appends a row; ``audit_txn`` writes it in the caller's transaction so an act and
its record commit together, ``audit`` in a transaction of its own for acts that wrote
nothing else (a log-in, a view).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert

from parley.node import Node
from parley.storage.tables import audit_log

_INSERT = insert(audit_log)


def audit_txn(conn: Any, at: Any, actor: str, action: str, details: dict[str, Any]) -> None:
    """Record who did what, in the same transaction as the act itself."""
    conn.execute(_INSERT, {"at": at, "actor": actor, "action": action, "details": json.dumps(details)})


def audit(node: Node, actor: str, action: str, details: dict[str, Any]) -> None:
    """Record an operator action in a transaction of its own."""
    with node.engine.begin() as conn:
        audit_txn(conn, node.clock.now(), actor, action, details)
