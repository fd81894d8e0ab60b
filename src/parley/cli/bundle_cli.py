"""``parley export`` and ``parley import``: the federation by file (docs/protocol.md §11.9).

``export`` writes one signed bundle of what a peer has not receipted on a channel;
``import`` takes a bundle in exactly as if it had come over the link. Carry the files both
ways: the receipts an import issues travel back in the next export.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from parley.cli.common import node_from, print_json, read_json_file
from parley.errors import UsageError


def _write(out: Path, data: object) -> None:
    """Write the file whole or not at all (a temporary file renamed into place)."""
    if out.is_dir():
        raise UsageError(f"{out} is a directory", hint="give a file name, e.g. --out bundle.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Where to write the bundle (JSON).")],
    channel: Annotated[str, typer.Option("--channel", help="The channel whose traffic to carry.")] = "",
    peer: Annotated[str, typer.Option("--peer", help="The peer the bundle is for.")] = "",
    transcript: Annotated[
        bool,
        typer.Option(
            "--transcript",
            help="Write the channel's transcript instead (as `parley transcript export`).",
        ),
    ] = False,
) -> None:
    """Write a signed bundle of what PEER has not receipted on CHANNEL, for `parley import`."""
    if transcript:
        _export_transcript(ctx, channel, out)
        return
    if not channel or not peer:
        raise UsageError(
            "export needs --channel and --peer",
            hint="parley export --channel C --peer P --out FILE",
        )
    from parley.federation.bundle import make_bundle

    bundle = make_bundle(node_from(ctx), channel, peer)
    _write(out, bundle)
    data = bundle["bundle"]
    typer.echo(
        f"wrote {len(data['envelopes'])} envelope(s), {len(data['receipts'])} receipt(s) and "
        f"{len(data['control'])} control document(s) for {peer} on {channel} to {out}; "
        f"on {peer}: parley import {out.name}"
    )


def _export_transcript(ctx: typer.Context, channel: str, out: Path) -> None:
    if not channel:
        raise UsageError(
            "--transcript needs --channel", hint="parley export --transcript --channel C --out FILE"
        )
    try:
        from parley.record import transcript as transcript_module
    except ImportError:
        transcript_module = None  # type: ignore[assignment]
    run = getattr(transcript_module, "export_transcript_cli", None)
    if run is None:
        raise UsageError(
            "this build cannot export transcripts through `parley export`",
            hint="use `parley transcript export` instead",
        )
    run(ctx, channel, out)


def import_bundle(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A bundle written by `parley export` on the peer.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Take in a peer's bundle exactly as if it had come over the link."""
    from parley.federation.bundle import import_bundle as do_import

    result = do_import(node_from(ctx), read_json_file(file))
    if as_json:
        print_json(result.to_json())
        return
    if not result.changed:
        typer.echo(
            f"nothing new from {result.origin} in {file} ({result.duplicates} already held); nothing changed"
        )
        return
    typer.echo(
        f"from {result.origin} on {result.channel}: stored {result.stored} envelope(s) "
        f"({result.duplicates} already held), accepted {result.receipts_accepted} receipt(s), "
        f"applied {result.control_applied} control document(s); "
        "carry the receipts back with "
        f"`parley export --channel {result.channel} --peer {result.origin}`"
    )
