"""What the write endpoints accept: one pydantic model per pushed record, checked at the gate.

The models give the OpenAPI schema and the per-field errors; the limits that come from the
settings (message length, attributes size, the accepted time window) travel in the validation
context, so one model serves every configuration.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
)

from orchestration.contracts.datasets import LOG_SEVERITIES

SEVERITY_ALIASES = {"WARNING": "WARN", "FATAL": "CRITICAL"}


@dataclass(frozen=True)
class LogLimits:
    """The settings a log record is checked against (passed as the validation context)."""

    message_max_chars: int
    attributes_max_bytes: int
    earliest: dt.datetime
    max_skew: dt.timedelta

    def context(self) -> dict[str, Any]:
        return {"limits": self}


def _limits(info: ValidationInfo) -> LogLimits:
    return (info.context or {})["limits"]


def _severity(value: Any) -> Any:
    if isinstance(value, str):
        upper = value.strip().upper()
        upper = SEVERITY_ALIASES.get(upper, upper)
        if upper in LOG_SEVERITIES:
            return upper
        raise ValueError(f"must be one of {', '.join(LOG_SEVERITIES)} or WARNING")
    return value


def _timestamp(value: str, info: ValidationInfo) -> dt.datetime:
    text = value.strip()
    # A date alone is not an event time; fromisoformat would read it as midnight.
    if len(text) <= 10:
        raise ValueError("must be an ISO 8601 date and time, e.g. 2024-03-01T14:05:00Z")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an ISO 8601 date and time, e.g. 2024-03-01T14:05:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)  # naive means UTC
    parsed = parsed.astimezone(dt.UTC)
    limits = _limits(info)
    if parsed < limits.earliest:
        raise ValueError(f"is before the first log partition ({limits.earliest.isoformat()})")
    if parsed > dt.datetime.now(dt.UTC) + limits.max_skew:
        raise ValueError("is in the future")
    return parsed


def _message(value: str, info: ValidationInfo) -> str:
    if len(value) > _limits(info).message_max_chars:
        raise ValueError(f"is longer than {_limits(info).message_max_chars} characters")
    return value


def _attributes(value: dict[str, Any] | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    text = orjson.dumps(value)
    if len(text) > _limits(info).attributes_max_bytes:
        raise ValueError(f"is larger than {_limits(info).attributes_max_bytes} bytes as JSON")
    return text.decode()


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class LogRecordIn(BaseModel):
    """One log record of a `POST /ingest/logs` batch."""

    model_config = ConfigDict(extra="forbid")

    timestamp: Annotated[
        str,
        Field(
            max_length=64,
            description="Event time, ISO 8601; without a timezone it is UTC.",
            examples=["2024-03-01T14:05:00Z"],
        ),
        AfterValidator(_timestamp),
    ]
    service: Annotated[Name, Field(description="The emitting service.", examples=["checkout"])]
    severity: Annotated[
        str,
        BeforeValidator(_severity),
        Field(
            description="DEBUG, INFO, WARN (or WARNING), ERROR or CRITICAL; any case.",
            examples=["INFO"],
        ),
    ]
    message: Annotated[str, Field(min_length=1), AfterValidator(_message)]
    attributes: Annotated[
        dict[str, Any] | None,
        AfterValidator(_attributes),
        Field(description="A JSON object of extra fields."),
    ] = None
    event_id: Annotated[
        str | None,
        StringConstraints(min_length=1, max_length=128),
        Field(description="The client's id of the event: records sharing it count once."),
    ] = None


Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=320,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    ),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class UserIn(BaseModel):
    """A user pushed to `POST /users`."""

    model_config = ConfigDict(extra="forbid")

    name: Text
    email: Annotated[Email, Field(examples=["ada@example.org"])]
    role: Annotated[
        str,
        BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
        StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,49}$"),
        Field(
            description="A word: letters, digits, `_` or `-`; stored lower-case.",
            examples=["analyst"],
        ),
    ]
    username: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
        Field(description="Defaults to the email's local part."),
    ] = None
    phone: Text | None = None
    website: Text | None = None
    city: Text | None = None
    company_name: Text | None = None


class IngestAnswer(BaseModel):
    """A stored batch: how many records, and their landing ids in order."""

    count: int
    ids: list[int]
