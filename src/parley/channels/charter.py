"""Charters: what two (or more) nodes agree a channel is for, signed by every member node.

A charter names the channel in nb, ru and en, states its basis (agreement and date), lists
its member desks as ``node/desk``, the message types and agenda topics it allows, its
languages, acknowledgment deadlines per precedence, link-test interval, meeting cadence and
initial status. The name, the agreement's title, the topics' labels and the member nodes'
display names are language tables (``{nb, ru, en}``); a reader whose language a table lacks
sees another language's text marked as not translated (:func:`text_in`).

Its identity is the SHA-256 of its RFC 8785 bytes; a channel exists only once every member
node has signed those same bytes (docs/protocol.md §Charters). The optional keys added since
(``topic_labels``, ``node_names``) appear in the normal form only when written, so a charter
signed before them keeps its bytes, hash and signatures.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date

from parley.config import DEFAULT_DEADLINES_S
from parley.errors import UsageError, VerificationError
from parley.formats.catalogue import available_languages
from parley.formats.labels import catalogue_or_english, text_in, topic_label
from parley.formats.texts import T
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
    "topic_labels": dict,
    "node_names": dict,
}
OPTIONAL_KEYS = {
    "topics",
    "deadlines_s",
    "link_test_interval_s",
    "cadence",
    "initial_status",
    "topic_labels",
    "node_names",
}
# topic_labels and node_names enter the normal form only when the author wrote them: a charter
# agreed before they existed keeps its bytes, hash and signatures (parse_charter_document
# compares the normal form with what was signed).


# Bounds on what a charter may say (issue 14 item 10; docs/channels.md §Limits). A charter
# arrives from a peer as well as from a file, and every member signs, stores and shows it.
MAX_NAME_CHARS = 200
MAX_AGREEMENT_CHARS = 500
MAX_MEMBERS = 64
MAX_TYPES = 64
MAX_TOPICS = 64
MAX_LANGUAGES = 8
MAX_LANGUAGE_CHARS = 35  # the longest BCP 47 tag a registry lists is shorter
MAX_CADENCE = 16
MAX_CADENCE_TEXT = 63
MAX_MONTHS = 120
CADENCE_KEYS = {"kind", "level", "every_months", "before_months", "prepares"}
# The link test is a signed round trip; below one second it is load, not a test. The floor
# is 1 s, not the 10 s a production channel should use, so that the demo (5 s) and the
# end-to-end tests (1 s) can watch links change state in seconds.
MIN_LINK_TEST_INTERVAL_S = 1.0
MAX_LINK_TEST_INTERVAL_S = 7 * 86400.0
MAX_DEADLINE_S = 365 * 86400


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
        """The channel's name in ``lang``, or another language's marked as not translated."""
        return text_in(self.data["name"], lang)

    def agreement_in(self, lang: str) -> str:
        """The title of the agreement the channel rests on, in ``lang`` (see :func:`text_in`)."""
        return text_in(self.data["basis"]["agreement"], lang)

    @property
    def basis_date(self) -> str:
        return str(self.data["basis"]["date"])

    def basis_date_in(self, lang: str) -> str:
        """The agreement's date as ``lang``'s readers write it (``29. desember 1949``)."""
        return format_date(
            date.fromisoformat(self.basis_date), "long", locale=catalogue_or_english(lang).locale
        )

    @property
    def languages(self) -> list[str]:
        return list(self.data["languages"])

    def topic_label(self, topic: str, lang: str) -> str:
        """A topic as a person reads it: the charter's own label, else the catalogue's."""
        labels: dict[str, Any] = self.data.get("topic_labels", {})
        table = (
            labels.get(topic) or labels.get(topic.replace("_", "-")) or labels.get(topic.replace("-", "_"))
        )
        return text_in(table, lang) if table else topic_label(topic, lang)

    def topic_labels_in(self, lang: str) -> list[str]:
        return [self.topic_label(t, lang) for t in self.data["topics"]]

    def node_name_in(self, node: str, lang: str) -> str:
        """A member node's display name in ``lang`` (``node_names``), else the node's name."""
        names = self.data.get("node_names", {}).get(node)
        return text_in(names, lang) if names else node

    def node_names_in(self, node: str, langs: Sequence[str]) -> dict[str, str]:
        """``node``'s display name in each of ``langs`` (an export's per-language sender)."""
        return {lang: self.node_name_in(node, lang) for lang in langs}

    def export_languages(self, first: str | None = None) -> list[str]:
        """The languages an export of the channel's traffic carries (one CAP ``<info>`` each).

        The charter's languages that Parley has a catalogue for, in the charter's order with
        ``first`` (the reader's) moved to the front; English if the charter lists none of them.
        """
        known = set(available_languages())
        langs = [lang for lang in dict.fromkeys(self.data["languages"]) if lang in known]
        if not langs:
            return [first if first in known else "en"]
        if first in langs:
            langs.remove(first)
            langs.insert(0, first)
        return langs


def charter_from_toml(text: str, where: str = "charter") -> Charter:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            T("{where} is not valid TOML: {exc}", where=where, exc=exc), hint=T("fix the file")
        ) from exc
    return charter_from_dict(raw, where)


def charter_from_dict(raw: Any, where: str = "charter") -> Charter:
    """Validate and normalise; every problem names the key and what is expected."""
    try:
        return _charter_from_dict(raw, where)
    except UsageError as exc:
        if not exc.hint:
            exc.hint_text = T("see docs/channels.md for every key and a full example")
            exc.hint = str(exc.hint_text)
        raise


def _charter_from_dict(raw: Any, where: str) -> Charter:
    if not isinstance(raw, dict):
        raise UsageError(T("{where}: a charter is a table of keys", where=where))
    unknown = set(raw) - set(CHARTER_KEYS)
    if unknown:
        raise UsageError(
            T("{where}: unknown key(s) {unknown}", where=where, unknown=sorted(unknown)),
            hint=T("known keys: {charter_keys}", charter_keys=", ".join(CHARTER_KEYS)),
        )
    for key, typ in CHARTER_KEYS.items():
        if key not in raw:
            if key in OPTIONAL_KEYS:
                continue
            raise UsageError(
                T("{where}: missing key {key!r}", where=where, key=key),
                hint=T("see docs/channels.md for a full example"),
            )
        if not isinstance(raw[key], typ) or isinstance(raw[key], bool):
            raise UsageError(T("{where}: {key!r} has the wrong type", where=where, key=key))
    data: dict[str, Any] = {}
    if not NAME_RE.match(raw["id"]):
        raise UsageError(
            T("{where}: id {raw_id!r} is not a valid channel name", where=where, raw_id=raw["id"]),
            hint=T("e.g. border-1949"),
        )
    data["id"] = raw["id"]
    names = raw["name"]
    if not names or set(names) - set(LANGS) or not all(isinstance(v, str) and v for v in names.values()):
        raise UsageError(T("{where}: name must give non-empty names keyed by nb, ru, en", where=where))
    if any(len(v) > MAX_NAME_CHARS for v in names.values()):
        raise UsageError(
            T(
                "{where}: a name is longer than {max_name_chars} characters",
                where=where,
                max_name_chars=MAX_NAME_CHARS,
            )
        )
    data["name"] = dict(names)
    basis = raw["basis"]
    # The agreement's title: a table keyed by nb, ru, en, or (as before) one string, read as English.
    agreement = basis.get("agreement")
    if isinstance(agreement, dict):
        agreement = _lang_table(agreement, "basis.agreement", MAX_AGREEMENT_CHARS, where)
    elif not isinstance(agreement, str) or not agreement:
        raise UsageError(T("{where}: basis.agreement must name the agreement", where=where))
    elif len(agreement) > MAX_AGREEMENT_CHARS:
        raise UsageError(
            T(
                "{where}: basis.agreement is longer than {max_agreement_chars} characters",
                where=where,
                max_agreement_chars=MAX_AGREEMENT_CHARS,
            )
        )
    bdate = basis.get("date")
    if isinstance(bdate, date):
        bdate = bdate.isoformat()
    if not isinstance(bdate, str):
        raise UsageError(T("{where}: basis.date must be a date (YYYY-MM-DD)", where=where))
    try:
        date.fromisoformat(bdate)
    except ValueError:
        raise UsageError(
            T("{where}: basis.date {bdate!r} is not YYYY-MM-DD", where=where, bdate=bdate)
        ) from None
    data["basis"] = {"agreement": agreement, "date": bdate}
    members = raw["members"]
    _at_most(members, MAX_MEMBERS, "members", where)
    for m in members:
        if not isinstance(m, str) or m.count("/") != 1 or not all(NAME_RE.match(p) for p in m.split("/")):
            raise UsageError(
                T("{where}: member {m!r} must be NODE/DESK", where=where, m=m),
                hint=T("e.g. no-njhq/duty-officer"),
            )
    if len(set(members)) != len(members):
        raise UsageError(T("{where}: members lists a desk twice", where=where))
    if len({m.split("/")[0] for m in members}) < 2:
        raise UsageError(T("{where}: a channel joins desks of two or more nodes", where=where))
    data["members"] = sorted(members)
    if "node_names" in raw:
        node_names = raw["node_names"]
        nodes = {m.split("/")[0] for m in members}
        strays = sorted(set(node_names) - nodes)
        if strays:
            raise UsageError(
                T(
                    "{where}: node_names names node(s) that are not members: {strays}",
                    where=where,
                    strays=strays,
                ),
                hint=T("name only the nodes of the members' desks"),
            )
        data["node_names"] = {
            n: _lang_table(v, f"node_names.{n}", MAX_NAME_CHARS, where) for n, v in node_names.items()
        }
    types = raw["types"]
    _at_most(types, MAX_TYPES, "types", where)
    if not types or not all(isinstance(t, str) and TYPE_RE.match(t) for t in types):
        raise UsageError(
            T("{where}: types must list message type names (e.g. general, incident-at-sea)", where=where)
        )
    _check_known_types(types, where)
    data["types"] = sorted(set(types))
    topics = raw.get("topics", [])
    _at_most(topics, MAX_TOPICS, "topics", where)
    if not all(isinstance(t, str) and TOPIC_RE.match(t) for t in topics):
        raise UsageError(
            T("{where}: topics are short codes like 'fisheries' or 'border-situation'", where=where)
        )
    data["topics"] = sorted(set(topics))
    if "topic_labels" in raw:
        labels = raw["topic_labels"]
        _at_most(list(labels), MAX_TOPICS, "topic_labels", where)
        strays = sorted(set(labels) - set(topics))
        if strays:
            raise UsageError(
                T(
                    "{where}: topic_labels names topic(s) the charter does not list: {strays}",
                    where=where,
                    strays=strays,
                ),
                hint=T("label only the codes listed in topics"),
            )
        data["topic_labels"] = {
            t: _lang_table(v, f"topic_labels.{t}", MAX_NAME_CHARS, where) for t, v in labels.items()
        }
    langs = raw["languages"]
    _at_most(langs, MAX_LANGUAGES, "languages", where)
    if not langs or not all(isinstance(x, str) and 0 < len(x) <= MAX_LANGUAGE_CHARS for x in langs):
        raise UsageError(T("{where}: languages must list language codes (nb, ru, en)", where=where))
    data["languages"] = list(langs)
    deadlines = dict(DEFAULT_DEADLINES_S)
    for k, v in raw.get("deadlines_s", {}).items():
        if k not in PRECEDENCES:
            raise UsageError(
                T(
                    "{where}: deadlines_s.{k}: not a precedence ({precedences})",
                    where=where,
                    k=k,
                    precedences=", ".join(PRECEDENCES),
                )
            )
        if not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= MAX_DEADLINE_S:
            raise UsageError(
                T(
                    "{where}: deadlines_s.{k} must be a whole number of seconds from 1 to {max_deadline_s}",
                    where=where,
                    k=k,
                    max_deadline_s=MAX_DEADLINE_S,
                )
            )
        deadlines[k] = v
    data["deadlines_s"] = deadlines
    interval = raw.get("link_test_interval_s", 3600)
    # Written so that NaN (which TOML allows) fails too: every comparison with it is false.
    if not MIN_LINK_TEST_INTERVAL_S <= interval <= MAX_LINK_TEST_INTERVAL_S:
        raise UsageError(
            T(
                "{where}: link_test_interval_s {interval} is not between "
                "{min_link_test_interval_s:g} and {max_link_test_interval_s:g} seconds",
                where=where,
                interval=interval,
                min_link_test_interval_s=MIN_LINK_TEST_INTERVAL_S,
                max_link_test_interval_s=MAX_LINK_TEST_INTERVAL_S,
            ),
            hint=T("3600 (an hour) suits most channels; see docs/channels.md#limits"),
        )
    data["link_test_interval_s"] = interval
    cadence = raw.get("cadence", [])
    _at_most(cadence, MAX_CADENCE, "cadence", where)
    for c in cadence:
        if not isinstance(c, dict) or not isinstance(c.get("kind"), str):
            raise UsageError(
                T("{where}: each cadence entry needs a kind (e.g. protocol-meeting)", where=where)
            )
        if set(c) - CADENCE_KEYS:
            raise UsageError(
                T(
                    "{where}: unknown cadence key(s) {c_minus_cadence_keys}",
                    where=where,
                    c_minus_cadence_keys=sorted(set(c) - CADENCE_KEYS),
                ),
                hint=T("known keys: {cadence_keys}", cadence_keys=", ".join(sorted(CADENCE_KEYS))),
            )
        for text_key in ("kind", "level", "prepares"):
            value = c.get(text_key, "")
            if not isinstance(value, str) or len(value) > MAX_CADENCE_TEXT:
                raise UsageError(
                    T(
                        "{where}: cadence {text_key} must be text of at most {max_cadence_text} characters",
                        where=where,
                        text_key=text_key,
                        max_cadence_text=MAX_CADENCE_TEXT,
                    )
                )
        for month_key in ("every_months", "before_months"):
            months = c.get(month_key, 0)
            if not isinstance(months, int) or isinstance(months, bool) or not 0 <= months <= MAX_MONTHS:
                raise UsageError(
                    T(
                        "{where}: cadence every_months/before_months are whole months from 0 to {max_months}",
                        where=where,
                        max_months=MAX_MONTHS,
                    )
                )
    data["cadence"] = [dict(c) for c in cadence]
    status = raw.get("initial_status", "active")
    if status not in ("planned", "active"):
        raise UsageError(T("{where}: initial_status must be planned or active", where=where))
    data["initial_status"] = status
    return Charter(data)


def _lang_table(value: Any, key: str, max_chars: int, where: str) -> dict[str, str]:
    """A table of non-empty texts keyed by nb, ru, en (at least one), each at most ``max_chars``."""
    if (
        not isinstance(value, dict)
        or not value
        or set(value) - set(LANGS)
        or not all(isinstance(v, str) and v for v in value.values())
    ):
        raise UsageError(
            T("{where}: {key} must give non-empty texts keyed by nb, ru, en", where=where, key=key),
            hint=T('e.g. {key} = {{ nb = "…", ru = "…", en = "…" }}', key=key),
        )
    if any(len(v) > max_chars for v in value.values()):
        raise UsageError(
            T("{where}: a text of {key} is longer than {n} characters", where=where, key=key, n=max_chars)
        )
    return dict(value)


def _at_most(items: list[Any], limit: int, key: str, where: str) -> None:
    if len(items) > limit:
        raise UsageError(
            T(
                "{where}: {key} lists {n_items} entries; a charter allows at most {limit}",
                where=where,
                key=key,
                n_items=len(items),
                limit=limit,
            )
        )


def _check_known_types(types: list[str], where: str) -> None:
    try:
        from parley.formats.registry import list_types
    except ImportError:  # formats not installed in a minimal build: accept names as given
        return
    known = {t.name for t in list_types()}
    bad = [t for t in types if t not in known and t not in CONTROL_TYPES]
    if bad:
        raise UsageError(
            T("{where}: unknown message type(s) {bad}", where=where, bad=bad),
            hint=T("known types: {known} (see `parley schema list`)", known=", ".join(sorted(known))),
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
        raise UsageError(T("not a charter document: expected 'charter' and 'signatures'"))
    charter = charter_from_dict(raw["charter"], "charter document")
    if charter.data != raw["charter"]:
        raise VerificationError("charter", T("charter is not in normal form; it was edited by hand"))
    sigs = raw["signatures"]
    if not isinstance(sigs, dict) or not sigs:
        raise VerificationError("charter", T("charter carries no signatures"))
    for node_name, sig in sigs.items():
        if node_name not in charter.member_nodes:
            raise VerificationError(
                "charter", T("{node_name!r} signed but is not a member node", node_name=node_name)
            )
        public: PublicKey | None = key_for(node_name)
        if public is None:
            raise VerificationError(
                "charter",
                T("signed by {node_name!r}, which is not a known peer", node_name=node_name),
                hint=T("add its identity card first: `parley peer add CARD.json`"),
            )
        if not isinstance(sig, str) or not signing.verify("charter", charter.data, sig, public):
            raise VerificationError(
                "charter", T("{node_name!r}'s signature on the charter does not verify", node_name=node_name)
            )
    return CharterDocument(charter, dict(sigs))
