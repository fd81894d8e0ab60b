"""The operator's time zone on the console's settings page, over real HTTPS to a real node.

The zone is the operator's own setting (not their language's): chosen on the settings page
or with ``parley operator zone``, checked against the tz database, and used by every time
the console shows, UTC first (``18:39 UTC (19:39 CET)``). A wrong name is shown at the
field, in the operator's language, and changes nothing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from tests.console.console_support import ConsoleClient
from tests.harness.nodes import PASSWORD, NodeProcess, init_node

pytestmark = pytest.mark.e2e

HINT = re.compile(r'<p class="hint" id="time-zone-hint">(.*?)</p>', re.S)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    base = tmp_path_factory.mktemp("zone-console")
    n = init_node(base, "node-a", "Norway")
    (base / "pw").write_text(PASSWORD)
    n.cli_here("desk", "add", "duty")
    for user in ("kari", "olga"):
        n.cli_here(
            "operator", "add", user, "--desk", "duty", "--role", "duty", "--password-file", str(base / "pw")
        )
    n.cli_here("operator", "lang", "kari", "nb")
    n.cli_here("operator", "lang", "olga", "ru")
    n.cli_here("operator", "zone", "olga", "Europe/Oslo")  # a Russian reader on Norwegian time
    n.start()
    try:
        yield n
    finally:
        n.stop()


def _hint(page: str) -> str:
    m = HINT.search(page)
    assert m, page
    return html.unescape(m.group(1))


def test_times_follow_the_operators_zone_not_their_language(node: NodeProcess) -> None:
    with ConsoleClient(node) as kari, ConsoleClient(node) as olga:
        kari.login("kari")
        olga.login("olga")
        # Norwegian, but never chose a zone: UTC alone.
        page = kari.get("/console/settings").text
        assert 'value="UTC"' in page
        assert re.search(r"f\.eks\. \d\d:\d\d UTC\. ", _hint(page)), _hint(page)
        # Russian, on Oslo time: UTC first, then Oslo's clock, named.
        page = olga.get("/console/settings").text
        assert 'value="Europe/Oslo"' in page
        assert re.search(r"например \d\d:\d\d UTC \([^)]*\d\d:\d\d CES?T\)", _hint(page)), _hint(page)


def test_a_wrong_zone_is_refused_at_the_field_and_changes_nothing(node: NodeProcess) -> None:
    with ConsoleClient(node) as kari:
        kari.login("kari")
        r = kari.post("/console/settings", {"lang": "ru", "time_zone": "Europe/Atlantis"})
        assert r.status_code == 400
        assert "«Europe/Atlantis» er ikke en kjent tidssone" in html.unescape(r.text)
        assert 'aria-invalid="true"' in r.text
        # Neither the zone nor the language (sent in the same form) was saved.
        page = kari.get("/console/settings").text
        assert 'value="UTC"' in page
        assert 'lang="nb"' in page
        too_long = kari.post("/console/settings", {"lang": "nb", "time_zone": "Europe/" + "x" * 5000})
        assert too_long.status_code == 400

        r = kari.post("/console/settings", {"lang": "nb", "time_zone": "Europe/Moscow"})
        assert r.status_code == 303
        page = kari.get("/console/settings").text
        assert 'value="Europe/Moscow"' in page
        assert re.search(r"\d\d:\d\d UTC \([^)]*\d\d:\d\d MSK\)", _hint(page)), _hint(page)
        # Choosing UTC again goes back to UTC alone.
        assert kari.post("/console/settings", {"lang": "nb", "time_zone": "UTC"}).status_code == 303
        assert "(" not in _hint(kari.get("/console/settings").text).split("UTC", 1)[1].split(".")[0]
    got = node.cli_here("operator", "zone", "kari").stdout.strip()
    assert got == "kari reads times in UTC and UTC"
