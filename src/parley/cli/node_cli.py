"""Commands about the node itself: init, identity, database upgrade, self-verification."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from parley.cli.common import home_from, node_from, print_json, say
from parley.formats.texts import T

err = Console(stderr=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def init(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="Node name, e.g. no-njhq."),
    party: str = typer.Option(..., "--party", help="The party this node belongs to, e.g. Norway."),
    listen: str = typer.Option("127.0.0.1:8443", "--listen", help="HOST:PORT to serve on."),
    url: str = typer.Option("", "--url", help="URL peers use (default https://LISTEN)."),
    database: str = typer.Option(
        "", "--database", help="Database URL (default: SQLite in the home; or postgresql://…)."
    ),
) -> None:
    """Create a node: identity key, TLS certificate, configuration and database."""
    from parley.node import init_home

    path = init_home(
        home_from(ctx), name=name, party=party, listen=listen, url=url or None, database_url=database or None
    )
    say(T("created node {name} in {path}", name=name, path=path))


def identity(
    ctx: typer.Context,
    out: Path | None = typer.Option(None, "--out", help="Write the card to this file."),
) -> None:
    """Print this node's signed identity card (JSON) to hand to the other side."""
    node = node_from(ctx)
    card = node.card().to_json()
    if out:
        import json

        out.write_text(json.dumps(card, indent=2) + "\n")
        say(T("wrote {out}", out=out))
    else:
        print_json(card)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the database schema up to date (back it up first)."""
    from parley.config import Config
    from parley.file_modes import check_home
    from parley.node import resolve_db_url, resolve_home
    from parley.storage import database
    from parley.storage.engines import create_db_engine

    home = resolve_home(home_from(ctx))
    check_home(home)
    cfg = Config.load(home)
    check_home(home, resolve_db_url(home, cfg.database.url))
    engine = create_db_engine(resolve_db_url(home, cfg.database.url))
    before = database.current_revision(engine)
    database.upgrade(engine)
    after = database.current_revision(engine)
    engine.dispose()
    say(
        T("schema {before} → {after}", before=before or T("empty"), after=after)
        if before != after
        else T("schema already at {after}", after=after)
    )


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Show the schema revision of the database and the one this Parley needs."""
    from parley.config import Config
    from parley.file_modes import check_home
    from parley.node import resolve_db_url, resolve_home
    from parley.storage import database
    from parley.storage.engines import create_db_engine

    home = resolve_home(home_from(ctx))
    check_home(home)
    cfg = Config.load(home)
    check_home(home, resolve_db_url(home, cfg.database.url))
    engine = create_db_engine(resolve_db_url(home, cfg.database.url))
    say(
        T(
            "database: {database_current_revision}  needed: {database_head_revision}",
            database_current_revision=database.current_revision(engine),
            database_head_revision=database.head_revision(),
        )
    )
    engine.dispose()
