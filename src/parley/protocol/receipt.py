"""Receipts: the receiving node's signed word that it durably stored and verified a chain.

A receipt is cumulative: "node R holds sender S's chain in channel C up to seq N, whose hash
is H, since T". Because each envelope names its predecessor's hash, holding seq N with hash
H implies holding 1…N unchanged, so one receipt covers them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parley.errors import VerificationError
from parley.formats.texts import T
from parley.protocol import signing
from parley.protocol.canonical import canonical_bytes
from parley.protocol.keys import PublicKey, SigningKeyPair

RECEIPT_FIELDS = sorted(["channel", "kind", "receiver", "received_at", "sender", "upto_hash", "upto_seq"])


@dataclass(frozen=True)
class Receipt:
    data: dict[str, Any]
    signature: str

    @property
    def channel(self) -> str:
        return str(self.data["channel"])

    @property
    def sender(self) -> str:
        return str(self.data["sender"])

    @property
    def receiver(self) -> str:
        return str(self.data["receiver"])

    @property
    def upto_seq(self) -> int:
        return int(self.data["upto_seq"])

    @property
    def upto_hash(self) -> str:
        return str(self.data["upto_hash"])

    @property
    def received_at(self) -> str:
        return str(self.data["received_at"])

    def to_json(self) -> dict[str, Any]:
        return {"receipt": self.data, "signature": self.signature}

    def to_bytes(self) -> bytes:
        # Stored and logged: canonicalise once (a frozen receipt never changes).
        cached = self.__dict__.get("_bytes")
        if cached is None:
            cached = canonical_bytes(self.to_json())
            object.__setattr__(self, "_bytes", cached)
        return cached


def make_receipt(
    *,
    key: SigningKeyPair,
    receiver: str,
    channel: str,
    sender: str,
    upto_seq: int,
    upto_hash: str,
    received_at: str,
) -> Receipt:
    data = {
        "kind": "receipt",
        "channel": channel,
        "sender": sender,
        "receiver": receiver,
        "upto_seq": upto_seq,
        "upto_hash": upto_hash,
        "received_at": received_at,
    }
    return Receipt(data, signing.sign("receipt", data, key))


def parse_receipt(raw: Any, key_for: Any) -> Receipt:
    if not isinstance(raw, dict) or sorted(raw) != ["receipt", "signature"]:
        raise VerificationError("receipt", T("not a receipt object"))
    data = raw["receipt"]
    if not isinstance(data, dict) or sorted(data) != RECEIPT_FIELDS or data["kind"] != "receipt":
        raise VerificationError("receipt", T("receipt fields are wrong"))
    if not isinstance(data["upto_seq"], int) or isinstance(data["upto_seq"], bool) or data["upto_seq"] < 1:
        raise VerificationError("receipt", T("upto_seq must be a positive integer"))
    public: PublicKey | None = key_for(str(data["receiver"]))
    if public is None:
        raise VerificationError(
            "receipt", T("receiver {data_receiver!r} is not a known node", data_receiver=data["receiver"])
        )
    if hasattr(public, "dated") and isinstance(data["received_at"], str):
        public = public.dated(data["received_at"])  # a key history (§13): the keys valid then
    if not isinstance(raw["signature"], str) or not signing.verify("receipt", data, raw["signature"], public):
        raise VerificationError(
            "receipt",
            T(
                "signature of {data_receiver!r} on the receipt does not verify",
                data_receiver=data["receiver"],
            ),
        )
    return Receipt(data, raw["signature"])
