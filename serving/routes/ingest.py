"""`POST /ingest/logs` and `POST /users`: pushed records, validated at the gate, stored whole.

A batch is all or nothing: one bad record and nothing is stored, and the 422 lists every bad
record's index, field and reason. A stored batch is one transaction in `landing_logs`, from
where the landing sensor turns it into hourly `logs` partitions.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from serving.core.errors import ERROR_RESPONSES, ApiError, ErrorEnvelope
from serving.db.base import iso_timestamp
from serving.deps import ApiKeyDep, ContextDep
from serving.ingest.models import (
    LOG_BATCH,
    IngestAnswer,
    LogLimits,
    UserIn,
    failures_of,
    limit_failures,
)
from serving.ingest.store import (
    DuplicateEmail,
    Idempotency,
    IdempotencyMismatch,
    Stored,
    WarehouseBusy,
)
from serving.ingest.users import pushed_user

router = APIRouter(tags=["push"], responses=ERROR_RESPONSES)
# A 422 lists at most this many failures (the message gives the total).
MAX_DETAILS = 1000
USER_BODY_MAX_BYTES = 64 * 1024

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorEnvelope, "description": "No valid `X-API-Key`."},
    413: {"model": ErrorEnvelope, "description": "The body is over the size limit."},
    415: {"model": ErrorEnvelope, "description": "The body is not JSON."},
    422: {"model": ErrorEnvelope, "description": "Records failed validation; none was stored."},
}


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its `$defs` put in place of their references: inside an
    OpenAPI document, `#/$defs/...` would point at the document's root, where there are none
    (ReDoc then refuses the whole document). The models here are not recursive."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return resolve(defs[ref.removeprefix("#/$defs/")]) | resolve(rest)
        return {k: resolve(v) for k, v in node.items() if k != "$defs"}

    return resolve(schema)


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` of a route that reads its JSON body itself."""
    content = {"application/json": {"schema": inline_defs(schema)}}
    return {"requestBody": {"required": True, "content": content}}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with a 413 as soon as it passes `limit` bytes."""
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type.split(";", 1)[0]:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    too_large = ApiError(413, "payload_too_large", f"the body is over {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody reads the answer; it is counted and logged as the client's fault, not a 500.
        raise ApiError(
            400, "incomplete_body", "the connection closed before the body was complete"
        ) from None
    return b"".join(chunks)


def _invalid(failures: list[dict[str, Any]], what: str) -> ApiError:
    shown = failures[:MAX_DETAILS]
    more = f" (the first {MAX_DETAILS} are listed)" if len(failures) > MAX_DETAILS else ""
    return ApiError(
        422,
        "invalid_body",
        f"{len(failures)} {what} failed validation; none was stored{more}",
        shown,
    )


def _too_many(count: int, limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"{count} records: a batch holds at most {limit}")


def _refused(body: bytes, failures: list[dict[str, Any]], max_records: int) -> ApiError:
    """Why a body failed the structural pass: over the record cap (413), not a JSON array, or
    the records' failures (422)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _invalid([{"index": None, "field": None, "reason": f"not JSON: {exc}"}], "body")
    if not isinstance(payload, list):
        reason = "the body must be a JSON array of records"
        return _invalid([{"index": None, "field": None, "reason": reason}], "body")
    if len(payload) > max_records:
        return _too_many(len(payload), max_records)
    return _invalid(failures, "record(s)")


@functools.cache
def _first_hour(start: str) -> dt.datetime:
    """The first log partition's start, parsed once rather than on every request."""
    return dt.datetime.strptime(start, "%Y-%m-%d-%H:%M").replace(tzinfo=dt.UTC)


def _limits(ctx: ContextDep) -> LogLimits:
    s = ctx.settings
    return LogLimits(
        s.log_message_max_chars,
        s.log_attributes_max_bytes,
        _first_hour(s.logs_start_date),
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=s.max_clock_skew_s),
    )


