"""Pagers: how a page reaches a person away from the console.

* ``email`` — SMTP (RFC 5321) with the standard library's ``smtplib``, run in a thread;
  ``smtp://`` with optional STARTTLS (RFC 3207, ``?starttls=true``), ``smtps://`` for
  implicit TLS (RFC 8314 §3), AUTH (RFC 4954) when the URL carries a user; the message is
  an RFC 5322 mail in the recipient operator's language. Every socket wait is bounded by
  ``[pager] timeout_s``.
* ``webhook`` — the escalation webhook (``parley.messaging.deadlines._call_webhook``) with
  the page's fields, signed with the node's Ed25519 key (RFC 8032) over the page's RFC 8785
  canonical bytes, so the receiver can tell a page from this node from a forgery.
* ``command`` — ``[pager] command`` run without a shell, the page as JSON on stdin, bounded in
  time (``timeout_s``, then killed) and in the output kept (``command_max_output_bytes``);
  exit status 0 means delivered. For an SMS gateway: the page carries the operator's phone.

A page carries no way to acknowledge: its link opens the console, which needs a log-in.
"""

from __future__ import annotations

import functools
import io
import shlex
import smtplib
import ssl
import subprocess
import threading
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from gettext import GNUTranslations
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from parley.config import PagerSection
from parley.errors import UsageError
from parley.formats.catalogue import load_catalogue, po_path, read_catalogue
from parley.formats.texts import T, Text
from parley.node import Node
from parley.protocol.canonical import canonical_bytes
from parley.protocol.keys import PublicKey, b64, unb64

MEDIA = ("email", "webhook", "command")
PAGE_SIGNING_KIND = "page"
MAX_COMMAND_ARGS = 64


class PagerFailure(Exception):
    """A page could not be delivered this time; the text says why (kept in the page row and
    rendered in each reader's language)."""

    def __init__(self, text: str | Text) -> None:
        super().__init__(str(text))
        self.text = text


@dataclass(frozen=True)
class Page:
    """Everything a pager says about one page; also the JSON the webhook and command get."""

    page_id: int | None
    node: str
    message_id: str
    channel: str
    type: str
    precedence: str
    status: str  # ACTUAL | EXERCISE | TEST: a page about a drill says so
    side: str  # received: not acknowledged here | sent: the peer has not acknowledged
    desk: str
    sender: str
    received_at: str
    due_at: str
    waited_s: int
    target: str
    recipient: str
    lang: str
    email: str | None
    phone: str | None
    link: str
    test: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    user: str | None
    password: str | None
    cafile: str | None


def parse_smtp_url(url: str) -> SmtpSettings | None:
    """``[pager] smtp_url`` parsed; None when it is empty; UsageError when it cannot be used."""
    if not url:
        return None
    hint = T(
        "write it as smtp://user:password@host:587?starttls=true or smtps://host:465 (see docs/watch.md)"
    )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(T("[pager] smtp_url cannot be parsed: {exc}", exc=exc), hint=hint) from None
    if parts.scheme not in ("smtp", "smtps"):
        raise UsageError(
            T("[pager] smtp_url scheme {parts_scheme!r} is not smtp or smtps", parts_scheme=parts.scheme),
            hint=hint,
        )
    if not parts.hostname:
        raise UsageError(T("[pager] smtp_url names no host"), hint=hint)
    if parts.path not in ("", "/") or parts.fragment:
        raise UsageError(T("[pager] smtp_url has a path or fragment; an SMTP server has neither"), hint=hint)
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = set(query) - {"starttls", "cafile"}
    if unknown:
        raise UsageError(
            T("[pager] smtp_url: unknown option(s) {unknown}", unknown=sorted(unknown)),
            hint=T("known: starttls, cafile"),
        )
    starttls_text = query.get("starttls", ["false"])[-1].lower()
    if starttls_text not in ("true", "false", "1", "0", "yes", "no"):
        raise UsageError(
            T(
                "[pager] smtp_url: starttls={starttls_text!r} is not true or false",
                starttls_text=starttls_text,
            ),
            hint=hint,
        )
    starttls = starttls_text in ("true", "1", "yes")
    implicit = parts.scheme == "smtps"
    if implicit and starttls:
        raise UsageError(T("[pager] smtp_url: smtps:// is already TLS; drop ?starttls"), hint=hint)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if user and not (implicit or starttls):
        # AUTH over a clear connection would send the password in the open.
        raise UsageError(
            T("[pager] smtp_url has a password but no TLS"), hint=T("use smtps:// or add ?starttls=true")
        )
    cafile = query.get("cafile", [None])[-1] or None
    return SmtpSettings(
        parts.hostname, port or (465 if implicit else 25), implicit, starttls, user, password, cafile
    )


