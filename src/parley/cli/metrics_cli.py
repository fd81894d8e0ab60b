"""``parley metrics token``: the scrape token that ``/metrics`` asks for (parley.api.metrics)."""

from __future__ import annotations

import typer

from parley.cli.common import home_from, say
from parley.formats.texts import T

metrics_app = typer.Typer(help="The Prometheus endpoint /metrics and its scrape token.", no_args_is_help=True)


@metrics_app.command("token")
def metrics_token(ctx: typer.Context) -> None:
    """Make a new scrape token for /metrics: printed once, only its SHA-256 is kept in
    parley.toml; the previous token stops working when the node restarts."""
    from parley.api.metrics import new_scrape_token
    from parley.config import Config
    from parley.node import resolve_home

    home = resolve_home(home_from(ctx))
    config = Config.load(home)
    token, digest = new_scrape_token()
    config.metrics.token_sha256 = digest
    config.save(home)
    say(token)
    say(
        T(
            "scrape token set ([metrics] token_sha256); restart the node, then scrape with "
            "Authorization: Bearer <token>"
        ),
        err=True,
    )
