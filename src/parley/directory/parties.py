"""A node's party ("Norway", "NO") in the reader's language: shared by the console and the CLI."""

from __future__ import annotations

from parley.formats.catalogue import load_catalogue


def party_name(party: str, lang: str) -> str:
    """A node's party ("Norway", "NO") in the reader's language when the catalogue knows it,
    else as the node's operator wrote it."""
    cat = load_catalogue(lang)
    key = f"party.{party}"
    return cat.get(key) if party and cat.has(key) else party
