"""The list endpoints: each declared once, as a FastAPI route of the app.

A resource declares its listings on a `ListRoutes` (its prefix, tags and error responses, as an
`APIRouter` holds them): the contract, the declared query parameters and a function that turns
them into the endpoint's own filters. From a declaration come the route's response model (the
contract's rows in either pagination mode, `serving.schemas`) and its query model
(`serving.params`), whose parameters OpenAPI documents. `ListRoutes.add_to(app)` adds them as
routes of the app itself (`app.router.add_api_route`): the app's responses and dependencies
apply as to any route, and matching one costs a path regex, where the routes of an included
router are matched through per-request route contexts.

The endpoint takes the `Request` alone and lets the query model parse the query string: every
parameter the model does not declare is a `col__op=value` filter, which no static signature
could spell.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.routing import request_response

from core.contracts import Contract
from serving.deps import Context, ListParams
from serving.listing import Listing
from serving.params import Param, QueryModel, for_contract
from serving.query import Condition, Filter
from serving.schemas import camel, list_model

Where = Callable[[dict[str, Any], Context], Iterable[Filter | Condition]]
Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


def no_filters(q: dict[str, Any], ctx: Context) -> list[Filter | Condition]:
    """The whole table: only the `col__op=value` filters and the search narrow it."""
    return []


@dataclass(frozen=True)
class ListEndpoint:
    """One listing of a contract: its query model, and how its declared parameters filter."""

    contract: Contract
    query: QueryModel
    where: Where = no_filters
    default_mode: str = "cursor"
    default_sort: str | None = None

    @classmethod
    def declare(
        cls, contract: Contract, params: tuple[Param, ...], where: Where = no_filters, **kw: Any
    ) -> ListEndpoint:
        """The endpoint of `contract` with the declared `params` (`sort` names its columns)."""
        title = f"{camel(where.__name__ if where is not no_filters else contract.name)}Query"
        return cls(contract, QueryModel(title, for_contract(params, contract)), where, **kw)

    async def respond(self, request: Request) -> Response:
        """Parse, filter, page: the answer to one GET of this listing."""
        q = self.query.parse(request)
        ctx: Context = request.app.state.ctx
        parts = list(self.where(q, ctx))
        listing = Listing(
            request,
            ctx,
            self.contract,
            filters=[p for p in parts if isinstance(p, Filter)],
            conditions=[p for p in parts if isinstance(p, Condition)],
            search=q.get("search"),
            declared=self.query.names,
        )
        params = ListParams.of(q)
        params.sort = params.sort or self.default_sort
        return await listing.respond(params, default_mode=self.default_mode)


class ListRoute(APIRoute):
    """The route of a list endpoint. Its endpoint takes the `Request` and returns a `Response`,
    so FastAPI's request handler would only solve an empty set of dependencies and pass the
    answer through, inside the two exit stacks that FastAPI's `request_response` opens for
    dependencies with `yield`. With no dependency, the route's ASGI app is Starlette's
    `request_response` around the endpoint itself: the app's exception handlers answer its
    errors as on any route. With any (the route's or the app's), FastAPI's handler and request
    wrapper run them first, as on any route."""

    def __init__(self, path: str, endpoint: Endpoint, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if not self.dependant.dependencies:
            self.app = request_response(endpoint)


@dataclass
class Declared:
    """One declared listing: its full path, the endpoint, its route handler and summary."""

    path: str
    endpoint: ListEndpoint
    handler: Endpoint
    summary: str


@dataclass
class ListRoutes:
    """The list endpoints of one resource, declared with `route`, added to an app by `add_to`."""

    prefix: str = ""
    tags: list[str] = field(default_factory=list)
    responses: dict[int | str, dict[str, Any]] = field(default_factory=dict)
    declared: list[Declared] = field(default_factory=list)

    def route(
        self,
        path: str,
        contract: Contract,
        params: tuple[Param, ...],
        *,
        summary: str,
        default_mode: str = "cursor",
        default_sort: str | None = None,
    ) -> Callable[[Where], Where]:
        """Declare `GET prefix + path`: a listing of `contract` with the declared `params`.

        The decorated function turns the typed declared parameters into the endpoint's filters
        and conditions; its name is the operation's, its docstring the description. `search`
        and the paging parameters are handled by the listing itself.
        """

        def decorate(where: Where) -> Where:
            endpoint = ListEndpoint.declare(
                contract, params, where, default_mode=default_mode, default_sort=default_sort
            )

            async def list_rows(request: Request) -> Response:
                return await endpoint.respond(request)

            list_rows.__name__ = list_rows.__qualname__ = where.__name__
            list_rows.__doc__ = where.__doc__
            self.declared.append(Declared(self.prefix + path, endpoint, list_rows, summary))
            return where

        return decorate

    def add_to(self, app: FastAPI) -> None:
        """Add every declared listing to `app` as a `ListRoute` of the app itself, at the head
        of its routes: the router tries routes in order, and these take most requests."""
        routes = app.router.routes
        before = len(routes)
        for d in self.declared:
            app.router.add_api_route(
                d.path,
                d.handler,
                methods=["GET"],
                response_model=list_model(d.endpoint.contract.name),
                summary=d.summary,
                tags=list(self.tags),
                responses=self.responses,
                openapi_extra=d.endpoint.query.openapi(),
                route_class_override=ListRoute,
            )
        added = routes[before:]
        del routes[before:]
        routes[:0] = added
