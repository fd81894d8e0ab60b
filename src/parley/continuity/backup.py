"""``parley backup`` and ``parley restore``: one archive with a consistent copy of a node.

The archive is a POSIX tar (docs/operations.md, "The backup file") holding:

* ``manifest.json`` — format ``parley-backup`` version 1, the node's name, the engine, when
  it was taken, and this node's own chain heads per channel in the copied database;
* ``parley.toml`` and ``tls/cert.pem`` — the home's configuration and public certificate;
* ``database/parley.db`` (SQLite, made with the SQLite online backup API,
  ``sqlite3.Connection.backup``) or ``database/parley.dump`` (PostgreSQL, ``pg_dump
  --format=custom`` run on a snapshot exported by the transaction that read the heads, so
  the manifest and the dump describe one instant);
* ``keys.enc``, only with ``--with-keys`` — ``identity.key``, ``console.key`` and
  ``tls/key.pem`` in a JSON object, encrypted with AES-256-GCM (NIST SP 800-38D) under a
  key derived from a passphrase with scrypt (RFC 7914).

Restoring never runs while the node serves (``serve.pid``, :mod:`parley.node_running`),
never overwrites a database holding a record unless told to, checks everything before it
writes anything, and leaves ``recovery.json`` so the node takes its own chains back from
its peers before it signs anything again (:mod:`parley.continuity.recovery`).
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from parley.clock import Clock, SystemClock, format_time
from parley.config import CONFIG_FILE, Config
from parley.errors import ConflictError, NotFoundError, UsageError
from parley.formats.texts import T

FORMAT = "parley-backup"
VERSION = 1
MANIFEST = "manifest.json"
KEYS_MEMBER = "keys.enc"
SQLITE_MEMBER = "database/parley.db"
PG_MEMBER = "database/parley.dump"
PLAIN_FILES = (CONFIG_FILE, "tls/cert.pem")
KEY_FILES = ("identity.key", "console.key", "tls/key.pem")
MEMBERS = {MANIFEST, KEYS_MEMBER, SQLITE_MEMBER, PG_MEMBER, *PLAIN_FILES}
SMALL_MAX = 1 << 20  # manifest, configuration, certificate, keys: a megabyte is plenty
AAD = b"parley-backup-keys-v1"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
PASSPHRASE_MIN = 12
TOOL_TIMEOUT_S = 3600


@dataclass(frozen=True)
class Restored:
    manifest: dict[str, Any]
    keys: list[str]


# --- keys ---------------------------------------------------------------------------------
def read_passphrase(path: Path | None) -> bytes:
    if path is None:
        raise UsageError(
            T("key material is encrypted with a passphrase, and none was given"),
            hint=T("pass --passphrase-file FILE (a file holding the passphrase on its first line)"),
        )
    try:
        raw = path.read_bytes()[:4096]
    except OSError as exc:
        raise UsageError(
            T("cannot read the passphrase file {path}: {exc}", path=path, exc=exc.strerror)
        ) from None
    phrase = raw.splitlines()[0].strip() if raw.strip() else b""
    if len(phrase) < PASSPHRASE_MIN:
        raise UsageError(
            T("the passphrase in {path} is shorter than {n} characters", path=path, n=PASSPHRASE_MIN),
            hint=T("use a long passphrase, kept apart from the backup"),
        )
    return phrase


def _derive(phrase: bytes, salt: bytes, params: dict[str, int]) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(phrase)


def encrypt_keys(files: dict[str, bytes], phrase: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    plain = json.dumps({k: base64.b64encode(v).decode() for k, v in files.items()}).encode()
    sealed = AESGCM(_derive(phrase, salt, SCRYPT)).encrypt(nonce, plain, AAD)
    doc = {
        "cipher": "AES-256-GCM",
        "kdf": "scrypt",
        **SCRYPT,
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return json.dumps(doc).encode()


def decrypt_keys(blob: bytes, phrase: bytes) -> dict[str, bytes]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        doc = json.loads(blob)
        params = {k: int(doc[k]) for k in ("n", "r", "p")}
        if (
            doc.get("cipher") != "AES-256-GCM"
            or doc.get("kdf") != "scrypt"
            or not (2**10 <= params["n"] <= 2**20 and params["r"] <= 32 and params["p"] <= 16)
        ):
            raise ValueError("unknown cipher or key derivation")
        salt, nonce, sealed = (base64.b64decode(doc[k]) for k in ("salt", "nonce", "ciphertext"))
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(T("the keys in the backup are unreadable: {exc}", exc=str(exc)[:200])) from None
    try:
        plain = AESGCM(_derive(phrase, salt, params)).decrypt(nonce, sealed, AAD)
    except InvalidTag:
        raise UsageError(
            T("wrong passphrase: the keys in the backup cannot be decrypted with it; nothing was restored"),
            hint=T(
                "use the passphrase given to `parley backup --passphrase-file` when this backup was taken"
            ),
        ) from None
    files = json.loads(plain)
    return {k: base64.b64decode(v) for k, v in files.items() if k in KEY_FILES}


# --- tools --------------------------------------------------------------------------------
def find_pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore`` on PATH, else the newest under /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if candidates:
        return candidates[-1]
    raise NotFoundError(
        T("{name} is not installed: PostgreSQL backups and restores need it", name=name),
        hint=T("install the PostgreSQL client tools (Debian: apt install postgresql-client)"),
    )


def _version_key(path: str) -> tuple[int, ...]:
    part = path.split("/")[4] if len(path.split("/")) > 4 else "0"
    return tuple(int(x) for x in part.split(".") if x.isdigit()) or (0,)


def _libpq_url(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0] + "://" + url.split("://", 1)[1]


def _run(args: list[str], what: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise ConflictError(
            T(
                "{what} failed ({code}): {err}",
                what=what,
                code=proc.returncode,
                err=proc.stderr.strip()[-500:],
            )
        )


# --- the home -----------------------------------------------------------------------------
def _open_home(home: Path) -> tuple[Config, str]:
    from parley.node import resolve_db_url

    config = Config.load(home)
    return config, resolve_db_url(home, config.database.url)


def _own_heads(conn: Any, name: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        text("SELECT channel, seq, hash FROM chain_heads WHERE sender_node = :n ORDER BY channel"),
        {"n": name},
    ).all()
    return {str(r[0]): {"seq": int(r[1]), "hash": str(r[2])} for r in rows}


# --- backup -------------------------------------------------------------------------------
def take_backup(
    home: Path,
    out: Path,
    *,
    with_keys: bool = False,
    passphrase_file: Path | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Write the archive to ``out`` (refusing an existing file); the manifest written."""
    from parley.file_modes import check_home, create_private_file, sqlite_file

    check_home(home)
    config, db_url = _open_home(home)
    if out.exists():
        raise ConflictError(
            T("{out} already exists; nothing was written", out=out), hint=T("choose a new file name")
        )
    phrase = read_passphrase(passphrase_file) if with_keys else None
    taken_at = format_time((clock or SystemClock()).now())
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".parley-backup-", dir=out.parent) as tmp_name:
        tmp = Path(tmp_name)
        db_file = sqlite_file(db_url)
        if db_file is not None:
            member, copy = SQLITE_MEMBER, tmp / "parley.db"
            heads = _sqlite_copy(db_file, copy, config.node.name)
            engine = "sqlite"
        else:
            member, copy = PG_MEMBER, tmp / "parley.dump"
            heads = _pg_dump(db_url, copy, config.node.name)
            engine = "postgresql"
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "node": config.node.name,
            "engine": engine,
            "taken_at": taken_at,
            "database": member,
            "keys": phrase is not None,
            "heads": heads,
        }
        partial = tmp / "backup.tar"
        create_private_file(partial)
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
            for rel in PLAIN_FILES:
                if (home / rel).exists():
                    _add_bytes(tar, rel, (home / rel).read_bytes())
            if phrase is not None:
                keys = {rel: (home / rel).read_bytes() for rel in KEY_FILES if (home / rel).exists()}
                _add_bytes(tar, KEYS_MEMBER, encrypt_keys(keys, phrase))
            tar.add(copy, arcname=member, recursive=False)
        os.replace(partial, out)
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _sqlite_copy(db_file: Path, copy: Path, name: str) -> dict[str, dict[str, Any]]:
    """The online backup API copies pages under SQLite's locks: a consistent snapshot even
    while ``serve`` writes (https://www.sqlite.org/backup.html)."""
    src = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst, pages=4096)
        rows = dst.execute(
            "SELECT channel, seq, hash FROM chain_heads WHERE sender_node = ? ORDER BY channel", (name,)
        ).fetchall()
    finally:
        dst.close()
        src.close()
    return {str(r[0]): {"seq": int(r[1]), "hash": str(r[2])} for r in rows}


