"""Commands for channels: propose and accept charters, list, show, change status."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from parley.cli.common import node_from, print_json, read_json_file
from parley.errors import UsageError

channel_app = typer.Typer(help="Channels and their charters.", no_args_is_help=True)


def _write(out: Path, doc: dict[str, object]) -> None:
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


@channel_app.command("propose")
def propose(
    ctx: typer.Context,
    peer: str = typer.Option(..., "--peer", help="The member node to send the proposal to."),
    charter: Path = typer.Option(..., "--charter", help="The charter (TOML)."),
    out: Path = typer.Option(..., "--out", help="Where to write the signed proposal."),
) -> None:
    """Sign a charter and write the proposal for the other side to accept."""
    from parley.channels.charter import charter_from_toml
    from parley.channels.setup import do_propose_channel

    try:
        text = charter.read_text()
    except FileNotFoundError:
        raise UsageError(f"{charter}: no such file", hint="check the path") from None
    doc = do_propose_channel(node_from(ctx), charter_from_toml(text, str(charter)), peer)
    _write(out, doc.to_json())
    typer.echo(f"proposed channel {doc.charter.id} (charter {doc.charter.hash}); hand {out} to {peer}")


@channel_app.command("accept")
def accept(
    ctx: typer.Context,
    document: Path = typer.Argument(
        ...,
        help="A proposal or countersigned charter (JSON file), "
        "or the channel id of a proposal received over the link.",
    ),
    out: Path | None = typer.Option(None, "--out", help="Where to write the countersigned charter."),
) -> None:
    """Check and countersign a proposed charter; open the channel once all have signed."""
    from parley.channels.setup import do_accept_channel, find_proposal

    node = node_from(ctx)
    raw = (
        read_json_file(document)
        if document.exists() or "/" in str(document) or str(document).endswith(".json")
        else find_proposal(node, str(document))
    )
    doc, opened = do_accept_channel(node, raw)
    if out is not None:
        _write(out, doc.to_json())
        typer.echo(f"wrote countersigned charter to {out}")
    if opened:
        typer.echo(f"channel {doc.charter.id} is open ({doc.charter.data['initial_status']})")
    elif doc.complete:
        typer.echo(f"channel {doc.charter.id} was already open; nothing changed")
    else:
        waiting = sorted(set(doc.charter.member_nodes) - set(doc.signatures))
        typer.echo(f"signed; waiting for {', '.join(waiting)} — hand them the countersigned file")


@channel_app.command("list")
def channel_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List channels with their status."""
    from parley.channels.registry import list_channels_txn

    node = node_from(ctx)
    with node.reader.connect() as conn:
        chans = list_channels_txn(conn)
    if as_json:
        print_json([c.to_json() for c in chans])
        return
    if not chans:
        typer.echo("no channels yet: propose one with `parley channel propose`")
    for c in chans:
        typer.echo(
            f"{c.id:28} {c.status:10} {c.charter.name_in('en')}  [{', '.join(c.charter.member_nodes)}]"
        )


@channel_app.command("show")
def channel_show(ctx: typer.Context, channel: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show a channel's charter and status history."""
    from parley.channels.registry import get_channel_txn
    from parley.channels.status import history_txn

    node = node_from(ctx)
    with node.reader.connect() as conn:
        c = get_channel_txn(conn, channel)
        hist = history_txn(conn, channel)
    if as_json:
        print_json(c.to_json() | {"history": [h.to_json() for h in hist]})
        return
    ch = c.charter
    typer.echo(f"{c.id}: {ch.name_in('en')} / {ch.name_in('nb')} / {ch.name_in('ru')}")
    typer.echo(
        f"  status     {c.status}" + (f" (exempt: {', '.join(c.exempt_types)})" if c.exempt_types else "")
    )
    typer.echo(f"  basis      {ch.data['basis']['agreement']} ({ch.data['basis']['date']})")
    typer.echo(f"  members    {', '.join(ch.members)}")
    typer.echo(f"  types      {', '.join(ch.types)}")
    typer.echo(f"  topics     {', '.join(ch.topics) or '-'}")
    typer.echo("  deadlines  " + ", ".join(f"{k} {v}s" for k, v in ch.data["deadlines_s"].items()))
    typer.echo(f"  link test  every {ch.link_test_interval_s:g}s")
    typer.echo(f"  charter    {ch.hash} signed by {', '.join(sorted(c.document.signatures))}")
    typer.echo("  history    " + (f"{ch.data['initial_status']} at creation" if not hist else ""))
    for h in hist:
        ex = f" exempt {', '.join(h.exempt_types)}" if h.exempt_types else ""
        typer.echo(f"    {h.effective}  {h.status:10} by {h.signer}{ex}: {h.reason}")


def _change_status(ctx: typer.Context, channel: str, status: str, reason: str, exempt: list[str]) -> None:
    from parley.channels.lifecycle import do_change_status

    rec = do_change_status(node_from(ctx), channel, status, reason, exempt)
    typer.echo(f"channel {channel} is now {rec.status} (record {rec.id})")


@channel_app.command("suspend")
def suspend(
    ctx: typer.Context,
    channel: str,
    reason: str = typer.Option(..., "--reason"),
    exempt: list[str] = typer.Option([], "--exempt", help="A message type that keeps flowing (repeatable)."),
) -> None:
    """Suspend a channel; only exempt types (and acknowledgments) keep flowing."""
    _change_status(ctx, channel, "suspended", reason, exempt)


@channel_app.command("resume")
def resume(ctx: typer.Context, channel: str, reason: str = typer.Option(..., "--reason")) -> None:
    """Resume a suspended channel."""
    _change_status(ctx, channel, "active", reason, [])


@channel_app.command("activate")
def activate(ctx: typer.Context, channel: str, reason: str = typer.Option(..., "--reason")) -> None:
    """Activate a planned channel."""
    _change_status(ctx, channel, "active", reason, [])


@channel_app.command("close")
def close(ctx: typer.Context, channel: str, reason: str = typer.Option(..., "--reason")) -> None:
    """Close a channel for good."""
    _change_status(ctx, channel, "closed", reason, [])


@channel_app.command("proposals")
def proposals_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Charter proposals waiting for a signature (received by file or over the link)."""
    from parley.channels.setup import pending_proposals

    node = node_from(ctx)
    docs = pending_proposals(node)
    if as_json:
        print_json([d.to_json() | {"charter_hash": d.charter.hash} for d in docs])
        return
    if not docs:
        typer.echo("no pending proposals")
    for d in docs:
        waiting = sorted(set(d.charter.member_nodes) - set(d.signatures))
        typer.echo(
            f"{d.charter.id:24} {d.charter.name_in('en')}  signed by {', '.join(sorted(d.signatures))}; "
            f"waiting for {', '.join(waiting)}"
        )
