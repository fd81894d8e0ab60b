"""Alarms stored as codes with parameters, rendered in the reader's language when read.

Every alarm is one ``alarms`` row, raised through :func:`raise_alarm_txn`. The row keeps

* ``kind`` — what the rest of the node queries and clears by (``link_down``, ``watch_gap`` …);
* ``message`` — the English rendering, for logs and for readers older than the column below;
* ``text_json`` — the :class:`~parley.formats.texts.Text` (its ``code``, English template and
  parameters, :meth:`Text.to_json`), rendered by :func:`alarm_text` in each reader's language.

:data:`ALARM_KINDS` is the one registry of what can be raised: per ``code`` its ``kind``, its
severity and its template. Parameters that are labels are stored as codes and rendered when
read: ``precedence`` and ``type`` through the key catalogue (``precedence.FLASH``,
``type.<id>``), ``channel`` through the charter's name in the reader's language (the caller
passes those names, the storage layer does not read charters), ``medium`` through
``page.console.medium.<medium>``; times (parameters ending in ``_at``) are stored as RFC 3339
UTC and shown in the reader's locale and zone (:func:`parley.formats.times.when_for_reader`).

This module sits in the storage layer and imports only :mod:`parley.formats` and the tables,
so record/, federation/, messaging/ and watch/ can all raise alarms through it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from parley.clock import parse_time
from parley.formats.texts import T, Text, text_from_json
from parley.storage.tables import alarms

logger = logging.getLogger(__name__)

CRITICAL, WARNING, SECURITY = "critical", "warning", "security"
MESSAGE_MAX = 1000


@dataclass(frozen=True)
class AlarmKind:
    """One alarm sentence: its code, the ``kind`` stored with it, severity and template."""

    code: str
    kind: str
    severity: Callable[[Mapping[str, Any]], str]
    template: str

    def text(self, **params: Any) -> Text:
        """The alarm's Text with ``params`` (the code travels with it in :func:`text_json`)."""
        return T(self.template, **params)


