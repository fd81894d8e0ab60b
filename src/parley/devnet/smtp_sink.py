"""An SMTP sink: a real SMTP server (RFC 5321, aiosmtpd) that keeps every mail it accepts.

For the tests and the demo: pagers talk to it exactly as to a production mail server,
optionally with STARTTLS (RFC 3207, a self-signed certificate the client trusts through
``?cafile=``) and AUTH PLAIN/LOGIN (RFC 4954, only over TLS). It runs in a thread of its own;
``stop()`` and ``start()`` again on the same port model a mail server that goes down and
comes back. Nothing here is meant for production mail.
"""

from __future__ import annotations

import email
import email.policy
import logging
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from parley.devnet.proxy import free_port

MAX_MAILS = 10_000  # a sink left running by a demo must not grow without end


class _Keep:
    """The aiosmtpd handler: parse and keep each mail."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        msg = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.sink._keep(msg, list(envelope.rcpt_tos), session)
        return "250 OK"


class SmtpSink:
    """A running SMTP server on 127.0.0.1 whose mails are in ``messages``."""

    def __init__(
        self,
        *,
        starttls: bool = False,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
        port: int | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.auth = auth
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.authenticated: list[str] = []
        self._cond = threading.Condition()
        self._controller: Controller | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.cafile: Path | None = None
        self._tls: ssl.SSLContext | None = None
        if starttls or implicit_tls or auth:
            self._make_tls(workdir)

    def _make_tls(self, workdir: Path | None) -> None:
        from parley.protocol.tls import make_self_signed

        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="parley-smtp-")
            workdir = Path(self._tmp.name)
        cert, key = make_self_signed(self.host, "parley smtp sink")
        self.cafile = workdir / "smtp-sink-cert.pem"
        keyfile = workdir / "smtp-sink-key.pem"
        self.cafile.write_bytes(cert)
        keyfile.write_bytes(key)
        keyfile.chmod(0o600)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cafile), str(keyfile))
        self._tls = ctx

    @property
    def url(self) -> str:
        """The ``[pager] smtp_url`` that reaches this sink."""
        cred = f"{self.auth[0]}:{self.auth[1]}@" if self.auth else ""
        if self.implicit_tls:
            return f"smtps://{cred}{self.host}:{self.port}?cafile={self.cafile}"
        query = f"?starttls=true&cafile={self.cafile}" if self._tls is not None else ""
        return f"smtp://{cred}{self.host}:{self.port}{query}"

    def _authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.auth is not None
            and auth_data.login.decode() == self.auth[0]
            and auth_data.password.decode() == self.auth[1]
        )
        if ok:
            self.authenticated.append(self.auth[0] if self.auth else "")
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpSink:
        # aiosmtpd logs a deprecation line on every AUTH (its own Session.login_data).
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        kw: dict[str, Any] = {}
        if self.implicit_tls:
            kw.update(ssl_context=self._tls)
        elif self._tls is not None:
            kw.update(tls_context=self._tls, require_starttls=True)
        if self.auth is not None:
            # With implicit TLS aiosmtpd does not know the socket is TLS (it only tracks
            # STARTTLS): AUTH is then offered, checked and recorded, but not demanded.
            tls_known = not self.implicit_tls
            kw.update(authenticator=self._authenticator, auth_required=tls_known, auth_require_tls=tls_known)
        self._controller = Controller(_Keep(self), hostname=self.host, port=self.port, ready_timeout=10, **kw)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _keep(self, msg: EmailMessage, rcpt: list[str], session: Session) -> None:
        with self._cond:
            if len(self.messages) < MAX_MAILS:
                self.messages.append(msg)
                self.recipients.append(rcpt)
            self._cond.notify_all()

    def to(self, address: str) -> list[EmailMessage]:
        """The mails so far addressed to ``address``."""
        with self._cond:
            return [m for m, r in zip(self.messages, self.recipients, strict=True) if address in r]

    def wait_for(self, predicate: Callable[[EmailMessage], bool], timeout: float = 10.0) -> EmailMessage:
        """The first mail (arrived or arriving within ``timeout`` s) that ``predicate`` accepts."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [str(m["To"]) + ": " + str(m["Subject"]) for m in self.messages]
                    raise TimeoutError(f"no matching mail within {timeout} s; got {seen}")
                self._cond.wait(left)
