"""A node's configuration: one TOML file, ``parley.toml``, with every default written out.

Defaults live here and only here; ``init`` writes them all into the file so an operator can
see and change every knob without reading code. Unknown keys are refused on load (a typo in
a config file should not silently do nothing).
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from parley.errors import UsageError
from parley.formats.texts import T

CONFIG_FILE = "parley.toml"

DEFAULT_DEADLINES_S = {"FLASH": 300, "IMMEDIATE": 1800, "PRIORITY": 10800, "ROUTINE": 86400}


@dataclass
class NodeSection:
    name: str = ""
    party: str = ""
    listen: str = "127.0.0.1:8443"
    url: str = "https://127.0.0.1:8443"


@dataclass
class DatabaseSection:
    url: str = ""
    # A serve whose database is a standby in recovery waits, asking again this often
    # (parley.continuity.standby; docs/operations.md "A standby that takes over").
    standby_poll_s: float = 3.0
    # True with asynchronous replication: after a take-over, send nothing until every peer
    # has said what it holds of this node's chains (parley.continuity.recovery).
    takeover_waits_for_peers: bool = False


@dataclass
class FederationSection:
    batch_size: int = 500
    request_timeout_s: float = 10.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0
    max_clock_skew_s: float = 300.0
    max_body_bytes: int = 65536
    max_request_bytes: int = 8_388_608
    gap_fetch_limit: int = 1000
    # The outbound client's bounds on a peer's answers (docs/security.md, hostile peer).
    max_answer_bytes: int = 8_388_608
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0


@dataclass
class LinkTestSection:
    default_interval_s: float = 3600.0
    degraded_rtt_ms: float = 2000.0
    down_after_failures: int = 3


@dataclass
class EscalationSection:
    supervisor_desk: str = ""
    webhook_url: str = ""


@dataclass
class PagerSection:
    """Paging people away from the console (parley.watch.pagers; docs/watch.md)."""

    # smtp://user:pass@host:port, smtps://… (TLS from the start), ?starttls=true; empty: no email.
    smtp_url: str = ""
    from_address: str = ""
    console_url: str = ""  # base of links in pages; empty: the node's url + /console
    webhook_url: str = ""  # empty: [escalation] webhook_url
    command: str = ""  # argv, split like a shell but run without one; the page as JSON on stdin
    default_media: str = "email"  # for chain steps that name none: email, webhook, command
    timeout_s: float = 20.0  # longest wait for one delivery (SMTP dialogue, webhook, command)
    command_max_output_bytes: int = 65_536
    retry_initial_s: float = 15.0
    retry_max_s: float = 600.0
    give_up_after_s: float = 86_400.0  # a page not delivered by then is marked failed
    alarm_after_failures: int = 3  # consecutive failures of one medium that raise an alarm
    alarm_after_s: float = 600.0  # a page still undelivered this long after it fell due: alarm


@dataclass
class ConsoleSection:
    default_lang: str = "en"
    session_hours: float = 12.0
    # Passwords are checked in threads of their own; more log-ins than workers + queue at
    # once are refused (login_busy) rather than queued (parley.console.login_gate).
    login_workers: int = 2
    login_queue: int = 16
    # Failed log-ins allowed in 15 minutes before log-in is refused (parley.console.sessions).
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20


@dataclass
class TranslatorSection:
    kind: str = "none"  # none | libretranslate
    url: str = ""
    api_key: str = ""


@dataclass
class HttpSection:
    """Bounds on what a client may make the HTTP listener hold (parley.api.limits)."""

    anonymous_body_bytes: int = 65_536  # no credentials: enough for the log-in form
    body_bytes: int = 16_777_216  # with a token or session: a 500-message batch fits
    body_idle_timeout_s: float = 10.0  # longest wait for the next piece of a body
    body_timeout_s: float = 60.0  # longest time to receive a whole body
    header_timeout_s: float = 10.0  # longest time from a request's first byte to its last header
    max_header_bytes: int = 65_536
    keep_alive_s: float = 5.0
    max_connections: int = 1000
    hsts_max_age_s: int = 31_536_000  # RFC 6797; 0 sends no Strict-Transport-Security


@dataclass
class MetricsSection:
    token_sha256: str = ""  # set by `parley metrics token`; empty: /metrics answers 404


@dataclass
class Config:
    node: NodeSection = field(default_factory=NodeSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    federation: FederationSection = field(default_factory=FederationSection)
    link_test: LinkTestSection = field(default_factory=LinkTestSection)
    deadlines_s: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DEADLINES_S))
    escalation: EscalationSection = field(default_factory=EscalationSection)
    pager: PagerSection = field(default_factory=PagerSection)
    console: ConsoleSection = field(default_factory=ConsoleSection)
    translator: TranslatorSection = field(default_factory=TranslatorSection)
    http: HttpSection = field(default_factory=HttpSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)

    def to_toml(self) -> str:
        header = (
            "# Parley node configuration. Every setting is written out with its default;\n"
            "# see docs/operations.md for what each one does.\n\n"
        )
        return header + tomli_w.dumps(asdict(self))

    def save(self, home: Path) -> None:
        (home / CONFIG_FILE).write_text(self.to_toml())

    @classmethod
    def load(cls, home: Path) -> Config:
        path = home / CONFIG_FILE
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(
                T("{home} is not a Parley home (no {config_file})", home=home, config_file=CONFIG_FILE),
                hint=T("create one with `parley --home DIR init …` or set PARLEY_HOME"),
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(
                T("{path} is not valid TOML: {exc}", path=path, exc=exc), hint=T("fix the file")
            ) from exc
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> Config:
        cfg = cls()
        for f in fields(cls):
            if f.name not in raw:
                continue
            value = raw[f.name]
            if f.name == "deadlines_s":
                bad = set(value) - set(DEFAULT_DEADLINES_S)
                if bad:
                    raise UsageError(
                        T("{where}: unknown precedence in [deadlines_s]: {bad}", where=where, bad=sorted(bad))
                    )
                cfg.deadlines_s.update({k: int(v) for k, v in value.items()})
                continue
            section = getattr(cfg, f.name)
            known = {sf.name: sf for sf in fields(section)}
            for key, v in value.items():
                if key not in known:
                    raise UsageError(
                        T("{where}: unknown setting [{f_name}] {key}", where=where, f_name=f.name, key=key),
                        hint=T("known settings: {known}", known=", ".join(known)),
                    )
                setattr(section, key, type(getattr(section, key))(v))
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise UsageError(T("{where}: unknown section(s) {unknown}", where=where, unknown=sorted(unknown)))
        return cfg