def command_argv(cfg: PagerSection) -> list[str]:
    """``[pager] command`` split like a shell would, but never run by one."""
    if not cfg.command:
        return []
    try:
        argv = shlex.split(cfg.command)
    except ValueError as exc:
        raise UsageError(
            T("[pager] command cannot be split into arguments: {exc}", exc=exc), hint=T("check its quotes")
        ) from None
    if not argv or len(argv) > MAX_COMMAND_ARGS:
        raise UsageError(
            T(
                "[pager] command must have 1 to {max_command_args} arguments",
                max_command_args=MAX_COMMAND_ARGS,
            ),
            hint=T("name a program"),
        )
    return argv


def check_pager_config(node: Node) -> None:
    """Refuse, at start, a [pager] section that could not work (nothing is changed)."""
    cfg = node.config.pager
    smtp = parse_smtp_url(cfg.smtp_url)
    if smtp is not None and not cfg.from_address:
        raise UsageError(
            T("[pager] smtp_url is set but from_address is empty"), hint=T("set [pager] from_address")
        )
    if cfg.from_address:
        from parley.directory.contacts import check_email

        check_email(cfg.from_address)
    command_argv(cfg)
    media = [m.strip() for m in cfg.default_media.split(",") if m.strip()]
    if not media or any(m not in MEDIA for m in media):
        raise UsageError(
            T(
                "[pager] default_media {cfg_default_media!r} is not a list of {media}",
                cfg_default_media=cfg.default_media,
                media=", ".join(MEDIA),
            ),
            hint=T('for example default_media = "email"'),
        )
    for key in ("timeout_s", "retry_initial_s", "retry_max_s", "give_up_after_s", "alarm_after_s"):
        if not 0 < float(getattr(cfg, key)) <= 7 * 86400:
            raise UsageError(
                T("[pager] {key} must be above 0 and at most a week", key=key), hint=T("see docs/watch.md")
            )
    if not 0 < cfg.alarm_after_failures <= 1000 or not 0 < cfg.command_max_output_bytes <= 16_777_216:
        raise UsageError(
            T("[pager] alarm_after_failures or command_max_output_bytes out of range"),
            hint=T("see docs/watch.md"),
        )


def default_media(cfg: PagerSection) -> tuple[str, ...]:
    return tuple(m.strip() for m in cfg.default_media.split(",") if m.strip() in MEDIA) or ("email",)


def console_url(node: Node) -> str:
    return (node.config.pager.console_url or node.config.node.url.rstrip("/") + "/console").rstrip("/")


# --- the mail --------------------------------------------------------------------------------


@functools.cache
def _plurals(lang: str) -> GNUTranslations:
    """The catalogue as gettext translations, for ``ngettext`` (Plural-Forms of the .po)."""
    from babel.messages.mofile import write_mo

    buf = io.BytesIO()
    write_mo(buf, read_catalogue(po_path(lang)), use_fuzzy=False)
    buf.seek(0)
    return GNUTranslations(buf)


def ngettext(lang: str, key: str, n: int, **params: object) -> str:
    text = _plurals(lang).ngettext(key, key + ".plural", n)
    if text in (key, key + ".plural") and lang != "en":
        text = _plurals("en").ngettext(key, key + ".plural", n)
    return text.format(n=n, **params)


def mail_for(page: Page, from_address: str) -> EmailMessage:
    """The page as a mail in the recipient's language (all words from the catalogues)."""
    lang = page.lang if page.lang in ("nb", "ru", "en") else "en"
    cat = load_catalogue(lang)
    type_name = cat.get(f"type.{page.type}") if cat.has(f"type.{page.type}") else page.type
    fields = {
        "node": page.node,
        "desk": page.desk,
        "precedence": page.precedence,
        "type": type_name,
        "channel": page.channel,
        "sender": page.sender,
        "due": page.due_at,
        "id": page.message_id,
        "link": page.link,
        "target": page.target,
    }
    msg = EmailMessage()
    if page.test:
        msg["Subject"] = cat.get("page.mail.test_subject", **fields)
        body = [cat.get("page.mail.test_body", **fields), "", cat.get("page.mail.link", **fields)]
    else:
        msg["Subject"] = cat.get("page.mail.subject", **fields)
        if page.status in ("EXERCISE", "TEST"):
            msg.replace_header("Subject", f"[{cat.get('banner.short.' + page.status)}] {msg['Subject']}")
        body = [cat.get(f"banner.{page.status}")] if page.status in ("EXERCISE", "TEST") else []
        body += [
            cat.get("page.mail.sent_overdue" if page.side == "sent" else "page.mail.received", **fields),
            ngettext(lang, "page.mail.waited", page.waited_s // 60),
            "",
            cat.get("page.mail.precedence", **fields),
            cat.get("page.mail.type", **fields),
            cat.get("page.mail.channel", **fields),
            cat.get("page.mail.deadline", **fields),
            cat.get("page.mail.message", **fields),
            "",
            cat.get("page.mail.link", **fields),
            "",
            cat.get("page.mail.footer", **fields),
        ]
    msg["From"] = from_address
    msg["To"] = page.email or ""
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a pager
    msg["X-Parley-Message"] = page.message_id
    msg.set_content("\n".join(body) + "\n")
    return msg


# --- delivery --------------------------------------------------------------------------------


def deliver(node: Node, page: Page, medium: str, post: Any = None) -> str:
    """Deliver ``page`` by ``medium`` now (blocking: run it in a thread); the address used.

    Raises PagerFailure with the reason when it could not be delivered.
    """
    cfg = node.config.pager
    if medium == "email":
        return _send_mail(cfg, page)
    if medium == "webhook":
        return _send_webhook(node, page, post)
    if medium == "command":
        return _run_command(cfg, page)
    raise PagerFailure(T("unknown medium {medium!r}", medium=medium))


def _send_mail(cfg: PagerSection, page: Page) -> str:
    try:
        smtp = parse_smtp_url(cfg.smtp_url)
    except UsageError as exc:
        raise PagerFailure(exc.text) from None
    if smtp is None:
        raise PagerFailure(T("no [pager] smtp_url is configured"))
    if not page.email:
        raise PagerFailure(T("operator {operator} has no e-mail address", operator=page.recipient))
    msg = mail_for(page, cfg.from_address)
    context = ssl.create_default_context(cafile=smtp.cafile)
    client: smtplib.SMTP
    try:
        if smtp.implicit_tls:
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=cfg.timeout_s, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=cfg.timeout_s)
        with client:
            client.ehlo()
            if smtp.starttls:
                client.starttls(context=context)
                client.ehlo()
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
            refused = client.send_message(msg)
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        detail = f"{type(exc).__name__}: {exc}"[:200]  # the server's or the library's own words
        raise PagerFailure(T("e-mail to {address}: {error}", address=page.email, error=detail)) from None
    if refused:
        raise PagerFailure(
            T("e-mail to {address} refused: {refused}", address=page.email, refused=str(refused)[:200])
        )
    return page.email


