"""Login limits shared by two gateway replicas through the ``gateway_limits`` key-value bucket.

Two gateways with the default limits run beside the module's stack, on the same NATS prefix
and with the same auth service, and trust ``X-Forwarded-For`` from 127.0.0.1, so each test
acts from client addresses of its own.
"""

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import nats
import pytest

from libs.common.names import Names
from tests.conftest import start_stack
from tests.gateway.helpers import Api, unique_name
from tests.gateway.test_rate_limit import (
    ADDRESS_ATTEMPTS,
    USERNAME_FAILURES,
    USERNAME_FAILURES_TOTAL,
    client_address,
)

LIMITED_ENV = {"HFD_GATEWAY_FORWARDED_ALLOW_IPS": "127.0.0.1"}
KEY_PATTERN = re.compile(r"^[a-z_]+\.[0-9a-f]{64}$")
HOSTILE_USERNAMES = {
    "long_ascii": "a" * 256,
    "long_astral": "\U0001d518" * 256,
    "chinese": "用户名" * 80,
    "control_chars": "x\x00\x01\x1f\x7f\n\r\t",
    "subject_dots": "a.b.c",
    "subject_star": "*",
    "subject_tail": ">",
    "subject_mixed": " $KV.hfd_gateway_limits.*.> ",
    "case_expanding": "İSTANBUL",
    "empty": "",
}


@pytest.fixture(scope="module")
def replicas(stack, infra):
    """Two gateway replicas with the default limits; the module's stack runs the auth service."""
    first = start_stack(infra, "gateway", **LIMITED_ENV)
    second = start_stack(infra, "gateway", **LIMITED_ENV)
    clients = (Api(first.base_url), Api(second.base_url))
    yield (first, second), clients
    for client in clients:
        client.close()
    first.stop()
    second.stop()


def stored_keys(infra) -> list[str]:
    """Return every key in the test session's ``gateway_limits`` bucket."""

    async def read() -> list[str]:
        nc = await nats.connect(infra.nats_url)
        try:
            kv = await nc.jetstream().key_value(Names(infra.prefix).bucket("gateway_limits"))
            return await kv.keys()
        finally:
            await nc.close()

    return asyncio.run(read())


def test_pair_limit_spans_replicas(api, replicas):
    _, (first, second) = replicas
    account = api.create_account("observer")
    attacker = client_address()
    for attempt in range(USERNAME_FAILURES):
        gateway = first if attempt % 2 == 0 else second
        assert gateway.login(account.username, "Wrong1Password", headers=attacker).status_code == 401

    on_first = first.login(account.username, account.password, headers=attacker)
    on_second = second.login(account.username, account.password, headers=attacker)

    assert on_first.status_code == 429
    assert on_second.status_code == 429
    assert 1 <= int(on_second.headers["retry-after"]) <= 300


def test_username_total_spans_replicas(api, replicas):
    _, (first, second) = replicas
    account = api.create_account("observer")
    for attempt in range(USERNAME_FAILURES_TOTAL):
        gateway = first if attempt % 2 == 0 else second
        assert gateway.login(account.username, "Wrong1Password", headers=client_address()).status_code == 401

    response = second.login(account.username, account.password, headers=client_address())

    assert response.status_code == 429


def test_address_limit_spans_replicas(replicas):
    _, (first, second) = replicas
    address = client_address()
    for attempt in range(ADDRESS_ATTEMPTS):
        gateway = first if attempt % 2 == 0 else second
        assert gateway.login(unique_name("ghost"), "Wrong1Password", headers=address).status_code == 401

    response = first.login(unique_name("ghost"), "Wrong1Password", headers=address)

    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_concurrent_failures_stop_at_limit(api, replicas):
    (first, second), _ = replicas
    account = api.create_account("observer")
    attacker = client_address()
    body = {"username": account.username, "password": "Wrong1Password"}
    base_urls = [gateway.base_url for gateway in (first, second)] * 8
    start = threading.Barrier(len(base_urls))

    def login(base_url: str) -> int:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            client.get("/api/v1/health")  # open the connection before the barrier
            start.wait()
            return client.post("/api/v1/user/login", json=body, headers=attacker).status_code

    with ThreadPoolExecutor(max_workers=len(base_urls)) as pool:
        statuses = list(pool.map(login, base_urls))

    assert statuses.count(401) == USERNAME_FAILURES
    assert statuses.count(429) == len(base_urls) - USERNAME_FAILURES


def test_success_clears_pair_on_other_replica(api, replicas):
    _, (first, second) = replicas
    account = api.create_account("observer")
    address = client_address()
    for _ in range(USERNAME_FAILURES - 1):
        first.login(account.username, "Wrong1Password", headers=address)
    assert second.login(account.username, account.password, headers=address).status_code == 200

    for _ in range(USERNAME_FAILURES - 1):
        first.login(account.username, "Wrong1Password", headers=address)
    response = second.login(account.username, account.password, headers=address)

    assert response.status_code == 200


def test_pair_limit_survives_restart(api, replicas):
    (first, _), (first_client, _) = replicas
    account = api.create_account("observer")
    attacker = client_address()
    for _ in range(USERNAME_FAILURES):
        assert first_client.login(account.username, "Wrong1Password", headers=attacker).status_code == 401

    first.stop_service("gateway")
    first.start_service("gateway")
    first.wait_ready()
    response = first_client.login(account.username, account.password, headers=attacker)

    assert response.status_code == 429


@pytest.mark.parametrize("case", sorted(HOSTILE_USERNAMES))
def test_hostile_username_counted(replicas, case):
    _, (first, second) = replicas
    username = HOSTILE_USERNAMES[case]
    attacker = client_address()
    for attempt in range(USERNAME_FAILURES):
        gateway = first if attempt % 2 == 0 else second
        assert gateway.login(username, "Wrong1Password", headers=attacker).status_code == 401

    response = first.login(username, "Wrong1Password", headers=attacker)

    assert response.status_code == 429


def test_hostile_usernames_leave_safe_keys(infra, replicas):
    _, (first, _) = replicas
    first.login(HOSTILE_USERNAMES["subject_mixed"], "Wrong1Password", headers=client_address())

    keys = stored_keys(infra)

    assert keys
    assert [key for key in keys if not KEY_PATTERN.match(key)] == []


def test_normal_login_works_after_hostile_names(api, replicas):
    _, (first, _) = replicas
    account = api.create_account("observer")

    response = first.login(account.username, account.password, headers=client_address())

    assert response.status_code == 200
