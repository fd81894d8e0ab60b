"""Commands for messages: send, inbox, show, and verify the node's record."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import typer

from parley.cli.common import node_from, print_json, say
from parley.errors import UsageError
from parley.formats.texts import N, T, cli_lang


def _read_body(body_file: Path) -> dict[str, Any]:
    from parley.files import read_text_bounded
    from parley.protocol.canonical import check_depth, loads_strict

    text = read_text_bounded(body_file, "message body")
    try:
        # loads_strict, not json.loads: NaN, Infinity, duplicate keys and deep nesting are
        # refused here with the file's name rather than failing later inside the signer.
        body = tomllib.loads(text) if body_file.suffix == ".toml" else loads_strict(text)
        check_depth(body)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            T("{body_file} cannot be read: {exc}", body_file=body_file, exc=exc),
            hint=T("write the body as JSON or TOML (.toml)"),
        ) from exc
    if not isinstance(body, dict):
        raise UsageError(T("{body_file}: a body is a JSON object / TOML table", body_file=body_file))
    from parley.errors import ValidationError
    from parley.formats.toml_template import unfilled_fields

    infinite = _infinite_paths(body)
    if infinite:
        raise UsageError(
            T(
                "{body_file}: {infinite_0} is not a finite number (inf cannot be signed)",
                body_file=body_file,
                infinite_0=infinite[0],
            ),
            hint=T("write an ordinary number, or leave the field out"),
        )
    left = unfilled_fields(body)
    if left:
        raise ValidationError(
            T("{body_file}: fields not filled in: {n_left}", body_file=body_file, n_left=len(left)),
            left,
            hint=T("fill in each field named (or delete the optional ones), then send again"),
        )
    plain: dict[str, Any] = _plain(body)
    return plain


def _infinite_paths(value: Any, path: str = "") -> list[str]:
    """Where ``value`` holds inf or -inf (TOML allows them; JSON does not), in order.

    nan is not among them: in a TOML body it is the template's placeholder for a number,
    reported with the other unfilled fields."""
    import math

    if isinstance(value, float) and math.isinf(value):
        return [path or "/"]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found: list[str] = []
    for key, child in items:
        found += _infinite_paths(child, f"{path}/{key}")
    return found


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
                T("time {value} has no timezone", value=value.isoformat()),
                hint=T("write times in UTC with a Z suffix"),
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
    lang: str | None = typer.Option(
        None, "--lang", help="nb | ru | en: language of --text and of the report (default: parley --lang)."
    ),
    body_file: Path | None = typer.Option(None, "--body-file", help="Body as JSON or TOML."),
    ref: list[str] = typer.Option([], "--ref", help="Id of a message this one refers to (repeatable)."),
    wait: bool = typer.Option(
        False, "--wait", help="Wait until every peer on the channel has receipted it (exit 3 if not in time)."
    ),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds --wait waits (1 to 600)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Sign, chain and store a message; report what happened to it (the message id last)."""
    from parley.channels.registry import get_channel_txn
    from parley.cli.common import check_lang
    from parley.cli.send_report import MAX_WAIT_S, print_report, report, wait_for_receipts
    from parley.formats.catalogue import load_catalogue
    from parley.messaging.send import Draft, do_send_message
    from parley.node_running import serving

    lang = check_lang(lang) if lang else cli_lang()
    if wait and not 1 <= timeout <= MAX_WAIT_S:  # also false for nan
        raise UsageError(
            T("--timeout {timeout} is not between 1 and 600 seconds", timeout=timeout),
            hint=T("for example --timeout 60"),
        )
    node = node_from(ctx)
    running = serving(node.home).running
    if wait and not running:
        raise UsageError(
            T(
                "--wait: {node_name} is not serving, so nothing would deliver the message",
                node_name=node.name,
            ),
            hint=T(
                "start `parley serve` first, or send without --wait (it is delivered once the node serves)"
            ),
        )
    with node.reader.connect() as conn:
        chan = get_channel_txn(conn, channel)
    # Before the body: a type the charter does not carry is refused as such, with the
    # types it does carry, rather than for lacking a body file.
    chan.check_allows(type_)
    if body_file is not None:
        body = _read_body(body_file)
    elif type_ == "general":
        if not text:
            raise UsageError(T("nothing to send"), hint=T("give --text '…' or --body-file FILE"))
        body = {"text": text, "lang": lang}
    else:
        raise UsageError(
            T("type {type} needs --body-file", type=type_),
            hint=T("start from `parley template {type}`", type=type_),
        )
    if not desk:
        own = chan.charter.desks_of(node.name)
        if len(own) != 1:
            raise UsageError(
                T("this node has several desks on {channel}: {own}", channel=channel, own=own),
                hint=T("pass --desk NAME"),
            )
        desk = own[0]
    env = do_send_message(
        node, Draft(channel, desk, type_, precedence.upper(), status.upper(), body, tuple(ref)), lang=lang
    )
    facts = report(node, env, running)
    if wait:
        facts = wait_for_receipts(node, facts, timeout)
    if as_json:
        print_json(facts)
    else:
        print_report(facts, load_catalogue(cli_lang()), waited=wait)  # the reader's language
    if wait and not facts["receipted_by_all"]:
        # Stored and queued all the same: a distinct code, so a script can tell "not yet" from "refused".
        raise typer.Exit(3)


