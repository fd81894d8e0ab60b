"""Contact statistics over years of history, and drills with their after-action report."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from parley.cli.main import main
from parley.errors import NotFoundError, UsageError
from parley.messaging.acknowledge import do_acknowledge
from parley.messaging.send import Draft, do_send_message
from parley.storage.tables import link_tests
from parley.workflows.drills import do_start_drill, drill_report
from parley.workflows.incidents import list_incidents
from parley.workflows.report import contact_report, to_csv, to_table, write_chart
from tests.workflows.support import DESK, Pair, deliver, sync
from tests.workflows.test_meetings import hold


def message(pair: Pair, text: str, status: str = "ACTUAL") -> str:
    draft = Draft("border-1949", DESK, "general", "ROUTINE", status, {"text": text, "lang": "en"})
    return do_send_message(pair.a, draft).id


def link_test(pair: Pair, when: datetime, ok: bool) -> None:
    with pair.a.engine.begin() as conn:
        conn.execute(
            insert(link_tests).values(
                id=str(uuid.uuid4()),
                channel="border-1949",
                peer=pair.b.name,
                initiator=pair.a.name,
                sent_at=when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                rtt_ms=12.0 if ok else None,
                ok=ok,
            )
        )


def test_contact_report_shows_the_year_without_meetings(sqlite_pair: Pair, tmp_path: Path) -> None:
    pair = sqlite_pair
    for year, meetings in ((2026, 2), (2027, 1), (2028, 0), (2029, 1)):
        for i in range(meetings):
            when = datetime(year, 4 + 3 * i, 10, 8, tzinfo=UTC)
            pair.clock.set(when)
            hold(
                pair,
                f"border-{year}-{i}",
                when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                level=("commissioners", "staff")[i],
            )
        pair.clock.set(datetime(year, 11, 1, tzinfo=UTC))
        for n in range(3 if meetings else 1):
            msg = message(pair, f"{year}-{n}")
            sync(pair)
            pair.clock.advance(60 * (n + 1))
            do_acknowledge(pair.b, msg, pair.operator(pair.b))
            sync(pair)
        message(pair, f"drill {year}", "TEST")
        link_test(pair, datetime(year, 11, 2, tzinfo=UTC), True)
        link_test(pair, datetime(year, 11, 3, tzinfo=UTC), year != 2028)
    sync(pair)

    rows = {r.year: r for r in contact_report(pair.a, 2026, 2029)}
    assert [rows[y].meetings_held for y in (2026, 2027, 2028, 2029)] == [2, 1, 0, 1]
    assert rows[2026].meetings == {"commissioners": 1, "staff": 1}
    assert rows[2026].messages["general"] == 3
    assert rows[2026].drill_messages == 1
    assert rows[2026].messages["meeting-protocol-signature"] == 4  # both sides sign both meetings
    assert (rows[2026].ack_median_s, rows[2026].ack_worst_s) == (120.0, 180.0)
    assert rows[2028].ack_median_s == 60.0
    assert rows[2028].link_uptime == 0.5
    assert rows[2027].link_uptime == 1.0
    assert [r.year for r in contact_report(pair.b, 2026, 2029)] == [2026, 2027, 2028, 2029]

    table = to_table(list(rows.values()))
    assert "border-1949" in table
    assert "commissioners 1, staff 1" in table
    parsed = list(csv.DictReader(io.StringIO(to_csv(list(rows.values())))))
    assert [p["meetings_held"] for p in parsed] == ["2", "1", "0", "1"]
    assert parsed[2]["link_uptime"] == "0.5000"

    svg, png = tmp_path / "contacts.svg", tmp_path / "contacts.png"
    write_chart(list(rows.values()), svg)
    assert "<svg" in svg.read_text()
    # Through the CLI as an operator runs it: table, CSV and chart in one go.
    csv_file = tmp_path / "contacts.csv"
    assert (
        main(
            [
                "--home",
                str(pair.a.home),
                "report",
                "--from",
                "2026",
                "--to",
                "2029",
                "--csv",
                str(csv_file),
                "--chart",
                str(png),
            ]
        )
        == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert csv_file.read_text().startswith("channel,year,meetings_held")
    with pytest.raises(UsageError, match="after --to"):
        contact_report(pair.a, 2029, 2026)
    with pytest.raises(UsageError, match=r"\.png or \.svg"):
        write_chart([], tmp_path / "x.pdf")


def test_a_drill_measures_receipt_and_acknowledgment(
    sqlite_pair: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = sqlite_pair
    a, b = pair.a, pair.b
    drill_id = do_start_drill(a, "border-1949")
    running = drill_report(a, drill_id)
    assert running.receipts == {}
    assert running.met_deadline is None
    pair.clock.advance(4)
    deliver(a, b)
    pair.clock.advance(41)
    do_acknowledge(b, drill_id, pair.operator(b))
    deliver(b, a)
    report = drill_report(a, drill_id)
    assert report.receipts == {b.name: 4.0}
    assert (report.ack_s, report.acknowledged_by, report.met_deadline) == (
        45.0,
        f"op-{b.name}",
        True,
    )
    assert report.deadline_s == 300
    text = report.to_text()
    assert text.startswith("[TEST] After-action report")
    assert "deadline MET" in text
    # Drill traffic never opens an incident, and is marked as TEST wherever it is shown.
    assert list_incidents(b, drills=True) == []
    out = tmp_path / "aar.txt"
    assert main(["--home", str(a.home), "drill", "report", drill_id, "--out", str(out)]) == 0
    assert "receipt: ru-border stored and signed for it after 4.0 s" in out.read_text()
    capsys.readouterr()
    assert main(["--home", str(a.home), "inbox", "--sent"]) == 0
    assert f"{drill_id} [TEST]" in capsys.readouterr().out

    # A drill nobody answers in time is reported as missed.
    late = do_start_drill(a, "border-1949")
    pair.clock.advance(301)
    assert drill_report(a, late).met_deadline is False
    with pytest.raises(NotFoundError, match="no drill"):
        drill_report(a, str(uuid.uuid4()))
