"""``parley demo``: start two nodes and play a scenario, narrated."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path

import typer

from parley.errors import UsageError


def demo(
    scenario: str = typer.Option(
        "barents", "--scenario", help="A built-in scenario name or a scenario file."
    ),
    lang: str = typer.Option("en", "--lang", help="Narration language: nb | ru | en."),
    keep: bool = typer.Option(
        False, "--keep", help="Leave both nodes running and print the console URLs and log-ins."
    ),
    workdir: Path | None = typer.Option(
        None, "--dir", help="Where to put the nodes' homes (default: a temporary directory)."
    ),
) -> None:
    """Play the Barents scenario on two real nodes; exit non-zero if any step does not hold."""
    from parley.demo.runner import Demo, load_scenario

    if lang not in ("nb", "ru", "en"):
        raise UsageError(f"unknown language {lang!r}", hint="choose nb, ru or en")
    data = load_scenario(scenario)
    base = workdir or Path(tempfile.mkdtemp(prefix="parley-demo-"))
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        if any(workdir.iterdir()):
            raise UsageError(f"{workdir} is not empty", hint="give an empty or new directory to --dir")
    d = Demo(data, base, lang=lang)
    ok = False
    try:
        d.setup()
        d.run()
        ok = True
    finally:
        if keep and ok:
            _keep(d)
        else:
            d.shutdown()
            if workdir is None and ok:
                shutil.rmtree(base, ignore_errors=True)
            elif not ok:
                typer.echo(f"node homes and logs kept in {base}", err=True)


def _keep(d: object) -> None:
    from parley.demo.runner import Demo

    assert isinstance(d, Demo)
    password = d.scenario.get("password", "demo-password-2026")
    typer.echo("")
    for alias, node in d.nodes.items():
        users = ", ".join(op["user"] for op in d.operators[alias])
        typer.echo(f"{node.name}: console {node.url}/console/  (log in as {users}; password {password})")
        typer.echo(f"  home {node.home}  (PARLEY_HOME={node.home} parley status)")
    typer.echo("The nodes use self-signed certificates: accept them in the browser. Ctrl-C stops both nodes.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        d.shutdown()
