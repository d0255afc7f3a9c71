"""Storage resources: the warehouse and the lake."""

from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from core.warehouse import DEFAULT_WAREHOUSE_URL, Warehouse, open_warehouse
from orchestration.storage.delta import DeltaLake
from orchestration.storage.lake import DEFAULT_LAKE_URL, Lake


class WarehouseResource(ConfigurableResource):
    """The warehouse: `sqlite:///path.db` (embedded default) or `postgresql://...`."""

    url: str = Field(default=DEFAULT_WAREHOUSE_URL, description="WAREHOUSE_URL")
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._run_id = context.run.run_id if context.run else None

    def get(self) -> Warehouse:
        """The warehouse; its writes are recorded in `partition_ledger` with the current run."""
        return open_warehouse(self.url, self._run_id)


class LakeResource(ConfigurableResource):
    """The lake: a local folder (embedded default) or `s3://bucket/prefix`."""

    url: str = Field(default=DEFAULT_LAKE_URL, description="LAKE_URL")
    s3_endpoint: str | None = Field(default=None, description="S3_ENDPOINT_URL")

    def get(self) -> Lake:
        return Lake(self.url, self.s3_endpoint)

    def tables(self) -> DeltaLake:
        """The lake's Delta tables, under `<url>/delta/<name>`."""
        return DeltaLake(self.url, self.s3_endpoint)
