"""The benchmark: two real nodes on loopback, fresh databases, and the machine's floor.

Figures (docs/benchmark.md explains each):

* latency     submit on A → stored and verified at B → signed receipt held at A, sequential;
* throughput  messages per second submitted by 8 concurrent senders and receipted;
* catch-up    time to drain messages queued on A while B was down;
* record      append rate, inclusion-proof time, verification rate at 10^4…10^6 entries;
* history     latency and throughput again after the stored history has grown;
* memory      peak RSS of each node process;
* floor       a minimal HTTPS endpoint committing one row, measured in the same run;
* desk        a year of traffic (parley.bench.desk): inbox, search, incident page, paging.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from parley.bench.goals import goals, signature_floor
from parley.bench.load import Target, concurrent, message, percentiles, sequential
from parley.devnet.nodes import NodeProcess, make_pair
from parley.devnet.proxy import free_port
from parley.protocol.tls import pinned_client_context

Progress = Callable[[str], None]


@dataclass
class BenchPlan:
    latency_n: int = 1000
    throughput_n: int = 20000
    senders: int = 8
    batch_per_request: int = 50  # the batched throughput run: messages per API request
    catchup_n: int = 50000
    record_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    history_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    history_latency_n: int = 300
    history_throughput_n: int = 4000
    engines: tuple[str, ...] = ("sqlite", "postgresql")
    pg_base: str = "postgresql://postgres@127.0.0.1:5432"
    desk_messages: int = 100_000  # the desk section's year of traffic
    desk_repeats: int = 30
    fixture: Path | None = None  # where the desk fixture is built once and reused

    @classmethod
    def quick(cls) -> BenchPlan:
        return cls(
            latency_n=200,
            throughput_n=2000,
            catchup_n=3000,
            record_sizes=(10_000,),
            history_sizes=(10_000,),
            history_latency_n=100,
            history_throughput_n=1000,
            engines=("sqlite",),
        )


@dataclass
class RssWatch:
    """Samples each node process's resident memory; keeps the peak per node."""

    nodes: list[NodeProcess]
    peak_mb: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> RssWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            for n in self.nodes:
                if n.proc is None or n.proc.poll() is not None:
                    continue
                try:
                    mb = psutil.Process(n.proc.pid).memory_info().rss / 1e6
                except psutil.Error:
                    continue
                self.peak_mb[n.name] = max(self.peak_mb.get(n.name, 0.0), mb)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def machine() -> dict[str, Any]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def target(node: NodeProcess) -> Target:
    return Target(node.url, node.cert(), node.token)


def wait_drained(node: NodeProcess, timeout: float) -> float:
    """Seconds until ``node``'s outbox is empty (every message receipted)."""
    start = time.perf_counter()
    with node.client() as c:
        while time.perf_counter() - start < timeout:
            st = c.get("/api/v1/status").json()
            if all(p["outbox_depth"] == 0 for p in st["peers"]):
                return time.perf_counter() - start
            time.sleep(0.05)
    raise RuntimeError(f"{node.name}'s outbox not drained within {timeout}s")


def measure_floor(work: Path, n: int, senders: int, conc_n: int) -> dict[str, Any]:
    port = free_port()
    home = work / "floor"
    home.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "parley.bench.floor", str(home), str(port)])
    try:
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                cert = (home / "cert.pem").read_text()
                httpx.post(url + "/commit", content=b"x", verify=pinned_client_context(cert), timeout=2)
                break
            except (OSError, httpx.HTTPError):
                if time.monotonic() > deadline:
                    raise RuntimeError("floor server did not start") from None
                time.sleep(0.1)
        t = Target(url, cert)
        lat = sequential(t, "/commit", n, {"x": 1})
        secs, _ = concurrent(t, "/commit", conc_n, senders, {"x": 1})
        return {"latency_ms": percentiles(lat), "throughput_per_s": round(conc_n / secs, 1)}
    finally:
        proc.terminate()
        proc.wait(10)


def general_drafts(label: str, start: int, count: int) -> list[Any]:
    """``count`` plain messages on the benchmark's channel, numbered from ``start``."""
    from parley.messaging.send import Draft

    return [
        Draft(
            "test-line",
            "duty",
            "general",
            "ROUTINE",
            "ACTUAL",
            {"text": f"{label} {start + i}", "lang": "en"},
        )
        for i in range(count)
    ]


