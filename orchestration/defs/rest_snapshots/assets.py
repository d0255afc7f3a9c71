"""Each declared REST snapshot as two assets: `raw_<name>`, the collection as received in the
lake's raw zone, and `<name>`, its table in the warehouse, published only when its checks pass
on the new version."""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from core.contracts import Contract
from core.datasets import SNAPSHOTS, RestSnapshot
from orchestration.defs.audits import (
    Audit,
    Outcome,
    key_unique,
    not_null,
    publication,
    write_audit_publish,
)
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.freshness import DAILY_SNAPSHOT
from orchestration.defs.metadata import definition_metadata, table_metadata
from orchestration.defs.raw_zone import load_records, read_raw_json, utc_now, write_raw_json
from orchestration.resources.sources import RestApiResource
from orchestration.resources.storage import LakeResource, WarehouseResource


def raw_path(snapshot: RestSnapshot) -> str:
    """Where the raw zone keeps the collection, below `raw/`."""
    return f"rest/{snapshot.name}.json"


def snapshot_audits(contract: Contract) -> list[Audit]:
    """The checks a snapshot's new version passes before it is published."""
    return [key_unique(contract), not_null(contract)]


def fetch_snapshot(
    rest_api: RestApiResource, lake: LakeResource, path: str, name: str
) -> dg.MaterializeResult:
    """Every record of the REST collection `path`, paged, written as received to
    `raw/rest/<name>.json`."""
    records = rest_api.fetch_all(path)
    uri = write_raw_json(lake.get(), f"rest/{name}.json", records)
    return dg.MaterializeResult(
        metadata={
            "records": len(records),
            "path": dg.MetadataValue.path(uri),
            "source_url": dg.MetadataValue.url(f"{rest_api.base_url.rstrip('/')}{path}"),
        }
    )


def load_snapshot(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    snapshot: RestSnapshot,
) -> Iterator[Any]:
    """Normalize a raw snapshot into its table, published only if its checks pass on the new
    version; rejects go to `api_rejects`."""
    contract = snapshot.contract
    raw = read_raw_json(lake.get(), raw_path(snapshot))
    fetched_at = utc_now()
    rows = [snapshot.flatten(record) | {"fetched_at": fetched_at} for record in raw]
    wh = warehouse.get()

    def write(conn: Any) -> dict[str, Any]:
        table, rejected = load_records(wh, contract, rows, raw, scope=contract.name, conn=conn)
        return {"table": table, "rejected": rejected}

    outcome = write_audit_publish(wh, contract, "", write, snapshot_audits(contract))
    if outcome.facts and outcome.facts["rejected"]:
        context.log.warning(
            f"{outcome.facts['rejected']} {contract.name} record(s) rejected; see api_rejects"
        )

    def metadata(published: Sequence[Outcome]) -> dict[str, Any]:
        facts = published[0].facts or {}
        return table_metadata(contract, facts["table"]) | {"rejected": facts["rejected"]}

    yield from publication(context, contract.name, [outcome], metadata)


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
        return fetch_snapshot(rest_api, lake, snapshot.path, snapshot.name)

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
        yield from load_snapshot(context, lake, warehouse, snapshot)

    return _table


def snapshot_assets(snapshot: RestSnapshot) -> list[dg.AssetsDefinition]:
    """The raw asset and the table of one declaration."""
    raw = raw_asset(snapshot)
    return [raw, table_asset(snapshot, raw)]


declared_snapshot_assets = [a for s in SNAPSHOTS for a in snapshot_assets(s)]
