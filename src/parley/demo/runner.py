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
* ``stop`` / ``start`` / ``kill``  the node process; ``drain`` waits for empty outboxes;
* ``mail``    wait (``within`` seconds) for a mail to ``to`` (naming the message id
              ``about``, if given) at the demo's SMTP sink and show it. With
              ``smtp_sink = true`` at the top of the scenario the demo runs a real SMTP
              server on loopback (:class:`parley.devnet.smtp_sink.SmtpSink`) and points
              every node's ``[pager] smtp_url`` at it, so pages are real mail.

``{today}``, ``{yesterday}`` and ``{tomorrow}`` (UTC dates) can be used in any step, e.g.
for roster shifts that cover the demo whenever it is played.
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
from rich.markup import escape
from rich.panel import Panel

from parley.devnet.nodes import NodeProcess, init_node, run_cli_here
from parley.errors import ParleyError, UsageError
from parley.formats.texts import T, Text

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
    sink: Any = None  # the SMTP sink, when the scenario asks for one

    # --- text ----------------------------------------------------------------------------
    def say(self, text: Any, style: str = "") -> None:
        if isinstance(text, dict):
            text = text.get(self.lang) or text.get("en") or next(iter(text.values()))
        if isinstance(text, Text):
            # Narration is rendered in the demo's language; its parameters (ids, a node's
            # words) are filled in as they are, not read as {variables} of the scenario.
            self.console.print(text.render(self.lang), style=style)
            return
        self.console.print(self.fill(str(text)), style=style)

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):

            def sub(m: re.Match[str]) -> str:
                key = m.group(1)
                if key not in self.vars:
                    raise StepFailed(T("scenario uses {{{key}}} before any step saved it", key=key))
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
        self.say(sc.get("title", T("Parley demo")), "bold")
        pw = self.base / "demo-password"
        pw.write_text(sc.get("password", "demo-password-2026"))
        self._dates()
        if sc.get("smtp_sink"):
            from parley.devnet.smtp_sink import SmtpSink

            self.sink = SmtpSink().start()
        for spec in sc["node"]:
            config = None
            if self.sink is not None:
                sender = f"parley@{spec['name']}.demo.invalid"
                config = {"pager": {"smtp_url": self.sink.url, "from_address": sender}}
            node = init_node(
                self.base, spec["name"], spec["party"], tick=float(sc.get("tick", 0.2)), config=config
            )
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
        self.say(sc.get("setup_done", T("nodes and channels are set up")), "green")

    def _dates(self) -> None:
        from datetime import UTC, datetime, timedelta

        today = datetime.now(UTC).date()
        self.vars.setdefault("today", today.isoformat())
        self.vars.setdefault("yesterday", (today - timedelta(days=1)).isoformat())
        self.vars.setdefault("tomorrow", (today + timedelta(days=1)).isoformat())
        # Outside every node's home: where a scenario keeps a root key (docs/operations.md).
        self.vars.setdefault("offline", str(self.base))

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
        self.say(self.scenario.get("done", T("all steps held")), "bold green")

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
        elif kind == "mail":
            self._mail(node, step)
        else:
            raise StepFailed(T("unknown step kind {kind!r}", kind=kind))

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
            c.headers["accept-language"] = self.lang  # refusals in the demo's language
            r = c.post(f"/api/v1/messages?wait={wait}&timeout=30", json=payload)
        ms = (time.perf_counter() - t0) * 1000
        if "expect_error" in step:
            if r.status_code < 400 or step["expect_error"] not in r.text:
                raise StepFailed(
                    T(
                        "expected refusal {step_expect_error!r}, got {r_status_code}: {r_text}",
                        step_expect_error=step["expect_error"],
                        r_status_code=r.status_code,
                        r_text=r.text[:300],
                    )
                )
            err = r.json()
            self.say(T("  ✗ refused as expected: {reason}", reason=escape(str(err.get("message")))), "yellow")
            return
        if r.status_code != 201:
            raise StepFailed(
                T("send failed ({r_status_code}): {r_text}", r_status_code=r.status_code, r_text=r.text[:500])
            )
        msg = r.json()
        if "save" in step:
            self.vars[step["save"]] = msg["id"]
        kind = self._type_label(step["type"])
        if wait == "receipt":
            line = T(
                "  ✓ {kind} {id} stored, verified and receipted by the peer in {ms:.0f} ms",
                kind=kind,
                id=msg["id"],
                ms=ms,
            )
        else:
            line = T("  ✓ {kind} {id} stored and queued in {ms:.0f} ms", kind=kind, id=msg["id"], ms=ms)
        self.say(line, "green")

    def _type_label(self, type_name: str) -> str:
        """A message type as the reader's catalogue names it (``border_situation`` reads
        "Situasjon ved grensen" in nb), the key itself if the catalogue has none."""
        from parley.cli.common import label

        return label("type", type_name, self.lang)

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
        # An argument may be given per language ({en = …, nb = …, ru = …}): a note, a text.
        args = [_pick(a, self.lang) if isinstance(a, dict) else str(a) for a in self.fill(step["args"])]
        if step.get("json"):
            args.append("--json")
        # The command line speaks the demo's language: its lines shown in panels are part of
        # the narration. (Patterns in `save_match` must not depend on its wording.)
        proc = run_cli_here(node.home, "--lang", self.lang, *args, check=False)
        if "expect_error" in step:
            if proc.returncode == 0 or step["expect_error"] not in proc.stderr:
                raise StepFailed(
                    T(
                        "expected `parley {args}` to be refused with {step_expect_error!r}; "
                        "got {proc_returncode}: {proc_stderr}",
                        args=" ".join(args),
                        step_expect_error=step["expect_error"],
                        proc_returncode=proc.returncode,
                        proc_stderr=proc.stderr or proc.stdout,
                    )
                )
            reason = proc.stderr.strip().removeprefix("error: ")
            self.say(T("  ✗ refused as expected: {reason}", reason=escape(reason)), "yellow")
            return None
        if proc.returncode != 0:
            raise StepFailed(
                T(
                    "`parley {args}` on {node_name} failed: {proc_stderr}",
                    args=" ".join(args),
                    node_name=node.name,
                    proc_stderr=proc.stderr.strip(),
                )
            )
        out: Any = proc.stdout
        if step.get("json"):
            out = json.loads(proc.stdout)
            for var, path in step.get("save", {}).items():
                self.vars[var] = _at(out, path)
        elif "save_match" in step:
            for var, pattern in step["save_match"].items():
                m = re.search(pattern, proc.stdout)
                if not m:
                    raise StepFailed(
                        T(
                            "no {pattern!r} in the output of `parley {args}`",
                            pattern=pattern,
                            args=" ".join(args),
                        )
                    )
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
                # A path may hold a [key=value] selector, which rich would take for markup.
                # The narration before the step says what is checked; the path and value are
                # data (keys, JSON), so the line only says that it held.
                self.say(T("  ✓ {node}: as expected", node=node.name), "green")
                return
            if time.monotonic() > deadline:
                raise StepFailed(
                    T(
                        "{node_name}: expected {step_path} {describe}, found {got!r}",
                        node_name=node.name,
                        step_path=step["path"],
                        describe=_describe(step, want),
                        got=got,
                    )
                )
            time.sleep(0.2)

    def _drain(self, node: NodeProcess, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with node.client() as c:
                st = c.get("/api/v1/status").json()
            if all(p["outbox_depth"] == 0 and p.get("control_pending", 0) == 0 for p in st["peers"]):
                return
            time.sleep(0.1)
        raise StepFailed(
            T("{node_name}: outbox not empty after {timeout:g}s", node_name=node.name, timeout=timeout)
        )

    def _mail(self, node: NodeProcess, step: dict[str, Any]) -> None:
        """Wait for a page by e-mail to ``to`` at the demo's SMTP sink, and show it."""
        if self.sink is None:
            raise StepFailed(T("a mail step needs smtp_sink = true at the top of the scenario"))
        to = str(self.fill(step["to"]))
        about = str(self.fill(step.get("about", "")))  # a message id the page must name
        within = min(float(step.get("within", 30)), 120.0)

        def text_of(mail: Any) -> str:
            body = mail.get_body(preferencelist=("plain",))
            return str(body.get_content()) if body is not None else ""

        def wanted(mail: Any) -> bool:
            return to in str(mail.get("To", "")) and about in text_of(mail)

        try:
            mail = self.sink.wait_for(wanted, timeout=within)
        except TimeoutError as exc:
            raise StepFailed(
                T(
                    "no page by e-mail to {to} about {about} within {within} s: {exc}",
                    to=to,
                    about=about or "-",
                    within=within,
                    exc=str(exc),
                )
            ) from None
        text = text_of(mail)
        lines = [
            T("From: {value}", value=str(mail["From"])).render(self.lang),
            T("To: {value}", value=str(mail["To"])).render(self.lang),
            T("Subject: {value}", value=str(mail["Subject"])).render(self.lang),
            "",
        ]
        lines += [line for line in str(text).splitlines() if line.strip()][:12]
        self.console.print(
            Panel(
                escape("\n".join(lines)),
                title=f"{node.name} → SMTP 127.0.0.1:{self.sink.port}",
                expand=False,
            )
        )

    def shutdown(self) -> None:
        for node in self.nodes.values():
            node.stop()
        if self.sink is not None:
            self.sink.close()
            self.sink = None


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
        raise UsageError(
            T("no scenario {name_or_path!r}", name_or_path=name_or_path),
            hint=T("built-in scenarios: {known}; or give a path", known=known),
        )
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(T("{path} is not valid TOML: {exc}", path=path, exc=exc)) from exc
    return data
