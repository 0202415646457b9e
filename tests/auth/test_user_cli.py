"""``hfd user create`` as a subprocess, against the session's database, checked through the gateway."""

import subprocess
import sys

from tests.gateway.helpers import STRONG_PASSWORD, unique_name
from tests.infra import REPO_ROOT


def run_cli(infra, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hfd.cli", "user", "create", *args],
        cwd=REPO_ROOT,
        env=infra.env(HFD_AUTH_ARGON2_MEMORY_KIB="8192", HFD_AUTH_ARGON2_TIME_COST="1"),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_creates_user_from_stdin_password(api, infra):
    username = unique_name("cli")

    result = run_cli(
        infra,
        "--username",
        username,
        "--role",
        "operator",
        "--email",
        f"{username}@example.com",
        "--password-stdin",
        stdin=f"{STRONG_PASSWORD}\n",
    )
    login = api.login(username, STRONG_PASSWORD)

    assert result.returncode == 0, result.stderr
    assert f"created user {username}" in result.stdout
    assert STRONG_PASSWORD not in result.stdout
    assert login.status_code == 200
    assert login.json()["roles"] == ["operator"]
    assert login.json()["mustChangePassword"] is False


def test_cli_creates_admin_with_password_option(api, infra):
    username = unique_name("cliadm")

    result = run_cli(
        infra,
        "--username",
        username,
        "--role",
        "admin",
        "--email",
        f"{username}@example.com",
        "--password",
        STRONG_PASSWORD,
        "--full-name",
        "CLI Admin",
    )
    login = api.login(username, STRONG_PASSWORD)

    assert result.returncode == 0, result.stderr
    assert login.json()["fullName"] == "CLI Admin"
    assert api.request("GET", "/users", headers={"Authorization": f"Bearer {login.json()['token']}"}).status_code == 200


def test_cli_generates_one_time_password(api, infra):
    username = unique_name("clio")

    result = run_cli(infra, "--username", username, "--role", "observer", "--email", f"{username}@example.com")
    line = next(line for line in result.stdout.splitlines() if line.startswith("one-time password: "))
    login = api.login(username, line.removeprefix("one-time password: "))

    assert result.returncode == 0, result.stderr
    assert login.status_code == 200
    assert login.json()["mustChangePassword"] is True


def test_cli_rejects_weak_password(infra):
    username = unique_name("cliw")

    result = run_cli(
        infra, "--username", username, "--role", "observer", "--email", f"{username}@example.com", "--password", "weak"
    )

    assert result.returncode == 1
    assert "password" in result.stderr
    assert "weak_password" in result.stderr


def test_cli_rejects_duplicate_username(infra):
    username = unique_name("clid")
    args = [
        "--username",
        username,
        "--role",
        "observer",
        "--email",
        f"{username}@example.com",
        "--password",
        STRONG_PASSWORD,
    ]
    assert run_cli(infra, *args).returncode == 0

    result = run_cli(
        infra,
        "--username",
        username,
        "--role",
        "observer",
        "--email",
        f"x{username}@example.com",
        "--password",
        STRONG_PASSWORD,
    )

    assert result.returncode == 1
    assert "username_taken" in result.stderr


def test_cli_rejects_both_password_options(infra):
    result = run_cli(
        infra,
        "--username",
        unique_name("clib"),
        "--role",
        "observer",
        "--email",
        "b@example.com",
        "--password",
        STRONG_PASSWORD,
        "--password-stdin",
        stdin="x\n",
    )

    assert result.returncode == 2
    assert "either --password or --password-stdin" in result.stderr
