"""`/docs` and `/redoc` with no network: the API under uvicorn (`python -m serving`), read by
headless Chromium whose resolver knows no host but 127.0.0.1; every request the pages
make goes to the API's own address."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import serve_api
from tests.serving_fixtures import write_tie_records
from tests.ui_support import Page, chromium_page, require_chromium

KEY = "docs-test-key"
# A closed network: no name resolves, so a script or font from a CDN cannot load.
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",)
# What the page shows, polled from Python.
# Swagger UI breaks paths with zero-width spaces before each slash.
PAGE_TEXT = "document.body ? document.body.innerText.replace(/\\u200b/g, '') : ''"


@pytest.fixture(scope="module")
def chromium() -> Path:
    return require_chromium()


@pytest.fixture(scope="module")
def api_base(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("docs_offline")
    url = f"sqlite:///{root / 'warehouse.db'}"
    write_tie_records(url, n=5)
    # Reads need a key here: the docs and their assets must stay open all the same.
    with serve_api(url, root, api_keys=KEY, read_requires_key="true") as base:
        yield base


def local_urls(html: str) -> list[str]:
    """The `src` and `href` values of a page; each must be a path on the API itself."""
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


def open_offline(page: Page, url: str, expected: list[str], timeout: float = 60) -> str:
    """Navigate, then wait until the page's text holds every `expected` string."""
    page.send("Network.enable")
    page.send("Page.navigate", url=url)
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.evaluate(PAGE_TEXT) or ""
        if all(e in text for e in expected):
            return text
        time.sleep(0.25)
    missing = [e for e in expected if e not in text]
    raise AssertionError(f"{url}: {missing} never shown; the page said:\n{text[:2000]}")


def requested(page: Page) -> list[str]:
    return [
        e["params"]["request"]["url"]
        for e in page.events
        if e["method"] == "Network.requestWillBeSent"
    ]


def failed(page: Page) -> list[dict[str, Any]]:
    return [e["params"] for e in page.events if e["method"] == "Network.loadingFailed"]


def left_the_machine(page: Page, base: str) -> list[str]:
    """URLs the page asked for elsewhere than `base` that the browser did not block itself
    (by the pages' Content-Security-Policy) before sending."""
    blocked = {f["requestId"] for f in failed(page) if f.get("blockedReason") == "csp"}
    return [
        e["params"]["request"]["url"]
        for e in page.events
        if e["method"] == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith((f"{base}/", "data:", "blob:"))
        and e["params"]["requestId"] not in blocked
    ]


def test_docs_pages_name_only_local_assets(api_base: str) -> None:
    for path in ("/docs", "/redoc"):
        page = httpx.get(f"{api_base}{path}", timeout=10)
        assert page.status_code == 200, page.text
        urls = local_urls(page.text)
        assert urls, path
        assert all(u.startswith("/docs-assets/") for u in urls), (path, urls)
        assert "googleapis" not in page.text and "cdn." not in page.text
        for url in urls:
            asset = httpx.get(f"{api_base}{url}", timeout=10)
            assert asset.status_code == 200 and len(asset.content) > 1000, url
    swagger = httpx.get(f"{api_base}/docs", timeout=10).text
    assert "url: '/openapi.json'" in swagger and '"validatorUrl": null' in swagger
    redoc = httpx.get(f"{api_base}/redoc", timeout=10)
    assert '<redoc spec-url="/openapi.json">' in redoc.text
    for page in (redoc, httpx.get(f"{api_base}/docs", timeout=10)):
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "img-src 'self' data:" in policy


@pytest.mark.slow
def test_swagger_ui_renders_every_operation_offline(chromium: Path, api_base: str) -> None:
    paths = list(httpx.get(f"{api_base}/openapi.json", timeout=10).json()["paths"])
    assert {"/sales/orders", "/users/{email}", "/ingest/logs"} <= set(paths)
    with chromium_page(1280, 1000, flags=OFFLINE) as page:
        text = open_offline(page, f"{api_base}/docs", ["Data platform API", *paths])
        assert "Failed to load API definition" not in text
        assert "Pushed logs" in text and "List users" in text  # operation summaries
        urls = requested(page)
        assert f"{api_base}/docs-assets/swagger-ui-bundle.js" in urls
        assert f"{api_base}/openapi.json" in urls
        assert left_the_machine(page, api_base) == []
        assert failed(page) == []


@pytest.mark.slow
def test_redoc_renders_offline(chromium: Path, api_base: str) -> None:
    with chromium_page(1280, 1000, flags=OFFLINE) as page:
        text = open_offline(
            page, f"{api_base}/redoc", ["Data platform API", "Pushed logs", "List users"]
        )
        assert "/sales/orders" in page.evaluate("document.body.innerHTML")
        assert "Something went wrong" not in text
        urls = requested(page)
        assert f"{api_base}/docs-assets/redoc.standalone.js" in urls
        assert f"{api_base}/openapi.json" in urls
        assert left_the_machine(page, api_base) == []
        # ReDoc 2's menu always shows a logo from its CDN: the policy stops it in the browser.
        by_id = {
            e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in page.events
            if e["method"] == "Network.requestWillBeSent"
        }
        stopped = [(by_id[f["requestId"]], f.get("blockedReason")) for f in failed(page)]
        assert stopped == [("https://cdn.redoc.ly/redoc/logo-mini.svg", "csp")]
