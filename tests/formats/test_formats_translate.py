"""The LibreTranslate client against a small fake LibreTranslate server on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from parley.errors import PeerError
from parley.formats import LibreTranslateTranslator, Translator, machine_translate, render
from tests.formats.formats_helpers import envelope

API_KEY = "test-key"
KNOWN = {("ru", "en", "Проверка связи"): "Communication check"}
SUPPORTED = {"nb", "ru", "en"}


async def translate(request: Request) -> JSONResponse:
    """The part of the LibreTranslate API Parley uses: POST /translate."""
    data = await request.json()
    if data.get("api_key") != API_KEY:
        return JSONResponse({"error": "Invalid API key"}, status_code=403)
    if data.get("format") != "text":
        return JSONResponse({"error": "Invalid request: format"}, status_code=400)
    source, target, q = data["source"], data["target"], data["q"]
    if source not in SUPPORTED or target not in SUPPORTED:
        return JSONResponse({"error": f"{source} is not supported"}, status_code=400)
    if q == "slow":
        await asyncio.sleep(1.0)
    return JSONResponse({"translatedText": KNOWN.get((source, target, q), f"[{target}] {q}")})


@pytest.fixture(scope="module")
def libretranslate() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 at a free port, in a thread, stopped afterwards."""
    app = Starlette(routes=[Route("/translate", translate, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", http="h11", ws="none", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "fake LibreTranslate did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive()


def test_round_trip(libretranslate: str) -> None:
    mt = LibreTranslateTranslator(libretranslate, api_key=API_KEY, timeout=5)
    assert isinstance(mt, Translator)
    assert mt.translate("Проверка связи", "ru", "en") == "Communication check"
    result = machine_translate(mt, "Проверка связи", "ru-RU", "en")
    assert result.text == "Communication check"
    assert (result.source, result.target) == ("ru-RU", "en")
    assert result.unofficial
    assert "LibreTranslate" in result.engine


def test_render_with_libretranslate_keeps_the_original(libretranslate: str) -> None:
    mt = LibreTranslateTranslator(libretranslate, api_key=API_KEY)
    env = envelope("general", body={"text": "Проверка связи", "lang": "ru"})
    r = render(env, "nb", translator=mt)
    original, translated = r.fields
    assert original.value == "Проверка связи"
    assert original.original
    assert translated.unofficial
    assert translated.value == "[nb] Проверка связи"
    assert translated.label == "Tekst — maskinoversettelse, uoffisiell"
    assert env["body"] == {"text": "Проверка связи", "lang": "ru"}  # the body is untouched


def test_errors_become_peer_errors(libretranslate: str) -> None:
    with pytest.raises(PeerError, match="answered 403: Invalid API key"):
        LibreTranslateTranslator(libretranslate, api_key="wrong").translate("x", "ru", "en")
    with pytest.raises(PeerError, match="answered 400: fi is not supported"):
        LibreTranslateTranslator(libretranslate, api_key=API_KEY).translate("x", "fi", "en")
    with pytest.raises(PeerError, match="could not be reached: ReadTimeout"):
        LibreTranslateTranslator(libretranslate, api_key=API_KEY, timeout=0.2).translate("slow", "ru", "en")


def test_unreachable_server_is_a_peer_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PeerError, match="could not be reached"):
        LibreTranslateTranslator(f"http://127.0.0.1:{port}", timeout=2).translate("x", "ru", "en")


def test_a_failing_translator_does_not_stop_rendering(libretranslate: str) -> None:
    mt = LibreTranslateTranslator(libretranslate, api_key="wrong")
    r = render(envelope("general"), "en", translator=mt)
    assert [f.unofficial for f in r.fields if f.original or f.unofficial] == [False]
    assert r.notes[0].startswith("Machine translation failed: translator at")
