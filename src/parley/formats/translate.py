"""Machine translation of free text, always kept apart from what was signed.

Free text in a Parley body keeps the language its author wrote it in; that original is the
authoritative text. A reader may ask for a machine translation, and it is returned as a
:class:`MachineTranslation` that says which engine made it and from which language: it is
shown next to the original, labelled unofficial, and is never written into a body.

The one engine client here speaks the API of LibreTranslate, which a party can host itself
(``POST /translate`` with ``q``, ``source``, ``target``, ``format`` and ``api_key``; the
answer is ``{"translatedText": ...}``, an error is ``{"error": ...}`` with a 4xx/5xx status).
Where no translator is configured, :class:`NoTranslator` says so plainly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from parley.errors import PeerError, UsageError
from parley.formats.texts import T

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class MachineTranslation:
    """A machine translation of a free text: unofficial, never part of a signed body."""

    text: str
    source: str
    target: str
    engine: str
    unofficial: bool = True


@runtime_checkable
class Translator(Protocol):
    """Anything that turns text from one language into another."""

    @property
    def engine(self) -> str:
        """A short name of the engine, shown with every translation it makes."""
        ...

    def translate(self, text: str, source: str, target: str) -> str: ...


class NoTranslator:
    """The default: no machine translation, and a plain statement that there is none."""

    engine = "none"
    reason = "no translator configured"

    def translate(self, text: str, source: str, target: str) -> str:
        raise UsageError(
            self.reason,
            hint=T("set the URL of a LibreTranslate server to get unofficial translations"),
        )


class LibreTranslateTranslator:
    """A client of a LibreTranslate server (self-hosted, or any compatible one)."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    @property
    def engine(self) -> str:
        return f"LibreTranslate ({self.url})"

    def translate(self, text: str, source: str, target: str) -> str:
        payload = {"q": text, "source": source, "target": target, "format": "text"}
        if self.api_key:
            payload["api_key"] = self.api_key
        import httpx  # here, not at the top: every CLI command imports this module (0.13 s)

        try:
            with httpx.Client(timeout=self.timeout) as client:
                response = client.post(f"{self.url}/translate", json=payload)
        except httpx.HTTPError as exc:
            raise PeerError(
                T(
                    "translator at {url} could not be reached: {exc_type_name}: {exc}",
                    url=self.url,
                    exc_type_name=type(exc).__name__,
                    exc=exc,
                ),
                hint=T("check the translator URL and that the server is running"),
            ) from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200:
            detail = data.get("error") if isinstance(data, dict) else None
            raise PeerError(
                T(
                    "translator at {url} answered {response_status_code}: {detail}",
                    url=self.url,
                    response_status_code=response.status_code,
                    detail=detail or response.reason_phrase,
                ),
                hint=T("check the API key and that the language pair is installed"),
            )
        if not isinstance(data, dict) or not isinstance(data.get("translatedText"), str):
            raise PeerError(T("translator at {url} sent an answer without translatedText", url=self.url))
        translated: str = data["translatedText"]
        return translated


def primary_language(tag: str) -> str:
    """The primary subtag of a BCP 47 tag (``nb`` of ``nb-NO``), lower case."""
    return tag.split("-", 1)[0].lower()


def machine_translate(translator: Translator, text: str, source: str, target: str) -> MachineTranslation:
    """Translate ``text`` and label the result with its engine and languages."""
    translated = translator.translate(text, primary_language(source), primary_language(target))
    return MachineTranslation(translated, source, target, translator.engine)
