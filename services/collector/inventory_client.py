"""Inventory lookups for the operations endpoints: a node by name, the caller's nodes and clusters."""

import logging
from typing import Any

from libs.common.errors import Forbidden, ServiceError, Unavailable
from libs.common.rpc import Principal, RpcClient, RpcRequest
from services.collector.node_info import NodeInfo
from services.collector.ops_errors import OpsError, invalid_field

logger = logging.getLogger(__name__)


class Inventory:
    """The inventory calls of the ops side; error replies become the errors that HTTP callers receive."""

    def __init__(self, client: RpcClient, timeout: float = 10.0) -> None:
        self.client = client
        self.timeout = timeout

    async def call(self, operation: str, body: dict[str, Any], *, principal: Principal | None, request: RpcRequest):
        envelope = RpcRequest(principal=principal, body=body, lang=request.lang, request_id=request.request_id)
        reply = await self.client.call("inventory", operation, envelope, timeout=self.timeout)
        return reply.status, reply.body

    async def resolve_node(self, request: RpcRequest, *, name: str, cluster: str | None, field: str) -> NodeInfo:
        status, body = await self.call(
            "nodes.resolve", {"name": name, "cluster": cluster}, principal=request.principal, request=request
        )
        if status == 200:
            return NodeInfo.from_inventory(body)
        raise self._error(status, body, request.lang, field=field, message_code="node_not_found")

    async def list_nodes(self, request: RpcRequest, *, cluster: str | None) -> list[NodeInfo]:
        status, body = await self.call(
            "nodes.list_for_principal", {"cluster": cluster}, principal=request.principal, request=request
        )
        if status == 200:
            return [NodeInfo.from_inventory(item) for item in body.get("nodes", [])]
        raise self._error(status, body, request.lang, field="cluster", message_code="cluster_not_found")

    async def visible_cluster_uuids(self, request: RpcRequest) -> set[str]:
        """Return the uuids of the clusters the caller may see (inventory's ``clusters.list``)."""
        status, body = await self.call("clusters.list", {}, principal=request.principal, request=request)
        if status != 200:
            raise self._error(status, body, request.lang, field="cluster", message_code="cluster_not_found")
        return {str(item["uuid"]) for item in body.get("clusters", [])}

    async def get_cluster(self, request: RpcRequest, *, cluster: str, principal: Principal | None, field: str):
        status, body = await self.call("clusters.get", {"cluster": cluster}, principal=principal, request=request)
        if status == 200:
            return body
        raise self._error(status, body, request.lang, field=field, message_code="cluster_not_found")

    def _error(self, status: int, body: Any, lang: str, *, field: str, message_code: str) -> ServiceError:
        detail = body.get("detail") if isinstance(body, dict) else None
        if status == 404:
            return OpsError("not_found", status_code=404, message_code=message_code, field=field, lang=lang)
        if status == 403:
            return Forbidden()
        if status == 409:
            return OpsError(str(detail), status_code=409, message_code="ambiguous_node", field="cluster", lang=lang)
        if status in (400, 422):
            return invalid_field(field, "invalid_value", lang)
        logger.warning("inventory call failed status=%s detail=%s", status, detail)
        return Unavailable()
