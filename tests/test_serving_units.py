"""The serving package without a database: models against contracts, the Dagster boundary,
cursors, typed filter values and settings."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.contracts import CONTRACTS
from serving.core.config import Settings
from serving.core.errors import ApiError
from serving.query import (
    decode_cursor,
    encode_cursor,
    parse_filter,
    parse_sort,
    parse_value,
)
from serving.schemas import PYTHON_TYPES, cursor_page_model, offset_page_model, row_model


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_response_models_agree_with_the_contracts(name: str) -> None:
    contract = CONTRACTS[name]
    model = row_model(name)
    assert list(model.model_fields) == contract.column_names
    for col in contract.columns:
        field = model.model_fields[col.name]
        assert field.is_required() is (not col.nullable), col.name
        expected = PYTHON_TYPES[col.type]
        if col.nullable and expected is not typing.Any:
            assert field.annotation == expected | None, col.name
        else:
            assert field.annotation == expected, col.name
        assert field.description == (col.description or None), col.name
    schema = model.model_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema.get("required", [])) == {c.name for c in contract.columns if not c.nullable}
    for envelope in (cursor_page_model(name), offset_page_model(name)):
        item = envelope.model_fields["data"].annotation
        assert typing.get_args(item) == (model,)


def test_models_reject_rows_that_break_the_contract() -> None:
    model = row_model("sales_orders")
    good = {
        "order_id": "o1",
        "customer_id": "c1",
        "product": "Mug",
        "quantity": 2,
        "price": 6.25,
        "order_date": "2024-03-01",
    }
    assert model.model_validate(good).order_date == dt.date(2024, 3, 1)
    for bad in ({**good, "quantity": None}, {**good, "extra": 1}, {**good, "order_date": "x"}):
        with pytest.raises(ValidationError):
            model.model_validate(bad)


def test_importing_the_app_loads_no_dagster() -> None:
    code = (
        "import sys, serving.app, serving.__main__; "
        "bad = sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_openapi_reference_resolves_inside_the_document(tmp_path: Path) -> None:
    from serving.app import create_app

    spec = create_app(Settings(warehouse_url=f"sqlite:///{tmp_path / 'w.db'}")).openapi()
    text = json.dumps(spec)
    refs = set(re.findall(r'"\$ref": "([^"]+)"', text))
    assert "#/components/schemas/ErrorEnvelope" in refs
    for ref in refs:
        node = spec
        for part in ref.removeprefix("#/").split("/"):
            assert part in node, f"{ref} does not resolve"
            node = node[part]
    body = spec["paths"]["/ingest/logs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["items"]["properties"]["severity"]
    assert "$defs" not in text


def test_cursors_are_signed() -> None:
    key = b"secret"
    token = encode_cursor(key, {"t": "users", "v": [1]})
    assert decode_cursor(key, token) == {"t": "users", "v": [1]}
    body, mac = token.split(".")
    forged_body = encode_cursor(b"other", {"t": "users", "v": [2]}).split(".")[0]
    for forged in (f"{forged_body}.{mac}", f"{body}.{mac[:-1]}", token + "=", "x.y", "", "..."):
        with pytest.raises(ApiError) as err:
            decode_cursor(key, forged)
        assert err.value.status == 400
    with pytest.raises(ApiError):
        decode_cursor(b"other", token)


@pytest.mark.parametrize(
    ("col_type", "text", "value"),
    [
        ("int", " 42 ", 42),
        ("int", str(2**63 - 1), 2**63 - 1),
        ("float", "1.5e3", 1500.0),
        ("bool", "TRUE", True),
        ("bool", "0", False),
        ("date", "2024-02-29", dt.date(2024, 2, 29)),
        ("timestamp", "2024-03-01T02:00:00+02:00", dt.datetime(2024, 3, 1, tzinfo=dt.UTC)),
        ("timestamp", "2024-03-01", dt.datetime(2024, 3, 1, tzinfo=dt.UTC)),
        ("string", " spaced ", " spaced "),
    ],
)
def test_values_are_typed(col_type: str, text: str, value: object) -> None:
    from core.contracts import Column

    assert parse_value(Column("c", col_type), text) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("col_type", "text"),
    [
        ("int", str(2**63)),
        ("int", "1.5"),
        ("float", "nan"),
        ("float", "inf"),
        ("bool", "maybe"),
        ("date", "2024-02-30"),
        ("date", "20240301"),
        ("timestamp", "yesterday"),
        ("string", "a\x00b"),
        ("string", "x" * 1001),
    ],
)
def test_bad_values_are_400(col_type: str, text: str) -> None:
    from core.contracts import Column

    with pytest.raises(ApiError) as err:
        parse_value(Column("c", col_type), text)  # type: ignore[arg-type]
    assert err.value.status == 400


def test_filters_and_sorts_only_name_contract_columns() -> None:
    users = CONTRACTS["users"]
    f = parse_filter(users, "id__in", "1,2,3")
    assert (f.column.name, f.op, f.value) == ("id", "in", (1, 2, 3))
    assert parse_filter(users, "phone__isnull", "true").value is True
    for name in ("nope", "id__like", "id;--", "id__contains"):
        with pytest.raises(ApiError):
            parse_filter(users, name, "1")
    order = parse_sort(users, "-lat")
    assert [(c.name, d) for c, d in order.terms] == [("lat", True), ("source", True), ("id", True)]
    assert [c.name for c, _ in parse_sort(CONTRACTS["sales_orders"], None).terms] == [
        "order_date",
        "order_id",
    ]
    with pytest.raises(ApiError):
        parse_sort(CONTRACTS["countries"], "languages")


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("SERVING_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("SERVING_API_KEYS", '["k1","k2"]')
    monkeypatch.setenv("SERVING_QUERY_TIMEOUT_MS", "750")
    monkeypatch.setenv("SERVING_PG_PREPARE_THRESHOLD", "None")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("LOGS_START_DATE", "2025-06-01-00:00")
    s = Settings()
    assert s.warehouse_url == "postgresql://u@h/db" and s.engine == "postgresql"
    assert s.pg_prepare_threshold is None and s.redis_url == "redis://cache:6379/0"
    assert s.logs_start_date == "2025-06-01-00:00"
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert s.api_keys == ["k1", "k2"] and s.query_timeout_ms == 750
    monkeypatch.delenv("WAREHOUSE_URL")
    monkeypatch.delenv("SERVING_CORS_ORIGINS")
    for name in ("SERVING_PG_PREPARE_THRESHOLD", "REDIS_URL", "LOGS_START_DATE"):
        monkeypatch.delenv(name)
    default = Settings(_env_file=None)
    assert default.warehouse_url == "sqlite:///data/warehouse.db"
    assert default.pg_prepare_threshold == 5 and default.redis_url is None
    assert default.cors_origins == [] and default.engine == "sqlite"
