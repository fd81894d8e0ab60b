"""The node: one object that builds and owns everything a Parley installation needs.

A home directory holds the configuration (``parley.toml``), the identity key
(``identity.key``, mode 0600), the TLS certificate and key (``tls/``) and, by default, the
SQLite database (``parley.db``). :class:`Node` opens a home and hands out its parts; there
are no module-level globals, and the clock is injectable so tests can drive time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select

from parley.clock import Clock, SystemClock
from parley.config import Config
from parley.errors import ConflictError, UsageError
from parley.protocol.card import IdentityCard, make_card
from parley.protocol.keys import PublicKey, SigningKeyPair
from parley.protocol.verify import NAME_RE
from parley.storage import database
from parley.storage.engines import create_db_engine, is_sqlite
from parley.storage.tables import peers

KEY_FILE = "identity.key"
TLS_CERT = "tls/cert.pem"
TLS_KEY = "tls/key.pem"
DEFAULT_DB = "sqlite:///parley.db"


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    if home is None:
        env = os.environ.get("PARLEY_HOME")
        if not env:
            raise UsageError("no node home given", hint="pass --home DIR or set PARLEY_HOME=DIR")
        home = env
    return Path(home).expanduser().resolve()


def resolve_db_url(home: Path, url: str) -> str:
    """Relative SQLite paths in the config are relative to the home, not the cwd."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///") :]
        if rel and not rel.startswith(":"):
            return f"sqlite:///{home / rel}"
    return url


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {listen!r} is not HOST:PORT", hint="for example --listen 127.0.0.1:8443")
    return host.strip("[]"), int(port)


@dataclass
class Node:
    home: Path
    config: Config
    key: SigningKeyPair
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    _keys: dict[str, PublicKey] = field(default_factory=dict)
    _reader: Engine | None = None

    @property
    def reader(self) -> Engine:
        """The engine for reads (a separate, never-blocking one on SQLite)."""
        if self._reader is None:
            if is_sqlite(self.engine):
                self._reader = create_db_engine(str(self.engine.url), reader=True)
            else:
                self._reader = self.engine
        return self._reader

    @property
    def name(self) -> str:
        return self.config.node.name

    @classmethod
    def open(
        cls,
        home: str | os.PathLike[str] | None,
        *,
        clock: Clock | None = None,
        check_schema: bool = True,
    ) -> Node:
        path = resolve_home(home)
        config = Config.load(path)
        try:
            key = SigningKeyPair.load(path / KEY_FILE)
        except PermissionError as exc:
            raise UsageError(str(exc).split("; run:")[0], hint=f"run: chmod 600 {path / KEY_FILE}") from None
        except FileNotFoundError:
            raise UsageError(
                f"{path / KEY_FILE} is missing: this home has no identity key",
                hint="restore the key from your backup; a new key means a new identity",
            ) from None
        engine = create_db_engine(resolve_db_url(path, config.database.url))
        if check_schema:
            try:
                database.require_current(engine)
            except BaseException:
                engine.dispose()
                raise
        return cls(path, config, key, engine, clock or SystemClock())

    def close(self) -> None:
        if self._reader is not None and self._reader is not self.engine:
            self._reader.dispose()
        self.engine.dispose()

    # --- identity -------------------------------------------------------------------
    def tls_cert_pem(self) -> str:
        return (self.home / TLS_CERT).read_text()

    def card(self) -> IdentityCard:
        from parley.federation.tls import fingerprint_of_pem

        pem = self.tls_cert_pem()
        return make_card(
            key=self.key,
            name=self.name,
            party=self.config.node.party,
            url=self.config.node.url,
            tls_cert_pem=pem,
            tls_fingerprint=fingerprint_of_pem(pem),
        )

    def key_for(self, node: str) -> PublicKey | None:
        """The pinned public key of ``node`` (this node's own, or a peer's)."""
        if node == self.name:
            return self.key.public
        cached = self._keys.get(node)
        if cached is not None:
            return cached
        with self.reader.connect() as conn:
            row = conn.execute(select(peers.c.public_key).where(peers.c.name == node)).first()
        if row is None:
            return None
        pk = PublicKey.from_b64(row.public_key)
        self._keys[node] = pk
        return pk

    def forget_key_cache(self) -> None:
        self._keys.clear()


def init_home(
    home: str | os.PathLike[str] | None,
    *,
    name: str,
    party: str,
    listen: str,
    url: str | None = None,
    database_url: str | None = None,
) -> Path:
    """Create a node's home; refuse, changing nothing, if one is already there.

    Everything is built in a temporary directory next to the target and moved into place
    at the end, so a failure half-way (a bad database URL, a full disk) leaves nothing.
    """
    path = resolve_home(home)
    if (path / "parley.toml").exists() or (path / KEY_FILE).exists():
        raise ConflictError(
            f"{path} already holds a Parley node",
            hint="choose another --home, or remove it yourself if you mean to start over",
        )
    if path.exists() and any(path.iterdir()):
        raise ConflictError(f"{path} exists and is not empty", hint="choose an empty or new directory")
    if not NAME_RE.match(name):
        raise UsageError(
            f"node name {name!r} is not valid",
            hint="use lower-case letters, digits, '.', '_' or '-', up to 63 characters",
        )
    if not party.strip():
        raise UsageError("--party must not be empty", hint="for example --party Norway")
    host, port = parse_listen(listen)
    config = Config()
    config.node.name = name
    config.node.party = party
    config.node.listen = listen
    config.node.url = url or f"https://{host}:{port}"
    config.database.url = database_url or DEFAULT_DB

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.init-", dir=path.parent))
    try:
        key = SigningKeyPair.generate()
        key.save(tmp / KEY_FILE)
        from parley.federation.tls import make_self_signed, write_private

        (tmp / "tls").mkdir(mode=0o700)
        cert_pem, key_pem = make_self_signed(host, name)
        (tmp / TLS_CERT).write_bytes(cert_pem)
        write_private(tmp / TLS_KEY, key_pem)
        config.save(tmp)
        db_url = resolve_db_url(tmp, config.database.url)
        engine = create_db_engine(db_url)
        try:
            if not is_sqlite(engine) and database.current_revision(engine) is not None:
                raise ConflictError(
                    "that PostgreSQL database already holds a Parley schema",
                    hint="give each node its own empty database",
                )
            database.upgrade(engine)
        finally:
            engine.dispose()
        if path.exists():
            path.rmdir()
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