def _always(severity: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda _params: severity


def _by_precedence(params: Mapping[str, Any]) -> str:
    return CRITICAL if params.get("precedence") in ("FLASH", "IMMEDIATE") else WARNING


# The templates are written out as T(...) literals below as well, so scripts/extract-texts
# (keywords T and N) finds every one of them.
_TEMPLATES: dict[str, tuple[str, Callable[[Mapping[str, Any]], str], Text]] = {
    "ack_overdue.here": (
        "ack_overdue",
        _by_precedence,
        T("{precedence} {type} on {channel} not acknowledged by this node (due {due_at})"),
    ),
    "ack_overdue.there": (
        "ack_overdue",
        _by_precedence,
        T("{precedence} {type} on {channel} not acknowledged by the other side (due {due_at})"),
    ),
    "ack_overdue.here.notified": (
        "ack_overdue",
        _by_precedence,
        T(
            "{precedence} {type} on {channel} not acknowledged by this node (due {due_at}); "
            "supervisor desk {desk} notified"
        ),
    ),
    "ack_overdue.there.notified": (
        "ack_overdue",
        _by_precedence,
        T(
            "{precedence} {type} on {channel} not acknowledged by the other side (due {due_at}); "
            "supervisor desk {desk} notified"
        ),
    ),
    "link_down": ("link_down", _always(CRITICAL), T("link to {peer} on {channel} is down: no answer")),
    "link_down.error": ("link_down", _always(CRITICAL), T("link to {peer} on {channel} is down: {error}")),
    "watch_gap": (
        "watch_gap",
        _always(CRITICAL),
        T("nobody is on watch at desk {desk}; the next shift starts {next_at}"),
    ),
    "watch_gap.no_shift": (
        "watch_gap",
        _always(CRITICAL),
        T("nobody is on watch at desk {desk}; the roster has no shift in the coming week"),
    ),
    "pager_failing": (
        "pager_failing",
        _always(CRITICAL),
        T("paging by {medium} is failing (failures in a row: {failures}); last error: {error}"),
    ),
    "page_undelivered": (
        "page_undelivered",
        _always(CRITICAL),
        T("page to {recipient} by {medium} still not delivered: {error}"),
    ),
    "page_undelivered.untried": (
        "page_undelivered",
        _always(CRITICAL),
        T("page to {recipient} by {medium} still not delivered: not tried yet"),
    ),
    "key_revoked_use": (
        "key_revoked_use",
        _always(SECURITY),
        T("{peer} sent a message signed with its key {key_id}, revoked from {revoked_at}: refused"),
    ),
    "tls_update_forged": (
        "tls_update_forged",
        _always(SECURITY),
        T("{peer} sent a TLS certificate update not signed by its pinned key: refused"),
    ),
    "record_local_changed": (
        "record_local_changed",
        _always(SECURITY),
        T(
            "this node's own record gives a different root at size {size} than the checkpoint "
            "it signed before: its record tables were changed"
        ),
    ),
    "record_bad_signature": (
        "record_bad_signature",
        _always(SECURITY),
        T("checkpoint of {peer}'s record rejected: not validly signed or malformed (evidence kept)"),
    ),
    "record_fork": (
        "record_fork",
        _always(SECURITY),
        T("{peer}'s record shows two different roots for size {size} (evidence kept)"),
    ),
    "record_inconsistent": (
        "record_inconsistent",
        _always(SECURITY),
        T("{peer}'s record at size {size} does not extend size {old_size} cosigned before (evidence kept)"),
    ),
    "record_rollback": (
        "record_inconsistent",
        _always(SECURITY),
        T("{peer}'s record went back from size {old_size} to size {size} (evidence kept)"),
    ),
    # A restored peer said where its record restarts (parley.federation.restart): not an attack
    # on its face, but a person should know, and the old checkpoint is kept.
    "record_restarted": (
        "record_restarted",
        _always(WARNING),
        T(
            "{peer} was restored from a backup: its record restarts from size {size}, "
            "where this node had cosigned size {old_size} (that checkpoint is kept as evidence)"
        ),
    ),
    # Recovery after a restore (parley.continuity.recovery, docs/protocol.md §11.10).
    "recovery_refused": (
        "recovery_refused",
        _always(SECURITY),
        T("recovery refused what {peer} returned of this node's chain on {channel}: {error}"),
    ),
    "recovery_unheld": (
        "recovery_unheld",
        _always(WARNING),
        T(
            "after the restore this node's chain on {channel} continues from number {seq} "
            "({recovered} envelopes taken back from peers): anything it signed after that "
            "which no peer received is lost, and those numbers are used again"
        ),
    ),
}

ALARM_KINDS: dict[str, AlarmKind] = {
    code: AlarmKind(code, kind, severity, text.template)
    for code, (kind, severity, text) in _TEMPLATES.items()
}
"""Every alarm Parley raises, by code (several codes may share one ``kind``)."""


def alarm(code: str, **params: Any) -> tuple[AlarmKind, Text]:
    """The registered alarm ``code`` with ``params``: its kind and Text (KeyError if unknown).

    Datetimes among the parameters are stored as RFC 3339 UTC strings.
    """
    spec = ALARM_KINDS[code]
    stored = {k: _stored(v) for k, v in params.items()}
    return spec, spec.text(**stored)


def _stored(value: Any) -> Any:
    if isinstance(value, datetime):
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return utc.isoformat().replace("+00:00", "Z")
    return value


def raise_alarm_txn(
    conn: Connection,
    code: str,
    subject: str,
    now: datetime,
    *,
    once: bool = False,
    **params: Any,
) -> int | None:
    """Insert alarm ``code`` about ``subject`` with ``params``; return its id.

    ``once``: not if an alarm of the same kind about the same subject is still open (then
    None is returned). The English rendering goes to ``message``, the code and Text to
    ``text_json``; the severity follows the code's rule.
    """
    spec, text = alarm(code, **params)
    if once:
        open_one = conn.execute(
            select(alarms.c.id).where(
                alarms.c.kind == spec.kind, alarms.c.subject == subject, alarms.c.cleared_at.is_(None)
            )
        ).first()
        if open_one is not None:
            return None
    english = _for_logs(text)
    severity = spec.severity(params)
    key = conn.execute(
        insert(alarms).values(
            kind=spec.kind,
            subject=subject[:200],
            severity=severity,
            message=english[:MESSAGE_MAX],
            text_json=json.dumps({"code": code, **text.to_json()}, ensure_ascii=False),
            raised_at=now,
        )
    ).inserted_primary_key
    if severity == SECURITY:
        logger.error("security alarm %s on %s: %s", spec.kind, subject, english)
    return int(key[0]) if key else None


def _for_logs(text: Text) -> str:
    """The English ``message``: as :func:`readable` gives it, times as ``2026-12-01 07:00 UTC``."""
    params = dict(text.params)
    for name, value in text.params.items():
        if name.endswith("_at") and isinstance(value, str):
            with contextlib.suppress(ValueError):
                params[name] = f"{parse_time(value):%Y-%m-%d %H:%M} UTC"
    return readable(Text(text.template, params, plural=text.plural, n=text.n)).render("en")


# --- reading ---------------------------------------------------------------------------------


def stored_text(text_json: str | None) -> tuple[str | None, Text | None]:
    """The code and Text stored in a row's ``text_json`` (None, None for an older row)."""
    if not text_json:
        return None, None
    try:
        data = json.loads(text_json)
    except ValueError:
        return None, None
    text = text_from_json(data)
    if not isinstance(text, Text):
        return None, None
    code = data.get("code")
    return (code if isinstance(code, str) else None), text


class _Label(Text):
    """A parameter that is a label of the key catalogue (``type.<id>``), read in each language."""

    __slots__ = ("code", "key")

    def __init__(self, key: str, code: str) -> None:
        super().__init__(code)
        self.key, self.code = key, code

    def render(self, lang: str = "en") -> str:
        from parley.formats.catalogue import load_catalogue

        value = str(load_catalogue(lang).get(self.key))
        return self.code if value == self.key else value


class _Name(Text):
    """A channel named by its charter in each language (``Charter.name_in``)."""

    __slots__ = ("code", "name_in")

    def __init__(self, code: str, name_in: Callable[[str], str]) -> None:
        super().__init__(code)
        self.code, self.name_in = code, name_in

    def render(self, lang: str = "en") -> str:
        return self.name_in(lang)


class _When(Text):
    """A time, shown in the reader's locale and zone (UTC outside a request)."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value

    def render(self, lang: str = "en") -> str:
        from parley.formats.times import when_for_reader

        try:
            return when_for_reader(self.value, lang, with_date=True)
        except ValueError:
            return self.value


ChannelNames = Mapping[str, Callable[[str], str]]
"""Channel id -> a function giving its name in a language (``charter.name_in``)."""


def readable(text: Text, channels: ChannelNames | None = None) -> Text:
    """``text`` with label, channel and time parameters that render in the reader's language."""
    params = dict(text.params)
    for name, value in text.params.items():
        if not isinstance(value, str):
            continue
        if name == "precedence":
            params[name] = _Label(f"precedence.{value}", value)
        elif name == "type":
            params[name] = _Label(f"type.{value}", value)
        elif name == "medium":
            params[name] = _Label(f"page.console.medium.{value}", value)
        elif name == "channel" and channels and value in channels:
            params[name] = _Name(value, channels[value])
        elif name.endswith("_at"):
            params[name] = _When(value)
    return Text(text.template, params, plural=text.plural, n=text.n)


def alarm_text(
    text_json: str | None,
    message: str,
    lang: str,
    channels: ChannelNames | None = None,
) -> str:
    """An alarm row read in ``lang``; a row from before ``text_json`` reads its ``message``."""
    _code, text = stored_text(text_json)
    if text is None:
        return message
    return readable(text, channels).render(lang)


def alarm_json(row: Any) -> dict[str, Any]:
    """An open alarm row as the status dictionaries carry it (language-neutral)."""
    code, text = stored_text(getattr(row, "text_json", None))
    item: dict[str, Any] = {
        "id": row.id,
        "kind": row.kind,
        "code": code or row.kind,
        "params": dict(text.to_json()["params"]) if text is not None else {},
        "severity": row.severity,
        "subject": row.subject,
        "message": row.message,
        "raised_at": row.raised_at,
        "text_json": getattr(row, "text_json", None),
    }
    channel = item["params"].get("channel")
    if isinstance(channel, str):
        item["channel"] = channel  # so a desk sees only the alarms of its channels
    return item


def render_alarm_items(
    items: list[dict[str, Any]], lang: str, channels: ChannelNames | None = None
) -> list[dict[str, Any]]:
    """Copies of :func:`alarm_json` items with ``text`` (and ``message``) in ``lang``."""
    out = []
    for item in items:
        shown = {k: v for k, v in item.items() if k != "text_json"}
        shown["text"] = alarm_text(item.get("text_json"), str(item["message"]), lang, channels)
        shown["message"] = shown["text"]
        shown["lang"] = lang
        out.append(shown)
    return out


# --- samples for the language tests --------------------------------------------------------------

_SAMPLE_PARAMS: dict[str, dict[str, Any]] = {
    "ack_overdue.here": {
        "precedence": "FLASH",
        "type": "incident-response",
        "channel": "direct-line",
        "due_at": "2026-11-29T18:39:21Z",
    },
    "ack_overdue.there": {
        "precedence": "IMMEDIATE",
        "type": "sar-request",
        "channel": "direct-line",
        "due_at": "2026-11-29T18:39:21Z",
    },
    "ack_overdue.here.notified": {
        "precedence": "PRIORITY",
        "type": "border-incident",
        "channel": "border-1949",
        "due_at": "2026-11-29T18:39:21Z",
        "desk": "no-vakt",
    },
    "ack_overdue.there.notified": {
        "precedence": "ROUTINE",
        "type": "general",
        "channel": "border-1949",
        "due_at": "2026-11-29T18:39:21Z",
        "desk": "no-vakt",
    },
    "link_down": {"peer": "ru-nf", "channel": "direct-line"},
    "link_down.error": {"peer": "ru-nf", "channel": "direct-line", "error": "HTTP 503"},
    "watch_gap": {"desk": "no-vakt", "next_at": "2026-11-30T06:00:00Z"},
    "watch_gap.no_shift": {"desk": "no-vakt"},
    "pager_failing": {"medium": "email", "failures": 3, "error": "SMTP 421"},
    "page_undelivered": {"recipient": "ola", "medium": "command", "error": "rc=2"},
    "page_undelivered.untried": {"recipient": "ola", "medium": "email"},
    "record_local_changed": {"size": 36},
    "record_bad_signature": {"peer": "ru-nf"},
    "record_fork": {"peer": "ru-nf", "size": 36},
    "record_inconsistent": {"peer": "ru-nf", "size": 40, "old_size": 36},
    "record_rollback": {"peer": "ru-nf", "size": 30, "old_size": 36},
    "record_restarted": {"peer": "ru-nf", "size": 7, "old_size": 293},
    "key_revoked_use": {"peer": "ru-nf", "key_id": "3f2a9c0d1e4b5a69", "revoked_at": "2026-12-01T07:00:00Z"},
    "tls_update_forged": {"peer": "ru-nf"},
    "recovery_refused": {
        "peer": "ru-nf",
        "channel": "direct-line",
        "error": T("the peer's receipt does not name the head it claims"),
    },
    "recovery_unheld": {"channel": "direct-line", "seq": 612, "recovered": 500},
}


_SAMPLE_CHANNELS: dict[str, dict[str, str]] = {
    "direct-line": {
        "nb": "Direktelinjen FOH–Nordflåten",
        "ru": "Прямая линия ОШ ВС Норвегии – Северный флот",
        "en": "Direct line NJHQ–Northern Fleet",
    },
    "border-1949": {
        "nb": "Grensekommissærene 1949",
        "ru": "Пограничные комиссары 1949",
        "en": "Border commissioners 1949",
    },
}


def _sample_name(names: Mapping[str, str], lang: str) -> str:
    return names.get(lang, names["en"])


def sample_alarms() -> dict[str, Text]:
    """One representative Text per code of :data:`ALARM_KINDS`, with plausible parameters,
    ready to render in any language (labels, channel names and times as a reader sees them).
    """
    channels: dict[str, Callable[[str], str]] = {
        cid: functools.partial(_sample_name, names) for cid, names in _SAMPLE_CHANNELS.items()
    }
    return {code: readable(alarm(code, **_SAMPLE_PARAMS[code])[1], channels) for code in ALARM_KINDS}
