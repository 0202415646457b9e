"""Fixtures of the inventory tests: auth, gateway, inventory and collector as real processes.

The stack is shared by the package. Its collector is the real service, but
``HFD_COLLECTOR_OWNED_NODES`` names a node that does not exist, so it stores every node it is
given and connects to none. That keeps SSH attempts and the collector's own samples and
status events out of the tests that publish samples themselves. ``test_demo_cluster`` starts
a second, isolated stack whose collector connects to the demo cluster's SSH nodes.

The retention sweep runs every second in batches of 100 samples, so the retention test
finishes quickly. The other tests publish only recent samples, which the sweep keeps.
"""

import pytest

from tests.conftest import (
    infra,  # noqa: F401 - an instance of its own for this package
    start_stack,
)
from tests.gateway.helpers import STACK_ENV, Api
from tests.inventory.helpers import Bus, Database

NO_NODE = "00000000-0000-0000-0000-000000000000"
INVENTORY_ENV = {
    "HFD_INVENTORY_RETENTION_INTERVAL_SECONDS": "1",
    "HFD_INVENTORY_RETENTION_BATCH_SIZE": "100",
}


def collector_env(infra, *, owned_nodes: str) -> dict[str, str]:
    return {
        "HFD_COLLECTOR_OWNED_NODES": owned_nodes,
        "HFD_COLLECTOR_KNOWN_HOSTS": str(infra.work_dir / f"known_hosts-{infra.prefix}"),
        "HFD_COLLECTOR_OPS_ENABLED": "false",
    }


@pytest.fixture(scope="package")
def stack(infra):
    env = {**STACK_ENV, **INVENTORY_ENV, **collector_env(infra, owned_nodes=NO_NODE)}
    running = start_stack(infra, "auth", "gateway", "inventory", "collector", **env)
    yield running
    running.stop()


@pytest.fixture
def collector_down(stack):
    """Stop the collector for one test and start it again afterwards."""
    stack.stop_service("collector")
    yield
    stack.start_service("collector")
    stack.wait_ready()


@pytest.fixture(scope="package")
def api(stack):
    client = Api(stack.base_url)
    yield client
    client.close()


@pytest.fixture(scope="package")
def bus(infra):
    connection = Bus(infra)
    yield connection
    connection.close()


@pytest.fixture(scope="package")
def database(infra, bus):
    return Database(infra, bus)


@pytest.fixture(scope="package")
def operator(api):
    return api.create_account("operator")


@pytest.fixture(scope="package")
def other_operator(api):
    return api.create_account("operator")


@pytest.fixture(scope="package")
def observer(api):
    return api.create_account("observer")
