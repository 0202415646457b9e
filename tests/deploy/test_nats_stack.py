"""The whole stack with each service on its own NATS user from deploy/nats/accounts.conf.

The services start on an empty nats-server (they create the streams and buckets themselves)
and a new database on the machine's PostgreSQL. The checks go through the gateway and cover
every kind of NATS use: requests between services, stream publishes, durable consumers and
the token-state buckets. The last test reads the server's log for permission violations, so
the stack proves that the permissions are sufficient, not only that the API replied.
"""

import asyncio
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from hfd.embedded import port_open
from tests.deploy.natsserver import SERVICE_USERS, NatsUnderTest
from tests.infra import Infra, Stack

POSTGRES_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
ADMIN_USERNAME = "root"
ADMIN_PASSWORD = "Deploy7Admin"

# Cheaper argon2id parameters take the same code path with less CPU. Without a model API key
# the ai service diagnoses with its offline diagnoser.
STACK_ENV = {
    "HFD_BOOTSTRAP_ADMIN": f"{ADMIN_USERNAME}:{ADMIN_PASSWORD}",
    "HFD_AUTH_ARGON2_MEMORY_KIB": "8192",
    "HFD_AUTH_ARGON2_TIME_COST": "1",
    "HFD_AUTH_ARGON2_PARALLELISM": "1",
    "HFD_GATEWAY_HEALTH_CACHE_SECONDS": "0",
    "HFD_AI_ANTHROPIC_API_KEY": "",
    # The collector's lease buckets need permissions of their own, so take that path too.
    "HFD_COLLECTOR_LEASES": "true",
    "ANTHROPIC_API_KEY": "",
}


class RestrictedStack(Stack):
    """A ``Stack`` whose services each connect as their own NATS user.

    ``Stack`` passes ``extra_env`` to every service and uses its ``HFD_NATS_URL`` for the
    readiness pings, so ``extra_env`` contains the service's URL while that service starts and
    the admin user's URL otherwise.
    """

    def __init__(self, infra: Infra, server: NatsUnderTest, **env: str) -> None:
        self.server = server
        self.shared_env = env
        super().__init__(infra, list(SERVICE_USERS), self._env_for("admin"))

    def _env_for(self, user: str) -> dict[str, str]:
        return {**self.shared_env, "HFD_NATS_URL": self.server.url(user)}

    def start_service(self, service: str):
        self.extra_env = self._env_for(service)
        try:
            return super().start_service(service)
        finally:
            self.extra_env = self._env_for("admin")


async def _execute(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def stack(nats_server: NatsUnderTest) -> RestrictedStack:
    """Every service and the gateway, on a database created for this module and dropped after it."""
    if not port_open("127.0.0.1", 5432):
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432; the stack test needs it with trust auth")
    database = f"hfd_deploy_{secrets.token_hex(4)}"
    work_dir = Path(tempfile.mkdtemp(prefix="hfd-deploy-stack-"))
    asyncio.run(_execute(f'CREATE DATABASE "{database}"'))
    infra = Infra(
        nats_url=nats_server.url("admin"),
        database_url=POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}",
        admin_database_url=POSTGRES_ADMIN_URL,
        database_name=database,
        prefix="",
        work_dir=work_dir,
    )
    running = RestrictedStack(infra, nats_server, **STACK_ENV)
    try:
        running.start(timeout=90)
        yield running
    finally:
        running.stop()
        asyncio.run(_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        shutil.rmtree(work_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def api(stack: RestrictedStack) -> httpx.Client:
    with httpx.Client(base_url=f"{stack.base_url}/api/v1", timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
def admin(api: httpx.Client) -> dict[str, str]:
    """Headers of the bootstrap admin, logged in through auth and the gateway's bucket copy."""
    reply = wait_until(
        lambda: api.post("/user/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}),
        lambda response: response.status_code == 200,
    )
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def wait_until(action: Callable[[], httpx.Response], done: Callable[[httpx.Response], bool], timeout: float = 30):
    """Repeat ``action`` until ``done`` accepts its response, and return the last response either way."""
    deadline = time.monotonic() + timeout
    response = action()
    while not done(response) and time.monotonic() < deadline:
        time.sleep(0.2)
        response = action()
    return response


def test_stack_health_all_services_ok(api):
    report = wait_until(lambda: api.get("/health"), lambda response: response.json()["status"] == "ok").json()

    assert report["status"] == "ok", report
    assert sorted(report["services"]) == sorted(user for user in SERVICE_USERS if user != "gateway")
    assert all(service["status"] == "ok" for service in report["services"].values()), report
    assert report["database"] == "connected"


def test_stack_login_reads_token_state(api, admin):
    me = api.get("/user/me", headers=admin)

    assert me.status_code == 200, me.text
    assert me.json()["username"] == ADMIN_USERNAME


def test_stack_cluster_create_is_audited(api, admin):
    name = f"deploy-{secrets.token_hex(3)}"
    created = api.post("/clusters", json={"name": name}, headers=admin)
    records = wait_until(
        lambda: api.get("/sys-exec-logs", params={"size": 100}, headers=admin),
        lambda response: any(item["target"] == "/api/v1/clusters" for item in response.json()["items"]),
    )

    assert created.status_code == 200, created.text
    assert any(item["action"] == "POST /api/v1/clusters" for item in records.json()["items"]), records.text


def test_stack_manual_fault_is_diagnosed(api, admin):
    cluster = api.post("/clusters", json={"name": f"deploy-{secrets.token_hex(3)}"}, headers=admin).json()["uuid"]
    body = {"type": "manual", "level": "warning", "title": "机架 3 风扇异常", "cluster": cluster}
    reported = api.post("/faults", json=body, headers=admin)
    incident_id = reported.json()["id"]
    diagnosis = wait_until(
        lambda: api.get(f"/incidents/{incident_id}/diagnosis", headers=admin),
        lambda response: response.status_code == 200,
    )

    assert reported.status_code == 200, reported.text
    assert diagnosis.status_code == 200, diagnosis.text


def test_stack_server_logged_no_violation(stack, nats_server):
    """Runs after the API tests above (pytest keeps file order), so it covers their traffic too."""
    assert nats_server.violations() == []
