"""The command line speaks the reader's language (issue 16): ``parley --lang`` or
``PARLEY_LANG`` chooses it for ``status``, ``show``, ``inbox``, ``verify`` and ``proof``.

Two nodes on real homes talk in process (the record-integration set-up: a channel, messages
both ways, an acknowledgment, cosigned logs); the CLI then runs on node-b's home, in each
language, and no word of the English rendering may show in the Russian or Norwegian one.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

from parley.cli.main import main
from tests.record_integration.conftest import Nodes, nodes
from tests.record_integration.test_offline import talked

__all__ = ["nodes", "talked"]  # fixtures, used by name


@pytest.fixture
def engine_kind() -> str:
    return "sqlite"  # the language of the lines does not depend on the engine


def run(home: Path, *args: str, env_lang: str | None = None, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("PARLEY_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    if env_lang is not None:
        monkeypatch.setenv("PARLEY_LANG", env_lang)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--home", str(home), *args])
    assert code == 0, err.getvalue()
    return out.getvalue() + err.getvalue()


# Names and ids that are the same in every language (nodes, desks, operators, the channel,
# the parties), the sender's own words ("from a 1") and the code word EXERCISE, which the
# drill banner keeps beside its translation.
NAMES = {
    "from",
    "exercise",
    "parley",
    "serve",
    "russia",
    "norway",
    "node",
    "duty",
    "north",
    "line",
    "op",
    "utc",
    "flash",
    "routine",
    "ms",
    "id",
    "seq",
    "hash",
}


def english_words(text: str) -> set[str]:
    words = {w.lower() for w in re.findall(r"(?<![\w-])[A-Za-z]{3,}(?![\w-])", text)}
    return {w for w in words if w not in NAMES}


# Words Norwegian spells as English does.
SHARED = {
    "nb": {"for", "jan", "start", "over", "dec", "nov", "status", "test", "under", "original"},
    "ru": set(),
}


def leaked(english: str, other: str, lang: str) -> set[str]:
    """Words of the English rendering that show in the other rendering."""
    return (english_words(english) & english_words(other)) - SHARED[lang]


@pytest.mark.parametrize("lang", ["ru", "nb"])
def test_status_show_inbox_verify_speak_the_chosen_language(
    nodes: Nodes, talked: dict[str, Any], lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = nodes.b.home
    message = talked["from_a"][1].id
    commands = [["status"], ["show", message], ["inbox", "--direction", "both"], ["verify"]]
    for args in commands:
        english = run(home, *args, env_lang="en", monkeypatch=monkeypatch)
        by_env = run(home, *args, env_lang=lang, monkeypatch=monkeypatch)
        by_option = run(home, "--lang", lang, *args, env_lang="en", monkeypatch=monkeypatch)
        assert by_env == by_option, args
        assert not leaked(english, by_env, lang), (args, leaked(english, by_env, lang), by_env)
    show = run(home, "show", message, env_lang=lang, monkeypatch=monkeypatch)
    expected = {"ru": "подтверждено: op-b", "nb": "bekreftet av op-b"}[lang]
    assert expected in show
    verify = run(home, "verify", env_lang=lang, monkeypatch=monkeypatch)
    assert {"ru": "журнал цел", "nb": "journalen er intakt"}[lang] in verify


def test_english_is_the_default_and_show_lang_chooses_the_message_language(
    nodes: Nodes, talked: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = nodes.b.home
    message = talked["from_a"][1].id
    english = run(home, "show", message, monkeypatch=monkeypatch)
    assert "acknowledged by op-b" in english
    assert "record intact" in run(home, "verify", monkeypatch=monkeypatch)
    russian = run(home, "show", message, "--lang", "ru", monkeypatch=monkeypatch)
    assert "подтверждено: op-b" in russian
