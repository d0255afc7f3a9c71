"""The layers: the serving API and the Dagster code location share only `core`, and the API
runs without Dagster (import-linter checks the imports in `make test`; this checks what an
import of the app really loads)."""

import json
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
