"""Commands for peers, desks, operators and API tokens."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer

from parley.cli.common import node_from, print_json, say
from parley.directory.parties import party_name
from parley.directory.policy import role_name
from parley.errors import UsageError
from parley.files import read_json_file
from parley.formats.texts import N, T, Text, cli_lang

peer_app = typer.Typer(help="Peers: other nodes, pinned by their identity cards.", no_args_is_help=True)
desk_app = typer.Typer(help="Desks: functions inside this node.", no_args_is_help=True)
operator_app = typer.Typer(help="Operators: people, with roles on desks.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for operators.", no_args_is_help=True)


@peer_app.command("add")
def peer_add(ctx: typer.Context, card: Path = typer.Argument(..., help="The peer's card (JSON).")) -> None:
    """Verify a peer's identity card and pin its key and TLS certificate."""
    from parley.directory.peers import do_add_peer

    peer, added = do_add_peer(node_from(ctx), read_json_file(card, "card"))
    if added:
        say(
            T(
                "pinned peer {peer_name} ({peer_party}) key {peer_key_id} at {peer_url}",
                peer_name=peer.name,
                peer_party=party_name(peer.party, cli_lang()),
                peer_key_id=peer.key_id,
                peer_url=peer.url,
            )
        )
    else:
        say(T("peer {peer_name} is already pinned with this card; nothing changed", peer_name=peer.name))


@peer_app.command("list")
def peer_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List pinned peers."""
    from parley.directory.peers import list_peers

    peers = list_peers(node_from(ctx))
    if as_json:
        print_json([p.to_json() for p in peers])
        return
    if not peers:
        say(T("no peers yet: add one with `parley peer add CARD.json`"))
    for p in peers:
        say(
            T(
                "{p_name:24} {p_party:20} key {p_key_id}  {p_url}",
                p_name=p.name,
                p_party=party_name(p.party, cli_lang()),
                p_key_id=p.key_id,
                p_url=p.url,
            )
        )


@peer_app.command("remove")
def peer_remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The peer's node name (see `parley peer list`)."),
    yes: bool = typer.Option(
        False, "--yes", help="Remove it even though closed channels with it are in the record."
    ),
) -> None:
    """Unpin a peer (its key, certificate, address, queued control documents); audited.

    Refused while the node runs or any channel with the peer is not closed. The record is
    kept; see docs/operations.md#removing-a-peer."""
    from parley.directory.peers import do_remove_peer

    r = do_remove_peer(node_from(ctx), name, history_ok=yes)
    say(T("removed peer {r_peer}: its key and certificate are no longer pinned", r_peer=r.peer))
    if r.control_dropped:
        say(
            T(
                "dropped {r_control_dropped} control documents that were queued for {r_peer}",
                r_control_dropped=r.control_dropped,
                r_peer=r.peer,
            )
        )
    if r.closed_channels:
        say(
            T(
                "the record keeps the closed channels {r_closed_channels} ({r_envelopes} envelopes); "
                "`parley verify` reports them until the peer's card is added again",
                r_closed_channels=", ".join(r.closed_channels),
                r_envelopes=r.envelopes,
            )
        )


@desk_app.command("add")
def desk_add(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    title: str = typer.Option("", "--title", help="A readable title, e.g. 'NJHQ duty officer'."),
) -> None:
    """Add a desk to this node."""
    from parley.directory.desks import do_add_desk

    desk = do_add_desk(node_from(ctx), name, title)
    say(T("added desk {desk_name}", desk_name=desk.name))


@desk_app.command("list")
def desk_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List this node's desks."""
    from parley.directory.desks import list_desks

    desks = list_desks(node_from(ctx))
    if as_json:
        print_json([{"name": d.name, "title": d.title} for d in desks])
        return
    for d in desks:
        say(f"{d.name:28} {d.title}")


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        from parley.files import read_text_bounded

        return read_text_bounded(password_file, "password file").rstrip("\n")
    if not sys.stdin.isatty():
        raise UsageError(T("no password given"), hint=T("use --password-file FILE when not at a terminal"))
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise UsageError(T("the two passwords differ"), hint=T("run the command again"))
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
        raise UsageError(
            T("unknown role {role!r}", role=role), hint=T("choose one of {roles}", roles=", ".join(ROLES))
        )
    node = node_from(ctx)
    try:
        get_operator(node, user)
        password = ""
    except Exception:
        password = _read_password(password_file)
    op = do_add_operator(node, user, desk, role, password)
    say(
        T(
            "operator {op_username}: {op_roles}",
            op_username=op.username,
            op_roles=[_role_at(r, d) for d, r in op.roles.items()],
        )
    )


def _role_at(role: str, desk: str) -> Text:
    """A role on a desk, as a sentence: "officer on watch at desk nf-duty-officer"."""
    return T("{role} at desk {desk}", role=role_name(role), desk=desk)


@operator_app.command("list")
def operator_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List operators and their roles."""
    from parley.directory.operators import list_operators

    ops = list_operators(node_from(ctx))
    if as_json:
        print_json([{"username": o.username, "lang": o.lang, "roles": o.roles} for o in ops])
        return
    for o in ops:
        say(f"{o.username:20} " + ", ".join(f"{r}@{d}" for d, r in o.roles.items()))


@token_app.command("issue")
def token_issue(
    ctx: typer.Context, user: str = typer.Argument(...), label: str = typer.Option("", "--label")
) -> None:
    """Issue an API token for an operator (shown once; only its hash is kept)."""
    from parley.directory.operators import do_issue_token

    say(do_issue_token(node_from(ctx), user, label))


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    user: str = typer.Argument(...),
    label: str | None = typer.Option(None, "--label", help="Only the tokens issued with this label."),
) -> None:
    """Revoke an operator's API tokens; a running node stops accepting them within 2 s."""
    from parley.directory.operators import do_revoke_tokens

    count = do_revoke_tokens(node_from(ctx), user, label)
    say(N("revoked {n} token of {user}", "revoked {n} tokens of {user}", count, user=user))
