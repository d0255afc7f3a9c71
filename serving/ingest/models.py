"""What the write endpoints accept, checked at the gate.

A log batch is checked in two passes. pydantic-core checks the structure in one pass over the
raw JSON (types, required fields, strict ISO 8601 timestamps, severity spellings, no unknown
fields, severities upper-cased); then the limits that come from the settings (message length,
attributes size, the accepted time window) are checked on the batch as a whole, and record by
record only when the batch may break one. Both passes report failures in one shape: the
record's index, the field and the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, NotRequired

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from typing_extensions import TypedDict

from core.contracts.datasets import LOG_SEVERITIES
from core.sql import timestamp_text

SEVERITY_ALIASES = {"WARNING": "WARN"}
SEVERITY_PATTERN = "(?i)^(" + "|".join([*LOG_SEVERITIES, *SEVERITY_ALIASES]) + ")$"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class LogRecordIn(TypedDict):
    """One log record of a `POST /ingest/logs` batch."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    timestamp: Annotated[
        dt.datetime,
        # Strict on JSON input: an ISO 8601 date and time as a string, nothing else.
        Strict(),
        Field(
            description="Event time, ISO 8601; without a timezone it is UTC.",
            examples=["2024-03-01T14:05:00Z"],
        ),
    ]
    service: Annotated[Name, Field(description="The emitting service.", examples=["checkout"])]
    severity: Annotated[
        str,
        # Matched in any case, then upper-cased: the pattern admits ASCII letters only.
        StringConstraints(pattern=SEVERITY_PATTERN, to_upper=True),
        Field(
            description="DEBUG, INFO, WARN (or WARNING), ERROR or CRITICAL; any case.",
            examples=["INFO"],
        ),
    ]
    message: Annotated[str, StringConstraints(min_length=1)]
    attributes: NotRequired[
        Annotated[dict[str, Any] | None, Field(description="A JSON object of extra fields.")]
    ]
    event_id: NotRequired[
        Annotated[
            str | None,
            StringConstraints(min_length=1, max_length=128),
            Field(description="The client's id of the event: records sharing it count once."),
        ]
    ]


LOG_BATCH = TypeAdapter(list[LogRecordIn])


@dataclass(frozen=True)
class LogLimits:
    """The settings-dependent limits a log record is checked against."""

    message_max_chars: int
    attributes_max_bytes: int
    earliest: dt.datetime
    latest: dt.datetime  # the request's arrival plus the allowed clock skew


# What a field's pattern means, said instead of the regular expression.
PATTERN_HINTS = {
    "severity": f"must be one of {', '.join(LOG_SEVERITIES)} (or WARNING), in any case",
    "email": "must be an email address",
    "role": "must be one word of letters, digits, `_` or `-`, starting with a letter",
}


