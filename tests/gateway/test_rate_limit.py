"""Login and registration rate limits, on a second gateway with the default limits.

That gateway trusts ``X-Forwarded-For`` from 127.0.0.1, so each test acts from its own client
address; it shares the module's auth service.
"""

import secrets

import pytest

from tests.conftest import start_stack
from tests.gateway.helpers import Api, unique_name, wait_for

USERNAME_FAILURES = 5
USERNAME_FAILURES_TOTAL = 50
ADDRESS_ATTEMPTS = 20
REGISTRATIONS = 10


@pytest.fixture(scope="module")
def limited(stack, infra):
    gateway = start_stack(infra, "gateway", HFD_GATEWAY_FORWARDED_ALLOW_IPS="127.0.0.1")
    client = Api(gateway.base_url)
    yield client
    client.close()
    gateway.stop()


def client_address() -> dict[str, str]:
    return {"X-Forwarded-For": f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"}


def registration() -> dict:
    username = unique_name("flood")
    return {"username": username, "email": f"{username}@example.com", "password": "Flood1Password", "fullName": "Flood"}


def test_username_limit_after_failed_logins(api, limited):
    account = api.create_account("observer")
    attacker = client_address()
    for _ in range(USERNAME_FAILURES):
        assert limited.login(account.username, "Wrong1Password", headers=attacker).status_code == 401

    response = limited.login(account.username, account.password, headers=attacker)

    assert response.status_code == 429
    assert response.json()["detail"] == "too_many_attempts"
    assert 1 <= int(response.headers["retry-after"]) <= 300


def test_username_limit_spares_other_addresses(api, limited):
    account = api.create_account("observer")
    attacker = client_address()
    for _ in range(USERNAME_FAILURES + 1):
        limited.login(account.username, "Wrong1Password", headers=attacker)

    response = limited.login(account.username, account.password, headers=client_address())

    assert response.status_code == 200


def test_username_limit_across_many_addresses(api, limited):
    account = api.create_account("observer")
    for _ in range(USERNAME_FAILURES_TOTAL):
        limited.login(account.username, "Wrong1Password", headers=client_address())

    response = limited.login(account.username, account.password, headers=client_address())

    assert response.status_code == 429


def test_username_limit_message_names_seconds(api, limited):
    account = api.create_account("observer")
    attacker = client_address()
    for _ in range(USERNAME_FAILURES):
        limited.login(account.username, "Wrong1Password", headers=attacker)

    response = limited.login(account.username, "Wrong1Password", headers={**attacker, "Accept-Language": "en"})
    seconds = response.headers["retry-after"]

    assert response.json()["message"] == f"Too many login attempts; try again in {seconds} seconds"


def test_username_limit_ignores_case(api, limited):
    account = api.create_account("observer")
    attacker = client_address()
    for _ in range(USERNAME_FAILURES):
        limited.login(account.username.upper(), "Wrong1Password", headers=attacker)

    response = limited.login(account.username, account.password, headers=attacker)

    assert response.status_code == 429


def test_successful_login_clears_username_failures(api, limited):
    account = api.create_account("observer")
    address = client_address()
    for _ in range(USERNAME_FAILURES - 1):
        limited.login(account.username, "Wrong1Password", headers=address)
    assert limited.login(account.username, account.password, headers=address).status_code == 200

    for _ in range(USERNAME_FAILURES - 1):
        limited.login(account.username, "Wrong1Password", headers=address)
    response = limited.login(account.username, account.password, headers=address)

    assert response.status_code == 200


def test_username_limit_leaves_other_users(api, limited):
    locked = api.create_account("observer")
    other = api.create_account("observer")
    for _ in range(USERNAME_FAILURES):
        limited.login(locked.username, "Wrong1Password", headers=client_address())

    response = limited.login(other.username, other.password, headers=client_address())

    assert response.status_code == 200


def test_address_limit_after_many_attempts(limited):
    address = client_address()
    for _ in range(ADDRESS_ATTEMPTS):
        assert limited.login(unique_name("ghost"), "Wrong1Password", headers=address).status_code == 401

    response = limited.login(unique_name("ghost"), "Wrong1Password", headers=address)

    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_address_limit_leaves_other_addresses(limited):
    address = client_address()
    for _ in range(ADDRESS_ATTEMPTS):
        limited.login(unique_name("ghost"), "Wrong1Password", headers=address)

    response = limited.login(unique_name("ghost"), "Wrong1Password", headers=client_address())

    assert response.status_code == 401


def test_registration_limit_skips_invalid_bodies(limited):
    address = client_address()
    for _ in range(REGISTRATIONS):
        limited.request("POST", "/user/register", json={}, headers=address)

    response = limited.request("POST", "/user/register", json={}, headers=address)

    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["code"] == "field_required"


def test_registration_limit_counts_valid_requests(limited):
    address = client_address()
    for _ in range(REGISTRATIONS):
        assert limited.request("POST", "/user/register", json=registration(), headers=address).status_code == 200

    response = limited.request("POST", "/user/register", json=registration(), headers=address)

    assert response.status_code == 429


def test_forwarded_for_ignored_without_trusted_proxy(api):
    response = api.login(unique_name("ghost"), "Wrong1Password", headers={"X-Forwarded-For": "10.9.9.9"})
    operation_id = response.headers["x-operation-id"]

    def recorded_address():
        items = api.request("GET", "/sys-exec-logs", params={"size": 100}, headers=api.admin().headers).json()["items"]
        return next((item["client_address"] for item in items if item["operation_id"] == operation_id), None)

    assert wait_for(recorded_address) == "127.0.0.1"


def test_forwarded_for_used_from_trusted_proxy(api, limited):
    response = limited.login(unique_name("ghost"), "Wrong1Password", headers={"X-Forwarded-For": "10.8.8.8"})
    operation_id = response.headers["x-operation-id"]

    def recorded_address():
        items = api.request("GET", "/sys-exec-logs", params={"size": 100}, headers=api.admin().headers).json()["items"]
        return next((item["client_address"] for item in items if item["operation_id"] == operation_id), None)

    assert wait_for(recorded_address) == "10.8.8.8"
