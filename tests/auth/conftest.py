"""Fixtures for the auth service tests: auth and gateway as real processes, one stack per test module."""

import pytest

from tests.conftest import (
    infra,  # noqa: F401 - an instance of its own for this package
    start_stack,
)
from tests.gateway.helpers import STACK_ENV, Api


@pytest.fixture(scope="module")
def stack(infra):
    """The auth service and the gateway, started for this module and stopped after it."""
    running = start_stack(infra, "auth", "gateway", **STACK_ENV)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(stack):
    client = Api(stack.base_url)
    yield client
    client.close()
