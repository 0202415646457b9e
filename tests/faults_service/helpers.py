"""Building and publishing LOGS messages, and calling the faults service over NATS, for the tests."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from nats.aio.client import Client

from libs.common.events import LogBatch, LogEntry
from libs.common.names import Names
from libs.common.rpc import Principal, RpcClient, RpcReply, RpcRequest
from tests.infra import Infra

# Short redelivery delay for the durable consumers that the first faults stack of a session creates.
# A short consumers lease, so that a replica restarted after SIGKILL consumes again within seconds.
SERVICE_ENV = {
    "HFD_FAULTS_ACK_WAIT_SECONDS": "5",
    "HFD_FAULTS_LEASE_TTL": "3",
    "HFD_FAULTS_LEASE_RENEW_INTERVAL": "1",
}

ADMIN = Principal(user_id=1, username="admin", role="admin")
OBSERVER = Principal(user_id=99, username="watcher", role="observer")
DATANODE_LOGGER = "org.apache.hadoop.hdfs.server.datanode.DataNode"
BASE_TIME = datetime(2017, 6, 9, 20, 0, 0, tzinfo=UTC)

# Messages in Hadoop's layout that the catalog classifies with a single record each.
DISK_FULL = "IOException in BlockReceiver: java.io.IOException: No space left on device"
OUT_OF_MEMORY = "Exception in secureMain: java.lang.OutOfMemoryError: Java heap space"
UNKNOWN_A = "Replica handover for volume {n} stalled in an unexpected state"
UNKNOWN_B = "Checksum scanner thread {n} stopped with status code 7"


def hadoop_line(moment: datetime, level: str, message: str, logger: str = DATANODE_LOGGER) -> str:
    """Return one log line in the layout of Hadoop 2.x/3.x daemons."""
    return f"{moment:%Y-%m-%d %H:%M:%S},{moment.microsecond // 1000:03d} {level} {logger}: {message}"


def spaced_time(index: int) -> datetime:
    """Return a log time one minute and a second after the previous index, so no minute contains a burst."""
    return BASE_TIME + timedelta(seconds=61 * index)


class LogFile:
    """One log file of a node, published as consecutive ``LogBatch`` messages with real offsets."""

    def __init__(self, cluster: str, node: str, path: str = "/var/log/hadoop/hadoop-hdfs-datanode.log",
                 log_type: str = "datanode", inode: int = 4242) -> None:
        self.cluster = cluster
        self.node = node
        self.path = path
        self.log_type = log_type
        self.inode = inode
        self.offset = 0

    def batch(self, records: list[str]) -> tuple[LogBatch, str]:
        """Return the next batch holding ``records`` (each one record, maybe multi-line) and its message id."""
        first = self.offset
        entries = []
        for text in records:
            length = len(text.encode()) + 1
            entries.append(LogEntry(offset=self.offset, length=length, text=text))
            self.offset += length
        batch = LogBatch(
            cluster=self.cluster, node=self.node, log_type=self.log_type, file=self.path, inode=self.inode,
            entries=entries,
        )
        return batch, f"{self.cluster}/{self.node}:{self.path}:{self.inode}:{first}"


async def publish(nc: Client, names: Names, batch: LogBatch, msg_id: str) -> None:
    """Publish ``batch`` to LOGS and wait for the stream's acknowledgement."""
    subject = names.logs(batch.cluster, batch.node, batch.log_type)
    await nc.jetstream().publish(subject, batch.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id})


async def collect_events(nc: Client, names: Names, cluster: str) -> list[tuple[str, dict]]:
    """Subscribe to the FaultEvents of ``cluster``; the returned list fills with (message id, event)."""
    events: list[tuple[str, dict]] = []

    async def collect(msg) -> None:
        events.append(((msg.headers or {}).get("Nats-Msg-Id", ""), json.loads(msg.data)))

    await nc.subscribe(names.subject(f"faults.{cluster}.>"), cb=collect)
    return events


async def call(
    nc: Client, names: Names, operation: str, *, principal: Principal | None = ADMIN,
    params: dict[str, Any] | None = None, body: Any = None, lang: str = "zh",
) -> RpcReply:
    request = RpcRequest(principal=principal, params=params or {}, body=body, lang=lang)
    return await RpcClient(nc, names).call("faults", operation, request)


async def incidents_of(nc: Client, names: Names, cluster: str, **params: Any) -> list[dict]:
    """Return every incident of ``cluster`` as ``faults.list`` shows it to an admin."""
    reply = await call(nc, names, "faults.list", params={"cluster": cluster, "size": 100, **params})
    assert reply.status == 200, reply.body
    return reply.body["items"]


async def wait_until(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns a truthy value; raise TimeoutError with the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s; last value: {value!r}")


async def connect(infra: Infra) -> tuple[Client, Names]:
    return await nats.connect(infra.nats_url), Names(infra.prefix)
