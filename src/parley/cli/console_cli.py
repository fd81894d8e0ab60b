"""``parley operator totp`` and ``parley operator lang``: console settings of an operator.

The TOTP second factor follows RFC 6238 (30-second steps, six digits, SHA-1), which every
authenticator app speaks; the secret is shown once, as an ``otpauth://`` URI to scan.
"""

from __future__ import annotations

import typer

from parley.cli.common import node_from, print_json, say
from parley.formats.texts import T


def operator_totp(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="The operator to enrol."),
    remove: bool = typer.Option(False, "--remove", help="Turn the second factor off instead."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Enrol an operator in a TOTP second factor for the console (prints the otpauth URI once)."""
    from parley.console.sessions import do_enrol_totp, do_remove_totp
    from parley.directory.audit import audit

    node = node_from(ctx)
    if remove:
        do_remove_totp(node, user)
        audit(node, "cli", "totp_remove", {"operator": user})
        say(T("{user} now logs in to the console with a password only", user=user))
        return
    uri = do_enrol_totp(node, user)
    audit(node, "cli", "totp_enrol", {"operator": user})
    if as_json:
        print_json({"operator": user, "otpauth_uri": uri})
        return
    say(uri)
    say(
        T(
            "scan this into {user}'s authenticator app now; "
            "it is not shown again (a new enrolment replaces it)",
            user=user,
        ),
        err=True,
    )


def operator_lang(
    ctx: typer.Context,
    user: str = typer.Argument(...),
    lang: str = typer.Argument(..., help="nb | ru | en"),
) -> None:
    """Set the language an operator's console and messages are shown in."""
    from parley.directory.audit import audit
    from parley.directory.operators import get_operator, set_language

    node = node_from(ctx)
    get_operator(node, user)
    set_language(node, user, lang)
    audit(node, "cli", "set_language", {"operator": user, "lang": lang})
    say(T("{user} reads in {lang}", user=user, lang=lang))
