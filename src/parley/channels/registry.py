"""Channels as this node knows them: the signed charter plus the current status."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from parley.channels.charter import Charter, CharterDocument
from parley.errors import NotFoundError, RefusedError
from parley.protocol.canonical import loads_strict
from parley.storage.tables import channels


@dataclass(frozen=True)
class Channel:
    id: str
    document: CharterDocument
    status: str
    exempt_types: list[str]

    @property
    def charter(self) -> Charter:
        return self.document.charter

    def check_allows(self, type_: str) -> None:
        """Raise RefusedError, citing charter or status, unless ``type_`` may flow now."""
        if not self.charter.allows_type(type_):
            raise RefusedError(
                f"channel {self.id!r}: its charter does not allow type {type_!r}",
                code="type_not_allowed",
                hint=f"allowed: {', '.join(self.charter.types)}",
            )
        if self.status == "active":
            return
        if self.status == "suspended":
            from parley.channels.charter import CONTROL_TYPES

            if type_ in self.exempt_types or type_ in CONTROL_TYPES:
                return
            raise RefusedError(
                f"channel {self.id!r} is suspended; type {type_!r} is not exempt",
                code="channel_suspended",
                hint=f"exempt while suspended: {', '.join(self.exempt_types) or 'none'}",
            )
        raise RefusedError(
            f"channel {self.id!r} is {self.status}, not active",
            code=f"channel_{self.status}",
            hint=(
                f"once both sides agree, run `parley channel activate {self.id} --reason …`"
                if self.status == "planned"
                else "a closed channel stays closed; agree a new charter to talk again"
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "exempt_types": self.exempt_types,
            "charter_hash": self.charter.hash,
            "charter": self.charter.data,
            "signatures": self.document.signatures,
        }


def _from_row(row: Any) -> Channel:
    doc = loads_strict(row.charter)
    return Channel(
        id=row.id,
        document=CharterDocument(Charter(doc["charter"]), doc["signatures"]),
        status=row.status,
        exempt_types=json.loads(row.exempt_types),
    )


def get_channel_txn(conn: Connection, channel_id: str) -> Channel:
    row = conn.execute(select(channels).where(channels.c.id == channel_id)).first()
    if row is None:
        raise NotFoundError(
            f"unknown channel {channel_id!r}",
            code="unknown_channel",
            hint="see `parley channel list`",
        )
    return _from_row(row)


def list_channels_txn(conn: Connection) -> list[Channel]:
    return [_from_row(r) for r in conn.execute(select(channels).order_by(channels.c.id))]