def _page_signing_input(body: dict[str, Any]) -> bytes:
    # The same domain separation as parley.protocol.signing ("parley/1 <kind>\n" + RFC 8785
    # bytes) with a kind of its own, so a page signature can never pass for a protocol one.
    return f"parley/1 {PAGE_SIGNING_KIND}\n".encode() + canonical_bytes(body)


def verify_page(body: dict[str, Any], signature_b64: str, public: PublicKey) -> bool:
    """Whether ``signature_b64`` is ``public``'s signature of the webhook's ``page`` object."""
    try:
        return public.verify(_page_signing_input(body), unb64(signature_b64))
    except (ValueError, TypeError):
        return False


def signed_payload(node: Node, page: Page) -> dict[str, Any]:
    body = page.to_json()
    return {
        "event": "page",
        "node": node.name,
        "key_id": node.key.public.key_id,
        "page": body,
        "signature": b64(node.key.sign(_page_signing_input(body))),
    }


def _send_webhook(node: Node, page: Page, post: Any) -> str:
    from parley.messaging.deadlines import _call_webhook

    url = node.config.pager.webhook_url or node.config.escalation.webhook_url
    if not url:
        raise PagerFailure(T("no [pager] webhook_url (nor [escalation] webhook_url) is configured"))
    status = _call_webhook(url, signed_payload(node, page), post)
    if not (status.isdigit() and 200 <= int(status) < 300):
        raise PagerFailure(T("webhook {url}: {status}", url=url[:200], status=str(status)[:100]))
    return url


def _run_command(cfg: PagerSection, page: Page) -> str:
    try:
        argv = command_argv(cfg)
    except UsageError as exc:
        raise PagerFailure(exc.text) from None
    if not argv:
        raise PagerFailure(T("no [pager] command is configured"))
    payload = canonical_bytes(page.to_json())
    kept = bytearray()
    limit = cfg.command_max_output_bytes
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, shell=False
        )
    except OSError as exc:
        raise PagerFailure(T("command {command}: {error}", command=argv[0], error=str(exc)[:200])) from None
    assert proc.stdin is not None
    assert proc.stdout is not None
    stdout = proc.stdout

    def drain() -> None:
        # Keep the first ``limit`` bytes and throw the rest away, still reading so the
        # command never blocks on a full pipe.
        while chunk := stdout.read(65536):
            if len(kept) < limit:
                kept.extend(chunk[: limit - len(kept)])

    def feed() -> None:
        try:
            proc.stdin.write(payload)  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass  # the command did not read its input: its exit status tells

    reader = threading.Thread(target=drain, daemon=True)
    writer = threading.Thread(target=feed, daemon=True)
    reader.start()
    writer.start()
    try:
        code = proc.wait(timeout=cfg.timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise PagerFailure(
            T(
                "command {command} did not finish within {timeout:g} s; killed",
                command=argv[0],
                timeout=cfg.timeout_s,
            )
        ) from None
    finally:
        writer.join(timeout=1)
        reader.join(timeout=1)
        stdout.close()
    if code != 0:
        out = bytes(kept).decode("utf-8", "replace").strip()
        raise PagerFailure(
            T(
                "command {command} exited with status {code}: {output}",
                command=argv[0],
                code=code,
                output=str(out)[:200],
            )
        )
    return page.phone or argv[0]
