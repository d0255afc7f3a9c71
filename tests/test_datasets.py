"""Datasets declared in one place (core/datasets/): `todos` and `comments` from the REST stand-in
over real HTTP, on SQLite and PostgreSQL, through their raw asset, table, checks, lake table,
`records` rows and the API; and a declaration added at run time that needs no other edit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from core.contracts import CONTRACTS, Column, Contract
from core.contracts.datasets import COUNTRIES, FETCHED_AT, POSTS
from core.datasets import (
    SNAPSHOTS,
    DailyCsvFeed,
    GraphQLSnapshot,
    Records,
    RestSnapshot,
    lookup,
)
from orchestration import definitions
from orchestration.resources.sources import RestApiResource
from sample_sources import graphql_api, rest
from tests.serving_fixtures import client_for

ROOT = Path(__file__).resolve().parent.parent
DECLARED = {"todos": rest.TODOS, "comments": rest.COMMENTS}
ASSETS = [f"{prefix}{name}" for name in DECLARED for prefix in ("raw_", "", "lake/")]


def test_posts_todos_and_comments_are_declared_and_served_like_every_contract():
    declared = {s.name: s for s in SNAPSHOTS}
    assert set(DECLARED) <= set(declared)
    for name in DECLARED:
        assert CONTRACTS[name] is declared[name].contract
        assert declared[name].group == "rest_api"
    assert declared["todos"].raw_schema == {
        "id": "int",
        "userId": "int",
        "title": "string",
        "completed": "bool",
    }
    # posts is declared too, its contract still importable as POSTS, its raw shape unchanged;
    # its records rows are mapped with the hand-written sources (`user <id>` is no column).
    assert declared["posts"].contract is POSTS is CONTRACTS["posts"]
    assert declared["posts"].raw_schema == {
        "userId": "int",
        "id": "int",
        "title": "string",
        "body": "string",
    }
    assert declared["posts"].records is None and declared["posts"].group == "rest_api"
    assert declared["comments"].flatten(rest.COMMENTS[0]) == {
        "id": 1,
        "post_id": rest.COMMENTS[0]["postId"],
        "name": rest.COMMENTS[0]["name"],
        "email": rest.COMMENTS[0]["email"],
        "body": rest.COMMENTS[0]["body"],
    }


def test_countries_is_a_graphql_declaration_with_a_partition_per_continent():
    countries = next(s for s in SNAPSHOTS if s.name == "countries")
    assert isinstance(countries, GraphQLSnapshot) and countries.group == "graphql_api"
    assert countries.contract is CONTRACTS["countries"] is COUNTRIES
    assert countries.partition_keys == ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
    assert countries.contract.partition_column == "continent_code"
    # The raw shape the drift check expects is the one it always did.
    assert countries.raw_schema == {
        "code": "string",
        "name": "string",
        "native": "string",
        "capital": "string",
        "currency": "string",
        "emoji": "string",
        "continent.code": "string",
        "continent.name": "string",
        "languages": "array",
    }
    germany = next(c for c in graphql_api.load_data().countries_of("EU") if c["code"] == "DE")
    row = countries.flatten(germany)
    assert (row["continent_code"], row["continent_name"]) == ("EU", "Europe")
    assert row["languages"] == germany["languages"]


def test_a_nested_field_is_a_dotted_path():
    user = rest.USERS[0]
    assert lookup(user, "address.geo.lat") == user["address"]["geo"]["lat"]
    assert lookup(user, "address.nowhere.lat") is None
    assert lookup(user, "name.first") is None


def contract(name: str, *columns: Column) -> Contract:
    return Contract(name=name, description="", columns=(*columns, FETCHED_AT), key=("id",))


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: RestSnapshot(contract("Chores", Column("id", "int")), "/x", {"id": "id"}), "name"),
        (lambda: RestSnapshot(contract("chores", Column("id", "int")), "x", {"id": "id"}), "path"),
        (lambda: RestSnapshot(contract("chores", Column("id", "int")), "/x", {}), "missing"),
        (
            lambda: RestSnapshot(
                Contract("chores", "", (Column("id", "int"),), ("id",)), "/x", {"id": "id"}
            ),
            "FETCHED_AT",
        ),
        (
            lambda: RestSnapshot(
                contract("chores", Column("id", "int"), Column("title", "string")),
                "/x",
                {"id": "id", "title": "title"},
                records=Records(name="title", value="nothing"),
            ),
            "unknown columns",
        ),
        (
            lambda: RestSnapshot(
                contract("chores", Column("id", "int"), Column("title", "string")),
                "/x",
                {"id": "id", "title": "title"},
                records=Records(name="title"),
            ),
            "must be required",
        ),
    ],
)
def test_a_wrong_declaration_fails_when_imported_naming_the_problem(declare, message):
    with pytest.raises(ValueError, match=message):
        declare()


def partitioned(name: str) -> Contract:
    return Contract(
        name=name,
        description="",
        columns=(Column("id", "int"), Column("zone", "string"), FETCHED_AT),
        key=("id",),
        partition_column="zone",
    )


QUERY = "query Q($zone: String!) { items(zone: $zone) { id zone } }"
FIELDS = {"id": "id", "zone": "zone"}


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (
            lambda: GraphQLSnapshot(partitioned("items"), QUERY, "items", FIELDS, "zone"),
            "both partition_variable and partition_keys",
        ),
        (
            lambda: GraphQLSnapshot(partitioned("items"), QUERY, "items", FIELDS),
            "partition_column",
        ),
        (
            lambda: GraphQLSnapshot(partitioned("items"), QUERY, "items", FIELDS, "area", ("a",)),
            r"never uses \$area",
        ),
        (
            lambda: GraphQLSnapshot(partitioned("items"), QUERY, "items", {"id": "id"}),
            "missing",
        ),
    ],
)
def test_a_wrong_graphql_declaration_fails_naming_the_problem(declare, message):
    with pytest.raises(ValueError, match=message):
        declare()


def daily(*columns: Column, partition: str | None = "day") -> Contract:
    return Contract("items", "", (Column("id", "int"), *columns), ("id",), partition)


DAY = Column("day", "date", False)


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: DailyCsvFeed(daily(DAY, partition=None), "items", {"id": "id"}), "date column"),
        (
            lambda: DailyCsvFeed(daily(Column("day", "string")), "items", {"id": "id"}),
            "date column",
        ),
        (lambda: DailyCsvFeed(daily(DAY), "Items/x", {"id": "id"}), "folder"),
        (lambda: DailyCsvFeed(daily(DAY, Column("n", "int")), "items", {"id": "id"}), "missing"),
        (
            lambda: DailyCsvFeed(
                daily(DAY, Column("tags", "json")), "items", {"id": "i", "tags": "t"}
            ),
            "no json columns",
        ),
    ],
)
def test_a_wrong_csv_feed_declaration_fails_naming_the_problem(declare, message):
    with pytest.raises(ValueError, match=message):
        declare()


def evaluations(result) -> dict[str, bool]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }


def test_todos_and_comments_load_from_the_source_to_the_lake_records_and_api(platform, sources):
    defs = definitions.defs()
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=[*ASSETS, "records"],
        resources=platform.resources(
            rest_api=RestApiResource(base_url=sources.url, page_size=60, backoff_base_s=0.01)
        ),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    checks = evaluations(result)
    for name in DECLARED:
        for check in (f"{name}:key_unique", f"{name}:required_not_null"):
            assert checks[check], check
        assert checks[f"raw_{name}:schema_drift"]

    wh = platform.warehouse
    todos = wh.read(CONTRACTS["todos"]).to_pylist()
    assert [(t["id"], t["user_id"], t["title"], t["completed"]) for t in todos] == [
        (t["id"], t["userId"], t["title"], t["completed"]) for t in rest.TODOS
    ]
    comments = wh.read(CONTRACTS["comments"]).to_pylist()
    assert [(c["id"], c["post_id"], c["email"], c["body"]) for c in comments] == [
        (c["id"], c["postId"], c["email"], c["body"]) for c in rest.COMMENTS
    ]
    for name, records in DECLARED.items():
        raw = json.loads((platform.lake_dir / f"raw/rest/{name}.json").read_text())
        assert raw == records
        lake = DeltaTable(str(platform.lake_dir / "delta" / name)).to_pyarrow_table()
        assert lake.num_rows == len(records) == wh.count(CONTRACTS[name])

    # `records`: each declared mapping's rows, `source_id` from the key.
    rows = {(r["source"], r["source_id"]): r for r in wh.read(CONTRACTS["records"]).to_pylist()}
    by_source = {s: sum(1 for k in rows if k[0] == s) for s in DECLARED}
    assert by_source == {"todos": len(rest.TODOS), "comments": len(rest.COMMENTS)}
    todo, comment = rows[("todos", "1")], rows[("comments", "500")]
    assert todo["name"] == rest.TODOS[0]["title"]
    assert todo["value"] == str(rest.TODOS[0]["completed"]).lower()
    assert todo["description"] is None
    assert (comment["name"], comment["value"], comment["description"]) == (
        rest.COMMENTS[-1]["name"],
        rest.COMMENTS[-1]["email"],
        rest.COMMENTS[-1]["body"],
    )

    with client_for(platform.warehouse_url) as client:
        listed = {t["name"]: t for t in client.get("/tables").json()["data"]}
        assert listed["todos"]["rows"] == 200 and listed["comments"]["rows"] == 500
        assert listed["todos"]["key"] == ["id"]
        page = client.get("/tables/todos", params={"user_id": 3, "limit": 100}).json()
        assert [t["id"] for t in page["data"]] == [t["id"] for t in rest.TODOS if t["userId"] == 3]
        assert {type(t["completed"]) for t in page["data"]} == {bool}
        done = client.get("/tables/todos", params={"completed": "true", "limit": 500}).json()
        assert len(done["data"]) == sum(t["completed"] for t in rest.TODOS)
        found = client.get("/tables/comments", params={"search": rest.COMMENTS[0]["name"]})
        assert 1 in [c["id"] for c in found.json()["data"]]
        unified = client.get("/data", params={"source": "todos", "limit": 500}).json()["data"]
        assert sorted(int(r["source_id"]) for r in unified) == [t["id"] for t in rest.TODOS]


# Datasets added the way docs/adding-a-dataset.md says, in a `core/datasets/` folder outside
# the repository (the package spans every such folder on the Python path): the stand-in's
# todos again, under another name and with only some of their fields kept; and the GraphQL
# stand-in's continents, a table snapshotted whole.
CHORES = """
from core.contracts.datasets import FETCHED_AT
from core.contracts.schema import Column, Contract
from core.datasets import Records, RestSnapshot

