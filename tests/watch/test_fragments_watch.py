"""Roster and handover refusals in one language (issue 16): the role an operator has (or
lacks), the shift they cannot stand and the side of a handover they cannot take are
translated with the sentence, never left as English words in an nb or ru refusal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.directory.operators import do_add_operator
from parley.errors import ForbiddenError, UsageError
from parley.watch.handover import confirm_handover, start_handover
from parley.watch.roster import ShiftSpec, add_shifts
from tests.language.one_language import assert_one_language
from tests.workflows.support import DESK, PASSWORD, Pair, make_pair

CODES = (DESK, "o.lesen", "k.berg", "parley operator add", "--desk", "--role")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    p = make_pair(tmp_path)
    do_add_operator(p.a, "o.lesen", DESK, "auditor", PASSWORD)
    do_add_operator(p.a, "k.berg", DESK, "duty", PASSWORD)
    yield p
    p.close()


def test_a_shift_for_an_operator_without_the_role_is_refused_in_the_readers_language(pair: Pair) -> None:
    def shift(user: str, role: str) -> ShiftSpec:
        return ShiftSpec(user, "2026-03-02T08:00", "2026-03-02T20:00", "Europe/Oslo", role=role)

    with pytest.raises(
        UsageError, match=r"has the role auditor on desk .* cannot stand a watch shift"
    ) as caught:
        add_shifts(pair.a, DESK, [shift("o.lesen", "watch")], actor="t")
    assert "rollen kontrollør" in caught.value.one_line("nb")
    assert "роль «контролёр»" in caught.value.one_line("ru")
    assert_one_language(caught.value, CODES)

    with pytest.raises(UsageError, match=r"has the role duty .* cannot stand a supervisor shift") as caught:
        add_shifts(pair.a, DESK, [shift("k.berg", "supervisor")], actor="t")
    assert "vaktleder" in caught.value.one_line("nb")
    assert "старшим дежурным" in caught.value.one_line("ru")
    assert_one_language(caught.value, CODES)


def test_a_handover_names_the_side_and_the_role_in_the_readers_language(pair: Pair) -> None:
    with pytest.raises(
        ForbiddenError, match=r"has the role auditor .* cannot be the outgoing officer"
    ) as caught:
        start_handover(pair.a, DESK, "o.lesen", "Alt rolig.")
    assert "avtroppende vakthavende" in caught.value.one_line("nb")
    assert "сдать там дежурство" in caught.value.one_line("ru")
    assert_one_language(caught.value, CODES)

    h = start_handover(pair.a, DESK, "k.berg", "Alt rolig.")
    with pytest.raises(ForbiddenError, match="cannot be the incoming officer") as caught:
        confirm_handover(pair.a, h.id, "o.lesen")
    assert "påtroppende vakthavende" in caught.value.one_line("nb")
    assert "заступить там на дежурство" in caught.value.one_line("ru")
    assert_one_language(caught.value, CODES)
