"""Each declared REST snapshot as two assets: `raw_<name>`, the collection as received in the
lake's raw zone, and `<name>`, its table in the warehouse, published only when its checks pass
on the new version."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from core.datasets import SNAPSHOTS, RestSnapshot
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.freshness import DAILY_SNAPSHOT
from orchestration.defs.metadata import definition_metadata
from orchestration.defs.users_api.assets import _load_snapshot, _snapshot, snapshot_audits
from orchestration.resources.sources import RestApiResource
from orchestration.resources.storage import LakeResource, WarehouseResource


def raw_path(snapshot: RestSnapshot) -> str:
    """Where the raw zone keeps the collection, below `raw/`."""
    return f"rest/{snapshot.name}.json"


def raw_asset(snapshot: RestSnapshot) -> dg.AssetsDefinition:
    """`raw_<name>`: every record of the collection, paged, kept as received."""

    @dg.asset(
        name=f"raw_{snapshot.name}",
        group_name=snapshot.group,
        kinds={"rest", "json"},
        description=(
            f"Every record of the REST API's `{snapshot.path}` (paged with `_start`/`_limit`), "
            f"kept as received in the lake's raw zone (`raw/{raw_path(snapshot)}`)."
        ),
    )
    def _raw(rest_api: RestApiResource, lake: LakeResource) -> dg.MaterializeResult:
        return _snapshot(rest_api, lake, snapshot.path, snapshot.name)

    return _raw


def table_asset(snapshot: RestSnapshot, raw: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """`<name>`: the raw records flattened by the declaration's fields into the contract's
    table, with the snapshot's key-unique and not-null checks run on each new version."""
    contract = snapshot.contract

    @dg.asset(
        name=snapshot.name,
        group_name=snapshot.group,
        kinds={"python"},
        deps=[raw],
        automation_condition=FOLLOW_UPSTREAM,
        metadata=definition_metadata(contract),
        freshness_policy=DAILY_SNAPSHOT,
        check_specs=[a.spec(snapshot.name, None) for a in snapshot_audits(contract)],
        description=(
            f"{contract.description} Upserted by `{', '.join(contract.key)}` from "
            f"`raw_{snapshot.name}`; records that break the contract go to `api_rejects` "
            f"(scope `{snapshot.name}`)."
        ),
    )
    def _table(
        context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        yield from _load_snapshot(context, lake, warehouse, contract, snapshot.flatten)

    return _table


def snapshot_assets(snapshot: RestSnapshot) -> list[dg.AssetsDefinition]:
    """The raw asset and the table of one declaration."""
    raw = raw_asset(snapshot)
    return [raw, table_asset(snapshot, raw)]


declared_snapshot_assets = [a for s in SNAPSHOTS for a in snapshot_assets(s)]
