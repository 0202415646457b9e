"""The running collector: one tail task and one metric sampling task per node.

``CollectorRuntime`` keeps an in-memory copy of the collector state (nodes, collectors,
samplers) that the handlers reload after each database change, and starts, wakes or stops
the node tasks to match it.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from libs.common.db import Database
from libs.common.log_dirs import allowed_log_dirs
from services.collector import sampler, service
from services.collector.config import CollectorSettings
from services.collector.credentials import CredentialsUnavailable, NodeSecret, SecretBox, SecretDecryptionError
from services.collector.leases import NodeLeases
from services.collector.models import Node
from services.collector.node_target import NodeTarget
from services.collector.publisher import Publisher, StopPublishing
from services.collector.ssh import SshPool
from services.collector.ssh_errors import NodeUnreachable, UnknownNode
from services.collector.tailer import NodeTailer
from services.collector.telemetry import METRIC_SAMPLES

logger = logging.getLogger(__name__)

# Maximum number of nodes followed through inherited logins (a worker of a worker), which also ends reference loops.
MAX_CREDENTIAL_HOPS = 4


@dataclass
class NodeState:
    """The runtime's view of one node: its log folders, collectors and tasks."""

    node_uuid: str
    cluster_uuid: str
    log_dirs: list[str]
    collect_new_types: bool
    default_interval: int
    collectors: dict[str, tuple[bool, int]] = field(default_factory=dict)
    tail_wake: asyncio.Event = field(default_factory=asyncio.Event)
    sample_wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    sample_error: str | None = None

    def running_types(self) -> dict[str, int]:
        return {log_type: interval for log_type, (running, interval) in self.collectors.items() if running}


