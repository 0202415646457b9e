"""The collector service: SSH to the nodes, log tailing into ``LOGS``, metric sampling into ``METRICS``."""

import asyncio
import importlib
import importlib.util
import logging
from pathlib import Path

from libs.common.errors import ServiceError
from libs.common.rpc import RpcRequest
from libs.common.service import ServiceContext
from services.collector import service
from services.collector.commands import CommandRunner
from services.collector.config import get_settings
from services.collector.credentials import SecretBox
from services.collector.db_base import SCHEMA
from services.collector.flows import Ownership
from services.collector.handlers import CollectorHandlers
from services.collector.leases import NodeLeases, new_replica_id
from services.collector.node_target import NodeTarget
from services.collector.ops_settings import OpsSettings
from services.collector.publisher import Publisher
from services.collector.replica_sync import ReplicaSync
from services.collector.scheduler import CollectorRuntime
from services.collector.ssh import SshPool

logger = logging.getLogger(__name__)

USES_DATABASE = True
OPS_MODULE = "services.collector.ops"


async def start(ctx: ServiceContext) -> None:
    """Migrate, register the endpoints, and resume collecting from every stored node."""
    assert ctx.db is not None
    settings = get_settings()
    await ctx.migrate(SCHEMA, Path(__file__).parent / "migrations")

    publisher = Publisher(ctx.js, ctx.names, settings)
    status_tasks: set[asyncio.Task] = set()

    async def on_status(target: NodeTarget, reachable: bool, error: str | None) -> None:
        # Publishing retries for a while; the SSH caller must not wait for it.
        task = asyncio.create_task(publisher.publish_status(target, reachable, error))
        status_tasks.add(task)
        task.add_done_callback(status_tasks.discard)

    async def on_host_key(target: NodeTarget, key: str) -> None:
        async with ctx.db.session() as session:
            await service.set_known_host_key(session, node_uuid=target.node_uuid, key=key)

    pool = SshPool(settings, on_status=on_status, on_host_key=on_host_key)
    secrets = SecretBox(ctx.common.secret_key)
    runtime = CollectorRuntime(
        db=ctx.db, pool=pool, publisher=publisher, settings=settings, secrets=secrets, stopping=ctx.stopping
    )
    pool.secret_source = runtime.inherited_secret
    runner = CommandRunner(pool=pool, db=ctx.db, settings=OpsSettings())
    ownership = Ownership(ctx.client, runtime, settings.inventory_timeout)
    replica_id = new_replica_id()
    replicas = ReplicaSync(ctx.nc, ctx.names, runtime, replica_id=replica_id)
    handlers = CollectorHandlers(runtime, ownership, secrets, runner, replicas)
    handlers.register(ctx.rpc)

    if settings.ops_enabled and importlib.util.find_spec(OPS_MODULE) is not None:
        importlib.import_module(OPS_MODULE).register(ctx, pool, settings)

    leases = None
    if settings.leases:
        leases = NodeLeases(
            ctx.js,
            ctx.names,
            settings,
            list_nodes=runtime.list_node_uuids,
            on_claimed=runtime.reload_node,
            on_lost=runtime.stop_collecting,
            replica_id=replica_id,
        )
        runtime.leases = leases
        await leases.open()

    # Subscribed before loading, so that no change another replica makes meanwhile is missed.
    await replicas.start()
    await runtime.load_all()
    ctx.spawn(_sync_with_inventory(ctx, runtime, replicas), "collector-inventory-sync")
    ctx.spawn(replicas.run_resync(ctx.stopping, settings.resync_interval), "collector-state-resync")
    if leases is not None:
        ctx.spawn(leases.run(ctx.stopping), "collector-node-leases")

    async def shutdown() -> None:
        await replicas.stop()
        await runtime.close()
        if leases is not None:
            await leases.release_all()
        for task in list(status_tasks):
            task.cancel()

    ctx.on_stop(shutdown)
    logger.info("collector started nodes=%d known_hosts=%s", len(runtime.nodes), settings.known_hosts_path())


async def _sync_with_inventory(ctx: ServiceContext, runtime: CollectorRuntime, replicas: ReplicaSync) -> None:
    """Update stored nodes from inventory's ``clusters.list_all`` (names, addresses, log folders).

    Secrets only arrive through ``nodes.upsert``. A node that inventory lists and this table
    lacks cannot be collected until inventory sends it again, so such nodes are logged.
    """
    try:
        body = await ctx.client.call_ok("inventory", "clusters.list_all", RpcRequest(), timeout=5.0)
    except ServiceError as error:
        logger.info("inventory unavailable at start; using stored nodes reason=%s", error.code)
        return

    listed = _listed_nodes(body)
    changed_nodes: list[str] = []
    async with runtime.db.session() as session:
        for node_uuid, node in listed.items():
            if await service.update_node_fields(session, node_uuid=node_uuid, fields=node):
                changed_nodes.append(node_uuid)
                logger.info("node updated from inventory node=%s", node.get("name"))
        stored = {node.node_uuid for node in await service.list_nodes(session)}
    # Nodes collected here reload whether or not they changed; changed ones that are not
    # collected here reload to update their SSH pool entry.
    collected = [node_uuid for node_uuid in listed if node_uuid in runtime.nodes]
    for node_uuid in sorted({*collected, *changed_nodes}):
        await runtime.reload_node(node_uuid)
    await replicas.announce("inventory_sync", node_uuids=changed_nodes)

    # Compared with the table, not with the nodes collected here: with leases, a replica
    # collects only the nodes it holds.
    missing = sorted(set(listed) - stored)
    if missing:
        logger.warning("nodes listed by inventory but not stored here count=%d first=%s", len(missing), missing[0])


def _listed_nodes(body: object) -> dict[str, dict]:
    clusters = body.get("clusters", []) if isinstance(body, dict) else []
    nodes: dict[str, dict] = {}
    for cluster in clusters:
        for node in cluster.get("nodes", []) if isinstance(cluster, dict) else []:
            if isinstance(node, dict) and node.get("node_uuid"):
                nodes[str(node["node_uuid"])] = node
    return nodes
