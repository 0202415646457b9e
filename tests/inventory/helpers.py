"""Helpers for the inventory tests: a NATS connection on a background event loop, metric publishing
to JetStream, direct reads of the database, and SSH keys.

The tests are synchronous because they drive the gateway with ``httpx.Client``. Asynchronous
work (NATS, asyncpg, the demo cluster's SSH servers) runs on the event loop of ``Bus`` in a
background thread, which keeps running between calls.
"""

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import asyncpg
import asyncssh
import nats

from libs.common.events import MetricSample, NodeStatusEvent
from libs.common.names import Names, subject_token
from libs.common.rpc import RpcClient, RpcReply, RpcRequest
from tests.infra import Infra


class Bus:
    """One NATS connection whose event loop runs in a daemon thread."""

    def __init__(self, infra: Infra) -> None:
        self.infra = infra
        self.names = Names(infra.prefix)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-bus", daemon=True)
        self.thread.start()
        self.nc = self.run(nats.connect(infra.nats_url))
        self.js = self.nc.jetstream()
        self.client = RpcClient(self.nc, self.names, timeout=15)

    def run(self, coro: Coroutine) -> Any:
        """Run ``coro`` on the bus loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def close(self) -> None:
        self.run(self.nc.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def call(self, operation: str, body: Any = None, *, principal: dict | None = None, lang: str = "zh") -> RpcReply:
        """Call ``hfd.inventory.<operation>`` directly, as another service would."""
        request = RpcRequest.model_validate({"principal": principal, "body": body, "lang": lang})
        return self.run(self.client.call("inventory", operation, request))

    def publish_sample(
        self,
        cluster: str,
        node: str,
        sampled_at: datetime,
        *,
        cpu: float | None = None,
        memory: float | None = None,
        disk: float | None = None,
        message_id: str | None = None,
    ) -> None:
        """Publish a ``MetricSample`` to METRICS, by default with the collector's message id scheme."""
        event = MetricSample(
            cluster=cluster, node=node, sampled_at=sampled_at, cpu_percent=cpu, memory_percent=memory, disk_percent=disk
        )
        subject = self.names.metrics(subject_token(cluster), subject_token(node))
        self.run(
            self._publish(subject, event.model_dump_json().encode(), message_id or f"{node}:{sampled_at.isoformat()}")
        )

    def publish_status(self, cluster: str, node: str, *, reachable: bool, observed_at: datetime) -> None:
        event = NodeStatusEvent(cluster=cluster, node=node, reachable=reachable, observed_at=observed_at)
        subject = self.names.metrics(subject_token(cluster), subject_token(node)) + ".status"
        self.run(self._publish(subject, event.model_dump_json().encode(), f"{node}:status:{observed_at.isoformat()}"))

    def publish_raw(self, subject_suffix: str, data: bytes) -> None:
        self.run(self._publish(self.names.subject(subject_suffix), data, str(uuid.uuid4())))

    async def _publish(self, subject: str, data: bytes, message_id: str) -> None:
        await self.js.publish(subject, data, headers={"Nats-Msg-Id": message_id})


class Database:
    """Direct reads and writes of the test session's database, for checks the API cannot show."""

    def __init__(self, infra: Infra, bus: Bus) -> None:
        self.url = infra.database_url.replace("postgresql+asyncpg://", "postgresql://")
        self.bus = bus

    def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return self.bus.run(self._fetch(query, *args))

    def collector_nodes(self, cluster_uuid: str) -> dict[str, asyncpg.Record]:
        """Return the collector's stored nodes of a cluster by node uuid."""
        rows = self.fetch("SELECT * FROM collector.nodes WHERE cluster_uuid = $1", cluster_uuid)
        return {row["node_uuid"]: row for row in rows}

    def execute_many(self, statement: str, rows: list[tuple]) -> None:
        self.bus.run(self._execute_many(statement, rows))

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.url)
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()

    async def _execute_many(self, statement: str, rows: list[tuple]) -> None:
        connection = await asyncpg.connect(self.url)
        try:
            await connection.executemany(statement, rows)
        finally:
            await connection.close()


def node_body(hostname: str, ip_address: str, **extra: Any) -> dict:
    """Return a valid node of ``POST /clusters`` with a password; ``extra`` replaces or adds fields."""
    body = {
        "hostname": hostname,
        "ip_address": ip_address,
        "ssh_user": "hadoop",
        "ssh_password": "n0t-a-real-secret",
        "ssh_port": 2222,
        "log_dirs": ["/var/log/hadoop"],
    }
    body.update(extra)
    return body


def ssh_key_pair() -> tuple[str, str]:
    """Return a new Ed25519 private key (OpenSSH text) and its public key line."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    return key.export_private_key().decode(), key.export_public_key().decode().strip()