CHORES = RestSnapshot(
    contract=Contract(
        name="chores",
        description="Chores: the to-do items of the REST API, under another name.",
        columns=(
            Column("id", "int", False),
            Column("owner", "int", False),
            Column("task", "string", False),
            FETCHED_AT,
        ),
        key=("id",),
    ),
    path="/todos",
    fields={"id": "id", "owner": "userId", "task": "title"},
    extra_fields={"completed": "bool"},
    records=Records(name="task"),
)
"""

REGIONS = """
from core.contracts.datasets import FETCHED_AT
from core.contracts.schema import Column, Contract
from core.datasets import GraphQLSnapshot, Records

REGIONS = GraphQLSnapshot(
    contract=Contract(
        name="regions",
        description="The continents of the GraphQL API, under another name.",
        columns=(Column("code", "string", False), Column("title", "string", False), FETCHED_AT),
        key=("code",),
    ),
    query="{ continents { code name } }",
    root="continents",
    fields={"code": "code", "title": "name"},
    records=Records(name="title"),
)
"""

LOAD_AND_SERVE = """
import json, sys
import dagster as dg
from fastapi.testclient import TestClient
from orchestration import definitions
from orchestration.resources import resources_from_env
from serving.app import create_app

defs = definitions.defs()
graph = defs.resolve_asset_graph()
assets = {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()}
chores = ["raw_chores", "chores", "lake/chores"]
regions = ["raw_regions", "regions", "lake/regions"]
result = dg.materialize(
    [*defs.assets, *defs.asset_checks],
    selection=[*chores, *regions, "records"],
    resources=resources_from_env(),
    instance=dg.DagsterInstance.ephemeral(),
)
jobs = {name: defs.resolve_job_def(name) for name in ("rest_api_job", "regions_job")}
schedule = defs.resolve_schedule_def("daily_regions_snapshot")
with TestClient(create_app()) as client:
    listed = {t["name"]: t["rows"] for t in client.get("/tables").json()["data"]}
    rows = client.get("/tables/chores", params={"limit": 3}).json()["data"]
    region_rows = client.get("/tables/regions", params={"limit": 10}).json()["data"]
    by_source = client.get("/data", params={"source": "regions", "limit": 10}).json()