def fill_history(a: NodeProcess, b: NodeProcess, total: int, progress: Progress) -> None:
    """Grow both nodes' stored history to ``total`` messages through the real code paths:
    A signs and stores, B verifies and stores with receipts, A stores the receipts.
    Both node processes are stopped meanwhile (this writes their databases directly)."""
    from parley.messaging.receipts import accept_receipts
    from parley.messaging.receive import receive_batch
    from parley.messaging.send import do_send_many
    from parley.node import Node

    na, nb = Node.open(a.home), Node.open(b.home)
    try:
        with na.reader.connect() as conn:
            from sqlalchemy import func, select

            from parley.storage.tables import envelopes

            have = int(conn.execute(select(func.count()).select_from(envelopes)).scalar() or 0)
        chunk = 2000
        done = have
        while done < total:
            k = min(chunk, total - done)
            envs = do_send_many(na, general_drafts("history", done, k))
            result = receive_batch(nb, na.name, [e.to_wire() for e in envs])
            accept_receipts(na, nb.name, [r.to_json() for r in result.receipts])
            done += k
            if done % 50_000 < chunk:
                progress(f"  history {done:,}/{total:,}")
    finally:
        na.close()
        nb.close()


def bench_engine(kind: str, plan: BenchPlan, work: Path, progress: Progress) -> dict[str, Any]:
    urls: tuple[str | None, str | None] = (None, None)
    dbs: list[str] = []
    if kind == "postgresql":
        from sqlalchemy import create_engine, text

        from parley.storage.engines import normalise_url

        admin = create_engine(normalise_url(plan.pg_base + "/postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for _ in range(2):
                name = f"parley_bench_{os.getpid()}_{len(dbs)}_{int(time.time())}"
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                dbs.append(name)
        urls = (f"{plan.pg_base}/{dbs[0]}", f"{plan.pg_base}/{dbs[1]}")
    out: dict[str, Any] = {}
    a, b = make_pair(work / kind, db_urls=urls, tick=0.2, config={"link_test": {"default_interval_s": 3600}})
    try:
        a.start()
        b.start()
        with RssWatch([a, b]) as rss:
            progress(f"[{kind}] latency: {plan.latency_n} sequential messages")
            sequential(target(a), "/api/v1/messages?wait=receipt", 20, message)  # warm up
            lat = sequential(target(a), "/api/v1/messages?wait=receipt", plan.latency_n, message)
            out["latency_ms"] = percentiles(lat)

            progress(f"[{kind}] throughput: {plan.throughput_n} messages from {plan.senders} senders")
            t0 = time.perf_counter()
            submit_s, _ = concurrent(target(a), "/api/v1/messages", plan.throughput_n, plan.senders, message)
            wait_drained(a, 600)
            total_s = time.perf_counter() - t0
            out["throughput"] = {
                "messages": plan.throughput_n,
                "submitted_per_s": round(plan.throughput_n / submit_s, 1),
                "receipted_per_s": round(plan.throughput_n / total_s, 1),
            }

            per = plan.batch_per_request
            progress(f"[{kind}] throughput, batched: {plan.throughput_n} messages, {per} a request")
            t0 = time.perf_counter()
            concurrent(
                target(a),
                "/api/v1/messages/batch",
                plan.throughput_n // per,
                plan.senders,
                lambda i: {"messages": [message(i * per + k) for k in range(per)]},
            )
            wait_drained(a, 600)
            out["throughput_batched"] = {
                "messages": plan.throughput_n // per * per,
                "per_request": per,
                "receipted_per_s": round(plan.throughput_n // per * per / (time.perf_counter() - t0), 1),
            }

            progress(f"[{kind}] catch-up: {plan.catchup_n} messages queued while the peer is down")
            b.stop()
            from parley.messaging.send import do_send_many
            from parley.node import Node

            na = Node.open(a.home)
            try:
                for start in range(0, plan.catchup_n, 2000):
                    k = min(2000, plan.catchup_n - start)
                    do_send_many(na, general_drafts("queued", start, k))
            finally:
                na.close()
            t0 = time.perf_counter()
            b.start()
            drain = wait_drained(a, 1800)
            out["catch_up"] = {
                "messages": plan.catchup_n,
                "seconds": round(time.perf_counter() - t0, 2),
                "per_s": round(plan.catchup_n / max(drain, 1e-9), 1),
            }
        out["rss_peak_mb"] = {k: round(v, 1) for k, v in rss.peak_mb.items()}

        history = []
        for size in plan.history_sizes:
            a.stop()
            b.stop()
            progress(f"[{kind}] history: growing the record to {size:,} messages")
            fill_history(a, b, size, progress)
            a.start()
            b.start()
            with RssWatch([a, b]) as rss:
                sequential(target(a), "/api/v1/messages?wait=receipt", 20, message)  # warm up
                lat = sequential(target(a), "/api/v1/messages?wait=receipt", plan.history_latency_n, message)
                t0 = time.perf_counter()
                concurrent(target(a), "/api/v1/messages", plan.history_throughput_n, plan.senders, message)
                wait_drained(a, 600)
                secs = time.perf_counter() - t0
            history.append(
                {
                    "stored_messages": size,
                    "latency_ms": percentiles(lat),
                    "receipted_per_s": round(plan.history_throughput_n / secs, 1),
                    "rss_peak_mb": {k: round(v, 1) for k, v in rss.peak_mb.items()},
                }
            )
        out["history"] = history
    finally:
        a.kill()
        b.kill()
        if dbs:
            from sqlalchemy import create_engine, text

            from parley.storage.engines import normalise_url

            admin = create_engine(normalise_url(plan.pg_base + "/postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                for name in dbs:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return out


def bench_record(plan: BenchPlan, work: Path, progress: Progress) -> list[dict[str, Any]]:
    from parley.record.measure import measure_log
    from parley.running.schema import metadata
    from parley.storage.engines import create_db_engine

    out = []
    for size in plan.record_sizes:
        progress(f"[record] Merkle log with {size:,} entries")
        engine = create_db_engine(f"sqlite:///{work / f'record-{size}.db'}")
        metadata.create_all(engine)
        try:
            m = measure_log(engine, size)
        finally:
            engine.dispose()
        m["verify_per_s"] = verification_rate(min(size, 200_000))
        out.append({"entries": size, **m})
    return out


def verification_rate(n: int) -> float:
    """Transcript entries per second through the full offline check, on every core."""
    from parley.evidence.measure import measure_transcript_verification

    return round(measure_transcript_verification(n), 1)


def run_bench(plan: BenchPlan, progress: Progress) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as d:
        work = Path(d)
        progress("[floor] minimal HTTPS endpoint committing one row")
        floor = measure_floor(work, plan.latency_n, plan.senders, max(2000, plan.throughput_n // 4))
        engines: dict[str, Any] = {}
        for kind in plan.engines:
            if kind == "postgresql" and not _pg_reachable(plan.pg_base):
                engines[kind] = {"skipped": f"PostgreSQL not reachable at {plan.pg_base}"}
                continue
            engines[kind] = bench_engine(kind, plan, work, progress)
        record = bench_record(plan, work, progress)
        progress("[signatures] one core's Ed25519 verify rate (PyNaCl)")
        signatures = signature_floor()
    result: dict[str, Any] = {
        "machine": machine(),
        "floor": floor,
        "signatures": signatures,
        "engines": engines,
        "record": record,
    }
    for r in engines.values():
        if "latency_ms" in r:
            r["ratio_to_floor"] = {
                "latency_p50": round(r["latency_ms"]["p50"] / max(floor["latency_ms"]["p50"], 1e-9), 2),
                "throughput": round(
                    floor["throughput_per_s"] / max(r["throughput"]["receipted_per_s"], 1e-9), 2
                ),
            }
    result["goals"] = goals(result)
    return result


def _pg_reachable(base: str) -> bool:
    try:
        from sqlalchemy import create_engine, text

        from parley.storage.engines import normalise_url

        eng = create_engine(normalise_url(base + "/postgres"), connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def run_desk_bench(plan: BenchPlan, progress: Progress, *, show_progress: bool = True) -> dict[str, Any]:
    """The desk section alone: a year of traffic per engine, built once (kept under
    ``plan.fixture`` if given, reused from there next time), measured on running nodes."""
    from parley.bench.desk import FIXTURE_FILE, Fixture, drop_databases, run_desk

    desk: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="parley-desk-") as d:
        for kind in plan.engines:
            if kind == "postgresql" and not _pg_reachable(plan.pg_base):
                desk[kind] = {"skipped": f"PostgreSQL not reachable at {plan.pg_base}"}
                continue
            base = (plan.fixture or Path(d)) / kind
            progress(f"[desk/{kind}] {plan.desk_messages:,} messages over a simulated year")
            try:
                desk[kind] = run_desk(
                    base,
                    kind,
                    plan.desk_messages,
                    pg_base=plan.pg_base,
                    reuse=plan.fixture is not None,
                    show_progress=show_progress,
                    repeats=plan.desk_repeats,
                )
            finally:
                built = Fixture.load(base) if (base / FIXTURE_FILE).exists() else None
                if plan.fixture is None and built is not None and built.databases:
                    drop_databases(plan.pg_base, built.databases)
    return {"machine": machine(), "desk": desk}
