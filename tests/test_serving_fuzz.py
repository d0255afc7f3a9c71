"""A bounded schemathesis run over the OpenAPI spec, on each engine: no answer is a 5xx, and
every answer matches its documented schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

try:  # tests/ as a package or as a plain folder
    from tests.serving_fixtures import (
        served_postgres,
        served_sqlite,
        served_url,
        settings_for,
    )
except ModuleNotFoundError:
    from serving_fixtures import (  # noqa: F401
        served_postgres,
        served_sqlite,
        served_url,
        settings_for,
    )

from serving.app import create_app

EXAMPLES_PER_OPERATION = 25


def test_fuzzing_the_openapi_spec_finds_no_server_error(served_url: str) -> None:
    app = create_app(settings_for(served_url, version_refresh_ms=3_600_000))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    calls: dict[str, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                checks=[not_a_server_error, response_schema_conformance]
            )
            assert response.status_code < 500, (case.operation.label, response.text[:300])
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1

        run()
    assert len(calls) == len(operations) and sum(calls.values()) > 100
