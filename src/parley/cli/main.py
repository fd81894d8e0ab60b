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
    backup_cli,
    bundle_cli,
    chain_cli,
    channel_cli,
    console_cli,
    directory_cli,
    key_cli,
    message_cli,
    metrics_cli,
    node_cli,
    record_cli,
    roster_cli,
    serve_cli,
    tls_cli,
    workflows_cli,
    zone_cli,
)
from parley.cli.common import State, check_lang
from parley.errors import ParleyError, ValidationError
from parley.formats.texts import N, T, cli_lang, render, set_cli_lang, speaking
from parley.running import wiring as _wiring  # noqa: F401  (wires workflows and the watch into messaging)

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
    lang: str | None = typer.Option(
        None,
        "--lang",
        envvar="PARLEY_LANG",
        help="The language the command line speaks: nb, ru or en (or PARLEY_LANG; else the locale).",
    ),
) -> None:
    if lang:
        set_cli_lang(check_lang(lang, "--lang" if "--lang" in sys.argv else "PARLEY_LANG"))
    ctx.obj = State(home)


app.command("init")(node_cli.init)
app.command("identity")(node_cli.identity)
app.add_typer(node_cli.db_app, name="db")
node_cli.db_app.command("reindex")(message_cli.reindex)
app.add_typer(directory_cli.peer_app, name="peer")
app.add_typer(key_cli.key_app, name="key")
app.add_typer(tls_cli.tls_app, name="tls")
app.add_typer(directory_cli.desk_app, name="desk")
app.add_typer(directory_cli.operator_app, name="operator")
directory_cli.operator_app.command("totp")(console_cli.operator_totp)
directory_cli.operator_app.command("lang")(console_cli.operator_lang)
app.add_typer(directory_cli.token_app, name="token")
app.add_typer(metrics_cli.metrics_app, name="metrics")
app.add_typer(channel_cli.channel_app, name="channel")
app.command("send")(message_cli.send)
app.command("inbox")(message_cli.inbox)
app.command("verify")(message_cli.verify)
app.command("serve")(serve_cli.serve)
app.command("status")(serve_cli.status)
app.command("backup")(backup_cli.backup)
app.command("restore")(backup_cli.restore)
app.command("ack")(serve_cli.ack)
app.command("show")(serve_cli.show)
app.command("proof")(record_cli.proof)
app.add_typer(record_cli.transcript_app, name="transcript")
app.add_typer(workflows_cli.incident_app, name="incident")
app.add_typer(workflows_cli.meeting_app, name="meeting")
app.add_typer(workflows_cli.relationship_app, name="relationship")
app.add_typer(workflows_cli.drill_app, name="drill")
app.command("report")(workflows_cli.report_command)
app.command("export")(bundle_cli.export)
app.command("import")(bundle_cli.import_bundle)
app.add_typer(chain_cli.chain_app, name="chain")
app.add_typer(chain_cli.pager_app, name="pager")
app.add_typer(roster_cli.roster_app, name="roster")
app.add_typer(roster_cli.handover_app, name="handover")
directory_cli.operator_app.command("contact")(roster_cli.operator_contact)
directory_cli.operator_app.command("zone")(zone_cli.operator_zone)  # docs/console.md, times


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
    # Each invocation chooses its language afresh (tests run many in one process).
    with speaking(None):
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    command = typer.main.get_command(app)
    try:
        # Without standalone mode click returns the code of a ``typer.Exit`` (e.g. 3 from
        # ``send --wait``: stored but not receipted in time) instead of raising it.
        code = command.main(args=argv, prog_name="parley", standalone_mode=False)
    except ParleyError as exc:
        lang = cli_lang()
        sys.stderr.write(render(T("error: {line}", line=exc.one_line(lang)), lang) + "\n")
        if isinstance(exc, ValidationError) and exc.problems:
            # The headline only counts the problems: name each on a line of its own, so a
            # body with ten mistakes reads as a list to work through; a screenful at most.
            shown = exc.problems[:50]
            sys.stderr.writelines(f"  {path or '/'}: {render(msg, lang)}\n" for path, msg in shown)
            if len(exc.problems) > len(shown):
                more = len(exc.problems) - len(shown)
                line = N("… and {n} more problem", "… and {n} more problems", more).render(lang)
                sys.stderr.write(f"  {line}\n")
        return 1
    except typer.Abort:
        sys.stderr.write(T("aborted").render(cli_lang()) + "\n")
        return 1
    except click_exceptions.ClickException as exc:
        exc.show()
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code)
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


if __name__ == "__main__":
    raise SystemExit(main())
