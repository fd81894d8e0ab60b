"""Re-checking a node's own stored record (``parley verify`` with no arguments).

Every stored envelope is read back from its bytes and put through the full verification
routine (steps 1–7, chains walked in order), and the indexed columns are compared with what
the signed bytes say; receipts, status records and charters have their signatures re-checked.
The first thing that does not hold is reported by message id and step, so an operator knows
where to look. Tampering with a single byte of a stored envelope is caught at step 4 or 6.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from parley.channels.charter import parse_charter_document
from parley.channels.status import history_txn, parse_status_record
from parley.errors import VerificationError
from parley.formats.texts import T
from parley.node import Node
from parley.protocol.canonical import loads_strict
from parley.protocol.keys import PublicKey
from parley.protocol.verify import KeyLookup, check_chain_link, verify_envelope
from parley.storage.tables import chain_heads, channels, envelopes, peers, receipts, status_records


@dataclass
class IntegrityReport:
    envelopes: int = 0
    chains: int = 0
    receipts: int = 0


def _key_lookup_txn(conn: Connection, node: Node) -> KeyLookup:
    """Pinned keys read on ``conn`` itself: a second connection would wait on SQLite's lock."""
    from parley.directory.keys import load_history_txn

    keys = {r.name: PublicKey.from_b64(r.public_key) for r in conn.execute(select(peers))}
    keys[node.name] = node.key.public
    for name in list(keys):
        # A node with a root key: its whole key history (docs/protocol.md §13).
        history = load_history_txn(conn, name)
        if history is not None:
            keys[name] = history
    return keys.get


def verify_store(node: Node, progress: Callable[[int], None] | None = None) -> IntegrityReport:
    report = IntegrityReport()
    with node.reader.connect() as conn:
        key_for = _key_lookup_txn(conn, node)
        heads = {(r.channel, r.sender_node): (int(r.seq), r.hash) for r in conn.execute(select(chain_heads))}
        last: dict[tuple[str, str], tuple[int, str] | None] = {}
        # Streamed (a server-side cursor on PostgreSQL) for this query only, and closed even
        # when a check fails; conn.execution_options() would stream every later query too.
        result = conn.execute(
            select(envelopes)
            .order_by(envelopes.c.channel, envelopes.c.sender_node, envelopes.c.seq)
            .execution_options(yield_per=2000)
        )
        with result:
            for row in result:
                key = (row.channel, row.sender_node)
                try:
                    wire = loads_strict(row.raw)
                except ValueError as exc:
                    raise VerificationError(
                        "1 shape",
                        T("message {row_id}: stored bytes are not JSON: {exc}", row_id=row.id, exc=exc),
                    ) from None
                try:
                    env = verify_envelope(wire, key_for)
                    check_chain_link(env, last.get(key))
                except VerificationError as exc:
                    detail = exc.message.split(": ", 1)[-1]
                    raise VerificationError(
                        exc.step, T("message {row_id}: {detail}", row_id=row.id, detail=detail)
                    ) from None
                for column, signed in (
                    ("id", env.id),
                    ("channel", env.channel),
                    ("sender_node", env.sender_node),
                    ("sender_desk", env.sender_desk),
                    ("seq", env.seq),
                    ("hash", env.hash),
                    ("type", env.type),
                    ("precedence", env.precedence),
                    ("status", env.status),
                    ("created", env.created),
                    ("outgoing", env.sender_node == node.name),
                ):
                    if getattr(row, column) != signed:
                        raise VerificationError(
                            "8 index",
                            T(
                                "message {row_id}: stored {column} differs from the signed envelope",
                                row_id=row.id,
                                column=column,
                            ),
                        )
                last[key] = (env.seq, env.hash)
                report.envelopes += 1
                if progress and report.envelopes % 10000 == 0:
                    progress(report.envelopes)
        # Both ways round: a head whose every envelope was deleted is a broken chain too.
        for key in sorted(heads.keys() | last.keys()):
            if heads.get(key) != last.get(key):
                raise VerificationError(
                    "7 chain",
                    T(
                        "chain head of {key_1} in {key_0} does not match the stored chain",
                        key_1=key[1],
                        key_0=key[0],
                    ),
                )
        report.chains = len(last)
        from parley.protocol.receipt import parse_receipt

        for r in conn.execute(select(receipts.c.raw)):
            parse_receipt(loads_strict(r.raw), key_for)
            report.receipts += 1
        for s in conn.execute(select(status_records)):
            rec = parse_status_record(loads_strict(s.raw), key_for)
            if (rec.id, rec.channel, rec.status, rec.signer, rec.effective) != (
                s.id,
                s.channel,
                s.status,
                s.signer,
                s.effective,
            ):
                raise VerificationError(
                    "status",
                    T("status record {s_id}: stored columns differ from the signed record", s_id=s.id),
                )
        for c in conn.execute(select(channels)):
            doc = parse_charter_document(loads_strict(c.charter), key_for)
            if doc.charter.id != c.id or doc.charter.hash != c.charter_hash or not doc.complete:
                raise VerificationError(
                    "charter", T("channel {c_id}: stored charter differs from the signed one", c_id=c.id)
                )
            # The status column must be what the signed history says it is.
            history = history_txn(conn, c.id)
            status, exempt = (
                (history[-1].status, history[-1].exempt_types)
                if history
                else (doc.charter.data["initial_status"], [])
            )
            if (c.status, json.loads(c.exempt_types)) != (status, exempt):
                raise VerificationError(
                    "status", T("channel {c_id}: stored status differs from its signed history", c_id=c.id)
                )
    return report