print(json.dumps({
    "groups": {name: assets[name].group_name for name in [*chores, *regions]},
    "checks": sorted(
        str(k.to_user_string())
        for k in graph.asset_check_keys
        if "chores" in str(k) or "regions" in str(k)
    ),
    "in_job": {
        name: sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys)
        for name, job in jobs.items()
    },
    "schedule": [schedule.job_name, schedule.cron_schedule],
    "records_deps": sorted(k.to_user_string() for k in assets["records"].parent_keys),
    "success": result.success,
    "evaluations": {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    },
    "listed": listed,
    "rows": rows,
    "regions": region_rows,
    "by_source": by_source,
}))
"""


def declared_elsewhere(tmp_path: Path, declarations: dict[str, str], script: str, **env: str):
    """Run `script` in a fresh process whose Python path has a `core/datasets/` folder outside
    the repository holding `declarations` (module name: source), on a warehouse, lake and
    Dagster home of their own; what it printed last, as JSON."""
    folder = tmp_path / "elsewhere" / "core" / "datasets"
    folder.mkdir(parents=True)
    for module, source in declarations.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
    (tmp_path / "dagster_home").mkdir()
    environment = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path / "elsewhere")]),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        WAREHOUSE_URL=f"sqlite:///{tmp_path / 'warehouse.db'}",
        LAKE_URL=str(tmp_path / "lake"),
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_a_declaration_module_is_all_a_new_dataset_needs(tmp_path, sources):
    answer = declared_elsewhere(
        tmp_path,
        {"chores": CHORES, "regions": REGIONS},
        LOAD_AND_SERVE,
        REST_API_URL=sources.url,
        GRAPHQL_API_URL=f"{sources.url}/graphql",
    )
    assert answer["groups"] == {
        "raw_chores": "rest_api",
        "chores": "rest_api",
        "lake/chores": "rest_api",
        "raw_regions": "graphql_api",
        "regions": "graphql_api",
        "lake/regions": "graphql_api",
    }
    assert answer["checks"] == [
        "chores:key_unique",
        "chores:required_not_null",
        "raw_chores:schema_drift",
        "raw_regions:schema_drift",
        "regions:key_unique",
        "regions:required_not_null",
    ]
    assert {"raw_chores", "chores", "lake/chores"} <= set(answer["in_job"]["rest_api_job"])
    assert answer["in_job"]["regions_job"] == ["lake/regions", "raw_regions", "regions"]
    assert answer["schedule"] == ["regions_job", "0 2 * * *"]
    assert {"chores", "regions"} <= set(answer["records_deps"])
    assert answer["success"], answer
    assert answer["evaluations"] and all(answer["evaluations"].values()), answer["evaluations"]
    assert answer["listed"]["chores"] == len(rest.TODOS)
    continents = graphql_api.load_data().continents
    assert answer["listed"]["regions"] == len(continents) == 7
    assert answer["listed"]["records"] == len(rest.TODOS) + len(continents)
    assert sorted((r["code"], r["title"]) for r in answer["regions"]) == sorted(
        (c["code"], c["name"]) for c in continents
    )
    assert sorted(r["name"] for r in answer["by_source"]["data"]) == sorted(
        c["name"] for c in continents
    )
    first = rest.TODOS[0]
    assert answer["rows"][0] | {"fetched_at": None} == {
        "id": first["id"],
        "owner": first["userId"],
        "task": first["title"],
        "fetched_at": None,
    }


# A daily CSV feed declared the same way, outside the repository: refunds dropped each day.
REFUNDS = """
from core.contracts.schema import Column, Contract
from core.datasets import DailyCsvFeed, Records

