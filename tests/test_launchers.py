"""Beyond one machine: the Docker and Kubernetes run launchers and step executors of deploy/docker
and deploy/k8s, validated by loading them. No Docker engine and no cluster run here: the instance
files go through Dagster's instance schema, the launchers are built from them by Dagster's own
loader (as the daemon builds them), the Kubernetes Job a run would get is constructed offline, and
the executors' run config is checked against our real jobs with those executors. With PostgreSQL,
a stored run is launched through each instance for real, against loopback stand-ins that answer
and record the Docker Engine and Kubernetes API calls the launch makes."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInvalidConfigError, Definitions, validate_run_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.launcher import RunLauncher
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import parse_env_var
from dagster._serdes.config_class import ConfigurableClassData
from dagster_docker import DockerRunLauncher, docker_executor
from dagster_docker.container_context import DockerContainerContext
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dagster_k8s.job import construct_dagster_k8s_job, get_job_name_from_run_id
from kubernetes.client import ApiClient

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "deploy/docker"
K8S = ROOT / "deploy/k8s"
PRODUCTION = ROOT / "deploy/production/dagster.yaml"
INSTANCES = {"docker": DOCKER / "dagster.yaml", "k8s": K8S / "dagster.yaml"}
PG_VARS = ("DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_DB")

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OVERLAY = yaml.safe_load((DOCKER / "compose.yaml").read_text())
VALUES = yaml.safe_load((K8S / "values.yaml").read_text())
IMAGE = COMPOSE["services"]["code"]["image"]


def read(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def image_dagster_home() -> str:
    [home] = re.findall(r"^ENV DAGSTER_HOME=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    return home


def env_example() -> dict[str, str]:
    """The uncommented assignments of .env.example: what `.env` holds at the least."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^\w+=", line))


def compose_environment(service: str) -> dict[str, str]:
    """The environment docker compose gives `service`: `.env` (env_file), then `environment`
    with `${VAR}` / `${VAR:-default}` interpolated from `.env`, as compose does."""
    dotenv = env_example()

    def interpolate(value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(3)
            return dotenv.get(name) or (default or "")

        return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", one, str(value))

    env = dict(dotenv)
    env.update({k: interpolate(v) for k, v in COMPOSE["services"][service]["environment"].items()})
    return env


def instance_config(path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`path` validated as $DAGSTER_HOME/dagster.yaml by Dagster's instance schema."""
    for var in PG_VARS:
        monkeypatch.setenv(var, "x")
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(path.read_text())
    config, _ = dagster_instance_config(str(home))
    return config


def load_launcher(run_launcher: dict[str, Any]) -> RunLauncher:
    """The run launcher built from its instance config the way the daemon builds it."""
    data = ConfigurableClassData(
        run_launcher["module"], run_launcher["class"], yaml.safe_dump(run_launcher["config"])
    )
    return data.rehydrate(as_type=RunLauncher)


def fake_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig for `server`; loading it contacts nothing."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": server}}],
                "users": [{"name": "none", "user": {"token": "not-a-token"}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
            }
        )
    )
    return path


def k8s_instance(tmp_path: Path, server: str = "https://127.0.0.1:9") -> dict[str, Any]:
    """deploy/k8s/dagster.yaml, its launcher told to read a kubeconfig for `server` instead of
    the in-cluster service account (the only two keys changed). Nothing listens on the default."""
    config = read(INSTANCES["k8s"])
    assert config["run_launcher"]["config"]["load_incluster_config"] is True
    config["run_launcher"]["config"] |= {
        "load_incluster_config": False,
        "kubeconfig_file": str(fake_kubeconfig(tmp_path / "kubeconfig", server)),
    }
    return config


def k8s_launcher(tmp_path: Path) -> K8sRunLauncher:
    launcher = load_launcher(k8s_instance(tmp_path)["run_launcher"])
    assert isinstance(launcher, K8sRunLauncher)
    return launcher


