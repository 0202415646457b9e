"""Reads of the running system that the recovery checks poll: streams, consumers, leases, tables."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import nats
from nats.js.api import ClusterInfo
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

from libs.common.names import Names

FAULTS_LEADER_BUCKET = "faults_leader"
FAULTS_LEADER_KEY = "consumers"
COLLECTOR_LEASES_BUCKET = "collector_leases"
FAULTS_LOGS_DURABLE = "faults_logs"
AI_DURABLE = "ai_faults"


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float, *, since: float | None = None, interval: float = 0.25
) -> float | None:
    """Poll ``check`` until it returns True, for at most ``timeout`` seconds from now.

    Return the seconds from ``since`` (a ``time.monotonic()`` value, by default the call) until
    the check passed, or None at the timeout. A check that raises counts as not yet true,
    because reads fail while NATS elects leaders.
    """
    called = time.monotonic()
    origin = called if since is None else since
    while True:
        try:
            if await check():
                return time.monotonic() - origin
        except Exception:  # noqa: BLE001 - any failure means "not recovered yet"
            pass
        if time.monotonic() - called > timeout:
            return None
        await asyncio.sleep(interval)


def holder_pid(value: bytes | None) -> int | None:
    """Return the process id at the start of a replica id (``<pid>-<random>``)."""
    if not value:
        return None
    head = value.decode().split("-", 1)[0]
    return int(head) if head.isdigit() else None


@dataclass
class ClusterBus:
    """The test's own NATS connection to the cluster, with the reads the checks need."""

    urls: list[str]
    names: Names
    cluster_uuid: str = ""
    # Monotonic time of the latest core-NATS LOGS publish seen per node subject token.
    last_publish: dict[str, float] = field(default_factory=dict)

    async def connect(self) -> "ClusterBus":
        self.nc = await nats.connect(self.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
        self.js = self.nc.jetstream(timeout=5)
        return self

    async def close(self) -> None:
        await self.nc.close()

    async def follow_log_publishes(self) -> None:
        """Record when each node last published to LOGS, from the subject alone."""
        subject = self.names.subject(f"logs.{self.cluster_uuid}.>")
        depth = len(subject.split(".")) - 1

        async def on_message(msg) -> None:
            self.last_publish[msg.subject.split(".")[depth]] = time.monotonic()

        await self.nc.subscribe(subject, cb=on_message)

    async def last_seq(self, stream: str = "LOGS") -> int:
        info = await self.js.stream_info(self.names.stream(stream))
        return info.state.last_seq

    async def stream_leader(self, stream: str) -> str:
        info = await self.js.stream_info(self.names.stream(stream))
        return info.cluster.leader

    async def consumer_backlog(self, stream: str, durable: str) -> int:
        """Return the messages the durable consumer has not yet acknowledged (pending plus in flight)."""
        info = await self.js.consumer_info(self.names.stream(stream), self.names.durable(durable))
        return (info.num_pending or 0) + (info.num_ack_pending or 0)

    async def consumer_ack_floor(self, stream: str, durable: str) -> int:
        """Return the stream sequence up to which the durable consumer has acknowledged every message."""
        info = await self.js.consumer_info(self.names.stream(stream), self.names.durable(durable))
        return info.ack_floor.stream_seq if info.ack_floor else 0

    async def streams_behind(self, only: str | None = None) -> dict[str, list[str]]:
        """Return ``{stream: lagging_peers()}`` for every stream not fully current (``only``: that stream).

        Key-value buckets are streams named ``KV_<bucket>``, so they are included.
        """
        if only is not None:
            names = [self.names.stream(only)]
        else:
            names = [info.config.name for info in await self.js.streams_info()]
        behind = {}
        for name in names:
            info = await self.js.stream_info(name)
            lagging = lagging_peers(info.cluster, info.config.num_replicas or 1)
            if lagging:
                behind[name] = lagging
        return behind

    async def consumers_behind(self) -> dict[str, list[str]]:
        """Return ``{stream/durable: lagging_peers()}`` for every durable consumer not fully current."""
        behind = {}
        for stream in await self.js.streams_info():
            for consumer in await self.js.consumers_info(stream.config.name):
                if not consumer.config.durable_name:
                    continue  # ephemeral consumers (key-value watchers, ordered reads) have one replica
                replicas = consumer.config.num_replicas or stream.config.num_replicas or 1
                lagging = lagging_peers(consumer.cluster, replicas)
                if lagging:
                    behind[f"{stream.config.name}/{consumer.name}"] = lagging
        return behind

    async def faults_leader_pid(self) -> int | None:
        """Return the pid of the faults replica holding the consumers lease; None without a holder or bucket."""
        try:
            bucket = await self.js.key_value(self.names.bucket(FAULTS_LEADER_BUCKET))
            entry = await bucket.get(FAULTS_LEADER_KEY)
        except (BucketNotFoundError, KeyNotFoundError):
            return None
        return holder_pid(entry.value)

    async def collector_holders(self, node_uuids: list[str]) -> dict[str, int | None]:
        """Return ``{node uuid: pid of the collector holding its lease}``, None for an unleased node."""
        bucket = await self.js.key_value(self.names.bucket(COLLECTOR_LEASES_BUCKET))
        holders: dict[str, int | None] = {}
        for node_uuid in node_uuids:
            try:
                holders[node_uuid] = holder_pid((await bucket.get(node_uuid)).value)
            except KeyNotFoundError:
                holders[node_uuid] = None
        return holders


def lagging_peers(cluster: ClusterInfo | None, replicas: int) -> list[str]:
    """Return what keeps a raft group of ``replicas`` members from being fully current.

    That is each replica that is offline or not current, ``no leader``, or how many members the
    group does not list. An empty list means every member has caught up.
    """
    if cluster is None or not cluster.leader:
        return ["no leader"]
    peers = cluster.replicas or []
    lagging = [peer.name or "?" for peer in peers if not peer.current or peer.offline]
    if 1 + len(peers) < replicas:
        lagging.append(f"{replicas - 1 - len(peers)} not listed")
    return lagging


class Database:
    """Queries of the services' tables in the test package's database."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+asyncpg://", "postgresql://")

    async def fetch(self, query: str, *args) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.url)
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()

    async def nodes(self, cluster_uuid: str) -> dict[str, str]:
        """Return ``{node uuid: node name}`` as the collector stores them."""
        rows = await self.fetch("SELECT node_uuid, name FROM collector.nodes WHERE cluster_uuid = $1", cluster_uuid)
        return {row["node_uuid"]: row["name"] for row in rows}

    async def positions(self, node_uuids: list[str]) -> dict[tuple[str, str], tuple[int, int, bool]]:
        """Return ``{(node uuid, path): (inode, committed offset, batch pending)}`` of the collector."""
        rows = await self.fetch(
            "SELECT node_uuid, path, inode, \"offset\", pending_end FROM collector.file_positions "
            "WHERE node_uuid = ANY($1::text[])",
            node_uuids,
        )
        return {
            (row["node_uuid"], row["path"]): (row["inode"], row["offset"], row["pending_end"] is not None)
            for row in rows
        }

    async def undiagnosed(self, cluster_uuid: str) -> list[str]:
        """Return the incidents of the cluster that have no diagnosis."""
        rows = await self.fetch(
            "SELECT i.id FROM faults.incidents i WHERE i.cluster = $1 AND NOT EXISTS "
            "(SELECT 1 FROM ai.diagnoses d WHERE d.incident_id = i.id)",
            cluster_uuid,
        )
        return [row["id"] for row in rows]

    async def diagnosed_since(self, cluster_uuid: str, since) -> int:
        """Return how many incidents created after ``since`` (a UTC datetime) have a diagnosis."""
        rows = await self.fetch(
            "SELECT count(DISTINCT i.id) AS n FROM faults.incidents i JOIN ai.diagnoses d ON d.incident_id = i.id "
            "WHERE i.cluster = $1 AND i.created_at > $2",
            cluster_uuid,
            since,
        )
        return rows[0]["n"]

    async def outbox_size(self) -> int:
        rows = await self.fetch("SELECT count(*) AS n FROM faults.outbox")
        return rows[0]["n"]
