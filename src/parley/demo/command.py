"""``parley demo``: start two nodes and play a scenario, narrated."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path

import typer

from parley.cli.common import check_lang, say
from parley.errors import UsageError
from parley.formats.texts import T, cli_lang, speaking


def demo(
    scenario: str = typer.Option(
        "barents", "--scenario", help="A built-in scenario name or a scenario file."
    ),
    lang: str | None = typer.Option(
        None, "--lang", help="Narration language: nb | ru | en (default: parley --lang)."
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Leave both nodes running and print the console URLs and log-ins."
    ),
    workdir: Path | None = typer.Option(
        None, "--dir", help="Where to put the nodes' homes (default: a temporary directory)."
    ),
) -> None:
    """Play the Barents scenario on two real nodes; exit non-zero if any step does not hold."""

    lang = check_lang(lang) if lang else cli_lang()
    with speaking(lang):  # the nodes' answers and the demo's own lines in one language
        _play(scenario, lang, keep, workdir)


def _play(scenario: str, lang: str, keep: bool, workdir: Path | None) -> None:
    from parley.demo.runner import Demo, load_scenario

    data = load_scenario(scenario)
    base = workdir or Path(tempfile.mkdtemp(prefix="parley-demo-"))
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        if any(workdir.iterdir()):
            raise UsageError(
                T("{workdir} is not empty", workdir=workdir),
                hint=T("give an empty or new directory to --dir"),
            )
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
                say(T("node homes and logs kept in {base}", base=base), err=True)


def _keep(d: object) -> None:
    from parley.demo.runner import Demo

    assert isinstance(d, Demo)
    password = d.scenario.get("password", "demo-password-2026")
    say("")
    for alias, node in d.nodes.items():
        users = ", ".join(op["user"] for op in d.operators[alias])
        say(
            T(
                "{node_name}: console {node_url}/console/  (log in as {users}; password {password})",
                node_name=node.name,
                node_url=node.url,
                users=users,
                password=password,
            )
        )
        say(T("  home {node_home}  (PARLEY_HOME={node_home} parley status)", node_home=node.home))
    say(T("The nodes use self-signed certificates: accept them in the browser. Ctrl-C stops both nodes."))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        d.shutdown()
