"""Who may read a node's secrets: modes 0700 for the home, 0600 for every secret in it.

A node's home holds its identity key, its TLS key, its configuration (which may carry a
translator API key or a PostgreSQL password), its SQLite database (every message, operator
password hashes, API token hashes) and ``console.key`` (which seals TOTP secrets). Another
user on the host who can read any of these can impersonate the node or read its traffic
(issue 14 item 8; docs/security.md, a local user on the host).

``init`` creates the home 0700 and every secret 0600 from the start (the database file is
created empty with mode 0600 before SQLite opens it, and SQLite gives its ``-wal`` and
``-shm`` files the mode of the database). :func:`check_home` runs on every
:meth:`parley.node.Node.open`, not only for ``serve``: every CLI command reads the same key
and database, a leak does not wait for the server to start, and the check is a few
``stat`` calls. It refuses, changing nothing, naming the file, its mode and the ``chmod``
to run. Directories are refused only when others may write to them (rename or replace a
file); a readable 0755 home leaks names, not contents, when the files are 0600.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from parley.errors import UsageError
from parley.formats.texts import T

# Relative to the home; the database is added from the configuration (it may live elsewhere).
SECRET_FILES = ("parley.toml", "identity.key", "tls/key.pem", "console.key")
PRIVATE_DIRS = (".", "tls")
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600, so whatever writes it next keeps that mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.close(fd)


def sqlite_file(db_url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (already made absolute), or None."""
    from sqlalchemy.engine import make_url

    from parley.storage.engines import normalise_url

    url = make_url(normalise_url(db_url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database.startswith(":"):
        return None
    if url.database.startswith("file:"):
        return None  # a URI filename: the operator chose SQLite's own open options
    return Path(url.database)


def check_home(home: Path, db_url: str | None = None) -> None:
    """Refuse a home whose secrets others may read or write; see the module docstring."""
    for rel in PRIVATE_DIRS:
        d = home / rel
        mode = _mode(d)
        if mode is not None and mode & 0o022:
            raise UsageError(
                T(
                    "{d} can be written by other users (mode {mode:04o}); refusing to use this home",
                    d=d,
                    mode=mode,
                ),
                hint=T("run: chmod 700 {d}", d=d),
            )
    files = [home / rel for rel in SECRET_FILES]
    db = sqlite_file(db_url) if db_url else None
    if db is not None:
        files += [db.with_name(db.name + suffix) for suffix in SQLITE_COMPANIONS]
    for path in files:
        mode = _mode(path)
        if mode is not None and mode & 0o077:
            if mode & 0o044:
                refusal = T(
                    "{path} is readable by others (mode {mode:04o}); refusing to use this home",
                    path=path,
                    mode=mode,
                )
            elif mode & 0o022:
                refusal = T(
                    "{path} is writable by others (mode {mode:04o}); refusing to use this home",
                    path=path,
                    mode=mode,
                )
            else:
                refusal = T(
                    "{path} is usable by others (mode {mode:04o}); refusing to use this home",
                    path=path,
                    mode=mode,
                )
            raise UsageError(refusal, hint=T("run: chmod 600 {path}", path=path))


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
