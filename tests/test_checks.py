"""The asset checks pass on clean data, fail on crafted bad data, and block what follows."""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pytest
from dagster import (
    AssetCheckSeverity,
    DagsterInstance,
    Definitions,
    define_asset_job,
)

from core.contracts.datasets import SALES_ORDERS, SALES_REJECTS, USERS
from core.contracts.raw import RAW_SCHEMAS, schema_drift
from core.datasets.countries import CONTINENTS
from orchestration import definitions
from orchestration.defs.audits import Scope, Verdict
from orchestration.defs.sales_csv.checks import (
    ORDERS_KEY_UNIQUE,
    ORDERS_VALUE_RANGES,
    reject_ratio,
    row_count_anomaly,
)
from orchestration.resources.quality import QualityThresholds
from orchestration.resources.sources import RestApiResource
from sample_sources import rest

CODE_LOCATION = definitions.defs()
all_assets, all_checks, JOBS = (
    CODE_LOCATION.assets,
    CODE_LOCATION.asset_checks,
    CODE_LOCATION.jobs,
)

DAY = "2024-03-01"


def defs_with_checks(platform, jobs=JOBS, **resources) -> Definitions:
    return Definitions(
        assets=all_assets,
        asset_checks=all_checks,
        jobs=jobs,
        resources=platform.resources(**resources),
    )


