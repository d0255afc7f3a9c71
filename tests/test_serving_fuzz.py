"""A bounded schemathesis run over the OpenAPI spec, on each engine: every operation, the push
endpoints included (with a valid `X-API-Key`, so the fuzzer gets past the key check), with data
that fits the spec and data that does not. No answer is a 5xx, and every answer's status code,
content type, headers and body are the documented ones.

By default 622 requests on SQLite and 398 on PostgreSQL, 1,020 in all (generating the cases,
not answering them, takes most of the time); `RELIABILITY_FULL=1` makes it 200 cases per
operation and mode on both engines, 5,606 each.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

try:  # tests/ as a package or as a plain folder
    from tests.serving_fixtures import served_sqlite, settings_for
    from tests.writable_fixtures import (
        writable_postgres,
        writable_sqlite,
        writable_url,
    )
except ModuleNotFoundError:
    from serving_fixtures import served_sqlite, settings_for  # noqa: F401
    from writable_fixtures import (  # noqa: F401
        writable_postgres,
        writable_sqlite,
        writable_url,
    )

from serving.app import create_app

KEY = "fuzz-key"
FULL = os.environ.get("RELIABILITY_FULL") == "1"
# Cases per operation and generation mode; operations without parameters have one case.
EXAMPLES = {"sqlite": 200, "postgresql": 200} if FULL else {"sqlite": 22, "postgresql": 14}
MIN_REQUESTS = {"sqlite": 600, "postgresql": 380}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def keyed_schema(app: Any, key: str | None) -> Any:
    """The app's spec, with `key` sent wherever the spec asks for the `APIKeyHeader`."""
    auth = {"auth": {"openapi": {"APIKeyHeader": {"api_key": key}}}} if key else {}
    return schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=SchemathesisConfig.from_dict(auth)
    )


def run_cases(operation: Any, mode: GenerationMode, examples: int, seen: Counter) -> None:
    """`examples` cases of `operation` in `mode`, each sent and validated with every check."""

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=CHECKS)
        assert response.status_code < 500, (case.operation.label, response.text[:300])
        seen[(case.operation.label, mode.value, response.status_code)] += 1

    run()


def call_each(schema: Any, headers: dict[str, str], answered: Counter[int]) -> None:
    """Two cases of every operation, sent with `headers` and validated with every check."""
    for result in schema.get_all_operations():

        @given(case=result.ok().as_strategy())
        @settings(max_examples=2, deadline=None, derandomize=True, database=None)
        def run(case: schemathesis.Case) -> None:
            answered[case.call_and_validate(headers=headers, checks=CHECKS).status_code] += 1

        run()


def test_fuzzing_every_operation_finds_no_server_error_nor_spec_mismatch(
    writable_url: str,
) -> None:
    app = create_app(
        settings_for(writable_url, api_keys=KEY, rate_limit_per_s=0, version_refresh_ms=0)
    )
    engine = app.state.ctx.db.engine
    schema = keyed_schema(app, KEY)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {
        "POST /ingest/logs",
        "POST /users",
        "GET /users/{email}",
        "GET /tables/{name}",
    } <= labels
    assert len(operations) >= 20
    seen: Counter[tuple[str, str, int]] = Counter()
    for operation in operations:
        for mode in GenerationMode:
            try:
                run_cases(operation, mode, EXAMPLES[engine], seen)
            except Unsatisfiable:
                # Nothing to break in an operation without parameters or body.
                assert mode is GenerationMode.NEGATIVE, operation.label
    total = sum(seen.values())
    per_operation = Counter(label for label, _, _ in seen.elements())
    statuses = Counter(status for _, _, status in seen.elements())
    print(f"\n{engine}: {total} requests, statuses {dict(sorted(statuses.items()))}")
    assert set(per_operation) == labels  # every operation was called
    assert total >= MIN_REQUESTS[engine]
    # The fuzzer got past the key check and into the handlers of the push endpoints.
    for label in ("POST /ingest/logs", "POST /users"):
        assert any(op == label and s not in (401, 429) for op, _, s in seen), label


def test_gate_answers_conform_to_the_spec_of_every_operation(writable_url: str) -> None:
    """KeyGate answers before any route: a 401 when reads need a key and none is sent, a 429
    once a key is over its rate limit. Both are documented on every operation."""
    keyed = create_app(
        settings_for(writable_url, api_keys=KEY, rate_limit_per_s=0.001, rate_limit_burst=1)
    )
    closed = create_app(settings_for(writable_url, api_keys=KEY, read_requires_key=True))
    answered: Counter[int] = Counter()
    # Every request of the first run carries the key; none of the second does.
    call_each(keyed_schema(keyed, None), {"X-API-Key": KEY}, answered)
    call_each(keyed_schema(closed, None), {}, answered)
    # The first keyed request spends the burst; then every request is a 429. Reads of the
    # probes and the docs stay open without a key; every other operation is a 401.
    assert answered[429] >= 30 and answered[401] >= 20
