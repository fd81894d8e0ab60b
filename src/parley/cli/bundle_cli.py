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

from parley.cli.common import node_from, print_json, say
from parley.errors import UsageError
from parley.files import read_json_file
from parley.formats.texts import T


def _write(out: Path, data: object) -> None:
    """Write the file whole or not at all (a temporary file renamed into place)."""
    if out.is_dir():
        raise UsageError(
            T("{out} is a directory", out=out), hint=T("give a file name, e.g. --out bundle.json")
        )
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
            T("export needs --channel and --peer"),
            hint=T("parley export --channel C --peer P --out FILE"),
        )
    from parley.federation.bundle import make_bundle

    bundle = make_bundle(node_from(ctx), channel, peer)
    _write(out, bundle)
    data = bundle["bundle"]
    say(
        T(
            "wrote {n_data_envelopes} envelope(s), {n_data_receipts} receipt(s) and "
            "{n_data_control} control document(s) for {peer} on {channel} to {out}; "
            "on {peer}: parley import {out_name}",
            n_data_envelopes=len(data["envelopes"]),
            n_data_receipts=len(data["receipts"]),
            n_data_control=len(data["control"]),
            peer=peer,
            channel=channel,
            out=out,
            out_name=out.name,
        )
    )


def _export_transcript(ctx: typer.Context, channel: str, out: Path) -> None:
    if not channel:
        raise UsageError(
            T("--transcript needs --channel"), hint=T("parley export --transcript --channel C --out FILE")
        )
    from parley.cli.record_cli import transcript_export

    # The same as `parley transcript export --channel C --out FILE`.
    transcript_export(ctx, channel=channel, out=out, as_json=False)


def import_bundle(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A bundle written by `parley export` on the peer.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Take in a peer's bundle exactly as if it had come over the link."""
    from parley.federation.bundle import import_bundle as do_import

    result = do_import(node_from(ctx), read_json_file(file, "bundle"))
    if as_json:
        print_json(result.to_json())
        return
    if not result.changed:
        say(
            T(
                "nothing new from {result_origin} in {file} "
                "({result_duplicates} already held); nothing changed",
                result_origin=result.origin,
                file=file,
                result_duplicates=result.duplicates,
            )
        )
        return
    say(
        T(
            "from {result_origin} on {result_channel}: stored {result_stored} envelope(s) "
            "({result_duplicates} already held), accepted {result_receipts_accepted} receipt(s), "
            "applied {result_control_applied} control document(s); "
            "carry the receipts back with "
            "`parley export --channel {result_channel} --peer {result_origin}`",
            result_origin=result.origin,
            result_channel=result.channel,
            result_stored=result.stored,
            result_duplicates=result.duplicates,
            result_receipts_accepted=result.receipts_accepted,
            result_control_applied=result.control_applied,
        )
    )
