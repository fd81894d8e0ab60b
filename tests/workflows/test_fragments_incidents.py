"""Incident refusals in one language (issue 16): the phase an incident is in, why a step is
refused now and the status of its traffic are translated with the sentence."""

from __future__ import annotations

from typing import Any

import pytest

from parley.errors import ConflictError
from parley.messaging.send import Draft, do_send_message
from parley.workflows.incidents import IncidentState, do_respond_incident, phase_name, refusal
from tests.language.detector import scan_text
from tests.language.one_language import assert_one_language
from tests.workflows.support import DESK, Pair, border_incident, deliver


def test_a_refused_step_says_the_phase_and_why_in_the_readers_language(sqlite_pair: Pair) -> None:
    pair = sqlite_pair
    report = do_send_message(
        pair.a, Draft("border-1949", DESK, "border-incident", "IMMEDIATE", "ACTUAL", border_incident())
    )
    deliver(pair.a, pair.b)
    with pytest.raises(ConflictError, match="no closure is proposed") as caught:
        do_respond_incident(pair.b, report.id, "agree-closure", "Enig.")
    error = caught.value
    assert error.message.startswith(f"incident {report.id} is receipted: ")
    assert "«kvittert»: ingen avslutning er foreslått" in error.one_line("nb")
    assert "«получено»: закрытие не предлагалось" in error.one_line("ru")
    assert_one_language(error, (report.id, "parley incident show"))


def state(phase: str, **kw: Any) -> IncidentState:
    return IncidentState(
        "i-1", "border-1949", "border-incident", "ACTUAL", "IMMEDIATE", "no-njhq", DESK, "t", 1, phase, **kw
    )


@pytest.mark.parametrize(
    ("incident", "node", "action", "answers"),
    [
        (state("closed"), "ru-nf", "propose-closure", None),
        (state("resolved"), "ru-nf", "propose-closure", None),
        (state("reported"), "ru-nf", "agree-joint-investigation", None),
        (
            state("reported", joint_investigation="proposed", joint_proposal={"id": "m-1", "node": "ru-nf"}),
            "ru-nf",
            "agree-joint-investigation",
            None,
        ),
        (
            state(
                "reported", joint_investigation="proposed", joint_proposal={"id": "m-1", "node": "no-njhq"}
            ),
            "ru-nf",
            "agree-joint-investigation",
            "m-2",
        ),
        (state("reported", joint_investigation="agreed"), "ru-nf", "propose-joint-investigation", None),
        (state("reported", pending_closure={"id": "m-1", "node": "ru-nf"}), "ru-nf", "agree-closure", None),
        (
            state("reported", pending_closure={"id": "m-1", "node": "no-njhq"}),
            "ru-nf",
            "agree-closure",
            "m-2",
        ),
        (state("reported"), "ru-nf", "close", None),
        (state("reported"), "ru-nf", "dance", None),
    ],
)
def test_every_reason_and_phase_is_translated(
    incident: IncidentState, node: str, action: str, answers: str | None
) -> None:
    why = refusal(incident, node, action, answers)
    assert why is not None
    for lang in ("nb", "ru"):
        said = why.render(lang)
        assert said != str(why)
        read = said
        for code in ("i-1", "m-1", "m-2", "'dance'"):
            read = read.replace(code, "")
        assert scan_text(read, lang=lang, source="test") == [], said
        phase = phase_name(incident.phase)
        assert not isinstance(phase, str)
        assert phase.render(lang) != str(phase)
