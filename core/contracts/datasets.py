"""The contract of every warehouse dataset (DESIGN §3)."""

from __future__ import annotations

import datetime as dt
import importlib

from core.contracts.schema import Column, Contract

FETCHED_AT = Column(
    "fetched_at", "timestamp", False, "When the snapshot was taken from the source."
)

USERS = Contract(
    name="users",
    description=(
        "Users from the REST API and pushed to `POST /users`, one row per user, address and "
        "company flattened."
    ),
    columns=(
        Column(
            "id",
            "int",
            False,
            "The user's id in its `source`: the REST API's id, or a pushed user's landing id. "
            "Each source numbers its own users; `uid` is unique across them.",
        ),
        Column(
            "uid",
            "string",
            False,
            "Unique across sources, as `records.source_id` names the user: the REST API's id "
            "(`3`), or `push-<id>` for a pushed user (`push-3`).",
        ),
        Column("name", "string", False),
        Column("username", "string", False),
        Column("email", "string", False, "Lower-cased; unique."),
        Column("phone", "string"),
        Column("website", "string"),
        Column("street", "string"),
        Column("suite", "string"),
        Column("city", "string"),
        Column("zipcode", "string"),
        Column("lat", "float"),
        Column("lng", "float"),
        Column("company_name", "string"),
        Column("company_catch_phrase", "string"),
        Column("company_bs", "string"),
        Column("role", "string", description="Pushed users: their role (e.g. `admin`)."),
        Column(
            "source",
            "string",
            False,
            "Where the row came from: `api` (the REST API) or `push` (`POST /users`).",
        ),
        FETCHED_AT,
    ),
    # A pushed user's id is its landing id: unique within its source, not across sources;
    # `uid` is unique across them (it is made from the key, so no index of its own).
    key=("source", "id"),
    unique=(("email",),),
    search=("name", "username", "email", "company_name"),
)

SALES_ORDERS = Contract(
    name="sales_orders",
    description="Clean sales orders, one row per order, partitioned by order day.",
    columns=(
        Column("order_id", "string", False),
        Column("customer_id", "string", False),
        Column("product", "string", False),
        Column("quantity", "int", False, "Units; a missing quantity is 1."),
        Column("price", "float", False, "Unit price."),
        Column("order_date", "date", False, "Partition key: the day of the drop."),
    ),
    key=("order_id",),
    partition_column="order_date",
    # No index on product (20 values, ~5 % of the rows each): with one, SQLite answers a
    # product-filtered page by sorting every row of that product, where walking the key finds a
    # page's matches in a few thousand rows (docs/decisions/serving-read-path.md).
    indexes=(("customer_id",),),
)

SALES_REJECTS = Contract(
    name="sales_rejects",
    description="Rows of the sales drops that could not be cleaned, with the reason.",
    columns=(
        Column("partition_date", "date", False, "The day of the drop the row came from."),
        Column("line", "int", False, "Physical line number in the file (the header is line 1)."),
        Column("reason", "string", False),
        Column("raw", "string", False, "The row as received."),
    ),
    key=("partition_date", "line"),
    partition_column="partition_date",
)

SALES_DAILY = Contract(
    name="sales_daily",
    description="Orders, units and revenue per day.",
    columns=(
        Column("day", "date", False),
        Column("orders", "int", False),
        Column("units", "int", False),
        Column("revenue", "float", False, "Sum of quantity * price."),
    ),
    key=("day",),
    partition_column="day",
)

RECORDS = Contract(
    name="records",
    description="Every entity of every source in one searchable schema.",
    columns=(
        Column(
            "source",
            "string",
            False,
            "users, posts, countries, sales, or a declared dataset with a records mapping "
            "(todos, comments).",
        ),
        Column("source_id", "string", False, "The entity's key in its source."),
        Column("name", "string", False),
        Column("value", "string"),
        Column("description", "string"),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp", False),
    ),
    key=("source", "source_id"),
    search=("name", "value", "description"),
)

