"""The read model of one incident's console page, and the check of a step taken from it.

What the page shows is the incident as :mod:`parley.workflows.incidents` projects it from
the signed record (the same fold on both nodes): its state, the parties of its channel, a
timeline from the report through receipts, acknowledgments and responses to the agreed
closure, every position of its messages as RFC 7946 GeoJSON, and the steps this node may
take now (:func:`parley.workflows.incidents.refusal`, the rule the send path applies too).
Visibility is the desk policy's (:mod:`parley.directory.policy`): an incident on a channel
the operator does not see is answered as one that does not exist (404).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from parley.channels.registry import Channel, get_channel_txn
from parley.console.views import sending_desks
from parley.directory.operators import Operator
from parley.directory.policy import sees_channel
from parley.errors import ConflictError, ForbiddenError, NotFoundError, ParleyError, UsageError
from parley.formats import exports
from parley.formats.render import render
from parley.formats.texts import T
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import envelopes
from parley.workflows.incidents import ACTIONS, IncidentState, default_answers, get_incident, refusal

MAX_TIMELINE_STEPS = 500  # responses shown; peers add steps, the page must stay bounded
MAX_STEP_TEXT = 20_000  # characters: the incident-response schema's maxLength of text
STEP_LANGS = ("nb", "ru", "en")
# The steps the page offers, in the order a duty officer meets them.
OFFERED = (
    "provide-information",
    "request-information",
    "propose-closure",
    "agree-closure",
    "propose-joint-investigation",
    "agree-joint-investigation",
    "dispute",
    "close",
)
assert set(OFFERED) == set(ACTIONS)


def _not_found(incident_id: str) -> NotFoundError:
    return NotFoundError(
        T("no incident {incident_id}", incident_id=incident_id),
        code="unknown_incident",
        hint=T("pick an incident from the list"),
    )


def visible_incident(node: Node, op: Operator, incident_id: str) -> tuple[IncidentState, Channel]:
    """The incident and its channel, or 404 when it does not exist or is not ``op``'s to see."""
    if len(incident_id) > 64:
        raise _not_found(incident_id[:64] + "…")
    try:
        state = get_incident(node, incident_id)
    except NotFoundError:
        raise _not_found(incident_id) from None
    with node.reader.connect() as conn:
        try:
            channel = get_channel_txn(conn, state.channel)
        except NotFoundError:
            raise _not_found(incident_id) from None
    if not sees_channel(node, op, channel):
        raise _not_found(incident_id)  # not "forbidden": its existence is not hers to know
    return state, channel


