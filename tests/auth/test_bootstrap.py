"""The first admin from HFD_BOOTSTRAP_ADMIN: created once, never weak, never logged."""

import asyncio
import subprocess
import sys

import pytest

from tests.conftest import start_stack
from tests.gateway.helpers import ADMIN_PASSWORD, ADMIN_USERNAME, STRONG_PASSWORD, private_database, unique_name
from tests.infra import REPO_ROOT, create_test_streams


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


def test_bootstrap_name_of_existing_user_stops_service(infra):
    with private_database(infra, "bootname") as database_url:
        username = unique_name("boot")
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "hfd.cli",
                "user",
                "create",
                "--username",
                username,
                "--role",
                "observer",
                "--email",
                f"{username}@example.com",
                "--password",
                STRONG_PASSWORD,
            ],
            cwd=REPO_ROOT,
            env=infra.env(HFD_DATABASE_URL=database_url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stderr
        prefix = f"{infra.prefix}_bootname"
        asyncio.run(create_test_streams(infra.nats_url, prefix))

        with pytest.raises(RuntimeError) as failure:
            start_stack(
                infra,
                "auth",
                HFD_NATS_PREFIX=prefix,
                HFD_DATABASE_URL=database_url,
                HFD_BOOTSTRAP_ADMIN=f"{username}:Another1Admin",
            )

    assert "HFD_BOOTSTRAP_ADMIN cannot be created: its username is already used" in str(failure.value)
    assert "Another1Admin" not in str(failure.value)
