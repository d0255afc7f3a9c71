"""The list endpoints, declared once (`list_route`) and served by a lean path (`LeanRoutes`).

`list_route` registers a list endpoint with FastAPI, which documents it (OpenAPI, /docs, the
schemathesis run) and answers everything but a plain GET of its path (other methods, trailing
slashes). `LeanRoutes`, the innermost middleware, hands a GET of that exact path straight to the
endpoint's handler: no linear walk of the routes, no per-request dependency solving, which cost
more than the keyset query itself. The handler parses its declared parameters with
`serving.params` either way, so both paths give the same answers and the same errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from core.contracts import Contract
from serving.deps import Context, ListParams
from serving.listing import Listing
from serving.params import Param, for_contract, openapi, parse
from serving.query import Condition, Filter
from serving.schemas import list_model

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI before routers were included as contexts: `app.routes` is flat

    def iter_route_contexts(routes: Any) -> Any:
        return iter(routes)


Handler = Callable[[Request], Awaitable[Response]]
Where = Callable[[dict[str, Any], Context], Iterable[Filter | Condition]]


def list_route(
    router: APIRouter,
    path: str,
    contract: Contract,
    params: tuple[Param, ...],
    *,
    summary: str,
    default_mode: str = "cursor",
    default_sort: str | None = None,
) -> Callable[[Where], Where]:
    """Register `GET path`, a listing of `contract` with the declared `params`.

    The decorated function names and documents the endpoint (its name is the operation's, its
    docstring the description) and turns the typed declared parameters into the endpoint's own
    filters and conditions; `search` and the paging parameters are handled here, and every
    undeclared parameter is a `col__op=value` filter.
    """
    params = for_contract(params, contract)
    names = frozenset(p.name for p in params)

    def decorate(where: Where) -> Where:
        async def handle(request: Request) -> Response:
            q = parse(request, params)
            ctx: Context = request.app.state.ctx
            parts = list(where(q, ctx))
            listing = Listing(
                request,
                ctx,
                contract,
                filters=[p for p in parts if isinstance(p, Filter)],
                conditions=[p for p in parts if isinstance(p, Condition)],
                search=q.get("search"),
                declared=names,
            )
            list_params = ListParams.of(q)
            list_params.sort = list_params.sort or default_sort
            return await listing.respond(list_params, default_mode=default_mode)

        async def endpoint(request: Request) -> Response:
            return await handle(request)

        endpoint.__name__ = endpoint.__qualname__ = where.__name__
        endpoint.__doc__ = where.__doc__
        endpoint.lean_handler = handle  # type: ignore[attr-defined]
        router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            response_model=list_model(contract.name),
            summary=summary,
            openapi_extra=openapi(params),
        )
        return where

    return decorate


class LeanRoutes:
    """GET of a `list_route` path: straight to its handler, errors through the app's handlers.

    Sits inside the other middlewares (access log, metrics, CORS see the request as usual) and
    sets `scope["route"]` as the router would, so metrics name the route template.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes: dict[str, tuple[BaseRoute, Handler]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            fastapi_app: FastAPI = scope["app"]
            if self.routes is None:
                self.routes = self._collect(fastapi_app)
            path, root = scope["path"], scope.get("root_path", "")
            if root and path.startswith(root + "/"):
                path = path[len(root) :]
            hit = self.routes.get(path)
            if hit is not None:
                route, handle = hit
                scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, {}
                request = Request(scope, receive)
                try:
                    response = await handle(request)
                except Exception as exc:
                    on_error = self._exception_handler(fastapi_app, exc)
                    if on_error is None:
                        raise
                    response = await on_error(request, exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _collect(app: FastAPI) -> dict[str, tuple[BaseRoute, Handler]]:
        """Every `list_route` by its full path, with the route the router would put in scope.

        A route with dependencies (of the app, of an include or of its router) stays with the
        router, which runs them."""
        routes: dict[str, tuple[BaseRoute, Handler]] = {}
        seen: set[str] = set()
        for route in iter_route_contexts(app.routes):
            if "GET" not in (route.methods or ()) or route.path in seen:
                continue  # the router answers with the first GET route of a path
            seen.add(route.path)
            handle = getattr(route.endpoint, "lean_handler", None)
            dependencies = getattr(getattr(route, "dependant", None), "dependencies", None)
            if handle is not None and not dependencies:
                routes[route.path] = (getattr(route, "original_route", route), handle)
        return routes

    @staticmethod
    def _exception_handler(app: FastAPI, exc: Exception) -> Any:
        """The app's handler for `exc`, as its exception middleware would pick it; None for the
        catch-all `Exception` handler, which the server-error middleware applies (and logs)."""
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            handler = app.exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None
