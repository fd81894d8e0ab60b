"""The Barents demo is also the first acceptance test: every step must hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(600)
def test_barents_demo_plays_every_step(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "parley", "demo", "--lang", "nb", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    # Narrated in Norwegian, the exercise notification rendered in Norwegian; the command
    # line's answers shown along the way speak Norwegian too.
    assert "Russisk varsel om en stor øvelse" in out
    assert "Øvelse" in out or "øvelse" in out
    # The off-topic agenda item was refused, the protocol agreed, the drill timed.
    assert "avvist som ventet: tema(er) på dagsordenen Militærøvelser" in " ".join(out.split())
    assert "fristen OVERHOLDT" in out
    assert out.count("journalen er intakt") == 2
    # The watch: the FLASH nobody acknowledged paged the officer on watch by real e-mail,
    # received by the demo's own SMTP server; then a handover, confirmed by the next officer.
    assert "→ SMTP 127.0.0.1:" in out
    assert "Til: ivan@nf-duty.demo.invalid" in out
    assert "Emne: [FLASH]" in out
    assert "sergei bekreftet vaktoverlevering" in out
    # The closing claim holds: links UP, each record cosigned by the other at its size.
    assert "✓ ru-nf: som ventet" in out
    assert "✓ no-njhq: som ventet" in out


def test_unknown_scenario_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "parley", "demo", "--scenario", "no-such-scenario"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "no scenario 'no-such-scenario'" in proc.stderr
    assert "barents" in proc.stderr
