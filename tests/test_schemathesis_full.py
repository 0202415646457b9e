"""Property-based run of schemathesis over every gateway route, with the whole stack running.

The stack (auth, gateway, inventory, collector, faults, ai) runs on a database and NATS
prefix of its own, beside a three-node demo cluster registered through the API, so the
cluster, node, log and ops routes meet real data. The AI service's model is the fake
Messages API on 127.0.0.1, which returns plain text for every request.

Checks: no response is a 5xx, and every error body has the contract's shape. The run
leaves out ``/logout``, which would revoke the run's token. The hooks of
``tests.gateway.schemathesis_checks`` keep it from demoting, deleting or locking out its own
admin account, and ``tests.schemathesis_full_hooks`` mixes the demo cluster's real ids into
the generated path parameters. The run takes about 90 seconds of schemathesis plus the start
of the stack (under two minutes in all on a busy 2-core machine).

NOTE: the collector's ``GET /hadoop/logs/all/{log_type}/`` sends the tails of every node in
one NATS reply without a size cap. With a large ``lines`` on a busy log type the reply
passes NATS's 1 MiB payload limit, and the gateway returns 500. A run that draws such a
request fails until the collector bounds that reply.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from libs.common.i18n import message
from tests.ai.helpers import BackgroundDemo, register_cluster
from tests.conftest import start_stack
from tests.fakes.anthropic_server import API_KEY, FakeAnthropic, text_turn
from tests.gateway.helpers import STACK_ENV, Api, private_database
from tests.infra import REPO_ROOT, create_test_streams

pytestmark = pytest.mark.slow

SERVICES = ("auth", "gateway", "inventory", "collector", "faults", "ai")
FIRST_ADDRESS = "127.0.0.120"
EXCLUDED_PATHS = ("/api/v1/logout",)
MAX_EXAMPLES = "5"
MAX_SECONDS = "90"


@pytest.fixture(scope="module")
def fake_llm():
    with FakeAnthropic() as server:
        server.script(*[text_turn("A short reply.") for _ in range(5000)])
        yield server


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    cluster = BackgroundDemo(tmp_path_factory.mktemp("full-demo") / "cluster", first_address=FIRST_ADDRESS)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def stack(infra, fake_llm):
    """Every service on a database and NATS prefix of their own, so the fuzzing leaves other modules alone."""
    prefix = f"{infra.prefix}_full"
    asyncio.run(create_test_streams(infra.nats_url, prefix))
    environment = {
        **STACK_ENV,
        "ANTHROPIC_BASE_URL": fake_llm.base_url,
        "ANTHROPIC_API_KEY": API_KEY,
        "HFD_AI_ANTHROPIC_API_KEY": API_KEY,
        "HFD_AI_ANTHROPIC_BASE_URL": fake_llm.base_url,
        "HFD_AI_MAX_RETRIES": "0",
        "HFD_AI_MODEL_FOR_EVENTS": "false",
        "HFD_AI_REQUEST_TIMEOUT_SECONDS": "3",
    }
    with private_database(infra, "full") as database_url:
        running = start_stack(
            infra, *SERVICES, HFD_DATABASE_URL=database_url, HFD_NATS_PREFIX=prefix, **environment
        )
        yield running
        running.stop()


@pytest.fixture(scope="module")
def api(stack):
    client = Api(stack.base_url)
    client.client.timeout = 60
    yield client
    client.close()


@pytest.fixture(scope="module")
def cluster(api, demo):
    return register_cluster(api, api.admin(), demo)


def test_errors_in_english_when_asked(api, cluster):
    headers = {**api.admin().headers, "Accept-Language": "en"}

    no_token = api.request("GET", "/clusters", headers={"Accept-Language": "en"})
    missing_fault = api.request("GET", "/faults/no-such-fault", headers=headers)
    invalid_page = api.request("GET", "/faults", params={"size": "0"}, headers=headers)
    invalid_host = api.request(
        "POST", f"/clusters/{cluster['uuid']}/nodes", json={"hostname": "-bad-", "ip_address": "127.0.0.1"},
        headers=headers,
    )
    read_log = {"node": "demo-nn1", "path": "logs/x.log"}
    relative_path = api.request("POST", "/ops/read-log", json=read_log, headers=headers)
    missing_repair = api.request("POST", "/repairs/no-such-repair/approve", headers=headers)

    assert no_token.status_code == 401
    assert no_token.json()["message"] == message("not_authenticated", "en")
    assert missing_fault.status_code == 404
    assert missing_fault.json()["message"] == message("not_found", "en")
    assert invalid_page.status_code == 422
    assert invalid_page.json()["detail"]["errors"][0]["message"] == message("value_too_small", "en", bound=1)
    assert invalid_host.status_code == 422
    assert invalid_host.json()["detail"]["errors"][0]["message"] == message("invalid_hostname", "en")
    assert relative_path.status_code == 422
    assert relative_path.json()["detail"]["errors"][0]["message"] == message("path_not_absolute", "en")
    assert missing_repair.status_code == 404
    assert missing_repair.json()["message"] == message("not_found", "en")


def test_schemathesis_full_stack(api, stack, cluster, demo, tmp_path):
    binary = Path(sys.executable).parent / "schemathesis"
    if not binary.exists():
        pytest.skip(f"schemathesis not installed beside {sys.executable}")
    account = api.create_account("admin")
    nodes = [node.name for node in demo.manifest.nodes]
    paths = httpx.get(f"{stack.base_url}/openapi.json", timeout=10).json()["paths"]
    total = sum(len(operations) for operations in paths.values())
    excluded = sum(len(paths[path]) for path in EXCLUDED_PATHS)

    command = [
        str(binary),
        "run",
        f"{stack.base_url}/openapi.json",
        "--checks=not_a_server_error,contract_error_shape",
        f"--header=Authorization: Bearer {account.token}",
        *[f"--exclude-path={path}" for path in EXCLUDED_PATHS],
        f"--max-examples={MAX_EXAMPLES}",
        f"--max-time={MAX_SECONDS}",
        "--request-timeout=30",
        "--seed=1",
        "--no-color",
    ]
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis_full_hooks",
        "HFD_SCHEMATHESIS_ACCOUNT": account.username,
        "HFD_SCHEMATHESIS_CLUSTER": cluster["uuid"],
        "HFD_SCHEMATHESIS_NODES": ",".join(nodes),
        "HFD_SCHEMATHESIS_LOG_TYPES": "namenode,datanode,resourcemanager,nodemanager",
        "PYTHONPATH": str(REPO_ROOT),
    }
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=240)
    failures = result.stdout[result.stdout.find("FAILURES") :] if "FAILURES" in result.stdout else result.stdout
    clusters = api.request("GET", "/clusters", headers=account.headers).json()["clusters"]

    assert result.returncode == 0, failures[:8000] + result.stderr[-2000:]
    assert f"Selected: {total - excluded}/{total}" in result.stdout
    assert api.request("GET", "/users", headers=account.headers).status_code == 200
    assert cluster["uuid"] in {item["uuid"] for item in clusters}
