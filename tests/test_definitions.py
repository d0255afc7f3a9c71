"""The code location loads, with every asset described, grouped and typed; the CLIs agree; the
settings are read when Dagster loads the definitions, never when a module is imported."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from dagster import AssetKey, Definitions

from orchestration import definitions
from orchestration.backfill import SALES_ASSETS
from orchestration.run_tags import code_location_tags

defs = definitions.defs()

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {
    "rest_api": {
        *("raw_users", "raw_posts", "users", "posts", "lake/users", "lake/posts"),
        # Declared in core/datasets/.
        *("raw_todos", "todos", "lake/todos", "raw_comments", "comments", "lake/comments"),
    },
    "graphql_api": {"raw_countries", "countries", "lake/countries"},
    "sales_csv": set(SALES_ASSETS),
    "unified": {"records", "lake/records"},
    "push": {"landing_logs", "landing_users"},
    "logs": {"logs", "logs_export", "log_levels_hourly", "lake/logs", "lake/log_levels_hourly"},
}


def test_definitions_load_with_every_asset_in_its_group():
    Definitions.validate_loadable(defs)
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert set(specs) == set().union(*EXPECTED.values())
    for group, names in EXPECTED.items():
        for name in names:
            spec = specs[name]
            assert spec.group_name == group, name
            assert spec.description and len(spec.description) > 40, name
            assert spec.kinds, name


def test_daily_and_hourly_assets_backfill_a_range_in_one_run():
    graph = defs.resolve_asset_graph()
    for name in EXPECTED["sales_csv"] | EXPECTED["logs"]:
        node = graph.get(AssetKey.from_user_string(name))
        assert node.partitions_def is not None, name
        assert node.backfill_policy is not None, name
        assert node.backfill_policy.max_partitions_per_run is None, name


def test_lineage_runs_from_sources_to_records():
    graph = defs.resolve_asset_graph()
    upstream = graph.get(AssetKey("records")).parent_keys
    assert {k.to_user_string() for k in upstream} == {
        *("users", "posts", "countries", "sales_orders"),
        *("todos", "comments"),  # their declarations map them into records
    }
    # Each served table has its Delta table in the lake; the CSV exports are written from it.
    for table in ("users", "posts", "countries", "sales_orders", "sales_rejects", "sales_daily"):
        lake = graph.get(AssetKey(["lake", table]))
        assert {k.to_user_string() for k in lake.parent_keys} == {table}
    for table in ("records", "logs", "log_levels_hourly"):
        lake = graph.get(AssetKey(["lake", table]))
        assert {k.to_user_string() for k in lake.parent_keys} == {table}
    for export, table in (("sales_orders_export", "sales_orders"), ("logs_export", "logs")):
        parents = graph.get(AssetKey(export)).parent_keys
        assert {k.to_user_string() for k in parents} == {f"lake/{table}"}
    # Pushed records: from the serving API's landing tables, which Dagster does not write.
    assert {k.to_user_string() for k in graph.get(AssetKey("users")).parent_keys} == {
        "raw_users",
        "landing_users",
    }
    assert [k.to_user_string() for k in graph.get(AssetKey("logs")).parent_keys] == ["landing_logs"]
    assert not graph.get(AssetKey("landing_logs")).is_materializable


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DAGSTER_HOME=str(home))
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def test_dagster_and_dg_both_load_the_code_location(tmp_path):
    bin_dir = Path(sys.executable).parent
    home = tmp_path / "dagster_home"
    validate = _cli(
        home, str(bin_dir / "dagster"), "definitions", "validate", "-w", "workspace.yaml"
    )
    assert validate.returncode == 0, validate.stderr[-2000:]
    check = _cli(home, str(bin_dir / "dg"), "check", "defs")
    assert check.returncode == 0, check.stderr[-2000:] + check.stdout[-2000:]
    listed = _cli(home, str(bin_dir / "dg"), "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    names = {
        entry.get("name") or entry.get("asset_key")
        for section in json.loads(listed.stdout).values()
        for entry in section
    }
    assert {"sales_drop_sensor", "landing_sensor", "automation_sensor", "daily_sales"} <= names
    assert {"sales_job", "logs_job", "lake_maintenance_job", "lake/logs"} <= names


# Imports every module of the code location with the environment it was started with, then
# loads the definitions with another one: what they show must come from the second.
IMPORT_THEN_LOAD = """
import importlib, json, os, pkgutil, warnings
warnings.simplefilter("ignore")
import orchestration.defs
from orchestration import definitions

for module in pkgutil.walk_packages(orchestration.defs.__path__, "orchestration.defs."):
    importlib.import_module(module.name)
os.environ.update(json.loads(os.environ["LOAD_WITH"]))
defs = definitions.defs()
first = lambda key: defs.get_assets_def(key).partitions_def.get_first_partition_key()
sensors = ("sales_drop_sensor", "landing_sensor", "pipeline_runs_sensor", "automation_sensor")
print(json.dumps({
    "daily": first("sales_orders"),
    "lake_daily": first(["lake", "sales_orders"]),
    "hourly": first("logs"),
    "intervals": {name: defs.get_sensor_def(name).minimum_interval_seconds for name in sensors},
    "kinds": sorted(next(iter(defs.get_assets_def("users").specs)).kinds),
}))
"""


def test_no_module_reads_the_environment_at_import(tmp_path):
    at_import = {
        "SALES_START_DATE": "2024-01-01",
        "LOGS_START_DATE": "2024-01-01-00:00",
        "SENSOR_INTERVAL_S": "30",
        "WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.db'}",
    }
    at_load = {
        "SALES_START_DATE": "2025-02-03",
        "LOGS_START_DATE": "2025-02-04-05:00",
        "SENSOR_INTERVAL_S": "7",
        "LANDING_SENSOR_INTERVAL_S": "3",
        "WAREHOUSE_URL": "postgresql://nowhere.invalid/warehouse",
    }
    env = {k: v for k, v in os.environ.items() if k != "LANDING_SENSOR_INTERVAL_S"}
    env |= at_import | {"DAGSTER_HOME": str(tmp_path / "home"), "LOAD_WITH": json.dumps(at_load)}
    seen = subprocess.run(
        [sys.executable, "-c", IMPORT_THEN_LOAD],
        cwd=tmp_path,  # no `.env` of the checkout's
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(seen.stdout.splitlines()[-1]) == {
        "daily": "2025-02-03",
        "lake_daily": "2025-02-03",
        "hourly": "2025-02-04-05:00",
        "intervals": {
            "sales_drop_sensor": 7,
            "landing_sensor": 3,
            "pipeline_runs_sensor": 7,
            "automation_sensor": 7,
        },
        "kinds": ["postgres", "python"],
    }


def test_in_process_runs_are_filed_under_the_code_location_the_ui_loads():
    """`code_location_tags` names the location and repository `dg dev` and workspace.yaml load
    (the make run test checks the UI's job pages list those runs)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    (entry,) = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"]
    assert project["code_location_name"] == entry["python_module"]["location_name"]
    repository = definitions.defs().get_repository_def().name
    assert code_location_tags() == {
        ".dagster/repository": f"{repository}@{project['code_location_name']}"
    }
