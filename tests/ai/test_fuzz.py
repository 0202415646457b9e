"""Schemathesis against the AI routes of the gateway: no generated request gets a 5xx.

The fake Messages API returns plain text to every request. Chat replies with it, and a
diagnosis treats it as an invalid answer and falls back to the offline diagnoser. Chat's
designed 503 (no model) would otherwise count as a server error.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.anthropic_server import text_turn
from tests.infra import REPO_ROOT

AI_PATHS = r"^/api/v1/(ai/|incidents/|repairs)"


@pytest.mark.slow
def test_ai_routes_no_server_errors(stack, api, admin, cluster, fake_llm, tmp_path):
    binary = Path(sys.executable).parent / "schemathesis"
    if not binary.exists():
        pytest.skip(f"schemathesis not installed beside {sys.executable}")
    fake_llm.script(*[text_turn("A short reply.") for _ in range(2000)])
    command = [
        str(binary),
        "run",
        f"{api.base_url}/openapi.json",
        "--checks=not_a_server_error,contract_error_shape",
        f"--header=Authorization: Bearer {admin.token}",
        f"--include-path-regex={AI_PATHS}",
        "--max-examples=8",
        "--max-time=60",
        "--seed=1",
        "--no-color",
    ]
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.gateway.schemathesis_checks",
        "PYTHONPATH": str(REPO_ROOT),
    }
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=240)
    failures = result.stdout[result.stdout.find("FAILURES") :]
    gateway_log = stack.log("gateway")
    first_error = gateway_log.find(" ERROR ")
    trace = gateway_log[first_error : first_error + 3000] if first_error >= 0 else ""
    assert result.returncode == 0, failures[:3000] + trace
