"""Response models, generated from the data contracts (DESIGN §3): one row model per dataset,
plus the envelopes of the two pagination modes. Nothing here spells a dataset's columns again."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from core.contracts import CONTRACTS, Contract

PYTHON_TYPES: dict[str, Any] = {
    "string": str,
    "int": int,
    "float": float,
    "bool": bool,
    "date": dt.date,
    "timestamp": dt.datetime,
    "json": Any,
}


def camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


@cache
def row_model(name: str) -> type[BaseModel]:
    """The model of one row of dataset `name`: its columns, types, nullability, descriptions."""
    contract = CONTRACTS[name]
    fields: dict[str, Any] = {}
    for col in contract.columns:
        annotation = PYTHON_TYPES[col.type]
        if col.nullable:
            # `Any` already admits None.
            optional = annotation if annotation is Any else annotation | None
            fields[col.name] = (optional, Field(None, description=col.description or None))
        else:
            fields[col.name] = (annotation, Field(..., description=col.description or None))
    return create_model(  # type: ignore[call-overload]
        camel(name),
        __config__=ConfigDict(extra="forbid", title=camel(name)),
        __doc__=contract.description,
        **fields,
    )


@cache
def cursor_page_model(name: str) -> type[BaseModel]:
    """Cursor mode: a page of rows and the opaque token of the next one."""
    return create_model(
        f"{camel(name)}CursorPage",
        data=(list[row_model(name)], ...),  # type: ignore[valid-type]
        next=(str | None, Field(None, description="Pass as `cursor` for the next page.")),
        next_url=(str | None, Field(None, description="The next page's URL.")),
        limit=(int, ...),
        total=(int | None, Field(None, description="With `count=true`: the row count.")),
        total_capped=(bool | None, Field(None, description="`total` stopped at the cap.")),
    )


@cache
def offset_page_model(name: str) -> type[BaseModel]:
    """Page mode, the source documents' contract: `page`/`page_size` with a total."""
    return create_model(
        f"{camel(name)}Page",
        data=(list[row_model(name)], ...),  # type: ignore[valid-type]
        total=(int, Field(..., description="Matching rows (capped: see `total_capped`).")),
        total_capped=(bool, Field(False, description="The count stopped at the cap.")),
        page=(int, ...),
        page_size=(int, ...),
        has_more=(bool, ...),
    )


def list_model(name: str) -> Any:
    return cursor_page_model(name) | offset_page_model(name)


def contract_of(model: type[BaseModel]) -> Contract:
    for name in CONTRACTS:
        if row_model(name) is model:
            return CONTRACTS[name]
    raise KeyError(model)


# -- platform answers ----------------------------------------------------------------------------
class AnyRowsPage(BaseModel):
    """`/tables/{name}`: rows of any contract table (see `/tables` for its columns)."""

    data: list[dict[str, Any]]
    next: str | None = None
    next_url: str | None = None
    limit: int | None = None
    total: int | None = None
    total_capped: bool | None = None
    page: int | None = None
    page_size: int | None = None
    has_more: bool | None = None


class ColumnInfo(BaseModel):
    name: str
    type: str
    nullable: bool
    description: str
    filters: list[str]


class TableInfo(BaseModel):
    name: str
    description: str
    rows: int | None = Field(None, description="Exact, computed once per table version.")
    last_write: dt.datetime | None = None
    partitions: int | None = Field(None, description="Partitions (ledger entries) written.")
    key: list[str]
    partition_column: str | None
    search: bool
    url: str
    columns: list[ColumnInfo] | None = None


class TablesAnswer(BaseModel):
    data: list[TableInfo]


class DatabaseStatus(BaseModel):
    ok: bool
    engine: str
    latency_ms: float | None = None
    error: str | None = None


class RunInfo(BaseModel):
    run_id: str | None = None
    job: str | None = None
    status: str | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    duration_s: float | None = None
    records_processed: int | None = None
    error: str | None = None


class Freshness(BaseModel):
    last_write: dt.datetime | None
    age_s: float | None
    stale: bool = Field(..., description="`state` is `stale` or `not written`.")
    state: str = Field(
        ...,
        description=(
            "`fresh`; `stale`: no write for over `SERVING_FRESHNESS_MAX_AGE_S`; `not written`: "
            "the table exists but no run has written it yet; `push`: a landing table, appended "
            "to by the push endpoints (`last_write` is the last push; never stale)."
        ),
    )


class HealthAnswer(BaseModel):
    status: str = Field(
        ...,
        description=(
            "`ok`; `empty` when the warehouse answers but no pipeline run has written it yet; "
            "`unavailable` (503) when it cannot be reached."
        ),
    )
    message: str = Field(..., description="The status in a sentence.")
    database: DatabaseStatus
    last_run: RunInfo | None = None
    tables: dict[str, Freshness] = Field(default_factory=dict)


class StatsAnswer(BaseModel):
    """The source documents' run statistics, from `pipeline_runs`."""

    run_count: int
    total_records_processed: int
    total_duration_s: float
    last_success: dt.datetime | None = None
    last_failure: dt.datetime | None = None
    last_failure_reason: str | None = None
    last_run: RunInfo | None = None
    runs_available: bool = Field(..., description="Whether `pipeline_runs` exists yet.")
