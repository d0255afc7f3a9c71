"""deploy/k8s/serving.yaml: the serving API's Deployment, Service and disruption budget. No cluster
runs here, so each object goes through the Kubernetes client's own models (a misspelt or unknown
field does not survive the round trip), and its wiring is checked against the API it runs."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from kubernetes import client

from serving.app import create_app
from serving.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = list(yaml.safe_load_all((ROOT / "deploy/k8s/serving.yaml").read_text()))
BY_KIND = {doc["kind"]: doc for doc in DOCUMENTS}
MODELS = {
    "Deployment": "V1Deployment",
    "Service": "V1Service",
    "PodDisruptionBudget": "V1PodDisruptionBudget",
}


def round_trip(document: dict) -> dict:
    """`document` read into the client's model of its kind and written back out."""
    api = client.ApiClient()
    model = api.deserialize(SimpleNamespace(data=json.dumps(document)), MODELS[document["kind"]])
    return api.sanitize_for_serialization(model)


def container() -> dict:
    return BY_KIND["Deployment"]["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_object_is_a_valid_kubernetes_object(kind):
    assert round_trip(BY_KIND[kind]) == BY_KIND[kind]


def test_the_round_trip_drops_a_misspelt_field():
    """What makes the test above able to fail."""
    wrong = json.loads(json.dumps(BY_KIND["Deployment"]))
    wrong["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    assert round_trip(wrong) != wrong


def test_the_service_and_the_budget_select_the_deployments_pods():
    pod_labels = BY_KIND["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for selector in (
        BY_KIND["Service"]["spec"]["selector"],
        BY_KIND["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        BY_KIND["Deployment"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    # A voluntary eviction never takes the last replica.
    assert (
        BY_KIND["PodDisruptionBudget"]["spec"]["minAvailable"]
        < (BY_KIND["Deployment"]["spec"]["replicas"])
    )


def test_the_probes_are_the_apis_liveness_and_readiness_routes():
    paths = create_app(Settings()).openapi()["paths"]
    c = container()
    assert c["livenessProbe"]["httpGet"]["path"] == "/ping"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"
    assert {"/ping", "/health"} <= paths.keys()
    [port] = c["ports"]
    assert c["command"][c["command"].index("--port") + 1] == str(port["containerPort"])
    assert c["livenessProbe"]["httpGet"]["port"] == port["name"]
    assert BY_KIND["Service"]["spec"]["ports"][0]["targetPort"] == port["name"]


def test_the_settings_it_sets_are_the_apis_and_shutdown_fits_the_grace_period():
    c = container()
    env = {e["name"]: e["value"] for e in c["env"]}
    settings = Settings.model_fields
    for name in env:
        assert name.startswith("SERVING_") and name.removeprefix("SERVING_").lower() in settings
    pause = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = BY_KIND["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert pause + int(env["SERVING_SHUTDOWN_TIMEOUT_S"]) < grace


def test_its_configuration_is_what_the_helm_values_reference():
    values = yaml.safe_load((ROOT / "deploy/k8s/values.yaml").read_text())
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    sources = container()["envFrom"]
    assert [s["configMapRef"]["name"] for s in sources if "configMapRef" in s] == [
        m["name"] for m in launcher["envConfigMaps"]
    ]
    assert [s["secretRef"]["name"] for s in sources if "secretRef" in s] == [
        s["name"] for s in launcher["envSecrets"]
    ]


def test_it_runs_the_apis_own_image_of_the_same_release():
    """The image docker-compose.yml builds for the API (no Dagster), tagged as the code server's."""
    values = yaml.safe_load((ROOT / "deploy/k8s/values.yaml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    code = values["dagster-user-deployments"]["deployments"][0]["image"]
    assert f"{code['repository']}:{code['tag']}" == compose["code"]["image"]
    image, tag = container()["image"].rsplit(":", 1)
    assert container()["image"] == compose["api"]["image"]
    assert image != code["repository"] and tag == code["tag"]
