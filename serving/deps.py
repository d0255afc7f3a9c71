"""Request dependencies (`Annotated`), shared by the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from serving.cache import UserCache
from serving.catalog import Catalog
from serving.core.config import Settings
from serving.core.errors import ApiError
from serving.core.security import KeyRing
from serving.db.base import Database
from serving.ingest.store import LandingStore


@dataclass
class Context:
    """What the app holds for its whole life: settings, the database (read side), the landing
    store (write side), the catalog and the users cache."""

    settings: Settings
    db: Database
    catalog: Catalog
    cursor_key: bytes
    store: LandingStore
    cache: UserCache
    keys: KeyRing


async def get_context(request: Request) -> Context:
    return request.app.state.ctx


ContextDep = Annotated[Context, Depends(get_context)]


@dataclass
class ListParams:
    page: int | None = None
    page_size: int | None = None
    cursor: str | None = None
    limit: int | None = None
    sort: str | None = None
    count: bool = False
    format: str | None = None

    @classmethod
    def of(cls, values: dict[str, Any]) -> ListParams:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of `SERVING_API_KEYS`.")


async def require_api_key(
    ctx: ContextDep, x_api_key: Annotated[str | None, Depends(API_KEY)] = None
) -> None:
    """Write endpoints: a key from `SERVING_API_KEYS` in `X-API-Key`, compared in constant
    time; the key itself is never logged."""
    if not ctx.keys.match(x_api_key):
        raise ApiError(401, "unauthorized", "a valid X-API-Key is required")


ApiKeyDep = Annotated[None, Depends(require_api_key)]
