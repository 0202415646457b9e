"""Demo nodes listen on 127.0.0.0/8 only."""

import asyncssh
import pytest
from pydantic import ValidationError

from hfd.democluster.cluster import DemoCluster
from hfd.democluster.config import DemoClusterConfig, node_addresses, require_loopback
from hfd.democluster.layout import ClusterLayout
from hfd.democluster.nodes import NodeServer
from tests.democluster.helpers import fast_config

OUTSIDE = ["0.0.0.0", "10.0.0.2", "192.168.1.10", "8.8.8.8", "::1", "::", "localhost", "127.0.0.2.example", ""]


@pytest.mark.parametrize("address", OUTSIDE)
def test_require_loopback_rejects(address):
    with pytest.raises(ValueError):
        require_loopback(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "127.255.255.254"])
def test_require_loopback_accepts(address):
    assert str(require_loopback(address)) == address


def test_node_addresses_stop_at_network_end():
    assert node_addresses("127.0.0.2", 3) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    with pytest.raises(ValueError):
        node_addresses("127.255.255.254", 3)


def test_config_rejects_outside_first_address(tmp_path):
    with pytest.raises(ValidationError):
        DemoClusterConfig(cluster_dir=tmp_path, first_address="192.168.1.10")


def test_node_server_rejects_outside_address(tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    layout = ClusterLayout(tmp_path).node("demo-x")

    with pytest.raises(ValueError):
        NodeServer(layout, "0.0.0.0", "hadoop", key, key)


async def test_node_server_start_rechecks_address(tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = NodeServer(ClusterLayout(tmp_path).node("demo-x"), "127.0.0.9", "hadoop", key, key)
    server.address = "0.0.0.0"

    with pytest.raises(ValueError):
        await server.start(0)
    assert server.port is None


async def test_cluster_binds_only_loopback(tmp_path):
    demo = DemoCluster(fast_config(tmp_path / "cluster", nodes=2))
    await demo.start()
    try:
        bound = {server.address for server in demo.servers.values()}
        assert bound == {"127.0.0.2", "127.0.0.3"}
    finally:
        await demo.stop()
