"""Keeps every collector replica's node state in step after one replica changes it.

A request that changes nodes (set-log-dir, collector and sampler controls, ``nodes.upsert``,
``nodes.remove``) reaches one replica through the NATS queue group. That replica stores the
change, reloads the nodes itself and publishes ``CollectorStateChanged`` on a core NATS subject
that every replica subscribes to without a queue group. Each other replica then reloads the
listed nodes from the database, so the lease holder tails the new folders at once and the
others update the SSH targets that commands and log reads use.

Core NATS delivers a message at most once, to the subscribers connected at that moment (the
"Core NATS Deep Dive" page of docs.nats.io). A replica that was disconnected, or a sender that
died before the message left its buffer, leaves a replica with old state. ``run_resync``
covers that case: every ``HFD_COLLECTOR_RESYNC_INTERVAL`` seconds it compares the replica's
state with the database and reloads what differs.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, Field, ValidationError

from libs.common.names import Names
from services.collector import service
from services.collector.scheduler import CollectorRuntime

logger = logging.getLogger(__name__)

# Node uuids per message: 500 uuids are about 20 KB, far below NATS's default 1 MiB max_payload.
MAX_IDS_PER_MESSAGE = 500


class CollectorStateChanged(BaseModel):
    """Nodes and cluster samplers whose stored state one collector replica changed and reloaded."""

    schema_version: Literal[1] = 1
    sender: str = Field(max_length=64, description="Replica id of the sender; a replica skips the messages it sent.")
    reason: str = Field(max_length=64, description="Operation that made the change, for logs.")
    node_uuids: list[str] = Field(default_factory=list, max_length=MAX_IDS_PER_MESSAGE)
    sampler_clusters: list[str] = Field(default_factory=list, max_length=MAX_IDS_PER_MESSAGE)


class ReplicaSync:
    """Publishes this replica's changes to the other replicas and applies theirs."""

    def __init__(self, nc: Client, names: Names, runtime: CollectorRuntime, *, replica_id: str) -> None:
        self.nc = nc
        self.subject = names.collector_state_changed()
        self.runtime = runtime
        self.replica_id = replica_id
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        """Subscribe without a queue group, so that every replica receives every change."""
        self._subscription = await self.nc.subscribe(self.subject, cb=self._on_message)
        logger.info("replica sync subscribed subject=%s replica=%s", self.subject, self.replica_id)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def announce(
        self, reason: str, *, node_uuids: Iterable[str] = (), sampler_clusters: Iterable[str] = ()
    ) -> None:
        """Tell the other replicas to reload these nodes and samplers; the caller has stored and reloaded them.

        A failed publish is logged and not raised, because the change is stored already and the
        next resync of each replica applies it.
        """
        nodes = list(node_uuids)
        clusters = list(sampler_clusters)
        if not nodes and not clusters:
            return
        for start in range(0, max(len(nodes), len(clusters)), MAX_IDS_PER_MESSAGE):
            event = CollectorStateChanged(
                sender=self.replica_id,
                reason=reason,
                node_uuids=nodes[start : start + MAX_IDS_PER_MESSAGE],
                sampler_clusters=clusters[start : start + MAX_IDS_PER_MESSAGE],
            )
            try:
                await self.nc.publish(self.subject, event.model_dump_json().encode())
            except Exception as error:  # a closed connection: the resync catches up
                logger.warning(
                    "state change not announced reason=%s nodes=%d replica=%s error=%s",
                    reason,
                    len(event.node_uuids),
                    self.replica_id,
                    error,
                )
                return
        logger.info("state change announced reason=%s nodes=%d samplers=%d", reason, len(nodes), len(clusters))

    async def _on_message(self, msg: Msg) -> None:
        try:
            event = CollectorStateChanged.model_validate_json(msg.data)
        except ValidationError as error:
            logger.warning("state change message rejected subject=%s errors=%d", msg.subject, error.error_count())
            return
        if event.sender == self.replica_id:
            return
        try:
            for node_uuid in event.node_uuids:
                await self.runtime.reload_node(node_uuid)
            for cluster_uuid in event.sampler_clusters:
                await self.runtime.reload_sampler(cluster_uuid)
        except Exception:  # the database is unreachable: the resync retries
            logger.exception("state change not applied reason=%s sender=%s", event.reason, event.sender)
            return
        logger.info(
            "state change applied reason=%s sender=%s nodes=%d samplers=%d",
            event.reason,
            event.sender,
            len(event.node_uuids),
            len(event.sampler_clusters),
        )

    async def run_resync(self, stopping: asyncio.Event, interval: float) -> None:
        """Call ``resync`` every ``interval`` seconds until the service stops."""
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), timeout=interval)
            except TimeoutError:
                pass
            if stopping.is_set():
                return
            try:
                await self.resync()
            except Exception:  # the database is unreachable: the next round retries
                logger.exception("state resync failed replica=%s", self.replica_id)

    async def resync(self) -> int:
        """Reload the nodes and samplers whose stored state differs from this replica's; return how many."""
        runtime = self.runtime
        async with runtime.db.session() as session:
            nodes = {node.node_uuid: node for node in await service.list_nodes(session)}
            rows = await service.list_collectors(session)
            samplers = await service.list_samplers(session)
        collectors: dict[str, dict[str, tuple[bool, int]]] = defaultdict(dict)
        for row in rows:
            collectors[row.node_uuid][row.log_type] = (row.running, row.interval)

        stale_nodes = runtime.stale_nodes(nodes, collectors)
        for node_uuid in stale_nodes:
            await runtime.reload_node(node_uuid)
        stale_samplers = [
            row.cluster_uuid
            for row in samplers
            if runtime.samplers.get(row.cluster_uuid) != (row.running, row.interval)
        ]
        for cluster_uuid in stale_samplers:
            await runtime.reload_sampler(cluster_uuid)
        if stale_nodes or stale_samplers:
            logger.info(
                "state resync reloaded nodes=%d samplers=%d first=%s replica=%s",
                len(stale_nodes),
                len(stale_samplers),
                (stale_nodes or stale_samplers)[0],
                self.replica_id,
            )
        return len(stale_nodes) + len(stale_samplers)
