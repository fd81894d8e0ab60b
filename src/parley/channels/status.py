"""Channel status as signed records: planned, active, suspended (with exempt types), closed.

A status change is a record signed by the node that makes it, naming the channel, the new
status, the message types still allowed while suspended, the reason, and when it takes
effect. Both sides store the same signed record, so the status history is the same
everywhere, and a refused message can cite the record that refused it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from parley.clock import format_time
from parley.errors import UsageError, VerificationError
from parley.formats.texts import T
from parley.protocol import signing
from parley.protocol.canonical import canonical_bytes, loads_strict
from parley.protocol.keys import PublicKey, SigningKeyPair
from parley.storage.tables import channels, status_records

STATUSES = ("planned", "active", "suspended", "closed")
# Which change may follow which; a closed channel stays closed.
TRANSITIONS = {
    "planned": {"active", "closed"},
    "active": {"suspended", "closed"},
    "suspended": {"active", "closed", "suspended"},
    "closed": set(),
}


@dataclass(frozen=True)
class StatusRecord:
    data: dict[str, Any]
    signature: str

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def channel(self) -> str:
        return str(self.data["channel"])

    @property
    def status(self) -> str:
        return str(self.data["status"])

    @property
    def exempt_types(self) -> list[str]:
        return list(self.data["exempt_types"])

    @property
    def reason(self) -> str:
        return str(self.data["reason"])

    @property
    def signer(self) -> str:
        return str(self.data["signer"])

    @property
    def effective(self) -> str:
        return str(self.data["effective"])

    def to_json(self) -> dict[str, Any]:
        return {"record": self.data, "signature": self.signature}

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_json())


def make_status_record(
    *,
    key: SigningKeyPair,
    signer: str,
    channel: str,
    status: str,
    reason: str,
    effective: str,
    exempt_types: list[str] | None = None,
) -> StatusRecord:
    if status not in STATUSES:
        raise UsageError(
            T("unknown status {status!r}", status=status),
            hint=T("one of {statuses}", statuses=", ".join(STATUSES)),
        )
    data = {
        "kind": "channel-status",
        "id": str(uuid.uuid4()),
        "channel": channel,
        "status": status,
        "exempt_types": sorted(set(exempt_types or [])) if status == "suspended" else [],
        "reason": reason,
        "effective": effective,
        "signer": signer,
    }
    return StatusRecord(data, signing.sign("status", data, key))


def parse_status_record(raw: Any, key_for: Any) -> StatusRecord:
    if not isinstance(raw, dict) or sorted(raw) != ["record", "signature"]:
        raise VerificationError("status", T("not a status record"))
    data = raw["record"]
    keys = ["channel", "effective", "exempt_types", "id", "kind", "reason", "signer", "status"]
    if not isinstance(data, dict) or sorted(data) != keys or data.get("kind") != "channel-status":
        raise VerificationError("status", T("status record fields are wrong"))
    if data["status"] not in STATUSES or not isinstance(data["exempt_types"], list):
        raise VerificationError("status", T("status record values are wrong"))
    public: PublicKey | None = key_for(str(data["signer"]))
    if public is None:
        raise VerificationError(
            "status", T("signer {data_signer!r} is not a known node", data_signer=data["signer"])
        )
    if hasattr(public, "dated") and isinstance(data["effective"], str):
        public = public.dated(data["effective"])  # a key history (§13): the keys valid then
    if not isinstance(raw["signature"], str) or not signing.verify("status", data, raw["signature"], public):
        raise VerificationError("status", T("signature on the status record does not verify"))
    return StatusRecord(data, raw["signature"])


def apply_status_record_txn(conn: Connection, record: StatusRecord, stored_at: Any) -> bool:
    """Store a verified record and update the channel; False if it was already stored."""
    seen = conn.execute(select(status_records.c.id).where(status_records.c.id == record.id)).first()
    if seen is not None:
        return False
    row = conn.execute(select(channels.c.status).where(channels.c.id == record.channel)).first()
    if row is None:
        raise UsageError(T("unknown channel {record_channel!r}", record_channel=record.channel))
    if record.status not in TRANSITIONS[row.status]:
        raise UsageError(
            T(
                "channel {record_channel!r} is {row_status}; it cannot become {record_status}",
                record_channel=record.channel,
                row_status=row.status,
                record_status=record.status,
            ),
            code="bad_transition",
            hint=T(
                "from {row_status} it can become: {transitions_row_status}",
                row_status=row.status,
                transitions_row_status=", ".join(sorted(TRANSITIONS[row.status]))
                or T("nothing (it stays closed)"),
            ),
        )
    conn.execute(
        insert(status_records).values(
            id=record.id,
            channel=record.channel,
            status=record.status,
            effective=record.effective,
            signer=record.signer,
            raw=record.to_bytes(),
            stored_at=stored_at,
        )
    )
    conn.execute(
        update(channels)
        .where(channels.c.id == record.channel)
        .values(status=record.status, exempt_types=json.dumps(record.exempt_types))
    )
    return True


def history_txn(conn: Connection, channel: str) -> list[StatusRecord]:
    rows = conn.execute(
        select(status_records.c.raw)
        .where(status_records.c.channel == channel)
        .order_by(status_records.c.stored_at, status_records.c.id)
    ).all()
    out = []
    for r in rows:
        raw = loads_strict(r.raw)
        out.append(StatusRecord(raw["record"], raw["signature"]))
    return out


def now_text(now: Any) -> str:
    return format_time(now)
