"""``parley``: the command line of a node.

Every command takes the node's home from ``--home DIR`` or ``PARLEY_HOME``. Errors print as
one line, ``error: what is wrong — what to do``, and exit non-zero (1 for a refused request,
2 for a usage mistake); nothing is changed by a command that fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

try:  # typer >= 0.20 vendors click; older typer uses the click package
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from parley.cli import (
    bench_cli,
    bundle_cli,
    channel_cli,
    console_cli,
    demo_cli,
    directory_cli,
    message_cli,
    node_cli,
    record_cli,
    serve_cli,
    workflows_cli,
)
from parley.cli.common import State
from parley.errors import ParleyError, ValidationError

app = typer.Typer(
    name="parley",
    help="Parley: a self-hosted hotline between counterpart authorities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", envvar="PARLEY_HOME", help="The node's home directory (or PARLEY_HOME)."
    ),
) -> None:
    ctx.obj = State(home)


app.command("init")(node_cli.init)
app.command("identity")(node_cli.identity)
app.add_typer(node_cli.db_app, name="db")
app.add_typer(directory_cli.peer_app, name="peer")
app.add_typer(directory_cli.desk_app, name="desk")
app.add_typer(directory_cli.operator_app, name="operator")
directory_cli.operator_app.command("totp")(console_cli.operator_totp)
directory_cli.operator_app.command("lang")(console_cli.operator_lang)
app.add_typer(directory_cli.token_app, name="token")
app.add_typer(channel_cli.channel_app, name="channel")
app.command("send")(message_cli.send)
app.command("inbox")(message_cli.inbox)
app.command("verify")(message_cli.verify)
app.command("serve")(serve_cli.serve)
app.command("status")(serve_cli.status)
app.command("ack")(serve_cli.ack)
app.command("show")(serve_cli.show)
app.command("proof")(record_cli.proof)
app.add_typer(record_cli.transcript_app, name="transcript")
app.command("bench")(bench_cli.bench)
app.command("demo")(demo_cli.demo)
app.add_typer(workflows_cli.incident_app, name="incident")
app.add_typer(workflows_cli.meeting_app, name="meeting")
app.add_typer(workflows_cli.relationship_app, name="relationship")
app.add_typer(workflows_cli.drill_app, name="drill")
app.command("report")(workflows_cli.report_command)
app.command("export")(bundle_cli.export)
app.command("import")(bundle_cli.import_bundle)


def _register_optional() -> None:
    """Sub-apps that live in other packages."""
    try:
        from parley.cli import formats_cli
    except ImportError:
        return
    app.add_typer(formats_cli.schema_app, name="schema")
    app.command("template")(formats_cli.template_command)


_register_optional()


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="parley", standalone_mode=False)
    except ParleyError as exc:
        line = exc.one_line()
        if isinstance(exc, ValidationError) and exc.problems:
            # The headline only counts the problems; name them, still on one line.
            found = "; ".join(f"{path or '/'}: {msg}" for path, msg in exc.problems)
            line = f"{exc.message} ({found})" + (f" — {exc.hint}" if exc.hint else "")
        sys.stderr.write(f"error: {line}\n")
        return 1
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 1
    except click_exceptions.ClickException as exc:
        exc.show()
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
