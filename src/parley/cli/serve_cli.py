"""``parley serve``, ``parley status``, ``parley ack``, ``parley show``."""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path
from typing import Any

import typer
import uvicorn

from parley.cli.common import at, check_lang, label, node_from, print_json, say
from parley.formats.texts import N, T, cli_lang, speaking, text_from_json
from parley.watch.chains import target_label


def serve(
    ctx: typer.Context,
    tick: float = typer.Option(
        1.0, "--tick", help="Seconds between background checks (link tests, deadlines, polling)."
    ),
    log_level: str = typer.Option("warning", "--log-level"),
) -> None:
    """Serve the operator API, the federation API and the console; run background work.

    Refuses to start while this home's node is already running, or when its port is taken."""
    from parley.api.app import create_app
    from parley.api.connections import bounded_protocol
    from parley.node import TLS_CERT, TLS_KEY, parse_listen
    from parley.running.service import Service

    if not 0.01 <= tick <= 60:  # also false for nan, so nan and inf are refused here
        from parley.errors import UsageError

        raise UsageError(
            T("--tick {tick} is not between 0.01 and 60 seconds", tick=tick), hint=T("for example --tick 1")
        )
    node = node_from(ctx)
    host, port = parse_listen(node.config.node.listen)
    _refuse_if_running(node.home, node.name)
    # Bound before anything else starts, so a taken port is said plainly, and the port is
    # the lock between two starts racing past the pid-file check (no SO_REUSEPORT).
    sock = _bind(host, port)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    service = Service(node, tick_s=tick)
    app = create_app(service)
    limits = node.config.http
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
        # Bounds before the application sees a request (parley.api.connections: httptools,
        # with a head deadline and size); bodies are bounded by parley.api.limits.
        http=bounded_protocol(limits.header_timeout_s, limits.max_header_bytes),
        timeout_keep_alive=max(1, round(limits.keep_alive_s)),
        limit_concurrency=limits.max_connections,
    )
    from parley.directory.tls_rotation import finish_interrupted_switch

    finish_interrupted_switch(node.home)  # a certificate switch cut short (docs/protocol.md §13.7)

    def reload_tls() -> None:
        # The live context: new handshakes get the new certificate, open connections keep theirs.
        if config.ssl is not None:
            config.ssl.load_cert_chain(str(node.home / TLS_CERT), str(node.home / TLS_KEY))

    service.tls_reload = reload_tls
    from parley.node_running import remove_on_exit_signals, remove_pid_file, write_pid_file

    # So `parley status` can say whether the node runs (parley.node_running says why a file).
    write_pid_file(node.home, node.clock.now(), node.config.node.url)
    remove_on_exit_signals(node.home)
    try:
        _AnnouncingServer(config, f"{node.name} serving on {node.config.node.url}").run(sockets=[sock])
    finally:
        sock.close()
        remove_pid_file(node.home)


def _refuse_if_running(home: Path, name: str) -> None:
    """Refuse a second ``serve`` of one home: two would run every loop twice on one database."""
    from parley.clock import format_time
    from parley.errors import ConflictError
    from parley.node_running import serving

    s = serving(home)
    if s.running:
        since = "" if s.started_at is None else f" since {format_time(s.started_at)}"
        raise ConflictError(
            T(
                "{name} is already running (pid {s_pid}{since}, {s_url})",
                name=name,
                s_pid=s.pid,
                since=since,
                s_url=s.url or T("url unknown"),
            ),
            code="already_running",
            hint=T("stop that process first (kill {s_pid}), or serve another home with --home", s_pid=s.pid),
        )


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``; a usage error naming the cause if it cannot be."""
    from parley.errors import ConflictError, UsageError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # SO_REUSEADDR only lets a restart bind past the last run's TIME_WAIT connections; a
    # port another process listens on is still refused.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        fix = "or give this node another port: [node] listen in parley.toml"
        if exc.errno == errno.EADDRINUSE:
            raise ConflictError(
                T("port {port} on {host} is taken by another program", port=port, host=host),
                code="port_taken",
                hint=T("stop it (`ss -ltnp 'sport = :{port}'` shows which), {fix}", port=port, fix=fix),
            ) from None
        if exc.errno == errno.EACCES:
            raise UsageError(
                T("not permitted to listen on {where}", where=where),
                hint=T("use a port above 1023, {fix}", fix=fix),
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(
                T("{host} is not an address of this machine", host=host),
                hint=T("set [node] listen in parley.toml"),
            ) from None
        raise UsageError(
            T("cannot listen on {where}: {exc_strerror}", where=where, exc_strerror=exc.strerror),
            hint=T("check the address, {fix}", fix=fix),
        ) from None
    return sock


class _AnnouncingServer(uvicorn.Server):
    """Says "serving on" only once the socket accepts connections and startup succeeded."""

    def __init__(self, config: uvicorn.Config, line: str) -> None:
        super().__init__(config)
        self.line = line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            say(self.line, err=True)


def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    lang: str | None = typer.Option(
        None, "--lang", help="nb | ru | en: the language of the summary lines (default: parley --lang)."
    ),
) -> None:
    """Whether the node runs; links, outboxes, overdue acknowledgments, alarms, the record.

    Per peer and channel: link state and round trip (UP, DEGRADED, DOWN as docs/watch.md
    defines them), outbox depth; how far each peer's cosignature of the record is behind."""
    from parley.formats.catalogue import load_catalogue
    from parley.running.status import node_status, status_in

    lang = check_lang(lang) if lang else cli_lang()
    node = node_from(ctx)
    st = node_status(node)
    if as_json:
        print_json(st)
        return
    with speaking(lang):
        _status_lines(load_catalogue(lang), status_in(st, node, lang), lang)


