"""Statements with named binds, compiled to one engine's placeholders.

A statement names its parameters (`WHERE source = :source AND hour IN :hours`) and takes them as
a mapping; a list or tuple value expands to an `IN` list. SQLAlchemy Core's `text()` compiles it
for the engine (`?` on SQLite, `%s` on PostgreSQL, `%` doubled there), so no caller formats a
placeholder. The compiled text and the order of its parameters are cached per statement and
list lengths: a statement run per partition is compiled once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from core.sql import Dialect, quote

# Compilers only (no driver is loaded): qmark on SQLite, positional `%s` for psycopg.
_COMPILERS = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.psycopg.dialect(paramstyle="format"),
}


@dataclass(frozen=True)
class Slot:
    """Where a positional placeholder takes its value: `params[name]`, or `params[name][index]`
    for an item of an expanded list."""

    name: str
    index: int | None = None


@dataclass(frozen=True)
class Compiled:
    """A statement in one engine's placeholders, and the value each placeholder takes."""

    sql: str
    slots: tuple[Slot, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional parameters for `params` (named as in the statement)."""
        return [params[s.name] if s.index is None else params[s.name][s.index] for s in self.slots]


def compile_statement(
    dialect: Dialect, sql: str, params: Mapping[str, Any] | None = None
) -> Compiled:
    """`sql` with its `:name` binds in `dialect`'s placeholders; a list or tuple in `params`
    becomes a parenthesized list of as many placeholders (`IN :keys`), and must not be empty.
    Parameters the statement does not name are left out, so statements built from parts can
    share one mapping."""
    shape = []
    for name, value in (params or {}).items():
        if isinstance(value, list | tuple):
            if not value:
                # `IN ()` is no SQL; a condition on no values is the caller's to leave out.
                raise ValueError(f"empty list for :{name}")
            shape.append((name, len(value)))
        else:
            shape.append((name, None))
    return _compile(dialect.engine, sql, tuple(sorted(shape)))


def bind(dialect: Dialect, sql: str, params: Mapping[str, Any] | None = None) -> tuple[str, list]:
    """The statement text and positional parameters to hand the engine's driver."""
    compiled = compile_statement(dialect, sql, params)
    return compiled.sql, compiled.args(params or {})


@lru_cache(maxsize=1024)
def _compile(engine: str, sql: str, shape: tuple[tuple[str, int | None], ...]) -> Compiled:
    clause = sa.text(sql)
    named = set(clause.compile().params)
    # Each bind's value is its Slot, so the compiled parameters say which value goes where;
    # NullType keeps SQLAlchemy from typing (and casting) them.
    binds = [
        sa.bindparam(name, Slot(name), type_=sa.types.NullType())
        if n is None
        else sa.bindparam(
            name, [Slot(name, i) for i in range(n)], type_=sa.types.NullType(), expanding=True
        )
        for name, n in shape
        if name in named
    ]
    compiled = clause.bindparams(*binds).compile(
        dialect=_COMPILERS[engine], compile_kwargs={"render_postcompile": True}
    )
    return Compiled(compiled.string, tuple(compiled.params[n] for n in compiled.positiontup or ()))


def where_equal(where: Mapping[str, Any], prefix: str = "where") -> tuple[str, dict[str, Any]]:
    """`{column: value}` (a list of values for `IN`) as a condition with named binds
    (`prefix_0`, ...) and its parameters; no columns is every row."""
    parts, params = [], {}
    for i, (column, value) in enumerate(where.items()):
        name = f"{prefix}_{i}"
        op = "IN" if isinstance(value, list | tuple) else "="
        parts.append(f"{quote(column)} {op} :{name}")
        params[name] = value
    return " AND ".join(parts) or "1 = 1", params
