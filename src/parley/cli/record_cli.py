"""Commands for the shared record: ``parley proof`` and ``parley transcript export``.

Both write files a third party checks with ``parley verify --proof/--transcript FILE --key
CARD.json …`` and nothing else (docs/record.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from parley.cli.common import node_from, print_json, say
from parley.formats.texts import T
from parley.node import Node

transcript_app = typer.Typer(
    help="A channel's whole signed history, for anyone to check.", no_args_is_help=True
)


def _write(out: Path, data: dict[str, Any]) -> None:
    """Write the file whole or not at all (a temporary file renamed into place)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def proof(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(help="The message to prove.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the proof (JSON).")],
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Write a message's proof: envelope, receipts, acknowledgment, log proofs, checkpoint."""
    from parley.evidence.proof import make_proof

    data, notes = make_proof(node_from(ctx), message_id)
    _write(out, data)
    size = data["log"]["checkpoint"].split("\n")[1]
    if as_json:
        print_json(
            {
                "out": str(out),
                "items": len(data["items"]),
                "checkpoint_size": int(size),
                "notes": notes,
            }
        )
        return
    items = len(data["items"])
    say(
        T(
            "wrote the proof of {message_id} to {out}: {items} items, checkpoint size {size}",
            message_id=message_id,
            out=out,
            items=items,
            size=size,
        )
    )
    for note in notes:
        say(T("note: {note}", note=note), err=True)
    say(T("check it with: parley verify --proof {out} --key CARD.json …", out=out), err=True)


def write_transcript(node: Node, channel: str, out: Path) -> dict[str, Any]:
    """Export ``channel``'s transcript to ``out``; what it holds (for ``parley export``)."""
    from parley.evidence.transcript import export_transcript

    data = export_transcript(node, channel)
    _write(out, data)
    envelopes = sum(1 for e in data["entries"] if e["kind"] == "envelope")
    return {
        "out": str(out),
        "channel": channel,
        "entries": len(data["entries"]),
        "envelopes": envelopes,
        "receipts": len(data["entries"]) - envelopes,
        "status_records": len(data["status_records"]),
        "checkpoint_size": int(data["log"]["checkpoint"].split("\n")[1]),
    }


@transcript_app.command("export")
def transcript_export(
    ctx: typer.Context,
    channel: Annotated[str, typer.Option("--channel", help="The channel to export.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the transcript (JSON).")],
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Write a channel's whole signed history with its log proofs and checkpoint."""
    summary = write_transcript(node_from(ctx), channel, out)
    if as_json:
        print_json(summary)
        return
    say(
        T(
            "wrote the transcript of {channel} to {out}: {summary_envelopes} envelopes, "
            "{summary_receipts} receipts, {summary_status_records} status records, "
            "checkpoint size {summary_checkpoint_size}",
            channel=channel,
            out=out,
            summary_envelopes=summary["envelopes"],
            summary_receipts=summary["receipts"],
            summary_status_records=summary["status_records"],
            summary_checkpoint_size=summary["checkpoint_size"],
        )
    )
    say(T("check it with: parley verify --transcript {out} --key CARD.json …", out=out), err=True)
