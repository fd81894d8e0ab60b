"""Commands for the workflows: incidents, meetings, relationships, drills, contact reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from parley.cli.common import node_from, print_json
from parley.errors import UsageError

incident_app = typer.Typer(
    help="Incidents: reported, answered and closed by signed messages.", no_args_is_help=True
)
meeting_app = typer.Typer(help="Meetings, their agendas and co-signed protocols.", no_args_is_help=True)
relationship_app = typer.Typer(
    help="Every channel with one peer at once (suspend, resume, …).", no_args_is_help=True
)
drill_app = typer.Typer(help="Drills: a TEST FLASH message to the other side's duty desk, measured.")

LANG_OPTION = typer.Option("en", "--lang", help="Language of --text: nb, ru, en (or another tag).")


def _lang(lang: str) -> str:
    import re

    if not re.match(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", lang):
        raise UsageError(f"--lang {lang!r} is not a language tag", hint="e.g. nb, ru or en")
    return lang


def _body(path: Path) -> dict[str, Any]:
    from parley.cli.message_cli import _read_body

    return _read_body(path)


# --- incidents --------------------------------------------------------------------------


def _incident_line(s: Any) -> str:
    drill = f" [{s.status}]" if s.drill else ""
    closed = f" closed {s.closed_at}" if s.closed_at else ""
    outcome = f" ({s.outcome})" if s.outcome else ""
    return f"{s.opened_at}  {s.id}  {s.channel:20} {s.type:17} {s.phase}{outcome}{closed}{drill}"


@incident_app.command("list")
def incident_list(
    ctx: typer.Context,
    channel: str | None = typer.Option(None, "--channel"),
    open_only: bool = typer.Option(False, "--open", help="Only incidents not yet closed."),
    drills: bool = typer.Option(False, "--drills", help="Include drill-marked (EXERCISE) incidents."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List incidents, oldest first (real ones; --drills adds exercise incidents)."""
    from parley.workflows.incidents import list_incidents

    items = list_incidents(node_from(ctx), channel=channel, open_only=open_only, drills=drills)
    if as_json:
        print_json([s.to_json() for s in items])
        return
    if not items:
        typer.echo("no incidents")
    for s in items:
        typer.echo(_incident_line(s))


