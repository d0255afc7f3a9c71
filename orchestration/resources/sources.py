"""Source resources: the REST API, the GraphQL API and the CSV landing area."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow.fs as pafs
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from orchestration.resources.http import HttpClient, SourceError
from orchestration.storage.lake import filesystem_for

DEFAULT_REST_URL = "http://127.0.0.1:8100"
DEFAULT_GRAPHQL_URL = "http://127.0.0.1:8100/graphql"
DEFAULT_LANDING_DIR = "data/landing"


class HttpSourceResource(ConfigurableResource):
    """Connection settings shared by the HTTP sources."""

    base_url: str
    timeout_s: float = Field(default=10.0, description="Per-request timeout.")
    max_retries: int = Field(default=4, description="Retries on connect errors, 429 and 5xx.")
    backoff_base_s: float = Field(default=0.25, description="First backoff; doubles per retry.")
    backoff_max_s: float = 10.0
    rate_limit_per_s: float = Field(default=20.0, description="Requests per second; 0: no limit.")
    token: str | None = Field(default=None, description="Bearer token; set it through an EnvVar.")

    def client(self, source: str) -> HttpClient:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return HttpClient(
            source,
            self.base_url,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=self.backoff_max_s,
            rate_limit_per_s=self.rate_limit_per_s,
            headers=headers,
            logger=get_dagster_logger(),
        )


class RestApiResource(HttpSourceResource):
    """A JSONPlaceholder-shaped REST API, read page by page with `_start`/`_limit`."""

    base_url: str = DEFAULT_REST_URL
    page_size: int = Field(default=100, gt=0)
    max_pages: int = Field(default=10_000, gt=0, description="Guards against endless paging.")

    def fetch_all(self, path: str) -> list[dict[str, Any]]:
        """Every record of a collection, in the order the API returns them."""
        records: list[dict[str, Any]] = []
        with self.client("REST API") as http:
            for _ in range(self.max_pages):
                params = {"_start": len(records), "_limit": self.page_size}
                page, response = http.request_json("GET", path, params=params)
                if not isinstance(page, list):
                    raise SourceError(
                        f"REST API: GET {response.url} returned {type(page).__name__}, not a list"
                    )
                records.extend(page)
                if len(page) < self.page_size:
                    return records
        raise SourceError(f"REST API: {path} has more than {self.max_pages} pages")


class GraphQLResource(HttpSourceResource):
    """A GraphQL endpoint; an `errors` answer fails the request with the errors' messages."""

    base_url: str = DEFAULT_GRAPHQL_URL

    def query(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Execute a query and return its `data`."""
        with self.client("GraphQL API") as http:
            body, response = http.request_json(
                "POST", self.base_url, json={"query": document, "variables": variables or {}}
            )
        if not isinstance(body, dict):
            raise SourceError(f"GraphQL API: {response.url} returned a non-object body")
        if body.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in body["errors"])
            raise SourceError(f"GraphQL API: {response.url} answered errors: {messages}")
        if not isinstance(body.get("data"), dict):
            raise SourceError(f"GraphQL API: {response.url} answered no data")
        return body["data"]


def drop_name(folder: str) -> re.Pattern[str]:
    """A day's file in the landing folder `folder`: `<folder>_YYYY-MM-DD.csv`."""
    return re.compile(rf"^{re.escape(folder)}_(\d{{4}}-\d{{2}}-\d{{2}})\.csv$")


@dataclass(frozen=True)
class Drop:
    """One daily CSV file in the landing area."""

    day: str
    path: str
    size: int
    mtime_ns: int


class CsvLandingResource(ConfigurableResource):
    """Where the daily CSV files land: `<location>/<folder>/<folder>_YYYY-MM-DD.csv`, the sales
    drops in `sales/` and each declared feed's in its own folder.

    `location` is a folder or an `s3://bucket/prefix` (with `s3_endpoint` for S3-compatible
    servers); both are read through pyarrow's filesystems.
    """

    location: str = DEFAULT_LANDING_DIR
    s3_endpoint: str | None = None

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        return filesystem_for(self.location, self.s3_endpoint)

    def drops(self, folder: str = "sales") -> dict[str, Drop]:
        """Every drop in the landing folder `folder`, by day."""
        fs, root = self.filesystem()
        selector = pafs.FileSelector(f"{root}/{folder}", allow_not_found=True)
        pattern, found = drop_name(folder), {}
        for info in fs.get_file_info(selector):
            match = pattern.match(info.base_name)
            if match and info.type == pafs.FileType.File:
                day = match.group(1)
                try:
                    date.fromisoformat(day)
                except ValueError:
                    get_dagster_logger().warning(f"ignoring {info.path}: no such day {day}")
                    continue
                found[day] = Drop(day, info.path, info.size or 0, info.mtime_ns or 0)
        return dict(sorted(found.items()))