def run_job(platform, job, *, selection=None, partition_key=None, **resources):
    jobs = list(JOBS)
    if selection is not None:
        jobs.append(define_asset_job(job, selection=selection))
    defs = defs_with_checks(platform, jobs, **resources)
    # A checks-only job has no asset to take the partition from: pass it as the run's tag.
    return defs.resolve_job_def(job).execute_in_process(
        tags={"dagster/partition": partition_key} if partition_key else None,
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def evaluations(result) -> dict[str, object]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def order(order_id: str, day: str, quantity: int = 1, price: float = 2.0) -> dict:
    return {
        "order_id": order_id,
        "customer_id": "C1",
        "product": "Mug",
        "quantity": quantity,
        "price": price,
        "order_date": dt.date.fromisoformat(day),
    }


def audit(platform, day: str, *audits, orders: int = 0, rejects: int = 0) -> dict[str, Verdict]:
    """The audits' verdicts on the rows the warehouse holds for `day`, evaluated as a write
    evaluates them: inside a transaction, with the facts the writer knows."""
    wh = platform.warehouse
    facts = {"orders": orders, "rejects": wh.read(SALES_REJECTS, [day]).slice(0, rejects)}
    with wh.transaction() as conn:
        scope = Scope(wh, conn, SALES_ORDERS, day, facts)
        return {a.name: a.evaluate(scope) for a in audits}


def test_every_check_passes_on_clean_data(platform):
    result = run_job(platform, "sales_job", partition_key=DAY)
    assert result.success
    checks = evaluations(result)
    assert {
        "key_unique",
        "required_not_null",
        "value_ranges",
        "reject_ratio",
        "row_count_anomaly",
        "schema_drift",
    } <= set(checks)
    assert all(e.passed for e in checks.values()), {
        k: e.metadata for k, e in checks.items() if not e.passed
    }
    assert checks["reject_ratio"].metadata["worst_ratio"].value < 0.05


def test_crafted_bad_orders_fail_their_checks(platform):
    wh = platform.warehouse
    wh.replace_partitions(
        SALES_ORDERS,
        pa.Table.from_pylist(
            [order("A", DAY, quantity=0), order("B", DAY, price=-1.0), order("C", DAY)],
            SALES_ORDERS.arrow_schema,
        ),
        [DAY],
    )
    # The same order id on another day: unique within each partition, not across them.
    wh.replace_partitions(
        SALES_ORDERS,
        pa.Table.from_pylist([order("C", "2024-03-02")], SALES_ORDERS.arrow_schema),
        ["2024-03-02"],
    )
    rejects = [
        {
            "partition_date": dt.date(2024, 3, 1),
            "line": n,
            "reason": "missing order_date",
            "raw": "x",
        }
        for n in range(2, 5)
    ]
    wh.replace_partitions(
        SALES_REJECTS, pa.Table.from_pylist(rejects, SALES_REJECTS.arrow_schema), [DAY]
    )
    checks = audit(
        platform,
        DAY,
        ORDERS_VALUE_RANGES,
        ORDERS_KEY_UNIQUE,
        reject_ratio(QualityThresholds()),
        orders=3,
        rejects=3,
    )
    ranges = checks["value_ranges"]
    assert not ranges.passed
    assert ranges.metadata["non_positive_quantity"] == 1
    assert ranges.metadata["negative_price"] == 1
    unique = checks["key_unique"]
    assert not unique.passed and unique.metadata["examples"] == [["C"]]
    # Exact counts, whatever the sample: one row of this day shares its key with another day.
    assert unique.metadata["duplicated_keys"] == 1
    assert unique.offending.column("order_id").to_pylist() == ["C"]
    ratio = checks["reject_ratio"]
    # 3 rejects beside 3 orders: 50%, above the 20% failure threshold.
    assert not ratio.passed and ratio.severity == AssetCheckSeverity.ERROR
    assert ratio.metadata["worst_ratio"] == 0.5


def test_reject_ratio_between_the_thresholds_only_warns(platform):
    wh = platform.warehouse
    orders = [order(f"O{i}", DAY) for i in range(9)]
    wh.replace_partitions(
        SALES_ORDERS, pa.Table.from_pylist(orders, SALES_ORDERS.arrow_schema), [DAY]
    )
    reject = {"partition_date": dt.date(2024, 3, 1), "line": 2, "reason": "r", "raw": "x"}
    wh.replace_partitions(
        SALES_REJECTS, pa.Table.from_pylist([reject], SALES_REJECTS.arrow_schema), [DAY]
    )
    ratio = audit(platform, DAY, reject_ratio(QualityThresholds()), orders=9, rejects=1)[
        "reject_ratio"
    ]
    assert not ratio.passed and ratio.severity == AssetCheckSeverity.WARN


def test_row_count_anomaly_flags_an_outlier_day(platform):
    wh = platform.warehouse
    for i, n in enumerate([100, 110, 95, 105, 5]):
        day = f"2024-03-0{i + 1}"
        rows = [order(f"{day}-{k}", day) for k in range(n)]
        wh.replace_partitions(
            SALES_ORDERS, pa.Table.from_pylist(rows, SALES_ORDERS.arrow_schema), [day]
        )
    anomaly = audit(platform, "2024-03-05", row_count_anomaly(QualityThresholds()), orders=5)[
        "row_count_anomaly"
    ]
    assert not anomaly.passed
    assert anomaly.metadata["outliers"] == {"2024-03-05": {"rows": 5, "median_of_previous": 102.5}}


def test_drift_lists_added_missing_and_retyped_fields():
    user = json.loads(json.dumps(rest.USERS[0]))
    user["mail"] = user.pop("email")
    user["id"] = str(user["id"])
    drift = schema_drift(RAW_SCHEMAS["raw_users"], [user])
    assert drift.added == {"mail": ["string"]}
    assert drift.missing == ["email"]
    assert drift.retyped == {"id": {"expected": "int", "seen": ["string"]}}
    assert not schema_drift(RAW_SCHEMAS["raw_users"], rest.USERS).drifted


@pytest.fixture
def drifted_source():
    """A real HTTP source whose users renamed `email` to `mail`."""
    users = [json.loads(json.dumps(u)) for u in rest.USERS]
    for u in users:
        u["mail"] = u.pop("email")
    body = json.dumps(users).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            start = (
                int(self.path.split("_start=")[1].split("&")[0]) if "_start=" in self.path else 0
            )
            page = json.dumps(users[start:]).encode() if start else body
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_drift_blocks_the_normalized_table(platform, drifted_source):
    result = run_job(
        platform, "rest_api_job", rest_api=RestApiResource(base_url=drifted_source, page_size=100)
    )
    assert not result.success
    drift = evaluations(result)["schema_drift"]
    assert not drift.passed
    assert drift.metadata["missing"].value == ["email"]
    assert drift.metadata["added"].value == {"mail": ["string"]}
    # Blocking: `users` never ran, so no table was written from the drifted payload.
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "users" not in materialized
    assert not platform.warehouse.table_exists(USERS.name)


def test_a_range_run_records_each_continents_checks(platform):
    """Every continent in one run (the daily schedule's run): each continent gets its own
    result for every check, none a result without a partition (which the UI reads as skipped
    for each)."""
    result = (
        defs_with_checks(platform)
        .resolve_job_def("countries_job")
        .execute_in_process(
            tags={
                "dagster/asset_partition_range_start": CONTINENTS[0],
                "dagster/asset_partition_range_end": CONTINENTS[-1],
            },
            instance=DagsterInstance.ephemeral(),
        )
    )
    assert result.success
    seen: dict[str, set[str]] = {}
    for e in result.get_asset_check_evaluations():
        assert e.passed and e.partition is not None, e
        seen.setdefault(f"{e.asset_key.to_user_string()}:{e.check_name}", set()).add(e.partition)
    assert seen == {
        check: set(CONTINENTS)
        for check in [
            "raw_countries:schema_drift",
            "countries:key_unique",
            "countries:required_not_null",
        ]
    }
