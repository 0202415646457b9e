"""Fixtures of the collector tests: sshd nodes on loopback, the collector process, stream readers."""

import asyncio
import itertools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.common.events import LogBatch
from libs.common.names import Names
from libs.common.rpc import Principal, RpcClient, RpcRequest
from tests.collector.sshd import SshdNode, make_sshd_node, sshd_available
from tests.conftest import (
    infra,  # noqa: F401 - an instance of its own for this package
    start_stack,
)
from tests.gateway.helpers import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.infra import Infra, Stack

ADMIN = Principal(user_id=1, username="admin", role="admin")
_addresses = itertools.count(20)


def next_address() -> str:
    """Return a fresh loopback address per node, so nodes never share a host key entry."""
    return f"127.0.0.{next(_addresses)}"


@pytest.fixture
def sshd_factory(tmp_path: Path) -> Iterator:
    """Start OpenSSH sshd nodes on 127.0.0.x; skips when sshd is not installed."""
    if not sshd_available():
        pytest.skip("OpenSSH sshd not found at /usr/sbin/sshd; install openssh-server (.ci/run does)")
    started: list[SshdNode] = []
    client_key = None

    def start(name: str = "node") -> SshdNode:
        nonlocal client_key
        folder = tmp_path / f"{name}-{len(started)}"
        node = make_sshd_node(folder, next_address(), client_key_path=client_key)
        client_key = client_key or folder / "client_ed25519"
        started.append(node.start())
        return node

    yield start
    for node in started:
        node.stop()


def collector_env(infra: Infra, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "HFD_COLLECTOR_KNOWN_HOSTS": str(tmp_path / "known_hosts"),
        "HFD_COLLECTOR_MULTILINE_QUIET_SECONDS": "0.5",
        "HFD_COLLECTOR_ACTIVE_POLL_DELAY": "0.1",
        "HFD_COLLECTOR_BACKOFF_MAX": "2",
        "HFD_COLLECTOR_ACK_TIMEOUT": "2",
        "HFD_COLLECTOR_PUBLISH_RETRY_MAX": "1",
        "HFD_COLLECTOR_METRIC_INTERVAL": "60",
    }
    env.update(extra)
    return env


@pytest.fixture
def full_stack(infra: Infra, tmp_path: Path) -> Iterator[Stack]:
    """Auth, inventory, the collector and the gateway, with the gateway tests' admin."""
    stack = start_stack(
        infra,
        "auth",
        "inventory",
        "collector",
        "gateway",
        # The package's other stacks bootstrap this same admin, and only the first bootstrap counts.
        HFD_BOOTSTRAP_ADMIN=f"{ADMIN_USERNAME}:{ADMIN_PASSWORD}",
        **collector_env(infra, tmp_path),
    )
    yield stack
    stack.stop()


@pytest.fixture
def collector(infra: Infra, tmp_path: Path) -> Iterator[Stack]:
    """The collector service as a subprocess, with short poll and retry times."""
    stack = start_stack(infra, "collector", **collector_env(infra, tmp_path))
    yield stack
    stack.stop()


class Bus:
    """A NATS connection of the test, with helpers for the collector's RPC and streams."""

    def __init__(self, infra: Infra) -> None:
        self.infra = infra
        self.names = Names(infra.prefix)
        self.nc = None

    async def __aenter__(self) -> "Bus":
        self.nc = await nats.connect(self.infra.nats_url)
        self.js = self.nc.jetstream()
        self.rpc = RpcClient(self.nc, self.names, timeout=15)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.nc.close()

    async def call(self, operation: str, body=None, *, principal=ADMIN, params=None, lang="en"):
        request = RpcRequest(principal=principal, body=body, params=params or {}, lang=lang)
        return await self.rpc.call("collector", operation, request)

    async def register(self, node: SshdNode, log_dir: Path, *, cluster_uuid: str, name: str, **extra) -> str:
        node_uuid = str(uuid.uuid4())
        body = {
            "cluster_uuid": cluster_uuid,
            "cluster_name": f"c-{cluster_uuid[:8]}",
            "node_uuid": node_uuid,
            "name": name,
            "address": node.address,
            "port": node.port,
            "ssh_user": node.user,
            "password": None,
            "private_key": node.client_private_key,
            "known_host_key": node.host_public_key,
            "log_dirs": [str(log_dir)],
        }
        body.update(extra)
        reply = await self.call("nodes.upsert", body, principal=None)
        assert reply.status == 200, reply.body
        return node_uuid

    async def read_stream(self, stream: str, subject: str, timeout: float = 1.0) -> list[tuple[str, bytes]]:
        """Return ``(msg id, payload)`` of every message on ``subject`` in ``stream`` when the read started."""
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, filter_subject=subject)
        sub = await self.js.subscribe(subject, stream=self.names.stream(stream), ordered_consumer=True, config=config)
        messages = []
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=timeout)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                messages.append(((msg.headers or {}).get("Nats-Msg-Id", ""), msg.data))
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        return messages

    async def log_batches(self, cluster_uuid: str) -> list[tuple[str, LogBatch]]:
        subject = self.names.subject(f"logs.{cluster_uuid}.>")
        return [
            (msg_id, LogBatch.model_validate_json(data)) for msg_id, data in await self.read_stream("LOGS", subject)
        ]

    async def wait_for_records(
        self, cluster_uuid: str, count: int, timeout: float = 30.0
    ) -> list[tuple[str, LogBatch]]:
        """Poll the stream until ``count`` records of the cluster are there (or the time is up)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            batches = await self.log_batches(cluster_uuid)
            total = sum(len(batch.entries) for _, batch in batches)
            if total >= count or asyncio.get_running_loop().time() > deadline:
                return batches
            await asyncio.sleep(0.5)


def entries_of(batches: list[tuple[str, LogBatch]], file: str | None = None) -> list:
    return [entry for _, batch in batches if file in (None, batch.file) for entry in batch.entries]


def header_line(number: int, level: str = "INFO") -> str:
    """A Hadoop 3 DataNode record header with a counter in its message."""
    second = number % 60
    minute = (number // 60) % 60
    return (
        f"2026-12-04 10:{minute:02d}:{second:02d},{number % 1000:03d} {level} "
        f"org.apache.hadoop.hdfs.server.datanode.DataNode: record {number}\n"
    )


def stack_trace(number: int) -> str:
    return (
        header_line(number, "ERROR")
        + "java.io.IOException: No space left on device\n"
        + "\tat java.io.FileOutputStream.writeBytes(Native Method)\n"
        + f"\tat org.apache.hadoop.hdfs.server.datanode.BlockReceiver.receivePacket(BlockReceiver.java:{number})\n"
    )


def dump(value) -> str:
    return json.dumps(value, default=str)
