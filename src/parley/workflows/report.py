"""Contact statistics per channel and year: is the contact alive, or lapsing?

For each channel and each year in the range: meetings held by level (from their protocols'
``held_at``), messages by type (from the signed ``created`` time), incidents opened and
closed (real ones: drill-marked incidents are counted apart), the median and worst time
from receipt to human acknowledgment, and link uptime (the share of link tests that came
back). Drill traffic (EXERCISE, TEST) is counted in ``drill_messages`` and not in
``messages``, so a year of drills cannot look like a year of contact.

The chart (matplotlib, Agg backend, PNG or SVG) puts meetings held per year next to
messages per year, per channel — the figure in which a year without meetings shows at once.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from parley.clock import parse_time
from parley.errors import UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.storage.tables import acknowledgments, delivery, envelopes, link_tests
from parley.workflows.incidents import IncidentState, load_incidents_txn
from parley.workflows.meetings import MeetingState, load_meetings_txn

LEVELS = ("leadership", "commissioners", "staff", "expert")


@dataclass
class YearRow:
    channel: str
    year: int
    meetings: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    drill_messages: int = 0
    incidents_opened: int = 0
    incidents_closed: int = 0
    ack_times_s: list[float] = field(default_factory=list)
    link_tests: int = 0
    link_ok: int = 0

    @property
    def meetings_held(self) -> int:
        return sum(self.meetings.values())

    @property
    def messages_total(self) -> int:
        return sum(self.messages.values())

    @property
    def ack_median_s(self) -> float | None:
        return statistics.median(self.ack_times_s) if self.ack_times_s else None

    @property
    def ack_worst_s(self) -> float | None:
        return max(self.ack_times_s) if self.ack_times_s else None

    @property
    def link_uptime(self) -> float | None:
        return self.link_ok / self.link_tests if self.link_tests else None

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "year": self.year,
            "meetings_held": self.meetings_held,
            "meetings_by_level": dict(sorted(self.meetings.items())),
            "messages": self.messages_total,
            "messages_by_type": dict(sorted(self.messages.items())),
            "drill_messages": self.drill_messages,
            "incidents_opened": self.incidents_opened,
            "incidents_closed": self.incidents_closed,
            "ack_median_s": self.ack_median_s,
            "ack_worst_s": self.ack_worst_s,
            "link_uptime": self.link_uptime,
        }


def _row(
    rows: dict[tuple[str, int], YearRow], channel: str, year: int, first: int, last: int
) -> YearRow | None:
    if not first <= year <= last:
        return None
    key = (channel, year)
    if key not in rows:
        rows[key] = YearRow(channel, year)
    return rows[key]


def aggregate(
    first: int,
    last: int,
    channels: Iterable[str],
    messages: Iterable[tuple[str, str, str, str]],
    meetings: Iterable[MeetingState],
    incidents: Iterable[IncidentState],
    ack_times: Iterable[tuple[str, str, float]],
    tests: Iterable[tuple[str, str, bool]],
) -> list[YearRow]:
    """The statistics from plain facts (pure): every channel gets every year, zeros included.

    ``messages`` are (channel, created, type, status); ``ack_times`` (channel, created,
    seconds); ``tests`` (channel, sent_at, ok).
    """
    rows: dict[tuple[str, int], YearRow] = {}
    for ch in channels:
        for y in range(first, last + 1):
            _row(rows, ch, y, first, last)
    for ch, created, type_, status in messages:
        r = _row(rows, ch, int(created[:4]), first, last)
        if r is None:
            continue
        if status == "ACTUAL":
            r.messages[type_] = r.messages.get(type_, 0) + 1
        else:
            r.drill_messages += 1
    for m in meetings:
        if m.held_at is None or m.drill:
            continue
        r = _row(rows, m.channel, int(m.held_at[:4]), first, last)
        if r is not None:
            r.meetings[m.level] = r.meetings.get(m.level, 0) + 1
    for i in incidents:
        if i.drill:
            continue
        r = _row(rows, i.channel, int(i.opened_at[:4]), first, last)
        if r is not None:
            r.incidents_opened += 1
        if i.closed_at is not None:
            r = _row(rows, i.channel, int(i.closed_at[:4]), first, last)
            if r is not None:
                r.incidents_closed += 1
    for ch, created, secs in ack_times:
        r = _row(rows, ch, int(created[:4]), first, last)
        if r is not None:
            r.ack_times_s.append(secs)
    for ch, sent_at, ok in tests:
        r = _row(rows, ch, int(sent_at[:4]), first, last)
        if r is not None:
            r.link_tests += 1
            r.link_ok += int(ok)
    return [rows[k] for k in sorted(rows)]


def contact_report(node: Node, first: int, last: int) -> list[YearRow]:
    """Read the facts from the node's record and aggregate them."""
    from parley.channels.registry import list_channels_txn

    if first > last:
        raise UsageError(
            T("--from {first} is after --to {last}", first=first, last=last),
            hint=T("give the earlier year first"),
        )
    if last - first > 200:
        raise UsageError(T("a report covers at most 200 years"), hint=T("narrow --from/--to"))
    with node.reader.connect() as conn:
        chans = [c.id for c in list_channels_txn(conn)]
        msgs = [
            (r.channel, r.created, r.type, r.status)
            for r in conn.execute(
                select(envelopes.c.channel, envelopes.c.created, envelopes.c.type, envelopes.c.status).where(
                    envelopes.c.type != "acknowledgment"
                )
            )
        ]
        acks = []
        q = (
            select(
                envelopes.c.channel,
                envelopes.c.created,
                delivery.c.receipted_at,
                acknowledgments.c.acked_at,
            )
            .join(acknowledgments, acknowledgments.c.message_id == envelopes.c.id)
            .join(
                delivery,
                (delivery.c.message_id == envelopes.c.id)
                & (delivery.c.receiver_node == acknowledgments.c.node),
            )
            .where(envelopes.c.status == "ACTUAL")
        )
        for r in conn.execute(q):
            secs = (parse_time(r.acked_at) - parse_time(r.receipted_at)).total_seconds()
            acks.append((r.channel, r.created, max(0.0, secs)))
        tests = [
            (r.channel, r.sent_at, bool(r.ok))
            for r in conn.execute(select(link_tests.c.channel, link_tests.c.sent_at, link_tests.c.ok))
        ]
        meetings = load_meetings_txn(conn)
        incidents = load_incidents_txn(conn)
    return aggregate(first, last, chans, msgs, meetings, incidents, acks, tests)


