"""What every CLI command shares: the node's home, JSON output, and how errors print."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

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


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json_file(path: Path) -> Any:
    from parley.errors import UsageError
    from parley.protocol.canonical import loads_strict

    try:
        return loads_strict(path.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", hint="check the path") from None
    except ValueError as exc:
        raise UsageError(
            f"{path} is not valid JSON: {exc}", hint="pass the file exactly as it was handed to you"
        ) from exc
