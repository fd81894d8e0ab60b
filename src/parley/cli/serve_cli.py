"""``parley serve``, ``parley status``, ``parley ack``, ``parley show``."""

from __future__ import annotations

import logging
from typing import Any

import typer

from parley.cli.common import node_from, print_json


def serve(
    ctx: typer.Context,
    tick: float = typer.Option(
        1.0, "--tick", help="Seconds between background checks (link tests, deadlines, polling)."
    ),
    log_level: str = typer.Option("warning", "--log-level"),
) -> None:
    """Serve the operator API, the federation API and the console; run background work."""
    import uvicorn

    from parley.api.app import create_app
    from parley.node import TLS_CERT, TLS_KEY, parse_listen
    from parley.service import Service

    node = node_from(ctx)
    host, port = parse_listen(node.config.node.listen)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    service = Service(node, tick_s=tick)
    app = create_app(service)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(node.home / TLS_CERT),
        ssl_keyfile=str(node.home / TLS_KEY),
        log_level=log_level,
        access_log=False,
        lifespan="on",
        # Peers keep connections alive; a shutdown should not wait for them to hang up.
        timeout_graceful_shutdown=3,
    )
    typer.echo(f"{node.name} serving on {node.config.node.url}", err=True)
    uvicorn.Server(config).run()


def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Per peer and channel: link state, round trip, outbox, overdue acknowledgments, alarms."""
    from parley.status import node_status

    st = node_status(node_from(ctx))
    if as_json:
        print_json(st)
        return
    typer.echo(f"{st['node']} ({st['party']}) at {st['time']:%Y-%m-%d %H:%M:%S} UTC")
    for a in st["alarms"]:
        typer.secho(f"  ALARM [{a['severity']}] {a['kind']}: {a['message']}", fg="red")
    for p in st["peers"]:
        err = f"  last error: {p['last_error']}" if p["last_error"] else ""
        typer.echo(
            f"  peer {p['peer']:20} outbox {p['outbox_depth']:6}  "
            f"oldest unreceipted {p['oldest_unreceipted'] or '-'}{err}"
        )
    for c in st["channels"]:
        rtt = f"{c['last_rtt_ms']:.1f} ms" if c["last_rtt_ms"] is not None else "-"
        typer.echo(
            f"  channel {c['channel']:24} {c['status']:10} link to {c['peer']}: {c['link']:9} rtt {rtt}"
        )
    for o in st["overdue"]:
        side = "peer has not acknowledged" if o["outgoing"] else "NOT ACKNOWLEDGED HERE"
        typer.secho(
            f"  OVERDUE {o['precedence']} {o['type']} {o['message_id']} due {o['due_at']} — {side}",
            fg="yellow",
        )
    rec = st.get("record")
    if rec:
        cosigned = ", ".join(f"{p} at size {n}" for p, n in rec["cosigned_by"].items()) or "nobody yet"
        typer.echo(f"  record: {rec['log_size']} entries; latest checkpoints cosigned by {cosigned}")
        for peer, w in rec["witnessing"].items():
            typer.echo(f"  witnessing {peer}: checkpoint size {w['size']} verified and cosigned")
    for m in st.get("meetings_overdue", []):
        typer.secho(
            f"  MEETING OVERDUE on {m['channel']}: {m['kind']} ({m['level']}) due {m['due']}, "
            f"{m['days_overdue']} days late; last held {m['last_held'] or 'never'}",
            fg="yellow",
        )
    for key, value in st.items():
        shown = ("node", "party", "time", "peers", "channels", "overdue", "alarms")
        if key not in (*shown, "record", "meetings_overdue") and value:
            typer.echo(f"  {key}: {value}")


def ack(
    ctx: typer.Context,
    message_id: str = typer.Argument(...),
    operator: str = typer.Option(..., "--operator", help="Who read and understood it."),
    desk: str = typer.Option("", "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Acknowledge a received message on behalf of a named operator."""
    from parley.directory.operators import get_operator
    from parley.messaging.acknowledge import do_acknowledge

    node = node_from(ctx)
    env = do_acknowledge(node, message_id, get_operator(node, operator), desk or None)
    if as_json:
        print_json({"id": env.id, "acknowledges": message_id})
    else:
        typer.echo(f"acknowledged {message_id} as {operator} ({env.id})")


def show(
    ctx: typer.Context,
    message_id: str = typer.Argument(...),
    lang: str = typer.Option("en", "--lang", help="nb | ru | en"),
    as_json: bool = typer.Option(False, "--json"),
    fmt: str = typer.Option(
        "text", "--format", help="text | cap (CAP 1.2 XML) | geojson (RFC 7946) | ical (RFC 5545)"
    ),
) -> None:
    """Show a message in the reader's language, with its receipts and acknowledgment."""
    from parley.errors import UsageError
    from parley.messaging.views import message_detail

    if lang not in ("nb", "ru", "en"):
        raise UsageError(f"unknown language {lang!r}", hint="choose nb, ru or en")
    if fmt not in ("text", "cap", "geojson", "ical"):
        raise UsageError(f"unknown format {fmt!r}", hint="choose text, cap, geojson or ical")
    node = node_from(ctx)
    detail: dict[str, Any] = message_detail(node, message_id, lang)
    if fmt != "text":
        import json
        import sys

        from parley.formats import exports

        envelope = detail["wire"]["envelope"]
        if fmt == "cap":
            sys.stdout.write(exports.to_cap(envelope, node.name, langs=(lang,)))
        elif fmt == "geojson":
            sys.stdout.write(
                json.dumps(exports.to_geojson(envelope, lang=lang), ensure_ascii=False, indent=2) + "\n"
            )
        else:
            sys.stdout.write(exports.to_ical(envelope, lang=lang).decode())
        return
    if as_json:
        print_json(detail)
        return
    env = detail["wire"]["envelope"]
    typer.echo(detail.get("rendered_text") or f"{env['type']}: {env['body']}")
    typer.echo(f"id {env['id']}  seq {env['seq']}  from {env['sender']['node']}/{env['sender']['desk']}")
    for r in detail["receipts"]:
        typer.echo(f"receipted by {r['receiver']} at {r['receipted_at']}, acknowledgment due {r['due_at']}")
    a = detail["acknowledgment"]
    if a:
        typer.echo(
            f"acknowledged by {a['operator']} ({a['node']}/{a['desk']}) at {a['at']}"
            + (" — LATE" if a["late"] else "")
        )
    elif env["type"] != "acknowledgment":
        typer.echo("not acknowledged yet")
