"""The production topology's files: docker-compose.yml, the Dockerfile, the workspaces and the
production dagster.yaml. No Docker engine runs here, so their shape is checked instead."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PYTHON_SERVICES = ["code", "webserver", "daemon", "api", "sources"]


def test_the_services_of_the_topology():
    assert set(SERVICES) == {"postgres", "code", "webserver", "daemon", "api", "redis", "sources"}
    assert SERVICES["sources"]["profiles"] == ["demo"]
    assert set(COMPOSE["volumes"]) == {"pgdata", "lake"}


def test_commands():
    assert SERVICES["code"]["command"] == [
        "dagster",
        "code-server",
        "start",
        "-m",
        "orchestration.definitions",
        "-h",
        "0.0.0.0",
        "-p",
        "4000",
    ]
    assert SERVICES["webserver"]["command"][:1] == ["dagster-webserver"]
    assert SERVICES["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    for name in ("webserver", "daemon"):
        command = SERVICES[name]["command"]
        assert command[command.index("-w") + 1] == "deploy/workspace.grpc.yaml"
    assert SERVICES["api"]["command"][:3] == ["python", "-m", "serving"]


def test_the_grpc_workspace_points_at_the_code_server():
    workspace = yaml.safe_load((ROOT / "deploy/workspace.grpc.yaml").read_text())
    [entry] = workspace["load_from"]
    assert entry["grpc_server"]["host"] == "code"
    assert entry["grpc_server"]["port"] == 4000


def test_health_checks_and_start_order():
    for name in ("postgres", "code", "webserver", "api", "redis", "sources"):
        assert SERVICES[name]["healthcheck"]["test"], name
    assert "grpc-health-check" in SERVICES["code"]["healthcheck"]["test"]
    assert "pg_isready" in SERVICES["postgres"]["healthcheck"]["test"][1]
    for name, needs in {
        "code": {"postgres"},
        "webserver": {"postgres", "code"},
        "daemon": {"postgres", "code"},
        "api": {"postgres", "redis"},
    }.items():
        depends = SERVICES[name]["depends_on"]
        assert set(depends) == needs, name
        assert all(d["condition"] == "service_healthy" for d in depends.values()), name


def test_every_python_service_gets_its_configuration():
    for name in PYTHON_SERVICES:
        env = SERVICES[name]["environment"]
        for var in (
            "WAREHOUSE_URL",
            "LAKE_URL",
            "DAGSTER_HOME",
            "DAGSTER_PG_HOST",
            "DAGSTER_PG_USER",
            "DAGSTER_PG_PASSWORD",
            "DAGSTER_PG_DB",
        ):
            assert var in env, (name, var)
        assert SERVICES[name]["env_file"] == ".env"
        assert "lake:/lake" in SERVICES[name]["volumes"]


def test_every_variable_the_compose_file_uses_is_in_env_example():
    used = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    example = (ROOT / ".env.example").read_text()
    defined = set(re.findall(r"^#?\s*(\w+)=", example, flags=re.M))
    assert used <= defined, used - defined


def test_the_databases_the_services_use_are_created():
    init = (ROOT / "deploy/postgres/init.sql").read_text()
    env = SERVICES["code"]["environment"]
    assert f"CREATE DATABASE {env['DAGSTER_PG_DB']};" in init
    assert f"CREATE DATABASE {env['WAREHOUSE_URL'].rsplit('/', 1)[1]};" in init


def test_the_image_builds_from_files_that_exist():
    for name in PYTHON_SERVICES:
        build = SERVICES[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_the_production_instance_config_is_valid(monkeypatch, tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    for var in ("DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_DB"):
        monkeypatch.setenv(var, "x")
    config, _ = dagster_instance_config(str(tmp_path))
    assert "postgres_db" in config["storage"]["postgres"]
    assert config["telemetry"] == {"enabled": False}
    assert config["run_retries"]["enabled"] is True
    # Either the run coordinator's limits or the concurrency block, never both.
    assert "run_coordinator" not in config and config["concurrency"]["runs"]


@pytest.mark.parametrize(
    "command",
    [
        ["dagster", "code-server", "start", "--help"],
        ["dagster", "api", "grpc-health-check", "--help"],
        ["dagster-webserver", "--help"],
        ["dagster-daemon", "run", "--help"],
    ],
)
def test_the_commands_exist(command):
    binary = Path(sys.executable).with_name(command[0])
    done = subprocess.run([str(binary), *command[1:]], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