def _fmt_s(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f} s" if v < 120 else f"{v / 60:.1f} min"


def to_table(rows: list[YearRow]) -> str:
    head = (
        f"{'channel':24} {'year':>4} {'meetings':>8} {'by level':24} {'messages':>8} "
        f"{'drills':>6} {'inc.open':>8} {'inc.closed':>10} {'ack median':>10} "
        f"{'ack worst':>10} {'uptime':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        levels = ", ".join(f"{k} {v}" for k, v in sorted(r.meetings.items())) or "-"
        up = "-" if r.link_uptime is None else f"{100 * r.link_uptime:.1f}%"
        lines.append(
            f"{r.channel:24} {r.year:>4} {r.meetings_held:>8} {levels:24} "
            f"{r.messages_total:>8} {r.drill_messages:>6} {r.incidents_opened:>8} "
            f"{r.incidents_closed:>10} {_fmt_s(r.ack_median_s):>10} "
            f"{_fmt_s(r.ack_worst_s):>10} {up:>7}"
        )
    return "\n".join(lines) + "\n"


def to_csv(rows: list[YearRow]) -> str:
    types = sorted({t for r in rows for t in r.messages})
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "channel",
            "year",
            "meetings_held",
            *(f"meetings_{lv}" for lv in LEVELS),
            "messages",
            *(f"messages_{t}" for t in types),
            "drill_messages",
            "incidents_opened",
            "incidents_closed",
            "ack_median_s",
            "ack_worst_s",
            "link_uptime",
        ]
    )
    for r in rows:
        w.writerow(
            [
                r.channel,
                r.year,
                r.meetings_held,
                *(r.meetings.get(lv, 0) for lv in LEVELS),
                r.messages_total,
                *(r.messages.get(t, 0) for t in types),
                r.drill_messages,
                r.incidents_opened,
                r.incidents_closed,
                "" if r.ack_median_s is None else f"{r.ack_median_s:.3f}",
                "" if r.ack_worst_s is None else f"{r.ack_worst_s:.3f}",
                "" if r.link_uptime is None else f"{r.link_uptime:.4f}",
            ]
        )
    return out.getvalue()


def write_chart(rows: list[YearRow], path: Path) -> None:
    """Meetings held per year (bars, stacked by channel) over messages per year (lines)."""
    if path.suffix.lower() not in (".png", ".svg"):
        raise UsageError(
            T("{path}: a chart is written as .png or .svg", path=path),
            hint=T("name the file e.g. contacts.svg"),
        )
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to the file
    import matplotlib.pyplot as plt

    years = sorted({r.year for r in rows})
    chans = sorted({r.channel for r in rows})
    by = {(r.channel, r.year): r for r in rows}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    base = [0] * len(years)
    for ch in chans:
        vals = [by[(ch, y)].meetings_held if (ch, y) in by else 0 for y in years]
        top.bar(years, vals, bottom=base, label=ch)
        base = [b + v for b, v in zip(base, vals, strict=True)]
    top.set_ylabel("meetings held")
    top.set_title("Contact per year: meetings held and messages exchanged")
    top.legend(fontsize="small")
    for ch in chans:
        bottom.plot(
            years,
            [by[(ch, y)].messages_total if (ch, y) in by else 0 for y in years],
            marker="o",
            label=ch,
        )
    bottom.set_ylabel("messages (ACTUAL)")
    bottom.set_xlabel("year")
    bottom.set_xticks(years)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
