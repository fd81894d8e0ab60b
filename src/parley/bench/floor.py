"""The floor: the least a durable HTTPS request can cost on this machine.

A minimal ASGI endpoint (Starlette, the same uvicorn server and TLS as a node) that commits
one row to SQLite with the same durability settings as a node (WAL, ``synchronous=FULL``).
Every Parley figure is reported beside this one, so a reader can tell the cost of Parley's
own work from the cost of the machine. Run as ``python -m parley.bench.floor DIR PORT``.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def make_app(db: Path) -> Starlette:
    conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")
    lock = threading.Lock()

    def commit(body: bytes) -> int:
        with lock:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute("INSERT INTO t (body) VALUES (?)", (body,))
            conn.execute("COMMIT")
            return int(cur.lastrowid or 0)

    async def endpoint(request: Request) -> JSONResponse:
        import anyio

        body = await request.body()
        row = await anyio.to_thread.run_sync(commit, body)
        return JSONResponse({"id": row})

    return Starlette(routes=[Route("/commit", endpoint, methods=["POST"])])


def main() -> None:
    import uvicorn

    from parley.protocol.tls import make_self_signed

    home = Path(sys.argv[1])
    port = int(sys.argv[2])
    cert, key = make_self_signed("127.0.0.1", "floor")
    (home / "cert.pem").write_bytes(cert)
    (home / "key.pem").write_bytes(key)
    uvicorn.run(
        make_app(home / "floor.db"),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(home / "cert.pem"),
        ssl_keyfile=str(home / "key.pem"),
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
