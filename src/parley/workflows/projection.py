"""The workflow projections' hook into storage, and their rebuild from the record.

:func:`project_workflows_txn` runs in the transaction that stores an envelope (sent or
received, via ``parley.messaging.chains.project_txn``), so a projection never lags the
record it is computed from; :func:`rebuild_workflows` recomputes every projection from the
stored envelopes alone and must give the same rows.
"""

from __future__ import annotations

from sqlalchemy import Connection

from parley.node import Node
from parley.protocol.envelope import SignedEnvelope


def project_workflows_txn(conn: Connection, env: SignedEnvelope) -> None:
    from parley.workflows.incidents import project_incident_txn
    from parley.workflows.meetings import project_meeting_txn

    project_incident_txn(conn, env)
    project_meeting_txn(conn, env)


def rebuild_workflows(node: Node) -> dict[str, int]:
    from parley.workflows.incidents import rebuild_incidents
    from parley.workflows.meetings import rebuild_meetings

    return {"incidents": rebuild_incidents(node), "meetings": rebuild_meetings(node)}
