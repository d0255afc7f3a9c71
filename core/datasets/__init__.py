"""Datasets declared in one place: a module of this package holding a `RestSnapshot`, a
`GraphQLSnapshot` or a `DailyCsvFeed` is all it takes to add a dataset
(docs/adding-a-dataset.md).

A declaration is pure data, so both sides read it: the Dagster code location builds the raw
asset, the table, their checks, the lake table, the jobs and the `records` rows from
`DATASETS`, and the serving API lists and serves the table because its contract joins
`core.contracts.CONTRACTS`.

`DATASETS` is filled by importing every module of this package (sorted by name) and keeping
the declarations found at their top level. The package also spans a `core/datasets/` folder of
any other directory on the Python path, so a dataset can be declared outside this repository as
well.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from core.contracts.datasets import CONTRACTS, FETCHED_AT
from core.contracts.schema import ColumnType, Contract


def _folders(here: list[str]) -> list[str]:
    """This package's folder, then every other `core/datasets/` folder on the Python path."""
    found = [os.path.abspath(os.path.join(entry, *__name__.split("."))) for entry in sys.path]
    mine = {os.path.abspath(folder) for folder in here}
    return here + [f for f in dict.fromkeys(found) if f not in mine and os.path.isdir(f)]


__path__ = _folders(__path__)

# A contract column's type as the source's JSON spells it (dates and timestamps come as text; a
# `json` column holds an array, since an object is mapped field by field with dotted paths).
JSON_TYPES: dict[ColumnType, str] = {
    "string": "string",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "date": "string",
    "timestamp": "string",
    "json": "array",
}


# The REST source's asset group: `rest_api_job` and its daily schedule run it.
REST_GROUP = "rest_api"
# The GraphQL source's asset group; each of its datasets has a job and a daily schedule.
GRAPHQL_GROUP = "graphql_api"
# The daily CSV feeds' asset group; each feed has a job, a daily schedule and a drop sensor.
CSV_GROUP = "csv_feeds"


@dataclass(frozen=True)
class Records:
    """How a dataset's rows appear in the unified `records` table: the column giving each
    record's `name` (required), and those giving its `value` and `description` (optional).
    `source` is the dataset's name, `source_id` its key, `created_at` the snapshot's time (a
    CSV feed's: the start of the drop's day)."""

    name: str
    value: str | None = None
    description: str | None = None

    @property
    def columns(self) -> dict[str, str | None]:
        return {"name": self.name, "value": self.value, "description": self.description}


class Dataset:
    """What every declaration has: `contract`, the table's schema, whose name is the dataset's;
    `records`, the rows' mapping into the unified `records` table, or None; `group`, the
    Dagster asset group."""

    contract: Contract
    records: Records | None
    group: str

    @property
    def name(self) -> str:
        return self.contract.name

    def _validate_dataset(self) -> None:
        name = self.name
        if not (name.isidentifier() and name.islower()):
            raise ValueError(f"{name!r}: a dataset's name is a lower-case identifier")
        if self.records is not None:
            unknown = {c for c in self.records.columns.values() if c} - set(
                self.contract.column_names
            )
            if unknown:
                raise ValueError(f"{name}: records names unknown columns {sorted(unknown)}")
            if self.contract.column(self.records.name).nullable:
                raise ValueError(f"{name}: records.name {self.records.name!r} must be required")


class Snapshot(Dataset):
    """What a snapshot declaration of either source has: `contract` (the table's schema, whose
    name is the dataset's; among its columns `FETCHED_AT` from `core.contracts.datasets`, the
    snapshot's time, which the asset fills), `fields` (each other column and the path of its
    value in a source record, dotted for nested objects), `extra_fields` (fields the source
    sends that the table does not keep, path: JSON type, so the schema-drift check does not
    report them as added), `records` (the rows' mapping into the unified `records` table, or
    None) and `group` (the Dagster asset group)."""

    contract: Contract
    fields: Mapping[str, str]
    extra_fields: Mapping[str, str]
    records: Records | None
    group: str

    def _validate(self) -> None:
        self._validate_dataset()
        name, columns = self.contract.name, self.contract.column_names
        if FETCHED_AT not in self.contract.columns:
            raise ValueError(f"{name}: the contract needs the column `FETCHED_AT`")
        expected = set(columns) - {FETCHED_AT.name}
        if set(self.fields) != expected:
            raise ValueError(
                f"{name}: fields must map exactly the contract's columns but fetched_at: "
                f"missing {sorted(expected - set(self.fields))}, "
                f"unknown {sorted(set(self.fields) - expected)}"
            )

    def flatten(self, record: Mapping[str, object]) -> dict[str, object]:
        """A source record as the table's row (without `fetched_at`): each column from its
        path, None where the record lacks it (the contract then decides)."""
        return {column: lookup(record, path) for column, path in self.fields.items()}

    @property
    def raw_schema(self) -> dict[str, str]:
        """The expected shape of a source record (paths and JSON types), for drift detection."""
        mapped = {path: JSON_TYPES[self.contract.column(c).type] for c, path in self.fields.items()}
        return mapped | dict(self.extra_fields)


@dataclass(frozen=True)
class RestSnapshot(Snapshot):
    """A REST collection snapshotted daily into a table of its own (see `Snapshot` for the
    common fields). `path` is the collection on the REST source (`REST_API_URL`), e.g.
    `/todos`, read page by page. The default group, `rest_api`, is what `rest_api_job` and its
    daily schedule run."""

    contract: Contract
    path: str
    fields: Mapping[str, str]
    extra_fields: Mapping[str, str] = field(default_factory=dict)
    records: Records | None = None
    group: str = REST_GROUP

    def __post_init__(self) -> None:
        self._validate()
        if not self.path.startswith("/"):
            raise ValueError(f"{self.name}: path {self.path!r} must start with '/'")


