"""The expected shape of each raw payload, and the drift of what arrived from it.

Paths are dotted (`address.geo.lat`); types are JSON's: string, int, float, bool, object,
array. A null is compatible with any type, and an int where a float is expected is no drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RAW_SCHEMAS: dict[str, dict[str, str]] = {
    "raw_users": {
        "id": "int",
        "name": "string",
        "username": "string",
        "email": "string",
        "address.street": "string",
        "address.suite": "string",
        "address.city": "string",
        "address.zipcode": "string",
        "address.geo.lat": "string",
        "address.geo.lng": "string",
        "phone": "string",
        "website": "string",
        "company.name": "string",
        "company.catchPhrase": "string",
        "company.bs": "string",
    },
}


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def _paths(record: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _paths(value, f"{path}.")
        else:
            yield path, json_type(value)


@dataclass
class Drift:
    """How the observed payload differs from the expected schema."""

    added: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    retyped: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return bool(self.added or self.missing or self.retyped)

    def as_metadata(self) -> dict[str, Any]:
        return {"added": self.added, "missing": self.missing, "retyped": self.retyped}


def schema_drift(expected: Mapping[str, str], records: Iterable[Mapping[str, Any]]) -> Drift:
    """Compare the fields and types seen across `records` with `expected`."""
    seen: dict[str, set[str]] = {}
    for record in records:
        for path, kind in _paths(record):
            seen.setdefault(path, set()).add(kind)
    drift = Drift()
    for path, kinds in sorted(seen.items()):
        if path not in expected:
            drift.added[path] = sorted(kinds)
            continue
        allowed = {expected[path], "null"} | ({"int"} if expected[path] == "float" else set())
        if kinds - allowed:
            drift.retyped[path] = {"expected": expected[path], "seen": sorted(kinds - allowed)}
    drift.missing = sorted(set(expected) - set(seen))
    return drift
