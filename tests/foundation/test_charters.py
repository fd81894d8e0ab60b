"""The example charters parse, and the offline propose/accept flow works with one of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from foundation_support import Cli, Pair

from parley.channels.charter import charter_from_toml

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "charters").glob("*.toml"))


def test_all_six_examples_are_there() -> None:
    assert [p.stem for p in EXAMPLES] == [
        "border-1949",
        "coast-guard",
        "defence-leadership",
        "direct-line",
        "incsea",
        "sar-barents",
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_charter_parses(path: Path) -> None:
    charter = charter_from_toml(path.read_text(), str(path))
    assert charter.member_nodes == ["no-njhq", "ru-nf"]
    assert set(charter.data["name"]) == {"nb", "ru", "en"}
    assert charter.hash.startswith("sha256:")
    expected = "planned" if path.stem == "defence-leadership" else "active"
    assert charter.data["initial_status"] == expected


def test_the_planned_example_goes_through_propose_and_accept(cli: Cli, pair: Pair) -> None:
    path = Path(next(p for p in EXAMPLES if p.stem == "defence-leadership"))
    cli.ok("--home", pair.a, "desk", "add", "mod-leadership")
    cli.ok("--home", pair.b, "desk", "add", "mod-leadership")
    proposal, back = pair.files / "p.json", pair.files / "c.json"
    cli.ok(
        "--home",
        pair.a,
        "channel",
        "propose",
        "--peer",
        "ru-nf",
        "--charter",
        path,
        "--out",
        proposal,
    )
    assert "is open (planned)" in cli.ok("--home", pair.b, "channel", "accept", proposal, "--out", back).out
    cli.ok("--home", pair.a, "channel", "accept", back)
    shown = cli.ok("--home", pair.a, "channel", "show", "defence-leadership", "--json").json()
    assert shown["status"] == "planned"
