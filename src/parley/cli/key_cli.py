"""``parley key …``: the root key, certificates, rotation and revocation (docs/protocol.md §13).

Each change is a request made here, signed by the root (``sign-request``, where the root
is) and installed here (``--apply``); ``--root FILE`` does the three at once when the root
is at hand. The runbook is docs/operations.md, "Key rotation".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from parley.cli.common import node_from, print_json, say
from parley.errors import UsageError
from parley.files import read_json_file
from parley.formats.texts import T

key_app = typer.Typer(
    help="Keys: the offline root key and the operational key it certifies.", no_args_is_help=True
)
root_app = typer.Typer(help="The root key, kept off the serving machine.", no_args_is_help=True)
key_app.add_typer(root_app, name="root")


def _write(out: Path, data: Any) -> None:
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@root_app.command("init")
def root_init(
    ctx: typer.Context, out: Path = typer.Option(..., "--out", help="Where to write the root key (0600).")
) -> None:
    """Make a root key in a file outside any node's home."""
    from parley.directory.keys import check_root_outside, init_root

    home = ctx.obj.home if ctx.obj is not None else None
    if home is not None:
        check_root_outside(Path(home), out)
    root = init_root(out)
    say(T("root key {key_id} written to {out}; keep it offline", key_id=root.public.key_id, out=out))


def _need_destination(root: Path | None, out: Path | None) -> None:
    if root is None and out is None:
        raise UsageError(
            T("give --root FILE (the root is here) or --request OUT (to sign it elsewhere)"),
            hint=T("see docs/operations.md, Key rotation"),
        )


def _finish(ctx: typer.Context, request: dict[str, Any], root: Path | None, out: Path | None) -> None:
    """Write the request, or sign it with ``root`` and install it at once."""
    from parley.directory.keys import load_root, sign_request

    _need_destination(root, out)
    if root is None:
        assert out is not None
        _write(out, request)
        say(
            T(
                "request written to {out}: sign it with `parley key sign-request` where the root key is",
                out=out,
            )
        )
        return
    signed = sign_request(load_root(root), request)
    _apply(ctx, signed.document)


def _apply(ctx: typer.Context, document: Any) -> None:
    from parley.directory.keys import apply_signed

    node = node_from(ctx)
    action, changed = apply_signed(node, document)
    if not changed:
        say(T("this signed {action} is already installed; nothing changed", action=action))
        return
    record = document.get("record") if isinstance(document, dict) else None
    if (
        action == "key-rotation"
        and isinstance(record, dict)
        and node.key.public.key_id == record.get("old_key_id")
    ):
        # Dated ahead (parley.directory.key_swap): the running node switches at that time.
        say(
            T(
                "rotation installed and queued for every peer; key {key_id} signs from {effective}",
                key_id=record["certificate"]["cert"]["key_id"],
                effective=record["effective"],
            )
        )
        return
    say(
        T(
            "{action} installed; current key {key_id}; queued for every peer",
            action=action,
            key_id=node.key.public.key_id,
        )
    )


@key_app.command("certify")
def certify(
    ctx: typer.Context,
    root: Path | None = typer.Option(None, "--root", help="The root key file, if it is on this machine."),
    request: Path | None = typer.Option(None, "--request", help="Write an unsigned request here instead."),
    apply: Path | None = typer.Option(None, "--apply", help="Install a signed request."),
) -> None:
    """Certify this node's existing key with a root key (the move to two-level keys)."""
    from parley.directory.keys import request_certify

    if apply is not None:
        _apply(ctx, read_json_file(apply, "key request"))
        return
    _need_destination(root, request)
    _finish(ctx, request_certify(node_from(ctx)), root, request)


@key_app.command("rotate")
def rotate(
    ctx: typer.Context,
    root: Path | None = typer.Option(None, "--root", help="The root key file, if it is on this machine."),
    request: Path | None = typer.Option(None, "--request", help="Write an unsigned request here instead."),
    apply: Path | None = typer.Option(None, "--apply", help="Install a signed request."),
    effective: str | None = typer.Option(
        None,
        "--effective",
        help="A UTC time ahead from which the new key signs; the node may keep serving (docs/operations.md).",
    ),
) -> None:
    """Make a new operational key, certified by the root; peers learn it over the link."""
    from parley.directory.keys import request_rotate

    if apply is not None:
        _apply(ctx, read_json_file(apply, "key request"))
        return
    _need_destination(root, request)  # before a key is made
    _finish(ctx, request_rotate(node_from(ctx), effective), root, request)


@key_app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: str = typer.Argument("", help="The key id to revoke (16 hex digits)."),
    effective: str = typer.Option("", "--effective", help="From when its signatures are refused (UTC)."),
    reason: str = typer.Option("", "--reason", help="Why, for the record."),
    root: Path | None = typer.Option(None, "--root", help="The root key file, if it is on this machine."),
    request: Path | None = typer.Option(None, "--request", help="Write an unsigned request here instead."),
    apply: Path | None = typer.Option(None, "--apply", help="Install a signed request."),
) -> None:
    """Revoke a retired operational key from a time on; peers refuse what it signed after."""
    from parley.directory.keys import request_revoke

    if apply is not None:
        _apply(ctx, read_json_file(apply, "key request"))
        return
    if not key_id or not effective:
        raise UsageError(
            T("name the key and the time: parley key revoke KEY_ID --effective 2026-12-01T07:00:00.000Z"),
        )
    _finish(ctx, request_revoke(node_from(ctx), key_id, effective, reason), root, request)


@key_app.command("sign-request")
def sign_request_command(
    request: Path = typer.Argument(..., help="The request file written by --request."),
    root: Path = typer.Option(..., "--root", help="The root key file."),
    out: Path = typer.Option(..., "--out", help="Where to write the signed request."),
) -> None:
    """Sign a key request with the root key (runs where the root is; needs no node)."""
    from parley.directory.keys import load_root, sign_request

    signed = sign_request(load_root(root), read_json_file(request, "key request"))
    _write(out, signed.document)
    say(
        T(
            "signed {action} for {node}; install it with --apply {out}",
            action=signed.action,
            node=signed.node,
            out=out,
        )
    )


@key_app.command("history")
def history(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """This node's root key and every operational key it has had."""
    from parley.directory.keys import own_history

    hist = own_history(node_from(ctx))
    if hist is None:
        say(T("no root key yet: one key, not certified"))
        return
    rows = hist.describe()
    if as_json:
        print_json({"root_key_id": hist.root.key_id, "keys": rows})
        return
    say(T("root key {root_id}", root_id=hist.root.key_id))
    for r in rows:
        say(
            T(
                "key {key_id} from {valid_from} until {valid_until}{revoked}{current}",
                key_id=r["key_id"],
                valid_from=r["valid_from"],
                valid_until=r["valid_until"] or "-",
                revoked=T(", revoked from {at}", at=r["revoked_at"]) if r["revoked_at"] else "",
                current=T(" (current)") if r["current"] else "",
            )
        )