@dataclass(frozen=True)
class GraphQLSnapshot(Snapshot):
    """A GraphQL query's list snapshotted daily into a table of its own (see `Snapshot` for the
    common fields), run by its job `<name>_job` and the schedule `daily_<name>_snapshot`.

    - `query`: the document sent to the GraphQL source (`GRAPHQL_API_URL`).
    - `root`: the path in the answer's `data` of the list of records (`countries`).
    - `partition_variable` and `partition_keys`: with both, the table has one Dagster partition
      per key, on the contract's `partition_column`: the query runs once per key with that
      variable set to it, a write replaces exactly that key's rows, and a record whose column
      holds another key is rejected. Without them, one query fills the whole table.
    """

    contract: Contract
    query: str
    root: str
    fields: Mapping[str, str]
    partition_variable: str | None = None
    partition_keys: tuple[str, ...] = ()
    extra_fields: Mapping[str, str] = field(default_factory=dict)
    records: Records | None = None
    group: str = GRAPHQL_GROUP

    def __post_init__(self) -> None:
        self._validate()
        partitioned = self.partition_variable is not None
        if partitioned != bool(self.partition_keys):
            raise ValueError(f"{self.name}: give both partition_variable and partition_keys")
        if partitioned != (self.contract.partition_column is not None):
            raise ValueError(
                f"{self.name}: partitions need the contract's partition_column, and it them"
            )
        if partitioned and f"${self.partition_variable}" not in self.query:
            raise ValueError(f"{self.name}: the query never uses ${self.partition_variable}")

    @property
    def partitioned(self) -> bool:
        return self.partition_variable is not None


@dataclass(frozen=True)
class DailyCsvFeed(Dataset):
    """A CSV file dropped every day into the landing area (`LANDING_DIR`), as
    `<folder>/<folder>_YYYY-MM-DD.csv`, cleaned into a table with one partition per day. It gets
    the assets `raw_<name>` (the drop copied as received) and `<name>`, the job `<name>_job`,
    the schedule `daily_<name>` (yesterday's day at 02:00 UTC) and the sensor
    `<name>_drop_sensor` (a new or changed drop runs its day).

    - `contract`: the table; its `partition_column` is a `date` column, the drop's day.
    - `folder`: the landing sub-folder, also the files' prefix.
    - `columns`: each column of the contract and the header of the drop's column it comes from;
      the partition column may be left out (it is then the drop's day; mapped, a row of
      another day is rejected).

    A row is trimmed, an empty field is null, and each value is converted to its column's type;
    a row that breaks the contract, repeats a key already seen that day, or does not have the
    header's number of fields goes to `api_rejects` (scope `<name>/<day>`) with its reason.
    """

    contract: Contract
    folder: str
    columns: Mapping[str, str]
    records: Records | None = None
    group: str = CSV_GROUP

    def __post_init__(self) -> None:
        self._validate_dataset()
        name, day = self.name, self.contract.partition_column
        if day is None or self.contract.column(day).type != "date":
            raise ValueError(f"{name}: the contract's partition_column must be a date column")
        if not (self.folder.isidentifier() and self.folder.islower()):
            raise ValueError(f"{name}: folder {self.folder!r} must be a lower-case identifier")
        expected = set(self.contract.column_names)
        missing = expected - {day} - set(self.columns)
        unknown = set(self.columns) - expected
        if missing or unknown:
            raise ValueError(
                f"{name}: columns must map every column of the contract (the partition column "
                f"may be left out): missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        if json_columns := [c.name for c in self.contract.columns if c.type == "json"]:
            raise ValueError(f"{name}: a CSV feed has no json columns: {json_columns}")

    @property
    def headers(self) -> list[str]:
        """The columns a drop's header line names, in the declaration's order."""
        return list(self.columns.values())


def lookup(record: Mapping[str, object], path: str) -> object:
    """The value at a dotted `path` of a JSON record; None if any step is missing."""
    value: object = record
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def declarations(modules: Iterable[object]) -> tuple[Dataset, ...]:
    """The declarations at the top level of `modules`, in order; a name declared twice, or
    taken by another contract, fails."""
    found: dict[str, Dataset] = {}
    for module in modules:
        for value in vars(module).values():
            if not isinstance(value, Dataset) or found.get(value.name) is value:
                continue
            if value.name in found or value.name in CONTRACTS:
                raise ValueError(f"dataset {value.name!r} is declared twice, or clashes")
            found[value.name] = value
    return tuple(found.values())


def _modules() -> list[object]:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg)
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


DATASETS: tuple[Dataset, ...] = declarations(_modules())
SNAPSHOTS = tuple(s for s in DATASETS if isinstance(s, Snapshot))
FEEDS = tuple(s for s in DATASETS if isinstance(s, DailyCsvFeed))
GRAPHQL_SNAPSHOTS = tuple(s for s in SNAPSHOTS if isinstance(s, GraphQLSnapshot))
# The declared tables join every other contract: DDL, `/tables` and `/tables/{name}` follow.
# They are listed with the sources' tables, after `users` and before the platform's own.
_platform = dict(CONTRACTS)
CONTRACTS.clear()
CONTRACTS.update({"users": _platform.pop("users")} | {d.name: d.contract for d in DATASETS})
CONTRACTS.update(_platform)
del _platform
# The datasets with rows in `records`: `/data?source=` accepts them.
RECORD_SOURCES = tuple(s.name for s in DATASETS if s.records is not None)
