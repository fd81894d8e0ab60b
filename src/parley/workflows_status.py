"""Status lines contributed by the workflows (meetings overdue, security alarms, …)."""

from __future__ import annotations

from typing import Any

from parley.node import Node


def extra_status(node: Node) -> dict[str, Any]:
    return {}
