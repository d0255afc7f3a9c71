"""The contract types: a dataset's columns, key, partition column and their Arrow mapping."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pyarrow as pa

ColumnType = Literal["string", "int", "float", "bool", "date", "timestamp", "json"]


@cache
def arrow_types() -> dict[ColumnType, pa.DataType]:
    """Each column type's Arrow type. pyarrow is imported when a contract is first used with
    Arrow, not with the contracts: the serving API reads SQLite without it."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        # JSON documents travel as their text; the warehouse stores them as JSONB on Postgres.
        "json": pa.string(),
    }


class ContractError(ValueError):
    """Data does not satisfy its dataset's contract."""


INT64 = (-(2**63), 2**63 - 1)


def _to_int(v: Any) -> int:
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError
    value = int(v)
    if not INT64[0] <= value <= INT64[1]:
        raise ValueError(f"{value} does not fit in 64 bits")
    return value


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError
    return float(v)


def _to_string(v: Any) -> str:
    if not isinstance(v, str | int | float) or isinstance(v, bool):
        raise ValueError
    return str(v)


def _to_timestamp(v: Any) -> dt.datetime:
    value = v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(str(v))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _to_json(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, separators=(",", ":"))


COERCE: dict[ColumnType, Callable[[Any], Any]] = {
    "string": _to_string,
    "int": _to_int,
    "float": _to_float,
    "bool": lambda v: v if isinstance(v, bool) else {"true": True, "false": False}[str(v).lower()],
    "date": lambda v: v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)),
    "timestamp": _to_timestamp,
    "json": _to_json,
}


@dataclass(frozen=True)
class Column:
    """One column of a dataset: its name, logical type, nullability and meaning."""

    name: str
    type: ColumnType
    nullable: bool = True
    description: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        return arrow_types()[self.type]


@dataclass(frozen=True)
class Contract:
    """The declared schema of one dataset.

    `key` identifies a row; `partition_column` holds the partition key of partitioned datasets
    (a write replaces exactly the rows of its partitions); `unique` lists further unique column
    sets; `search` lists the columns the serving API indexes for full-text search.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition_column: str | None = None
    unique: tuple[tuple[str, ...], ...] = ()
    search: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = field(default=())

    def __post_init__(self) -> None:
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate column names")
        declared = {*self.key, *self.search, *(c for u in self.unique for c in u)}
        declared |= {c for ix in self.indexes for c in ix}
        if self.partition_column:
            declared.add(self.partition_column)
        unknown = declared - set(names)
        if unknown:
            raise ValueError(f"{self.name}: unknown columns {sorted(unknown)}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def arrow_schema(self) -> pa.Schema:
        import pyarrow as pa

        return pa.schema(
            [pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns]
        )

    def conform(self, table: pa.Table) -> pa.Table:
        """Return `table` with exactly the contract's columns, in order and cast to their types.

        Raises `ContractError` naming the columns that are missing, cannot be cast, or hold
        nulls where the contract forbids them.
        """
        import pyarrow as pa

        missing = [n for n in self.column_names if n not in table.column_names]
        if missing:
            raise ContractError(f"{self.name}: missing columns {missing}")
        arrays = []
        for col in self.columns:
            array = table.column(col.name)
            if array.type != col.arrow_type:
                try:
                    array = array.cast(col.arrow_type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise ContractError(
                        f"{self.name}.{col.name}: cannot cast {array.type} to {col.type}: {exc}"
                    ) from exc
            if not col.nullable and array.null_count:
                raise ContractError(
                    f"{self.name}.{col.name}: {array.null_count} null value(s) in a required column"
                )
            arrays.append(array)
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

    def coerce_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """Return `record` with the contract's columns coerced to their types.

        Raises `ContractError` naming the first field that is missing, null where required,
        or not convertible.
        """
        out = {}
        for col in self.columns:
            value = record.get(col.name)
            if value is None or (value == "" and col.type != "string"):
                if not col.nullable:
                    raise ContractError(f"{col.name}: required, got {value!r}")
                out[col.name] = None
                continue
            try:
                out[col.name] = COERCE[col.type](value)
            except (ValueError, TypeError, KeyError, OverflowError):
                raise ContractError(f"{col.name}: {value!r} is not a valid {col.type}") from None
        return out

    def empty(self) -> pa.Table:
        return self.arrow_schema.empty_table()
