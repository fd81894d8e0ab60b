"""Plays a scenario file against two real node processes, narrating as it goes.

A scenario (TOML, see ``scenarios/barents.toml``) declares the nodes (desks, operators),
the channels (charters, status history) and a list of steps. Each step narrates in the
chosen language and then acts through the same interfaces an operator uses — the CLI and
the HTTP API of running nodes — and checks what it expects. The first expectation that does
not hold stops the demo with a non-zero exit, so the demo doubles as an acceptance test.
Steps:

* ``send``    POST a message through a node's operator API; waits for the peer's receipt
              unless ``wait = "stored"``; ``save`` names the new message id;
* ``cli``     run ``parley ARGS`` on a node; ``expect_error`` turns it into a refusal check;
              ``json = true`` parses stdout, ``save = {var = "path"}`` keeps values;
* ``expect``  run a ``--json`` CLI command and compare the value at ``path``;
* ``stop`` / ``start`` / ``kill``  the node process; ``drain`` waits for empty outboxes.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from parley.devnet.nodes import NodeProcess, init_node, run_cli_here
from parley.errors import ParleyError, UsageError

SCENARIOS = Path(__file__).parent / "scenarios"


class StepFailed(ParleyError):
    code = "demo_step_failed"


@dataclass
class Demo:
    scenario: dict[str, Any]
    base: Path
    lang: str = "en"
    console: Console = field(default_factory=Console)
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    operators: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)

    # --- text ----------------------------------------------------------------------------
    def say(self, text: Any, style: str = "") -> None:
        if isinstance(text, dict):
            text = text.get(self.lang) or text.get("en") or next(iter(text.values()))
        self.console.print(self.fill(str(text)), style=style)

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):

            def sub(m: re.Match[str]) -> str:
                key = m.group(1)
                if key not in self.vars:
                    raise StepFailed(f"scenario uses {{{key}}} before any step saved it")
                return str(self.vars[key])

            return re.sub(r"\{([a-z_][a-z0-9_.]*)\}", sub, value)
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    # --- set-up --------------------------------------------------------------------------
    def setup(self) -> None:
        sc = self.scenario
        self.say(sc.get("title", "Parley demo"), "bold")
        pw = self.base / "demo-password"
        pw.write_text(sc.get("password", "demo-password-2026"))
        for spec in sc["node"]:
            node = init_node(self.base, spec["name"], spec["party"], tick=float(sc.get("tick", 0.2)))
            self.nodes[spec["alias"]] = node
            for desk in spec["desks"]:
                node.cli_here("desk", "add", desk["name"], "--title", desk.get("title", ""))
            self.operators[spec["alias"]] = []
            for op in spec["operators"]:
                node.cli_here(
                    "operator",
                    "add",
                    op["user"],
                    "--desk",
                    op["desk"],
                    "--role",
                    op["role"],
                    "--password-file",
                    str(pw),
                )
                self.operators[spec["alias"]].append(op)
                if op.get("lang"):
                    _set_lang(node, op["user"], op["lang"])
            self.tokens[spec["alias"]] = {
                op["user"]: node.cli_here("token", "issue", op["user"], "--label", "demo").stdout.strip()
                for op in spec["operators"]
            }
            node.token = self.tokens[spec["alias"]][spec["operators"][0]["user"]]
            node.cli_here("identity", "--out", str(self.base / f"{spec['alias']}.card.json"))
        aliases = list(self.nodes)
        for a in aliases:
            for b in aliases:
                if a != b:
                    self.nodes[a].cli_here("peer", "add", str(self.base / f"{b}.card.json"))
        for i, ch in enumerate(sc.get("channel", [])):
            self._setup_channel(i, ch)
        self.say(sc.get("setup_done", "nodes and channels are set up"), "green")

    def _setup_channel(self, i: int, ch: dict[str, Any]) -> None:
        import tomli_w

        proposer = self.nodes[ch["proposer"]]
        others = [a for a in self.nodes if a != ch["proposer"]]
        charter = self.base / f"charter-{i}.toml"
        charter.write_text(tomli_w.dumps(ch["charter"]))
        prop = self.base / f"proposal-{i}.json"
        counter = self.base / f"countersigned-{i}.json"
        proposer.cli_here(
            "channel",
            "propose",
            "--peer",
            self.nodes[others[0]].name,
            "--charter",
            str(charter),
            "--out",
            str(prop),
        )
        self.nodes[others[0]].cli_here("channel", "accept", str(prop), "--out", str(counter))
        proposer.cli_here("channel", "accept", str(counter))
        for change in ch.get("history", []):
            args = ["channel", change["action"], ch["charter"]["id"], "--reason", change["reason"]]
            for t in change.get("exempt", []):
                args += ["--exempt", t]
            self.nodes[change["by"]].cli_here(*args)
        self.say(f"  · {ch['charter']['id']}: " + _name(ch["charter"], self.lang), "dim")

    # --- steps ---------------------------------------------------------------------------
    def run(self) -> None:
        for node in self.nodes.values():
            node.start()
        for section in self.scenario.get("part", []):
            self.console.rule(self.fill(_pick(section["title"], self.lang)))
            for step in section.get("step", []):
                self.step(step)
        self.say(self.scenario.get("done", "all steps held"), "bold green")

    def step(self, step: dict[str, Any]) -> None:
        if "say" in step:
            self.say(step["say"])
        kind = step.get("do", "say")
        node = self.nodes[step["node"]] if "node" in step else None
        if kind == "say":
            return
        assert node is not None, f"step {kind} needs a node"
        if kind == "send":
            self._send(node, step)
        elif kind == "cli":
            self._cli(node, step)
        elif kind == "expect":
            self._expect(node, step)
        elif kind == "stop":
            node.stop()
        elif kind == "kill":
            node.kill()
        elif kind == "start":
            node.start()
        elif kind == "drain":
            self._drain(node, float(step.get("timeout", 60)))
        else:
            raise StepFailed(f"unknown step kind {kind!r}")

    def _send(self, node: NodeProcess, step: dict[str, Any]) -> None:
        body = self.fill(step.get("body") or _example(step["type"]))
        payload = {
            "channel": step["channel"],
            "type": step["type"],
            "precedence": step.get("precedence", "ROUTINE"),
            "status": step.get("status", "ACTUAL"),
            "body": body,
            "refs": self.fill(step.get("refs", [])),
        }
        if "desk" in step:
            payload["desk"] = step["desk"]
        wait = step.get("wait", "receipt")
        alias = step["node"]
        user = step.get("as") or self._operator_for(alias, node.name, step["channel"])
        t0 = time.perf_counter()
        with node.client() as c:
            c.headers["authorization"] = f"Bearer {self.tokens[alias][user]}"
            r = c.post(f"/api/v1/messages?wait={wait}&timeout=30", json=payload)
        ms = (time.perf_counter() - t0) * 1000
        if "expect_error" in step:
            if r.status_code < 400 or step["expect_error"] not in r.text:
                raise StepFailed(
                    f"expected refusal {step['expect_error']!r}, got {r.status_code}: {r.text[:300]}"
                )
            err = r.json()
            self.say(f"  ✗ refused as expected: {err.get('message')}", "yellow")
            return
        if r.status_code != 201:
            raise StepFailed(f"send failed ({r.status_code}): {r.text[:500]}")
        msg = r.json()
        if "save" in step:
            self.vars[step["save"]] = msg["id"]
        what = "stored, verified and receipted by the peer" if wait == "receipt" else "stored and queued"
        self.say(f"  ✓ {step['type']} {msg['id']} {what} in {ms:.0f} ms", "green")

    def _operator_for(self, alias: str, node_name: str, channel: str) -> str:
        """The first operator of ``alias`` whose desk is a member of ``channel``."""
        for ch in self.scenario.get("channel", []):
            if ch["charter"]["id"] == channel:
                desks = {m.split("/")[1] for m in ch["charter"]["members"] if m.startswith(node_name + "/")}
                for op in self.operators[alias]:
                    if op["desk"] in desks:
                        return op["user"]
        return self.operators[alias][0]["user"]

    def _cli(self, node: NodeProcess, step: dict[str, Any]) -> Any:
        args = [str(a) for a in self.fill(step["args"])]
        if step.get("json"):
            args.append("--json")
        proc = run_cli_here(node.home, *args, check=False)
        if "expect_error" in step:
            if proc.returncode == 0 or step["expect_error"] not in proc.stderr:
                raise StepFailed(
                    f"expected `parley {' '.join(args)}` to be refused with {step['expect_error']!r}; "
                    f"got {proc.returncode}: {proc.stderr or proc.stdout}"
                )
            self.say(f"  ✗ refused as expected: {proc.stderr.strip().removeprefix('error: ')}", "yellow")
            return None
        if proc.returncode != 0:
            raise StepFailed(f"`parley {' '.join(args)}` on {node.name} failed: {proc.stderr.strip()}")
        out: Any = proc.stdout
        if step.get("json"):
            out = json.loads(proc.stdout)
            for var, path in step.get("save", {}).items():
                self.vars[var] = _at(out, path)
        elif "save_match" in step:
            for var, pattern in step["save_match"].items():
                m = re.search(pattern, proc.stdout)
                if not m:
                    raise StepFailed(f"no {pattern!r} in the output of `parley {' '.join(args)}`")
                self.vars[var] = m.group(1)
        if step.get("show"):
            self.console.print(
                Panel(proc.stdout.rstrip(), title=f"{node.name}: parley {' '.join(args[:2])}", expand=False)
            )
        return out

    def _expect(self, node: NodeProcess, step: dict[str, Any]) -> None:
        deadline = time.monotonic() + float(step.get("within", 15))
        want = self.fill(step.get("equals"))
        while True:
            try:
                out = self._cli(node, {**step, "json": True, "save": {}})
            except StepFailed:
                # Not there yet (the message is still on its way): look again, until `within`.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                continue
            got = _at(out, self.fill(step["path"]))
            ok = got == want if "equals" in step else _compare(got, step)
            if ok:
                self.say(f"  ✓ {node.name}: {step['path']} = {got}", "green")
                return
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"{node.name}: expected {step['path']} {_describe(step, want)}, found {got!r}"
                )
            time.sleep(0.2)

    def _drain(self, node: NodeProcess, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with node.client() as c:
                st = c.get("/api/v1/status").json()
            if all(p["outbox_depth"] == 0 for p in st["peers"]):
                return
            time.sleep(0.1)
        raise StepFailed(f"{node.name}: outbox not empty after {timeout:g}s")

    def shutdown(self) -> None:
        for node in self.nodes.values():
            node.stop()


def _compare(got: Any, step: dict[str, Any]) -> bool:
    if "at_least" in step:
        return isinstance(got, (int, float)) and got >= step["at_least"]
    if "contains" in step:
        return step["contains"] in json.dumps(got, ensure_ascii=False)
    if "length" in step:
        return isinstance(got, list) and len(got) == step["length"]
    return bool(got)


def _describe(step: dict[str, Any], want: Any) -> str:
    for k in ("at_least", "contains", "length"):
        if k in step:
            return f"{k.replace('_', ' ')} {step[k]!r}"
    return f"= {want!r}"


def _at(value: Any, path: str) -> Any:
    for part in path.split("."):
        if part == "":
            continue
        if isinstance(value, list):
            if part == "#":
                return len(value)
            if part.startswith("[") and "=" in part:  # [key=value] selects the first match
                k, v = part[1:-1].split("=", 1)
                value = next((x for x in value if str(x.get(k)) == v), None)
                continue
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _pick(text: Any, lang: str) -> str:
    if isinstance(text, dict):
        return str(text.get(lang) or text.get("en"))
    return str(text)


def _name(charter: dict[str, Any], lang: str) -> str:
    return str(charter["name"].get(lang) or charter["name"]["en"])


def _example(type_: str) -> dict[str, Any]:
    import parley.formats

    examples = Path(parley.formats.__file__).parent / "examples"
    data: dict[str, Any] = json.loads((examples / f"{type_}.json").read_text())
    return data


def _set_lang(node: NodeProcess, user: str, lang: str) -> None:
    from parley.directory.operators import set_language
    from parley.node import Node

    n = Node.open(node.home)
    try:
        set_language(n, user, lang)
    finally:
        n.close()


def load_scenario(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.exists():
        path = SCENARIOS / f"{name_or_path}.toml"
    if not path.exists():
        known = ", ".join(p.stem for p in SCENARIOS.glob("*.toml"))
        raise UsageError(f"no scenario {name_or_path!r}", hint=f"built-in scenarios: {known}; or give a path")
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc
    return data
