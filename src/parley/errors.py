"""Every error Parley raises on purpose, declared in one place.

Errors are declared, not improvised: each carries a machine-readable code (sent to peers and
API clients), the HTTP status it maps to, a message that says what is wrong, and a hint
that says what to do. Callers catch :class:`ParleyError`; the CLI prints ``message`` and
``hint`` on one line and exits non-zero; the HTTP layers send ``{"error": code, ...}``.

Message and hint are :class:`~parley.formats.texts.Text` (an English template and its
parameters) wherever a person reads them, so they are rendered in the reader's language when
read: the CLI's ``--lang``, the operator API's ``Accept-Language``, the console operator's
language. ``message`` keeps the English rendering for logs and peers.

    ParleyError
    ├── UsageError            bad input from an operator (CLI or API): 400
    │   └── ValidationError   a message body that does not match its schema: 422
    ├── NotFoundError         an unknown channel, peer, desk, message: 404
    ├── ConflictError         the request contradicts what is stored (duplicate name, ...): 409
    ├── AuthError             unauthenticated (401) or not allowed (403)
    ├── RefusedError          a well-formed envelope the charter or status does not allow: 403/422
    ├── VerificationError     a signature, hash, chain or proof check failed: 400
    │   └── (record) ProofError lives in parley.record.merkle, kept free of this module
    └── PeerError             a peer answered with an error or could not be reached
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parley.formats.texts import Text


def _render(value: str | Text, lang: str) -> str:
    # Imported here: parley.formats imports this module, so this one must not import it first.
    from parley.formats.texts import render

    return render(value, lang)


class ParleyError(Exception):
    """Base of every error Parley raises deliberately."""

    code: str = "error"
    http_status: int = 400

    def __init__(
        self,
        message: str | Text,
        *,
        hint: str | Text = "",
        code: str | None = None,
        http_status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(str(message))
        self.text = message
        self.hint_text = hint
        self.message = str(message)
        self.hint = str(hint)
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.details = details or {}

    def one_line(self, lang: str = "en") -> str:
        """The error as an operator reads it: what is wrong, then what to do."""
        message, hint = _render(self.text, lang), _render(self.hint_text, lang)
        return f"{message} — {hint}" if hint else message

    def to_json(self, lang: str = "en") -> dict[str, Any]:
        """The error body: the code (stable, for programs) and the sentences in ``lang``."""
        out: dict[str, Any] = {"error": self.code, "message": _render(self.text, lang)}
        hint = _render(self.hint_text, lang)
        if hint:
            out["hint"] = hint
        if lang != "en":
            out["lang"] = lang
        if self.details:
            out["details"] = self.details
        return out


class UsageError(ParleyError):
    code = "bad_request"
    http_status = 400


class ValidationError(UsageError):
    """A body that does not match its schema; ``problems`` lists (path, message) pairs."""

    code = "invalid_body"
    http_status = 422

    def __init__(self, message: str | Text, problems: Sequence[tuple[str, str | Text]], **kw: Any) -> None:
        details = {"problems": [{"path": p, "message": str(m)} for p, m in problems]}
        super().__init__(message, details=details, **kw)
        self.problems = list(problems)

    def rendered(self, lang: str) -> list[tuple[str, str]]:
        """The problems as a reader of ``lang`` reads them."""
        return [(path, _render(message, lang)) for path, message in self.problems]

    def to_json(self, lang: str = "en") -> dict[str, Any]:
        out = super().to_json(lang)
        out["details"] = {
            **self.details,
            "problems": [{"path": p, "message": m} for p, m in self.rendered(lang)],
        }
        return out


class NotFoundError(ParleyError):
    code = "not_found"
    http_status = 404


class ConflictError(ParleyError):
    code = "conflict"
    http_status = 409


class AuthError(ParleyError):
    code = "unauthorized"
    http_status = 401


class ForbiddenError(AuthError):
    code = "forbidden"
    http_status = 403


class RefusedError(ParleyError):
    """A verified envelope that the channel's charter or status does not allow."""

    code = "refused"
    http_status = 403


class VerificationError(ParleyError):
    """A check of a signature, hash, chain link or proof failed.

    ``step`` names the numbered step of the verification routine that failed, so that the
    same failure reads the same in the CLI, in a peer's error answer and in a test.
    """

    code = "verification_failed"
    http_status = 400

    def __init__(self, step: str, message: str | Text, **kw: Any) -> None:
        from parley.formats.texts import Text

        # The step is a protocol code (``5a``, ``signature``), kept as it is in every language.
        super().__init__(Text("{step}: {message}", {"step": step, "message": message}), **kw)
        self.step = step
        self.detail = message  # what failed, without the step


class PeerError(ParleyError):
    code = "peer_error"
    http_status = 502