# -- the instance files -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_the_instance_is_the_production_one_but_for_its_run_launcher(name):
    deploy = read(INSTANCES[name])
    production = read(PRODUCTION)
    assert "run_launcher" not in production
    launcher = deploy.pop("run_launcher")
    # Same PostgreSQL storage (secrets from DAGSTER_PG_*), queue, retries, monitoring, telemetry.
    assert deploy == production
    assert launcher["module"] == f"dagster_{name}"


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_the_instance_passes_dagsters_schema(name, tmp_path, monkeypatch):
    config = instance_config(INSTANCES[name], tmp_path / "home", monkeypatch)
    postgres_db = config["storage"]["postgres"]["postgres_db"]
    assert {postgres_db[k]["env"] for k in ("username", "password", "hostname", "db_name")} == set(
        PG_VARS
    )
    assert config["run_launcher"]["class"] in ("DockerRunLauncher", "K8sRunLauncher")


def test_a_bad_launcher_key_is_refused():
    """The loader checks the launcher's own schema, so a typo does not pass silently."""
    run_launcher = read(INSTANCES["docker"])["run_launcher"]
    run_launcher["config"]["netwrok"] = run_launcher["config"].pop("network")
    with pytest.raises(DagsterInvalidConfigError, match="netwrok"):
        load_launcher(run_launcher)


# -- Docker -------------------------------------------------------------------------------------


def test_the_docker_launcher_loads_with_our_image_network_and_lake():
    launcher = load_launcher(read(INSTANCES["docker"])["run_launcher"])
    assert isinstance(launcher, DockerRunLauncher)
    assert launcher.image == IMAGE
    # The overlay names the compose network and the lake volume the launcher attaches.
    assert launcher.networks == [OVERLAY["networks"]["default"]["name"]]
    [lake_mount] = launcher.container_kwargs["volumes"]
    volume, target = lake_mount.split(":")
    assert volume == OVERLAY["volumes"]["lake"]["name"]
    assert f"lake:{target}" in COMPOSE["services"]["daemon"]["volumes"]
    assert not {"image", "environment", "network"} & set(launcher.container_kwargs)


def test_a_docker_run_gets_every_variable_from_the_daemons_environment(monkeypatch):
    """A run container's environment is copied by name from the daemon's when the run starts:
    every name must be set there, or the launch fails."""
    launcher = load_launcher(read(INSTANCES["docker"])["run_launcher"])
    context = DockerContainerContext.create_for_run(DagsterRun(job_name="probe"), launcher)
    daemon_env = compose_environment("daemon")
    for name, value in daemon_env.items():
        monkeypatch.setenv(name, value)
    run_env = dict(parse_env_var(name) for name in context.env_vars)
    assert set(PG_VARS) | {"WAREHOUSE_URL", "LAKE_URL"} <= set(run_env)
    assert run_env["DAGSTER_PG_HOST"] == "postgres"
    assert run_env["WAREHOUSE_URL"].endswith("@postgres:5432/warehouse")
    # No value is written in the instance file: only names.
    assert all("=" not in name for name in context.env_vars)
    monkeypatch.delenv("WAREHOUSE_URL")
    with pytest.raises(Exception, match="WAREHOUSE_URL"):
        dict(parse_env_var(name) for name in context.env_vars)


