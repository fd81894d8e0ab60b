"""A small TCP proxy for fault tests: pass, cut, stall or delay a link on command.

It runs an asyncio server in its own thread on 127.0.0.1 and forwards to a target port.
``cut()`` closes every connection and refuses new ones (a partition); ``stall()`` keeps
connections open but forwards nothing (a half-open link); ``delay(ms)`` adds latency per
chunk; ``restore()`` goes back to passing; ``retarget(port)`` moves the link to another
backend (a failover). Loopback only, bounded, stopped by ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class FaultProxy:
    def __init__(self, target_port: int, listen_port: int | None = None) -> None:
        self.target_port = target_port
        self.port = listen_port or free_port()
        self.mode = "pass"
        self.delay_s = 0.0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("proxy did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    while self.mode == "stall":
                        await asyncio.sleep(0.05)
                    if self.mode == "cut":
                        break
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)

    def _call(self, fn: object) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                fn()  # type: ignore[operator]
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self.mode = "cut"

        def close_all() -> None:
            for w in list(self._writers):
                w.close()
            self._writers.clear()

        self._call(close_all)

    def retarget(self, target_port: int) -> None:
        """Route new connections to ``target_port`` and drop the current ones: the node's
        URL moving to another machine (a DNS change, a virtual IP, a proxy's backend)."""
        self.target_port = target_port

        def close_all() -> None:
            for w in list(self._writers):
                w.close()
            self._writers.clear()

        self._call(close_all)

    def stall(self) -> None:
        self.mode = "stall"

    def delay(self, ms: float) -> None:
        self.delay_s = ms / 1000.0

    def restore(self) -> None:
        self.mode = "pass"
        self.delay_s = 0.0

    def close(self) -> None:
        def stop() -> None:
            for w in list(self._writers):
                w.close()
            if self._server is not None:
                self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            # Let the transports finish closing, then release the loop and its sockets.
            self._loop.run_until_complete(asyncio.sleep(0))
            if self._server is not None:
                self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()
