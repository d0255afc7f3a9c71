"""`records`: every entity of every source in the source documents' unified schema."""

from collections.abc import Sequence
from typing import Any

from dagster import AssetExecutionContext, AssetSelection, asset

from core.contracts.datasets import COUNTRIES, POSTS, RECORDS, SALES_ORDERS, USERS
from core.datasets import DATASETS
from core.sql import Dialect, timestamp_text
from orchestration.defs.audits import Outcome, publication, table_audits, write_audit_publish
from orchestration.defs.automation import follow_whole_tables
from orchestration.defs.metadata import definition_metadata, table_metadata
from orchestration.defs.raw_zone import utc_now
from orchestration.defs.records.declared import RECORD_CONTRACTS, record_queries
from orchestration.resources.storage import WarehouseResource


def source_queries(dialect: Dialect) -> dict[str, str]:
    """For each source, the SELECT that maps its table onto the unified columns
    (source, source_id, name, value, description, created_at, updated_at); `:now` is the
    rebuild's time."""
    now = dialect.timestamp(":now")
    return {
        "users": (
            # A pushed user's id is its landing id, which may equal an API user's.
            "SELECT 'users', CASE WHEN source = 'push' THEN 'push-' || CAST(id AS TEXT) "
            "ELSE CAST(id AS TEXT) END, name, email, "
            "COALESCE(company_name, '') || ', ' || COALESCE(city, ''), fetched_at, "
            f"{now} FROM users"
        ),
        "posts": (
            "SELECT 'posts', CAST(id AS TEXT), title, 'user ' || CAST(user_id AS TEXT), body, "
            f"fetched_at, {now} FROM posts"
        ),
        "countries": (
            "SELECT 'countries', code, name, currency, "
            "continent_name || ', capital ' || COALESCE(capital, 'none'), fetched_at, "
            f"{now} FROM countries"
        ),
        "sales": (
            f"SELECT 'sales', order_id, product, {dialect.decimal_text('quantity * price', 2)}, "
            "customer_id || ' bought ' || CAST(quantity AS TEXT) || ' on ' || "
            f"CAST(order_date AS TEXT), {dialect.date_to_timestamp('order_date')}, {now} "
            "FROM sales_orders"
        ),
        **record_queries(dialect, now),
    }


RECORDS_AUDITS = table_audits(RECORDS)
# The partitioned tables `records` reads whole: the daily orders and the declared partitioned
# datasets.
PARTITIONED_SOURCES = [
    "sales_orders",
    *(d.name for d in DATASETS if d.contract.partition_column is not None),
]


@asset(
    group_name="unified",
    kinds={"sql"},
    deps=["users", "posts", "countries", "sales_orders", *(c.name for c in RECORD_CONTRACTS)],
    automation_condition=follow_whole_tables(AssetSelection.assets(*PARTITIONED_SOURCES)),
    pool="warehouse",
    metadata=definition_metadata(RECORDS),
    check_specs=[a.spec("records", None) for a in RECORDS_AUDITS],
)
def records(context: AssetExecutionContext, warehouse: WarehouseResource):
    """Users (from the REST API, and pushed ones as `push-<id>`), posts, countries, sales
    orders and every declared dataset with a `records` mapping (`core/datasets/`: todos,
    comments) in one searchable schema: source, source_id, name, value, description, created_at,
    updated_at, unique on (source, source_id). Rebuilt inside the warehouse (INSERT ...
    SELECT), one transaction for all sources, published only if its checks pass on it."""
    wh = warehouse.get()
    for upstream in (USERS, POSTS, COUNTRIES, SALES_ORDERS, *RECORD_CONTRACTS):
        wh.ensure_table(upstream)
    now = timestamp_text(utc_now())

    def rebuild(conn: Any) -> dict[str, int]:
        return {
            source: wh.replace_from_query(
                RECORDS,
                select,
                {"now": now},
                where={"source": source},
                slice_name=f"source={source}",
                conn=conn,
            )
            for source, select in source_queries(wh.dialect).items()
        }

    outcome = write_audit_publish(wh, RECORDS, "", rebuild, RECORDS_AUDITS)

    def metadata(published: Sequence[Outcome]) -> dict[str, Any]:
        counts = published[0].facts or {}
        return table_metadata(RECORDS, wh.read(RECORDS, limit=5), rows=sum(counts.values())) | {
            f"rows_{source}": n for source, n in counts.items()
        }

    yield from publication(context, "records", [outcome], metadata)
