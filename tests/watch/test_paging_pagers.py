"""The pagers themselves: SMTP with and without STARTTLS/AUTH/implicit TLS against a real
server, the signed webhook against a real HTTP server, the command pager as a real process,
``parley pager test``, and a [pager] section that cannot work refused at start.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from parley.devnet.nodes import PASSWORD, init_node
from parley.directory.contacts import set_contact
from parley.directory.desks import do_add_desk
from parley.directory.operators import do_add_operator
from parley.errors import UsageError
from parley.node import Node
from parley.watch.pagers import Page, PagerFailure, deliver, parse_smtp_url, verify_page
from parley.watch.paging import send_test_page
from tests.harness.smtp import SmtpSink


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("pagers")
    proc = init_node(base, "node-p", "Norway")
    node = Node.open(proc.home)
    try:
        do_add_desk(node, "duty")
        do_add_operator(node, "officer", "duty", "duty", PASSWORD)
        set_contact(node, "officer", email="officer@node-p.example", phone="+4712345678")
    finally:
        node.close()
    return proc.home


@pytest.fixture
def node(home: Path) -> Iterator[Node]:
    n = Node.open(home)
    n.config.pager.from_address = "parley@node-p.example"
    n.config.pager.timeout_s = 5
    try:
        yield n
    finally:
        n.close()


def _page(**kw: Any) -> Page:
    base: dict[str, Any] = {
        "page_id": 7,
        "node": "node-p",
        "message_id": "0190a8e2-0000-7000-8000-000000000001",
        "channel": "test-line",
        "type": "general",
        "precedence": "FLASH",
        "status": "ACTUAL",
        "side": "received",
        "desk": "duty",
        "sender": "node-q/duty",
        "received_at": "2026-03-02T06:00:00.000Z",
        "due_at": "2026-03-02T06:05:00.000Z",
        "waited_s": 125,
        "target": "watch",
        "recipient": "officer",
        "lang": "en",
        "email": "officer@node-p.example",
        "phone": "+4712345678",
        "link": "https://node-p.example/console/messages/x",
    }
    base.update(kw)
    return Page(**base)


@pytest.mark.parametrize(
    "kind", ["plain", "starttls", "starttls+auth", "smtps+auth"], ids=lambda k: k.replace("+", "-")
)
def test_email_reaches_a_real_smtp_server(node: Node, kind: str) -> None:
    auth = ("pager", "correct horse") if "auth" in kind else None
    with SmtpSink(
        starttls=kind.startswith("starttls"), implicit_tls=kind.startswith("smtps"), auth=auth
    ) as sink:
        node.config.pager.smtp_url = sink.url
        assert deliver(node, _page(), "email") == "officer@node-p.example"
        got = sink.wait_for(lambda m: True, timeout=5)
        assert str(got["Subject"]) == "[FLASH] Not acknowledged: General message on test-line"
        body = got.get_content()
        assert "It has waited 2 minutes." in body
        assert "https://node-p.example/console/messages/x" in body
        assert got["Auto-Submitted"] == "auto-generated"
        assert sink.authenticated == ([auth[0]] if auth else [])


def test_email_with_a_wrong_password_or_an_untrusted_certificate_fails_with_the_reason(node: Node) -> None:
    with SmtpSink(starttls=True, auth=("pager", "right")) as sink:
        node.config.pager.smtp_url = sink.url.replace("pager:right@", "pager:wrong@")
        with pytest.raises(PagerFailure, match="SMTPAuthenticationError"):
            deliver(node, _page(), "email")
        node.config.pager.smtp_url = sink.url.split("&cafile=")[0]  # the system CAs do not know it
        with pytest.raises(PagerFailure, match="CERTIFICATE_VERIFY_FAILED"):
            deliver(node, _page(), "email")
        assert sink.messages == []


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("http://mail.example:25", "not smtp or smtps"),
        ("smtp://:25", "names no host"),
        ("smtp://mail.example:99999", "cannot be parsed"),
        ("smtp://mail.example/inbox", "path"),
        ("smtp://u:p@mail.example:25", "no TLS"),
        ("smtps://mail.example?starttls=true", "already TLS"),
        ("smtp://mail.example?starttls=maybe", "not true or false"),
        ("smtp://mail.example?verify=no", "unknown option"),
    ],
)
def test_an_smtp_url_that_cannot_be_used_is_refused(url: str, what: str) -> None:
    with pytest.raises(UsageError, match=what):
        parse_smtp_url(url)


def test_a_bad_pager_section_is_refused_when_the_node_starts(home: Path) -> None:
    from parley.running.service import Service

    n = Node.open(home)
    try:
        n.config.pager.smtp_url = "smtp//mail.example"
        with pytest.raises(UsageError, match=r"\[pager\] smtp_url"):
            Service(n)
        n.config.pager.smtp_url = "smtp://mail.example:587?starttls=true"
        n.config.pager.from_address = ""
        with pytest.raises(UsageError, match="from_address"):
            Service(n)
    finally:
        n.close()


def test_parley_serve_refuses_an_unparsable_smtp_url(home: Path, tmp_path: Path) -> None:
    import shutil
    import subprocess

    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    cfg = copy / "parley.toml"
    cfg.write_text(cfg.read_text().replace('smtp_url = ""', 'smtp_url = "smtps://mail.example:notaport"'))
    out = subprocess.run(
        [sys.executable, "-m", "parley", "--home", str(copy), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "error: [pager] smtp_url cannot be parsed" in out.stderr
    assert "smtp://user:password@host:587?starttls=true" in out.stderr


class _Hook:
    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers["content-length"])
                hook.bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/page"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_webhook_page_is_signed_by_the_node_and_a_refusal_is_a_failure(node: Node) -> None:
    hook = _Hook()
    try:
        node.config.pager.webhook_url = hook.url
        deliver(node, _page(), "webhook")
        [body] = hook.bodies
        assert body["event"] == "page"
        assert body["key_id"] == node.key.public.key_id
        assert body["page"]["message_id"] == _page().message_id
        assert verify_page(body["page"], body["signature"], node.key.public)
        forged = dict(body["page"], recipient="mallory")
        assert not verify_page(forged, body["signature"], node.key.public)
    finally:
        hook.close()
    refusing = _Hook(status=500)
    try:
        node.config.pager.webhook_url = refusing.url
        with pytest.raises(PagerFailure, match="500"):
            deliver(node, _page(), "webhook")
    finally:
        refusing.close()


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "pager.py"
    path.write_text(body)
    return f"{sys.executable} {path} {tmp_path / 'out.json'}"


def test_the_command_pager_gets_the_page_on_stdin_without_a_shell(node: Node, tmp_path: Path) -> None:
    node.config.pager.command = _script(
        tmp_path, "import sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes(sys.stdin.buffer.read())\n"
    )
    assert deliver(node, _page(), "command") == "+4712345678"
    got = json.loads((tmp_path / "out.json").read_text())
    assert got["phone"] == "+4712345678"
    assert got["precedence"] == "FLASH"
    assert got["link"].endswith("/x")


def test_the_command_pager_failing_hanging_or_chattering_is_bounded(node: Node, tmp_path: Path) -> None:
    node.config.pager.command = _script(tmp_path, "import sys; print('gateway says no'); sys.exit(3)\n")
    with pytest.raises(PagerFailure, match="status 3: gateway says no"):
        deliver(node, _page(), "command")
    node.config.pager.command_max_output_bytes = 100
    node.config.pager.command = _script(
        tmp_path, "import sys\nfor _ in range(2000): sys.stdout.write('x' * 1000)\nsys.exit(1)\n"
    )
    with pytest.raises(PagerFailure) as exc:
        deliver(node, _page(), "command")
    kept = str(exc.value).split("status 1: ", 1)[1]
    assert kept == "x" * 100, "only the first command_max_output_bytes are kept"
    node.config.pager.timeout_s = 1
    node.config.pager.command = _script(tmp_path, "import time; time.sleep(30)\n")
    with pytest.raises(PagerFailure, match="did not finish within 1 s; killed"):
        deliver(node, _page(), "command")
    node.config.pager.command = "'unbalanced"
    with pytest.raises(PagerFailure, match="cannot be split"):
        deliver(node, _page(), "command")


def test_pager_test_sends_a_test_page_and_says_what_happened(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tomllib

    import tomli_w

    from parley.cli.main import main

    cfg = home / "parley.toml"
    before = cfg.read_text()
    try:
        with SmtpSink(starttls=True, auth=("pager", "pw-for-test")) as sink:
            data = tomllib.loads(before)
            data["pager"].update(smtp_url=sink.url, from_address="parley@node-p.example")
            cfg.write_text(tomli_w.dumps(data))
            assert main(["--home", str(home), "pager", "test", "officer"]) == 0
            assert "officer@node-p.example" in capsys.readouterr().out
            mail = sink.wait_for(lambda m: True, timeout=5)
            assert "test page" in str(mail["Subject"])
            # A medium that is not configured: said plainly, exit status 1.
            assert main(["--home", str(home), "pager", "test", "officer", "--medium", "command"]) == 1
            assert "FAILED: no [pager] command is configured" in capsys.readouterr().out
            assert main(["--home", str(home), "pager", "test", "nobody"]) == 1
            assert "unknown operator 'nobody'" in capsys.readouterr().err
    finally:
        cfg.write_text(before)


def test_send_test_page_is_audited(node: Node) -> None:
    from sqlalchemy import select

    from parley.storage.tables import audit_log

    with SmtpSink() as sink:
        node.config.pager.smtp_url = sink.url
        [result] = send_test_page(node, "officer", ["email"])
        assert result.ok
    with node.reader.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.action == "page_test")).all()[-1]
    assert json.loads(row.details)["results"] == [{"medium": "email", "ok": True, "error": ""}]
