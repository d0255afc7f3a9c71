"""Users and posts from the REST API: raw snapshots in the lake, tables in the warehouse."""

from collections.abc import Callable
from typing import Any

from dagster import (
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.contracts import Contract
from orchestration.contracts.datasets import POSTS, USERS
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.freshness import DAILY_SNAPSHOT
from orchestration.defs.metadata import definition_metadata, table_metadata
from orchestration.defs.raw_zone import load_records, read_raw_json, utc_now, write_raw_json
from orchestration.defs.warehouse_kind import WAREHOUSE_KIND
from orchestration.resources.sources import RestApiResource
from orchestration.resources.storage import LakeResource, WarehouseResource

GROUP = "rest_api"


def _snapshot(
    rest_api: RestApiResource, lake: LakeResource, path: str, name: str
) -> MaterializeResult:
    records = rest_api.fetch_all(path)
    uri = write_raw_json(lake.get(), f"rest/{name}.json", records)
    return MaterializeResult(
        metadata={
            "records": len(records),
            "path": MetadataValue.path(uri),
            "source_url": MetadataValue.url(f"{rest_api.base_url.rstrip('/')}{path}"),
        }
    )


@asset(group_name=GROUP, kinds={"rest", "json"})
def raw_users(rest_api: RestApiResource, lake: LakeResource) -> MaterializeResult:
    """Every user of the REST API (`/users`, paged with `_start`/`_limit`), kept as received in
    the lake's raw zone (`raw/rest/users.json`)."""
    return _snapshot(rest_api, lake, "/users", "users")


@asset(group_name=GROUP, kinds={"rest", "json"})
def raw_posts(rest_api: RestApiResource, lake: LakeResource) -> MaterializeResult:
    """Every post of the REST API (`/posts`), kept as received (`raw/rest/posts.json`)."""
    return _snapshot(rest_api, lake, "/posts", "posts")


def flatten_user(user: dict[str, Any]) -> dict[str, Any]:
    """A JSONPlaceholder user with its address and company flattened into columns."""
    address = user.get("address") or {}
    geo = address.get("geo") or {}
    company = user.get("company") or {}
    email = user.get("email")
    return {
        "id": user.get("id"),
        "name": user.get("name"),
        "username": user.get("username"),
        "email": email.strip().lower() if isinstance(email, str) else email,
        "phone": user.get("phone"),
        "website": user.get("website"),
        "street": address.get("street"),
        "suite": address.get("suite"),
        "city": address.get("city"),
        "zipcode": address.get("zipcode"),
        "lat": geo.get("lat"),
        "lng": geo.get("lng"),
        "company_name": company.get("name"),
        "company_catch_phrase": company.get("catchPhrase"),
        "company_bs": company.get("bs"),
        "source": "api",
    }


def flatten_post(post: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": post.get("id"),
        "user_id": post.get("userId"),
        "title": post.get("title"),
        "body": post.get("body"),
    }


def repeated_emails(rows: list[dict[str, Any]]) -> dict[int, str]:
    """Positions of users whose email an earlier user already has, with the reason."""
    first_with: dict[Any, int] = {}
    repeated = {}
    for position, row in enumerate(rows):
        if row["email"] in first_with:
            repeated[position] = (
                f"email: {row['email']!r} repeats record {first_with[row['email']]}"
            )
        first_with.setdefault(row["email"], position)
    return repeated


def _load_snapshot(
    context: AssetExecutionContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    contract: Contract,
    flatten: Callable[[dict[str, Any]], dict[str, Any]],
    refuse: Callable[[list[dict[str, Any]]], dict[int, str]] | None = None,
) -> MaterializeResult:
    """Normalize a raw snapshot into its table; rejects go to `api_rejects`."""
    raw = read_raw_json(lake.get(), f"rest/{contract.name}.json")
    fetched_at = utc_now()
    rows = [flatten(record) | {"fetched_at": fetched_at} for record in raw]
    table, rejected = load_records(
        warehouse.get(),
        contract,
        rows,
        raw,
        scope=contract.name,
        rejected=refuse(rows) if refuse else None,
    )
    if rejected:
        context.log.warning(f"{rejected} {contract.name} record(s) rejected; see api_rejects")
    return MaterializeResult(metadata=table_metadata(contract, table) | {"rejected": rejected})


@asset(
    group_name=GROUP,
    kinds={"python", WAREHOUSE_KIND},
    deps=[raw_users],
    automation_condition=FOLLOW_UPSTREAM,
    metadata=definition_metadata(USERS),
    freshness_policy=DAILY_SNAPSHOT,
)
def users(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """Users, one row each, address and company flattened, email lower-cased and unique.

    Upserted by `id`. A record that breaks the contract, or repeats an email, goes to
    `api_rejects` (scope `users`) with its reason.
    """
    return _load_snapshot(context, lake, warehouse, USERS, flatten_user, repeated_emails)


@asset(
    group_name=GROUP,
    kinds={"python", WAREHOUSE_KIND},
    deps=[raw_posts],
    automation_condition=FOLLOW_UPSTREAM,
    metadata=definition_metadata(POSTS),
    freshness_policy=DAILY_SNAPSHOT,
)
def posts(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """Posts, one row each, linked to their author by `user_id`. Upserted by `id`; records that
    break the contract go to `api_rejects` (scope `posts`)."""
    return _load_snapshot(context, lake, warehouse, POSTS, flatten_post)
