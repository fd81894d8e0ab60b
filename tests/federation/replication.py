"""Throwaway PostgreSQL clusters with streaming replication, for the failover test.

A primary made with ``initdb`` and a hot standby made from it with ``pg_basebackup -R``
(PostgreSQL 15 documentation §27.2.4 "Setting Up a Standby Server", §27.2.8 "Synchronous
Replication"), each on its own loopback port with its socket in its data directory.
PostgreSQL refuses to run as root, so as root every server command runs as the
``postgres`` user (``su postgres -s /bin/sh -c …``, ../shared/STACK.md). Only the clusters
started here are stopped, by the postmaster PID each wrote, checked against the process's
start time so that a reused PID is never signalled.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from sqlalchemy import create_engine, text

from parley.devnet.proxy import free_port

NEEDED = ("initdb", "pg_ctl", "pg_basebackup", "postgres")


def server_binaries() -> tuple[Path | None, str]:
    """The newest PostgreSQL bin directory with every server binary, or why there is none."""

    def version(d: str) -> int:
        name = Path(d).parent.name
        return int(name) if name.isdigit() else 0

    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for d in dirs:
        if all((Path(d) / b).exists() for b in NEEDED):
            return Path(d), ""
    return None, f"no PostgreSQL server binaries ({', '.join(NEEDED)}) under /usr/lib/postgresql/*/bin"


def run_as_server_user(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a server command, as ``postgres`` when this process is root."""
    cmd = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)] if os.geteuid() == 0 else argv
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def cannot_run() -> str | None:
    """Why the server binaries cannot run here, or None."""
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
        if shutil.which("su") is None:
            return "running as root and there is no 'su' to run PostgreSQL as 'postgres'"
    return None


@dataclass
class Cluster:
    bin: Path
    data: Path
    port: int = field(default_factory=free_port)
    pid: int | None = None
    started: float | None = None  # the postmaster's start time as the kernel reports it

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def url(self, database: str) -> str:
        return f"{self.dsn}/{database}"

    def pg(self, tool: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return run_as_server_user([str(self.bin / tool), *args], timeout=timeout)

    def configure(self, **settings: str | int) -> None:
        """Append settings to postgresql.conf: a later line overrides an earlier one."""
        conf = self.data / "postgresql.conf"
        lines = "".join(
            f"{k} = {v!r}\n" if isinstance(v, str) else f"{k} = {v}\n" for k, v in settings.items()
        )
        with conf.open("a") as f:
            f.write("\n# parley failover test\n" + lines)

    def start(self) -> None:
        self.configure(port=self.port, listen_addresses="127.0.0.1", unix_socket_directories=str(self.data))
        self.pg(
            "pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "-t", "60", "start"
        )
        self.pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        self.started = psutil.Process(self.pid).create_time()

    def ours_alive(self) -> bool:
        """Whether the postmaster started here still runs (not a reused PID)."""
        if self.pid is None or self.started is None:
            return False
        try:
            return abs(psutil.Process(self.pid).create_time() - self.started) < 1.0
        except psutil.NoSuchProcess:
            return False

    def kill(self) -> None:
        """SIGKILL the postmaster: the crash of the primary's machine, as far as the node sees."""
        if self.ours_alive():
            assert self.pid is not None
            os.kill(self.pid, signal.SIGKILL)

    def stop(self, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT) of the postmaster started here; SIGKILL if it lingers."""
        if not self.ours_alive():
            return
        assert self.pid is not None
        os.kill(self.pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.ours_alive():
            time.sleep(0.1)
        self.kill()

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[object, ...]]:
        from parley.storage.engines import normalise_url

        engine = create_engine(normalise_url(self.url(database)), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                result = conn.execute(text(statement))
                return [tuple(r) for r in result.all()] if result.returns_rows else []
        finally:
            engine.dispose()


@dataclass
class ReplicatedPair:
    """A primary and a hot standby of it, both running, replicating synchronously."""

    base: Path
    primary: Cluster
    standby: Cluster

    @classmethod
    def create(cls, bin_dir: Path) -> ReplicatedPair:
        # Not under pytest's tmp_path: its directories are private to root, and the
        # server runs as 'postgres'.
        base = Path(tempfile.mkdtemp(prefix="parley-failover-"))
        os.chmod(base, 0o700)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(base, entry.pw_uid, entry.pw_gid)
        pair = cls(base, Cluster(bin_dir, base / "primary"), Cluster(bin_dir, base / "standby"))
        return pair

    def start(self) -> None:
        p, s = self.primary, self.standby
        p.pg(
            "initdb",
            "-D",
            str(p.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "-N",
        )
        p.configure(wal_level="replica", max_wal_senders=4, shared_buffers="32MB", max_connections=60)
        p.start()
        s.pg(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(p.port), "-U", "postgres",
            "-D", str(s.data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        s.configure(hot_standby="on")
        s.start()
        # Synchronous from now on: a commit returns once the standby has applied it. Set
        # on the primary only (postgresql.auto.conf, written after the base backup), so the
        # promoted standby, which has no standby of its own, does not wait for one.
        p.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        p.sql("ALTER SYSTEM SET synchronous_commit = 'remote_apply'")
        p.sql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if p.sql("SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'"):
                return
            time.sleep(0.1)
        raise AssertionError("the standby did not become synchronous within 30 s")

    def promote(self) -> None:
        self.standby.pg("pg_ctl", "-D", str(self.standby.data), "-w", "-t", "60", "promote")

    def close(self) -> None:
        for c in (self.primary, self.standby):
            with contextlib.suppress(Exception):
                c.stop()
        # Backends of a killed postmaster notice its death and exit; give them a moment
        # before their files go.
        shutil.rmtree(self.base, ignore_errors=True)
