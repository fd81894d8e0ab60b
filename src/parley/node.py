"""The node: one object that builds and owns everything a Parley installation needs.

A home directory holds the configuration (``parley.toml``), the identity key
(``identity.key``, mode 0600), the TLS certificate and key (``tls/``) and, by default, the
SQLite database (``parley.db``). :class:`Node` opens a home and hands out its parts; there
are no module-level globals, and the clock is injectable so tests can drive time. The home
is 0700 and every secret in it 0600, checked on every open (see :mod:`parley.file_modes`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from parley.clock import Clock, SystemClock
from parley.config import CONFIG_FILE, Config
from parley.errors import ConflictError, ParleyError, UsageError
from parley.file_modes import create_private_file
from parley.formats.texts import T
from parley.protocol.card import IdentityCard, check_card_url, make_card
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
            raise UsageError(T("no node home given"), hint=T("pass --home DIR or set PARLEY_HOME=DIR"))
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
        raise UsageError(
            T("--listen {listen!r} is not HOST:PORT", listen=listen),
            hint=T("for example --listen 127.0.0.1:8443"),
        )
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
    # Raises when this node may not sign a new envelope on a channel now: set while it
    # recovers its own chains after a restore (parley.continuity.recovery).
    hold_sending: Callable[[str], None] | None = None
    # A rotation installed ahead of its effective time (docs/protocol.md §13.4): the new key
    # signs what is dated from then on (parley.directory.key_swap sets these).
    next_key: SigningKeyPair | None = None
    next_at: datetime | None = None

    def signing_key(self, at: datetime) -> SigningKeyPair:
        """The key that signs what is dated ``at``: the next key once its time has come."""
        nxt, when = self.next_key, self.next_at
        if nxt is not None and when is not None and at >= when:
            return nxt
        return self.key

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
        from parley.file_modes import check_home

        check_home(path)  # before parley.toml is read: it may hold a database password
        config = Config.load(path)
        db_url = resolve_db_url(path, config.database.url)
        check_home(path, db_url)
        try:
            key = SigningKeyPair.load(path / KEY_FILE)
        except PermissionError as exc:
            raise UsageError(
                str(exc).split("; run:")[0],
                hint=T("run: chmod 600 {path_per_key_file}", path_per_key_file=path / KEY_FILE),
            ) from None
        except FileNotFoundError:
            raise UsageError(
                T(
                    "{path_per_key_file} is missing: this home has no identity key",
                    path_per_key_file=path / KEY_FILE,
                ),
                hint=T("restore the key from your backup; a new key means a new identity"),
            ) from None
        engine = create_db_engine(db_url)
        if check_schema:
            try:
                database.require_current(engine)
            except BaseException:
                engine.dispose()
                raise
        node = cls(path, config, key, engine, clock or SystemClock())
        if check_schema and (path / "identity.key.pending").exists():
            from parley.directory.keys import finish_interrupted_rotation

            finish_interrupted_rotation(node)  # an interrupted `key rotate --apply` (§13)
        if (path / RECOVERY_FILE).exists():
            hold_by_marker(node)  # restored and not yet recovered: no sends (parley.continuity.recovery)
        return node

    def close(self) -> None:
        if self._reader is not None and self._reader is not self.engine:
            self._reader.dispose()
        self.engine.dispose()

    # --- identity -------------------------------------------------------------------
    def tls_cert_pem(self) -> str:
        return (self.home / TLS_CERT).read_text()

    def card(self, tls_cert_pem: str | None = None) -> IdentityCard:
        """This node's card; with ``tls_cert_pem``, the card naming that certificate instead
        of the one it serves (a TLS rotation announces the next one)."""
        from parley.directory.key_swap import certificate_for
        from parley.directory.keys import history_documents_txn
        from parley.protocol.tls import fingerprint_of_pem

        with self.reader.connect() as conn:
            docs = history_documents_txn(conn, self.name)
        pem = tls_cert_pem if tls_cert_pem is not None else self.tls_cert_pem()
        key = self.signing_key(self.clock.now())
        return make_card(
            root_key=None if docs is None else PublicKey.from_b64(docs["root_key"]),
            # The certificate of the key that signs the card (before a rotation dated ahead
            # takes over, the key it replaces).
            certificate=None if docs is None else certificate_for(docs, key.public.key_id),
            key=key,
            name=self.name,
            party=self.config.node.party,
            url=self.config.node.url,
            tls_cert_pem=pem,
            tls_fingerprint=fingerprint_of_pem(pem),
        )

    def key_for(self, node: str) -> PublicKey | None:
        """The pinned public key of ``node`` (this node's own, or a peer's).

        For a node with a root key (docs/protocol.md §13) it is its whole key history."""
        cached = self._keys.get(node)
        if cached is not None:
            return cached
        from parley.directory.keys import load_history_txn

        row = None
        with self.reader.connect() as conn:
            history = load_history_txn(conn, node)
            if history is None and node != self.name:
                row = conn.execute(select(peers.c.public_key).where(peers.c.name == node)).first()
        pk: PublicKey
        if history is not None:
            pk = history
        elif node == self.name:
            pk = self.key.public
        elif row is None:
            return None
        else:
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
    if (path / CONFIG_FILE).exists() or (path / KEY_FILE).exists():
        raise ConflictError(
            T("{path} already holds a Parley node", path=path),
            hint=T("choose another --home, or remove it yourself if you mean to start over"),
        )
    if path.exists() and any(path.iterdir()):
        raise ConflictError(
            T("{path} exists and is not empty", path=path), hint=T("choose an empty or new directory")
        )
    if not NAME_RE.match(name):
        raise UsageError(
            T("node name {name!r} is not valid", name=name),
            hint=T("use lower-case letters, digits, '.', '_' or '-', up to 63 characters"),
        )
    if not party.strip():
        raise UsageError(T("--party must not be empty"), hint=T("for example --party Norway"))
    host, port = parse_listen(listen)
    config = Config()
    config.node.name = name
    config.node.party = party
    config.node.listen = listen
    config.node.url = url or f"https://{host}:{port}"
    config.database.url = database_url or DEFAULT_DB
    try:
        check_card_url(config.node.url)
    except UsageError as exc:
        # The URL goes into this node's card; a peer would refuse it at `peer add`.
        raise UsageError(
            exc.message.replace("card URL", "--url", 1),
            hint=T("pass --url https://HOST:PORT with the address peers reach this node at"),
        ) from None

    path.parent.mkdir(parents=True, exist_ok=True)
    from parley.file_modes import create_private_file, sqlite_file

    # mkdtemp makes the directory 0700, and the rename below keeps that mode for the home.
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.init-", dir=path.parent))
    try:
        key = SigningKeyPair.generate()
        key.save(tmp / KEY_FILE)
        from parley.protocol.tls import make_self_signed, write_private

        (tmp / "tls").mkdir(mode=0o700)
        cert_pem, key_pem = make_self_signed(host, name)
        (tmp / TLS_CERT).write_bytes(cert_pem)
        write_private(tmp / TLS_KEY, key_pem)
        create_private_file(tmp / CONFIG_FILE)
        config.save(tmp)  # writing into an existing file keeps its 0600
        db_url = resolve_db_url(tmp, config.database.url)
        db_file = sqlite_file(db_url)
        if db_file is not None and not db_file.exists():
            # SQLite creates a database with the process umask (often 0644) and gives its
            # -wal and -shm files the database's mode, so the empty file is made 0600 first.
            create_private_file(db_file)
        engine = create_db_engine(db_url)
        try:
            if not is_sqlite(engine) and database.current_revision(engine) is not None:
                raise ConflictError(
                    T("that PostgreSQL database already holds a Parley schema"),
                    hint=T("give each node its own empty database"),
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


# --- the recovery marker ---------------------------------------------------------------
# A restored home holds recovery.json until the node has recovered its own chains from its
# peers (parley.continuity.recovery). Node.open reads it, so that a CLI send in that window is
# refused too; it lives here because every layer above opens nodes.
RECOVERY_FILE = "recovery.json"


def recovering_error() -> ConflictError:
    return ConflictError(
        T(
            "this node is recovering its own chains from its peers after a restore: "
            "nothing is signed or sent until that is done; nothing was stored"
        ),
        code="recovering",
        http_status=503,
        hint=T("wait until `parley status` no longer shows recovery, then send again"),
    )


def marker_path(home: Path) -> Path:
    return home / RECOVERY_FILE


def write_marker(home: Path, data: dict[str, Any]) -> None:
    path = marker_path(home)
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    create_private_file(tmp)
    tmp.write_text(json.dumps(data, sort_keys=True))
    tmp.replace(path)


def read_marker(home: Path) -> dict[str, Any] | None:
    from parley.files import read_bounded

    path = marker_path(home)
    if not path.exists():
        return None
    try:
        data = json.loads(read_bounded(path, "JSON file"))
    except (ParleyError, ValueError):
        data = {}  # unreadable: still a marker, recovery still required
    return data if isinstance(data, dict) else {}


def hold_by_marker(node: Node) -> None:
    """Installed by ``Node.open`` when the home holds ``recovery.json`` (a CLI send while the
    node recovers, or before its first start after a restore): refuse every send."""

    def hold(channel: str) -> None:
        raise recovering_error()

    node.hold_sending = hold
