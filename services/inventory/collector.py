"""Calls from inventory to the collector service: store credentials, stop collection, discover workers.

Inventory never stores SSH secrets. It passes them to the collector's ``nodes.upsert`` and
keeps no copy. A discovered node has no secret of its own. For such a node inventory sends
``password`` and ``private_key`` as null and ``credentials_from_node`` as the master's node
uuid, and the collector connects to the worker with the master's stored credentials.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from libs.common.errors import ServiceError, Unavailable
from libs.common.i18n import message
from libs.common.log_dirs import allowed_log_dirs
from libs.common.rpc import Principal, RpcRequest
from services.inventory.context import InventoryContext
from services.inventory.models import Cluster, Node
from services.inventory.schemas import DiscoverReply, LogDirProbeReply

logger = logging.getLogger(__name__)
ReplyT = TypeVar("ReplyT", bound=BaseModel)

SERVICE = "collector"


@dataclass(frozen=True)
class Credentials:
    """SSH secrets of one node, kept only in memory until the collector has them."""

    password: str | None = None
    private_key: str | None = None
    known_host_key: str | None = None

    def __repr__(self) -> str:
        return "Credentials(***)"


class CollectorUnavailable(Unavailable):
    """Error raised when the collector did not reply or failed, so the operation was not done."""

    code = "collector_unavailable"

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def body(self) -> dict[str, Any]:
        return {"detail": self.code, "message": message(self.code, self.lang)}  # type: ignore[arg-type]


class CollectorBadReply(ServiceError):
    status_code = 502
    code = "collector_bad_reply"


@dataclass(frozen=True)
class Caller:
    """The principal, language and request id of a request, sent on with each call to the collector."""

    principal: Principal | None
    lang: str
    request_id: str

    def request(self, body: dict[str, Any]) -> RpcRequest:
        return RpcRequest(principal=self.principal, body=body, lang=self.lang, request_id=self.request_id)  # type: ignore[arg-type]


async def _call(ctx: InventoryContext, operation: str, caller: Caller, body: dict[str, Any], timeout: float) -> Any:
    """Call the collector; raise ``CollectorUnavailable`` on no reply or 5xx, ``ServiceError`` on 4xx."""
    try:
        reply = await ctx.client.call(SERVICE, operation, caller.request(body), timeout=timeout)
    except Unavailable:
        raise CollectorUnavailable(caller.lang) from None
    if reply.status >= 500:
        logger.warning(
            "collector call failed op=%s status=%d request_id=%s", operation, reply.status, caller.request_id
        )
        raise CollectorUnavailable(caller.lang)
    if reply.status >= 300:
        detail = reply.body.get("detail") if isinstance(reply.body, dict) else None
        raise ServiceError(detail if isinstance(detail, str) else "collector_rejected", status_code=reply.status)
    return reply.body


async def upsert_node(
    ctx: InventoryContext,
    caller: Caller,
    *,
    cluster: Cluster,
    node: Node,
    credentials: Credentials,
    credentials_from: uuid.UUID | None = None,
) -> None:
    """Give the collector a node and its secret so that it starts collecting.

    Stored log folders that break ``check_log_dir`` (stored before the rule forbade system
    folders) are left out, because the collector rejects them.
    """
    log_dirs, rejected = allowed_log_dirs(node.log_dirs)
    if rejected:
        logger.warning(
            "stored log folders not sent to the collector: they break the rule cluster=%s node=%s folders=%s",
            cluster.uuid,
            node.uuid,
            ",".join(rejected),
        )
    body = {
        "cluster_uuid": str(cluster.uuid),
        "cluster_name": cluster.name,
        "node_uuid": str(node.uuid),
        "name": node.name,
        "address": node.ip,
        "port": node.ssh_port,
        "ssh_user": node.ssh_user,
        "password": credentials.password,
        "private_key": credentials.private_key,
        "known_host_key": credentials.known_host_key,
        "log_dirs": log_dirs,
        "credentials_from_node": str(credentials_from) if credentials_from else None,
    }
    await _call(ctx, "nodes.upsert", caller, body, ctx.settings.collector_timeout_seconds)
    logger.info("node handed to collector cluster=%s node=%s name=%s", cluster.uuid, node.uuid, node.name)


async def remove_cluster(ctx: InventoryContext, caller: Caller, *, cluster_uuid: uuid.UUID) -> None:
    """Stop collection from every node of the cluster and delete their secrets."""
    await _call(
        ctx, "nodes.remove", caller, {"cluster_uuid": str(cluster_uuid)}, ctx.settings.collector_timeout_seconds
    )
    logger.info("collection stopped cluster=%s", cluster_uuid)


async def forget_nodes(ctx: InventoryContext, caller: Caller, *, node_uuids: list[uuid.UUID]) -> None:
    """Undo ``upsert_node`` after a failed registration; failures are logged, not raised."""
    for node_uuid in node_uuids:
        try:
            await _call(
                ctx, "nodes.remove", caller, {"node_uuid": str(node_uuid)}, ctx.settings.collector_timeout_seconds
            )
        except ServiceError as error:
            logger.warning(
                "collector did not remove node after failed registration node=%s error=%s", node_uuid, error.code
            )


async def discover(
    ctx: InventoryContext, caller: Caller, *, cluster_uuid: uuid.UUID, node_uuid: uuid.UUID
) -> DiscoverReply:
    """Ask the collector for the cluster's workers, as reported by the master node."""
    return await _node_call(
        ctx, caller, "discover", DiscoverReply, cluster_uuid, node_uuid, ctx.settings.discover_timeout_seconds
    )


async def probe_log_dirs(
    ctx: InventoryContext, caller: Caller, *, cluster_uuid: uuid.UUID, node_uuid: uuid.UUID
) -> LogDirProbeReply:
    """Ask the collector which Hadoop log folders the node itself reports; the folders are not checked yet."""
    return await _node_call(
        ctx, caller, "nodes.probe_log_dirs", LogDirProbeReply, cluster_uuid, node_uuid,
        ctx.settings.log_dir_probe_timeout_seconds,
    )


async def _node_call(
    ctx: InventoryContext,
    caller: Caller,
    operation: str,
    reply_model: type[ReplyT],
    cluster_uuid: uuid.UUID,
    node_uuid: uuid.UUID,
    timeout: float,
) -> ReplyT:
    """Call a collector operation about one node and validate its reply as ``reply_model``."""
    body = {"cluster_uuid": str(cluster_uuid), "node_uuid": str(node_uuid)}
    reply = await _call(ctx, operation, caller, body, timeout)
    try:
        return reply_model.model_validate(reply)
    except ValidationError:
        logger.warning("collector reply malformed operation=%s cluster=%s node=%s", operation, cluster_uuid, node_uuid)
        raise CollectorBadReply() from None
