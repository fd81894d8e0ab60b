"""The demo's data on two real nodes, and the README tour, for the language tests (issue 16).

One package-scoped world: the Barents demo played in this process (narrating in Russian) on
two real node processes, left running; on each node two extra operators, ``reader-nb`` and
``reader-ru``, supervisors on every desk of the node (so that they see every channel and may
compose on each), whose console language is nb and ru. At the same time, in three child
processes: the README's tour by hand in nb and in ru (``tests/language/tour.py``), and the
demo once more narrating in Norwegian.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tests.language.detector import Finding, report, summary
from tests.language.sources import LANGS, REPO

NARRATION_LANG = "ru"  # the in-process demo's; the child demo narrates in the other language


@dataclass
class World:
    base: Path
    demo: Any  # parley.demo.runner.Demo
    password: str
    narration: dict[str, str] = field(default_factory=dict)  # lang -> the demo's output
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def nodes(self) -> dict[str, Any]:
        return dict(self.demo.nodes)

    def wait_child(self, name: str, timeout: float = 240) -> int:
        proc = self.children[name]
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise

    def tour(self, lang: str) -> list[dict[str, Any]]:
        code = self.wait_child(f"tour-{lang}")
        log = (self.base / f"tour-{lang}.log").read_text(errors="replace")
        assert code == 0, f"the README tour in {lang} did not finish ({code}):\n{log[-3000:]}"
        data: list[dict[str, Any]] = json.loads((self.base / f"tour-{lang}.json").read_text())
        return data

    def narration_in(self, lang: str) -> tuple[int, str]:
        if lang in self.narration:
            return 0, self.narration[lang]
        code = self.wait_child(f"demo-{lang}")
        return code, (self.base / f"demo-{lang}.log").read_text(errors="replace")


def _child(base: Path, name: str, args: list[str]) -> subprocess.Popen[bytes]:
    log = open(base / f"{name}.log", "wb")  # noqa: SIM115 (the child's for its lifetime)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "COLUMNS": "400"}
    try:
        # A session of its own: on SIGINT `parley demo` stops its nodes; if it does not, the
        # group (its own, by its id) is killed, nodes and all.
        return subprocess.Popen(
            [sys.executable, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
            start_new_session=True,
        )
    finally:
        log.close()


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from parley.demo.runner import Demo, load_scenario

    base = tmp_path_factory.mktemp("language")
    children = {}
    for lang in LANGS:
        children[f"tour-{lang}"] = _child(
            base,
            f"tour-{lang}",
            ["-m", "tests.language.tour", lang, str(base / f"tour-{lang}"), str(base / f"tour-{lang}.json")],
        )
    out = io.StringIO()
    scenario = load_scenario("barents")
    (base / "demo").mkdir()
    demo = Demo(
        scenario,
        base / "demo",
        lang=NARRATION_LANG,
        # Wide: a free text wrapped inside a panel could not be told from the product's words.
        console=Console(file=out, width=400, color_system=None, force_terminal=False),
    )
    world = World(base, demo, str(scenario.get("password", "demo-password-2026")), children=children)
    try:
        demo.setup()
        demo.run()
        world.narration[NARRATION_LANG] = out.getvalue()
        # The demo once more, narrating in the other language, while the tests read this one.
        other = next(lg for lg in LANGS if lg != NARRATION_LANG)
        children[f"demo-{other}"] = _child(
            base,
            f"demo-{other}",
            ["-m", "parley", "demo", "--lang", other, "--dir", str(base / f"demo-{other}")],
        )
        for spec in scenario["node"]:
            node = demo.nodes[spec["alias"]]
            for lang in LANGS:
                for desk in spec["desks"]:
                    node.cli_here(
                        "operator", "add", f"reader-{lang}", "--desk", desk["name"], "--role", "supervisor",
                        "--password-file", str(base / "demo" / "demo-password"),
                    )  # fmt: skip
                node.cli_here("operator", "lang", f"reader-{lang}", lang)
            _raise_every_alarm(node.home)
        yield world
    finally:
        demo.shutdown()
        for proc in children.values():
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (the demo then stops its nodes, a tour stops its nodes in its finally), then the
    child's own process group."""
    if proc.poll() is not None:
        return  # it ended by itself, its nodes stopped
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(40)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group this fixture created for it
        proc.wait(10)


def _raise_every_alarm(home: Path) -> None:
    """One open alarm of every registered code, raised the way the node raises them, so that
    the dashboard, the alert bar and ``parley status`` show each in the reader's language."""
    try:
        from parley.storage import alarms as registry
    except ImportError:
        return  # before the registry (issue 16): only the demo's own alarms are shown
    samples: dict[str, dict[str, Any]] = getattr(registry, "_SAMPLE_PARAMS", {})
    from parley.node import Node

    node = Node.open(home)
    try:
        now = node.clock.now()
        with node.engine.begin() as conn:
            for code in registry.ALARM_KINDS:
                if code in samples:
                    registry.raise_alarm_txn(conn, code, f"language-test/{code}", now, **samples[code])
    finally:
        node.close()


def check(findings: list[Finding], name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fail with the grouped findings; keep them as JSON for whoever fixes them."""
    path = tmp_path_factory.getbasetemp() / "language-findings" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps([f.__dict__ for f in findings], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    if findings:
        pytest.fail(
            f"{summary(findings)}\n(all findings: {path})\n\n{report(findings, with_summary=False)}",
            pytrace=False,
        )
