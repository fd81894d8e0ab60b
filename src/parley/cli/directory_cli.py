"""Commands for peers, desks, operators and API tokens."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer

from parley.cli.common import node_from, print_json, read_json_file
from parley.errors import UsageError

peer_app = typer.Typer(help="Peers: other nodes, pinned by their identity cards.", no_args_is_help=True)
desk_app = typer.Typer(help="Desks: functions inside this node.", no_args_is_help=True)
operator_app = typer.Typer(help="Operators: people, with roles on desks.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for operators.", no_args_is_help=True)


@peer_app.command("add")
def peer_add(ctx: typer.Context, card: Path = typer.Argument(..., help="The peer's card (JSON).")) -> None:
    """Verify a peer's identity card and pin its key and TLS certificate."""
    from parley.directory.peers import do_add_peer

    peer, added = do_add_peer(node_from(ctx), read_json_file(card))
    if added:
        typer.echo(f"pinned peer {peer.name} ({peer.party}) key {peer.key_id} at {peer.url}")
    else:
        typer.echo(f"peer {peer.name} is already pinned with this card; nothing changed")


@peer_app.command("list")
def peer_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List pinned peers."""
    from parley.directory.peers import list_peers

    peers = list_peers(node_from(ctx))
    if as_json:
        print_json([p.to_json() for p in peers])
        return
    if not peers:
        typer.echo("no peers yet: add one with `parley peer add CARD.json`")
    for p in peers:
        typer.echo(f"{p.name:24} {p.party:20} key {p.key_id}  {p.url}")


@desk_app.command("add")
def desk_add(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    title: str = typer.Option("", "--title", help="A readable title, e.g. 'NJHQ duty officer'."),
) -> None:
    """Add a desk to this node."""
    from parley.directory.desks import do_add_desk

    desk = do_add_desk(node_from(ctx), name, title)
    typer.echo(f"added desk {desk.name}")


@desk_app.command("list")
def desk_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List this node's desks."""
    from parley.directory.desks import list_desks

    desks = list_desks(node_from(ctx))
    if as_json:
        print_json([{"name": d.name, "title": d.title} for d in desks])
        return
    for d in desks:
        typer.echo(f"{d.name:28} {d.title}")


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            return password_file.read_text().rstrip("\n")
        except FileNotFoundError:
            raise UsageError(f"{password_file}: no such file", hint="check the path") from None
    if not sys.stdin.isatty():
        raise UsageError("no password given", hint="use --password-file FILE when not at a terminal")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise UsageError("the two passwords differ", hint="run the command again")
    return first


@operator_app.command("add")
def operator_add(
    ctx: typer.Context,
    user: str = typer.Argument(...),
    desk: str = typer.Option(..., "--desk"),
    role: str = typer.Option(..., "--role", help="duty | supervisor | auditor | admin"),
    password_file: Path | None = typer.Option(None, "--password-file"),
) -> None:
    """Add an operator to a desk (or give an existing one a role on another desk)."""
    from parley.directory.operators import ROLES, do_add_operator, get_operator

    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}", hint=f"choose one of {', '.join(ROLES)}")
    node = node_from(ctx)
    try:
        get_operator(node, user)
        password = ""
    except Exception:
        password = _read_password(password_file)
    op = do_add_operator(node, user, desk, role, password)
    typer.echo(f"operator {op.username}: " + ", ".join(f"{r} on {d}" for d, r in op.roles.items()))


@operator_app.command("list")
def operator_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List operators and their roles."""
    from parley.directory.operators import list_operators

    ops = list_operators(node_from(ctx))
    if as_json:
        print_json([{"username": o.username, "lang": o.lang, "roles": o.roles} for o in ops])
        return
    for o in ops:
        typer.echo(f"{o.username:20} " + ", ".join(f"{r}@{d}" for d, r in o.roles.items()))


@token_app.command("issue")
def token_issue(
    ctx: typer.Context, user: str = typer.Argument(...), label: str = typer.Option("", "--label")
) -> None:
    """Issue an API token for an operator (shown once; only its hash is kept)."""
    from parley.directory.operators import do_issue_token

    typer.echo(do_issue_token(node_from(ctx), user, label))


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    user: str = typer.Argument(...),
    label: str | None = typer.Option(None, "--label", help="Only the tokens issued with this label."),
) -> None:
    """Revoke an operator's API tokens; a running node stops accepting them within 2 s."""
    from parley.directory.operators import do_revoke_tokens

    count = do_revoke_tokens(node_from(ctx), user, label)
    typer.echo(f"revoked {count} token{'s' if count != 1 else ''} of {user}")
