"""The production topology's files: docker-compose.yml, the Dockerfile, the workspaces and the
production dagster.yaml. No Docker engine runs here, so their shape is checked instead, and the
compose files against the Compose Specification's JSON schema, the one `docker compose config`
validates with."""

import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PYTHON_SERVICES = ["code", "webserver", "daemon", "api", "sources"]
# The services of the platform image; the API has an image of its own, without Dagster.
PLATFORM_SERVICES = ["code", "webserver", "daemon", "sources"]


COMPOSE_FILES = ["docker-compose.yml", "deploy/docker/compose.yaml"]
# ${VAR}, ${VAR:-default} and ${VAR-default}, as compose interpolates them; $$ is a literal $.
VARIABLE = re.compile(r"\$\{(\w+)(?:(:?-)([^}]*))?\}")


def env_example() -> dict[str, str]:
    """The variables .env.example sets (commented-out ones are left unset, as in a real .env)."""
    text = (ROOT / ".env.example").read_text()
    return dict(re.findall(r"^(\w+)=(.*)$", text, flags=re.M))


def interpolate(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name, op, default = match.groups()
        if name in env and (env[name] or op != ":-"):
            return env[name]
        if op is None:
            raise AssertionError(f"${{{name}}} has no value in .env.example and no default")
        return default

    return VARIABLE.sub(value, text).replace("$$", "$")


def compose_schema_validator() -> jsonschema.protocols.Validator:
    """The Compose Specification's schema, as vendored by check-jsonschema."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.mark.parametrize("path", COMPOSE_FILES)
def test_the_compose_files_follow_the_compose_specification(path):
    document = yaml.safe_load(interpolate((ROOT / path).read_text(), env_example()))
    errors = sorted(compose_schema_validator().iter_errors(document), key=str)
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


@pytest.mark.parametrize(
    ("service", "mistake"),
    [
        ("api", lambda svc: svc["depends_on"]["postgres"].update(condtion="service_healthy")),
        ("code", lambda svc: svc.update(command=4000)),
        ("webserver", lambda svc: svc.update(ports="3000:3000")),
    ],
)
def test_the_schema_check_catches_a_mistake(service, mistake):
    """A misspelt key or a wrong type is refused, so the check above can fail."""
    document = yaml.safe_load(interpolate((ROOT / "docker-compose.yml").read_text(), env_example()))
    mistake(document["services"][service])
    errors = list(compose_schema_validator().iter_errors(document))
    assert errors
    assert {tuple(e.absolute_path)[:2] for e in errors} == {("services", service)}


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
        assert SERVICES[name]["env_file"] == ".env"
        assert (
            SERVICES[name]["environment"]["WAREHOUSE_URL"]
            == (SERVICES["code"]["environment"]["WAREHOUSE_URL"])
        )
    # The API reads only the warehouse: no Dagster instance, no lake.
    assert not [v for v in SERVICES["api"]["environment"] if v.startswith("DAGSTER_")]
    for name in PLATFORM_SERVICES:
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


def dockerfile_stages() -> dict[str, list[str]]:
    """The Dockerfile's lines by stage (`FROM ... AS <stage>`)."""
    stages: dict[str, list[str]] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if stage := re.match(r"FROM \S+ AS (\w+)$", line):
            lines = stages.setdefault(stage.group(1), [])
        elif line.strip() and not line.startswith("#"):
            lines.append(line)
    return stages


def test_the_images_build_from_files_that_exist():
    stages = dockerfile_stages()
    for name in PYTHON_SERVICES:
        build = SERVICES[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()
        assert build["target"] in stages, name
    for lines in stages.values():
        for line in lines:
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    assert (ROOT / source).exists(), source


def copied(lines: list[str]) -> set[str]:
    """The sources a stage's COPY lines take from the build context."""
    return {src for line in lines if line.startswith("COPY ") for src in line.split()[1:-1]}


def test_the_api_ships_in_an_image_without_dagster():
    """The API's image holds `core` and `serving` only, installed without extras (the base
    dependencies, which tests/test_serving_install.py resolves); the platform's holds the rest."""
    stages = dockerfile_stages()
    assert SERVICES["api"]["build"]["target"] == "serving"
    assert {SERVICES[name]["build"]["target"] for name in PLATFORM_SERVICES} == {"platform"}
    assert SERVICES["api"]["image"] != SERVICES["code"]["image"]
    assert copied(stages["serving"]) == {"pyproject.toml", "README.md", "core", "serving"}
    assert [line for line in stages["serving"] if "pip install" in line] == [
        "RUN pip install --no-cache-dir ."
    ]
    assert "orchestration" in copied(stages["platform"])
    assert "serving" not in copied(stages["platform"])


def test_the_production_instance_config_is_valid(monkeypatch, tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text((ROOT / "deploy/production/dagster.yaml").read_text())
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
