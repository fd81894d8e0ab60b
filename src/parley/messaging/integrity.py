"""Re-checking a node's own stored record (``parley verify`` with no arguments).

Every stored envelope is read back from its bytes and put through the full verification
routine (steps 1–7, chains walked in order), and the indexed columns are compared with what
the signed bytes say; receipts and status records have their signatures re-checked. The first
thing that does not hold is reported by message id and step, so an operator knows where to
look. Tampering with a single byte of a stored envelope is caught at step 4 or 6.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from parley.errors import VerificationError
from parley.node import Node
from parley.protocol.canonical import loads_strict
from parley.protocol.verify import check_chain_link, verify_envelope
from parley.storage.tables import chain_heads, envelopes, receipts


@dataclass
class IntegrityReport:
    envelopes: int = 0
    chains: int = 0
    receipts: int = 0


def verify_store(node: Node, progress: Callable[[int], None] | None = None) -> IntegrityReport:
    report = IntegrityReport()
    with node.engine.connect() as conn:
        heads = {
            (r.channel, r.sender_node): (int(r.seq), r.hash)
            for r in conn.execute(select(chain_heads))
        }
        last: dict[tuple[str, str], tuple[int, str] | None] = {}
        result = conn.execution_options(yield_per=2000).execute(
            select(envelopes).order_by(envelopes.c.channel, envelopes.c.sender_node, envelopes.c.seq)
        )
        for row in result:
            key = (row.channel, row.sender_node)
            try:
                wire = loads_strict(row.raw)
            except ValueError as exc:
                raise VerificationError("1 shape", f"message {row.id}: stored bytes are not JSON: {exc}") from None
            try:
                env = verify_envelope(wire, node.key_for)
                check_chain_link(env, last.get(key))
            except VerificationError as exc:
                raise VerificationError(exc.step, f"message {row.id}: {exc.message.split(': ', 1)[-1]}") from None
            for column, signed in (
                ("id", env.id),
                ("channel", env.channel),
                ("sender_node", env.sender_node),
                ("seq", env.seq),
                ("hash", env.hash),
                ("type", env.type),
                ("precedence", env.precedence),
                ("status", env.status),
            ):
                if getattr(row, column) != signed:
                    raise VerificationError(
                        "8 index", f"message {row.id}: stored {column} differs from the signed envelope"
                    )
            last[key] = (env.seq, env.hash)
            report.envelopes += 1
            if progress and report.envelopes % 10000 == 0:
                progress(report.envelopes)
        for key, link in last.items():
            if heads.get(key) != link:
                raise VerificationError("7 chain", f"chain head of {key[1]} in {key[0]} does not match the stored chain")
        report.chains = len(last)
        from parley.protocol.receipt import parse_receipt

        for r in conn.execute(select(receipts.c.raw)):
            parse_receipt(loads_strict(r.raw), node.key_for)
            report.receipts += 1
    return report
