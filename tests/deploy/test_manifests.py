"""Structure of the Kubernetes manifests in deploy/k8s, read with pyyaml.

No Kubernetes cluster runs these tests. They check what a reader would otherwise check by
hand: replicas, probes, limits, the environment each service needs, and that the files agree
with each other and with deploy/nats. When kubectl is installed, the last test also builds
the kustomization.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from libs.common.service import DEFAULT_METRICS_PORTS
from tests.deploy.natsserver import ACCOUNTS_CONF, SERVICE_USERS, password_variable

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SECRET_NAME = "hfd-secrets"
NATS_HOSTS = ("nats-0.nats", "nats-1.nats", "nats-2.nats")
ENV_OF_EVERY_SERVICE = {
    "HFD_ENV",
    "HFD_NATS_URL",
    "HFD_JWT_SECRET",
    "HFD_SECRET_KEY",
    "HFD_STREAM_REPLICAS",
    "HFD_METRICS_HOST",
}


def load_documents() -> dict[str, list[dict]]:
    """Return the documents of every YAML file of deploy/k8s, by file name."""
    return {path.name: list(yaml.safe_load_all(path.read_text())) for path in sorted(K8S_DIR.glob("*.yaml"))}


DOCUMENTS = load_documents()
OBJECTS = [document for name, documents in DOCUMENTS.items() if name != "kustomization.yaml" for document in documents]


def objects_of(kind: str) -> dict[str, dict]:
    return {item["metadata"]["name"]: item for item in OBJECTS if item["kind"] == kind}


def deployment(service: str) -> dict:
    return objects_of("Deployment")[f"hfd-{service}"]


def container(service: str) -> dict:
    return deployment(service)["spec"]["template"]["spec"]["containers"][0]


def secret_keys() -> set[str]:
    lines = (K8S_DIR / "secrets.env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def config_map_data(name: str) -> dict[str, str]:
    return objects_of("ConfigMap")[name]["data"]


def provided_env(service: str) -> dict[str, dict | str]:
    """Return each variable the container gets, as its env entry or its ConfigMap value."""
    spec = container(service)
    provided: dict[str, dict | str] = {}
    for source in spec.get("envFrom", []):
        provided.update(config_map_data(source["configMapRef"]["name"]))
    for entry in spec.get("env", []):
        provided[entry["name"]] = entry
    return provided


def test_manifests_every_object_named():
    for item in OBJECTS:
        assert item.get("apiVersion"), item
        assert item.get("kind"), item
        assert item.get("metadata", {}).get("name"), item


def test_kustomization_lists_every_file():
    kustomization = DOCUMENTS["kustomization.yaml"][0]
    manifests = {name for name in DOCUMENTS if name != "kustomization.yaml"}

    assert set(kustomization["resources"]) == manifests
    assert len(kustomization["resources"]) == len(manifests)
    assert kustomization["secretGenerator"][0]["name"] == SECRET_NAME
    assert kustomization["secretGenerator"][0]["envs"] == ["secrets.env"]
    assert "secrets.env" in (K8S_DIR / ".gitignore").read_text().split()


def test_deployments_one_per_service():
    assert sorted(objects_of("Deployment")) == sorted(f"hfd-{service}" for service in SERVICE_USERS)


@pytest.mark.parametrize("service", SERVICE_USERS)
def test_deployment_replicas_and_strategy(service):
    spec = deployment(service)["spec"]

    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_collector_deployment_enables_leases():
    container = deployment("collector")["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}

    assert env.get("HFD_COLLECTOR_LEASES") == "true"


@pytest.mark.parametrize("service", SERVICE_USERS)
def test_deployment_runs_service_from_image(service):
    spec = container(service)
    expected = ["gateway", "--host", "0.0.0.0", "--port", "8000"] if service == "gateway" else [service]

    assert spec["image"] == "hfd"
    assert spec["args"] == expected
    assert deployment(service)["spec"]["selector"]["matchLabels"].items() <= (
        deployment(service)["spec"]["template"]["metadata"]["labels"].items()
    )


@pytest.mark.parametrize("service", SERVICE_USERS)
def test_deployment_probes(service):
    spec = container(service)
    port_names = {port["name"]: port["containerPort"] for port in spec["ports"]}

    for probe in ("readinessProbe", "livenessProbe"):
        if service == "gateway":
            assert spec[probe]["httpGet"]["path"] == "/api/v1/health"
            assert port_names[spec[probe]["httpGet"]["port"]] == 8000
        else:
            assert port_names[spec[probe]["tcpSocket"]["port"]] == DEFAULT_METRICS_PORTS[service]


@pytest.mark.parametrize("service", SERVICE_USERS)
def test_deployment_resources(service):
    resources = container(service)["resources"]

    for section in ("requests", "limits"):
        assert resources[section]["cpu"]
        assert resources[section]["memory"]


@pytest.mark.parametrize("service", SERVICE_USERS)
def test_deployment_provides_needed_env(service):
    provided = provided_env(service)
    needed = ENV_OF_EVERY_SERVICE | ({"HFD_DATABASE_URL"} if service != "gateway" else set())

    assert needed <= set(provided), needed - set(provided)
    assert provided["HFD_ENV"] == "production"
    assert provided["HFD_STREAM_REPLICAS"] == "3"


@pytest.mark.parametrize("service", SERVICE_USERS)
def test_deployment_secrets_exist(service):
    keys = secret_keys()

    for entry in container(service)["env"]:
        reference = entry.get("valueFrom", {}).get("secretKeyRef")
        if reference is not None:
            assert reference["name"] == SECRET_NAME
            assert reference["key"] in keys


@pytest.mark.parametrize("service", SERVICE_USERS)
def test_deployment_nats_url_uses_own_user(service):
    env = container(service)["env"]
    names = [entry["name"] for entry in env]
    password = env[names.index("NATS_PASSWORD")]
    url = env[names.index("HFD_NATS_URL")]["value"]

    assert password["valueFrom"]["secretKeyRef"]["key"] == password_variable(service)
    # Kubernetes expands $(VAR) only from earlier entries.
    assert names.index("NATS_PASSWORD") < names.index("HFD_NATS_URL")
    assert url.split(",") == [f"nats://{service}:$(NATS_PASSWORD)@{host}:4222" for host in NATS_HOSTS]


@pytest.mark.parametrize("service", SERVICE_USERS)
def test_service_scrape_annotations(service):
    name = f"hfd-{service}" if service == "gateway" else f"hfd-{service}-metrics"
    target = objects_of("Service")[name]
    port = 8000 if service == "gateway" else DEFAULT_METRICS_PORTS[service]

    assert target["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert target["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert target["spec"]["ports"][0]["port"] == port
    assert target["spec"]["selector"] == deployment(service)["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("service", SERVICE_USERS)
def test_disruption_budget_per_service(service):
    budget = objects_of("PodDisruptionBudget")[f"hfd-{service}"]

    assert budget["spec"]["selector"]["matchLabels"] == deployment(service)["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["minAvailable"] == 1


def test_nats_statefulset_three_with_storage():
    nats = objects_of("StatefulSet")["nats"]["spec"]

    assert nats["replicas"] == 3
    assert nats["serviceName"] == "nats"
    assert nats["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert objects_of("Service")["nats"]["spec"]["clusterIP"] == "None"
    assert objects_of("PodDisruptionBudget")["nats"]["spec"]["maxUnavailable"] == 1


def test_nats_config_enables_jetstream_and_routes():
    config = config_map_data("nats-config")["nats.conf"]

    assert re.search(r"^jetstream \{\n  store_dir: /data/jetstream$", config, re.MULTILINE)
    assert "routes: [$NATS_ROUTE_0, $NATS_ROUTE_1, $NATS_ROUTE_2]" in config
    assert "include ./accounts.conf" in config


def test_nats_config_copies_accounts_conf():
    copied = config_map_data("nats-config")["accounts.conf"]

    assert copied == ACCOUNTS_CONF.read_text(), "copy deploy/nats/accounts.conf into deploy/k8s/nats-config.yaml"


def test_nats_pods_provide_every_config_variable():
    data = config_map_data("nats-config")
    # Variables are the $NAMEs outside comments and quoted strings ("$JS.API.>" is a subject).
    text = re.sub(r"#.*", "", data["nats.conf"] + data["accounts.conf"])
    variables = set(re.findall(r"\$([A-Z][A-Z0-9_]*)", re.sub(r'"[^"]*"', "", text)))
    env = objects_of("StatefulSet")["nats"]["spec"]["template"]["spec"]["containers"][0]["env"]
    keys = secret_keys()

    assert {"POD_NAME", "NATS_ROUTE_PASSWORD", "NATS_ROUTE_0", "ADMIN_NATS_PASSWORD"} <= variables
    assert variables <= {entry["name"] for entry in env}
    for entry in env:
        reference = entry.get("valueFrom", {}).get("secretKeyRef")
        if reference is not None:
            assert reference["key"] in keys


def test_kustomization_builds_with_kubectl(tmp_path):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed; the structure tests above still ran")
    copy = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, copy)
    (copy / "secrets.env").write_text("".join(f"{key}=n{index}\n" for index, key in enumerate(sorted(secret_keys()))))

    result = subprocess.run([kubectl, "kustomize", str(copy)], capture_output=True, text=True, timeout=60)
    built = list(yaml.safe_load_all(result.stdout)) if result.returncode == 0 else []
    secrets = [item["metadata"]["name"] for item in built if item["kind"] == "Secret"]

    assert result.returncode == 0, result.stderr
    assert len(secrets) == 1
    assert secrets[0].startswith(f"{SECRET_NAME}-")
    assert f"name: {SECRET_NAME}\n" not in result.stdout  # every reference points at the generated name
    assert all(item["metadata"].get("namespace") == "hfd" for item in built if item["kind"] != "Namespace")
