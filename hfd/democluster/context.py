"""Identifiers and live daemon status shared by the log generators of one cluster.

Block ids, application ids, the cluster id and the block pool id come from here so that the
NameNode, DataNodes, ResourceManager and NodeManagers of one cluster write consistent values.
"""

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

NAMENODE_RPC_PORT = 8020
NAMENODE_HTTP_PORT = 9870
DATANODE_XFER_PORT = 9866
DATANODE_HTTP_PORT = 9864
DATANODE_IPC_PORT = 9867
RM_SCHEDULER_PORT = 8030
RM_TRACKER_PORT = 8031
RM_CLIENT_PORT = 8032
RM_WEB_PORT = 8088
NM_PORT = 45454
NM_WEB_PORT = 8042
# mapreduce.jobhistory.address and mapreduce.jobhistory.webapp.address of mapred-default.xml.
JHS_PORT = 10020
JHS_WEB_PORT = 19888

# Hadoop numbers blocks from 2^30 + 1 and generation stamps from 1001.
FIRST_BLOCK_ID = 1073741825
FIRST_GENERATION_STAMP = 1001


@dataclass(frozen=True)
class NodeIdentity:
    """Name, address and daemons of one node, as other nodes' logs refer to it."""

    name: str
    address: str
    daemons: tuple[str, ...]


@dataclass
class ClusterContext:
    """Shared identifiers and status callbacks for one generated cluster."""

    nodes: list[NodeIdentity]
    user: str
    rng: random.Random
    cluster_id: str = ""
    block_pool_id: str = ""
    cluster_timestamp: int = 0
    namespace_id: int = 0
    is_running: Callable[[str, str], bool] = field(default=lambda node, daemon: True)
    # Returns why the NameNode is in safe mode ("manual" or "resources"), or None when it is not.
    safemode_reason: Callable[[], str | None] = field(default=lambda: None)
    _next_block: int = FIRST_BLOCK_ID
    _next_stamp: int = FIRST_GENERATION_STAMP
    _next_application: int = 1

    def __post_init__(self) -> None:
        self.cluster_timestamp = int(datetime.now(UTC).timestamp() * 1000)
        self.cluster_id = f"CID-{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"
        self.namespace_id = self.rng.randint(100_000_000, 2_000_000_000)
        namenode = self.namenode
        nn_address = namenode.address if namenode else "127.0.0.2"
        self.block_pool_id = f"BP-{self.namespace_id}-{nn_address}-{self.cluster_timestamp}"

    def _first_with(self, daemon: str) -> NodeIdentity | None:
        return next((node for node in self.nodes if daemon in node.daemons), None)

    @property
    def namenode(self) -> NodeIdentity | None:
        return self._first_with("namenode")

    @property
    def resourcemanager(self) -> NodeIdentity | None:
        return self._first_with("resourcemanager")

    @property
    def datanodes(self) -> list[NodeIdentity]:
        return [node for node in self.nodes if "datanode" in node.daemons]

    @property
    def nodemanagers(self) -> list[NodeIdentity]:
        return [node for node in self.nodes if "nodemanager" in node.daemons]

    def namenode_up(self) -> bool:
        namenode = self.namenode
        return namenode is not None and self.is_running(namenode.name, "namenode")

    def safemode_on(self) -> bool:
        return self.safemode_reason() is not None

    def resourcemanager_up(self) -> bool:
        manager = self.resourcemanager
        return manager is not None and self.is_running(manager.name, "resourcemanager")

    def next_block(self) -> str:
        """Allocate a block name such as ``blk_1073741825_1001``."""
        block = f"blk_{self._next_block}_{self._next_stamp}"
        self._next_block += 1
        self._next_stamp += 1
        return block

    def next_application(self) -> str:
        application = f"application_{self.cluster_timestamp}_{self._next_application:04d}"
        self._next_application += 1
        return application

    def container_id(self, application: str, attempt: int, number: int) -> str:
        suffix = application.removeprefix("application_")
        return f"container_{suffix}_{attempt:02d}_{number:06d}"

    def namenode_endpoint(self) -> str:
        """Return ``host/address:port`` as Hadoop's IPC client prints the NameNode."""
        namenode = self.namenode
        if namenode is None:
            return f"localhost/127.0.0.1:{NAMENODE_RPC_PORT}"
        return f"{namenode.name}/{namenode.address}:{NAMENODE_RPC_PORT}"

    def resourcemanager_endpoint(self, port: int = RM_TRACKER_PORT) -> str:
        manager = self.resourcemanager
        if manager is None:
            return f"localhost/127.0.0.1:{port}"
        return f"{manager.name}/{manager.address}:{port}"

    def random_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
