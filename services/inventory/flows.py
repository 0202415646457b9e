"""Changes that span the database and the collector: register, extend, discover and delete clusters.

Registration keeps its database transaction open while the collector stores each node's
secret, and commits only when every node was accepted. When the collector fails, the
transaction rolls back and the nodes already handed over are removed from the collector
again, so no node is left without credentials and no secret is left without a node.
"""

import asyncio
import logging
import uuid
from collections.abc import Sequence

from libs.common.errors import FieldError, Forbidden, NotFound, ServiceError, ValidationFailed, field_error
from libs.common.rpc import Principal
from services.inventory import collector, service
from services.inventory.collector import Caller, CollectorUnavailable, Credentials
from services.inventory.context import InventoryContext
from services.inventory.models import Cluster, Node
from services.inventory.schemas import ClusterCreate, ClusterUpdate, NodeCreate

logger = logging.getLogger(__name__)

WRITER_ROLES = ("admin", "operator")


def require_writer(principal: Principal) -> None:
    """Raise ``Forbidden`` unless the principal may change clusters (admins and operators)."""
    if principal.role not in WRITER_ROLES:
        raise Forbidden()


def check_nodes(nodes: Sequence[NodeCreate], lang: str, prefix: str = "nodes") -> None:
    """Raise ``ValidationFailed`` for nodes without exactly one secret, or with repeated host names."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, node in enumerate(nodes):
        path = f"{prefix}[{index}]." if prefix else ""
        if node.ssh_password is None and node.ssh_private_key is None:
            errors.append(field_error(f"{path}ssh_password", "ssh_credentials_required", lang))
        if node.ssh_password is not None and node.ssh_private_key is not None:
            errors.append(field_error(f"{path}ssh_private_key", "ssh_credentials_conflict", lang))
        if node.hostname.lower() in seen:
            errors.append(field_error(f"{path}hostname", "duplicate_hostname", lang))
        seen.add(node.hostname.lower())
    if errors:
        raise ValidationFailed(errors)


def _node_values(ctx: InventoryContext, cluster_uuid: uuid.UUID, node: NodeCreate) -> dict:
    return {
        "uuid": uuid.uuid4(),
        "cluster_uuid": cluster_uuid,
        "name": node.hostname,
        "ip": node.ip_address,
        "ssh_port": node.ssh_port,
        "ssh_user": node.ssh_user,
        "log_dirs": node.log_dirs if node.log_dirs is not None else list(ctx.settings.default_log_dirs),
        "roles": sorted(set(node.roles)),
        "source": "registered",
    }


def _credentials(node: NodeCreate) -> Credentials:
    return Credentials(password=node.ssh_password, private_key=node.ssh_private_key, known_host_key=node.known_host_key)


async def register_cluster(ctx: InventoryContext, caller: Caller, body: ClusterCreate) -> dict:
    """Store a cluster, map it to the caller and hand its nodes to the collector; all or nothing."""
    principal = caller.principal
    assert principal is not None
    check_nodes(body.nodes, caller.lang)
    first = body.nodes[0] if body.nodes else None
    host = body.host or (first.hostname if first else None)
    name = body.name or host
    if name is None:
        raise ValidationFailed([field_error("name", "field_required", caller.lang)])

    values = {
        "uuid": uuid.UUID(body.uuid) if body.uuid else uuid.uuid4(),
        "name": name,
        "type": body.type,
        "description": body.description,
        "host": host,
        "ip": body.ip or (first.ip_address if first else None),
        "declared_node_count": body.count,
        "repair_policy": body.repair_policy,
        "config_info": {},
    }
    async with ctx.db.session() as session:
        cluster = await service.create(session, values=values, owner_id=principal.user_id, lang=caller.lang)
        planned = []
        for index, node in enumerate(body.nodes):
            stored = await service.create_node(
                session,
                values=_node_values(ctx, cluster.uuid, node),
                field=f"nodes[{index}].hostname",
                lang=caller.lang,
            )
            planned.append((f"nodes[{index}]", stored, _credentials(node)))
        await hand_over(ctx, caller, cluster, planned)

    logger.info(
        "cluster registered cluster=%s name=%s nodes=%d user=%s",
        cluster.uuid,
        cluster.name,
        len(planned),
        principal.user_id,
    )
    return {"ok": True, "uuid": str(cluster.uuid)}


async def add_node(ctx: InventoryContext, caller: Caller, cluster_uuid: uuid.UUID, body: NodeCreate) -> dict:
    """Add one registered node to a cluster the caller may change."""
    principal = caller.principal
    assert principal is not None
    check_nodes([body], caller.lang, prefix="")
    async with ctx.db.session() as session:
        cluster = await get_writable_cluster(session, cluster_uuid, principal)
        node = await service.create_node(
            session, values=_node_values(ctx, cluster.uuid, body), field="hostname", lang=caller.lang
        )
        await hand_over(ctx, caller, cluster, [("body", node, _credentials(body))])
        await service.refresh_health(session, cluster_uuids={cluster.uuid})

    logger.info("node added cluster=%s node=%s name=%s", cluster.uuid, node.uuid, node.name)
    return {"ok": True, "uuid": str(node.uuid)}


async def get_writable_cluster(session, cluster_uuid: uuid.UUID, principal: Principal) -> Cluster:
    cluster = await service.get(session, cluster_uuid=cluster_uuid)
    if cluster is None:
        raise NotFound()
    await service.check_access(session, cluster=cluster, principal=principal)
    require_writer(principal)
    return cluster


async def hand_over(
    ctx: InventoryContext,
    caller: Caller,
    cluster: Cluster,
    planned: list[tuple[str, Node, Credentials]],
    credentials_from: uuid.UUID | None = None,
) -> None:
    """Pass each node to the collector; on any failure remove all of them from it again and raise.

    ``planned`` contains (field named in errors, node, secret) tuples. A collector that does
    not reply or fails gives 503, and one that rejects a node gives 422 naming that node's field.
    """
    if not planned:
        return
    limit = asyncio.Semaphore(ctx.settings.collector_concurrency)

    async def upsert(node: Node, credentials: Credentials) -> None:
        async with limit:
            await collector.upsert_node(
                ctx, caller, cluster=cluster, node=node, credentials=credentials, credentials_from=credentials_from
            )

    outcomes = await asyncio.gather(
        *(upsert(node, credentials) for _, node, credentials in planned), return_exceptions=True
    )
    failures = [(field, outcome) for (field, _, _), outcome in zip(planned, outcomes, strict=True) if outcome]
    if not failures:
        return

    await collector.forget_nodes(ctx, caller, node_uuids=[node.uuid for _, node, _ in planned])
    logger.warning(
        "node registration failed at the collector cluster=%s nodes=%d failed=%d",
        cluster.uuid,
        len(planned),
        len(failures),
    )
    for _, outcome in failures:
        if isinstance(outcome, CollectorUnavailable) or not isinstance(outcome, ServiceError):
            raise outcome
    raise ValidationFailed(
        [field_error(field, "collector_rejected", caller.lang, reason=outcome.code) for field, outcome in failures]
    )


async def update_cluster(ctx: InventoryContext, caller: Caller, cluster_uuid: uuid.UUID, body: ClusterUpdate) -> dict:
    """Change the name, description or repair policy of a cluster the caller may change."""
    principal = caller.principal
    assert principal is not None
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    async with ctx.db.session() as session:
        cluster = await get_writable_cluster(session, cluster_uuid, principal)
        await service.update_cluster(session, cluster=cluster, changes=changes, lang=caller.lang)
    logger.info("cluster updated cluster=%s fields=%s user=%s", cluster_uuid, sorted(changes), principal.user_id)
    return {"ok": True}


async def delete_cluster(ctx: InventoryContext, caller: Caller, cluster_uuid: uuid.UUID) -> dict:
    """Stop collection from the cluster's nodes, then mark it deleted; samples and nodes stay stored."""
    principal = caller.principal
    assert principal is not None
    async with ctx.db.session() as session:
        cluster = await get_writable_cluster(session, cluster_uuid, principal)
        if await service.list_nodes(session, cluster_uuid=cluster.uuid):
            await collector.remove_cluster(ctx, caller, cluster_uuid=cluster.uuid)
        await service.soft_delete(session, cluster=cluster)
    logger.info("cluster deleted cluster=%s user=%s", cluster_uuid, principal.user_id)
    return {"ok": True}
