"""Commands for the workflows: incidents, meetings, relationships, drills, contact reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from parley.cli.common import at, check_lang, label, node_from, print_json, say
from parley.errors import UsageError
from parley.formats.texts import T, Text, cli_lang, render

incident_app = typer.Typer(
    help="Incidents: reported, answered and closed by signed messages.", no_args_is_help=True
)
meeting_app = typer.Typer(help="Meetings, their agendas and co-signed protocols.", no_args_is_help=True)
relationship_app = typer.Typer(
    help="Every channel with one peer at once (suspend, resume, …).", no_args_is_help=True
)
drill_app = typer.Typer(help="Drills: a TEST FLASH message to the other side's duty desk, measured.")

LANG_OPTION = typer.Option(
    None, "--lang", help="Language of --text: nb, ru or en (default: the command line's, parley --lang)."
)


def _lang(lang: str | None) -> str:
    """The language tag of the words sent: --lang (nb, ru or en), else the command line's."""
    return check_lang(lang) if lang else cli_lang()


def _body(path: Path) -> dict[str, Any]:
    from parley.cli.message_cli import _read_body

    return _read_body(path)


# --- incidents --------------------------------------------------------------------------


def _incident_line(s: Any) -> str:
    line = f"{at(s.opened_at)}  {s.id}  {s.channel:20} {label('type', s.type):17} "
    line += label("console.iphase", s.phase)
    if s.outcome:
        line += f" ({label('console.iphase', s.outcome)})"
    if s.closed_at:
        line += " " + render(T("closed {at}", at=at(s.closed_at)), cli_lang())
    if s.drill:
        line += f" [{label('banner.short', s.status)}]"
    return line


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
        say(T("no incidents"))
    for s in items:
        say(_incident_line(s))