def _pg_dump(db_url: str, copy: Path, name: str) -> dict[str, dict[str, Any]]:
    """``pg_dump`` of the snapshot the heads were read in (``--snapshot``, exported by a
    REPEATABLE READ transaction held open until the dump ends)."""
    from parley.storage.engines import create_db_engine

    tool = find_pg_tool("pg_dump")
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar())
                heads = _own_heads(conn, name)
                _run(
                    [tool, "--format=custom", f"--snapshot={snapshot}", f"--file={copy}", _libpq_url(db_url)],
                    "pg_dump",
                )
    finally:
        engine.dispose()
    return heads


# --- restore ------------------------------------------------------------------------------
@contextmanager
def _archive(path: Path) -> Iterator[tuple[tarfile.TarFile, dict[str, tarfile.TarInfo]]]:
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 (closed in the finally below)
    except (OSError, tarfile.TarError) as exc:
        raise UsageError(T("{path} is not a Parley backup: {exc}", path=path, exc=str(exc)[:200])) from None
    try:
        members: dict[str, tarfile.TarInfo] = {}
        for info in tar.getmembers()[:20]:
            if info.name not in MEMBERS or not info.isfile() or info.name in members:
                raise UsageError(
                    T(
                        "{path} holds {name!r}, which a Parley backup does not",
                        path=path,
                        name=info.name[:100],
                    )
                )
            members[info.name] = info
        yield tar, members
    finally:
        tar.close()


