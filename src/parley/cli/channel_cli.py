"""Commands for channels: propose and accept charters, list, show, change status."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from parley.cli.common import label, node_from, print_json, say
from parley.files import read_json_file
from parley.formats.catalogue import load_catalogue
from parley.formats.texts import T, cli_lang
from parley.formats.times import when

if TYPE_CHECKING:
    from parley.channels.registry import Channel
    from parley.channels.status import StatusRecord

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
    from parley.files import read_text_bounded

    text = read_text_bounded(charter, "charter")
    doc = do_propose_channel(node_from(ctx), charter_from_toml(text, str(charter)), peer)
    _write(out, doc.to_json())
    say(
        T(
            "proposed channel {doc_charter_id} (charter {doc_charter_hash}); hand {out} to {peer}",
            doc_charter_id=doc.charter.id,
            doc_charter_hash=doc.charter.hash,
            out=out,
            peer=peer,
        )
    )


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
        read_json_file(document, "charter document")
        if document.exists() or "/" in str(document) or str(document).endswith(".json")
        else find_proposal(node, str(document))
    )
    doc, opened = do_accept_channel(node, raw)
    if out is not None:
        _write(out, doc.to_json())
        say(T("wrote countersigned charter to {out}", out=out))
    if opened:
        say(
            T(
                "channel {doc_charter_id} is open ({doc_charter_data_initial_status})",
                doc_charter_id=doc.charter.id,
                doc_charter_data_initial_status=label("console.chstatus", doc.charter.data["initial_status"]),
            )
        )
    elif doc.complete:
        say(T("channel {doc_charter_id} was already open; nothing changed", doc_charter_id=doc.charter.id))
    else:
        waiting = sorted(set(doc.charter.member_nodes) - set(doc.signatures))
        say(T("signed; waiting for {waiting} — hand them the countersigned file", waiting=", ".join(waiting)))


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
        say(T("no channels yet: propose one with `parley channel propose`"))
    lang = cli_lang()
    cat = load_catalogue(lang)
    for c in chans:
        status = cat.get(f"console.chstatus.{c.status}")
        say(f"{c.id:28} {status:12} {c.charter.name_in(lang)}  [{', '.join(c.charter.member_nodes)}]")


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
    _show_charter(c, hist, cli_lang())


def _show_charter(c: Channel, hist: Sequence[StatusRecord], lang: str) -> None:
    """The charter as its reader reads it: labels from the catalogue, names, basis, topics and
    durations in ``lang`` (docs/channels.md#languages); codes only where they are ids."""
    from parley.formats.labels import duration_in, language_names

    cat = load_catalogue(lang)
    ch = c.charter

    def line(key: str, value: str, sep: str = ": ") -> None:
        say(f"  {cat.get('console.' + key)}{sep}{value}")

    def types(names: Sequence[str]) -> str:
        return ", ".join(cat.get(f"type.{t}") for t in names)

    say(f"{c.id}: {ch.name_in(lang)}")
    status = cat.get(f"console.chstatus.{c.status}")
    if c.exempt_types:
        status += f" ({cat.get('console.charter.exempt')}: {types(c.exempt_types)})"
    line("col.status", status)
    line("charter.basis", f"{ch.agreement_in(lang)} ({ch.basis_date_in(lang)})")
    line("charter.members", ", ".join(ch.members))
    line("charter.types", types(ch.types))
    line("charter.topics", ", ".join(ch.topic_labels_in(lang)) or "–")
    line("charter.languages", ", ".join(language_names(ch.languages, lang)))
    deadlines = ch.data["deadlines_s"].items()
    line(
        "charter.deadlines",
        "; ".join(f"{cat.get('precedence.' + p)} {duration_in(s, lang)}" for p, s in deadlines),
    )
    line("charter.link_test", duration_in(ch.link_test_interval_s, lang), sep=" ")
    line("charter.signed_by", ", ".join(sorted(c.document.signatures)))
    line("charter.hash", ch.hash)
    line("charter.history", "" if hist else cat.get("console.charter.no_history"))
    for h in hist:
        ex = f" ({cat.get('console.charter.exempt')}: {types(h.exempt_types)})" if h.exempt_types else ""
        status = cat.get(f"console.chstatus.{h.status}")
        say(f"    {when(h.effective, None, lang, with_date=True)}  {status}  {h.signer}{ex}: {h.reason}")


def _change_status(ctx: typer.Context, channel: str, status: str, reason: str, exempt: list[str]) -> None:
    from parley.channels.lifecycle import do_change_status

    rec = do_change_status(node_from(ctx), channel, status, reason, exempt)
    say(
        T(
            "channel {channel} is now {rec_status} (record {rec_id})",
            channel=channel,
            rec_status=label("console.chstatus", rec.status),
            rec_id=rec.id,
        )
    )


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
        say(T("no pending proposals"))
    for d in docs:
        waiting = sorted(set(d.charter.member_nodes) - set(d.signatures))
        say(
            T(
                "{d_charter_id:24} {d_charter_name_in}  signed by {d_signatures}; waiting for {waiting}",
                d_charter_id=d.charter.id,
                d_charter_name_in=d.charter.name_in(cli_lang()),
                d_signatures=", ".join(sorted(d.signatures)),
                waiting=", ".join(waiting),
            )
        )
