"""``parley backup`` and ``parley restore`` (parley.continuity.backup; docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from parley.cli.common import home_from, print_json, say
from parley.formats.texts import N, T


def backup(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="The archive to write (must not exist)."),
    with_keys: bool = typer.Option(False, "--with-keys", help="Include the keys, encrypted."),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="File whose first line is the passphrase for --with-keys."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Take an online, consistent backup of this node (safe while it serves)."""
    from parley.continuity.backup import take_backup
    from parley.node import resolve_home

    manifest = take_backup(
        resolve_home(home_from(ctx)), out, with_keys=with_keys, passphrase_file=passphrase_file
    )
    if as_json:
        print_json(manifest)
        return
    say(
        T(
            "wrote {out}: {engine} database of {node} at {taken_at}, {chains}",
            out=out,
            engine=manifest["engine"],
            node=manifest["node"],
            taken_at=manifest["taken_at"],
            chains=N("{n} own chain", "{n} own chains", len(manifest["heads"])),
        )
    )
    if not manifest["keys"]:
        say(T("  the keys are not in it: keep identity.key and console.key in a backup of their own"))


def restore(
    ctx: typer.Context,
    archive: Path = typer.Argument(..., help="An archive made by `parley backup`."),
    force: bool = typer.Option(
        False, "--force", help="Replace a database that holds a record, or differing keys."
    ),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="The passphrase, when the backup holds keys."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Put a backup back into this home (the node must be stopped)."""
    from parley.continuity.backup import restore_backup
    from parley.node import resolve_home

    done = restore_backup(archive, resolve_home(home_from(ctx)), force=force, passphrase_file=passphrase_file)
    if as_json:
        print_json({"manifest": done.manifest, "keys": done.keys})
        return
    say(
        T(
            "restored {node} as it was at {taken_at}; on its next start it takes its own chains "
            "back from its peers before it sends anything",
            node=done.manifest["node"],
            taken_at=done.manifest["taken_at"],
        )
    )
