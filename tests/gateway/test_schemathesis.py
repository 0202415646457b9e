"""Property-based run of schemathesis against the gateway's own OpenAPI schema, with an admin token.

Checks: no response is a 5xx, and every error body has the contract's shape. The run covers
the auth service's routes, because other domains need their own services running. It leaves
out ``/logout``, which would revoke the run's token; ``test_auth_routes`` covers logout. The
hooks in ``schemathesis_checks`` keep the run from demoting, deleting or locking out its own
admin account.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import start_stack
from tests.gateway.helpers import STACK_ENV, Api, private_database
from tests.infra import REPO_ROOT, create_test_streams

OWN_PATHS = r"^/api/v1/(health|user/|login|refresh|users|sys-exec-logs)"
MAX_EXAMPLES = "15"
MAX_SECONDS = "75"


@pytest.fixture(scope="module")
def stack(infra):
    """Auth and gateway on a database and NATS prefix of their own, so the fuzzing leaves other modules alone."""
    prefix = f"{infra.prefix}_fuzz"
    asyncio.run(create_test_streams(infra.nats_url, prefix))
    with private_database(infra, "fuzz") as database_url:
        running = start_stack(
            infra, "auth", "gateway", HFD_DATABASE_URL=database_url, HFD_NATS_PREFIX=prefix, **STACK_ENV
        )
        yield running
        running.stop()


@pytest.fixture(scope="module")
def api(stack):
    client = Api(stack.base_url)
    yield client
    client.close()


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors(api, stack, tmp_path):
    binary = Path(sys.executable).parent / "schemathesis"
    if not binary.exists():
        pytest.skip(f"schemathesis not installed beside {sys.executable}")
    account = api.create_account("admin")

    command = [
        str(binary),
        "run",
        f"{stack.base_url}/openapi.json",
        "--checks=not_a_server_error,contract_error_shape",
        f"--header=Authorization: Bearer {account.token}",
        f"--include-path-regex={OWN_PATHS}",
        "--exclude-path=/api/v1/logout",
        f"--max-examples={MAX_EXAMPLES}",
        f"--max-time={MAX_SECONDS}",
        "--seed=1",
        "--no-color",
    ]
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.gateway.schemathesis_checks",
        "HFD_SCHEMATHESIS_ACCOUNT": account.username,
        "PYTHONPATH": str(REPO_ROOT),
    }
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=240)

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Selected: 13/" in result.stdout
    assert api.request("GET", "/users", headers=account.headers).status_code == 200