class CollectorRuntime:
    """Starts and stops node tasks to match the stored collector state."""

    def __init__(
        self,
        *,
        db: Database,
        pool: SshPool,
        publisher: Publisher,
        settings: CollectorSettings,
        secrets: SecretBox,
        stopping: asyncio.Event,
    ) -> None:
        self.db = db
        self.pool = pool
        self.publisher = publisher
        self.settings = settings
        self.secrets = secrets
        self.stopping = stopping
        self.nodes: dict[str, NodeState] = {}
        self.samplers: dict[str, tuple[bool, int]] = {}
        # Set by main when HFD_COLLECTOR_LEASES is on; the leases then decide which nodes run here.
        self.leases: NodeLeases | None = None

    def owns(self, node_uuid: str) -> bool:
        # NOTE: without leases only owned nodes enter the SSH pool, so with HFD_COLLECTOR_OWNED_NODES
        # a command request for another replica's node that reaches this replica fails with 404.
        if self.leases is not None:
            return self.leases.holds(node_uuid)
        owned = self.settings.owned_node_set()
        return not owned or node_uuid in owned

    async def list_node_uuids(self) -> list[str]:
        async with self.db.session() as session:
            return [node.node_uuid for node in await service.list_nodes(session)]

    async def load_all(self) -> None:
        """Load every stored node this replica owns and start collecting from it."""
        async with self.db.session() as session:
            nodes = await service.list_nodes(session)
            samplers = await service.list_samplers(session)
        self.samplers = {row.cluster_uuid: (row.running, row.interval) for row in samplers}
        for node in nodes:
            await self.reload_node(node.node_uuid)
        logger.info("collector state loaded nodes=%d", len(self.nodes))

    async def reload_node(self, node_uuid: str) -> None:
        """Read one node and its collectors again and start, wake or stop its tasks to match."""
        async with self.db.session() as session:
            node = await service.get(session, node_uuid=node_uuid)
            collectors = await service.list_collectors(session, node_uuids=[node_uuid]) if node else []
        if node is None or (self.leases is None and not self.owns(node_uuid)):
            await self.remove_node(node_uuid)
            return

        try:
            secret = self.secrets.decrypt(node.secret)
        except SecretDecryptionError:
            logger.error("node secret cannot be decrypted; node skipped node=%s", node.name)
            await self.remove_node(node_uuid)
            return

        log_dirs, rejected = allowed_log_dirs(node.log_dirs or [])
        if rejected:
            logger.warning(
                "stored log folders not collected: they break the log folder rule node=%s cluster=%s folders=%s",
                node.name,
                node.cluster_uuid,
                ",".join(rejected),
            )
        self.pool.set_node(_target(node), secret, node.known_host_key, credentials_from=node.credentials_from_node)
        if not self.owns(node_uuid):
            # With leases every replica keeps every node in its pool, so that a command request
            # reaching any replica through the queue group can run. Only the holder collects.
            await self.stop_collecting(node_uuid)
            if self.leases is not None:
                self.leases.wake.set()  # a new node: claim it now instead of at the next scan
            return

        state = self.nodes.get(node_uuid)
        if state is None:
            state = NodeState(node_uuid, node.cluster_uuid, [], True, self.settings.default_interval)
            self.nodes[node_uuid] = state
            state.tasks = [
                asyncio.create_task(self._tail_loop(state), name=f"tail-{node.name}"),
                asyncio.create_task(self._sample_loop(state), name=f"sample-{node.name}"),
            ]
        state.cluster_uuid = node.cluster_uuid
        state.log_dirs = log_dirs
        state.collect_new_types = node.collect_new_types
        state.collectors = {row.log_type: (row.running, row.interval) for row in collectors}
        state.tail_wake.set()

    def stale_nodes(self, nodes: dict[str, Node], collectors: dict[str, dict[str, tuple[bool, int]]]) -> list[str]:
        """Return the nodes whose stored rows differ from this replica's SSH targets or node states.

        ``nodes`` and ``collectors`` are the stored rows by node uuid, and ``collectors`` maps each
        log type to (running, interval). ``reload_node`` fixes every returned node: it adds a
        missing node to the pool, drops a removed one and copies changed fields.
        """
        stale = {target.node_uuid for target in self.pool.nodes() if target.node_uuid not in nodes}
        for node_uuid, node in nodes.items():
            target = self.pool.node(node_uuid)
            if target is None:
                # NOTE: a node whose secret cannot be decrypted never enters the pool, so each
                # resync reloads it again and logs the decryption error again.
                if self.leases is not None or self.owns(node_uuid):
                    stale.add(node_uuid)
                continue
            state = self.nodes.get(node_uuid)
            if target != _target(node) or (
                state is not None and _state_differs(state, node, collectors.get(node_uuid, {}))
            ):
                stale.add(node_uuid)
        return sorted(stale)

    async def inherited_secret(self, source_uuid: str) -> NodeSecret:
        """Read and decrypt the secret of ``source_uuid``, following its own reference if it has one.

        Raises ``CredentialsUnavailable`` with the reason a node status reports: the source was
        removed, has no secret, cannot be decrypted, or the references form a loop.
        """
        visited: list[str] = []
        async with self.db.session() as session:
            while True:
                node = await service.get(session, node_uuid=source_uuid)
                if node is None:
                    raise CredentialsUnavailable(f"credentials node {source_uuid} not found (removed)")
                if node.secret or not node.credentials_from_node:
                    break
                visited.append(source_uuid)
                if len(visited) >= MAX_CREDENTIAL_HOPS or node.credentials_from_node in visited:
                    raise CredentialsUnavailable(f"credentials references loop or exceed {MAX_CREDENTIAL_HOPS} nodes")
                source_uuid = node.credentials_from_node

        if not node.secret:
            raise CredentialsUnavailable(f"credentials node {node.name} has no stored secret")
        try:
            return self.secrets.decrypt(node.secret)
        except SecretDecryptionError:
            raise CredentialsUnavailable(f"secret of credentials node {node.name} cannot be decrypted") from None

    async def reload_sampler(self, cluster_uuid: str) -> None:
        async with self.db.session() as session:
            row = await service.get_sampler(session, cluster_uuid=cluster_uuid)
        if row is not None:
            self.samplers[cluster_uuid] = (row.running, row.interval)
        for state in self.nodes.values():
            if state.cluster_uuid == cluster_uuid:
                state.sample_wake.set()

    def sampler_state(self, cluster_uuid: str) -> tuple[bool, int]:
        return self.samplers.get(cluster_uuid, (True, int(self.settings.metric_interval)))

    async def remove_node(self, node_uuid: str) -> None:
        await self.stop_collecting(node_uuid)
        await self.pool.remove_node(node_uuid)

    async def stop_collecting(self, node_uuid: str) -> None:
        """Cancel the node's tail and sampling tasks; its SSH pool entry stays for commands."""
        state = self.nodes.pop(node_uuid, None)
        if state is not None:
            for task in state.tasks:
                task.cancel()
            await asyncio.gather(*state.tasks, return_exceptions=True)

    async def close(self) -> None:
        for node_uuid in list(self.nodes):
            await self.remove_node(node_uuid)
        await self.pool.close()

    async def add_log_types(self, node_uuid: str, log_types: set[str]) -> None:
        """Create collectors for log types found on a node (running unless collection was stopped)."""
        state = self.nodes.get(node_uuid)
        if state is None or not (log_types - set(state.collectors)):
            return
        async with self.db.session() as session:
            await service.add_collectors(
                session,
                node_uuid=node_uuid,
                log_types=log_types - set(state.collectors),
                running=state.collect_new_types,
                interval=state.default_interval,
            )
            rows = await service.list_collectors(session, node_uuids=[node_uuid])
        state.collectors = {row.log_type: (row.running, row.interval) for row in rows}

    # Node tasks

    async def _tail_loop(self, state: NodeState) -> None:
        tailer = NodeTailer(
            state.node_uuid,
            pool=self.pool,
            db=self.db,
            publisher=self.publisher,
            settings=self.settings,
            log_dirs=lambda: state.log_dirs,
            on_log_types=self.add_log_types,
        )
        idle_delay = self.settings.active_poll_delay
        while not self.stopping.is_set():
            running = state.running_types()
            interval = float(min(running.values(), default=self.settings.default_interval))
            try:
                progressed = await tailer.poll(set(running), self.stopping)
            except (StopPublishing, UnknownNode, LookupError):
                return
            except NodeUnreachable as error:
                logger.debug("tail poll skipped node=%s reason=%s", error.node.name, error.reason)
                tailer.resume_from_stored()
                progressed = False
            except Exception:
                logger.exception("tail poll failed, resuming from the stored positions node_uuid=%s", state.node_uuid)
                tailer.resume_from_stored()
                progressed = False

            if progressed:
                idle_delay = self.settings.active_poll_delay
                delay = 0.0 if tailer.backlog else idle_delay
            else:
                idle_delay = min(interval, max(idle_delay * 2, 0.1))
                delay = idle_delay
            await self._sleep(state.tail_wake, delay)

    async def _sample_loop(self, state: NodeState) -> None:
        while not self.stopping.is_set():
            running, interval = self.sampler_state(state.cluster_uuid)
            if running:
                await self._sample_once(state)
            await self._sleep(state.sample_wake, float(interval))

    async def _sample_once(self, state: NodeState) -> None:
        target = self.pool.node(state.node_uuid)
        if target is None:
            return
        try:
            sample = await sampler.take_sample(self.pool, state.node_uuid, (state.log_dirs or ["/"])[0])
            await self.publisher.publish_sample(target, sample)
        except NodeUnreachable as error:
            state.sample_error = error.reason
            METRIC_SAMPLES.labels("unreachable").inc()
        except (sampler.SampleError, UnknownNode) as error:
            state.sample_error = str(error)
            METRIC_SAMPLES.labels("failed").inc()
            logger.warning("metric sample failed node=%s error=%s", target.name, error)
        except Exception as error:  # a NATS failure: the next sample follows
            state.sample_error = f"publish failed: {type(error).__name__}"
            METRIC_SAMPLES.labels("failed").inc()
            logger.warning("metric sample publish failed node=%s error=%s", target.name, error)
        else:
            state.sample_error = None
            METRIC_SAMPLES.labels("ok").inc()

    async def _sleep(self, wake: asyncio.Event, seconds: float) -> None:
        """Sleep for ``seconds`` or until ``wake`` is set or the service stops.

        The event is cleared after waking, so a change made while the task was busy ends the
        next sleep at once instead of being lost.
        """
        stop_wait = asyncio.ensure_future(self.stopping.wait())
        wake_wait = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({stop_wait, wake_wait}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            wake_wait.cancel()
        wake.clear()


def _state_differs(state: NodeState, node: Node, collectors: dict[str, tuple[bool, int]]) -> bool:
    return (
        state.cluster_uuid != node.cluster_uuid
        or state.log_dirs != _collected_log_dirs(node)
        or state.collect_new_types != node.collect_new_types
        or state.collectors != collectors
    )


def _collected_log_dirs(node: Node) -> list[str]:
    """Return the stored log folders that pass ``check_log_dir``, so a folder stored before the rule is not read."""
    return allowed_log_dirs(node.log_dirs or [])[0]


def _target(node: Node) -> NodeTarget:
    return NodeTarget(
        cluster_uuid=node.cluster_uuid,
        cluster_name=node.cluster_name,
        node_uuid=node.node_uuid,
        name=node.name,
        address=node.address,
        port=node.port,
        user=node.ssh_user,
        log_dirs=tuple(_collected_log_dirs(node)),
    )
