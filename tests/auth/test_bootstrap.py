"""The first admin from HFD_BOOTSTRAP_ADMIN: created once, never weak, never logged."""

import asyncio

import pytest

from tests.conftest import start_stack
from tests.gateway.helpers import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.infra import create_test_streams


def test_bootstrap_admin_logs_in(api):
    response = api.login(ADMIN_USERNAME, ADMIN_PASSWORD)

    assert response.status_code == 200
    assert response.json()["roles"] == ["admin"]


def test_bootstrap_weak_password_stops_service(api, infra):
    prefix = f"{infra.prefix}_weakboot"
    asyncio.run(create_test_streams(infra.nats_url, prefix))

    with pytest.raises(RuntimeError) as failure:
        start_stack(infra, "auth", HFD_NATS_PREFIX=prefix, HFD_BOOTSTRAP_ADMIN="second:weakpw")

    assert "HFD_BOOTSTRAP_ADMIN is invalid (password: weak_password)" in str(failure.value)
    assert "weakpw" not in str(failure.value)


def test_bootstrap_skipped_when_admin_exists(api, infra):
    prefix = f"{infra.prefix}_reboot"
    asyncio.run(create_test_streams(infra.nats_url, prefix))

    stack = start_stack(infra, "auth", HFD_NATS_PREFIX=prefix, HFD_BOOTSTRAP_ADMIN="another_admin:Another1Admin")
    stack.stop()

    assert "bootstrap admin skipped: an admin exists" in stack.log("auth")
    assert api.login("another_admin", "Another1Admin").status_code == 401
