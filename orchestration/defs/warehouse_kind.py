"""The warehouse engine's name, for the kind tags the UI shows on warehouse assets."""

from __future__ import annotations

import os

WAREHOUSE_KIND = (
    "postgres" if os.environ.get("WAREHOUSE_URL", "").startswith("postgres") else "sqlite"
)
