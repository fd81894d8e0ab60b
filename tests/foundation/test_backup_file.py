"""The backup archive (parley.continuity.backup): encrypted keys, a wrong passphrase, a running node."""

from __future__ import annotations

import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parley.continuity.backup import KEYS_MEMBER, read_manifest, restore_backup, take_backup
from parley.errors import ConflictError, UsageError
from parley.node import Node
from parley.node_running import remove_pid_file, write_pid_file
from tests.harness.nodes import init_node

PHRASE = "a passphrase long enough to count"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return init_node(tmp_path / "nodes", "node-a", "Norway").home


def phrase_file(tmp_path: Path, text: str = PHRASE) -> Path:
    path = tmp_path / "phrase.txt"
    path.write_text(text + "\n")
    return path


def test_keys_round_trip_encrypted(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.backup"
    manifest = take_backup(home, out, with_keys=True, passphrase_file=phrase_file(tmp_path))
    assert manifest["node"] == "node-a"
    assert manifest["keys"] is True
    assert manifest["engine"] == "sqlite"
    assert read_manifest(out) == manifest
    with tarfile.open(out) as tar:
        sealed = tar.extractfile(KEYS_MEMBER).read()  # type: ignore[union-attr]
    # The key bytes are not in the archive in the clear.
    assert (home / "identity.key").read_bytes() not in sealed
    assert json.loads(sealed)["cipher"] == "AES-256-GCM"

    target = tmp_path / "restored"
    done = restore_backup(out, target, passphrase_file=phrase_file(tmp_path))
    assert "identity.key" in done.keys
    assert "tls/key.pem" in done.keys
    for rel in ("identity.key", "tls/key.pem", "tls/cert.pem", "parley.toml"):
        assert (target / rel).read_bytes() == (home / rel).read_bytes(), rel
    assert (target / "identity.key").stat().st_mode & 0o777 == 0o600
    node = Node.open(target)
    try:
        assert node.name == "node-a"
        assert node.hold_sending is not None
    finally:
        node.close()


def test_wrong_passphrase_refused_and_nothing_written(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.backup"
    take_backup(home, out, with_keys=True, passphrase_file=phrase_file(tmp_path))
    target = tmp_path / "restored"
    wrong = phrase_file(tmp_path, "not the passphrase at all")
    with pytest.raises(UsageError, match="wrong passphrase"):
        restore_backup(out, target, passphrase_file=wrong)
    assert not target.exists()
    with pytest.raises(UsageError, match="passphrase"):
        restore_backup(out, target)  # none given
    assert not target.exists()


def test_keys_excluded_unless_asked(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.backup"
    assert take_backup(home, out)["keys"] is False
    with tarfile.open(out) as tar:
        assert KEYS_MEMBER not in tar.getnames()
    with pytest.raises(UsageError, match=r"no identity\.key"):
        restore_backup(out, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


def test_restore_refuses_running_node(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.backup"
    take_backup(home, out)
    before = (home / "parley.db").read_bytes()
    # This test process stands for `parley serve`: the pid file names a live process.
    write_pid_file(home, datetime.now(UTC), "https://127.0.0.1:1")
    try:
        with pytest.raises(ConflictError, match="running"):
            restore_backup(out, home, force=True)
    finally:
        remove_pid_file(home)
    assert (home / "parley.db").read_bytes() == before
    assert not (home / "recovery.json").exists()


def test_backup_refuses_existing_file(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.backup"
    out.write_text("keep me")
    with pytest.raises(ConflictError, match="already exists"):
        take_backup(home, out)
    assert out.read_text() == "keep me"
