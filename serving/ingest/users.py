"""One user by email, as `GET /users/{email}` serves it: the `users` table first, then the users
pushed since its last materialization (read your writes)."""

from __future__ import annotations

from typing import Any

from core.contracts.datasets import LANDING_USERS, USERS
from serving.catalog import Snapshot
from serving.deps import Context
from serving.query import Select, parse_filter, parse_sort


def pushed_user(landing: dict[str, Any]) -> dict[str, Any]:
    """A `landing_users` row in the `users` shape, as the next materialization will merge it."""
    row: dict[str, Any] = dict.fromkeys(USERS.column_names)
    row.update({k: v for k, v in landing.items() if k in row})
    row["uid"], row["source"] = f"push-{landing['id']}", "push"
    row["fetched_at"] = landing["received_at"]
    return row


async def _first(ctx: Context, contract: Any, email: str) -> dict[str, Any] | None:
    db = ctx.db
    select = Select(contract, [parse_filter(contract, "email", email)], [], None)
    select.order = parse_sort(contract, None)
    sql, params = select.rows_sql(db, limit=1)
    rows = await db.fetch(sql, params)
    if not rows:
        return None
    names, converters = contract.column_names, [db.converter(c) for c in contract.columns]
    return {n: (c(v) if c else v) for n, c, v in zip(names, converters, rows[0], strict=True)}


async def find_user(ctx: Context, snap: Snapshot, email: str) -> dict[str, Any] | None:
    """The user with `email` (lower-cased), or None."""
    if USERS.name in snap.tables and (row := await _first(ctx, USERS, email)):
        return row
    if ctx.settings.write_url:
        # Reads come from a replica that may lag: a pushed user is read from the primary.
        landing = await ctx.store.pushed_user(email)
        return pushed_user(landing) if landing else None
    if LANDING_USERS.name not in snap.tables:
        # Created by the first push after the catalog was read: look again.
        snap = await ctx.catalog.refresh()
    if LANDING_USERS.name in snap.tables and (row := await _first(ctx, LANDING_USERS, email)):
        return pushed_user(row)
    return None
