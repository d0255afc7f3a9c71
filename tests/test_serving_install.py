"""The serving API installs without Dagster: pip resolves the install the API's image makes (the
Dockerfile's `serving` stage: its files, `pip install .`) against the package index this machine's
pip is configured with, without installing anything, and the resolved set holds no Dagster, no
lake writer and no DuckDB."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_ONLY = re.compile(r"dagster.*|deltalake|duckdb.*")


def serving_stage() -> list[str]:
    """The lines of the Dockerfile's `serving` stage."""
    text = (ROOT / "Dockerfile").read_text()
    stage = re.search(r"^FROM \S+ AS serving$(.*?)(?=^FROM |\Z)", text, flags=re.M | re.S)
    assert stage, "the Dockerfile has no `serving` stage"
    return stage.group(1).splitlines()


def resolved(context: Path, target: str) -> set[str]:
    """The distributions `pip install <target>` would install in an empty environment."""
    report = context / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", str(report), target],
        cwd=context, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    install = json.loads(report.read_text())["install"]
    return {re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower() for item in install}


def test_the_serving_image_resolves_without_dagster_the_lake_or_duckdb(tmp_path):
    context = tmp_path / "app"
    context.mkdir()
    for line in serving_stage():
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                path = ROOT / source
                if path.is_dir():
                    shutil.copytree(
                        path, context / source, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy(path, context / source)
    [install] = [line for line in serving_stage() if "pip install" in line]
    target = install.split()[-1]

    names = resolved(context, target)

    # What the API runs on is there, so the resolution is the real one...
    assert {"dataplatform", "fastapi", "uvicorn", "psycopg", "pydantic-settings"} <= names
    # ...and the platform's half is not.
    assert not {n for n in names if PLATFORM_ONLY.fullmatch(n)}, sorted(names)
    assert "orchestration" not in {p.name for p in context.iterdir()}


def test_the_platform_extra_brings_dagster_the_lake_and_duckdb(tmp_path):
    """What makes the test above able to fail: the same resolution with the `platform` extra."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    names = resolved(tmp_path, ".[platform]")
    assert {"dagster", "deltalake", "duckdb"} <= names
