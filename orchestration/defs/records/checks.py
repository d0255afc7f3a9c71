"""Checks on the unified records."""

from orchestration.contracts.datasets import RECORDS
from orchestration.defs.quality import key_unique_check, not_null_check

records_key_unique = key_unique_check(RECORDS)
records_not_null = not_null_check(RECORDS)
