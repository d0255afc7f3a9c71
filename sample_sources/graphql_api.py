"""Offline GraphQL API shaped like the public countries API (countries.trevorblades.com).

A real graphql-core engine (``build_schema`` + resolvers) over the committed
``countries.json`` fixture. Served at ``POST /graphql`` (JSON ``{query, variables,
operationName}``) and ``GET /graphql?query=...&variables=<json>&operationName=...``.

HTTP status conventions (as Apollo-style servers do):

* 200 with ``{"data": ...}`` (plus ``"errors"`` if a resolver failed) once execution ran;
* 400 with ``{"errors": [...]}`` when the request cannot be executed at all: body not JSON,
  ``query`` missing, GraphQL syntax error, or a query that fails schema validation.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute_sync,
    graphql_sync,
    parse,
    validate,
)

FIXTURE_PATH = Path(__file__).with_name("countries.json")

SDL = """
type Query {
  countries(filter: CountryFilterInput): [Country!]!
  country(code: ID!): Country
  continents(filter: ContinentFilterInput): [Continent!]!
  continent(code: ID!): Continent
  languages: [Language!]!
}

type Country {
  code: ID!
  name: String!
  native: String!
  capital: String
  currency: String
  emoji: String!
  continent: Continent!
  languages: [Language!]!
}

type Continent {
  code: ID!
  name: String!
  countries: [Country!]!
}

type Language {
  code: ID!
  name: String!
}

input StringQueryOperatorInput {
  eq: String
  ne: String
  in: [String!]
  nin: [String!]
  regex: String
}

input CountryFilterInput {
  code: StringQueryOperatorInput
  continent: StringQueryOperatorInput
  currency: StringQueryOperatorInput
  name: StringQueryOperatorInput
}

input ContinentFilterInput {
  code: StringQueryOperatorInput
}
"""


class CountryData:
    """The fixture, indexed for resolvers. Country dicts carry their continent's code."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.countries: list[dict[str, Any]] = raw["countries"]
        self.continents: list[dict[str, Any]] = raw["continents"]
        self.country_by_code = {c["code"]: c for c in self.countries}
        self.continent_by_code = {c["code"]: c for c in self.continents}
        languages: dict[str, dict[str, str]] = {}
        for country in self.countries:
            for language in country["languages"]:
                languages.setdefault(language["code"], language)
        self.languages = sorted(languages.values(), key=lambda lang: lang["code"])

    def countries_of(self, continent_code: str) -> list[dict[str, Any]]:
        """Countries on one continent, sorted by code."""
        return [c for c in self.countries if c["continent"]["code"] == continent_code]


@lru_cache(maxsize=1)
def load_data(path: Path = FIXTURE_PATH) -> CountryData:
    """Read and index the countries fixture (cached)."""
    return CountryData(json.loads(path.read_text(encoding="utf-8")))


def matches(value: str | None, operators: dict[str, Any] | None) -> bool:
    """Evaluate a ``StringQueryOperatorInput`` against one value (all operators must hold).

    Raises:
        GraphQLError: if ``regex`` is not a valid regular expression.
    """
    if not operators:
        return True
    if "eq" in operators and operators["eq"] is not None and value != operators["eq"]:
        return False
    if "ne" in operators and operators["ne"] is not None and value == operators["ne"]:
        return False
    if operators.get("in") is not None and value not in operators["in"]:
        return False
    if operators.get("nin") is not None and value in operators["nin"]:
        return False
    pattern = operators.get("regex")
    if pattern is not None:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise GraphQLError(f"Invalid regex {pattern!r}: {exc}") from None
        if value is None or not compiled.search(value):
            return False
    return True


def _resolve_countries(_root: Any, _info: Any, filter: dict[str, Any] | None = None) -> list:
    data = load_data()
    filter = filter or {}
    return [
        country
        for country in data.countries
        if matches(country["code"], filter.get("code"))
        and matches(country["continent"]["code"], filter.get("continent"))
        and matches(country["currency"], filter.get("currency"))
        and matches(country["name"], filter.get("name"))
    ]


def _resolve_country(_root: Any, _info: Any, code: str) -> dict[str, Any] | None:
    return load_data().country_by_code.get(code.upper())


def _resolve_continents(_root: Any, _info: Any, filter: dict[str, Any] | None = None) -> list:
    operators = (filter or {}).get("code")
    return [c for c in load_data().continents if matches(c["code"], operators)]


def _resolve_continent(_root: Any, _info: Any, code: str) -> dict[str, Any] | None:
    return load_data().continent_by_code.get(code.upper())


def _resolve_languages(_root: Any, _info: Any) -> list[dict[str, str]]:
    return load_data().languages


def _resolve_continent_countries(continent: dict[str, Any], _info: Any) -> list:
    return load_data().countries_of(continent["code"])


@lru_cache(maxsize=1)
def get_schema() -> GraphQLSchema:
    """Build the executable schema: SDL plus resolvers attached to its fields."""
    schema = build_schema(SDL)
    query_fields = schema.query_type.fields  # type: ignore[union-attr]
    query_fields["countries"].resolve = _resolve_countries
    query_fields["country"].resolve = _resolve_country
    query_fields["continents"].resolve = _resolve_continents
    query_fields["continent"].resolve = _resolve_continent
    query_fields["languages"].resolve = _resolve_languages
    continent_type = schema.get_type("Continent")
    continent_type.fields["countries"].resolve = _resolve_continent_countries  # type: ignore[union-attr]
    return schema


def run_query(
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> ExecutionResult:
    """Execute a query in-process (no HTTP) with ``graphql_sync``."""
    return graphql_sync(
        get_schema(), query, variable_values=variables, operation_name=operation_name
    )


def _errors(status: int, *messages: str | GraphQLError) -> JSONResponse:
    errors = [m.formatted if isinstance(m, GraphQLError) else {"message": m} for m in messages]
    return JSONResponse({"errors": errors}, status_code=status)


def handle_request(query: Any, variables: Any = None, operation_name: Any = None) -> JSONResponse:
    """Validate and execute one GraphQL-over-HTTP request, choosing the HTTP status."""
    if not isinstance(query, str) or not query.strip():
        return _errors(400, "Must provide a query string.")
    if isinstance(variables, str):
        try:
            variables = json.loads(variables) if variables else None
        except json.JSONDecodeError:
            return _errors(400, "Variables are invalid JSON.")
    if variables is not None and not isinstance(variables, dict):
        return _errors(400, "Variables must be a JSON object.")
    if operation_name is not None and not isinstance(operation_name, str):
        return _errors(400, "operationName must be a string.")
    schema = get_schema()
    try:
        document = parse(query)
    except GraphQLError as exc:
        return _errors(400, exc)
    validation_errors = validate(schema, document)
    if validation_errors:
        return _errors(400, *validation_errors)
    result = execute_sync(
        schema, document, variable_values=variables, operation_name=operation_name
    )
    return JSONResponse(result.formatted, status_code=200)


def create_router() -> APIRouter:
    """Build the ``/graphql`` routes."""
    router = APIRouter(tags=["graphql"])

    @router.post("/graphql")
    async def graphql_post(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _errors(400, "POST body must be JSON.")
        if not isinstance(body, dict):
            return _errors(400, "POST body must be a JSON object.")
        return handle_request(body.get("query"), body.get("variables"), body.get("operationName"))

    @router.get("/graphql")
    def graphql_get(request: Request) -> JSONResponse:
        params = request.query_params
        return handle_request(
            params.get("query"), params.get("variables"), params.get("operationName")
        )

    return router
