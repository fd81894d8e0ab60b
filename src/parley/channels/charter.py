"""Charters: what two (or more) nodes agree a channel is for, signed by every member node.

A charter names the channel in nb, ru and en, states its basis (agreement and date), lists
its member desks as ``node/desk``, the message types and agenda topics it allows, its
languages, acknowledgment deadlines per precedence, link-test interval, meeting cadence and
initial status. Its identity is the SHA-256 of its RFC 8785 bytes; a channel exists only once
every member node has signed those same bytes (docs/protocol.md §Charters).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from typing import Any

from parley.config import DEFAULT_DEADLINES_S
from parley.errors import UsageError, VerificationError
from parley.protocol import signing
from parley.protocol.canonical import content_hash
from parley.protocol.envelope import PRECEDENCES
from parley.protocol.keys import PublicKey, SigningKeyPair
from parley.protocol.verify import NAME_RE, TYPE_RE

# Agenda topic codes: the meeting formats write them with underscores (border_situation).
TOPIC_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

# Types every channel carries whatever its charter says: without them the protocol itself
# (acknowledgments, link tests) could not work.
CONTROL_TYPES = ("acknowledgment",)
STATUSES = ("planned", "active", "suspended", "closed")
LANGS = ("nb", "ru", "en")

CHARTER_KEYS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "name": dict,
    "basis": dict,
    "members": list,
    "types": list,
    "topics": list,
    "languages": list,
    "deadlines_s": dict,
    "link_test_interval_s": (int, float),
    "cadence": list,
    "initial_status": str,
}
OPTIONAL_KEYS = {"topics", "deadlines_s", "link_test_interval_s", "cadence", "initial_status"}


@dataclass(frozen=True)
class Charter:
    """A validated charter; ``data`` is exactly what gets signed."""

    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def hash(self) -> str:
        return content_hash(self.data)

    @property
    def members(self) -> list[str]:
        return list(self.data["members"])

    @property
    def member_nodes(self) -> list[str]:
        return sorted({m.split("/", 1)[0] for m in self.data["members"]})

    def desks_of(self, node: str) -> list[str]:
        return [m.split("/", 1)[1] for m in self.data["members"] if m.split("/", 1)[0] == node]

    @property
    def types(self) -> list[str]:
        return list(self.data["types"])

    @property
    def topics(self) -> list[str]:
        return list(self.data["topics"])

    def allows_type(self, type_: str) -> bool:
        return type_ in CONTROL_TYPES or type_ in self.data["types"]

    def deadline_s(self, precedence: str) -> int:
        return int(self.data["deadlines_s"][precedence])

    @property
    def link_test_interval_s(self) -> float:
        return float(self.data["link_test_interval_s"])

    def name_in(self, lang: str) -> str:
        names: dict[str, str] = self.data["name"]
        return names.get(lang) or names.get("en") or next(iter(names.values()))


def charter_from_toml(text: str, where: str = "charter") -> Charter:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where} is not valid TOML: {exc}", hint="fix the file") from exc
    return charter_from_dict(raw, where)


def charter_from_dict(raw: Any, where: str = "charter") -> Charter:
    """Validate and normalise; every problem names the key and what is expected."""
    try:
        return _charter_from_dict(raw, where)
    except UsageError as exc:
        if not exc.hint:
            exc.hint = "see docs/channels.md for every key and a full example"
        raise


def _charter_from_dict(raw: Any, where: str) -> Charter:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: a charter is a table of keys")
    unknown = set(raw) - set(CHARTER_KEYS)
    if unknown:
        raise UsageError(
            f"{where}: unknown key(s) {sorted(unknown)}", hint=f"known keys: {', '.join(CHARTER_KEYS)}"
        )
    for key, typ in CHARTER_KEYS.items():
        if key not in raw:
            if key in OPTIONAL_KEYS:
                continue
            raise UsageError(f"{where}: missing key {key!r}", hint="see docs/channels.md for a full example")
        if not isinstance(raw[key], typ) or isinstance(raw[key], bool):
            raise UsageError(f"{where}: {key!r} has the wrong type")
    data: dict[str, Any] = {}
    if not NAME_RE.match(raw["id"]):
        raise UsageError(f"{where}: id {raw['id']!r} is not a valid channel name", hint="e.g. border-1949")
    data["id"] = raw["id"]
    names = raw["name"]
    if not names or set(names) - set(LANGS) or not all(isinstance(v, str) and v for v in names.values()):
        raise UsageError(f"{where}: name must give non-empty names keyed by nb, ru, en")
    data["name"] = dict(names)
    basis = raw["basis"]
    if not isinstance(basis.get("agreement"), str) or not basis["agreement"]:
        raise UsageError(f"{where}: basis.agreement must name the agreement")
    bdate = basis.get("date")
    if isinstance(bdate, date):
        bdate = bdate.isoformat()
    if not isinstance(bdate, str):
        raise UsageError(f"{where}: basis.date must be a date (YYYY-MM-DD)")
    try:
        date.fromisoformat(bdate)
    except ValueError:
        raise UsageError(f"{where}: basis.date {bdate!r} is not YYYY-MM-DD") from None
    data["basis"] = {"agreement": basis["agreement"], "date": bdate}
    members = raw["members"]
    for m in members:
        if not isinstance(m, str) or m.count("/") != 1 or not all(NAME_RE.match(p) for p in m.split("/")):
            raise UsageError(f"{where}: member {m!r} must be NODE/DESK", hint="e.g. no-njhq/duty-officer")
    if len(set(members)) != len(members):
        raise UsageError(f"{where}: members lists a desk twice")
    if len({m.split("/")[0] for m in members}) < 2:
        raise UsageError(f"{where}: a channel joins desks of two or more nodes")
    data["members"] = sorted(members)
    types = raw["types"]
    if not types or not all(isinstance(t, str) and TYPE_RE.match(t) for t in types):
        raise UsageError(f"{where}: types must list message type names (e.g. general, incident-at-sea)")
    _check_known_types(types, where)
    data["types"] = sorted(set(types))
    topics = raw.get("topics", [])
    if not all(isinstance(t, str) and TOPIC_RE.match(t) for t in topics):
        raise UsageError(f"{where}: topics are short codes like 'fisheries' or 'border-situation'")
    data["topics"] = sorted(set(topics))
    langs = raw["languages"]
    if not langs or not all(isinstance(x, str) and x for x in langs):
        raise UsageError(f"{where}: languages must list language codes (nb, ru, en)")
    data["languages"] = list(langs)
    deadlines = dict(DEFAULT_DEADLINES_S)
    for k, v in raw.get("deadlines_s", {}).items():
        if k not in PRECEDENCES:
            raise UsageError(f"{where}: deadlines_s.{k}: not a precedence ({', '.join(PRECEDENCES)})")
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise UsageError(f"{where}: deadlines_s.{k} must be a positive number of seconds")
        deadlines[k] = v
    data["deadlines_s"] = deadlines
    interval = raw.get("link_test_interval_s", 3600)
    if interval <= 0:
        raise UsageError(f"{where}: link_test_interval_s must be positive")
    data["link_test_interval_s"] = interval
    cadence = raw.get("cadence", [])
    for c in cadence:
        if not isinstance(c, dict) or not isinstance(c.get("kind"), str):
            raise UsageError(f"{where}: each cadence entry needs a kind (e.g. protocol-meeting)")
        if not isinstance(c.get("every_months", 0), int) or not isinstance(c.get("before_months", 0), int):
            raise UsageError(f"{where}: cadence every_months/before_months are whole months")
    data["cadence"] = [dict(c) for c in cadence]
    status = raw.get("initial_status", "active")
    if status not in ("planned", "active"):
        raise UsageError(f"{where}: initial_status must be planned or active")
    data["initial_status"] = status
    return Charter(data)


def _check_known_types(types: list[str], where: str) -> None:
    try:
        from parley.formats.registry import list_types
    except ImportError:  # formats not installed in a minimal build: accept names as given
        return
    known = {t.name for t in list_types()}
    bad = [t for t in types if t not in known and t not in CONTROL_TYPES]
    if bad:
        raise UsageError(
            f"{where}: unknown message type(s) {bad}",
            hint=f"known types: {', '.join(sorted(known))} (see `parley schema list`)",
        )


@dataclass(frozen=True)
class CharterDocument:
    """A charter with the signatures gathered so far, keyed by node name."""

    charter: Charter
    signatures: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"charter": self.charter.data, "signatures": dict(sorted(self.signatures.items()))}

    @property
    def complete(self) -> bool:
        return set(self.signatures) == set(self.charter.member_nodes)

    def signed_by(self, node: str, key: SigningKeyPair) -> CharterDocument:
        sig = signing.sign("charter", self.charter.data, key)
        return CharterDocument(self.charter, {**self.signatures, node: sig})


def parse_charter_document(raw: Any, key_for: Any) -> CharterDocument:
    """Check form and every signature present; ``key_for(node) -> PublicKey | None``."""
    if not isinstance(raw, dict) or sorted(raw) != ["charter", "signatures"]:
        raise UsageError("not a charter document: expected 'charter' and 'signatures'")
    charter = charter_from_dict(raw["charter"], "charter document")
    if charter.data != raw["charter"]:
        raise VerificationError("charter", "charter is not in normal form; it was edited by hand")
    sigs = raw["signatures"]
    if not isinstance(sigs, dict) or not sigs:
        raise VerificationError("charter", "charter carries no signatures")
    for node_name, sig in sigs.items():
        if node_name not in charter.member_nodes:
            raise VerificationError("charter", f"{node_name!r} signed but is not a member node")
        public: PublicKey | None = key_for(node_name)
        if public is None:
            raise VerificationError(
                "charter",
                f"signed by {node_name!r}, which is not a known peer",
                hint="add its identity card first: `parley peer add CARD.json`",
            )
        if not isinstance(sig, str) or not signing.verify("charter", charter.data, sig, public):
            raise VerificationError("charter", f"{node_name!r}'s signature on the charter does not verify")
    return CharterDocument(charter, dict(sigs))
