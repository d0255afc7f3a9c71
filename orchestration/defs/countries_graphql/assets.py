"""Countries from the GraphQL API, one partition per continent."""

from collections.abc import Callable, Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from core.contracts.datasets import COUNTRIES
from orchestration.defs.audits import (
    Outcome,
    key_unique,
    not_null,
    publication,
    write_audit_publish,
)
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.countries_graphql.partitions import continent_partitions
from orchestration.defs.freshness import DAILY_SNAPSHOT
from orchestration.defs.metadata import definition_metadata, table_metadata
from orchestration.defs.raw_zone import load_records, read_raw_json, utc_now, write_raw_json
from orchestration.resources.sources import GraphQLResource
from orchestration.resources.storage import LakeResource, WarehouseResource

GROUP = "graphql_api"

COUNTRIES_QUERY = """
query Countries($continent: String!) {
  countries(filter: {continent: {eq: $continent}}) {
    code name native capital currency emoji
    continent { code name }
    languages { code name }
  }
}
"""


def raw_countries_path(continent: str) -> str:
    return f"graphql/countries/continent_code={continent}/countries.json"


@asset(
    group_name=GROUP,
    kinds={"graphql", "json"},
    partitions_def=continent_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_countries(
    context: AssetExecutionContext, graphql_api: GraphQLResource, lake: LakeResource
) -> MaterializeResult:
    """The countries of one continent from the GraphQL API
    (`countries(filter: {continent: {eq: ...}})`), kept as received in the lake's raw zone."""
    counts = {}
    for continent in context.partition_keys:
        data = graphql_api.query(COUNTRIES_QUERY, {"continent": continent})
        write_raw_json(lake.get(), raw_countries_path(continent), data["countries"])
        counts[continent] = len(data["countries"])
    return MaterializeResult(
        metadata={
            "records": sum(counts.values()),
            "source_url": MetadataValue.url(graphql_api.base_url),
        }
    )


def flatten_country(country: dict[str, Any]) -> dict[str, Any]:
    continent = country.get("continent") or {}
    return {
        "code": country.get("code"),
        "name": country.get("name"),
        "native": country.get("native"),
        "capital": country.get("capital"),
        "currency": country.get("currency"),
        "emoji": country.get("emoji"),
        "continent_code": continent.get("code"),
        "continent_name": continent.get("name"),
        "languages": country.get("languages"),
    }


COUNTRIES_AUDITS = [key_unique(COUNTRIES), not_null(COUNTRIES)]


@asset(
    group_name=GROUP,
    kinds={"python"},
    partitions_def=continent_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[raw_countries],
    automation_condition=FOLLOW_UPSTREAM,
    metadata=definition_metadata(COUNTRIES),
    freshness_policy=DAILY_SNAPSHOT,
    check_specs=[a.spec("countries", continent_partitions) for a in COUNTRIES_AUDITS],
)
def countries(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
    """Countries with their continent and languages, one partition per continent; a write
    replaces exactly its continent's rows, once its checks pass on the new version (a country
    code must not appear under two continents). Records that break the contract, or that belong
    to another continent, go to `api_rejects` (scope `countries/<continent>`)."""
    wh = warehouse.get()

    def write(continent: str) -> Callable[[Any], dict[str, Any]]:
        raw = read_raw_json(lake.get(), raw_countries_path(continent))
        fetched_at = utc_now()
        rows = [flatten_country(c) | {"fetched_at": fetched_at} for c in raw]
        foreign = {
            i: f"continent_code: {r['continent_code']!r} is not {continent}"
            for i, r in enumerate(rows)
            if r["continent_code"] != continent
        }

        def into(conn: Any) -> dict[str, Any]:
            table, rejected = load_records(
                wh,
                COUNTRIES,
                rows,
                raw,
                scope=f"countries/{continent}",
                partitions=[continent],
                rejected=foreign,
                conn=conn,
            )
            return {"table": table, "rejected": rejected}

        return into

    outcomes = [
        write_audit_publish(wh, COUNTRIES, continent, write(continent), COUNTRIES_AUDITS)
        for continent in context.partition_keys
    ]
    rejected = sum(o.facts["rejected"] for o in outcomes if o.facts)
    if rejected:
        context.log.warning(f"{rejected} country record(s) rejected; see api_rejects")

    def metadata(published: Sequence[Outcome]) -> dict[str, Any]:
        tables = [o.facts["table"] for o in published if o.facts]
        return table_metadata(COUNTRIES, tables[-1], rows=sum(t.num_rows for t in tables)) | {
            "rejected": sum(o.facts["rejected"] for o in published if o.facts)
        }

    yield from publication(context, "countries", outcomes, metadata)