API_REJECTS = Contract(
    name="api_rejects",
    description=(
        "Records of the REST and GraphQL sources, and rows of the declared daily CSV feeds, "
        "that broke their contract."
    ),
    columns=(
        Column(
            "scope",
            "string",
            False,
            "The dataset and partition: `users`, `countries/EU`, `<feed>/<day>`.",
        ),
        Column(
            "position",
            "int",
            False,
            "The record's position in the source's answer (a CSV row's, among its drop's rows; "
            "the reason names its line).",
        ),
        Column("reason", "string", False),
        Column("raw", "json", False, "The record as received."),
    ),
    key=("scope", "position"),
    partition_column="scope",
)

PARTITION_LEDGER = Contract(
    name="partition_ledger",
    description="The last write of every partition of every table: the platform's checkpoints.",
    columns=(
        Column("asset", "string", False, "The table written."),
        Column("partition", "string", False, "The partition key; '' for a whole-table write."),
        Column("rows", "int", False, "Rows the write put in the partition."),
        Column("written_at", "timestamp", False),
        Column("run_id", "string", description="The Dagster run that wrote it, if any."),
    ),
    key=("asset", "partition"),
    indexes=(("written_at",),),
)

QUARANTINE = Contract(
    name="quarantine",
    description=(
        "Rows of a new version of a partition that failed a blocking check and were not "
        "published: kept for inspection until the next good run of that partition."
    ),
    columns=(
        Column("asset", "string", False, "The table the version was written for."),
        Column("partition", "string", False, "Its partition key; '' for a whole-table write."),
        Column("check_name", "string", False, "The blocking check the rows failed."),
        Column("row_number", "int", False, "The offending row's place in the check's listing."),
        Column("row", "json", False, "The offending row, as the new version held it."),
        Column("run_id", "string", description="The Dagster run that wrote the version."),
        Column("quarantined_at", "timestamp", False),
    ),
    key=("asset", "partition", "check_name", "row_number"),
)

PIPELINE_RUNS = Contract(
    name="pipeline_runs",
    description="Every finished Dagster run: what ran, when, how much, and what failed.",
    columns=(
        Column("run_id", "string", False),
        Column("job", "string", False),
        Column("partitions", "string", description="A key, or `first...last` for a range."),
        Column("status", "string", False, "SUCCESS, FAILURE or CANCELED."),
        Column("started_at", "timestamp"),
        Column("ended_at", "timestamp"),
        Column("duration_s", "float"),
        Column("records_processed", "int", False, "Rows the run's materializations wrote."),
        Column("error", "string", description="The first failure's message."),
    ),
    key=("run_id",),
    indexes=(("ended_at",), ("status",)),
)

# -- push ingestion: landing tables written by the serving API, and what the assets make of them

LOG_SEVERITIES = ("DEBUG", "INFO", "WARN", "ERROR", "CRITICAL")
LOG_HOUR_FORMAT = "%Y-%m-%d-%H:%M"


def log_hour(timestamp: dt.datetime) -> str:
    """The hourly partition key of an event time (UTC), as Dagster spells it: `2024-03-01-14:00`."""
    t = timestamp if timestamp.tzinfo is dt.UTC else timestamp.astimezone(dt.UTC)
    # Formatted by hand: strftime costs several times more, once per pushed record.
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}-{t.hour:02d}:00"


RECEIVED_AT = Column("received_at", "timestamp", False, "When the API stored the record.")

LANDING_LOGS = Contract(
    name="landing_logs",
    description=(
        "Log records as `POST /ingest/logs` accepted them, append-only. `id` grows with every "
        "commit, so it is the high-water mark the landing sensor follows."
    ),
    columns=(
        Column("id", "int", False, "Landing id: monotonic in commit order."),
        RECEIVED_AT,
        Column("event_id", "string", description="The client's event id, if it sent one."),
        Column("timestamp", "timestamp", False, "Event time, UTC."),
        Column("hour", "string", False, "The event's hourly partition, e.g. `2024-03-01-14:00`."),
        Column("service", "string", False),
        Column("severity", "string", False, "DEBUG, INFO, WARN, ERROR or CRITICAL."),
        Column("message", "string", False),
        # Text as received: a JSONB parse per row would cost the write path a fifth of its speed;
        # `logs` holds it as JSON.
        Column("attributes", "string", description="The record's `attributes` object, as JSON."),
    ),
    key=("id",),
    indexes=(("hour",),),
)

