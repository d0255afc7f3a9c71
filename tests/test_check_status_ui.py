"""What the Dagster UI reads of the sales checks, through the webserver's GraphQL API on the
embedded instance: every day of a range run Passed, a failing day Failed beside passing ones,
and the partition bar showing each day's truth."""

import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

import orchestration.definitions
from tests.test_assets import SALES
from tests.test_assets import run as run_assets
from tests.test_write_audit_publish import DAYS, drop, repeat_ids_of

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_YAML = ROOT / "deploy" / "embedded" / "dagster.yaml"
CHECKS = ["key_unique", "required_not_null", "value_ranges", "reject_ratio", "row_count_anomaly"]
STATUS = """
query Status($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startKey endKey } }
      }
      assetChecksOrError {
        ... on AssetChecks {
          checks {
            name
            executionForLatestMaterialization { status partition }
            partitionStatuses {
              ... on AssetCheckTimePartitionStatuses { ranges { status startKey endKey } }
            }
          }
        }
      }
    }
  }
}
"""


def run(platform, instance, days: list[str]) -> bool:
    """The sales assets for `days` (one run) on `instance`."""
    if len(days) == 1:
        return run_assets(platform, SALES, partition_key=days[0], instance=instance).success
    return run_assets(platform, SALES, days=days, instance=instance).success


def expand(ranges: list[dict]) -> dict[str, str]:
    """{day: status} for the days of DAYS a list of status ranges covers."""
    return {day: r["status"] for r in ranges for day in DAYS if r["startKey"] <= day <= r["endKey"]}


@pytest.fixture
def instance(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(EMBEDDED_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.from_config(str(home)) as inst:
        yield inst


def ui(instance, platform, monkeypatch) -> dict:
    """The asset's partition bar and its checks, as the UI's GraphQL query answers them."""
    monkeypatch.setenv("WAREHOUSE_URL", platform.warehouse_url)
    monkeypatch.setenv("LAKE_URL", str(platform.lake_dir))
    monkeypatch.setenv("LANDING_DIR", str(platform.landing_dir))
    path = str(Path(orchestration.definitions.__file__))
    with define_out_of_process_context(path, "defs", instance) as context:
        result = execute_dagster_graphql(context, STATUS, {"key": {"path": ["sales_orders"]}})
    assert not result.errors, result.errors
    node = result.data["assetNodeOrError"]
    return {
        "bar": expand(node["assetPartitionStatuses"]["ranges"]),
        "checks": {
            c["name"]: {
                "days": expand(c["partitionStatuses"]["ranges"]),
                "latest": c["executionForLatestMaterialization"],
            }
            for c in node["assetChecksOrError"]["checks"]
        },
    }


def test_a_range_run_shows_every_days_checks_passed(platform, instance, monkeypatch):
    assert run(platform, instance, DAYS)
    seen = ui(instance, platform, monkeypatch)
    assert seen["bar"] == dict.fromkeys(DAYS, "MATERIALIZED")
    assert sorted(seen["checks"]) == sorted(CHECKS)
    for name, check in seen["checks"].items():
        # Each day its own result: not one result for the range, which read "Skipped".
        assert check["days"] == dict.fromkeys(DAYS, "SUCCEEDED"), name
        # The lineage counts a check as passed on the latest materialization: N of N.
        assert check["latest"] == {"status": "SUCCEEDED", "partition": DAYS[-1]}, name


def test_a_failing_day_shows_failed_and_the_others_passed(platform, instance, monkeypatch):
    assert run(platform, instance, DAYS)
    good = drop(platform, "2024-03-02").read_bytes()
    repeat_ids_of(platform, "2024-03-01", "2024-03-02")
    assert not run(platform, instance, ["2024-03-02"])
    seen = ui(instance, platform, monkeypatch)
    unique = seen["checks"]["key_unique"]["days"]
    assert unique == {"2024-03-01": "SUCCEEDED", "2024-03-02": "FAILED", "2024-03-03": "SUCCEEDED"}
    # The failed day's other checks passed on the rejected version too.
    assert seen["checks"]["value_ranges"]["days"]["2024-03-02"] == "SUCCEEDED"
    # The bar shows the failed attempt; the published rows are the previous version's.
    assert seen["bar"]["2024-03-02"] == "FAILED"
    assert seen["bar"]["2024-03-01"] == seen["bar"]["2024-03-03"] == "MATERIALIZED"

    # A good drop of that day publishes it again: every day passed.
    drop(platform, "2024-03-02").write_bytes(good)
    assert run(platform, instance, ["2024-03-02"])
    seen = ui(instance, platform, monkeypatch)
    assert seen["bar"] == dict.fromkeys(DAYS, "MATERIALIZED")
    assert seen["checks"]["key_unique"]["days"] == dict.fromkeys(DAYS, "SUCCEEDED")
