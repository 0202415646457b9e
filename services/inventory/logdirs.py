"""Log folders of nodes: set-log-dir for the caller's nodes, and the folders found on discovered workers.

Inventory owns each node's ``log_dirs``. The collector keeps a copy for tailing, and it scopes
read-log and commands by the list inventory returns for the node, so tailing, path checks
and the node view use the same list. ``set_log_dir`` replaces the list of every node the
caller may change with one folder; the collector copies the reply. A discovered worker
starts with the master's folders until ``probe_workers`` finds its own on the node.
"""

import asyncio
import logging
import uuid

from libs.common.errors import ServiceError
from libs.common.log_dirs import allowed_log_dirs
from libs.common.timeutil import utcnow
from services.inventory import collector, service
from services.inventory.collector import Caller, Credentials
from services.inventory.context import InventoryContext
from services.inventory.flows import require_writer
from services.inventory.models import Node
from services.inventory.schemas import LogDirChange

logger = logging.getLogger(__name__)

# The collector accepts at most this many log folders per node (its nodes.upsert limit).
MAX_LOG_DIRS = 16


async def set_log_dir(ctx: InventoryContext, caller: Caller, body: LogDirChange) -> dict:
    """Make ``body.log_dir`` the only log folder of every node the caller may change; return the nodes."""
    principal = caller.principal
    assert principal is not None
    require_writer(principal)
    async with ctx.db.session() as session:
        matches = await service.find_nodes(session, principal=principal)
        for node, _ in matches:
            if list(node.log_dirs) != [body.log_dir]:
                node.log_dirs = [body.log_dir]
                node.updated_at = utcnow()
    logger.info(
        "log directory set nodes=%d log_dir=%s user=%s request_id=%s",
        len(matches),
        body.log_dir,
        principal.user_id,
        caller.request_id,
    )
    return {
        "log_dir": body.log_dir,
        "nodes": [
            {"node_uuid": str(node.uuid), "name": node.name, "log_dirs": list(node.log_dirs)} for node, _ in matches
        ],
    }


def checked_log_dirs(values: list[str], *, cluster_uuid: uuid.UUID, node_uuid: uuid.UUID) -> list[str]:
    """Return the values that pass ``check_log_dir``, normalised, without repeats, at most ``MAX_LOG_DIRS``.

    The values were read off a node, so a failing one is logged (as ``repr``, cut short) and dropped.
    """
    folders, rejected = allowed_log_dirs(values)
    if rejected:
        logger.warning(
            "worker log folders ignored: they break the log folder rule cluster=%s node=%s count=%d first=%.200r",
            cluster_uuid,
            node_uuid,
            len(rejected),
            rejected[0],
        )
    return folders[:MAX_LOG_DIRS]


def start_probe(
    ctx: InventoryContext, caller: Caller, cluster_uuid: uuid.UUID, node_uuids: list[uuid.UUID], fallback: list[str]
) -> asyncio.Task | None:
    """Probe the new workers' log folders in the background, so discovery replies without waiting for SSH."""
    if not node_uuids:
        return None
    task = asyncio.create_task(probe_workers(ctx, caller, cluster_uuid, node_uuids, fallback), name="log-dir-probe")
    ctx.background.add(task)
    task.add_done_callback(ctx.background.discard)
    return task


async def probe_workers(
    ctx: InventoryContext, caller: Caller, cluster_uuid: uuid.UUID, node_uuids: list[uuid.UUID], fallback: list[str]
) -> None:
    """Give each worker the log folders the collector finds on it; a worker without any keeps ``fallback``."""
    limit = asyncio.Semaphore(ctx.settings.collector_concurrency)

    async def probe(node_uuid: uuid.UUID) -> None:
        async with limit:
            await _probe_worker(ctx, caller, cluster_uuid, node_uuid, fallback)

    await asyncio.gather(*(probe(node_uuid) for node_uuid in node_uuids))


async def _probe_worker(
    ctx: InventoryContext, caller: Caller, cluster_uuid: uuid.UUID, node_uuid: uuid.UUID, fallback: list[str]
) -> None:
    try:
        reply = await collector.probe_log_dirs(ctx, caller, cluster_uuid=cluster_uuid, node_uuid=node_uuid)
    except ServiceError as error:
        logger.warning(
            "worker log folders not probed; keeping the master's folders cluster=%s node=%s error=%s",
            cluster_uuid,
            node_uuid,
            error.code,
        )
        return
    found = checked_log_dirs(reply.log_dirs, cluster_uuid=cluster_uuid, node_uuid=node_uuid)
    if not found:
        logger.info(
            "no log folder found on the worker; keeping the master's folders cluster=%s node=%s reported=%d",
            cluster_uuid,
            node_uuid,
            len(reply.log_dirs),
        )
        return
    try:
        stored = await _store_found(ctx, caller, cluster_uuid, node_uuid, found, fallback)
    except ServiceError as error:
        logger.warning(
            "worker log folders not stored; keeping the master's folders cluster=%s node=%s error=%s",
            cluster_uuid,
            node_uuid,
            error.code,
        )
        return
    if stored:
        logger.info(
            "worker log folders found on the node cluster=%s node=%s source=%s folders=%s",
            cluster_uuid,
            node_uuid,
            reply.source,
            ",".join(found),
        )


async def _store_found(
    ctx: InventoryContext,
    caller: Caller,
    cluster_uuid: uuid.UUID,
    node_uuid: uuid.UUID,
    found: list[str],
    fallback: list[str],
) -> bool:
    """Store ``found`` and hand the node to the collector again, in one transaction; return whether stored.

    A node whose folders changed since discovery (set-log-dir ran meanwhile) or that was
    removed keeps what it has.
    """
    async with ctx.db.session() as session:
        node = await session.get(Node, node_uuid)
        cluster = await service.get(session, cluster_uuid=cluster_uuid)
        if node is None or cluster is None or list(node.log_dirs) != fallback:
            logger.info("worker changed during the log folder probe; left as it is node=%s", node_uuid)
            return False
        if found == fallback:
            return False
        node.log_dirs = found
        node.updated_at = utcnow()
        await collector.upsert_node(
            ctx, caller, cluster=cluster, node=node, credentials=Credentials(), credentials_from=node.credentials_from
        )
    return True
