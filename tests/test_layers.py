"""The layers: the serving API and the Dagster code location share only `core`, and the API
runs without Dagster (import-linter checks the imports in `make test`; this checks what an
import of the app really loads)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOADED = (
    "import json, sys, serving.app; "
    "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
)


def test_importing_the_api_loads_neither_dagster_nor_the_code_location():
    done = subprocess.run(
        [sys.executable, "-c", LOADED], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "serving" in loaded and "core" in loaded
    assert not loaded & {"dagster", "dagster_graphql", "dagster_postgres", "orchestration"}


SERVE_ON_SQLITE = """
import json, sys
from fastapi.testclient import TestClient
from serving.app import create_app

user = {"name": "Ada Lovelace", "email": "ada@example.org", "role": "analyst"}
with TestClient(create_app()) as client:
    pushed = client.post("/users", json=user, headers={"X-API-Key": "key"}).status_code
    tables = {t["name"]: t["rows"] for t in client.get("/tables").json()["data"]}
print(json.dumps({
    "pushed": pushed,
    "tables": tables,
    "loaded": sorted({m.split(".")[0] for m in sys.modules}),
}))
"""


def test_the_api_on_sqlite_serves_and_takes_pushes_without_pyarrow(tmp_path):
    env = dict(
        os.environ,
        WAREHOUSE_URL=f"sqlite:///{tmp_path / 'warehouse.db'}",
        SERVING_API_KEYS="key",
    )
    done = subprocess.run(
        [sys.executable, "-c", SERVE_ON_SQLITE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(done.stdout.splitlines()[-1])
    # The push created the landing table (its DDL from core.sql), and the API reads it back.
    assert answer["pushed"] == 201
    assert answer["tables"]["landing_users"] == 1, answer["tables"]
    assert not set(answer["loaded"]) & {"pyarrow", "dagster", "orchestration"}
