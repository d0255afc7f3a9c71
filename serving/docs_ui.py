"""`/docs` (Swagger UI) and `/redoc` (ReDoc), with their scripts served by the API itself.

FastAPI's default pages load Swagger UI and ReDoc from a CDN and stay blank without a network.
These are FastAPI's own pages (`get_swagger_ui_html`, `get_redoc_html`: its recipe for
self-hosting the docs' JavaScript and CSS), pointed at the copies of the assets that the
`fastapi-offline` package ships, mounted under `ASSETS` with Starlette's `StaticFiles`. No page
of the docs names another host (no Google Fonts, a local favicon, no Swagger validator badge),
and their Content-Security-Policy lets the browser fetch from this origin only.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from serving.core.security import DOCS_ASSETS as ASSETS

STATIC_DIR = files("fastapi_offline") / "static"
DOCS, REDOC, OAUTH2_REDIRECT = "/docs", "/redoc", "/docs/oauth2-redirect"
# The browser loads nothing from elsewhere: ReDoc's menu shows a logo from cdn.redoc.ly
# (unconditionally in 2.x), which this blocks before any request is made. ReDoc's search runs
# in a worker made from a blob.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:"
)


def install_docs(app: FastAPI) -> None:
    """Serve `/docs`, its OAuth2 redirect and `/redoc` from local assets; create `app` with
    `docs_url=None, redoc_url=None` so that FastAPI's CDN pages are not registered."""
    app.mount(ASSETS, StaticFiles(directory=str(STATIC_DIR)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
            # The validator badge would send the spec's URL to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None} | (app.swagger_ui_parameters or {}),
        )
        page.headers["Content-Security-Policy"] = CSP
        return page

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = CSP
        return page
