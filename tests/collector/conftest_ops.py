"""Helpers of the ops tests: a demo cluster on a background loop that records every command its
nodes run, a NATS and PostgreSQL client on another loop, and the checks that prove nothing ran.

The ops tests are synchronous (they drive the gateway with ``httpx``), so everything that must
keep running between requests (the demo nodes' SSH servers and log generators, the NATS
connection) lives on event loops in daemon threads.
"""

import asyncio
import logging
import re
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats

from hfd.democluster import DemoCluster, DemoClusterConfig
from hfd.democluster.manifest import ClusterManifest
from libs.common.names import Names
from libs.common.rpc import RpcClient, RpcReply, RpcRequest
from tests.gateway.helpers import Account, Api
from tests.infra import Infra

# The demo node logs each exec request at DEBUG as ("node %s: exec %r", name, command).
NODE_LOGGER = "hfd.democluster.nodes"
# Commands the collector's data path runs on its own schedule (stat polling, log discovery,
# metric samples). They are not ops commands, so the "nothing ran" checks set them aside.
DATA_PATH_COMMANDS = (
    re.compile(r"^stat -L "),
    re.compile(r"^realpath -m -z -- /"),
    re.compile(r"^find -H (/\S+ )+-maxdepth \d+ -type f$"),
    re.compile(r"^find -H /\S+ -maxdepth 1 -type f -inum \d+$"),
    re.compile(r"^sh -c 'head -n 1 /proc/stat"),
)


def is_data_path_command(command: str) -> bool:
    return any(pattern.match(command) for pattern in DATA_PATH_COMMANDS)


class BackgroundLoop:
    """An event loop in a daemon thread; ``run`` executes a coroutine there and waits for it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class ExecHistory(logging.Handler):
    """Every command line a demo node received over SSH, in order: the nodes' shell history."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.commands: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "node %s: exec %r" and len(record.args or ()) == 2:
            node, command = record.args
            with self._lock:
                self.commands.append((str(node), str(command)))

    def snapshot(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.commands)

    def since(self, mark: int) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.commands[mark:])


class RunningDemoCluster:
    """A ``DemoCluster`` on its own loop, with the exec history of its nodes."""

    def __init__(self, cluster_dir: Path, nodes: int = 2) -> None:
        self.config = DemoClusterConfig(
            cluster_dir=cluster_dir, name="demo", nodes=nodes, fault_interval=0, lines_per_second=2.0, seed=11
        )
        self.history = ExecHistory()
        self.background = BackgroundLoop("demo-cluster")
        self.cluster = DemoCluster(self.config)
        self.manifest: ClusterManifest | None = None

    def start(self) -> "RunningDemoCluster":
        node_logger = logging.getLogger(NODE_LOGGER)
        node_logger.setLevel(logging.DEBUG)
        node_logger.addHandler(self.history)
        self.manifest = self.background.run(self.cluster.start())
        return self

    def stop(self) -> None:
        try:
            self.background.run(self.cluster.stop())
        finally:
            logging.getLogger(NODE_LOGGER).removeHandler(self.history)
            self.background.close()

    def node(self, name: str):
        return self.manifest.node(name)

    def registration(self) -> list[dict]:
        """The ``nodes`` of a ``POST /clusters`` body for this cluster."""
        key = self.manifest.nodes[0].private_key_path.read_text()
        return [
            {
                "hostname": node.name,
                "ip_address": node.address,
                "ssh_user": node.ssh_user,
                "ssh_private_key": key,
                "ssh_port": node.port,
                "log_dirs": [str(path) for path in node.log_dirs],
                "roles": node.roles,
                "known_host_key": node.host_public_key,
            }
            for node in self.manifest.nodes
        ]


class Bus:
    """NATS and PostgreSQL clients of the test on a background loop."""

    def __init__(self, infra: Infra) -> None:
        self.names = Names(infra.prefix)
        self.database_url = infra.database_url.replace("postgresql+asyncpg://", "postgresql://")
        self.background = BackgroundLoop("ops-bus")
        self.nc = self.background.run(nats.connect(infra.nats_url))
        self.client = RpcClient(self.nc, self.names, timeout=60)

    def close(self) -> None:
        self.background.run(self.nc.close())
        self.background.close()

    def call(self, service: str, operation: str, body: Any = None, *, principal: dict | None, lang: str = "en"):
        request = RpcRequest.model_validate({"principal": principal, "body": body, "lang": lang})
        reply: RpcReply = self.background.run(self.client.call(service, operation, request, timeout=60))
        return reply

    def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return self.background.run(self._fetch(query, *args))

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.database_url)
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()


@dataclass
class Evidence:
    """What a request could have changed: the canary files, the exec log and the nodes' history."""

    exec_log_count: int
    history_mark: int
    canaries: list[Path] = field(default_factory=list)


class Witness:
    """Takes ``Evidence`` before a hostile request and proves afterwards that nothing ran."""

    def __init__(self, bus: Bus, cluster: RunningDemoCluster, canaries: list[Path]) -> None:
        self.bus = bus
        self.cluster = cluster
        self.canaries = canaries

    def exec_log_rows(self) -> list[asyncpg.Record]:
        return self.bus.fetch("SELECT * FROM collector.exec_logs ORDER BY id")

    def before(self) -> Evidence:
        return Evidence(len(self.exec_log_rows()), len(self.cluster.history.snapshot()), self.canaries)

    def new_rows(self, evidence: Evidence) -> list[asyncpg.Record]:
        return self.exec_log_rows()[evidence.exec_log_count :]

    def new_commands(self, evidence: Evidence) -> list[tuple[str, str]]:
        """Commands the nodes received since ``evidence``, except the data path's polling."""
        return [item for item in self.all_new_commands(evidence) if not is_data_path_command(item[1])]

    def all_new_commands(self, evidence: Evidence) -> list[tuple[str, str]]:
        return self.cluster.history.since(evidence.history_mark)

    def canaries_created(self) -> list[Path]:
        return [path for path in self.canaries if path.exists()]


def owned_by(bus: Bus, account: Account, cluster_uuid: str) -> None:
    """Map a cluster to an account (inventory has no endpoint for this; the creator owns a cluster)."""
    bus.fetch(
        "INSERT INTO inventory.cluster_owners (user_id, cluster_uuid, created_at) VALUES ($1, $2, now()) "
        "ON CONFLICT DO NOTHING",
        account.user_id,
        uuid.UUID(cluster_uuid),
    )


def register_cluster(api: Api, account: Account, name: str, nodes: list[dict], **extra: Any) -> str:
    response = api.request("POST", "/clusters", json={"name": name, "nodes": nodes, **extra}, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["uuid"]