def test_the_compose_overlay_switches_the_webserver_and_daemon_to_it():
    instance = read(INSTANCES["docker"])
    assert set(OVERLAY["services"]) <= set(COMPOSE["services"])
    home = COMPOSE["services"]["daemon"]["environment"]["DAGSTER_HOME"]
    for name in ("webserver", "daemon"):
        volumes = OVERLAY["services"][name]["volumes"]
        assert f"./deploy/docker/dagster.yaml:{home}/dagster.yaml:ro" in volumes
        assert "/var/run/docker.sock:/var/run/docker.sock" in volumes
    assert OVERLAY["services"]["code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == IMAGE
    assert instance["run_launcher"]["config"]["network"] == OVERLAY["networks"]["default"]["name"]
    assert set(OVERLAY["volumes"]) <= set(COMPOSE["volumes"])


# -- Kubernetes ---------------------------------------------------------------------------------


def test_the_k8s_launcher_loads_from_a_kubeconfig_without_a_cluster(tmp_path):
    launcher = k8s_launcher(tmp_path)
    assert launcher.job_image == IMAGE
    assert launcher.job_namespace == "dataplatform"
    assert launcher.dagster_home == image_dagster_home()
    assert launcher.env_secrets == ["dataplatform-env"]
    assert launcher.env_config_maps == ["dataplatform-config"]
    assert launcher.postgres_password_secret == "dagster-postgresql-secret"


def test_the_k8s_run_job_carries_our_image_and_secrets_by_reference(tmp_path):
    """The Kubernetes Job the launcher would create for a run, built offline the way
    `K8sRunLauncher.launch_run` builds it."""
    launcher = k8s_launcher(tmp_path)
    run = DagsterRun(job_name="daily_refresh", run_id=str(uuid.uuid4()))
    context = launcher.get_container_context_for_run(run)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=None, run_launcher=launcher),
        args=["dagster", "api", "execute_run", "{}"],
        job_name=get_job_name_from_run_id(run.run_id),
        component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": run.job_name, "dagster/run-id": run.run_id},
    )
    manifest = ApiClient().sanitize_for_serialization(job)
    spec = manifest["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]

    assert container["image"] == IMAGE
    assert pod["serviceAccountName"] == "dagster"
    assert spec["ttlSecondsAfterFinished"] == 86400
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    env = {e["name"]: e for e in container["env"]}
    assert env["DAGSTER_HOME"]["value"] == image_dagster_home()
    # The storage password from the Secret, by reference; the other DAGSTER_PG_* and the
    # platform's variables from the ConfigMap and the Secret named in the instance.
    assert env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "dagster-postgresql-secret",
        "key": "postgresql-password",
    }
    env_from = container["envFrom"]
    assert {"configMapRef": {"name": "dataplatform-config"}} in env_from
    assert {"secretRef": {"name": "dataplatform-env"}} in env_from
    # The run worker gets the instance from its launch command, not from a file, and reads the
    # DAGSTER_PG_* it names from the environment above: no volume is needed for it.
    assert not pod.get("volumes")
    assert "change-me" not in yaml.safe_dump(manifest)


def test_the_helm_values_describe_the_same_instance():
    instance = read(INSTANCES["k8s"])["run_launcher"]["config"]
    k8s = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    assert k8s["jobNamespace"] == instance["job_namespace"]
    assert k8s["loadInclusterConfig"] is instance["load_incluster_config"]
    assert [s["name"] for s in k8s["envSecrets"]] == instance["env_secrets"]
    assert [c["name"] for c in k8s["envConfigMaps"]] == instance["env_config_maps"]
    assert k8s["runK8sConfig"]["containerConfig"] == instance["run_k8s_config"]["container_config"]
    assert (
        k8s["runK8sConfig"]["jobSpecConfig"]["ttlSecondsAfterFinished"]
        == instance["run_k8s_config"]["job_spec_config"]["ttl_seconds_after_finished"]
    )
    assert VALUES["global"]["postgresqlSecretName"] == instance["postgres_password_secret"]
    assert VALUES["global"]["dagsterHome"] == instance["dagster_home"] == image_dagster_home()

    # Our PostgreSQL: the database init.sql creates, the driver the instance names.
    pg = VALUES["postgresql"]
    storage = read(INSTANCES["k8s"])["storage"]["postgres"]["postgres_db"]
    assert pg["enabled"] is False and VALUES["generatePostgresqlPasswordSecret"] is False
    assert f"CREATE DATABASE {pg['postgresqlDatabase']};" in (
        (ROOT / "deploy/postgres/init.sql").read_text()
    )
    assert pg["postgresqlScheme"] == storage["scheme"]
    assert pg["service"]["port"] == storage["port"]

    # Our code server, from our image, with the arguments docker-compose gives it.
    [code] = VALUES["dagster-user-deployments"]["deployments"]
    assert f"{code['image']['repository']}:{code['image']['tag']}" == IMAGE
    command = COMPOSE["services"]["code"]["command"]
    assert code["codeServerArgs"] == command[command.index("-m") : command.index("-m") + 2]
    assert code["port"] == int(command[command.index("-p") + 1])

    production = read(PRODUCTION)
    daemon = VALUES["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["maxConcurrentRuns"] == production["concurrency"]["runs"]["max_concurrent_runs"]
    assert daemon["runRetries"]["maxRetries"] == production["run_retries"]["max_retries"]
    assert (
        daemon["runMonitoring"]["startTimeoutSeconds"]
        == production["run_monitoring"]["start_timeout_seconds"]
    )
    assert VALUES["telemetry"] == production["telemetry"]


# -- step executors -----------------------------------------------------------------------------


def our_jobs_with(executor):
    """Every job of our Definitions, with `executor` in place of the in-process one."""
    from orchestration import definitions

    defs = definitions.defs()
    switched = Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        resources=defs.resources,
        executor=executor,
    )
    jobs = [switched.resolve_implicit_global_asset_job_def()]
    jobs += [switched.resolve_job_def(job.name) for job in defs.jobs]
    assert all(job.executor_def is executor for job in jobs)
    return jobs


