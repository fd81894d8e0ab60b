"""``parley chain …`` (escalation chains) and ``parley pager test`` (docs/watch.md)."""

from __future__ import annotations

import typer

from parley.cli.common import label, node_from, print_json, say
from parley.errors import ParleyError
from parley.formats.texts import T

chain_app = typer.Typer(
    help="Escalation chains: who is paged, and when, about an unacknowledged message.", no_args_is_help=True
)
pager_app = typer.Typer(help="Pagers: e-mail, the signed webhook, a command.", no_args_is_help=True)


@chain_app.command("set")
def chain_set(
    ctx: typer.Context,
    desk: str = typer.Argument(..., help="The desk the chain is for."),
    precedence: str = typer.Argument(..., help="FLASH, IMMEDIATE, PRIORITY or ROUTINE."),
    step: list[str] = typer.Option(
        [],
        "--step",
        help="AFTER:TARGET[/MEDIUM,…], e.g. 0:console, 60:watch, 300:operator:head-of-desk/email.",
    ),
) -> None:
    """Set (replace) the desk's escalation chain for one precedence."""
    from parley.watch.chains import set_chain

    chain = set_chain(node_from(ctx), desk, precedence, step, "cli")
    say(
        T(
            "chain for {chain_desk} {chain_precedence}: {chain_steps}",
            chain_desk=chain.desk,
            chain_precedence=chain.precedence,
            chain_steps=", ".join(s.text() for s in chain.steps),
        )
    )


@chain_app.command("show")
def chain_show(
    ctx: typer.Context,
    desk: str | None = typer.Argument(None, help="Only this desk."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the escalation chains (a desk with none keeps the [escalation] settings)."""
    from parley.directory.desks import require_desk
    from parley.watch.chains import list_chains

    node = node_from(ctx)
    if desk is not None:
        require_desk(node, desk)
    chains = list_chains(node, desk)
    if as_json:
        print_json([c.to_json() for c in chains])
        return
    if not chains:
        say(
            T(
                "no escalation chains: overdue messages go to the [escalation] supervisor desk and webhook; "
                "set one with `parley chain set DESK FLASH --step 0:console --step 60:watch`"
            )
        )
    for c in chains:
        say(f"{c.desk:28} {label('precedence', c.precedence):10} " + ", ".join(s.text() for s in c.steps))


@chain_app.command("clear")
def chain_clear(
    ctx: typer.Context,
    desk: str = typer.Argument(...),
    precedence: str | None = typer.Argument(None, help="Only this precedence (default: all)."),
) -> None:
    """Remove a desk's escalation chain(s); the desk then keeps the [escalation] settings."""
    from parley.directory.desks import require_desk
    from parley.watch.chains import clear_chain

    node = node_from(ctx)
    require_desk(node, desk)
    removed = clear_chain(node, desk, precedence, "cli")
    say(
        T("removed {removed} chain(s) of desk {desk}", removed=removed, desk=desk)
        if removed
        else T("desk {desk} had no such chain; nothing changed", desk=desk)
    )


@pager_app.command("test")
def pager_test(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="The operator to page."),
    medium: list[str] = typer.Option(
        [], "--medium", help="email, webhook or command (default: [pager] default_media)."
    ),
) -> None:
    """Send a test page to an operator now, and say what happened to each medium."""
    from parley.watch.paging import send_test_page

    results = send_test_page(node_from(ctx), user, medium)
    for r in results:
        outcome = T("sent") if r.ok else T("FAILED: {error}", error=r.error)
        say(
            T("{medium:8} {address:40} {outcome}", medium=r.medium, address=r.address or "-", outcome=outcome)
        )
    failed = [r.medium for r in results if not r.ok]
    if failed:
        raise ParleyError(
            T("the test page could not be sent by {failed}", failed=", ".join(failed)),
            code="page_failed",
            http_status=502,
            hint=T("fix what the line above names ([pager] in parley.toml, or `parley operator contact`)"),
        )
