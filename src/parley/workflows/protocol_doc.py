"""A meeting protocol as one HTML document, nb, ru and en side by side, that prints well.

Each column is the same signed protocol body rendered from the message catalogues of one
language (labels, enum values, times in that language's zone); free text appears as
written, marked as the original, in every column — a protocol is never machine-translated.
Above the columns, in each language, stands whether both sides signed these exact bytes,
with the SHA-256 of the body they signed. ``@media print`` lays it out on A4 landscape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select

from parley.errors import ConflictError
from parley.formats.texts import T
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import envelopes
from parley.workflows.meetings import MeetingState

LANGS = ("nb", "ru", "en")
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_protocol_html(node: Node, state: MeetingState) -> str:
    from parley.formats.catalogue import load_catalogue
    from parley.formats.render import render
    from parley.formats.times import when

    draft = state.protocol
    if draft is None:
        raise ConflictError(
            T("meeting {state_meeting_id} has no protocol yet", state_meeting_id=state.meeting_id),
            hint=T("draft one with `parley meeting protocol`"),
        )
    with node.reader.connect() as conn:
        row = conn.execute(select(envelopes.c.raw).where(envelopes.c.id == draft["id"])).first()
    assert row is not None  # the projection names stored envelopes only
    envelope = SignedEnvelope.from_bytes(row.raw).envelope
    signed = sorted(state.signatures.get(draft["hash"], {}))
    agreed = state.agreed is not None and state.agreed["hash"] == draft["hash"]
    columns: list[dict[str, Any]] = []
    lines = []
    for lang in LANGS:
        cat = load_catalogue(lang)
        rendered = render(envelope, lang)
        columns.append({"lang": lang, "language": cat.get("meta.name"), "fields": rendered.fields})
        key = "workflow.protocol.agreed" if agreed else "workflow.protocol.not_agreed"
        lines.append(
            {
                "lang": lang,
                "text": cat.get(key, nodes=", ".join(signed) or "-", hash=draft["hash"][:19] + "…"),
            }
        )
    banner = None
    if state.drill:
        from parley.formats.render import drill_banner

        banner = " / ".join(b for b in (drill_banner(state.status, load_catalogue(x)) for x in LANGS) if b)
    return _TEMPLATES.get_template("protocol.html").render(
        title=" / ".join(
            load_catalogue(x).get("workflow.protocol.heading", meeting=state.meeting_id) for x in LANGS
        ),
        channel=state.channel,
        # The document speaks all its languages: the draft line in each, its time in each locale.
        draft_line=" / ".join(
            load_catalogue(x).get(
                "workflow.protocol.draft",
                node=draft["node"],
                created=when(draft["at"], None, x, with_date=True),
            )
            for x in LANGS
        ),
        agreed=agreed,
        agreement_lines=lines,
        hash=draft["hash"],
        columns=columns,
        banner=banner,
        envelope_id=draft["id"],
    )
