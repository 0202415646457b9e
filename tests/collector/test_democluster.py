"""Collection from the demo cluster's asyncssh nodes (SFTP and exec served by asyncssh)."""

import asyncio
import uuid
from collections import Counter

import pytest

from tests.collector.conftest import Bus, entries_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
async def demo_cluster(tmp_path):
    democluster = pytest.importorskip("hfd.democluster")
    config = democluster.DemoClusterConfig(
        cluster_dir=tmp_path / "demo",
        name="cdemo",
        nodes=2,
        first_address="127.0.0.90",
        lines_per_second=5.0,
        fault_interval=0,
        seed=7,
    )
    cluster = democluster.DemoCluster(config)
    await cluster.start()
    yield cluster
    await cluster.stop()


async def register_demo_nodes(bus: Bus, cluster, cluster_uuid: str) -> dict[str, str]:
    uuids = {}
    for node in cluster.manifest.nodes:
        node_uuid = str(uuid.uuid4())
        reply = await bus.call(
            "nodes.upsert",
            {
                "cluster_uuid": cluster_uuid,
                "cluster_name": cluster.manifest.name,
                "node_uuid": node_uuid,
                "name": node.name,
                "address": node.address,
                "port": node.port,
                "ssh_user": node.ssh_user,
                "private_key": node.private_key_path.read_text(),
                "known_host_key": node.host_public_key,
                "log_dirs": [str(folder) for folder in node.log_dirs],
            },
            principal=None,
        )
        assert reply.status == 200, reply.body
        uuids[node.name] = node_uuid
    return uuids


async def test_demo_cluster_logs_collected_once(infra, collector, demo_cluster):
    cluster_uuid = str(uuid.uuid4())
    worker = next(node for node in demo_cluster.manifest.nodes if "datanode" in node.roles)
    marker = f"marker-{uuid.uuid4().hex}"
    lines = [
        f"2026-12-04 10:00:0{index},000 ERROR org.apache.hadoop.hdfs.server.datanode.DataNode: {marker} {index}"
        for index in range(3)
    ]
    trace = [
        "java.io.IOException: No space left on device",
        "\tat java.io.FileOutputStream.writeBytes(Native Method)",
    ]

    async with Bus(infra) as bus:
        await register_demo_nodes(bus, demo_cluster, cluster_uuid)
        await asyncio.sleep(2)
        demo_cluster.append_lines(worker.name, "datanode", [lines[0], *trace, lines[1], lines[2]])
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            batches = await bus.log_batches(cluster_uuid)
            found = [entry for entry in entries_of(batches) if marker in entry.text]
            if len(found) >= 3 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(1)

    assert [entry.text for entry in found] == [
        "\n".join([lines[0], *trace]),
        lines[1],
        lines[2],
    ]
    positions = Counter((batch.file, batch.inode, entry.offset) for _, batch in batches for entry in batch.entries)
    assert max(positions.values()) == 1, "a record was published twice"
    log_types = {batch.log_type for _, batch in batches}
    assert {"namenode", "datanode"} <= log_types
    assert {batch.node for _, batch in batches} == {node.name for node in demo_cluster.manifest.nodes}
