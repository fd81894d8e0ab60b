"""Reading a file an operator names, with bounds: the one way the CLI takes files in.

Every file the command line reads (charters, identity cards, bundles, message bodies,
proofs, transcripts, password files) comes through :func:`read_bounded`: it resolves
symlinks and checks the target, accepts regular files only (a device such as ``/dev/zero``
or a FIFO would be read forever or block), refuses a file larger than the limit of its kind
before reading it, and never reads more than that limit even if the file grows meanwhile
(issue 14 item 10; docs/security.md, a local user on the host).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

from parley.errors import UsageError
from parley.formats.texts import T, Text

KIB = 1024
MIB = 1024 * KIB

# The largest file of each kind the CLI reads. A card is a few kilobytes (its certificate
# dominates); a charter and a message body are human-written; bundles, proofs and
# transcripts are written by Parley and grow with the traffic they carry.
LIMITS: dict[str, int] = {
    "card": 64 * KIB,
    "charter": 256 * KIB,
    "charter document": 256 * KIB,
    "message body": 1 * MIB,
    "password file": 4 * KIB,
    "bundle": 256 * MIB,
    "proof": 64 * MIB,
    "transcript": 256 * MIB,
    "JSON file": 256 * MIB,
    "key request": 64 * KIB,
}

# The kinds as the reader names them (sentences say "give the path of the {kind} itself").
KIND_NAMES: dict[str, Text] = {
    "card": T("card"),
    "charter": T("charter"),
    "charter document": T("charter document"),
    "message body": T("message body"),
    "password file": T("password file"),
    "bundle": T("bundle"),
    "proof": T("proof"),
    "transcript": T("transcript"),
    "JSON file": T("JSON file"),
    "key request": T("key request"),
    "roster file": T("roster file"),
}


def kind_name(kind: str) -> Text | str:
    """``kind`` in the reader's language (a kind without a name is shown as given)."""
    return KIND_NAMES.get(kind, kind)


def read_bounded(path: Path, kind: str) -> bytes:
    """The bytes of ``path``, a regular file of at most ``LIMITS[kind]`` bytes."""
    limit = LIMITS[kind]
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        raise UsageError(T("{path}: no such file", path=path), hint=T("check the path")) from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a path component not a directory
        raise UsageError(
            T("{path} cannot be opened: {exc}", path=path, exc=os_reason(exc)), hint=T("check the path")
        ) from None
    shown = str(path) if target == Path(path).absolute() else f"{path} (→ {target})"
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY: a terminal device
        # named by mistake must not become this process's controlling terminal.
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except PermissionError:
        raise UsageError(
            T("{shown}: permission denied", shown=shown), hint=T("check the file's owner and mode")
        ) from None
    except OSError as exc:
        raise UsageError(
            T("{shown} cannot be opened: {exc_strerror}", shown=shown, exc_strerror=os_reason(exc)),
            hint=T("check the path"),
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(
                T(
                    "{shown} is {what}, not a regular file; nothing was read",
                    shown=shown,
                    what=_what(st.st_mode),
                ),
                hint=T("give the path of the {kind} itself", kind=kind_name(kind)),
            )
        if st.st_size > limit:
            raise _too_large(shown, kind, limit)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(MIB, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise _too_large(shown, kind, limit)
        return b"".join(chunks)
    except IsADirectoryError:
        raise UsageError(
            T("{shown} is a directory", shown=shown),
            hint=T("give the path of the {kind} itself", kind=kind_name(kind)),
        ) from None
    finally:
        os.close(fd)


def read_text_bounded(path: Path, kind: str) -> str:
    data = read_bounded(path, kind)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            T("{path} is not UTF-8 text (byte {exc_start})", path=path, exc_start=exc.start),
            hint=T("save the {kind} as UTF-8", kind=kind_name(kind)),
        ) from None


def _too_large(shown: str, kind: str, limit: int) -> UsageError:
    return UsageError(
        T(
            "{shown} is larger than a {kind} may be ({limit} bytes); nothing was read",
            shown=shown,
            kind=kind_name(kind),
            limit=limit,
        ),
        hint=T(
            "check that this is the right file; a {kind} is at most {limit_per_kib} KiB",
            kind=kind_name(kind),
            limit_per_kib=limit // KIB,
        ),
    )


def _what(mode: int) -> Text:
    if stat.S_ISDIR(mode):
        return T("a directory")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return T("a device")
    if stat.S_ISFIFO(mode):
        return T("a FIFO (named pipe)")
    if stat.S_ISSOCK(mode):
        return T("a socket")
    return T("not a regular file")


def os_reason(exc: BaseException) -> Text | str:
    """Why the system refused, in the reader's language (the system's own words otherwise)."""
    code = getattr(exc, "errno", None)
    if code == errno.ENXIO:
        return T("no such device or address")
    if code == errno.ENOENT:
        return T("no such file or directory")
    if code == errno.ELOOP:
        return T("too many levels of symbolic links")
    if code == errno.ENOTDIR:
        return T("a part of the path is not a directory")
    if code == errno.EISDIR:
        return T("it is a directory")
    if code in (errno.EACCES, errno.EPERM):
        return T("permission denied")
    if code == errno.ENAMETOOLONG:
        return T("the name is too long")
    if code == errno.EIO:
        return T("input/output error")
    if isinstance(exc, RuntimeError):  # pathlib's symlink loop
        return T("too many levels of symbolic links")
    return getattr(exc, "strerror", None) or str(exc)


def read_json_file(path: Path, kind: str = "JSON file") -> Any:
    """A JSON file through the bounded reader (parley.files): size, file type and depth checked."""
    from parley.protocol.canonical import loads_strict

    data = read_bounded(path, kind)
    try:
        return loads_strict(data)
    except ValueError as exc:
        raise UsageError(
            T("{path} is not valid JSON: {exc}", path=path, exc=exc),
            hint=T("pass the file exactly as it was handed to you"),
        ) from exc
