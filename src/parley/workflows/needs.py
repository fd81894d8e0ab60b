"""Which message types a channel's workflows need, so a charter cannot carry half a workflow.

A charter lists the types a channel carries (docs/protocol.md §9). The workflows built on
them (docs/workflows.md) answer one type with others: an incident report is moved by
``incident-response`` steps; a meeting proposal is accepted (``meeting-acceptance``), its
protocol drafted (``meeting-protocol``) and signed (``meeting-protocol-signature``); a SAR
request is followed by situation reports. A charter that carries the first type but not
the rest lets an operator start what neither side can finish.
"""

from __future__ import annotations

from collections.abc import Iterable

# type -> the types its workflow needs on the same channel
WORKFLOW_NEEDS: dict[str, tuple[str, ...]] = {
    "incident-at-sea": ("incident-response",),
    "border-incident": ("incident-response",),
    "meeting-proposal": ("meeting-acceptance", "meeting-protocol", "meeting-protocol-signature"),
    "meeting-acceptance": ("meeting-proposal",),
    "meeting-protocol": ("meeting-proposal",),
    "meeting-protocol-signature": ("meeting-proposal",),
    "sar-request": ("sar-sitrep",),
}


def missing_types(types: Iterable[str]) -> dict[str, list[str]]:
    """For each type in ``types`` whose workflow lacks types, the types it lacks (closed over
    the needs of the needed types, so one call names everything to add)."""
    have = set(types)
    out: dict[str, list[str]] = {}
    for t in sorted(have):
        needed: list[str] = []
        todo = list(WORKFLOW_NEEDS.get(t, ()))
        while todo:
            n = todo.pop(0)
            if n in needed:
                continue
            needed.append(n)
            todo += WORKFLOW_NEEDS.get(n, ())
        lacking = sorted(n for n in needed if n not in have)
        if lacking:
            out[t] = lacking
    return out
