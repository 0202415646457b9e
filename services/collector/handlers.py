"""Request/reply endpoints of the collector's data path.

Internal (called by inventory, never routed by the gateway): ``nodes.upsert``, ``nodes.remove``,
``nodes.status``, ``nodes.probe_log_dirs`` and ``discover``. Routed by the gateway: the log collector controls
(``collectors.*``) and the metric sampling controls (``samplers.*``). Changes need the admin or
operator role; every reply leaves SSH secrets out.
"""

import logging
from typing import Any

from libs.common.errors import Forbidden, NotFound, Unauthorized, ValidationFailed, field_error
from libs.common.rpc import Principal, RpcRequest
from services.collector import flows, service
from services.collector.commands import CommandRunner
from services.collector.credentials import NodeSecret, SecretBox
from services.collector.flows import Ownership
from services.collector.logdir_probe import LogDirProbe
from services.collector.replica_sync import ReplicaSync
from services.collector.scheduler import CollectorRuntime
from services.collector.schemas import (
    ClusterQuery,
    ClusterRequest,
    ClusterStart,
    CollectorsStatus,
    CollectorStart,
    CollectorTarget,
    DiscoverRequest,
    IntervalRequest,
    LogDirRequest,
    MessageReply,
    NodeRemove,
    NodeStatusQuery,
    NodeUpsert,
    SamplerStatus,
    StartReply,
)

logger = logging.getLogger(__name__)


def _input(request: RpcRequest) -> dict[str, Any]:
    """Path and query parameters merged with a JSON object body (the body wins)."""
    values = dict(request.params)
    if isinstance(request.body, dict):
        values.update(request.body)
    return values


def _caller(request: RpcRequest) -> Principal:
    if request.principal is None:
        raise Unauthorized("not_authenticated")
    return request.principal


def _operator(request: RpcRequest) -> Principal:
    principal = _caller(request)
    if principal.role not in ("admin", "operator"):
        raise Forbidden()
    return principal


def _internal_writer(request: RpcRequest) -> None:
    """Internal writes come from services; a principal, when sent, must not be an observer."""
    if request.principal is not None and request.principal.role == "observer":
        raise Forbidden()