REFUNDS = DailyCsvFeed(
    contract=Contract(
        name="refunds",
        description="Refunds, one row per refund, partitioned by the day of the drop.",
        columns=(
            Column("refund_id", "string", False),
            Column("order_id", "string", False),
            Column("amount", "float", False),
            Column("approved", "bool"),
            Column("refund_date", "date", False),
        ),
        key=("refund_id",),
        partition_column="refund_date",
    ),
    folder="refunds",
    columns={
        "refund_id": "id",
        "order_id": "order",
        "amount": "amount",
        "approved": "approved",
        "refund_date": "date",
    },
    records=Records(name="order_id", value="amount"),
)
"""

GOOD_DAY = """id,order,amount,approved,date
r1, o-1 ,12.50,true,2024-03-01
r2,o-2,3,,2024-03-01
r3,o-3,lots,true,2024-03-01
r1,o-9,1.00,false,2024-03-01
r4,,2.00,true,2024-03-01
r5,o-5,4.00,true,2024-03-02
r6,o-6,5.00

r7,"o-7, split",6.25,false,2024-03-01
"""
DRIFTED_DAY = "id,order,amount,approved,date,channel\nr8,o-8,1.00,true,2024-03-02,web\n"

RUN_FEED = """
import json, os, time
import dagster as dg
from deltalake import DeltaTable
from fastapi.testclient import TestClient
from orchestration import definitions
from orchestration.resources import resources_from_env
from serving.app import create_app

