"""What every CLI command shares: the node's home, JSON output, and how errors print."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from parley.formats.texts import T, Text, cli_lang, render
from parley.node import Node


@dataclass
class State:
    home: Path | None


def node_from(ctx: typer.Context) -> Node:
    state: State = ctx.obj
    node = Node.open(state.home)
    # Close the database pool when the command ends (in-process callers, e.g. tests).
    ctx.call_on_close(node.close)
    return node


def home_from(ctx: typer.Context) -> Path | None:
    state: State = ctx.obj
    return state.home


def say(text: Text | str, **echo_kwargs: Any) -> None:
    """Print a line in the command line's language (``cli_lang()``): a Text is rendered, a
    plain string (a name, an id, data) is printed as it is. Takes typer.secho's options
    (``fg``, ``bold``, ``err``, ``nl``)."""
    typer.secho(render(text, cli_lang()), **echo_kwargs)


def label(prefix: str, value: object, lang: str | None = None) -> str:
    """A label from the key-based catalogue in the reader's language — ``label("precedence",
    "FLASH")`` — so a type, precedence, status or link state never reads as a raw key. Types
    are looked up with dashes and underscores alike; the value itself if there is no entry."""
    from parley.formats.catalogue import load_catalogue

    cat = load_catalogue(lang or cli_lang())
    text = str(value)
    for key in (
        f"{prefix}.{text}",
        f"{prefix}.{text.replace('_', '-')}",
        f"{prefix}.{text.replace('-', '_')}",
    ):
        if cat.has(key):
            return cat.get(key)
    return text


def at(dt: object, lang: str | None = None) -> str:
    """A time for the reader: ``18:39 UTC`` today, with the date otherwise, in the reader's
    locale (parley.formats.times); "-" for none."""
    from datetime import datetime

    from parley.formats.times import when_for_reader

    if dt is None or dt == "":
        return "-"
    if not isinstance(dt, datetime | str):
        return str(dt)
    try:
        return when_for_reader(dt, lang or cli_lang())
    except ValueError:
        return str(dt)


def duration(seconds: float, lang: str | None = None) -> str:
    """A duration in the reader's language through Babel: "24 t", "24 ч", "24 hours"."""
    from datetime import timedelta

    from babel.dates import format_timedelta

    from parley.formats.texts import _LOCALES

    code = lang or cli_lang()
    return format_timedelta(
        timedelta(seconds=seconds), threshold=1.5, format="short", locale=_LOCALES.get(code, "en_GB")
    )


def say_err(text: Text | str, **echo_kwargs: Any) -> None:
    """:func:`say` on standard error."""
    say(text, err=True, **echo_kwargs)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


LANGUAGES = ("nb", "ru", "en")


def check_lang(lang: str, option: str = "--lang") -> str:
    """``lang`` if Parley has catalogues for it (nb, ru, en); a usage error otherwise.

    Refused rather than replaced by English: a message sent with the wrong language tag
    would be rendered to the other side as if written in that language."""
    from parley.errors import UsageError

    if lang not in LANGUAGES:
        raise UsageError(
            T("{option} {lang!r} is not a language Parley speaks", option=option, lang=lang),
            hint=T("choose nb, ru or en"),
        )
    return lang