class CollectorHandlers:
    """The endpoints, bound to the runtime, the inventory ownership checks and the other replicas."""

    def __init__(
        self,
        runtime: CollectorRuntime,
        ownership: Ownership,
        secrets: SecretBox,
        runner: CommandRunner,
        replicas: ReplicaSync,
    ) -> None:
        self.runtime = runtime
        self.ownership = ownership
        self.secrets = secrets
        self.runner = runner
        self.replicas = replicas

    def register(self, rpc) -> None:
        rpc.add_all(
            {
                "nodes.upsert": self.upsert_node,
                "nodes.remove": self.remove_nodes,
                "nodes.status": self.node_status,
                "nodes.probe_log_dirs": self.probe_log_dirs,
                "discover": self.discover,
                "health": self.health,
                "collectors.status": self.collectors_status,
                "collectors.start": self.start_collector,
                "collectors.stop": self.stop_collector,
                "collectors.stop_all": self.stop_all,
                "collectors.set_interval": self.set_interval,
                "collectors.set_log_dir": self.set_log_dir,
                "collectors.start_by_cluster": self.start_by_cluster,
                "samplers.status": self.sampler_status,
                "samplers.start_by_cluster": self.start_sampler,
                "samplers.stop_by_cluster": self.stop_sampler,
            }
        )

    async def health(self, request: RpcRequest) -> dict:
        """Report the service and its database, as the gateway's health endpoint shows them."""
        database = await self.runtime.db.ping()
        return {"status": "ok" if database == "connected" else "degraded", "database": database}

    # Internal: nodes

    async def upsert_node(self, request: RpcRequest) -> dict:
        _internal_writer(request)
        body: NodeUpsert = request.parse_body(NodeUpsert)
        node_uuid = str(body.node_uuid)
        async with self.runtime.db.session() as session:
            existing = await service.get(session, node_uuid=node_uuid)
            secret, credentials_from = await self._login_for(session, body, existing, request.lang)
            await service.upsert_node(
                session,
                values={
                    "node_uuid": node_uuid,
                    "cluster_uuid": str(body.cluster_uuid),
                    "cluster_name": body.cluster_name,
                    "name": body.name,
                    "address": body.address,
                    "port": body.port,
                    "ssh_user": body.ssh_user,
                    "secret": secret,
                    "credentials_from_node": credentials_from,
                    "known_host_key": body.known_host_key or (existing.known_host_key if existing else None),
                    "log_dirs": body.log_dirs,
                    "collect_new_types": True,
                },
            )
        await self._reload("nodes.upsert", [node_uuid])
        if body.password or body.private_key:
            # Nodes that inherit this login reconnect with the new secret.
            self.runtime.pool.drop_inheriting(node_uuid)
        logger.info(
            "node stored node=%s cluster=%s address=%s credentials_from=%s",
            body.name,
            body.cluster_uuid,
            body.address,
            credentials_from,
        )
        return {"ok": True}

    async def _login_for(self, session, body: NodeUpsert, existing, lang: str) -> tuple[bytes | None, str | None]:
        """Return the encrypted secret and the node whose secret is inherited, one of them set.

        A sent secret wins. Without one, ``credentials_from_node`` names a stored node whose
        secret is read at each connect. Without either, the stored login stays.
        """
        if body.password or body.private_key:
            return self.secrets.encrypt(NodeSecret(password=body.password, private_key=body.private_key)), None
        if body.credentials_from_node is not None:
            source_uuid = str(body.credentials_from_node)
            if source_uuid == str(body.node_uuid):
                raise ValidationFailed([field_error("credentials_from_node", "invalid_value", lang)])
            if await service.get(session, node_uuid=source_uuid) is None:
                raise NotFound("node_not_collected")
            return None, source_uuid
        if existing is None:
            return None, None
        return existing.secret, existing.credentials_from_node

    async def remove_nodes(self, request: RpcRequest) -> dict:
        _internal_writer(request)
        body: NodeRemove = request.parse_body(NodeRemove)
        async with self.runtime.db.session() as session:
            removed = await service.delete_nodes(
                session,
                node_uuid=str(body.node_uuid) if body.node_uuid else None,
                cluster_uuid=str(body.cluster_uuid) if body.cluster_uuid else None,
            )
        for node_uuid in removed:
            await self.runtime.remove_node(node_uuid)
            # Nodes that inherit a removed node's login reconnect and report it unreachable.
            self.runtime.pool.drop_inheriting(node_uuid)
        await self.replicas.announce("nodes.remove", node_uuids=removed)
        logger.info("nodes removed count=%d", len(removed))
        return {"ok": True, "removed": len(removed)}

    async def node_status(self, request: RpcRequest) -> dict:
        query: NodeStatusQuery = request.parse_body(NodeStatusQuery)
        async with self.runtime.db.session() as session:
            nodes = await service.list_nodes(
                session, cluster_uuid=str(query.cluster_uuid) if query.cluster_uuid else None
            )
        if query.node_uuid is not None:
            nodes = [node for node in nodes if node.node_uuid == str(query.node_uuid)]
        pool = self.runtime.pool
        return {
            "nodes": [
                {
                    "node_uuid": node.node_uuid,
                    "cluster_uuid": node.cluster_uuid,
                    "name": node.name,
                    "reachable": pool.reachable(node.node_uuid),
                    "error": pool.last_error(node.node_uuid),
                    "collecting": node.node_uuid in self.runtime.nodes,
                    "host_key_known": bool(node.known_host_key),
                }
                for node in nodes
            ]
        }

    async def discover(self, request: RpcRequest) -> dict:
        _internal_writer(request)
        body: DiscoverRequest = request.parse_body(DiscoverRequest)
        node_uuid = str(body.node_uuid)
        target = self.runtime.pool.node(node_uuid)
        if target is None or target.cluster_uuid != str(body.cluster_uuid):
            raise NotFound()
        return {"hosts": await flows.discover_hosts(self.runner, target, request.principal, request.lang)}

    async def probe_log_dirs(self, request: RpcRequest) -> dict:
        """Return the Hadoop log folders the node reports itself; inventory checks and stores them."""
        _internal_writer(request)
        body: DiscoverRequest = request.parse_body(DiscoverRequest)
        target = self.runtime.pool.node(str(body.node_uuid))
        if target is None or target.cluster_uuid != str(body.cluster_uuid):
            raise NotFound()
        return await LogDirProbe(self.runner, target, request.principal, request.lang).run()

    # Log collectors

    async def collectors_status(self, request: RpcRequest) -> CollectorsStatus:
        _caller(request)
        query: ClusterQuery = request.parse_params(ClusterQuery)
        nodes = {node.node_uuid: node for node in await self.ownership.owned_nodes(request, cluster=query.cluster)}
        async with self.runtime.db.session() as session:
            rows = await service.list_collectors(session, node_uuids=list(nodes))
        collectors = {f"{nodes[row.node_uuid].name}_{row.log_type}": int(row.running) for row in rows}
        return CollectorsStatus(collectors=collectors, total_running=sum(collectors.values()))

    async def start_collector(self, request: RpcRequest) -> StartReply:
        _operator(request)
        body: CollectorStart = _parse(request, CollectorStart)
        node = await self.ownership.resolve(request, name=body.node_name, cluster=body.cluster)
        async with self.runtime.db.session() as session:
            await service.set_collector(
                session, node_uuid=node.node_uuid, log_type=body.log_type, running=True, interval=body.interval
            )
        await self._reload("collectors.start", [node.node_uuid])
        logger.info("collector started node=%s log_type=%s interval=%d", node.name, body.log_type, body.interval)
        return StartReply(message=f"Started log collection for {node.name}_{body.log_type}", interval=body.interval)

    async def stop_collector(self, request: RpcRequest) -> MessageReply:
        _operator(request)
        body: CollectorTarget = _parse(request, CollectorTarget)
        node = await self.ownership.resolve(request, name=body.node_name, cluster=body.cluster)
        async with self.runtime.db.session() as session:
            await service.set_collector(session, node_uuid=node.node_uuid, log_type=body.log_type, running=False)
        await self._reload("collectors.stop", [node.node_uuid])
        logger.info("collector stopped node=%s log_type=%s", node.name, body.log_type)
        return MessageReply(message=f"Stopped log collection for {node.name}_{body.log_type}")

    async def stop_all(self, request: RpcRequest) -> MessageReply:
        _operator(request)
        nodes = await self.ownership.owned_nodes(request)
        uuids = [node.node_uuid for node in nodes]
        async with self.runtime.db.session() as session:
            await service.set_collectors_running(session, node_uuids=uuids, running=False)
            await service.set_collect_new_types(session, node_uuids=uuids, enabled=False)
        await self._reload("collectors.stop_all", uuids)
        logger.info("all collectors stopped nodes=%d", len(uuids))
        return MessageReply(message="Stopped all log collectors")

    async def set_interval(self, request: RpcRequest) -> MessageReply:
        _operator(request)
        body: IntervalRequest = _parse(request, IntervalRequest)
        uuids = [node.node_uuid for node in await self.ownership.owned_nodes(request)]
        async with self.runtime.db.session() as session:
            await service.set_collectors_interval(session, node_uuids=uuids, interval=body.interval)
        await self._reload("collectors.set_interval", uuids)
        return MessageReply(message=f"Set collection interval to {body.interval} seconds")

    async def set_log_dir(self, request: RpcRequest) -> MessageReply:
        _operator(request)
        body: LogDirRequest = _parse(request, LogDirRequest)
        # Inventory owns the nodes' log folders: it checks the folder again, stores it for the
        # caller's nodes and returns their new lists. They are copied here, and _reload makes
        # every replica reload the nodes, so that the one holding a node's lease tails the new folder.
        changed = await self.ownership.set_log_dir(request, log_dir=body.log_dir)
        stored = []
        async with self.runtime.db.session() as session:
            for node_uuid, log_dirs in changed.items():
                if await service.get(session, node_uuid=node_uuid) is None:
                    continue
                await service.update_node_fields(session, node_uuid=node_uuid, fields={"log_dirs": log_dirs})
                stored.append(node_uuid)
        await self._reload("collectors.set_log_dir", stored)
        logger.info("log directory set nodes=%d collected=%d log_dir=%s", len(changed), len(stored), body.log_dir)
        return MessageReply(message=f"Set log directory to {body.log_dir}")

    async def start_by_cluster(self, request: RpcRequest) -> dict:
        _operator(request)
        body: ClusterStart = _parse(request, ClusterStart)
        cluster = str(body.uuid)
        nodes = await self.ownership.owned_nodes(request, cluster=cluster, field="uuid")
        if not nodes:
            raise NotFound()
        uuids = [node.node_uuid for node in nodes]
        interval = body.interval or self.runtime.settings.default_interval
        async with self.runtime.db.session() as session:
            await service.set_collectors_running(session, node_uuids=uuids, running=True, interval=body.interval)
            await service.set_collect_new_types(session, node_uuids=uuids, enabled=True)
        await self._reload("collectors.start_by_cluster", uuids)
        logger.info("cluster collection started cluster=%s nodes=%d", cluster, len(uuids))
        return {
            "message": f"Started log collection for {len(uuids)} nodes of cluster {cluster}",
            "interval": interval,
            "nodes": sorted(node.name for node in nodes),
        }

    # Metric sampling

    async def sampler_status(self, request: RpcRequest) -> SamplerStatus:
        _caller(request)
        query: ClusterQuery = request.parse_params(ClusterQuery)
        nodes = await self.ownership.owned_nodes(request, cluster=query.cluster)
        clusters = {node.cluster_uuid for node in nodes}
        states = [self.runtime.sampler_state(cluster) for cluster in clusters]
        errors = {}
        for node in nodes:
            state = self.runtime.nodes.get(node.node_uuid)
            if state is not None and state.sample_error:
                errors[node.name] = state.sample_error
        return SamplerStatus(
            is_running=any(running for running, _ in states),
            interval=min((interval for _, interval in states), default=int(self.runtime.settings.metric_interval)),
            errors=errors,
        )

    async def start_sampler(self, request: RpcRequest) -> dict:
        return await self._set_sampler(request, running=True)

    async def stop_sampler(self, request: RpcRequest) -> dict:
        return await self._set_sampler(request, running=False)

    async def _set_sampler(self, request: RpcRequest, *, running: bool) -> dict:
        _operator(request)
        body: ClusterStart = _parse(request, ClusterStart if running else ClusterRequest)
        cluster = str(body.uuid)
        nodes = await self.ownership.owned_nodes(request, cluster=cluster, field="uuid")
        if not nodes:
            raise NotFound()
        cluster_uuid = nodes[0].cluster_uuid
        _, current_interval = self.runtime.sampler_state(cluster_uuid)
        interval = getattr(body, "interval", None) or current_interval
        async with self.runtime.db.session() as session:
            await service.set_sampler(session, cluster_uuid=cluster_uuid, running=running, interval=interval)
        await self.runtime.reload_sampler(cluster_uuid)
        operation = "samplers.start_by_cluster" if running else "samplers.stop_by_cluster"
        await self.replicas.announce(operation, sampler_clusters=[cluster_uuid])
        verb = "Started" if running else "Stopped"
        logger.info("metric sampling %s cluster=%s interval=%d", verb.lower(), cluster_uuid, interval)
        return {
            "message": f"{verb} metric collection for cluster {cluster_uuid}",
            "is_running": running,
            "interval": interval,
        }

    async def _reload(self, reason: str, node_uuids: list[str]) -> None:
        """Apply stored changes of these nodes here, then on the other replicas."""
        for node_uuid in node_uuids:
            await self.runtime.reload_node(node_uuid)
        await self.replicas.announce(reason, node_uuids=node_uuids)


def _parse(request: RpcRequest, model):
    from libs.common.rpc import validate_model

    return validate_model(model, _input(request), request.lang)
