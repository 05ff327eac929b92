"""The gateway serves the built web app at ``/`` beside the API (``gateway/web.py``), without the platform."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from common.security import TokenIssuer, TokenVerifier
from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.web import IMMUTABLE, WEB_CSP

SECRET = secrets.token_urlsafe(48)
INDEX = '<!doctype html><html><head><script type="module" src="/assets/app-1234.js"></script></head></html>'
HTML = {"Accept": "text/html,application/xhtml+xml"}


def _dist(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "app-1234.js").write_text("console.log('app')")
    (dist / "favicon.svg").write_text("<svg/>")
    (root / "secret.txt").write_text("outside dist")
    return dist


async def _client(dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings(jwt_secret=SECRET, web_dist=dist, temporal_ui_url="http://ui.example:8233/"))
    app.state.verifier = TokenVerifier(secret=SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        yield http


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for http in _client(_dist(tmp_path)):
        yield http


async def test_the_app_is_served_at_the_root_without_cache(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.get("/", headers=HTML)
    assert resp.status_code == 200
    assert resp.text == INDEX
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.headers["content-security-policy"] == WEB_CSP
    assert "'unsafe-inline'" not in WEB_CSP
    assert "frame-ancestors 'none'" in WEB_CSP


async def test_pages_keep_their_policy_and_get_the_common_headers_while_the_api_keeps_its_own(
    gateway: httpx.AsyncClient,
) -> None:
    """gateway/headers.py (outside) and gateway/web.py (inside) do not fight over the pages' headers."""
    common = {
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
    }
    for path in ("/", "/orders/42", "/assets/app-1234.js"):
        page = await gateway.get(path, headers=HTML)
        assert page.status_code == 200
        assert page.headers.get_list("content-security-policy") == [WEB_CSP], path
        assert len(page.headers.get_list("cache-control")) == 1, path
        assert page.headers["cache-control"] != "no-store", path  # the app's files may be cached
        for name, value in common.items():
            assert page.headers.get_list(name) == [value], (path, name)
    api = await gateway.get("/api/web-config")
    assert api.status_code == 401
    assert api.headers.get_list("content-security-policy") == ["default-src 'none'; frame-ancestors 'none'"]
    assert api.headers["cache-control"] == "no-store"
    for name, value in common.items():
        assert api.headers.get_list(name) == [value], name


async def test_assets_are_cached_for_long_and_other_files_are_not(gateway: httpx.AsyncClient) -> None:
    asset = await gateway.get("/assets/app-1234.js")
    assert asset.status_code == 200
    assert asset.text == "console.log('app')"
    assert asset.headers["cache-control"] == IMMUTABLE
    assert "javascript" in asset.headers["content-type"]
    icon = await gateway.get("/favicon.svg")
    assert (icon.status_code, icon.headers["cache-control"]) == (200, "no-cache")


async def test_a_deep_link_opens_the_app_but_an_unknown_api_path_stays_a_json_404(
    gateway: httpx.AsyncClient,
) -> None:
    page = await gateway.get("/orders/42", headers=HTML)
    assert (page.status_code, page.text) == (200, INDEX)
    for path in ("/api/nothing-here", "/api/orders/x/y/z"):
        resp = await gateway.get(path, headers=HTML)
        assert resp.status_code == 404
        assert resp.json()["type"] == "NotFound"
        assert "content-security-policy" not in resp.headers or resp.headers["content-security-policy"] != WEB_CSP
    # Not the app's either: the gateway's own documents.
    assert "swagger" in (await gateway.get("/docs", headers=HTML)).text.lower()
    assert (await gateway.get("/openapi.json", headers=HTML)).json()["openapi"]
    # A script asking for JSON at a path nobody serves gets the API's 404, not a page.
    missing = await gateway.get("/no-such-thing.json", headers={"Accept": "application/json"})
    assert missing.status_code == 404
    # And a method other than GET is never the app's: POST to an unknown path is the API's 404 too.
    posted = await gateway.post("/api/nothing-here", json={})
    assert posted.status_code == 404


async def test_nothing_outside_dist_is_served(gateway: httpx.AsyncClient) -> None:
    for path in ("/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"):
        resp = await gateway.get(path, headers={"Accept": "application/json"})
        assert "outside dist" not in resp.text


async def test_without_a_build_the_root_says_how_to_build_it(tmp_path: Path) -> None:
    async for http in _client(tmp_path / "nothing"):
        resp = await http.get("/", headers=HTML)
        assert resp.status_code == 503
        assert resp.headers["content-type"].startswith("text/plain")
        assert "make web" in resp.text
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/api/products")).status_code == 401


async def test_the_web_config_names_the_temporal_ui(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/api/web-config")).status_code == 401
    token = TokenIssuer(secret=SECRET).issue(
        username="olivia", user_id="u-olivia", role="operator", email="olivia@example.com", name="Olivia"
    )
    resp = await gateway.get("/api/web-config", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    assert resp.json() == {"temporal_ui_url": "http://ui.example:8233", "temporal_namespace": "default"}
