"""A whole relationship suspended with exemptions (the 2014 case), resumed, with history."""

from __future__ import annotations

import pytest

from parley.errors import RefusedError, UsageError
from parley.messaging.send import Draft, do_send_message
from parley.workflows.relationship import (
    do_change_relationship,
    plan_relationship_change,
    relationship_history,
)
from tests.workflows.support import (
    DESK,
    RU,
    Pair,
    all_envelopes,
    deliver,
    deliver_control,
    open_channel,
    sync,
)


def general(pair: Pair, node: object, channel: str, text: str = "hello") -> str:
    from parley.node import Node

    assert isinstance(node, Node)
    draft = Draft(channel, DESK, "general", "ROUTINE", "ACTUAL", {"text": text, "lang": "en"})
    return do_send_message(node, draft).id


def test_suspend_everything_but_the_exempt_channels_and_types(sqlite_pair: Pair) -> None:
    pair = sqlite_pair
    a, b = pair.a, pair.b
    for ch in ("direct-line", "military-coop"):
        open_channel(pair, ch)
    changes, kept = plan_relationship_change(
        a,
        "suspend",
        RU,
        exempt_channels=["direct-line"],
        exempt_types=["incident-response", "border-incident"],
    )
    assert [(c.channel, c.after, c.exempt_types) for c in changes] == [
        ("border-1949", "suspended", ["border-incident", "incident-response"]),
        ("military-coop", "suspended", ["border-incident", "incident-response"]),
    ]
    assert kept == ["direct-line: exempt, stays active"]
    with pytest.raises(UsageError, match="needs a reason"):
        do_change_relationship(a, "suspend", RU, " ")
    with pytest.raises(UsageError, match=r"exempt channel\(s\) sar are not channels with ru-border"):
        do_change_relationship(a, "suspend", RU, "x", exempt_channels=["sar"])

    # b sends on military-coop before it learns of the suspension: crossing the decision.
    crossing = general(pair, b, "military-coop", "sent before the suspension arrived")
    pair.clock.advance(3600)
    records = do_change_relationship(
        a,
        "suspend",
        RU,
        "Cooperation suspended (2014)",
        exempt_channels=["direct-line"],
        exempt_types=["incident-response", "border-incident"],
    )
    assert len(records) == 2
    with pytest.raises(RefusedError) as refused:
        general(pair, a, "military-coop")
    message = refused.value.message
    assert "is suspended since 2026-03-01T10:00:00.000Z by no-border" in message
    assert "Cooperation suspended (2014)" in message
    assert "type 'general' is not exempt" in message
    general(pair, a, "direct-line")  # the exempt channel keeps working
    # The receiver refuses, citing the suspension, and stores nothing of the batch.
    with pytest.raises(RefusedError, match=r"suspended since .* Cooperation suspended"):
        deliver(b, a)
    assert deliver_control(a, b) == 2
    with pytest.raises(RefusedError, match="Cooperation suspended"):
        general(pair, b, "border-1949")
    # Exempt types keep flowing on a suspended channel.
    from tests.workflows.support import border_incident

    do_send_message(b, Draft("border-1949", DESK, "border-incident", "FLASH", "ACTUAL", border_incident()))

    pair.clock.advance(86400)
    resumed = do_change_relationship(a, "resume", RU, "Talks resumed")
    assert sorted(r.channel for r in resumed) == ["border-1949", "military-coop"]
    deliver_control(a, b)
    sync(pair)
    # b's crossing message waited in b's outbox and is delivered once the channel works again.
    assert crossing in {e.id for e in all_envelopes(a)}
    hist = relationship_history(b, "no-border")
    assert [(h.channel, h.status) for h in hist] == [
        ("border-1949", "suspended"),
        ("military-coop", "suspended"),
        ("border-1949", "active"),
        ("military-coop", "active"),
    ]
    assert {h.reason for h in hist} == {"Cooperation suspended (2014)", "Talks resumed"}
