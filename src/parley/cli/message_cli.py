"""Commands for messages: send, inbox, show, and verify the node's record."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import typer

from parley.cli.common import node_from, print_json
from parley.errors import UsageError


def _read_body(body_file: Path) -> dict[str, Any]:
    try:
        text = body_file.read_text()
    except FileNotFoundError:
        raise UsageError(f"{body_file}: no such file", hint="check the path") from None
    try:
        body = tomllib.loads(text) if body_file.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"{body_file} cannot be read: {exc}", hint="write the body as JSON or TOML (.toml)"
        ) from exc
    if not isinstance(body, dict):
        raise UsageError(f"{body_file}: a body is a JSON object / TOML table")
    plain: dict[str, Any] = _plain(body)
    return plain


def _plain(value: Any) -> Any:
    """TOML dates and times become the RFC 3339 strings the schemas expect."""
    import datetime as dt

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        from parley.clock import format_time

        if value.tzinfo is None:
            raise UsageError(
                f"time {value.isoformat()} has no timezone", hint="write times in UTC with a Z suffix"
            )
        return format_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def send(
    ctx: typer.Context,
    channel: str = typer.Option(..., "--channel"),
    type_: str = typer.Option("general", "--type", help="Message type (see `parley schema list`)."),
    desk: str = typer.Option(
        "", "--desk", help="Sending desk (default: this node's only desk on the channel)."
    ),
    precedence: str = typer.Option("ROUTINE", "--precedence", help="FLASH | IMMEDIATE | PRIORITY | ROUTINE"),
    status: str = typer.Option("ACTUAL", "--status", help="ACTUAL | EXERCISE | TEST"),
    text: str = typer.Option("", "--text", help="Free text (for type general)."),
    lang: str = typer.Option("en", "--lang", help="Language of --text, and of error messages."),
    body_file: Path | None = typer.Option(None, "--body-file", help="Body as JSON or TOML."),
    ref: list[str] = typer.Option([], "--ref", help="Id of a message this one refers to (repeatable)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Sign, chain and store a message in the outbox; print its id."""
    from parley.channels.registry import get_channel_txn
    from parley.messaging.send import Draft, do_send_message

    node = node_from(ctx)
    if body_file is not None:
        body = _read_body(body_file)
    elif type_ == "general":
        if not text:
            raise UsageError("nothing to send", hint="give --text '…' or --body-file FILE")
        body = {"text": text, "lang": lang}
    else:
        raise UsageError(f"type {type_} needs --body-file", hint=f"start from `parley template {type_}`")
    if not desk:
        with node.reader.connect() as conn:
            own = get_channel_txn(conn, channel).charter.desks_of(node.name)
        if len(own) != 1:
            raise UsageError(f"this node has several desks on {channel}: {own}", hint="pass --desk NAME")
        desk = own[0]
    env = do_send_message(
        node,
        Draft(channel, desk, type_, precedence.upper(), status.upper(), body, tuple(ref)),
        lang=lang if lang in ("nb", "ru", "en") else "en",
    )
    if as_json:
        print_json({"id": env.id, "seq": env.seq, "hash": env.hash})
    else:
        typer.echo(env.id)


def inbox(
    ctx: typer.Context,
    channel: str = typer.Option("", "--channel"),
    limit: int = typer.Option(50, "--limit"),
    outgoing: bool = typer.Option(False, "--sent", help="Show sent messages instead."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List received (or sent) messages, newest first."""
    from parley.messaging.views import list_messages

    items = list_messages(node_from(ctx), outgoing, channel or None, limit)
    if as_json:
        print_json(items)
        return
    if not items:
        typer.echo("no messages")
    for i in items:
        drill = "" if i["status"] == "ACTUAL" else f" [{i['status']}]"
        ack = f"ack {i['acknowledged_by']}" if i["acknowledged_by"] else "unacknowledged"
        typer.echo(
            f"{i['created']}  {i['precedence']:9} {i['type']:22} {i['from']:36} {i['id']}{drill}  {ack}"
        )


def verify(
    ctx: typer.Context,
    proof: Path | None = typer.Option(None, "--proof", help="Check a proof file offline."),
    transcript: Path | None = typer.Option(None, "--transcript", help="Check a transcript offline."),
    key: list[Path] = typer.Option([], "--key", help="Identity card of a node (repeatable)."),
) -> None:
    """Re-check every stored envelope, signature and chain link (or an offline file)."""
    if proof is not None or transcript is not None:
        from parley.record.offline import verify_offline_cli

        verify_offline_cli(proof=proof, transcript=transcript, cards=key)
        return
    from parley.messaging.integrity import verify_store

    node = node_from(ctx)
    report = verify_store(node, progress=lambda n: typer.echo(f"  … {n} envelopes checked", err=True))
    typer.echo(
        f"record intact: {report.envelopes} envelopes on {report.chains} chains, "
        f"{report.receipts} receipts verified"
    )
