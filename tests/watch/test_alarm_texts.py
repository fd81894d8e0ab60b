"""Alarms are stored as codes with parameters and read in the reader's language (issue 16)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from parley.api.app import create_app
from parley.console.views import dashboard
from parley.directory.operators import do_issue_token, get_operator
from parley.messaging.deadlines import escalate_overdue
from parley.messaging.receipts import accept_receipts
from parley.messaging.receive import receive_batch
from parley.running.service import Service
from parley.running.status import alarms_in, node_status, status_in
from parley.storage.alarms import ALARM_KINDS, alarm_text, sample_alarms
from parley.storage.tables import alarms
from tests.federation.test_clock import FLASH_S, make_nodes, send

# Codes and names that read the same in every language.
ALLOWED = {"FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE", "HTTP", "SMTP", "NJHQ", "vakt"}
RAW = re.compile(r"[{}\[\]]|datetime|Text\(|T\(|\\u|'\w+':")


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[A-Za-z]{4,}", text) if w not in ALLOWED}


def test_every_alarm_code_has_a_sample() -> None:
    assert set(sample_alarms()) == set(ALARM_KINDS)
    kinds = {spec.kind for spec in ALARM_KINDS.values()}
    assert {"ack_overdue", "link_down", "watch_gap", "pager_failing", "page_undelivered"} <= kinds
    assert {"record_local_changed", "record_bad_signature", "record_fork", "record_inconsistent"} <= kinds


@pytest.mark.parametrize("lang", ["nb", "ru"])
@pytest.mark.parametrize("code", sorted(ALARM_KINDS))
def test_every_alarm_reads_in_the_language(code: str, lang: str) -> None:
    text = sample_alarms()[code]
    english = text.render("en")
    shown = text.render(lang)
    assert shown != english
    assert not RAW.search(shown), shown
    shared = _words(english) & _words(shown)
    assert not shared, f"{code} in {lang} keeps English words {shared}: {shown}"
    if lang == "ru":
        assert re.search("[а-яА-Я]{4,}", shown)


def test_labels_and_times_read_in_russian() -> None:
    shown = sample_alarms()["ack_overdue.here"].render("ru")
    assert "Ответ по инциденту" in shown
    assert "Прямая линия" in shown
    assert "2026-11-29T" not in shown
    assert "18:39" in shown


def test_an_older_row_reads_its_message() -> None:
    assert alarm_text(None, "legacy words", "ru") == "legacy words"


async def test_an_overdue_acknowledgment_reads_in_russian(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pair = make_nodes(tmp_path, "sqlite", request)
    a, b, clock = pair.a, pair.b, pair.clock
    msg = send(a, "FLASH: vessel aground")
    result = receive_batch(b, "node-a", [msg.to_wire()])
    accept_receipts(a, "node-b", [r.to_json() for r in result.receipts])
    clock.advance(FLASH_S + 5)
    assert [o.message_id for o in escalate_overdue(b)] == [msg.id]

    with b.engine.connect() as conn:
        row = conn.execute(select(alarms).where(alarms.c.kind == "ack_overdue")).one()
    assert "on test-line not acknowledged by this node (due " in row.message
    stored = json.loads(row.text_json)
    assert stored["code"] == "ack_overdue.here"
    assert stored["params"]["type"] == "general"
    assert stored["params"]["precedence"] == "FLASH"

    # What `parley status --lang ru` prints and `--json` returns.
    (item,) = status_in(node_status(b), b, "ru")["alarms"]
    assert item["kind"] == "ack_overdue"
    assert item["code"] == "ack_overdue.here"
    assert item["lang"] == "ru"
    assert "text_json" not in item
    assert "не подтверждено нашим узлом" in item["text"]
    assert not _words(item["text"]) - {"test", "line"}, item["text"]  # the channel id has no name here

    # The console of a Russian-speaking operator.
    op = dataclasses.replace(get_operator(b, "op-node-b"), lang="ru")
    (shown,) = dashboard(b, op)["alarms"]
    assert "не подтверждено нашим узлом" in shown["message"]
    assert alarms_in(b, node_status(b)["alarms"], "nb")[0]["text"].startswith("Melding")

    # The operator API, by Accept-Language.
    token = do_issue_token(b, "op-node-b", "t")
    service = Service(b, tick_s=0)
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        r = await c.get(
            "/api/v1/status", headers={"authorization": f"Bearer {token}", "accept-language": "ru"}
        )
    assert r.status_code == 200, r.text
    (api_alarm,) = r.json()["alarms"]
    assert api_alarm["kind"] == "ack_overdue"
    assert api_alarm["code"] == "ack_overdue.here"
    assert api_alarm["params"]["precedence"] == "FLASH"
    assert "не подтверждено нашим узлом" in api_alarm["text"]


def test_the_webhook_carries_code_params_and_text_in_the_nodes_language(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cfg = {
        "escalation": {"supervisor_desk": "watch-supervisor", "webhook_url": "http://127.0.0.1:9/hook"},
        "console": {"default_lang": "ru"},
    }
    pair = make_nodes(tmp_path, "sqlite", request, cfg)
    a, b, clock = pair.a, pair.b, pair.clock
    msg = send(a, "FLASH: vessel aground")
    result = receive_batch(b, "node-a", [msg.to_wire()])
    accept_receipts(a, "node-b", [r.to_json() for r in result.receipts])
    clock.advance(FLASH_S + 5)
    calls: list[dict[str, object]] = []

    def post(url: str, payload: dict[str, object]) -> int:
        calls.append(payload)
        return 204

    assert [o.message_id for o in escalate_overdue(a, post)] == [msg.id]
    (payload,) = calls
    assert payload["event"] == "ack_overdue"
    assert payload["code"] == "ack_overdue.there.notified"
    assert payload["params"] == {
        "precedence": "FLASH",
        "type": "general",
        "channel": "test-line",
        "due_at": payload["due_at"],
        "desk": "watch-supervisor",
    }
    assert payload["lang"] == "ru"
    assert isinstance(payload["text"], str)
    assert "не подтверждено другой стороной" in payload["text"]
    assert "пост старшего дежурного watch-supervisor оповещён" in payload["text"]