def failures_of(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as `{index, field, reason}`."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = err.get("loc", ())
        index = loc[0] if loc and isinstance(loc[0], int) else None
        field = ".".join(str(p) for p in (loc[1:] if index is not None else loc)) or None
        reason = err.get("msg", "invalid")
        kind = err.get("type", "")
        if kind == "string_pattern_mismatch" and field in PATTERN_HINTS:
            reason = PATTERN_HINTS[field]
        elif kind.startswith("datetime"):
            reason = f"must be an ISO 8601 date and time, e.g. 2024-03-01T14:05:00Z ({reason})"
        out.append({"index": index, "field": field, "reason": reason})
    return out


# PostgreSQL's text and jsonb hold no NUL character (SQLite would): refused on both engines.
NUL_REASON = "holds a NUL character (U+0000), which the warehouse cannot store"
TEXT_FIELDS = ("service", "message", "event_id")
# `\u0000` in JSON text, unless its backslash is itself escaped (`\\u0000` is the text \u0000).
NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def limit_failures(
    records: list[dict[str, Any]], body: bytes, limits: LogLimits
) -> list[dict[str, Any]]:
    """The records that break a limit of the settings (message length, attributes size, the
    time window) or hold a NUL character, as `{index, field, reason}`.

    A batch is first checked as a whole with C-level aggregates (the oldest and newest
    timestamp, the longest message, the largest attributes; no `\\u0000` escape in the body,
    the only way JSON text can carry a NUL). Only a batch that may fail is walked record by
    record, to say which records fail and why: this is the write path's per-record cost.
    """
    if _within_limits(records, body, limits):
        return []
    return _record_failures(records, limits)


def _within_limits(records: list[dict[str, Any]], body: bytes, limits: LogLimits) -> bool:
    if b"\\u0000" in body and NUL_ESCAPE.search(body):
        return False
    try:
        stamps = [r["timestamp"] for r in records]
        # Naive and aware timestamps do not compare (TypeError): the walk settles those.
        if min(stamps) < limits.earliest or max(stamps) > limits.latest:
            return False
        attributes = [a for r in records if (a := r.get("attributes")) is not None]
        largest = max(map(len, map(orjson.dumps, attributes)), default=0)
    except (TypeError, OverflowError):  # naive timestamps; an integer beyond 64 bits
        return False
    longest = max(len(r["message"]) for r in records)
    return longest <= limits.message_max_chars and largest <= limits.attributes_max_bytes


def _record_failures(records: list[dict[str, Any]], limits: LogLimits) -> list[dict[str, Any]]:
    failures: list[dict[str, Any]] = []
    max_chars, max_bytes = limits.message_max_chars, limits.attributes_max_bytes
    for i, r in enumerate(records):
        ts = r["timestamp"]
        try:
            ts = ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)
        except OverflowError:  # year 1 or 9999 with an offset that leaves the calendar
            failures.append({"index": i, "field": "timestamp", "reason": "is out of range"})
        else:
            if ts < limits.earliest:
                earliest = limits.earliest.isoformat().replace("+00:00", "Z")
                reason = f"is before the first log partition: the earliest valid time is {earliest}"
                failures.append({"index": i, "field": "timestamp", "reason": reason})
            elif ts > limits.latest:
                failures.append({"index": i, "field": "timestamp", "reason": "is in the future"})
        if len(r["message"]) > max_chars:
            failures.append(
                {"index": i, "field": "message", "reason": f"is longer than {max_chars} characters"}
            )
        for field in TEXT_FIELDS:
            value = r.get(field)
            if value is not None and "\x00" in value:
                failures.append({"index": i, "field": field, "reason": NUL_REASON})
        attributes = r.get("attributes")
        if attributes is None:
            continue
        try:
            text = orjson.dumps(attributes)
        except TypeError as exc:  # an integer beyond 64 bits
            failures.append(
                {"index": i, "field": "attributes", "reason": f"is not storable JSON: {exc}"}
            )
            continue
        if len(text) > max_bytes:
            failures.append(
                {
                    "index": i,
                    "field": "attributes",
                    "reason": f"is larger than {max_bytes} bytes as JSON",
                }
            )
        if b"\\u0000" in text and NUL_ESCAPE.search(text):
            failures.append({"index": i, "field": "attributes", "reason": NUL_REASON})
    return failures


def landing_rows(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The landing rows of records that passed both checks: event_id, timestamp, hour,
    service, severity, message, attributes, each value text or None."""
    rows = []
    for r in records:
        ts = r["timestamp"]
        text = timestamp_text(ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts)
        attributes = r.get("attributes")
        rows.append(
            (
                r.get("event_id"),
                text,
                f"{text[:10]}-{text[11:13]}:00",  # the hour's partition key, as `log_hour` has it
                r["service"],
                SEVERITY_ALIASES.get(r["severity"], r["severity"]),
                r["message"],
                None if attributes is None else orjson.dumps(attributes).decode(),
            )
        )
    return rows


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

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(NUL_REASON)
        return value


class IngestAnswer(BaseModel):
    """A stored batch: how many records, and their landing ids in order."""

    count: int
    ids: list[int]
