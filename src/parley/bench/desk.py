"""The desk benchmark: a year of traffic on two nodes, and how fast a duty officer works with it.

Issue 13 ("What it must show"): a fixture of 100,000 messages over a simulated year, built
through the real send, receive, receipt and acknowledgment code on two nodes, then the
console inbox, console search, incident page, API search (``GET /api/v1/messages?q=…``)
and API paging to the oldest page measured on real ``parley serve`` processes over HTTPS.
Targets: console pages p50 ≤ 300 ms, API search p50 ≤ 50 ms (docs/benchmark.md).

The fixture is built with both node processes stopped, through the same functions the
federation API calls (``do_send_many`` → ``receive_batch`` → ``accept_receipts``), with a
:class:`TrafficClock` injected into both nodes (parley.clock), so every envelope is signed,
chained, verified, receipted and projected exactly as in service, only at simulated times.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from parley.devnet.nodes import PASSWORD, NodeProcess, make_pair
from parley.protocol.tls import pinned_client_context

Progress = Callable[[str], None]
YEAR = timedelta(days=365)
CHUNK = 1000  # content messages per round: one commit per side and step (group commit)
SAR_CHANNEL = "desk-sar"
LINE = "test-line"
MAX_PAGES = 5000  # paging to the oldest page stops here whatever the server says
FIXTURE_FILE = "desk-fixture.json"
PROGRESS_FILE = "desk-progress.json"  # written after each round, so a stopped build can be measured

SAR_CHARTER = """
id = "{id}"
members = ["{a}/duty", "{b}/duty"]
types = ["general", "sar-request", "sar-sitrep", "activity-notification"]
topics = ["search_and_rescue"]
languages = ["nb", "ru", "en"]
link_test_interval_s = 3600
[name]
en = "Search and rescue, Barents Sea"
nb = "Søk og redning, Barentshavet"
ru = "Поиск и спасание, Баренцево море"
[basis]
agreement = "SAR agreement (test)"
date = 2020-01-01
"""

# Free text a duty officer writes, in the three languages; search terms are drawn from it.
TEXTS: dict[str, list[str]] = {
    "nb": [
        "Tråleren {vessel} melder motorstans nord for {place}. Vi følger situasjonen.",
        "Bekreftelse på mottatt varsel om øvelse ved {place}. Ta kontakt ved endringer.",
        "Grensemerke ved {place} er skadet etter storm; befaring foreslås torsdag.",
        "Kystvakten har observert fiskefartøyet {vessel} i fiskevernsonen ved {place}.",
        "Oljeflak observert ved {place}. Ber om opplysninger om fartøy i området.",
        "Vakthavende ved {place} bekrefter mottak av meldingen og ber om oppdatering kl. 12.",
    ],
    "ru": [
        "Траулер {vessel} сообщает об остановке двигателя севернее {place}. Следим за обстановкой.",
        "Подтверждаем получение уведомления об учении в районе {place}.",
        "Пограничный знак у {place} повреждён штормом; предлагаем осмотр в четверг.",
        "Пограничный корабль наблюдал рыболовное судно {vessel} у {place}.",
        "Обнаружено нефтяное пятно у {place}. Просим сведения о судах в районе.",
        "Дежурный у {place} подтверждает получение сообщения и просит обновление к 12:00.",
    ],
    "en": [
        "The trawler {vessel} reports engine failure north of {place}. We are following the situation.",
        "We acknowledge the notification of the exercise near {place}.",
        "Border marker near {place} damaged by a storm; an inspection is proposed for Thursday.",
        "The coast guard observed the fishing vessel {vessel} near {place}.",
        "Oil slick observed near {place}. Please report vessels in the area.",
        "The duty officer at {place} confirms receipt and asks for an update at 12:00.",
    ],
}
SEARCH_TERMS = ("tråleren", "траулер", "trawler", "grensemerke", "нефтяное", "inspection", "Varanger")
VESSELS = ("Polarfangst", "Nordkapp", "Полярный рассвет", "Мурман", "Havbris", "Северянка", "Arctic Star")
PLACES = ("Vardø", "Varanger", "Kirkenes", "Storskog", "Мурманск", "Печенга", "Hammerfest", "Kildin")
PRECEDENCE_MIX = (("ROUTINE", 70), ("PRIORITY", 20), ("IMMEDIATE", 8), ("FLASH", 2))
STATUS_MIX = (("ACTUAL", 93), ("EXERCISE", 5), ("TEST", 2))
TYPE_MIX = (
    ("general", 70),
    ("incident-at-sea", 6),
    ("sar-request", 8),
    ("activity-notification", 12),
    ("meeting-proposal", 4),
)


class TrafficClock:
    """A clock for the fixture: each reading moves time on by ``step`` (both nodes share it),
    so every envelope of a group commit has its own time and the year runs forward."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._mono = 1000.0
        self.step = timedelta(seconds=1)
        self.reads = 0

    def now(self) -> datetime:
        self.reads += 1
        self._now += self.step
        self._mono += self.step.total_seconds()
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def peek(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when > self._now:
            self._mono += (when - self._now).total_seconds()
            self._now = when


@dataclass
class Fixture:
    """A built year: two node homes (stopped) and what the measurements need to know."""

    kind: str
    a: NodeProcess
    b: NodeProcess
    messages: int
    envelopes: int = 0
    incidents: list[str] = field(default_factory=list)
    build_seconds: float = 0.0
    databases: list[str] = field(default_factory=list)

    def save(self, base: Path) -> None:
        (base / FIXTURE_FILE).write_text(
            json.dumps(
                {
                    "kind": self.kind,
                    "messages": self.messages,
                    "envelopes": self.envelopes,
                    "incidents": self.incidents,
                    "build_seconds": self.build_seconds,
                    "databases": self.databases,
                    "nodes": [
                        {"home": str(n.home), "name": n.name, "port": n.port, "token": n.token}
                        for n in (self.a, self.b)
                    ],
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, base: Path) -> Fixture | None:
        from parley.files import read_bounded

        path = base / FIXTURE_FILE
        if not path.exists():
            return adopt_interrupted(base)
        data = json.loads(read_bounded(path, "JSON file"))
        nodes = [NodeProcess(Path(n["home"]), n["name"], n["port"], n["port"]) for n in data["nodes"]]
        for n, d in zip(nodes, data["nodes"], strict=True):
            n.token = d["token"]
        return cls(
            data["kind"],
            nodes[0],
            nodes[1],
            data["messages"],
            data["envelopes"],
            data["incidents"],
            data["build_seconds"],
            data["databases"],
        )


def adopt_interrupted(base: Path) -> Fixture | None:
    """A fixture whose build was stopped part-way (a round is committed on both sides before
    the next starts, and whatever was in flight is delivered once the nodes serve): its
    homes are measured as they stand, and the figures say how many messages they hold."""
    import tomllib

    from sqlalchemy import create_engine, func, select

    from parley.files import read_bounded
    from parley.node import resolve_db_url
    from parley.storage.engines import normalise_url
    from parley.storage.tables import envelopes
    from parley.workflows.tables import incidents

    nodes = []
    for name in ("node-a", "node-b"):
        home = base / name
        if not (home / "parley.toml").exists():
            return None
        port = int(tomllib.loads((home / "parley.toml").read_text())["node"]["listen"].rsplit(":", 1)[1])
        nodes.append(NodeProcess(home, name, port, port))
    for n in nodes:
        n.token = n.cli_here("token", "issue", f"op-{n.name}").stdout.strip()
    cfg = tomllib.loads((nodes[0].home / "parley.toml").read_text())
    engine = create_engine(normalise_url(resolve_db_url(nodes[0].home, cfg["database"]["url"])))
    try:
        with engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(envelopes)).scalar_one())
            shown = int(
                conn.execute(select(func.count()).where(envelopes.c.type != "acknowledgment")).scalar_one()
            )
            ids = [str(r[0]) for r in conn.execute(select(incidents.c.id).order_by(incidents.c.id))]
    finally:
        engine.dispose()
    kind = "sqlite" if cfg["database"]["url"].startswith("sqlite") else "postgresql"
    progress = base / PROGRESS_FILE
    seconds = float(json.loads(read_bounded(progress, "JSON file"))["seconds"]) if progress.exists() else 0.0
    fx = Fixture(kind, nodes[0], nodes[1], shown, total, ids, seconds)
    fx.save(base)
    return fx


@dataclass
class _Incident:
    id: str
    opener: str
    status: str
    stage: int = 0  # 0 reported, 1 closure proposed, 2 agreed, 3 closed
    proposal: str = ""
    stays_open: bool = False


class _Traffic:
    """Draws the year's drafts: a realistic mix of types, languages, precedences and statuses."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.examples = {
            t: json.loads(resources.files("parley.formats").joinpath(f"examples/{t}.json").read_text())
            for t in ("incident-at-sea", "sar-request", "activity-notification", "meeting-proposal")
        }
        self.n = 0

    def pick(self, mix: tuple[tuple[str, int], ...]) -> str:
        return self.rng.choices([k for k, _ in mix], [w for _, w in mix])[0]

    def text(self, lang: str | None = None) -> tuple[str, str]:
        lang = lang or self.rng.choice(("nb", "ru", "en"))
        line = self.rng.choice(TEXTS[lang])
        return line.format(vessel=self.rng.choice(VESSELS), place=self.rng.choice(PLACES)), lang

    def position(self) -> dict[str, float]:
        return {"lat": round(self.rng.uniform(69.5, 74.0), 4), "lon": round(self.rng.uniform(20.0, 40.0), 4)}

    def draft(self, when: datetime, answerable: list[str]) -> Any:
        from parley.clock import format_time
        from parley.messaging.send import Draft

        self.n += 1
        kind = self.pick(TYPE_MIX)
        precedence, status = self.pick(PRECEDENCE_MIX), self.pick(STATUS_MIX)
        text, lang = self.text()
        channel, body = LINE, dict[str, Any]({"text": text, "lang": lang})
        reply_to = None
        if kind == "general":
            if self.rng.random() < 0.5:
                body["subject"] = text.split(".")[0][:80]
            # About one general message in six answers one from the other side (a thread).
            if answerable and self.rng.random() < 0.17:
                reply_to = self.rng.choice(answerable)
        elif kind == "incident-at-sea":
            body = copy.deepcopy(self.examples[kind])
            body["time"] = format_time(when - timedelta(minutes=30))
            body["position"] = self.position()
            body["course_deg"] = self.rng.randrange(0, 360)
            body["speed_kn"] = round(self.rng.uniform(2, 25), 1)
            body["description"] = {"text": text, "lang": lang}
        elif kind == "sar-request":
            channel, body = SAR_CHANNEL, copy.deepcopy(self.examples[kind])
            body["case_id"] = f"JRCC-{when:%Y}-{self.n:06d}"
            body["position"] = self.position()
            body["identity"]["name"] = self.rng.choice(VESSELS)
            body["persons_at_risk"] = self.rng.randrange(1, 40)
            body["situation"]["details"] = {"text": text, "lang": lang}
            body["description"] = {"text": text, "lang": lang}
            body["initial_actions"] = {"text": self.text(lang)[0], "lang": lang}
        elif kind == "activity-notification":
            channel, body = SAR_CHANNEL, copy.deepcopy(self.examples[kind])
            start = when + timedelta(days=self.rng.randrange(2, 30))
            body["name"] = f"{self.rng.choice(PLACES)}-{when:%Y}-{self.n}"
            body["start"], body["end"] = format_time(start), format_time(start + timedelta(days=2))
            for closure in body["closures"]:
                closure["from"] = format_time(start + timedelta(hours=6))
                closure["to"] = format_time(start + timedelta(hours=30))
            body["description"] = {"text": text, "lang": lang}
        elif kind == "meeting-proposal":
            body = copy.deepcopy(self.examples[kind])
            start = when + timedelta(days=self.rng.randrange(7, 60))
            body["meeting_id"] = f"desk-{when:%Y%m%d}-{self.n}"
            body["start"], body["end"] = format_time(start), format_time(start + timedelta(hours=6))
            body.pop("prepares", None)
            for item in body["agenda"]:
                item["topic"] = "border_situation"
                item.pop("refs", None)
            body["agenda"][0]["title"] = {"text": text[:200], "lang": lang}
        return Draft(channel, "duty", kind, precedence, status, body, reply_to=reply_to)


def _ack_all_txn(node: Any, conn: Any, envs: list[Any], operator: str) -> list[Any]:
    """Acknowledge received envelopes in one transaction: the envelope ``do_acknowledge``
    signs, with its checks left out because the builder acknowledges only what it just
    received (``do_acknowledge`` commits once per message, too slow for a year)."""
    from parley.messaging.chains import chain_head_txn, store_envelope_txn
    from parley.protocol.envelope import build_envelope

    out = []
    for env in envs:
        now = node.clock.now()
        head = chain_head_txn(conn, env.channel, node.name, for_update=True)
        seq, prev = (1, None) if head is None else (head[0] + 1, head[1])
        ack = build_envelope(
            key=node.key,
            channel=env.channel,
            sender_node=node.name,
            sender_desk="duty",
            seq=seq,
            prev=prev,
            created=now,
            type="acknowledgment",
            type_version=1,
            precedence=env.precedence,
            status=env.status,
            body={"message": env.id, "hash": env.hash, "operator": operator, "desk": "duty"},
            refs=[env.id],
        )
        store_envelope_txn(conn, ack, outgoing=True, stored_at=now)
        out.append(ack)
    return out


def _add_sar_channel(a: NodeProcess, b: NodeProcess, base: Path) -> None:
    charter = base / "desk-sar.toml"
    charter.write_text(SAR_CHARTER.format(id=SAR_CHANNEL, a=a.name, b=b.name))
    proposal, countersigned = str(base / "p.json"), str(base / "c.json")
    a.cli_here("channel", "propose", "--peer", b.name, "--charter", str(charter), "--out", proposal)
    b.cli_here("channel", "accept", proposal, "--out", countersigned)
    a.cli_here("channel", "accept", countersigned)


def build_fixture(
    base: Path,
    kind: str,
    messages: int,
    *,
    db_urls: tuple[str | None, str | None] = (None, None),
    seed: int = 13,
    show_progress: bool = True,
    end: datetime | None = None,
    chunk: int = CHUNK,
) -> Fixture:
    """Two peered nodes under ``base`` holding ``messages`` messages (acknowledgments not
    counted) sent both ways over the year before ``end``; the nodes are left stopped."""
    from parley.messaging.receipts import accept_receipts
    from parley.messaging.receive import receive_batch
    from parley.messaging.send import do_send_many
    from parley.node import Node
    from parley.record.journal import buffered

    t0 = time.perf_counter()
    a, b = make_pair(base, db_urls=db_urls, config={"link_test": {"default_interval_s": 3600}}, channel=LINE)
    _add_sar_channel(a, b, base)
    end = end or datetime.now(UTC).replace(microsecond=0)
    start = end - YEAR
    clock = TrafficClock(start)
    na, nb = Node.open(a.home, clock=clock), Node.open(b.home, clock=clock)
    nodes = {na.name: na, nb.name: nb}
    other = {na.name: nb, nb.name: na}
    traffic = _Traffic(seed)
    incidents: list[_Incident] = []
    answerable: dict[str, list[str]] = {na.name: [], nb.name: []}  # the peer's latest, on the line
    envelopes = 0
    done = 0
    rounds = max(1, -(-messages // chunk))
    per_message = 2.5
    try:
        with _progress(show_progress, f"[{kind}] a year of traffic", messages) as advance:
            for r in range(rounds):
                k = min(chunk, messages - done)
                round_end = start + YEAR * ((done + k) / messages)
                # Spread the round over its share of the year by the reads the last round made
                # (signing, acknowledging, receipts); what is left is jumped at its end.
                span = round_end - clock.peek()
                clock.step = max(span / (per_message * k * 1.1 + 10), timedelta(milliseconds=1))
                reads = clock.reads
                last = r >= rounds - 2
                for sender in (na, nb):
                    peer = other[sender.name]
                    share = k * 55 // 100 if sender is na else k - k * 55 // 100
                    drafts = [traffic.draft(clock.peek(), answerable[sender.name]) for _ in range(share)]
                    drafts += _incident_steps(traffic, incidents, sender.name)
                    sent = do_send_many(sender, drafts)
                    envelopes += len(sent)
                    result = receive_batch(peer, sender.name, [e.to_wire() for e in sent])
                    accept_receipts(sender, peer.name, [x.to_json() for x in result.receipts])
                    answerable[peer.name] = [e.id for e in sent if e.channel == LINE and e.type == "general"]
                    for env in sent:
                        if env.type == "incident-at-sea" and env.status != "TEST":
                            stays = traffic.rng.random() < 0.1
                            incidents.append(_Incident(env.id, sender.name, env.status, stays_open=stays))
                        if env.type == "incident-response" and env.body["action"] == "propose-closure":
                            for inc in incidents:
                                if inc.id == env.body["incident"]:
                                    inc.proposal = env.id
                    # The peer acknowledges most of it; in the last rounds some stay open.
                    keep = 0.7 if last else 1.0
                    to_ack = [e for e in sent if traffic.rng.random() < keep]
                    with peer.engine.begin() as conn, buffered(conn):
                        acks = _ack_all_txn(peer, conn, to_ack, f"op-{peer.name}")
                    envelopes += len(acks)
                    back = receive_batch(sender, peer.name, [e.to_wire() for e in acks])
                    accept_receipts(peer, sender.name, [x.to_json() for x in back.receipts])
                per_message = max(0.5, (clock.reads - reads) / k)
                done += k
                seconds = round(time.perf_counter() - t0, 1)
                (base / PROGRESS_FILE).write_text(json.dumps({"messages": done, "seconds": seconds}))
                clock.set(round_end)
                advance(k)
                incidents = [i for i in incidents if i.stage < 3 and not i.stays_open]
        ids = _incident_ids(na)
    finally:
        for n in nodes.values():
            n.close()
            n.engine.dispose()
    fx = Fixture(kind, a, b, messages, envelopes, ids, round(time.perf_counter() - t0, 1))
    fx.save(base)
    return fx


def _incident_steps(traffic: _Traffic, incidents: list[_Incident], node: str) -> list[Any]:
    """The next step of each open incident that is ``node``'s to take: the reporting side
    proposes closure, the other side agrees, the reporting side closes the file."""
    from parley.messaging.send import Draft

    out = []
    for inc in incidents:
        if inc.stays_open or inc.stage >= 3:
            continue
        mine = inc.opener == node
        text, lang = traffic.text()
        body: dict[str, Any] = {"incident": inc.id, "text": text, "lang": lang}
        answered = inc.id
        if inc.stage == 0 and mine:
            body["action"] = "propose-closure"
        elif inc.stage == 1 and not mine and inc.proposal:
            body["action"], body["answers"] = "agree-closure", inc.proposal
            answered = inc.proposal
        elif inc.stage == 2 and mine:
            body["action"] = "close"
        else:
            continue
        inc.stage += 1
        out.append(Draft(LINE, "duty", "incident-response", "PRIORITY", inc.status, body, reply_to=answered))
    return out


def _incident_ids(node: Any) -> list[str]:
    from sqlalchemy import select

    from parley.workflows.tables import incidents

    with node.engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(select(incidents.c.id).order_by(incidents.c.id)).all()]


class _progress:
    """A rich progress bar on stderr (long work shows progress), or nothing in tests."""

    def __init__(self, show: bool, label: str, total: int) -> None:
        self.show, self.label, self.total = show, label, total

    def __enter__(self) -> Callable[[int], None]:
        if not self.show:
            return lambda n: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.bar.__enter__()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self.bar.__exit__(None, None, None)


# ---------------------------------------------------------------------------------------
# Measurements on the running nodes


def _p(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = sorted(v * 1000 for v in values)
    return {
        "p50": round(statistics.median(ms), 1),
        "p90": round(ms[min(len(ms) - 1, int(len(ms) * 0.9))], 1),
        "n": len(ms),
    }


def _timed(client: httpx.Client, path: str, n: int) -> tuple[list[float], int]:
    """``n`` sequential GETs of ``path`` (after one warm-up); the times and the status, the
    first that was not 200 if any (0: no answer at all), so one broken page is reported, not fatal."""
    out: list[float] = []
    try:
        client.get(path)
        for _ in range(n):
            t = time.perf_counter()
            r = client.get(path)
            out.append(time.perf_counter() - t)
            if r.status_code != 200:
                return out, r.status_code
    except httpx.HTTPError:
        return out, 0
    return out, 200


def _result(times: list[float], status: int, target_ms: float) -> dict[str, Any]:
    if status != 200:
        return {"missing": f"HTTP {status}" if status else "no answer (the connection was dropped)"}
    p = _p(times)
    return {**p, "target_ms": target_ms, "met": p["p50"] <= target_ms}


def console_client(node: NodeProcess) -> httpx.Client:
    """An HTTPS client logged in to ``node``'s console through its log-in form."""
    import html
    import re

    c = httpx.Client(base_url=node.url, verify=pinned_client_context(node.cert()), timeout=60)
    form = c.get("/console/login")
    m = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if m is None:
        c.close()
        raise RuntimeError(f"no log-in form on {node.url}/console/login")
    r = c.post(
        "/console/login",
        data={
            "username": f"op-{node.name}",
            "password": PASSWORD,
            "csrf": html.unescape(m.group(1)),
            "next": "/console/",
        },
    )
    if r.status_code != 303:
        c.close()
        raise RuntimeError(f"console log-in failed on {node.name}: HTTP {r.status_code}")
    return c


def measure_desk(fx: Fixture, repeats: int = 30) -> dict[str, Any]:
    """The desk figures on the running node A (the fixture's nodes must be started)."""
    terms = list(SEARCH_TERMS)
    out: dict[str, Any] = {
        "messages": fx.messages,
        "envelopes": fx.envelopes,
        "build_seconds": fx.build_seconds,
    }
    # Already used to log in, so closed here rather than entered as a context manager.
    with contextlib.closing(console_client(fx.a)) as con, fx.a.client(timeout=60) as api:
        t, s = _timed(con, "/console/inbox", repeats)
        out["console_inbox"] = _result(t, s, 300)
        times: list[float] = []
        for i in range(repeats):
            q = terms[i % len(terms)]
            t1, s = _timed(con, f"/console/inbox?q={q}", 1)
            times += t1
            if s != 200:
                break
        out["console_search"] = _result(times, s, 300)
        times = []
        picks = fx.incidents[:: max(1, len(fx.incidents) // repeats)][:repeats]
        s = 404
        for inc in picks:
            t1, s = _timed(con, f"/console/incidents/{inc}", 1)
            times += t1
            if s != 200:
                break
        out["incident_page"] = _result(times, s, 300) if picks else {"missing": "no incidents"}
        times = []
        for i in range(repeats):
            t1, s = _timed(api, f"/api/v1/messages?q={terms[i % len(terms)]}", 1)
            times += t1
            if s != 200:
                break
        out["api_search"] = _result(times, s, 50)
        if s == 200:
            found = api.get(f"/api/v1/messages?q={terms[0]}").json()
            out["api_search"]["hits"] = {terms[0]: found.get("total")}
        out["api_paging"] = page_to_oldest(api)
    # Other work on the machine slows every figure; the load says how busy it was.
    out["load_average"] = [round(x, 1) for x in os.getloadavg()]
    return out


def page_to_oldest(api: httpx.Client, limit: int = 500) -> dict[str, Any]:
    """Follow the ``next`` links of ``GET /api/v1/messages`` from the newest page to the oldest."""
    times: list[float] = []
    path: str | None = f"/api/v1/messages?limit={limit}"
    seen = 0
    t0 = time.perf_counter()
    while path and len(times) < MAX_PAGES:
        t = time.perf_counter()
        try:
            r = api.get(path)
        except httpx.HTTPError as exc:
            return {"missing": f"no answer on page {len(times) + 1}: {type(exc).__name__}"}
        times.append(time.perf_counter() - t)
        if r.status_code != 200:
            return {"missing": f"HTTP {r.status_code}"}
        data = r.json()
        if not isinstance(data, dict) or "next" not in data:
            return {"missing": "no cursor paging (no `next` in the answer)"}
        items = data.get("messages", data.get("items"))
        seen += len(items) if isinstance(items, list) else 0
        nxt = data.get("next")
        if not nxt:
            path = None
        elif str(nxt).startswith("/"):
            path = str(nxt)
        else:
            path = f"/api/v1/messages?limit={limit}&cursor={nxt}"
    return {"pages": len(times), "messages": seen, "seconds": round(time.perf_counter() - t0, 2), **_p(times)}


def run_desk(
    base: Path,
    kind: str,
    messages: int,
    *,
    pg_base: str = "",
    reuse: bool = False,
    show_progress: bool = True,
    repeats: int = 30,
) -> dict[str, Any]:
    """Build (or reuse) the fixture under ``base`` and measure it on ``kind``."""
    fx = Fixture.load(base) if reuse else None
    if fx is None:
        db_urls: tuple[str | None, str | None] = (None, None)
        dbs: list[str] = []
        if kind == "postgresql":
            dbs = _create_databases(pg_base, 2)
            db_urls = (f"{pg_base}/{dbs[0]}", f"{pg_base}/{dbs[1]}")
        base.mkdir(parents=True, exist_ok=True)
        try:
            fx = build_fixture(base, kind, messages, db_urls=db_urls, show_progress=show_progress)
        except BaseException:
            if dbs:
                drop_databases(pg_base, dbs)
            raise
        fx.databases = dbs
        fx.save(base)
    statistics = gather_statistics(pg_base, fx.databases) if kind == "postgresql" else None
    for n in (fx.a, fx.b):
        n.start(wait=120)
    try:
        figures = measure_desk(fx, repeats)
        if statistics:
            figures["statistics"] = statistics
        return figures
    finally:
        fx.a.kill()
        fx.b.kill()


def gather_statistics(pg_base: str, names: list[str]) -> str | None:
    """``VACUUM (ANALYZE)`` the fixture's databases when the server's autovacuum would not.

    With ``autovacuum = off`` (as on some test servers) PostgreSQL never gathers statistics on
    its own and plans a 50-id lookup of 126,000 delivery rows as a sequential scan (27 ms
    instead of 0.5 ms); nor does it mark pages all-visible, so counting the inbox cannot read
    the covering index alone (65 ms instead of 23 ms at 10^5 messages). A production server
    keeps autovacuum on (docs/operations.md); the benchmark measures that server, and says
    when it had to stand in for it.
    """
    from sqlalchemy import create_engine, text

    from parley.storage.engines import normalise_url

    admin = create_engine(normalise_url(pg_base + "/postgres"))
    with admin.connect() as conn:
        autovacuum = str(conn.execute(text("SHOW autovacuum")).scalar_one())
    admin.dispose()
    if autovacuum == "on":
        return None
    for name in names:
        engine = create_engine(normalise_url(f"{pg_base}/{name}"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
        engine.dispose()
    return "autovacuum is off on this server: VACUUM (ANALYZE) ran before measuring, as autovacuum would have"


def _create_databases(pg_base: str, n: int) -> list[str]:
    from sqlalchemy import create_engine, text

    from parley.storage.engines import normalise_url

    admin = create_engine(normalise_url(pg_base + "/postgres"), isolation_level="AUTOCOMMIT")
    names = [f"parley_desk_{os.getpid()}_{i}_{int(time.time())}" for i in range(n)]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return names


def drop_databases(pg_base: str, names: list[str]) -> None:
    from sqlalchemy import create_engine, text

    from parley.storage.engines import normalise_url

    admin = create_engine(normalise_url(pg_base + "/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def iter_rows(desk: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The measured pages in report order, for the table and the Markdown."""
    for key in ("console_inbox", "console_search", "incident_page", "api_search"):
        if key in desk:
            yield key, desk[key]
