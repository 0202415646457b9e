"""Calls to the other services' internal operations, in one place.

Every request names the principal it acts for; the callee checks that principal's rights
again, so the AI service can never do more than the user it acts for. Unattended work (the
diagnosis of a FAULTS event, a repair under the cluster's ``auto`` policy) passes no
principal to inventory and faults, which treat such a request as internal, and the system
principal to the collector, whose command policy limits it to read-only diagnostics unless a
safe repair runs on a cluster whose policy is ``auto``.
"""

import logging
from typing import Any, Literal

from libs.common.errors import ServiceError
from libs.common.rpc import Principal, RpcClient, RpcRequest

AUTO_REPAIR_OVERRIDE = "auto_repair"

logger = logging.getLogger(__name__)

# The collector recognises this principal (user id 0, "hfd-ai") as the AI acting unattended.
SYSTEM_PRINCIPAL = Principal(user_id=0, username="hfd-ai", role="operator")

Actor = Literal["user", "ai"]


class Upstream:
    """Typed wrappers over ``RpcClient.call_ok`` for inventory, collector and faults."""

    def __init__(self, client: RpcClient, *, request_id: str = "", lang: str = "zh") -> None:
        self.client = client
        self.request_id = request_id
        self.lang = lang

    def _request(self, principal: Principal | None, body: dict[str, Any]) -> RpcRequest:
        return RpcRequest(principal=principal, body=body, request_id=self.request_id, lang=self.lang)

    async def _call(
        self, service: str, operation: str, principal: Principal | None, body: dict[str, Any], timeout: float = 10.0
    ) -> Any:
        return await self.client.call_ok(service, operation, self._request(principal, body), timeout=timeout)

    # inventory

    async def resolve_node(self, principal: Principal | None, name: str, cluster: str | None) -> dict[str, Any]:
        return await self._call("inventory", "nodes.resolve", principal, {"name": name, "cluster": cluster})

    async def list_nodes(self, principal: Principal | None, cluster: str | None) -> list[dict[str, Any]]:
        body = await self._call("inventory", "nodes.list_for_principal", principal, {"cluster": cluster})
        return list(body.get("nodes", []))

    async def get_cluster(self, principal: Principal | None, cluster: str) -> dict[str, Any]:
        return await self._call("inventory", "clusters.get", principal, {"cluster": cluster})

    # collector

    async def tail_log(
        self,
        principal: Principal | None,
        node_uuid: str,
        *,
        lines: int,
        log_type: str | None = None,
        path: str | None = None,
        pattern: str | None = None,
        timeout: float = 30.0,
    ) -> list[str]:
        body: dict[str, Any] = {"node_uuid": node_uuid, "lines": lines, "pattern": pattern}
        if path:
            body["path"] = path
        else:
            body["log_type"] = log_type
        reply = await self._call("collector", "logs.tail", principal or SYSTEM_PRINCIPAL, body, timeout=timeout + 5)
        return [str(line) for line in reply.get("lines", [])]

    async def run_command(
        self,
        principal: Principal | None,
        node_uuid: str,
        command_id: str,
        *,
        args: dict[str, Any] | None = None,
        timeout: int = 30,
        description: str = "",
        fault_id: str | None = None,
        safe_action: bool = False,
    ) -> dict[str, Any]:
        """Run a command of the collector's policy as ``principal`` (the system principal when None).

        ``safe_action`` asks the collector to let the system principal run a service-control
        or maintenance command that the fault catalog marks safe; the collector allows it only
        when the cluster's repair policy is ``auto``.
        """
        acting = principal or SYSTEM_PRINCIPAL
        body: dict[str, Any] = {
            "node_uuid": node_uuid,
            "command_id": command_id,
            "args": args or {},
            "timeout": timeout,
            "actor": "ai",
            "description": description[:500],
            "fault_id": fault_id,
        }
        if safe_action and acting is SYSTEM_PRINCIPAL:
            body["policy_override"] = AUTO_REPAIR_OVERRIDE
            body["safe_action"] = True
        logger.info(
            "running command node=%s command=%s fault=%s principal=%s",
            node_uuid,
            command_id,
            fault_id,
            acting.username,
        )
        return await self._call("collector", "commands.run", acting, body, timeout=timeout + 10)

    # faults

    async def get_incident(self, principal: Principal | None, incident_id: str) -> dict[str, Any]:
        return await self._call("faults", "incidents.get", principal, {"incident_id": incident_id})

    async def list_incidents(
        self,
        principal: Principal | None,
        *,
        cluster: str | None,
        node: str | None = None,
        state: str | None = None,
        kind: str | None = None,
        limit: int = 20,
    ) -> list[dict[str, Any]]:
        body = {"cluster": cluster, "node": node, "state": state, "kind": kind, "limit": limit}
        reply = await self._call("faults", "incidents.list", principal, body)
        return list(reply.get("incidents", []))

    async def new_occurrences_since(self, principal: Principal | None, incident_id: str, since: str) -> bool:
        """Tell whether the incident had occurrences after ``since`` (an ISO time), or was reopened."""
        reply = await self._call("faults", "incidents.since", principal, {"incident_id": incident_id, "since": since})
        return bool(reply.get("new_occurrences")) or bool(reply.get("newer_incident_id"))

    async def resolve_incident(
        self, principal: Principal | None, incident_id: str, *, reason: str, since: str | None = None
    ) -> bool:
        """Resolve the incident through the faults service's internal ``incidents.resolve``.

        The faults service records ``hfd-ai`` as the actor. With ``since`` (an ISO time), an
        incident that had occurrences after it stays open, and this returns False.
        """
        body: dict[str, Any] = {"incident_id": incident_id, "reason": reason, "since": since}
        try:
            await self._call("faults", "incidents.resolve", principal, body)
        except ServiceError as error:
            if error.code != "new_occurrences":
                raise
            logger.info("incident not resolved: new occurrences incident=%s since=%s", incident_id, since)
            return False
        return True
