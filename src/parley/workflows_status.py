"""Status lines contributed by the workflows (meetings overdue, security alarms, …)."""

from __future__ import annotations

from typing import Any

from parley.node import Node


def extra_status(node: Node) -> dict[str, Any]:
    from parley.workflows.cadence import cadence_for_node

    overdue = [c.to_json() for c in cadence_for_node(node) if c.overdue]
    return {"meetings_overdue": overdue}
