"""Fixtures of the AI tests: the whole stack, a demo cluster, and a fake Messages API.

The stack runs every service as a real process. The AI service's model is the fake
Anthropic server on 127.0.0.1 (``tests/fakes/anthropic_server.py``), which the real
``anthropic`` SDK reaches through its base URL. Nothing leaves the machine: the base URL is set to
the fake even for stacks without a key.
"""

from pathlib import Path

import pytest

from tests.ai.helpers import BackgroundDemo, register_cluster
from tests.conftest import (
    infra,  # noqa: F401 - an instance of its own for this package
    start_stack,
)
from tests.fakes.anthropic_server import API_KEY, FakeAnthropic
from tests.gateway.helpers import STACK_ENV, Api

SERVICES = ("auth", "gateway", "inventory", "collector", "faults", "ai")


def stack_env(demo: BackgroundDemo, fake: FakeAnthropic, *, api_key: str, **extra: str) -> dict[str, str]:
    """Environment of a stack whose AI service uses ``fake`` (or no model when ``api_key`` is empty)."""
    temp_roots = demo.temp_root_template
    return {
        **STACK_ENV,
        "ANTHROPIC_BASE_URL": fake.base_url,
        "ANTHROPIC_API_KEY": api_key,
        "HFD_AI_ANTHROPIC_API_KEY": api_key,
        "HFD_AI_ANTHROPIC_BASE_URL": fake.base_url,
        "HFD_AI_MAX_RETRIES": "0",
        "HFD_AI_MODEL_FOR_EVENTS": "false",
        "HFD_AI_REQUEST_TIMEOUT_SECONDS": "3",
        "HFD_AI_TOOL_OUTPUT_MAX_CHARS": "1500",
        "HFD_AI_REPAIR_CHECK_WINDOW_SECONDS": "2",
        "HFD_AI_REDIAGNOSE_MIN_INTERVAL_SECONDS": "0",
        "HFD_AI_REPAIR_INGEST_GRACE_SECONDS": "3",
        "HFD_AI_EXTRA_SAFE_ACTIONS": '["namenode_safe_mode:leave_safe_mode"]',
        "HFD_AI_TEMP_ROOTS": f'["{temp_roots}"]',
        "HFD_COLLECTOR_TEMP_ROOTS": temp_roots,
        **extra,
    }


@pytest.fixture(scope="package")
def fake_llm():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(scope="package")
def demo(tmp_path_factory):
    cluster = BackgroundDemo(Path(tmp_path_factory.mktemp("ai-demo")) / "cluster", first_address="127.0.0.40")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="package")
def stack(infra, demo, fake_llm):
    """The stack with the fake model for people's requests; FAULTS events are diagnosed offline."""
    running = start_stack(infra, *SERVICES, **stack_env(demo, fake_llm, api_key=API_KEY))
    yield running
    running.stop()


@pytest.fixture(scope="package")
def api(stack):
    client = Api(stack.base_url)
    client.client.timeout = 120
    yield client
    client.close()


@pytest.fixture(scope="package")
def admin(api):
    return api.admin()


@pytest.fixture(scope="package")
def cluster(api, admin, demo):
    return register_cluster(api, admin, demo, policy="suggest")
