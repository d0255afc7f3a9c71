"""One error envelope for every failure: `{"error": {"status", "code", "message", "details"}}`.

Client mistakes are 4xx (bad parameters 400, unknown things 404, wrong method 405); the warehouse
being down or too slow is a 503; only a bug of ours is a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.db.base import DatabaseUnavailable, QueryTimeout

log = logging.getLogger("serving.errors")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_body",
    429: "too_many_requests",
}


class ApiError(Exception):
    """A failure with its HTTP status, a stable machine-readable code and a message."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: Any = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """Every error answer of the API."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "A parameter is invalid."},
    503: {"model": ErrorEnvelope, "description": "The warehouse is unreachable or too slow."},
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: Any = None
) -> Response:
    body = {"error": {"status": status, "code": code, "message": message, "details": details}}
    response = Response(
        orjson.dumps(body, default=str), status_code=status, media_type="application/json"
    )
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "in": err["loc"][0] if err.get("loc") else None,
            "name": ".".join(str(p) for p in err.get("loc", ())[1:]),
            "message": err.get("msg"),
        }
        for err in exc.errors()
    ]
    names = ", ".join(d["name"] for d in details if d["name"]) or "request"
    return error_response(400, "invalid_parameter", f"invalid {names}", details)


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.warning("warehouse unavailable: %s", exc)
    return error_response(
        503, "warehouse_unavailable", "the warehouse is unreachable", headers={"Retry-After": "5"}
    )


async def _timeout(request: Request, exc: Exception) -> Response:
    return error_response(
        503,
        "query_timeout",
        "the query ran past its time limit; narrow the filters or use a cursor",
        headers={"Retry-After": "1"},
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "an unexpected error occurred")


# FastAPI documents a 422 with this schema on every route that has parameters; invalid
# parameters get the 400 envelope here instead (`_validation_error`).
FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def _openapi_without_fastapi_422(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi` (FastAPI's documented hook for changing the schema) less the 422 answers
    the API never gives, and the schemas only they used."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                answer = operation.get("responses", {}).get("422", {})
                if (
                    answer.get("content", {})
                    .get("application/json", {})
                    .get("schema", {})
                    .get("$ref")
                    == FASTAPI_VALIDATION
                ):
                    del operation["responses"]["422"]
        if FASTAPI_VALIDATION not in orjson.dumps(schema.get("paths", {})).decode():
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    return openapi


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DatabaseUnavailable, _unavailable)
    app.add_exception_handler(QueryTimeout, _timeout)
    app.add_exception_handler(Exception, _unexpected)
    app.openapi = _openapi_without_fastapi_422(app)  # type: ignore[method-assign]