LANDING_USERS = Contract(
    name="landing_users",
    description="Users as `POST /users` accepted them, append-only; emails are unique.",
    columns=(
        Column("id", "int", False, "Landing id: monotonic in commit order."),
        RECEIVED_AT,
        Column("name", "string", False),
        Column("email", "string", False, "Lower-cased."),
        Column("role", "string", False),
        Column("username", "string", False, "As sent, or the email's local part."),
        Column("phone", "string"),
        Column("website", "string"),
        Column("city", "string"),
        Column("company_name", "string"),
    ),
    key=("id",),
    unique=(("email",),),
)

LOGS = Contract(
    name="logs",
    description=(
        "Pushed log records, partitioned by the hour of their event time, one row per event id."
    ),
    columns=(
        Column("event_id", "string", False, "The client's event id, or `landing-<id>`."),
        Column("hour", "string", False, "Partition key: the event hour, e.g. `2024-03-01-14:00`."),
        Column("timestamp", "timestamp", False, "Event time, UTC."),
        Column("service", "string", False),
        Column("severity", "string", False, "DEBUG, INFO, WARN, ERROR or CRITICAL."),
        Column("message", "string", False),
        Column("attributes", "json"),
        Column("landing_id", "int", False, "The first landing row of this event."),
        RECEIVED_AT,
    ),
    key=("event_id",),
    partition_column="hour",
    search=("message",),
    # event_id: the key check looks across hours (a client reusing an id in another hour).
    indexes=(("timestamp",), ("service", "timestamp"), ("event_id",)),
)

LOG_LEVELS_HOURLY = Contract(
    name="log_levels_hourly",
    description="Log records per hour, service and severity.",
    columns=(
        Column("hour", "string", False, "Partition key, e.g. `2024-03-01-14:00`."),
        Column("service", "string", False),
        Column("severity", "string", False),
        Column("count", "int", False),
    ),
    key=("hour", "service", "severity"),
    partition_column="hour",
)

# The write path's replay table for `Idempotency-Key`; private to the API, so not in CONTRACTS
# (the API serves every table listed there).
INGEST_REQUESTS = Contract(
    name="ingest_requests",
    description="The first answer to each idempotent write request, replayed on a retry.",
    columns=(
        Column("key", "string", False, "Digest of the API key and the Idempotency-Key header."),
        Column("request_hash", "string", False, "Digest of the request body."),
        Column("status", "int", False),
        Column("body", "string", False, "The JSON answer."),
        Column("created_at", "timestamp", False),
    ),
    key=("key",),
)

CONTRACTS: dict[str, Contract] = {
    c.name: c
    for c in (
        USERS,
        SALES_ORDERS,
        SALES_REJECTS,
        SALES_DAILY,
        RECORDS,
        API_REJECTS,
        PARTITION_LEDGER,
        QUARANTINE,
        PIPELINE_RUNS,
        LANDING_LOGS,
        LANDING_USERS,
        LOGS,
        LOG_LEVELS_HOURLY,
    )
}


def __getattr__(name: str) -> Contract:
    """`POSTS` and `COUNTRIES`: contracts declared with their datasets in core/datasets/ (read
    when asked, since that package imports this module: also while it is being imported)."""
    if name in ("POSTS", "COUNTRIES"):
        module = importlib.import_module(f"core.datasets.{name.lower()}")
        return getattr(module, name).contract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def contract_for(name: str) -> Contract:
    """The contract of dataset `name`; `KeyError` names the known datasets."""
    try:
        return CONTRACTS[name]
    except KeyError:
        raise KeyError(f"no contract {name!r}; known: {sorted(CONTRACTS)}") from None


# The datasets declared in core/datasets/ add their contracts here (that package reads this
# module, so it registers them itself when imported).
import core.datasets  # noqa: E402, F401