defs = definitions.defs()
job = defs.resolve_job_def("refunds_job")
instance = dg.DagsterInstance.get()
runs = {
    day: job.execute_in_process(
        instance=instance, partition_key=day, resources=resources_from_env(), raise_on_error=False
    )
    for day in ("2024-03-01", "2024-03-02", "2024-03-03")
}
records = defs.resolve_job_def("records_job").execute_in_process(
    instance=instance, resources=resources_from_env()
)
# The drifted day's drop is sent again, fixed: the sensor sees it as changed.
fixed = os.path.join(os.environ["LANDING_DIR"], "refunds", "refunds_2024-03-02.csv")
with open(fixed, "w") as drop:
    drop.write("id,order,amount,approved,date\\nr8,o-8,1.00,true,2024-03-02\\n")
os.utime(fixed, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
sensor = defs.get_sensor_def("refunds_drop_sensor")
with dg.build_sensor_context(instance=instance, resources=resources_from_env()) as context:
    ticked = sensor(context)
graph = defs.resolve_asset_graph()
with TestClient(create_app()) as client:
    rows = client.get("/tables/refunds", params={"limit": 50}).json()["data"]
    rejects = client.get("/tables/api_rejects", params={"limit": 50}).json()["data"]
    unified = client.get("/data", params={"source": "refunds"}).json()["data"]
print(json.dumps({
    "success": {day: run.success for day, run in runs.items()},
    "evaluations": {
        day: {
            f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
            for e in run.get_asset_check_evaluations()
        }
        for day, run in runs.items()
    },
    "records": records.success,
    "requests": sorted(r.partition_key for r in ticked.run_requests or []),
    "groups": sorted(
        (k.to_user_string(), graph.get(k).group_name)
        for k in graph.get_all_asset_keys()
        if "refunds" in k.to_user_string()
    ),
    "schedule": defs.get_schedule_def("daily_refunds").cron_schedule,
    "rows": rows,
    "rejects": [r for r in rejects if r["scope"].startswith("refunds/")],
    "unified": unified,
    "lake": DeltaTable(os.path.join(os.environ["LAKE_URL"], "delta", "refunds")).to_pyarrow_table()
    .num_rows,
}, default=str))
"""


def test_a_csv_feed_declaration_is_all_a_new_feed_needs(tmp_path):
    drops = tmp_path / "landing" / "refunds"
    drops.mkdir(parents=True)
    (drops / "refunds_2024-03-01.csv").write_text(GOOD_DAY)
    (drops / "refunds_2024-03-02.csv").write_text(DRIFTED_DAY)
    answer = declared_elsewhere(
        tmp_path,
        {"refunds": REFUNDS},
        RUN_FEED,
        LANDING_DIR=str(tmp_path / "landing"),
        SALES_START_DATE="2024-03-01",
    )
    assert answer["groups"] == [
        ["lake/refunds", "csv_feeds"],
        ["raw_refunds", "csv_feeds"],
        ["refunds", "csv_feeds"],
    ]
    assert answer["schedule"] == "0 2 * * *"
    # The good day is published; the drifted day is stopped by its header check; the third day
    # has no drop, and its run says so.
    assert answer["success"] == {"2024-03-01": True, "2024-03-02": False, "2024-03-03": False}
    assert answer["evaluations"]["2024-03-01"] == {
        "raw_refunds:schema_drift": True,
        "refunds:key_unique": True,
        "refunds:required_not_null": True,
    }
    assert answer["evaluations"]["2024-03-02"] == {"raw_refunds:schema_drift": False}
    rows = sorted(answer["rows"], key=lambda r: r["refund_id"])
    assert [(r["refund_id"], r["order_id"], r["amount"], r["approved"]) for r in rows] == [
        ("r1", "o-1", 12.5, True),
        ("r2", "o-2", 3.0, None),
        ("r7", "o-7, split", 6.25, False),
    ]
    assert {r["refund_date"] for r in rows} == {"2024-03-01"}
    assert answer["lake"] == 3
    reasons = {r["position"]: r["reason"] for r in answer["rejects"]}
    assert {r["scope"] for r in answer["rejects"]} == {"refunds/2024-03-01"}
    assert reasons[2].startswith("line 4: amount: 'lots' is not a valid float")
    assert reasons[3] == "line 5: duplicate key ('r1',); the first is kept"
    assert reasons[4].startswith("line 6: order_id")
    assert reasons[5] == "line 7: refund_date '2024-03-02' is not 2024-03-01"
    assert reasons[6] == "line 8: 3 field(s), the header has 5"
    assert len(reasons) == 5
    assert answer["records"]
    assert sorted((r["name"], r["value"]) for r in answer["unified"]) == [
        ("o-1", "12.5"),
        ("o-2", "3.0"),
        ("o-7, split", "6.25"),
    ]
    # The sensor, switched on now, runs the day whose drop changed since its run, not the day
    # already loaded from the same file.
    assert answer["requests"] == ["2024-03-02"]
