"""Plays the README's tour by hand in one language and saves what each command printed.

``python -m tests.language.tour LANG DIR OUT`` runs, in DIR, every ``parley …`` command of
the README's shell blocks in order, with ``PARLEY_LANG=LANG``, the way the README shows them:
two fresh homes, cards, a desk, an operator, a channel proposed and accepted, both nodes
served, a message sent, read, acknowledged, the status and the record checked, the nodes
stopped. Then a few commands that must fail, for the refusals' wording. Each command's exit
code, stdout and stderr go to OUT (JSON). A separate process, so that two languages and the
demo can be played at the same time; the commands themselves run in this process (no
interpreter start per command), except ``serve``, which runs as a real node process.

Deviations from the README, each for a reason: the fixed ports 8441/8442 become free ports
(other tests may hold them); ``show … --lang ru`` asks for the language being tested;
MESSAGE_ID is the id ``send`` printed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from parley.devnet.nodes import NodeProcess
from parley.devnet.proxy import free_port
from tests.language.sources import REPO, parley_args, readme_commands

# README commands not run, and why.
SKIPPED = {
    "demo": "played by the test's own fixture; its narration is checked there",
    "bench": "a benchmark of minutes; its tables are figures",
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"

# Refusals, after the tour: (home, args). MESSAGE_ID is the tour's message.
REFUSALS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ru", ("show", NO_SUCH_ID)),
    ("no", ("send", "--channel", "no-such-channel", "--text", "x", "--lang", "en")),
    ("no", ("peer", "add", "ru.json")),
    ("no", ("init", "--name", "no-njhq", "--party", "Norway", "--listen", "127.0.0.1:1")),
    ("ru", ("ack", "MESSAGE_ID", "--operator", "nobody")),
    ("ru", ("channel", "accept", "proposal.json", "--out", "again.json")),
    ("ru", ("operator", "add", "ivanov", "--desk", "no-such-desk", "--role", "duty")),
    ("no", ("verify", "--proof", "no-such-file.json")),
    ("no", ("demo", "--scenario", "no-such-scenario")),
)


def run(args: list[str]) -> tuple[int, str, str]:
    from parley.command import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:  # typer's own usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def play(lang: str, workdir: Path) -> list[dict[str, Any]]:
    os.environ["PARLEY_LANG"] = lang
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    if not Path("examples").exists():
        Path("examples").symlink_to(REPO / "examples")
    results: list[dict[str, Any]] = []
    ports: dict[str, int] = {}
    names: dict[str, str] = {}
    served: list[NodeProcess] = []
    message_id = ""
    try:
        for cmd in readme_commands():
            args = parley_args(cmd.segment)
            if args is None:
                if cmd.segment.startswith("sleep "):
                    time.sleep(float(cmd.segment.split()[1]))
                elif cmd.segment.startswith("kill"):
                    for node in served:
                        node.stop()
                continue
            sub = next((a for a in args if not a.startswith("-") and args[args.index(a) - 1] != "--home"), "")
            if sub in SKIPPED:
                results.append({"command": cmd.segment, "skipped": SKIPPED[sub]})
                continue
            home = args[args.index("--home") + 1] if "--home" in args else ""
            if sub == "init":
                ports[home] = free_port()
                names[home] = args[args.index("--name") + 1]
                args[args.index("--listen") + 1] = f"127.0.0.1:{ports[home]}"
            if sub == "serve" and cmd.background:
                node = NodeProcess(workdir / home, names[home], ports[home], ports[home])
                served.append(node)  # stopped in the end even if it never answers
                node.start(wait=120)  # a busy machine starts slowly
                results.append(
                    {"command": cmd.segment, "skipped": "a node process; started and left serving"}
                )
                continue
            if sub == "show" and "--lang" in args:
                args[args.index("--lang") + 1] = lang
            args = [message_id if a == "MESSAGE_ID" else a for a in args]
            code, out, err = run(args)
            if sub == "send":
                ids = UUID.findall(out)
                message_id = ids[-1] if ids else message_id
            results.append({"command": cmd.segment, "args": args, "rc": code, "stdout": out, "stderr": err})
        for home, refusal in REFUSALS:
            args = ["--home", home, *(message_id if a == "MESSAGE_ID" else a for a in refusal)]
            code, out, err = run(args)
            results.append(
                {
                    "command": "refusal: parley " + " ".join(args),
                    "args": args,
                    "rc": code,
                    "stdout": out,
                    "stderr": err,
                }
            )
    finally:
        for node in served:
            node.stop()
    return results


def main() -> None:
    lang, workdir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    results = play(lang, workdir)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