def _stored(answer: Stored, location: str | None = None) -> Response:
    headers = {"Cache-Control": "no-store"}
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    if location:
        headers["Location"] = location
    return Response(
        answer.body, status_code=answer.status, media_type="application/json", headers=headers
    )


def _busy() -> ApiError:
    return ApiError(
        503,
        "warehouse_busy",
        "the warehouse is busy; retry the same request",
        headers={"Retry-After": "1"},
    )


@router.post(
    "/ingest/logs",
    status_code=201,
    response_model=IngestAnswer,
    summary="Push a batch of log records",
    responses=WRITE_RESPONSES
    | {409: {"model": ErrorEnvelope, "description": "Idempotency-Key reused with another body."}},
    openapi_extra=json_body(LOG_BATCH.json_schema()),
)
async def ingest_logs(
    request: Request,
    ctx: ContextDep,
    _key: ApiKeyDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            description="Retries with the same key (and body) get the first answer back.",
        ),
    ] = None,
) -> Response:
    """A JSON array of log records, stored in one transaction and answered with their landing
    ids. Every record is checked first: `timestamp` (ISO 8601, naive means UTC), `service`,
    `severity` (any case; WARNING is stored as WARN), `message`, optional `attributes` (a JSON
    object) and `event_id`. If any record fails, nothing is stored and the 422 lists each
    failure's `index`, `field` and `reason`. Above `SERVING_INGEST_MAX_RECORDS` records or
    `SERVING_INGEST_MAX_BYTES` bytes the answer is 413."""
    settings = ctx.settings
    body = await read_body(request, settings.ingest_max_bytes)
    try:
        records = LOG_BATCH.validate_json(body)
    except ValidationError as exc:
        raise _refused(body, failures_of(exc), settings.ingest_max_records) from None
    if len(records) > settings.ingest_max_records:
        raise _too_many(len(records), settings.ingest_max_records)
    if not records:
        raise _invalid([{"index": None, "field": None, "reason": "the batch is empty"}], "body")
    failures = limit_failures(records, body, _limits(ctx))
    if failures:
        raise _invalid(failures, "record(s)")
    idem = None
    if idempotency_key is not None:
        idem = Idempotency.of(request.headers["x-api-key"], idempotency_key, body)
    try:
        answer = await ctx.store.append_logs(records, idem)
    except IdempotencyMismatch:
        raise ApiError(
            409, "idempotency_key_reused", "this Idempotency-Key was used with another body"
        ) from None
    except WarehouseBusy:
        raise _busy() from None
    return _stored(answer)


@router.post(
    "/users",
    status_code=201,
    summary="Push a user",
    responses=WRITE_RESPONSES
    | {409: {"model": ErrorEnvelope, "description": "A user already has this email."}},
    openapi_extra=json_body(UserIn.model_json_schema()),
)
async def create_user(request: Request, ctx: ContextDep, _key: ApiKeyDep) -> Response:
    """A user with `name`, `email`, `role` and optional `username`, `phone`, `website`, `city`
    and `company_name`. 409 when the email is taken (by a pushed user or one from the REST API).
    The user is served by `GET /users/{email}` as soon as this returns, and merged into the
    `users` table (`source` = `push`) by its next materialization."""
    body = await read_body(request, USER_BODY_MAX_BYTES)
    try:
        user = UserIn.model_validate_json(body)
    except ValidationError as exc:
        raise _invalid(failures_of(exc), "field(s)") from None
    values = user.model_dump()
    values["username"] = values["username"] or user.email.split("@", 1)[0]
    try:
        landing = await ctx.store.add_user(values)
    except DuplicateEmail:
        raise ApiError(409, "duplicate_email", f"a user with email {user.email!r} exists") from None
    except WarehouseBusy:
        raise _busy() from None
    await ctx.cache.forget(user.email)
    row = pushed_user(landing | {"received_at": iso_timestamp(landing["received_at"])})
    # Percent-encoded: a header holds Latin-1 only, and an email may hold any character.
    location = f"/users/{quote(user.email, safe='@')}"
    return _stored(Stored(201, orjson.dumps(row)), location=location)
