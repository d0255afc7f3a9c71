"""Tables from the contracts: created with their indexes on first use, grown by the nullable
columns a contract adds, refused when they hold columns it does not declare."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from core.contracts import Contract, ContractError
from core.sql import quote
from core.warehouse.connection import Connections


class Tables(Connections):
    """The contracts' tables, checked once per warehouse object."""

    def __init__(self, url: str, run_id: str | None = None) -> None:
        super().__init__(url, run_id)
        self._ensured: set[str] = set()

    @abstractmethod
    def _existing_columns(self, conn: Any, table_name: str) -> list[str]: ...

    def _ddl_needed(self, conn: Any, contract: Contract) -> bool:
        """Whether the table or one of its indexes is missing (always checked by running the
        idempotent DDL, unless an engine can tell without taking locks)."""
        return True

    def _ensure(self, conn: Any, contract: Contract) -> None:
        if contract.name in self._ensured:
            return
        if self._ddl_needed(conn, contract):
            for stmt in self.dialect.create_statements(contract):
                conn.execute(stmt)
        existing = self._existing_columns(conn, contract.name)
        extra = [c for c in existing if c not in contract.column_names]
        if extra:
            raise ContractError(
                f"table {contract.name} has columns the contract does not declare: {extra}"
            )
        for col in contract.columns:
            if col.name not in existing:
                if not col.nullable:
                    raise ContractError(
                        f"table {contract.name} lacks required column {col.name}; migrate it first"
                    )
                conn.execute(
                    f"ALTER TABLE {quote(contract.name)} ADD COLUMN {self.dialect.column_ddl(col)}"
                )
        self._ensured.add(contract.name)

    def _forget_ddl(self) -> None:
        """After a rollback: a table the transaction created is gone, so check again."""
        self._ensured.clear()

    def ensure_table(self, contract: Contract) -> None:
        """Create the contract's table and indexes if they do not exist."""
        with self.transaction() as conn:
            self._ensure(conn, contract)

    def columns(self, table: str, conn: Any | None = None) -> list[str]:
        """The columns `table` has, in order; none if it does not exist."""
        with self._use(conn) as c:
            return self._existing_columns(c, table)

    def table_exists(self, name: str) -> bool:
        return bool(self.columns(name))
