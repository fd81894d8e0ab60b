"""``parley tls …``: rotating the node's TLS certificate without downtime (docs/protocol.md §13.7).

The runbook is docs/operations.md, "TLS certificate rotation".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from parley.cli.common import node_from, print_json, say
from parley.formats.texts import T

if TYPE_CHECKING:
    from parley.directory.tls_rotation import Rotation

tls_app = typer.Typer(help="The node's TLS certificate, which peers pin.", no_args_is_help=True)


def _show(rotation: Rotation, as_json: bool) -> None:
    if as_json:
        print_json(rotation.to_json())
        return
    say(T("serving TLS certificate {fp}", fp=rotation.serving))
    if rotation.phase == "none":
        say(T("no certificate rotation yet"))
    elif rotation.phase == "announced":
        say(
            T(
                "announced {fp} (update {number}); served once every peer has acknowledged it",
                fp=rotation.new,
                number=rotation.number,
            )
        )
    elif rotation.phase == "switched":
        say(
            T(
                "switched (update {number}); peers are told to drop the old certificate",
                number=rotation.number,
            )
        )
    else:
        say(
            T(
                "rotation finished (update {number}); every peer pins only this certificate",
                number=rotation.number,
            )
        )
    for peer in rotation.waiting_for:
        error = rotation.errors.get(peer)
        if error:
            say(T("  waiting for {peer}: {error}", peer=peer, error=error), fg="yellow")
        else:
            say(T("  waiting for {peer}", peer=peer))


@tls_app.command("rotate")
def rotate(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Make a new TLS certificate and announce it to every peer; the running node switches
    to it once all have acknowledged, without a restart."""
    from parley.directory.tls_rotation import finish_switch, start_rotation, switch_if_acknowledged
    from parley.node_running import serving

    node = node_from(ctx)
    rotation = start_rotation(node)
    # Stopped, with nobody to wait for (no peers): switch now; the next start serves it.
    if not serving(node.home).running and switch_if_acknowledged(node):
        finish_switch(node)
        from parley.directory.tls_rotation import rotation_status

        rotation = rotation_status(node)
    _show(rotation, as_json)


@tls_app.command("status")
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Which certificate is served, and how far a rotation has gone."""
    from parley.directory.tls_rotation import rotation_status

    _show(rotation_status(node_from(ctx)), as_json)
