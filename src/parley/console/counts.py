"""Sentences with a count that the console's pages show, with their plural forms.

Templates cannot be scanned by ``scripts/extract-texts`` (it reads Python), so every
"{n} <noun>" a page prints is a named factory here, returning a :class:`Text` built with
:func:`N` (``ngettext``: Russian has three forms — 1, 21 запись; 2 записи; 5, 111 записей).
Templates call them through the ``counts`` global and render them with ``say(...)`` in the
page's language.
"""

from __future__ import annotations

from parley.formats.texts import N, T, Text


def messages(n: int) -> Text:
    return N("{n} message", "{n} messages", n)


def chains(n: int) -> Text:
    return N("{n} chain", "{n} chains", n)


def receipts(n: int) -> Text:
    return N("{n} receipt", "{n} receipts", n)


def entries(n: int) -> Text:
    return N("{n} entry", "{n} entries", n)


def verified(envelopes: int, chains_: int, receipts_: int, size: int) -> Text:
    """The record page's result of a verification run."""
    return T(
        "Verified: {messages} in {chains}, {receipts}; the record holds {entries}.",
        messages=messages(envelopes),
        chains=chains(chains_),
        receipts=receipts(receipts_),
        entries=entries(size),
    )


def problems_to_fix(n: int) -> Text:
    """The heading over the compose form's problems."""
    return N("{n} problem to fix before sending", "{n} problems to fix before sending", n)


def behind(n: int) -> Text:
    """How many log entries a peer has not cosigned yet."""
    return N("{n} entry behind", "{n} entries behind", n)


def days_late(n: int) -> Text:
    return N("{n} day late", "{n} days late", n)
