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
class ConsoleSection:
    default_lang: str = "en"
    session_hours: float = 12.0


@dataclass
class TranslatorSection:
    kind: str = "none"  # none | libretranslate
    url: str = ""
    api_key: str = ""


@dataclass
class Config:
    node: NodeSection = field(default_factory=NodeSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    federation: FederationSection = field(default_factory=FederationSection)
    link_test: LinkTestSection = field(default_factory=LinkTestSection)
    deadlines_s: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DEADLINES_S))
    escalation: EscalationSection = field(default_factory=EscalationSection)
    console: ConsoleSection = field(default_factory=ConsoleSection)
    translator: TranslatorSection = field(default_factory=TranslatorSection)

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
                f"{home} is not a Parley home (no {CONFIG_FILE})",
                hint="create one with `parley --home DIR init …` or set PARLEY_HOME",
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{path} is not valid TOML: {exc}", hint="fix the file") from exc
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
                    raise UsageError(f"{where}: unknown precedence in [deadlines_s]: {sorted(bad)}")
                cfg.deadlines_s.update({k: int(v) for k, v in value.items()})
                continue
            section = getattr(cfg, f.name)
            known = {sf.name: sf for sf in fields(section)}
            for key, v in value.items():
                if key not in known:
                    raise UsageError(
                        f"{where}: unknown setting [{f.name}] {key}",
                        hint=f"known settings: {', '.join(known)}",
                    )
                setattr(section, key, type(getattr(section, key))(v))
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise UsageError(f"{where}: unknown section(s) {sorted(unknown)}")
        return cfg