def _envelopes(node: Node, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    with node.reader.connect() as conn:
        rows = conn.execute(select(envelopes.c.id, envelopes.c.raw).where(envelopes.c.id.in_(ids))).all()
    return {str(r.id): SignedEnvelope.from_bytes(r.raw).envelope for r in rows}


def _title(env: Mapping[str, Any] | None, lang: str, fallback: str) -> str:
    if env is None:
        return fallback
    try:
        return render(env, lang).title or fallback
    except ParleyError:  # a title must never hide the step from the timeline
        return fallback


def features(envs: Sequence[Mapping[str, Any]], lang: str) -> dict[str, Any]:
    """Every position and area of the incident's messages, one RFC 7946 Feature each."""
    out = []
    for env in envs:
        try:
            found = exports._locations(env)
        except ParleyError:
            continue
        title = _title(env, lang, str(env["type"]))
        for _path, schema_node, value in found:
            geometry, extra = exports._geometry(schema_node, value)
            out.append(
                {
                    "type": "Feature",
                    "id": env["id"],
                    "geometry": geometry,
                    "properties": {
                        "id": env["id"],
                        "title": title,
                        "type": env["type"],
                        "drill": env["status"] != "ACTUAL",
                        **extra,
                    },
                }
            )
    return {"type": "FeatureCollection", "features": out}


def available_actions(node: Node, state: IncidentState) -> list[str]:
    """The steps this node may take on the incident in its current state."""
    return [a for a in OFFERED if refusal(state, node.name, a, default_answers(state, a)) is None]


def incident_page(node: Node, op: Operator, incident_id: str) -> dict[str, Any]:
    state, channel = visible_incident(node, op, incident_id)
    lang = op.lang
    steps = state.steps[-MAX_TIMELINE_STEPS:]
    envs = _envelopes(node, [state.id, *(s.id for s in steps)])
    report = envs.get(state.id)
    title = _title(report, lang, state.type)
    timeline: list[dict[str, Any]] = [
        {
            "kind": "report",
            "at": state.opened_at,
            "who": f"{state.opened_by}/{state.opened_desk}",
            "label": title,
            "id": state.id,
            "text": "",
            "applied": True,
            "note": "",
        }
    ]
    for receiver, at in sorted(state.receipts.items()):
        timeline.append(
            {"kind": "receipt", "at": at, "who": receiver, "label": "", "id": state.id, "applied": True}
        )
    for ack_node, ack in sorted(state.acknowledgments.items()):
        timeline.append(
            {
                "kind": "ack",
                "at": ack["at"],
                "who": f"{ack['operator']} ({ack_node})",
                "label": "",
                "id": ack.get("ack_id") or state.id,
                "applied": True,
            }
        )
    for s in steps:
        timeline.append(
            {
                "kind": "step",
                "at": s.at,
                "who": f"{s.node}/{s.desk}",
                "action": s.action,
                "id": s.id,
                "text": s.text,
                "lang": s.lang,
                "applied": s.applied,
                "note": s.note,
                "acks": [f"{a['operator']} ({n})" for n, a in sorted(s.acknowledged.items())],
            }
        )
    # The report stays first: the clocks of two nodes may disagree by a little.
    timeline[1:] = sorted(timeline[1:], key=lambda e: str(e["at"]))
    desks = sending_desks(node, op, channel)
    members: dict[str, list[str]] = {}
    for m in channel.charter.members:
        member_node, _, desk = m.partition("/")
        members.setdefault(member_node, []).append(desk)
    return {
        "id": state.id,
        "state": state,
        "title": title,
        "channel": channel.id,
        "channel_name": channel.charter.name_in(lang),
        "parties": sorted(members.items()),
        "this_node": node.name,
        "timeline": timeline,
        "cut": len(state.steps) - len(steps),
        "geojson": features([e for e in envs.values()], lang),
        "has_cap": state.type in exports.ALERT_TYPES and report is not None,
        "actions": available_actions(node, state) if desks else [],
        "desks": desks,
        "pending_closure": state.pending_closure,
    }


def check_step(node: Node, op: Operator, incident_id: str, form: Mapping[str, str]) -> dict[str, str]:
    """A step from the page, checked before anything is sent: what to send, or an error.

    404 if the incident is not hers to see; 403 if no desk of hers may send on its channel;
    400 for a step that does not exist, an empty or too long text, a language or desk not
    offered; 409 if the incident's state does not allow the step now.
    """
    state, channel = visible_incident(node, op, incident_id)
    action = form.get("action", "")
    if action not in ACTIONS:
        raise UsageError(
            T("there is no incident step {action!r}", action=action[:40]),
            hint=T("one of {actions}", actions=", ".join(ACTIONS)),
        )
    desks = sending_desks(node, op, channel)
    if not desks:
        raise ForbiddenError(
            T(
                "{op_username} may not send for a desk of channel {channel_id!r}",
                op_username=op.username,
                channel_id=channel.id,
            ),
            code="not_allowed",
            hint=T("this needs a duty, supervisor or admin role on a member desk of the channel"),
        )
    desk = form.get("desk") or desks[0]
    if desk not in desks:
        raise ForbiddenError(
            T(
                "{op_username} may not send for desk {desk!r} on channel {channel_id!r}",
                op_username=op.username,
                desk=desk[:40],
                channel_id=channel.id,
            ),
            code="not_allowed",
            hint=T("send for one of: {desks}", desks=", ".join(desks)),
        )
    why = refusal(state, node.name, action, default_answers(state, action))
    if why is not None:
        raise ConflictError(
            T(
                "incident {state_id} is {state_phase}: {why}",
                state_id=state.id,
                state_phase=state.phase,
                why=why,
            ),
            code="incident_step_refused",
            hint=T("reload the incident page: it shows the steps open now"),
        )
    text = form.get("text", "").strip()
    if not text:
        raise UsageError(T("a step needs a text: say what you tell the other side"), code="empty_text")
    if len(text) > MAX_STEP_TEXT:
        raise UsageError(
            T(
                "the text is {n_text} characters long; at most {max_step_text} fit",
                n_text=len(text),
                max_step_text=MAX_STEP_TEXT,
            ),
            code="text_too_long",
            hint=T("shorten it, or attach the rest in a separate message"),
        )
    lang = form.get("lang") or (op.lang if op.lang in STEP_LANGS else "en")
    if lang not in STEP_LANGS:
        raise UsageError(T("unknown language {lang!r}", lang=lang[:10]), hint=T("one of nb, ru, en"))
    return {"action": action, "text": text, "lang": lang, "desk": desk}


def export_cap(node: Node, op: Operator, incident_id: str) -> str:
    """The report as a CAP 1.2 alert, one ``<info>`` per language of the charter (the
    reader's first), each naming the node that sent the report in that language."""
    state, channel = visible_incident(node, op, incident_id)
    report = _envelopes(node, [state.id]).get(state.id)
    if report is None:
        raise _not_found(incident_id)
    langs = channel.charter.export_languages(op.lang)
    sender_names = channel.charter.node_names_in(str(report["sender"]["node"]), langs)
    return exports.to_cap(report, sender_names, langs=langs)


def export_geojson(node: Node, op: Operator, incident_id: str) -> dict[str, Any]:
    """Every position of the incident's messages as an RFC 7946 FeatureCollection."""
    state, _ = visible_incident(node, op, incident_id)
    ids = [state.id, *(s.id for s in state.steps[-MAX_TIMELINE_STEPS:])]
    return features(list(_envelopes(node, ids).values()), op.lang)