@incident_app.command("show")
def incident_show(ctx: typer.Context, incident: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show an incident's state and every step on record."""
    from parley.workflows.incidents import get_incident

    s = get_incident(node_from(ctx), incident)
    if as_json:
        print_json(s.to_json())
        return
    if s.drill:
        typer.secho(f"*** {s.status}: drill traffic, not a real incident ***", fg="red")
    typer.echo(
        f"incident {s.id} on {s.channel}: {s.type}, opened by {s.opened_by}/{s.opened_desk} at {s.opened_at}"
    )
    typer.echo(f"  phase        {s.phase}" + (f" ({s.outcome})" if s.outcome else ""))
    for node, at in sorted(s.receipts.items()):
        typer.echo(f"  receipted    by {node} at {at}")
    for node, a in sorted(s.acknowledgments.items()):
        typer.echo(f"  acknowledged by {a['operator']} ({node}) at {a['at']}")
    if s.open_requests:
        typer.echo(f"  open requests for information: {', '.join(s.open_requests)}")
    if s.joint_investigation:
        typer.echo(f"  joint investigation {s.joint_investigation}")
    if s.pending_closure:
        typer.echo(f"  closure proposed by {s.pending_closure['node']} ({s.pending_closure['id']})")
    for node, p in sorted(s.positions.items()):
        typer.echo(f"  position of {node}: {p['text']} [{p['lang']}]")
    for step in s.steps:
        mark = "" if step.applied else f"  (not applied: {step.note})"
        acks = "".join(f"  ack {a['operator']}" for a in step.acknowledged.values())
        typer.echo(f"  {step.at}  {step.node:12} {step.action:28} {step.text} [{step.lang}]{acks}{mark}")


def _respond(
    ctx: typer.Context,
    incident: str,
    action: str,
    text: str,
    lang: str,
    desk: str | None,
    as_json: bool,
) -> None:
    from parley.workflows.incidents import do_respond_incident

    env = do_respond_incident(node_from(ctx), incident, action, text, lang=_lang(lang), desk=desk)
    if as_json:
        print_json({"id": env.id, "incident": incident, "action": action})
    else:
        typer.echo(f"{action} sent on incident {incident} ({env.id})")


@incident_app.command("respond")
def incident_respond(
    ctx: typer.Context,
    incident: str,
    action: str = typer.Option(
        ...,
        "--action",
        help="request-information | provide-information | propose-joint-investigation | "
        "agree-joint-investigation | close",
    ),
    text: str = typer.Option(..., "--text"),
    lang: str = LANG_OPTION,
    desk: str | None = typer.Option(None, "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Take a step on an incident (a signed incident-response message)."""
    _respond(ctx, incident, action, text, lang, desk, as_json)


@incident_app.command("propose-closure")
def incident_propose_closure(
    ctx: typer.Context,
    incident: str,
    text: str = typer.Option(..., "--text", help="The proposed conclusion."),
    lang: str = LANG_OPTION,
    desk: str | None = typer.Option(None, "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Propose to close an incident with the conclusion given."""
    _respond(ctx, incident, "propose-closure", text, lang, desk, as_json)


@incident_app.command("agree-closure")
def incident_agree_closure(
    ctx: typer.Context,
    incident: str,
    text: str = typer.Option("Closure agreed.", "--text"),
    lang: str = LANG_OPTION,
    desk: str | None = typer.Option(None, "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Agree to the other side's pending closure proposal: the incident is resolved."""
    _respond(ctx, incident, "agree-closure", text, lang, desk, as_json)


@incident_app.command("dispute")
def incident_dispute(
    ctx: typer.Context,
    incident: str,
    text: str = typer.Option(..., "--text", help="This side's position, for the record."),
    lang: str = LANG_OPTION,
    desk: str | None = typer.Option(None, "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Dispute the incident (or a pending closure); this side's position is recorded."""
    _respond(ctx, incident, "dispute", text, lang, desk, as_json)


@incident_app.command("close")
def incident_close(
    ctx: typer.Context,
    incident: str,
    text: str = typer.Option("Incident closed.", "--text"),
    lang: str = LANG_OPTION,
    desk: str | None = typer.Option(None, "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Close an incident that is resolved by agreement or disputed."""
    _respond(ctx, incident, "close", text, lang, desk, as_json)


@incident_app.command("rebuild")
def incident_rebuild(ctx: typer.Context) -> None:
    """Recompute incidents and meetings from the stored envelopes."""
    from parley.workflows.projection import rebuild_workflows

    counts = rebuild_workflows(node_from(ctx))
    typer.echo(f"rebuilt {counts['incidents']} incidents and {counts['meetings']} meetings from the record")


# --- meetings ---------------------------------------------------------------------------


def _meeting_line(m: Any) -> str:
    drill = f" [{m.status}]" if m.drill else ""
    held = f" held {m.held_at}" if m.held_at else ""
    return f"{m.start}  {m.meeting_id:28} {m.channel:20} {m.level:13} {m.phase}{held}{drill}"


@meeting_app.command("list")
def meeting_list(
    ctx: typer.Context,
    channel: str | None = typer.Option(None, "--channel"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List meetings by start time."""
    from parley.workflows.meetings import list_meetings

    items = list_meetings(node_from(ctx), channel)
    if as_json:
        print_json([m.to_json() for m in items])
        return
    if not items:
        typer.echo("no meetings")
    for m in items:
        typer.echo(_meeting_line(m))


@meeting_app.command("show")
def meeting_show(
    ctx: typer.Context,
    meeting: str,
    channel: str | None = typer.Option(None, "--channel"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a meeting: proposals, acceptance, protocol drafts and signatures."""
    from parley.workflows.meetings import get_meeting

    m = get_meeting(node_from(ctx), meeting, channel)
    if as_json:
        print_json(m.to_json())
        return
    if m.drill:
        typer.secho(f"*** {m.status}: drill traffic ***", fg="red")
    p = m.proposal
    typer.echo(f"meeting {m.meeting_id} on {m.channel}: {m.phase}")
    typer.echo(f"  {p['start']} – {p['end']} at {p['place']['name']}, level {p['level']}")
    if m.prepares:
        typer.echo(f"  prepares {m.prepares}")
    for item in p["agenda"]:
        refs = f" (refs {', '.join(item['refs'])})" if item.get("refs") else ""
        typer.echo(f"  {item['item_id']:>5}. [{item['topic']}] {item['title']['text']}{refs}")
    for prop in m.proposals:
        kind = "counter-proposal" if prop["counter_to"] else "proposal"
        typer.echo(f"  {prop['at']}  {kind} {prop['id']} by {prop['node']}")
    if m.accepted:
        typer.echo(f"  {m.accepted['at']}  accepted by {m.accepted['node']}")
    for d in m.drafts:
        signers = ", ".join(sorted(m.signatures.get(d["hash"], {}))) or "nobody yet"
        typer.echo(f"  {d['at']}  protocol draft {d['id']} by {d['node']} {d['hash']} signed by {signers}")
    if m.agreed:
        typer.echo(f"  protocol AGREED: {m.agreed['protocol']} ({m.agreed['hash']})")
    for i in m.ignored:
        typer.echo(f"  not applied: {i['id']} from {i['node']}: {i['note']}")


@meeting_app.command("propose")
def meeting_propose(
    ctx: typer.Context,
    body_file: Annotated[
        Path,
        typer.Option(
            "--body-file",
            help="A meeting-proposal body (JSON or TOML); see `parley meeting agenda`.",
        ),
    ],
    channel: str = typer.Option(..., "--channel"),
    status: str = typer.Option("ACTUAL", "--status", help="ACTUAL | EXERCISE | TEST"),
    desk: str | None = typer.Option(None, "--desk"),
) -> None:
    """Propose a meeting: time, place, level, delegations, agenda within the charter's topics."""
    from parley.workflows.meetings import do_propose_meeting

    env = do_propose_meeting(node_from(ctx), channel, _body(body_file), status=status.upper(), desk=desk)
    typer.echo(f"proposed meeting {env.body['meeting_id']} ({env.id})")


@meeting_app.command("counter")
def meeting_counter(
    ctx: typer.Context,
    meeting: str,
    body_file: Annotated[
        Path,
        typer.Option("--body-file", help="The counter-proposal's body; counter_to is filled in."),
    ],
    channel: str | None = typer.Option(None, "--channel"),
    desk: str | None = typer.Option(None, "--desk"),
) -> None:
    """Counter-propose: a new proposal answering the current one."""
    from parley.workflows.meetings import do_counter_meeting

    env = do_counter_meeting(node_from(ctx), meeting, _body(body_file), channel=channel, desk=desk)
    typer.echo(f"counter-proposed meeting {meeting} ({env.id}, answering {env.body['counter_to']})")


@meeting_app.command("accept")
def meeting_accept(
    ctx: typer.Context,
    meeting: str,
    note: str = typer.Option("", "--note"),
    lang: str = LANG_OPTION,
    channel: str | None = typer.Option(None, "--channel"),
    desk: str | None = typer.Option(None, "--desk"),
) -> None:
    """Accept the current proposal of a meeting as proposed."""
    from parley.workflows.meetings import do_accept_meeting

    env = do_accept_meeting(node_from(ctx), meeting, note=note, lang=_lang(lang), channel=channel, desk=desk)
    typer.echo(f"accepted meeting {meeting} (proposal {env.body['proposal']})")


@meeting_app.command("protocol")
def meeting_protocol(
    ctx: typer.Context,
    meeting: str,
    body_file: Annotated[Path, typer.Option("--body-file", help="A meeting-protocol body (JSON or TOML).")],
    channel: str | None = typer.Option(None, "--channel"),
    desk: str | None = typer.Option(None, "--desk"),
) -> None:
    """Draft the protocol of a held meeting, or amend the latest draft."""
    from parley.workflows.meetings import body_hash, do_draft_protocol

    env = do_draft_protocol(node_from(ctx), meeting, _body(body_file), channel=channel, desk=desk)
    typer.echo(f"protocol draft {env.id} for {meeting}: {body_hash(env.body)}")


@meeting_app.command("sign")
def meeting_sign(
    ctx: typer.Context,
    meeting: str,
    channel: str | None = typer.Option(None, "--channel"),
    desk: str | None = typer.Option(None, "--desk"),
) -> None:
    """Sign the latest protocol draft; agreed once every member node signed the same bytes."""
    from parley.workflows.meetings import do_sign_protocol, get_meeting

    node = node_from(ctx)
    env = do_sign_protocol(node, meeting, channel=channel, desk=desk)
    state = get_meeting(node, meeting, channel)
    done = "the protocol is AGREED" if state.agreed else "waiting for the other side's signature"
    typer.echo(f"signed protocol {env.body['protocol']} ({env.body['protocol_hash']}); {done}")


@meeting_app.command("agenda")
def meeting_agenda(ctx: typer.Context, channel: str = typer.Option(..., "--channel")) -> None:
    """Print the carried-over agenda items (open action items) for the next meeting, as JSON."""
    from parley.workflows.meetings import draft_agenda, list_meetings

    print_json(draft_agenda(list_meetings(node_from(ctx), channel), channel))


@meeting_app.command("ical")
def meeting_ical_command(
    ctx: typer.Context,
    meeting: str,
    out: Annotated[Path, typer.Option("--out", help="Where to write the .ics file.")],
    lang: str = typer.Option("en", "--lang", help="nb | ru | en"),
    channel: str | None = typer.Option(None, "--channel"),
) -> None:
    """Export the meeting as iCalendar (RFC 5545)."""
    from parley.workflows.meetings import get_meeting, meeting_ical

    if lang not in ("nb", "ru", "en"):
        raise UsageError(f"unknown language {lang!r}", hint="choose nb, ru or en")
    node = node_from(ctx)
    out.write_bytes(meeting_ical(node, get_meeting(node, meeting, channel), lang))
    typer.echo(f"wrote {out}")


@meeting_app.command("render")
def meeting_render(
    ctx: typer.Context,
    meeting: str,
    out: Annotated[Path, typer.Option("--out", help="Where to write the HTML document.")],
    channel: str | None = typer.Option(None, "--channel"),
) -> None:
    """Write the protocol as one HTML document with nb, ru and en side by side (prints on A4)."""
    from parley.workflows.meetings import get_meeting
    from parley.workflows.protocol_doc import render_protocol_html

    node = node_from(ctx)
    out.write_text(render_protocol_html(node, get_meeting(node, meeting, channel)), encoding="utf-8")
    typer.echo(f"wrote {out}")


# --- relationships ----------------------------------------------------------------------


def _relationship(
    ctx: typer.Context,
    action: str,
    peer: str,
    reason: str,
    exempt_channel: list[str] | None,
    exempt_type: list[str] | None,
    dry_run: bool,
) -> None:
    from parley.workflows.relationship import do_change_relationship, plan_relationship_change

    node = node_from(ctx)
    if dry_run:
        changes, kept = plan_relationship_change(
            node, action, peer, exempt_channels=exempt_channel, exempt_types=exempt_type
        )
        for c in changes:
            ex = f" (exempt types: {', '.join(c.exempt_types)})" if c.exempt_types else ""
            typer.echo(f"would change {c.channel}: {c.before} → {c.after}{ex}")
        for k in kept:
            typer.echo(f"unchanged   {k}")
        return
    records = do_change_relationship(
        node, action, peer, reason, exempt_channels=exempt_channel, exempt_types=exempt_type
    )
    for r in records:
        ex = f" (exempt types: {', '.join(r.exempt_types)})" if r.exempt_types else ""
        typer.echo(f"channel {r.channel} is now {r.status}{ex} (record {r.id})")


REASON = typer.Option("", "--reason", help="Why; signed into every status record.")
DRY_RUN = typer.Option(False, "--dry-run", help="Show what would change; sign nothing.")
ExemptTypes = Annotated[
    list[str] | None,
    typer.Option("--exempt-type", help="A message type that keeps flowing (repeatable)."),
]


@relationship_app.command("suspend")
def relationship_suspend(
    ctx: typer.Context,
    peer: str = typer.Option(..., "--peer"),
    reason: str = REASON,
    exempt_channel: Annotated[
        list[str] | None,
        typer.Option("--exempt-channel", help="A channel left as it is (repeatable)."),
    ] = None,
    exempt_type: ExemptTypes = None,
    dry_run: bool = DRY_RUN,
) -> None:
    """Suspend every channel with a peer except the exempt channels."""
    _relationship(ctx, "suspend", peer, reason, exempt_channel, exempt_type, dry_run)


@relationship_app.command("resume")
def relationship_resume(
    ctx: typer.Context,
    peer: str = typer.Option(..., "--peer"),
    reason: str = REASON,
    exempt_channel: Annotated[
        list[str] | None,
        typer.Option("--exempt-channel", help="A channel left suspended (repeatable)."),
    ] = None,
    dry_run: bool = DRY_RUN,
) -> None:
    """Resume every suspended channel with a peer."""
    _relationship(ctx, "resume", peer, reason, exempt_channel, [], dry_run)


@relationship_app.command("activate")
def relationship_activate(
    ctx: typer.Context,
    peer: str = typer.Option(..., "--peer"),
    reason: str = REASON,
    dry_run: bool = DRY_RUN,
) -> None:
    """Activate every planned channel with a peer."""
    _relationship(ctx, "activate", peer, reason, [], [], dry_run)


@relationship_app.command("close")
def relationship_close(
    ctx: typer.Context,
    peer: str = typer.Option(..., "--peer"),
    reason: str = REASON,
    exempt_channel: Annotated[
        list[str] | None, typer.Option("--exempt-channel", help="A channel left open (repeatable).")
    ] = None,
    dry_run: bool = DRY_RUN,
) -> None:
    """Close every channel with a peer (for good) except the exempt channels."""
    _relationship(ctx, "close", peer, reason, exempt_channel, [], dry_run)


@relationship_app.command("show")
def relationship_show(
    ctx: typer.Context,
    peer: str = typer.Option(..., "--peer"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every channel with a peer, its status, and the status history of all of them."""
    from parley.workflows.relationship import channels_with, relationship_history

    node = node_from(ctx)
    chans = channels_with(node, peer)
    hist = relationship_history(node, peer)
    if as_json:
        print_json({"channels": [c.to_json() for c in chans], "history": [h.to_json() for h in hist]})
        return
    for c in chans:
        ex = f" (exempt: {', '.join(c.exempt_types)})" if c.exempt_types else ""
        typer.echo(f"{c.id:28} {c.status}{ex}")
    for h in hist:
        typer.echo(f"  {h.effective}  {h.channel:24} {h.status:10} by {h.signer}: {h.reason}")


# --- drills -----------------------------------------------------------------------------


@drill_app.callback(invoke_without_command=True)
def drill(
    ctx: typer.Context,
    channel: str | None = typer.Option(None, "--channel", help="The channel to drill."),
    wait: float = typer.Option(
        0.0, "--wait", help="Seconds to wait for the acknowledgment before reporting."
    ),
    desk: str | None = typer.Option(None, "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run a drill: a TEST FLASH message to the other side's duty desk; report the times."""
    if ctx.invoked_subcommand is not None:
        return
    if channel is None:
        raise UsageError("which channel should be drilled?", hint="pass --channel CHANNEL")
    if not 0 <= wait <= 3600:
        raise UsageError("--wait is between 0 and 3600 seconds")
    from parley.workflows.drills import do_start_drill, wait_for_ack

    node = node_from(ctx)
    drill_id = do_start_drill(node, channel, desk=desk)
    report = wait_for_ack(node, drill_id, wait)
    if as_json:
        print_json(report.to_json())
        return
    typer.echo(f"drill {drill_id} sent (TEST, FLASH) on {channel}")
    typer.echo(report.to_text(), nl=False)


@drill_app.command("report")
def drill_report_command(
    ctx: typer.Context,
    drill_id: str,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the report to this file.")] = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The after-action report of a drill: time to receipt and to acknowledgment."""
    from parley.workflows.drills import drill_report

    report = drill_report(node_from(ctx), drill_id)
    text = report.to_text()
    if out is not None:
        out.write_text(text, encoding="utf-8")
    if as_json:
        print_json(report.to_json())
    else:
        typer.echo(text, nl=False)


@drill_app.command("list")
def drill_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Drills run from this node, oldest first."""
    from parley.workflows.drills import list_drills

    items = list_drills(node_from(ctx))
    if as_json:
        print_json([d.to_json() for d in items])
        return
    if not items:
        typer.echo("no drills yet: run `parley drill --channel CHANNEL`")
    for d in items:
        ack = "-" if d.ack_s is None else f"{d.ack_s:.1f} s"
        verdict = {True: "met", False: "MISSED", None: "running"}[d.met_deadline]
        typer.echo(f"[TEST] {d.started_at}  {d.id}  {d.channel:20} ack {ack:>9}  {verdict}")


# --- contact statistics -------------------------------------------------------------------


def report_command(
    ctx: typer.Context,
    first: int = typer.Option(..., "--from", help="First year."),
    last: int = typer.Option(..., "--to", help="Last year."),
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the table as CSV.")] = None,
    chart: Annotated[Path | None, typer.Option("--chart", help="Write a chart (.png or .svg).")] = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Contact statistics per channel and year: meetings, messages, incidents, acks, uptime."""
    from parley.workflows.report import contact_report, to_csv, to_table, write_chart

    if chart is not None and chart.suffix.lower() not in (".png", ".svg"):
        raise UsageError(
            f"{chart}: a chart is written as .png or .svg", hint="name the file e.g. contacts.svg"
        )
    rows = contact_report(node_from(ctx), first, last)
    if csv_out is not None:
        csv_out.write_text(to_csv(rows), encoding="utf-8")
    if chart is not None:
        write_chart(rows, chart)
    if as_json:
        print_json([r.to_json() for r in rows])
    else:
        typer.echo(to_table(rows), nl=False)
