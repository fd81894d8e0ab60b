"""``/metrics`` behind a scrape token, and ``/docs`` / ``/redoc`` served with vendored, same-origin
assets, on a real node process (issue 14, item 9)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from parley.config import Config
from parley.protocol.tls import pinned_client_context
from tests.harness.nodes import NodeProcess, init_node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    n = init_node(tmp_path_factory.mktemp("metrics"), "north", "Norway")
    out = n.cli_here("metrics", "token")
    n.token = out.stdout.strip()  # the scrape token, printed once
    n.start()
    try:
        yield n
    finally:
        n.stop()


def _anonymous(node: NodeProcess) -> httpx.Client:
    return httpx.Client(base_url=node.url, verify=pinned_client_context(node.cert()), timeout=10)


def test_metrics_token_command_keeps_only_the_hash(node: NodeProcess) -> None:
    config = Config.load(node.home)
    assert re.fullmatch(r"[0-9a-f]{64}", config.metrics.token_sha256)
    assert node.token not in (node.home / "parley.toml").read_text()
    assert len(node.token) >= 40


def test_metrics_refused_without_or_with_a_wrong_token(node: NodeProcess) -> None:
    with _anonymous(node) as c:
        bare = c.get("/metrics")
        wrong = c.get("/metrics", headers={"authorization": "Bearer " + "x" * len(node.token)})
        basic = c.get("/metrics", headers={"authorization": "Basic " + node.token})
    for r in (bare, wrong, basic):
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "metrics_token"
        assert "parley metrics token" in r.json()["hint"]
        assert "parley_" not in r.text


def test_metrics_allowed_with_the_scrape_token(node: NodeProcess) -> None:
    with _anonymous(node) as c:
        r = c.get("/metrics", headers={"authorization": f"Bearer {node.token}"})
    assert r.status_code == 200
    assert "parley_open_alarms" in r.text


async def test_metrics_off_without_a_configured_token(tmp_path_factory: pytest.TempPathFactory) -> None:
    from parley.api.app import create_app
    from parley.node import Node
    from parley.running.service import Service

    home = tmp_path_factory.mktemp("nometrics")
    init_node(home, "south", "Russia")
    node = Node.open(home / "south")
    try:
        app = create_app(Service(node, tick_s=0))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            r = await c.get("/metrics")
    finally:
        node.close()
    assert r.status_code == 404
    assert r.json()["error"] == "metrics_off"
    assert "parley metrics token" in r.json()["hint"]


def _same_origin_urls(page: str, base: str) -> list[str]:
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page)
    urls += re.findall(r"""\burl:\s*["']([^"']+)["']""", page)
    assert urls
    origin = urlsplit(base).netloc
    for u in urls:
        assert urlsplit(urljoin(base + "/", u)).netloc == origin, f"{u} is not same-origin"
    return urls


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css")),
        ("/redoc", ("redoc/redoc.standalone.js",)),
    ],
)
def test_docs_pages_use_only_vendored_same_origin_assets(
    node: NodeProcess, page: str, assets: tuple[str, ...]
) -> None:
    with _anonymous(node) as c:
        r = c.get(page)
        assert r.status_code == 200
        assert "cdn." not in r.text
        assert "fonts.googleapis" not in r.text
        urls = _same_origin_urls(r.text, node.url)
        for asset in assets:
            assert any(u.endswith(asset) for u in urls), (asset, urls)
        for u in urls:
            got = c.get(u)
            assert got.status_code == 200, u
            assert len(got.content) > 0
        assert c.get("/openapi.json").json()["info"]["title"] == "Parley operator API"
