"""Channel, card, authorization and search refusals in one language (issue 16): a channel's
status and the record that set it, the kind of address a card points at, the action and roles
an operator lacks, and the search field at fault are translated with the sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.channels.charter import CharterDocument, charter_from_toml
from parley.channels.registry import Channel
from parley.directory.operators import Operator
from parley.directory.policy import Action, desk_to_act_for, require
from parley.errors import ForbiddenError, RefusedError, UsageError
from parley.messaging.search import MessageQuery
from parley.protocol.card import check_card_url
from tests.language.one_language import assert_one_language

REPO = Path(__file__).resolve().parents[2]
BORDER = REPO / "examples" / "charters" / "border-1949.toml"
CODES = ("FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE", "ACTUAL", "EXERCISE", "TEST")
RECORD = {
    "id": 17,
    "effective": "2026-12-01T08:00:00Z",
    "signer": "no-njhq",
    "reason": "Vedlikehold av sambandet",
}


def channel(status: str, record: dict[str, object] | None) -> Channel:
    charter = charter_from_toml(BORDER.read_text(), str(BORDER))
    return Channel(charter.id, CharterDocument(charter, {}), status, ["link-test"], record)


@pytest.mark.parametrize("status", ["planned", "closed", "suspended"])
@pytest.mark.parametrize("record", [None, RECORD], ids=["initial", "signed-record"])
def test_a_channel_that_is_not_active_says_why_in_the_readers_language(
    status: str, record: dict[str, object] | None
) -> None:
    with pytest.raises(RefusedError) as caught:
        channel(status, record).check_allows("border-incident")
    error = caught.value
    assert error.code == f"channel_{status}"
    if record is not None:
        assert " since 2026-12-01T08:00:00Z by no-njhq (record 17: Vedlikehold av sambandet)" in error.message
        assert "journal, oppføring 17" in error.one_line("nb")
        assert "журнал, запись 17" in error.one_line("ru")
    reason = "Vedlikehold av sambandet"  # the signer's own words
    assert_one_language(error, codes=("parley channel activate", "--reason", "border-incident", reason))


@pytest.mark.parametrize(
    ("url", "nb", "ru"),
    [
        ("https://0.0.0.0:8441/", "uspesifisert", "неопределённый"),
        ("https://169.254.1.1:8441/", "lenkelokal", "link-local"),
        ("https://[ff02::1]:8441/", "multicast", "групповой"),
    ],
)
def test_a_card_url_at_an_address_no_peer_has_is_refused_in_the_readers_language(
    url: str, nb: str, ru: str
) -> None:
    with pytest.raises(UsageError, match="points at") as caught:
        check_card_url(url)
    assert nb in caught.value.one_line("nb")
    assert ru in caught.value.one_line("ru")
    assert_one_language(caught.value, codes=("link-local", "multicast", "URL", "https"))


def test_an_action_and_roles_are_named_in_the_readers_language() -> None:
    auditor = Operator("o.hansen", "ru", {"no-vakt": "auditor"})
    with pytest.raises(ForbiddenError, match=r"o.hansen may not send \(roles: auditor\)") as caught:
        require(auditor, Action.SEND)
    assert "не вправе отправлять сообщения (роли: контролёр)" in caught.value.one_line("ru")
    assert "har ikke lov til å sende (roller: kontrollør)" in caught.value.one_line("nb")
    assert_one_language(caught.value)

    nobody = Operator("k.berg", "nb", {})
    with pytest.raises(ForbiddenError, match=r"k.berg may not manage channel \(roles: none\)") as caught:
        require(nobody, Action.MANAGE_CHANNEL)
    assert "(roller: ingen)" in caught.value.one_line("nb")
    assert_one_language(caught.value)

    with pytest.raises(ForbiddenError, match="may not acknowledge for desk 'no-vakt'") as caught:
        desk_to_act_for(auditor, "border-1949", ["no-vakt"], Action.ACKNOWLEDGE, "no-vakt")
    assert_one_language(caught.value, codes=("border-1949",))


@pytest.mark.parametrize(
    ("params", "english"),
    [
        ({"since": "yesterday"}, "since 'yesterday' is not a date or time"),
        ({"until": "x" * 41}, "until is too long"),
        ({"channel": "Not A Name"}, "channel 'Not A Name' is not a valid name"),
        ({"type": "Not A Name"}, "type 'Not A Name' is not a valid name"),
        ({"precedence": "URGENT"}, "unknown precedence 'URGENT'"),
        ({"status": "DRILL"}, "unknown status 'DRILL'"),
        ({"direction": ["in", "out"]}, "'direction' takes one value, got 2"),
    ],
)
def test_a_bad_search_names_its_field_in_the_readers_language(
    params: dict[str, str | list[str]], english: str
) -> None:
    with pytest.raises(UsageError) as caught:
        MessageQuery.from_params(params)
    assert caught.value.message == english
    # The value the operator typed is theirs; the field's code is quoted as a code.
    assert_one_language(
        caught.value,
        codes=(
            *("'yesterday'", "'Not A Name'", "'URGENT'", "'DRILL'", "'direction'", "since", "until"),
            *CODES,
        ),
    )