def _status_lines(t: Any, st: dict[str, Any], lang: str) -> None:
    from parley.directory.parties import party_name

    party = party_name(str(st["party"] or ""), lang)
    say(T("{node} ({party}) at {time}", node=st["node"], party=party, time=at(st["time"])))
    _serving_line(t, st)
    for a in st["alarms"]:
        # The alarm's code stays in --json; the reader gets its severity and its sentence.
        say(
            T(
                "  ALARM [{severity}] {message}",
                severity=label("console.severity", a["severity"]),
                message=a.get("text") or a["message"],
            ),
            fg="red",
        )
    for p in st["peers"]:
        line = T(
            "  peer {peer}: outbox {depth}, oldest unreceipted {oldest}",
            peer=p["peer"],
            depth=p["outbox_depth"],
            oldest=at(p["oldest_unreceipted"]),
        )
        if p["last_error"]:
            line = T("{line}; last error: {error}", line=line, error=p["last_error"])
        say(line)
    for c in st["channels"]:
        rtt = T("{ms:.1f} ms", ms=c["last_rtt_ms"]) if c["last_rtt_ms"] is not None else "-"
        say(
            T(
                "  channel {channel} ({status}): link to {peer} {link}, round trip {rtt}",
                channel=c["channel"],
                status=label("console.chstatus", str(c["status"]).lower()),
                peer=c["peer"],
                link=label("console.link", c["link"]),
                rtt=rtt,
            )
        )
    for o in st["overdue"]:
        side = T("the peer has not acknowledged") if o["outgoing"] else T("NOT ACKNOWLEDGED HERE")
        say(
            T(
                "  OVERDUE {precedence} {type} {id}, due {due} — {side}",
                precedence=label("precedence", o["precedence"]),
                type=label("type", o["type"]),
                id=o["message_id"],
                due=at(o["due_at"]),
                side=side,
            ),
            fg="yellow",
        )
    rec = st.get("record")
    if rec:
        say("  " + t.get("status.cli.record_size", size=rec["log_size"]))
        for c in rec.get("cosignatures", []):
            key = "status.cli.cosigned_current" if c["behind"] == 0 else "status.cli.cosigned_behind"
            if c["size"] == 0 and c["log_size"] > 0:
                key = "status.cli.cosigned_never"
            say("    " + t.get(key, peer=c["peer"], size=c["size"], log_size=c["log_size"]))
        for peer, w in rec["witnessing"].items():
            say("  " + t.get("status.cli.witnessing", peer=peer, size=w["size"]))
    for m in st.get("meetings_overdue", []):
        say(
            T(
                "  MEETING OVERDUE on {channel}: {kind} ({level}) due {due}, {late}; last held {last}",
                channel=m["channel"],
                kind=m["kind"],
                level=m["level"],
                due=at(m["due"]),
                late=N("{n} day late", "{n} days late", int(m["days_overdue"])),
                last=at(m["last_held"]) if m["last_held"] else T("never"),
            ),
            fg="yellow",
        )
    if st["links_not_up"]:
        for link in st["links_not_up"]:
            state = t.get("console.link." + link["link"])
            line = t.get("status.cli.link_not_up", channel=link["channel"], peer=link["peer"], state=state)
            say("  " + line)
    elif st["channels"]:
        say("  " + t.get("status.cli.links_all_up"))
    for key, value in st.items():
        shown = ("node", "party", "time", "peers", "channels", "overdue", "alarms", "serving", "links_not_up")
        if key not in (*shown, "record", "meetings_overdue") and value:
            say(f"  {key}: {value}")