@pytest.mark.parametrize(
    ("executor", "path"),
    [(docker_executor, DOCKER / "executor.yaml"), (k8s_job_executor, K8S / "executor.yaml")],
    ids=["docker", "k8s"],
)
def test_the_executor_run_config_fits_our_jobs(executor, path):
    run_config = read(path)
    for job in our_jobs_with(executor):
        validated = validate_run_config(job, run_config)
        assert validated["execution"][executor.name]["max_concurrent"] == 4, job.name
    misspelt = {"execution": {"config": {"max_concurent": 4}}}
    with pytest.raises(DagsterInvalidConfigError, match="max_concurent"):
        validate_run_config(job, misspelt)


# -- launching a run: a real PostgreSQL instance, the engines' HTTP APIs recorded --------------


class RecordingApi:
    """A loopback HTTP server standing in for the Docker Engine or the Kubernetes API: it answers
    the few calls a launch makes and records each request, so the test sees exactly what the
    launcher would have sent. `answers` maps (method, path regex) to (status, body or callable)."""

    def __init__(self, answers: dict[tuple[str, str], tuple[int, Any]]):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str, str, Any]] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = self.path.split("?", 1)[0]
                recorded.append((method, path, body))
                for (m, pattern), (status, answer) in answers.items():
                    if m == method and re.fullmatch(pattern, path):
                        payload = answer(body) if callable(answer) else answer
                        data = json.dumps(payload).encode() if payload is not None else b""
                        self.send_response(status)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                self.send_error(404, f"not expected: {method} {path}")

            def do_GET(self) -> None:
                self.handle_one("GET")

            def do_POST(self) -> None:
                self.handle_one("POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, method: str, pattern: str) -> list[Any]:
        return [b for m, p, b in self.requests if m == method and re.fullmatch(pattern, p)]


@pytest.fixture
def instance_env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The daemon's environment under docker compose, its DAGSTER_PG_* pointed at a database of
    the test's own. The password is a marker: it must never appear in what a launch sends."""
    from urllib.parse import urlsplit

    url = urlsplit(pg_url)
    env = compose_environment("daemon") | {
        "DAGSTER_PG_HOST": url.hostname or "127.0.0.1",
        "DAGSTER_PG_USER": url.username or "root",
        "DAGSTER_PG_DB": url.path.lstrip("/"),
        "DAGSTER_PG_PASSWORD": f"pw-{uuid.uuid4().hex}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def queued_run(instance, job_name: str, image: str) -> DagsterRun:
    """A run of our code location as the daemon finds it: stored, not started, its origin the
    code server's (module orchestration.definitions, the image it runs in)."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.origin import JobPythonOrigin
    from dagster._core.storage.dagster_run import DagsterRunStatus

    repository = ReconstructableRepository.for_module(
        "orchestration.definitions", "defs", working_directory=str(ROOT), container_image=image
    )
    origin = JobPythonOrigin(job_name, repository.get_python_origin())
    return instance.add_run(
        DagsterRun(
            job_name=job_name,
            run_id=str(uuid.uuid4()),
            status=DagsterRunStatus.NOT_STARTED,
            job_code_origin=origin,
        )
    )


def open_instance(config_text: str, home: Path):
    from dagster import DagsterInstance

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(config_text)
    return DagsterInstance.from_config(str(home))


def launch(api: RecordingApi, config: dict[str, Any], home: Path, launcher: type, image: str):
    """Open the instance `config` describes and launch a stored run of ours through it, as the
    daemon does when the queue frees a slot."""
    try:
        instance = open_instance(yaml.safe_dump(config), home)
        assert isinstance(instance.run_launcher, launcher)
        run = queued_run(instance, "sales_job", image)
        instance.launch_run(run.run_id, workspace=None)
    finally:
        api.close()
    return instance, run


def run_worker_instance(command: list[str], run: DagsterRun, launcher_class: type):
    """What the run worker does with its command: read the arguments, rebuild the instance."""
    from dagster import DagsterInstance
    from dagster._grpc.types import ExecuteRunArgs
    from dagster._serdes import deserialize_value

    assert command[:3] == ["dagster", "api", "execute_run"], command
    args = deserialize_value(command[3], ExecuteRunArgs)
    assert args.run_id == run.run_id
    assert args.job_origin.job_name == run.job_name
    worker = DagsterInstance.from_ref(args.instance_ref)
    assert isinstance(worker.run_launcher, launcher_class)
    assert worker.get_run_by_id(run.run_id) is not None  # the same PostgreSQL storage
    return worker


@pytest.mark.postgres
def test_a_run_launches_as_a_docker_container(tmp_path, instance_env, monkeypatch):
    image = "dataplatform:2024-03-01"  # the code server's DAGSTER_CURRENT_IMAGE wins
    container_id = uuid.uuid4().hex
    engine = RecordingApi(
        {
            ("GET", r"/version"): (200, {"ApiVersion": "1.45", "Version": "27.0.0"}),
            ("POST", r"/v1\.45/containers/create"): (201, {"Id": container_id, "Warnings": []}),
            ("GET", rf"/v1\.45/containers/{container_id}/json"): (
                200,
                {"Id": container_id, "Name": "/run", "State": {"Status": "created"}},
            ),
            ("POST", rf"/v1\.45/containers/{container_id}/start"): (204, None),
        }
    )
    monkeypatch.setenv("DOCKER_HOST", engine.url.replace("http://", "tcp://"))
    instance, run = launch(
        engine, read(INSTANCES["docker"]), tmp_path / "home", DockerRunLauncher, image
    )

    [create] = engine.bodies("POST", r"/v1\.45/containers/create")
    assert engine.bodies("POST", rf"/v1\.45/containers/{container_id}/start") == [None]
    assert create["Image"] == image
    assert create["HostConfig"]["NetworkMode"] == "dataplatform"
    assert create["HostConfig"]["Binds"] == ["dataplatform_lake:/lake"]
    assert create["Labels"]["dagster/run_id"] == run.run_id
    env = dict(item.split("=", 1) for item in create["Env"])
    for name in read(INSTANCES["docker"])["run_launcher"]["config"]["env_vars"]:
        assert env[name] == instance_env[name], name

    # The run worker rebuilds this same instance from the command: PostgreSQL storage and the
    # Docker launcher, with the secrets as variable names, never their values.
    run_worker_instance(create["Cmd"], run, DockerRunLauncher)
    assert instance_env["DAGSTER_PG_PASSWORD"] not in create["Cmd"][3]
    assert instance.get_run_by_id(run.run_id).tags["docker/container_id"] == container_id


@pytest.mark.postgres
def test_a_run_launches_as_a_kubernetes_job(tmp_path, instance_env):
    cluster = RecordingApi(
        {
            ("POST", r"/apis/batch/v1/namespaces/dataplatform/jobs"): (201, lambda body: body),
        }
    )
    config = k8s_instance(tmp_path, server=cluster.url)
    instance, run = launch(cluster, config, tmp_path / "home", K8sRunLauncher, IMAGE)

    [job] = cluster.bodies("POST", r"/apis/batch/v1/namespaces/dataplatform/jobs")
    assert job["metadata"]["name"] == get_job_name_from_run_id(run.run_id)
    assert job["metadata"]["labels"]["dagster/run-id"] == run.run_id
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == IMAGE
    assert pod["serviceAccountName"] == "dagster"
    assert {"secretRef": {"name": "dataplatform-env"}} in container["envFrom"]
    run_worker_instance(container["args"], run, K8sRunLauncher)
    assert instance_env["DAGSTER_PG_PASSWORD"] not in yaml.safe_dump(job)
    assert instance.get_run_by_id(run.run_id).tags["dagster/image"] == IMAGE


def test_the_image_can_import_both_launchers():
    """A run worker rebuilds the instance, its launcher included, inside our image."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    names = {re.split(r"[~<>=!; \[]", spec, maxsplit=1)[0] for spec in extras["deploy"]}
    assert {"dagster-docker", "dagster-k8s"} <= names
    assert 'RUN pip install --no-cache-dir ".[deploy]"' in (ROOT / "Dockerfile").read_text()
