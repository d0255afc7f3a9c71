"""One declared schema per dataset: the single source for validation, DDL and drift detection."""

from core.contracts.datasets import CONTRACTS, contract_for
from core.contracts.schema import Column, ColumnType, Contract, ContractError

__all__ = ["CONTRACTS", "Column", "ColumnType", "Contract", "ContractError", "contract_for"]