def _serving_line(t: Any, st: dict[str, Any]) -> None:
    """First thing said: whether this node runs, so stored state is not read as live."""
    s = st["serving"]
    started = (s["started_at"] or "?").replace("T", " ").split(".")[0]
    if s["running"]:
        say(t.get("status.cli.running", node=st["node"], url=s["url"] or "?", pid=s["pid"], started=started))
    elif s["crashed"]:
        line = t.get("status.cli.crashed", node=st["node"], pid=s["pid"] or "?", started=started)
        say(line, fg="red", bold=True)
    else:
        say(t.get("status.cli.not_running", node=st["node"]), fg="red", bold=True)
    if st.get("recovery"):
        say(
            T(
                "  RECOVERING: this node is taking its own chains back from its peers after a "
                "restore; it signs and sends nothing until that is done"
            ),
            fg="yellow",
            bold=True,
        )


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
        say(
            T(
                "acknowledged {message_id} as {operator} ({env_id})",
                message_id=message_id,
                operator=operator,
                env_id=env.id,
            )
        )


def show(
    ctx: typer.Context,
    message_id: str = typer.Argument(...),
    lang: str | None = typer.Option(
        None, "--lang", help="nb | ru | en: the message's language (default: parley --lang)."
    ),
    as_json: bool = typer.Option(False, "--json"),
    fmt: str = typer.Option(
        "text", "--format", help="text | cap (CAP 1.2 XML) | geojson (RFC 7946) | ical (RFC 5545)"
    ),
) -> None:
    """Show a message in the reader's language, with its receipts and acknowledgment."""
    from parley.errors import UsageError
    from parley.messaging.views import message_detail

    lang = check_lang(lang) if lang else cli_lang()
    if fmt not in ("text", "cap", "geojson", "ical"):
        raise UsageError(T("unknown format {fmt!r}", fmt=fmt), hint=T("choose text, cap, geojson or ical"))
    node = node_from(ctx)
    detail: dict[str, Any] = message_detail(node, message_id, lang)
    if fmt != "text":
        import json
        import sys

        from parley.formats import exports

        envelope = detail["wire"]["envelope"]
        if fmt == "cap":
            from parley.channels.registry import get_channel_txn

            # One <info> per language of the charter (the reader's first), each naming the
            # node that sent the message, as the charter names it in that language.
            with node.reader.connect() as conn:
                charter = get_channel_txn(conn, str(envelope["channel"])).charter
            langs = charter.export_languages(lang)
            sender_names = charter.node_names_in(str(envelope["sender"]["node"]), langs)
            sys.stdout.write(exports.to_cap(envelope, sender_names, langs=langs))
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
    with speaking(lang):
        _show_lines(detail)


def _show_lines(detail: dict[str, Any]) -> None:
    env = detail["wire"]["envelope"]
    body = env.get("body")
    if detail.get("rendered_text"):
        say(detail["rendered_text"])
    elif env["type"] == "acknowledgment" and isinstance(body, dict):
        # An acknowledgment has no form of its own: a sentence says what it confirms.
        say(
            T(
                "acknowledges message {message} for desk {desk}, by operator {operator}",
                message=str(body.get("message", "?")),
                desk=str(body.get("desk", "?")),
                operator=str(body.get("operator", "?")),
            )
        )
    else:
        say(f"{label('type', env['type'])}: {body}")
    say(
        T(
            "{id_label} {id}  seq {seq}  from {node}/{desk}",
            id_label=label("cli.show", "id"),
            id=env["id"],
            seq=env["seq"],
            node=env["sender"]["node"],
            desk=env["sender"]["desk"],
        )
    )
    for r in detail["receipts"]:
        say(
            T(
                "receipted by {receiver} at {at}, acknowledgment due {due}",
                receiver=r["receiver"],
                at=at(r["receipted_at"]),
                due=at(r["due_at"]),
            )
        )
    a = detail["acknowledgment"]
    if a:
        by = T(
            "acknowledged by {operator} ({node}/{desk}) at {at}",
            operator=a["operator"],
            node=a["node"],
            desk=a["desk"],
            at=at(a["at"]),
        )
        say(T("{line} — LATE", line=by) if a["late"] else by)
    elif env["type"] != "acknowledgment":
        say(T("not acknowledged yet"))
    for pg in detail.get("pages", []):  # the escalation (parley.watch.paging)
        lang = cli_lang()
        shown = {
            "state": label("page.console.state", pg["state"]),
            "medium": label("page.console.medium", pg["medium"]),
            "desk": pg["desk"],
            "target": target_label(str(pg["target"] or ""), lang),
            "due": at(pg["due_at"]),
        }
        if pg["recipient"]:
            page = T(
                "page {state}: {recipient} by {medium} (desk {desk}, {target}, due {due})",
                recipient=pg["recipient"],
                **shown,
            )
        else:
            page = T("page {state}: by {medium} (desk {desk}, {target}, due {due})", **shown)
        if pg["last_error"] and pg["state"] != "sent":
            error = text_from_json(pg["last_error_text"]) if pg.get("last_error_text") else pg["last_error"]
            page = T("{line} — {error}", line=page, error=error)
        say(page)