def _small(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    if info.size > SMALL_MAX:
        raise UsageError(T("{name} in the backup is larger than {n} bytes", name=info.name, n=SMALL_MAX))
    f = tar.extractfile(info)
    assert f is not None
    return f.read(SMALL_MAX + 1)


def read_manifest(path: Path) -> dict[str, Any]:
    with _archive(path) as (tar, members):
        return _manifest(path, tar, members)


def _manifest(path: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> dict[str, Any]:
    if MANIFEST not in members:
        raise UsageError(T("{path} has no manifest: it is not a Parley backup", path=path))
    try:
        manifest = json.loads(_small(tar, members[MANIFEST]))
    except ValueError:
        manifest = None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or manifest.get("version") != VERSION
        or manifest.get("engine") not in ("sqlite", "postgresql")
        or manifest.get("database") not in members
    ):
        raise UsageError(
            T("{path} is not a Parley backup of format version {v}", path=path, v=VERSION),
            hint=T("restore it with the Parley version that took it"),
        )
    return manifest


def restore_backup(
    archive: Path, home: Path, *, force: bool = False, passphrase_file: Path | None = None
) -> Restored:
    """Put ``archive`` back into ``home``; refuses, changing nothing, when it should not."""
    from parley.node import resolve_db_url, write_marker
    from parley.node_running import serving

    state = serving(home)
    if state.running:
        raise ConflictError(
            T("the node in {home} is running (pid {pid}); nothing was restored", home=home, pid=state.pid),
            hint=T("stop `parley serve` first, then restore"),
        )
    with _archive(archive) as (tar, members):
        manifest = _manifest(archive, tar, members)
        config_bytes = _small(tar, members[CONFIG_FILE]) if CONFIG_FILE in members else None
        have_config = (home / CONFIG_FILE).exists()
        if not have_config and config_bytes is None:
            raise UsageError(T("{home} has no parley.toml and the backup holds none", home=home))
        keys: dict[str, bytes] = {}
        if KEYS_MEMBER in members:
            keys = decrypt_keys(_small(tar, members[KEYS_MEMBER]), read_passphrase(passphrase_file))
        # Everything is checked against the configuration the home will have.
        if have_config:
            config, db_url = _open_home(home)
        else:
            staged = Path(tempfile.mkdtemp(prefix=".parley-restore-"))
            try:
                assert config_bytes is not None
                (staged / CONFIG_FILE).write_bytes(config_bytes)
                config = Config.load(staged)
            finally:
                shutil.rmtree(staged, ignore_errors=True)
            db_url = resolve_db_url(home, config.database.url)
        if config.node.name != manifest.get("node"):
            raise ConflictError(
                T(
                    "the backup is of node {backup_node}, this home is node {home_node}; "
                    "nothing was restored",
                    backup_node=str(manifest.get("node")),
                    home_node=config.node.name,
                )
            )
        if not keys and not (home / "identity.key").exists():
            raise UsageError(
                T("the backup holds no keys and {home} has no identity.key; nothing was restored", home=home),
                hint=T(
                    "put identity.key back from its own backup first, or restore a backup taken --with-keys"
                ),
            )
        for rel, data in keys.items():
            if (home / rel).exists() and (home / rel).read_bytes() != data and not force:
                raise ConflictError(
                    T("{path} differs from the key in the backup; nothing was restored", path=home / rel),
                    hint=T("pass --force to replace it"),
                )
        from parley.file_modes import sqlite_file

        engine = manifest["engine"]
        db_file = sqlite_file(db_url)
        if (engine == "sqlite") != (db_file is not None):
            raise ConflictError(
                T("the backup is of a {engine} database; this home's database is not", engine=engine)
            )
        if not force and _holds_record(db_url):
            raise ConflictError(
                T("the database of {home} already holds a record; nothing was restored", home=home),
                hint=T("pass --force to replace it with the backup"),
            )
        # Checked: now write, the recovery marker first, so a restore cut short still holds sends.
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_marker(
            home, {"state": "pending", "restored_from": manifest["taken_at"], "heads": manifest["heads"]}
        )
        from parley.file_modes import create_private_file

        if not have_config:
            for rel in PLAIN_FILES:
                if rel in members:
                    target = home / rel
                    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    if rel == CONFIG_FILE:
                        create_private_file(target)
                    target.write_bytes(_small(tar, members[rel]))
        for rel, data in keys.items():
            target = home / rel
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not target.exists():
                create_private_file(target)
            target.write_bytes(data)
            os.chmod(target, 0o600)
        source = tar.extractfile(members[manifest["database"]])
        assert source is not None
        if db_file is not None:
            _restore_sqlite(source, db_file)
        else:
            _restore_pg(source, db_url, home)
    return Restored(manifest, sorted(keys))


def _holds_record(db_url: str) -> bool:
    """Whether the database holds envelopes or log leaves (a fresh ``init`` holds none)."""
    from sqlalchemy import inspect

    from parley.file_modes import sqlite_file
    from parley.storage.engines import create_db_engine

    db_file = sqlite_file(db_url)
    if db_file is not None and not db_file.exists():
        return False
    engine: Engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            for table in ("envelopes", "log_leaves"):
                if table in names and conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first():
                    return True
    finally:
        engine.dispose()
    return False


def _restore_sqlite(source: Any, db_file: Path) -> None:
    from parley.file_modes import create_private_file

    partial = db_file.with_name(db_file.name + ".restoring")
    partial.unlink(missing_ok=True)
    create_private_file(partial)
    with open(partial, "wb") as f:
        shutil.copyfileobj(source, f)
        f.flush()
        os.fsync(f.fileno())
    for suffix in ("-wal", "-shm"):
        Path(str(db_file) + suffix).unlink(missing_ok=True)
    os.replace(partial, db_file)


def _restore_pg(source: Any, db_url: str, home: Path) -> None:
    tool = find_pg_tool("pg_restore")
    with tempfile.TemporaryDirectory(prefix=".parley-restore-", dir=home) as tmp:
        dump = Path(tmp) / "parley.dump"
        with open(dump, "wb") as f:
            shutil.copyfileobj(source, f)
        _run(
            [
                tool,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                f"--dbname={_libpq_url(db_url)}",
                str(dump),
            ],
            "pg_restore",
        )
