"""A gateway whose NATS server goes away still serves HTTP; lost audit events are counted.

The gateway here has a private ``nats-server`` that the test stops, so the shared server and
the other tests are untouched. No auth service runs on that server.
"""

import re
import time

import httpx
import pytest

from hfd.embedded import EmbeddedNats
from tests.conftest import start_stack
from tests.gateway.helpers import wait_for


@pytest.fixture(scope="module")
def isolated(infra, tmp_path_factory):
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    url = server.start()
    gateway = start_stack(
        infra,
        "gateway",
        HFD_NATS_URL=url,
        HFD_GATEWAY_AUDIT_PUBLISH_ATTEMPTS="1",
        HFD_GATEWAY_AUDIT_PUBLISH_TIMEOUT_SECONDS="0.5",
        HFD_GATEWAY_HEALTH_TIMEOUT_SECONDS="0.3",
    )
    yield gateway, server
    gateway.stop()
    server.stop()


def audit_count(base_url: str, outcome: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    match = re.search(rf'hfd_gateway_audit_events_total{{outcome="{outcome}"}} ([0-9.e+]+)', text)
    return float(match.group(1)) if match else 0.0


def test_audit_event_published_while_connected(isolated):
    gateway, _ = isolated

    httpx.post(f"{gateway.base_url}/api/v1/users", json={}, timeout=5)

    assert wait_for(lambda: audit_count(gateway.base_url, "published") >= 1)


def test_login_without_auth_service_not_counted(isolated):
    gateway, _ = isolated
    body = {"username": "ghost", "password": "Wrong1Password"}

    responses = [httpx.post(f"{gateway.base_url}/api/v1/user/login", json=body, timeout=15) for _ in range(6)]

    assert [response.status_code for response in responses] == [503] * 6
    assert responses[-1].json()["detail"] == "service_unavailable"


def test_requests_answer_quickly_without_nats(isolated):
    gateway, server = isolated
    server.stop()
    before = audit_count(gateway.base_url, "failed")

    started = time.monotonic()
    response = httpx.post(f"{gateway.base_url}/api/v1/users", json={}, timeout=5)
    elapsed = time.monotonic() - started

    assert response.status_code == 401
    assert elapsed < 0.5
    assert wait_for(lambda: audit_count(gateway.base_url, "failed") > before, timeout=15)
    assert "audit event not published" in gateway.log("gateway")


def test_health_answers_without_nats(isolated):
    gateway, _ = isolated

    response = httpx.get(f"{gateway.base_url}/api/v1/health", timeout=10)

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["services"]["auth"]["status"] == "down"


def test_bad_token_rejected_locally_without_nats(isolated):
    gateway, _ = isolated

    response = httpx.get(f"{gateway.base_url}/api/v1/users", headers={"Authorization": "Bearer x.y.z"}, timeout=10)

    assert response.status_code == 401
    assert response.json()["detail"] == "invalid_token"


def test_login_without_nats_unavailable(isolated):
    gateway, _ = isolated
    body = {"username": "ghost", "password": "Wrong1Password"}

    started = time.monotonic()
    response = httpx.post(f"{gateway.base_url}/api/v1/user/login", json=body, timeout=15)
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["detail"] == "service_unavailable"
    assert elapsed < 5
    assert "rate limit bucket unavailable" in gateway.log("gateway")


def test_registration_without_nats_unavailable(isolated):
    gateway, _ = isolated
    body = {
        "username": "newcomer",
        "email": "newcomer@example.com",
        "password": "Flood1Password",
        "fullName": "Newcomer",
    }

    response = httpx.post(f"{gateway.base_url}/api/v1/user/register", json=body, timeout=15)

    assert response.status_code == 503
    assert response.json()["detail"] == "service_unavailable"
