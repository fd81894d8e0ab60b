"""The ``schema`` sub-app and the ``template`` command, driven through Typer's CliRunner."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import typer
from typer.testing import CliRunner

from parley.cli.formats_cli import schema_app, template_command
from parley.errors import NotFoundError

runner = CliRunner()


def test_list_as_table_and_json() -> None:
    result = runner.invoke(schema_app, ["list"])
    assert result.exit_code == 0, result.output
    assert "incident-at-sea" in result.output
    result = runner.invoke(schema_app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    names = [r["type"] for r in rows]
    assert "meeting-proposal" in names
    assert "common" not in names
    assert rows[0]["versions"] == [1]
    assert rows[0]["latest"] == 1


def test_show_prints_the_schema() -> None:
    result = runner.invoke(schema_app, ["show", "incident-at-sea"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["$id"].endswith("incident-at-sea.v1.json")
    result = runner.invoke(schema_app, ["show", "incident-at-sea", "--version", "1"])
    assert json.loads(result.output) == schema


def test_show_unknown_type_or_version_raises_not_found() -> None:
    result = runner.invoke(schema_app, ["show", "nonsense"])
    assert isinstance(result.exception, NotFoundError)
    result = runner.invoke(schema_app, ["show", "general", "--version", "7"])
    assert isinstance(result.exception, NotFoundError)


def test_export_writes_every_schema(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    result = runner.invoke(schema_app, ["export", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert "common.v1.json" in names
    assert "sar-sitrep.v1.json" in names
    assert len(names) == 12
    assert json.loads((out / "general.v1.json").read_text())["title"] == "General message"


def test_template_command() -> None:
    app = typer.Typer()
    app.command("template")(template_command)
    app.command("noop")(lambda: None)  # two commands, so "template" stays a subcommand
    result = runner.invoke(app, ["template", "border-incident", "--lang", "ru"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Пограничный инцидент")
    assert "place" in tomllib.loads(result.output)
