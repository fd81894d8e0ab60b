"""Channels as this node knows them: the signed charter plus the current status."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, select

from parley.channels.charter import Charter, CharterDocument
from parley.errors import NotFoundError, RefusedError
from parley.formats.labels import type_labels
from parley.formats.texts import T, Text
from parley.protocol.canonical import loads_strict
from parley.storage.tables import channels


@dataclass(frozen=True)
class Channel:
    id: str
    document: CharterDocument
    status: str
    exempt_types: list[str]
    # The signed status record that set the current status (None while the initial one
    # holds); refusals cite its reason, date and signer.
    status_record: dict[str, Any] | None = None

    @property
    def charter(self) -> Charter:
        return self.document.charter

    def check_allows(self, type_: str) -> None:
        """Raise RefusedError, citing charter or status, unless ``type_`` may flow now."""
        if not self.charter.allows_type(type_):
            raise RefusedError(
                T("channel {id!r}: its charter does not allow type {type!r}", id=self.id, type=type_),
                code="type_not_allowed",
                hint=T("allowed: {charter_types}", charter_types=type_labels(self.charter.types)),
            )
        if self.status == "active":
            return
        if self.status == "suspended":
            from parley.channels.charter import CONTROL_TYPES

            if type_ in self.exempt_types or type_ in CONTROL_TYPES:
                return
            raise RefusedError(
                T(
                    "channel {id!r} is suspended{self_cite}; type {type!r} is not exempt",
                    id=self.id,
                    self_cite=self._cite(),
                    type=type_,
                ),
                code="channel_suspended",
                hint=T(
                    "exempt while suspended: {exempt_types}",
                    exempt_types=type_labels(self.exempt_types) or T("none"),
                ),
                # The hint names the types as labels for people; a machine reads the codes here.
                details={"exempt_types": list(self.exempt_types)},
            )
        if self.status == "planned":
            refusal = T(
                "channel {id!r} is planned, not active{self_cite}", id=self.id, self_cite=self._cite()
            )
            hint = T("once both sides agree, run `parley channel activate {id} --reason …`", id=self.id)
        elif self.status == "closed":
            refusal = T("channel {id!r} is closed, not active{self_cite}", id=self.id, self_cite=self._cite())
            hint = T("a closed channel stays closed; agree a new charter to talk again")
        else:  # a status this version does not know: name its code
            refusal = T(
                "channel {id!r} has the status code {status!r}, not active{self_cite}",
                id=self.id,
                status=self.status,
                self_cite=self._cite(),
            )
            hint = T("a closed channel stays closed; agree a new charter to talk again")
        raise RefusedError(refusal, code=f"channel_{self.status}", hint=hint)

    def _cite(self) -> Text | str:
        rec = self.status_record
        if rec is None:
            return ""
        # Translators: continues "channel 'x' is suspended…"; keep the leading space.
        return T(
            " since {effective} by {signer} (record {record}: {reason})",
            effective=rec["effective"],
            signer=rec["signer"],
            record=rec["id"],
            reason=rec["reason"],
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
    return _parse(row.id, row.charter, row.status, row.exempt_types)


@lru_cache(maxsize=256)
def _parse(channel_id: str, charter: str, status: str, exempt_types: str) -> Channel:
    # Charters are immutable once signed; parsing one per message was a measurable cost.
    doc = loads_strict(charter)
    return Channel(
        id=channel_id,
        document=CharterDocument(Charter(doc["charter"]), doc["signatures"]),
        status=status,
        exempt_types=json.loads(exempt_types),
    )


_ROW = select(channels.c.id, channels.c.charter, channels.c.status, channels.c.exempt_types).where(
    channels.c.id == bindparam("id")
)


def get_channel_txn(conn: Connection, channel_id: str) -> Channel:
    # Built once (every send and receive asks); the charter document is parsed once per
    # distinct text (``_parse``): it gains signatures while proposed, then never changes.
    row = conn.execute(_ROW, {"id": channel_id}).first()
    if row is None:
        raise NotFoundError(
            T("unknown channel {channel_id!r}", channel_id=channel_id),
            code="unknown_channel",
            hint=T("see `parley channel list`"),
        )
    return _with_status_record(conn, _from_row(row))


def _with_status_record(conn: Connection, channel: Channel) -> Channel:
    if channel.status == "active":
        return channel  # nothing to cite, and the hot path of send and receive stays one query
    from dataclasses import replace

    from parley.storage.tables import status_records

    row = conn.execute(
        select(status_records.c.raw)
        .where(status_records.c.channel == channel.id)
        .order_by(status_records.c.stored_at.desc(), status_records.c.id.desc())
        .limit(1)
    ).first()
    return channel if row is None else replace(channel, status_record=loads_strict(row.raw)["record"])


def list_channels_txn(conn: Connection) -> list[Channel]:
    return [
        _with_status_record(conn, _from_row(r))
        for r in conn.execute(select(channels).order_by(channels.c.id))
    ]
