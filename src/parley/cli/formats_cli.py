"""CLI commands for message formats: ``parley schema list|show|export`` and ``parley template``.

The schemas are JSON Schema 2020-12 files shipped with the package; ``export`` writes them
out for other systems (or a counterpart without Parley) to validate against. Errors are
raised as :class:`parley.errors.ParleyError` for the CLI root to print.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from parley.cli.common import say
from parley.errors import UsageError
from parley.formats.registry import all_schemas, get_schema, list_types
from parley.formats.texts import T
from parley.formats.toml_template import template

schema_app = typer.Typer(help="Message type schemas (JSON Schema 2020-12).", no_args_is_help=True)


@schema_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the message types and their schema versions."""
    types = list_types()
    if as_json:
        rows = [
            {"type": t.name, "versions": list(t.versions), "latest": t.latest, "title": t.title}
            for t in types
        ]
        say(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("type", "versions", "title")
    for t in types:
        table.add_row(t.name, ", ".join(str(v) for v in t.versions), t.title)
    Console().print(table)


@schema_app.command("show")
def show_command(
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="Message type, e.g. general.")],
    version: Annotated[
        int | None, typer.Option("--version", help="Schema version (default: the latest).")
    ] = None,
) -> None:
    """Print the JSON Schema of a message type."""
    say(json.dumps(get_schema(type_name, version), indent=2, ensure_ascii=False))


@schema_app.command("export")
def export_command(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Directory to write into.")],
) -> None:
    """Write every schema file (all types, all versions, common definitions) into DIR."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(T("{directory} exists and is not a directory", directory=directory))
    directory.mkdir(parents=True, exist_ok=True)
    schemas = all_schemas()
    for name, schema in schemas.items():
        text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        (directory / name).write_text(text, encoding="utf-8")
    say(T("wrote {n_schemas} schema files to {directory}", n_schemas=len(schemas), directory=directory))


def template_command(
    type: Annotated[str, typer.Argument(metavar="TYPE", help="Message type, e.g. incident-at-sea.")],
    lang: Annotated[str, typer.Option("--lang", help="Language of the comments: nb, ru, en.")] = "en",
) -> None:
    """Print a commented TOML body of TYPE to fill in (numbers and true/false as ``nan`` to replace)."""
    from parley.cli.common import check_lang

    say(template(type, check_lang(lang)), nl=False)
