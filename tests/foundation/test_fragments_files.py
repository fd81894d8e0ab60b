"""Refusals about files speak one language: no English fragment inside an nb or ru sentence
(issue 16): the permission a home's file gives away, what a path is instead of a file, and the
kind of file expected are translated with the sentence."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from parley.errors import UsageError
from parley.file_modes import check_home
from parley.files import LIMITS, read_bounded, read_text_bounded
from tests.language.one_language import assert_one_language


def private_home(tmp_path: Path, mode: int) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    os.chmod(home, 0o700)
    (home / "parley.toml").write_text("")
    os.chmod(home / "parley.toml", mode)
    return home


@pytest.mark.parametrize(
    ("mode", "english"),
    [(0o644, "readable by others"), (0o620, "writable by others"), (0o610, "usable by others")],
)
def test_a_home_file_open_to_others_is_refused_in_the_readers_language(
    tmp_path: Path, mode: int, english: str
) -> None:
    home = private_home(tmp_path, mode)
    with pytest.raises(UsageError, match=english) as caught:
        check_home(home)
    assert f"(mode {mode:04o})" in caught.value.message
    assert_one_language(caught.value, codes=("chmod",))
    assert "kan leses av andre" in caught.value.one_line("nb") if mode == 0o644 else True
    assert "для записи" in caught.value.one_line("ru") if mode == 0o620 else True


def test_a_directory_is_not_a_card(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory, not a regular file") as caught:
        read_bounded(tmp_path, "card")
    assert_one_language(caught.value)
    assert "en katalog" in caught.value.one_line("nb")
    assert "identitetskort" in caught.value.one_line("nb")
    assert "карточка узла" in caught.value.one_line("ru")


def test_a_fifo_and_a_socket_are_named_in_the_readers_language(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="a FIFO") as caught:
        read_bounded(fifo, "charter")
    assert_one_language(caught.value)
    assert "именованный канал" in caught.value.one_line("ru")
    assert "kanalavtale" in caught.value.one_line("nb")

    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(UsageError) as caught:
            read_bounded(path, "bundle")
    # A socket cannot be opened for reading; whichever refusal comes, it is in one language.
    assert_one_language(caught.value)


def test_too_large_and_not_utf8_name_the_kind_in_the_readers_language(tmp_path: Path) -> None:
    big = tmp_path / "card.json"
    big.write_bytes(b"x" * (LIMITS["card"] + 1))
    with pytest.raises(UsageError, match="is larger than a card may be") as caught:
        read_bounded(big, "card")
    assert_one_language(caught.value)
    assert "64 КиБ" in caught.value.one_line("ru")

    latin = tmp_path / "body.txt"
    latin.write_bytes("Grensemerke på øya".encode("latin-1"))
    with pytest.raises(UsageError, match="is not UTF-8 text") as caught:
        read_text_bounded(latin, "message body")
    assert caught.value.hint == "save the message body as UTF-8"
    assert_one_language(caught.value)
    assert "текст сообщения" in caught.value.one_line("ru")
    assert "meldingstekst" in caught.value.one_line("nb")
