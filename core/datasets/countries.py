"""`countries`: the GraphQL source's countries (the public countries API's schema), one
partition per continent.

Its rows in `records` are mapped with the hand-written sources (`records/assets.py`): their
`description` is composed text (`<continent>, capital <capital>`), not a column."""

from core.contracts.datasets import FETCHED_AT
from core.contracts.schema import Column, Contract
from core.datasets import GraphQLSnapshot

CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")

COUNTRIES = GraphQLSnapshot(
    contract=Contract(
        name="countries",
        description="Countries from the GraphQL API, partitioned by continent.",
        columns=(
            Column("code", "string", False, "ISO 3166-1 alpha-2 code."),
            Column("name", "string", False),
            Column("native", "string"),
            Column("capital", "string"),
            Column("currency", "string", description="ISO 4217 code(s), comma-separated."),
            Column("emoji", "string"),
            Column("continent_code", "string", False, "Partition key: AF, AN, AS, EU, NA, OC, SA."),
            Column("continent_name", "string", False),
            Column("languages", "json", False, 'JSON array of {"code", "name"}.'),
            FETCHED_AT,
        ),
        key=("code",),
        partition_column="continent_code",
        search=("name", "native", "capital"),
    ),
    query="""
query Countries($continent: String!) {
  countries(filter: {continent: {eq: $continent}}) {
    code name native capital currency emoji
    continent { code name }
    languages { code name }
  }
}
""",
    root="countries",
    fields={
        "code": "code",
        "name": "name",
        "native": "native",
        "capital": "capital",
        "currency": "currency",
        "emoji": "emoji",
        "continent_code": "continent.code",
        "continent_name": "continent.name",
        "languages": "languages",
    },
    partition_variable="continent",
    partition_keys=CONTINENTS,
)
