"""The desk benchmark, run tiny: a simulated year built through the real send and receive
code on two nodes, measured on running nodes over HTTPS (issue 13, "What it must show")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from parley.bench.desk import SAR_CHANNEL, Fixture, build_fixture, measure_desk
from parley.node import resolve_db_url
from parley.storage.engines import normalise_url
from parley.storage.tables import acknowledgments, envelopes
from parley.workflows.tables import incidents

pytestmark = pytest.mark.e2e

END = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def _db(fx: Fixture) -> str:
    import tomllib

    cfg = tomllib.loads((fx.a.home / "parley.toml").read_text())
    return normalise_url(resolve_db_url(fx.a.home, cfg["database"]["url"]))


@pytest.mark.timeout(300)
def test_a_tiny_year_is_built_through_the_real_path_and_measured(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    urls: tuple[str | None, str | None] = (None, None)
    if engine_kind == "postgresql":
        make = request.getfixturevalue("pg_factory")
        urls = (make(), make())
    fx = build_fixture(
        tmp_path / engine_kind, engine_kind, 300, db_urls=urls, show_progress=False, end=END, chunk=100
    )

    engine = create_engine(_db(fx))
    try:
        with engine.connect() as conn:
            content = envelopes.c.type != "acknowledgment"
            shown = int(conn.execute(select(func.count()).where(content)).scalar_one())
            span = select(func.min(envelopes.c.created), func.max(envelopes.c.created))
            first, last = conn.execute(span).one()
            types = {r[0] for r in conn.execute(select(envelopes.c.type).distinct())}
            statuses = {r[0] for r in conn.execute(select(envelopes.c.status).where(content).distinct())}
            acked = int(conn.execute(select(func.count()).select_from(acknowledgments)).scalar_one())
            phases = {r[0] for r in conn.execute(select(incidents.c.phase).distinct())}
            channels = {r[0] for r in conn.execute(select(envelopes.c.channel).distinct())}
    finally:
        engine.dispose()
    # A year of signed traffic, both ways, of every kind a desk sees, ending at END.
    assert shown >= 300
    assert fx.envelopes > shown
    first_at, last_at = (datetime.fromisoformat(str(t).replace("Z", "+00:00")) for t in (first, last))
    assert END - timedelta(days=366) <= first_at < END - timedelta(days=300)
    assert END - timedelta(days=60) < last_at <= END
    assert {"general", "incident-at-sea", "incident-response", "acknowledgment"} <= types
    assert SAR_CHANNEL in channels
    assert "ACTUAL" in statuses
    assert acked > shown // 2  # most messages are acknowledged
    assert "closed" in phases
    assert fx.incidents

    for n in (fx.a, fx.b):
        n.start(wait=60)
    try:
        desk = measure_desk(fx, repeats=2)
    finally:
        fx.a.kill()
        fx.b.kill()
    for key in ("console_inbox", "console_search", "incident_page", "api_search"):
        assert "missing" not in desk[key], (key, desk[key])
        assert 0 < desk[key]["p50"] <= desk[key]["p90"], (key, desk[key])
    assert desk["api_search"]["hits"]["tråleren"] > 0
    # Following `next` from the newest page reaches the oldest: every message, once.
    assert desk["api_paging"]["messages"] == shown, desk["api_paging"]