@incident_app.command("show")
def incident_show(ctx: typer.Context, incident: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show an incident's state and every step on record."""
    from parley.workflows.incidents import get_incident

    s = get_incident(node_from(ctx), incident)
    if as_json:
        print_json(s.to_json())
        return
    if s.drill:
        say(
            T(
                "*** {s_status}: drill traffic, not a real incident ***",
                s_status=label("banner.short", s.status),
            ),
            fg="red",
        )
    say(
        T(
            "incident {s_id} on {s_channel}: {s_type}, "
            "opened by {s_opened_by}/{s_opened_desk} at {s_opened_at}",
            s_id=s.id,
            s_channel=s.channel,
            s_type=label("type", s.type),
            s_opened_by=s.opened_by,
            s_opened_desk=s.opened_desk,
            s_opened_at=at(s.opened_at),
        )
    )
    outcome = f" ({label('console.iphase', s.outcome)})" if s.outcome else ""
    say(T("  phase        {s_phase}{outcome}", s_phase=label("console.iphase", s.phase), outcome=outcome))
    for node, when in sorted(s.receipts.items()):
        say(T("  receipted    by {node} at {at}", node=node, at=at(when)))
    for node, a in sorted(s.acknowledgments.items()):
        say(
            T(
                "  acknowledged by {a_operator} ({node}) at {a_at}",
                a_operator=a["operator"],
                node=node,
                a_at=at(a["at"]),
            )
        )
    if s.open_requests:
        say(
            T(
                "  open requests for information: {s_open_requests}",
                s_open_requests=list(s.open_requests),
            )
        )
    if s.joint_investigation:
        say(T("  joint investigation {s_joint_investigation}", s_joint_investigation=s.joint_investigation))
    if s.pending_closure:
        say(
            T(
                "  closure proposed by {s_pending_closure_node} ({s_pending_closure_id})",
                s_pending_closure_node=s.pending_closure["node"],
                s_pending_closure_id=s.pending_closure["id"],
            )
        )
    for node, p in sorted(s.positions.items()):
        say(T("  position of {node}: {p_text} [{p_lang}]", node=node, p_text=p["text"], p_lang=p["lang"]))
    for step in s.steps:
        action = label("enum.incident-response.action", step.action)
        line: Text | str = f"  {at(step.at)}  {step.node:12} {action:28} {step.text} [{step.lang}]"
        for a in step.acknowledged.values():
            line = T("{line}  acknowledged by {operator}", line=line, operator=a["operator"])
        if not step.applied:
            line = T("{line}  (not applied: {note})", line=line, note=step.note)
        say(line)


def _respond(
    ctx: typer.Context,
    incident: str,
    action: str,
    text: str | Text,
    lang: str | None,
    desk: str | None,
    as_json: bool,
) -> None:
    from parley.workflows.incidents import do_respond_incident

    # A default text ("Closure agreed.") is written in the sender's language, tagged as such.
    tag = _lang(lang)
    words = render(text, tag)
    env = do_respond_incident(node_from(ctx), incident, action, words, lang=tag, desk=desk)
    if as_json:
        print_json({"id": env.id, "incident": incident, "action": action})
    else:
        say(
            T(
                "{action} sent on incident {incident} ({env_id})",
                action=label("enum.incident-response.action", action),
                incident=incident,
                env_id=env.id,
            )
        )


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
    lang: str | None = LANG_OPTION,
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
    lang: str | None = LANG_OPTION,
    desk: str | None = typer.Option(None, "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Propose to close an incident with the conclusion given."""
    _respond(ctx, incident, "propose-closure", text, lang, desk, as_json)


@incident_app.command("agree-closure")
def incident_agree_closure(
    ctx: typer.Context,
    incident: str,
    text: str | None = typer.Option(
        None, "--text", help='What to say (default: "Closure agreed." in the --lang language).'
    ),
    lang: str | None = LANG_OPTION,
    desk: str | None = typer.Option(None, "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Agree to the other side's pending closure proposal: the incident is resolved."""
    _respond(ctx, incident, "agree-closure", text or T("Closure agreed."), lang, desk, as_json)


@incident_app.command("dispute")
def incident_dispute(
    ctx: typer.Context,
    incident: str,
    text: str = typer.Option(..., "--text", help="This side's position, for the record."),
    lang: str | None = LANG_OPTION,
    desk: str | None = typer.Option(None, "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Dispute the incident (or a pending closure); this side's position is recorded."""
    _respond(ctx, incident, "dispute", text, lang, desk, as_json)


@incident_app.command("close")
def incident_close(
    ctx: typer.Context,
    incident: str,
    text: str | None = typer.Option(
        None, "--text", help='What to say (default: "Incident closed." in the --lang language).'
    ),
    lang: str | None = LANG_OPTION,
    desk: str | None = typer.Option(None, "--desk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Close an incident that is resolved by agreement or disputed."""
    _respond(ctx, incident, "close", text or T("Incident closed."), lang, desk, as_json)


@incident_app.command("rebuild")
def incident_rebuild(ctx: typer.Context) -> None:
    """Recompute incidents and meetings from the stored envelopes."""
    from parley.workflows.projection import rebuild_workflows

    counts = rebuild_workflows(node_from(ctx))
    say(
        T(
            "rebuilt {counts_incidents} incidents and {counts_meetings} meetings from the record",
            counts_incidents=counts["incidents"],
            counts_meetings=counts["meetings"],
        )
    )


# --- meetings ---------------------------------------------------------------------------


def _meeting_line(m: Any) -> str:
    level = label("enum.meeting-proposal.level", m.level)
    line = f"{at(m.start)}  {m.meeting_id:28} {m.channel:20} {level:13} {label('console.mphase', m.phase)}"
    if m.held_at:
        line += " " + render(T("held {at}", at=at(m.held_at)), cli_lang())
    if m.drill:
        line += f" [{label('banner.short', m.status)}]"
    return line


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
        say(T("no meetings"))
    for m in items:
        say(_meeting_line(m))


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
        say(T("*** {m_status}: drill traffic ***", m_status=label("banner.short", m.status)), fg="red")
    p = m.proposal
    say(
        T(
            "meeting {m_meeting_id} on {m_channel}: {m_phase}",
            m_meeting_id=m.meeting_id,
            m_channel=m.channel,
            m_phase=label("console.mphase", m.phase),
        )
    )
    say(
        T(
            "  {p_start} – {p_end} at {p_place_name}, level {p_level}",
            p_start=at(p["start"]),
            p_end=at(p["end"]),
            p_place_name=p["place"]["name"],
            p_level=label("enum.meeting-proposal.level", p["level"]),
        )
    )
    if m.prepares:
        say(T("  prepares {m_prepares}", m_prepares=m.prepares))
    for item in p["agenda"]:
        from parley.formats.labels import topic_label

        topic = topic_label(str(item["topic"]), cli_lang())  # a label, never the code
        agenda: Text | str = f"  {item['item_id']:>5}. [{topic}] {item['title']['text']}"
        if item.get("refs"):
            agenda = T("{line} (refers to {refs})", line=agenda, refs=list(item["refs"]))
        say(agenda)
    for prop in m.proposals:
        kind = T("counter-proposal") if prop["counter_to"] else T("proposal")
        say(
            T(
                "  {prop_at}  {kind} {prop_id} by {prop_node}",
                prop_at=at(prop["at"]),
                kind=kind,
                prop_id=prop["id"],
                prop_node=prop["node"],
            )
        )
    if m.accepted:
        say(
            T(
                "  {m_accepted_at}  accepted by {m_accepted_node}",
                m_accepted_at=at(m.accepted["at"]),
                m_accepted_node=m.accepted["node"],
            )
        )
    for d in m.drafts:
        signers = sorted(m.signatures.get(d["hash"], {})) or T("nobody yet")
        say(
            T(
                "  {d_at}  protocol draft {d_id} by {d_node} {d_hash} signed by {signers}",
                d_at=at(d["at"]),
                d_id=d["id"],
                d_node=d["node"],
                d_hash=d["hash"],
                signers=signers,
            )
        )
    if m.agreed:
        say(
            T(
                "  protocol AGREED: {m_agreed_protocol} ({m_agreed_hash})",
                m_agreed_protocol=m.agreed["protocol"],
                m_agreed_hash=m.agreed["hash"],
            )
        )
    for i in m.ignored:
        say(
            T(
                "  not applied: {i_id} from {i_node}: {i_note}",
                i_id=i["id"],
                i_node=i["node"],
                i_note=i["note"],
            )
        )


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
    say(
        T(
            "proposed meeting {env_body_meeting_id} ({env_id})",
            env_body_meeting_id=env.body["meeting_id"],
            env_id=env.id,
        )
    )


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
    say(
        T(
            "counter-proposed meeting {meeting} ({env_id}, answering {env_body_counter_to})",
            meeting=meeting,
            env_id=env.id,
            env_body_counter_to=env.body["counter_to"],
        )
    )


@meeting_app.command("accept")
def meeting_accept(
    ctx: typer.Context,
    meeting: str,
    note: str = typer.Option("", "--note"),
    lang: str | None = LANG_OPTION,
    channel: str | None = typer.Option(None, "--channel"),
    desk: str | None = typer.Option(None, "--desk"),
) -> None:
    """Accept the current proposal of a meeting as proposed."""
    from parley.workflows.meetings import do_accept_meeting

    env = do_accept_meeting(node_from(ctx), meeting, note=note, lang=_lang(lang), channel=channel, desk=desk)
    say(
        T(
            "accepted meeting {meeting} (proposal {env_body_proposal})",
            meeting=meeting,
            env_body_proposal=env.body["proposal"],
        )
    )


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
    say(
        T(
            "protocol draft {env_id} for {meeting}: {body_hash}",
            env_id=env.id,
            meeting=meeting,
            body_hash=body_hash(env.body),
        )
    )


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
    say(
        T(
            "signed protocol {env_body_protocol} ({env_body_protocol_hash}); {done}",
            env_body_protocol=env.body["protocol"],
            env_body_protocol_hash=env.body["protocol_hash"],
            done=done,
        )
    )


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
    lang: str | None = typer.Option(None, "--lang", help="nb | ru | en (default: parley --lang)"),
    channel: str | None = typer.Option(None, "--channel"),
) -> None:
    """Export the meeting as iCalendar (RFC 5545)."""
    from parley.workflows.meetings import get_meeting, meeting_ical

    lang = _lang(lang)
    node = node_from(ctx)
    out.write_bytes(meeting_ical(node, get_meeting(node, meeting, channel), lang))
    say(T("wrote {out}", out=out))


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
    say(T("wrote {out}", out=out))


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
            say(
                _exempt(
                    T(
                        "would change {c_channel}: {c_before} → {c_after}",
                        c_channel=c.channel,
                        c_before=label("console.chstatus", c.before),
                        c_after=label("console.chstatus", c.after),
                    ),
                    c.exempt_types,
                )
            )
        for k in kept:
            say(T("unchanged   {k}", k=k))
        return
    records = do_change_relationship(
        node, action, peer, reason, exempt_channels=exempt_channel, exempt_types=exempt_type
    )
    for r in records:
        say(
            T(
                "{line} (record {r_id})",
                line=_exempt(
                    T(
                        "channel {r_channel} is now {r_status}",
                        r_channel=r.channel,
                        r_status=label("console.chstatus", r.status),
                    ),
                    r.exempt_types,
                ),
                r_id=r.id,
            )
        )


def _exempt(line: Text, types: Any) -> Text:
    """``line``, naming the message types exempt from a suspension, if any."""
    if not types:
        return line
    names = [label("type", t) for t in types]
    return T("{line} (exempt types: {types})", line=line, types=names)


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
        say(f"{c.id:28} {c.status}{ex}")
    for h in hist:
        say(
            T(
                "  {h_effective}  {h_channel:24} {h_status:10} by {h_signer}: {h_reason}",
                h_effective=h.effective,
                h_channel=h.channel,
                h_status=h.status,
                h_signer=h.signer,
                h_reason=h.reason,
            )
        )


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
        raise UsageError(T("which channel should be drilled?"), hint=T("pass --channel CHANNEL"))
    if not 0 <= wait <= 3600:  # also false for nan
        raise UsageError(
            T("--wait {wait} is not between 0 and 3600 seconds", wait=wait), hint=T("for example --wait 60")
        )
    from parley.workflows.drills import do_start_drill, wait_for_ack

    node = node_from(ctx)
    drill_id = do_start_drill(node, channel, desk=desk, lang=cli_lang())
    report = wait_for_ack(node, drill_id, wait)
    if as_json:
        print_json(report.to_json())
        return
    say(T("drill {drill_id} sent (TEST, FLASH) on {channel}", drill_id=drill_id, channel=channel))
    say(report.to_text(cli_lang()), nl=False)


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
    text = report.to_text(cli_lang())
    if out is not None:
        out.write_text(text, encoding="utf-8")
    if as_json:
        print_json(report.to_json())
    else:
        say(text, nl=False)


@drill_app.command("list")
def drill_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Drills run from this node, oldest first."""
    from parley.workflows.drills import list_drills

    items = list_drills(node_from(ctx))
    if as_json:
        print_json([d.to_json() for d in items])
        return
    if not items:
        say(T("no drills yet: run `parley drill --channel CHANNEL`"))
    for d in items:
        ack = "-" if d.ack_s is None else f"{d.ack_s:.1f} s"
        verdict = {True: "met", False: "MISSED", None: "running"}[d.met_deadline]
        say(
            T(
                "[TEST] {d_started_at}  {d_id}  {d_channel:20} ack {ack:>9}  {verdict}",
                d_started_at=d.started_at,
                d_id=d.id,
                d_channel=d.channel,
                ack=ack,
                verdict=verdict,
            )
        )


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
            T("{chart}: a chart is written as .png or .svg", chart=chart),
            hint=T("name the file e.g. contacts.svg"),
        )
    for option, year in (("--from", first), ("--to", last)):
        if not 1 <= year <= 9999:  # the calendar Parley's times live in (RFC 3339 §5.6)
            raise UsageError(
                T("{option} {year} is not a year from 1 to 9999", option=option, year=year),
                hint=T("for example --from 2020"),
            )
    rows = contact_report(node_from(ctx), first, last)
    if csv_out is not None:
        csv_out.write_text(to_csv(rows), encoding="utf-8")
    if chart is not None:
        write_chart(rows, chart)
    if as_json:
        print_json([r.to_json() for r in rows])
    else:
        say(to_table(rows), nl=False)
