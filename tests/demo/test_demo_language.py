"""The demo narrates in its ``--lang`` (issue 16): a two-step scenario played in Russian."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCENARIO = """
title = "Parley"
tick = 0.2

[[node]]
alias = "no"
name = "no-a"
party = "Norway"
desks = [{ name = "duty", title = "Duty" }]
operators = [{ user = "ola", desk = "duty", role = "duty" }]

[[node]]
alias = "ru"
name = "ru-b"
party = "Russia"
desks = [{ name = "duty", title = "Duty" }]
operators = [{ user = "ivan", desk = "duty", role = "duty" }]

[[channel]]
proposer = "no"
[channel.charter]
id = "line"
name = { en = "Line", nb = "Linja", ru = "Линия" }
basis = { date = 2020-01-01, agreement = "Test" }
members = ["no-a/duty", "ru-b/duty"]
types = ["general"]
languages = ["nb", "ru", "en"]

[[part]]
title = { en = "One message", nb = "Én melding", ru = "Одно сообщение" }
[[part.step]]
do = "send"
node = "no"
channel = "line"
type = "general"
save = "m"
[[part.step]]
do = "cli"
node = "ru"
args = ["verify"]
show = true
[[part.step]]
do = "expect"
node = "ru"
args = ["show", "{m}"]
path = "wire.envelope.type"
equals = "general"
"""


@pytest.mark.timeout(300)
def test_the_demo_narrates_in_russian(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "parley", "demo", "--lang", "ru", "--scenario", str(scenario)],
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, "COLUMNS": "200", "PARLEY_LANG": "en"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "узлы и каналы настроены" in out
    assert "получена за" in out  # "✓ … stored, verified and receipted by the peer in N ms"
    assert "журнал цел" in out  # the command line's answer, shown in a panel
    assert "все шаги выполнены" in out
    # No sentence of the English narration is left.
    for english in ("stored", "receipted", "record intact", "all steps held", "set up"):
        assert english not in out
    assert re.search(r"за \d+ мс", out)
