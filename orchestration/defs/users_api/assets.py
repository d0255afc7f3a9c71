"""Users from the REST API: the raw snapshot in the lake, the table in the warehouse.

`users` also holds the users pushed to `POST /users` (`source = 'push'`), merged from
`landing_users` on every run. Both sources number their users from 1: `uid` (`3`, `push-3`) is
unique across them, as `records` names them.
"""

from collections.abc import Sequence
from typing import Any

from dagster import AssetExecutionContext, MaterializeResult, asset

from core.contracts.datasets import LANDING_USERS, USERS
from core.contracts.schema import COERCE
from core.datasets import REST_GROUP
from core.warehouse import Warehouse
from orchestration.defs.audits import Outcome, publication, table_audits, write_audit_publish
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.freshness import DAILY_SNAPSHOT
from orchestration.defs.metadata import definition_metadata, table_metadata
from orchestration.defs.raw_zone import load_records, read_raw_json
from orchestration.defs.snapshots.assets import fetch_rest
from orchestration.resources.sources import RestApiResource
from orchestration.resources.storage import LakeResource, WarehouseResource


@asset(group_name=REST_GROUP, kinds={"rest", "json"})
def raw_users(rest_api: RestApiResource, lake: LakeResource) -> MaterializeResult:
    """Every user of the REST API (`/users`, paged with `_start`/`_limit`), kept as received in
    the lake's raw zone (`raw/rest/users.json`)."""
    return fetch_rest(rest_api, lake, "/users", "users")


# A user's `uid` from its (source, id), in SQL; `records` names users the same way.
UID_SQL = "CASE WHEN source = 'push' THEN 'push-' || CAST(id AS TEXT) ELSE CAST(id AS TEXT) END"


def api_uid(user_id: Any) -> str | None:
    """The `uid` of a REST API user: its id as the `id` column will hold it (None when it is
    not an id: the record is then rejected for its `id`)."""
    try:
        return str(COERCE["int"](user_id))
    except (ValueError, TypeError, OverflowError):
        return None


def flatten_user(user: dict[str, Any]) -> dict[str, Any]:
    """A JSONPlaceholder user with its address and company flattened into columns."""
    address = user.get("address") or {}
    geo = address.get("geo") or {}
    company = user.get("company") or {}
    email = user.get("email")
    return {
        "id": user.get("id"),
        "uid": api_uid(user.get("id")),
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


# A pushed user whose email a REST API user already holds stays in `landing_users`, unmerged.
SHADOWED = "EXISTS (SELECT 1 FROM users api WHERE api.source = 'api' AND api.email = pushed.email)"


def pushed_users_select() -> str:
    """`landing_users` as `users` rows (`source = 'push'`, id = landing id, uid =
    `push-<id>`, fetched_at = received_at), without the shadowed ones; columns the push API
    lacks are NULL."""
    mapped = {c: f"pushed.{c}" for c in LANDING_USERS.column_names if c in USERS.column_names}
    mapped |= {
        "uid": "'push-' || CAST(pushed.id AS TEXT)",
        "source": "'push'",
        "fetched_at": "pushed.received_at",
    }
    select = ", ".join(mapped.get(c, "NULL") for c in USERS.column_names)
    return f"SELECT {select} FROM landing_users pushed WHERE NOT {SHADOWED}"


def merge_pushed_users(wh: Warehouse, conn: Any) -> tuple[int, int]:
    """Replace the `source = 'push'` rows of `users` from `landing_users`, inside the caller's
    transaction and after the API rows are in place. Returns (merged, shadowed)."""
    merged = wh.replace_from_query(
        USERS, pushed_users_select(), where={"source": "push"}, slice_name="source=push", conn=conn
    )
    (shadowed,) = wh.execute(
        conn, f"SELECT COUNT(*) FROM landing_users pushed WHERE {SHADOWED}"
    ).fetchone()
    return merged, int(shadowed)


def add_uid_column(wh: Warehouse) -> None:
    """A `users` table written before `uid` existed gets the column, filled from each row's
    (source, id)."""
    with wh.transaction() as conn:
        columns = wh.columns(USERS.name, conn)
        if columns and "uid" not in columns:
            conn.execute(f"ALTER TABLE {USERS.name} ADD COLUMN uid TEXT")
            conn.execute(f"UPDATE {USERS.name} SET uid = {UID_SQL}")


@asset(
    group_name=REST_GROUP,
    kinds={"python"},
    deps=[raw_users, "landing_users"],
    automation_condition=FOLLOW_UPSTREAM,
    # The sensor's push merges and the daily snapshot may overlap: one writer at a time.
    pool="warehouse",
    metadata=definition_metadata(USERS),
    freshness_policy=DAILY_SNAPSHOT,
    check_specs=[a.spec("users", None) for a in table_audits(USERS)],
)
def users(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
    """Users, one row each, address and company flattened, email lower-cased and unique: the
    REST API's (`source = 'api'`) and those pushed to `POST /users` (`source = 'push'`).

    API users are upserted by (source, id). A record that breaks the contract, or repeats an
    email, goes to `api_rejects` (scope `users`) with its reason. Pushed users then replace
    the `push` rows, from `landing_users` inside the warehouse, id = landing id and uid =
    `push-<id>` (an API user's uid is its id); one whose email an API user holds stays in
    `landing_users` only, counted as `push_shadowed`. All of it is one transaction. Without an
    API snapshot in the lake yet, only the pushed users are merged (and a warning says so). A
    `users` table from before `uid` gets the column first.
    """
    wh, store = warehouse.get(), lake.get()
    add_uid_column(wh)
    for contract in (USERS, LANDING_USERS):
        wh.ensure_table(contract)

    def write(conn: Any) -> dict[str, Any]:
        table, rejected = USERS.empty(), 0
        # The pushed rows go first, so that an API user may take an email a pushed one held.
        wh.delete_rows(USERS.name, {"source": "push"}, conn=conn)
        if store.exists("raw/rest/users.json"):
            raw = read_raw_json(store, "rest/users.json")
            # When the snapshot was taken: a merge of pushed users fetches nothing anew.
            fetched_at = store.modified_at("raw/rest/users.json")
            rows = [flatten_user(record) | {"fetched_at": fetched_at} for record in raw]
            table, rejected = load_records(
                wh, USERS, rows, raw, scope="users", rejected=repeated_emails(rows), conn=conn
            )
        else:
            context.log.warning("no REST API snapshot (raw/rest/users.json) yet: pushed users only")
        pushed, shadowed = merge_pushed_users(wh, conn)
        return {"table": table, "rejected": rejected, "pushed": pushed, "shadowed": shadowed}

    outcome = write_audit_publish(wh, USERS, "", write, table_audits(USERS))
    facts = outcome.facts or {}
    if facts.get("rejected"):
        context.log.warning(f"{facts['rejected']} users record(s) rejected; see api_rejects")
    if facts.get("shadowed"):
        context.log.warning(
            f"{facts['shadowed']} pushed user(s) not merged: an API user holds their email "
            "(they stay in landing_users)"
        )

    def metadata(published: Sequence[Outcome]) -> dict[str, Any]:
        f = published[0].facts or {}
        api_rows = f["table"].num_rows
        return table_metadata(USERS, f["table"], rows=api_rows + f["pushed"]) | {
            "rejected": f["rejected"],
            "api_rows": api_rows,
            "push_rows": f["pushed"],
            "push_shadowed": f["shadowed"],
        }

    yield from publication(context, "users", [outcome], metadata)