def inbox(
    ctx: typer.Context,
    channel: list[str] = typer.Option([], "--channel", help="Only this channel (repeatable)."),
    limit: int = typer.Option(50, "--limit", help="How many messages to show (1 to 1000); see --all."),
    outgoing: bool = typer.Option(False, "--sent", help="Show sent messages instead of received ones."),
    direction: str = typer.Option("in", "--direction", help="in | out | both (--sent is --direction out)."),
    every: bool = typer.Option(False, "--all", help="Every matching message, page after page (streamed)."),
    search: str = typer.Option(
        "", "--search", help="Words to find, in nb, ru or en (at most 200 characters)."
    ),
    type_: list[str] = typer.Option([], "--type", help="Only this type (repeatable)."),
    precedence: list[str] = typer.Option(
        [], "--precedence", help="FLASH | IMMEDIATE | PRIORITY | ROUTINE (repeatable)."
    ),
    status: list[str] = typer.Option([], "--status", help="ACTUAL | EXERCISE | TEST (repeatable)."),
    ack: str = typer.Option("", "--ack", help="unacknowledged | overdue | acknowledged"),
    since: str = typer.Option(
        "", "--since", help="From this UTC date or time (2026-11-29, 2026-11-29T18:00Z)."
    ),
    until: str = typer.Option("", "--until", help="Up to this UTC date (the whole day) or time."),
    incident: str = typer.Option(
        "", "--incident", help="Only the messages of this incident (its report's id)."
    ),
    cursor: str = typer.Option("", "--cursor", help="Continue where an earlier listing stopped."),
    lang: str | None = typer.Option(
        None, "--lang", help="nb | ru | en: language of the listing (default: parley --lang)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per line (NDJSON), with the body and its nb/ru/en renderings."
    ),
) -> None:
    """List messages, newest first: filters, full-text search and paging (nothing is cut silently)."""
    from parley.cli.common import check_lang
    from parley.cli.inbox_output import stream_inbox
    from parley.messaging.search import MessageQuery

    lang = check_lang(lang) if lang else cli_lang()
    if not 1 <= limit <= 1000:  # a number past 2**63 would otherwise reach the database
        raise UsageError(
            T("--limit {limit} is not between 1 and 1000", limit=limit), hint=T("for example --limit 50")
        )
    if direction not in ("in", "out", "both"):
        raise UsageError(
            T("--direction {direction!r} is not in, out or both", direction=direction),
            hint=T("for example --direction both"),
        )
    chosen = "out" if outgoing else direction
    params: dict[str, str | list[str]] = {
        "channel": channel,
        "type": type_,
        "precedence": [p.upper() for p in precedence],
        "status": [s.upper() for s in status],
    }
    for name, value in (
        ("q", search),
        ("ack", ack),
        ("since", since),
        ("until", until),
        ("incident", incident),
    ):
        if value:
            params[name] = value
    if chosen != "both":
        params["direction"] = chosen
    query = MessageQuery.from_params(params)
    stream_inbox(
        node_from(ctx),
        query,
        limit=None if every else limit,
        cursor=cursor or None,
        lang=lang,
        as_json=as_json,
    )


def verify(
    ctx: typer.Context,
    proof: Path | None = typer.Option(None, "--proof", help="Check a proof file offline."),
    transcript: Path | None = typer.Option(None, "--transcript", help="Check a transcript offline."),
    key: list[Path] = typer.Option([], "--key", help="Identity card of a node (repeatable)."),
) -> None:
    """Re-check every stored envelope, signature and chain link (or an offline file)."""
    if proof is not None or transcript is not None:
        from parley.evidence.offline import verify_offline_cli

        verify_offline_cli(proof=proof, transcript=transcript, cards=key)
        return
    from parley.messaging.integrity import verify_store

    node = node_from(ctx)
    report = verify_store(
        node,
        progress=lambda n: say(N("  … {n:,} envelope checked", "  … {n:,} envelopes checked", n), err=True),
    )
    say(
        T(
            "record intact: {envelopes} on {chains}, {receipts} verified",
            envelopes=N("{n:,} envelope", "{n:,} envelopes", report.envelopes),
            chains=N("{n:,} chain", "{n:,} chains", report.chains),
            receipts=N("{n:,} receipt", "{n:,} receipts", report.receipts),
        )
    )


def reindex(
    ctx: typer.Context,
    lang: str | None = typer.Option(
        None, "--lang", help="nb | ru | en: language of the report (default: parley --lang)."
    ),
) -> None:
    """Rebuild the full-text search index from the stored messages (once, after upgrading)."""
    from parley.cli.common import check_lang
    from parley.messaging.search_index import reindex as rebuild
    from parley.watch.pagers import ngettext

    lang = check_lang(lang) if lang else cli_lang()
    node = node_from(ctx)
    done = rebuild(node.engine)
    say(ngettext(lang, "cli.db.reindexed", done, total=done))
