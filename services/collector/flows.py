"""Ownership checks through inventory, and cluster discovery through a master node.

Inventory decides which nodes a principal may act on (``nodes.resolve`` and
``nodes.list_for_principal``). When inventory does not reply, an admin is still served from
the collector's own node table, because admins own every cluster; anyone else gets 503.
"""

import logging
import re
from dataclasses import dataclass

from pydantic import ValidationError

from libs.common.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    ServiceError,
    Unavailable,
    UnknownReference,
    ValidationFailed,
    field_error,
)
from libs.common.rpc import Principal, RpcClient, RpcRequest
from services.collector import service
from services.collector.command_catalog import COMMANDS, validate_args
from services.collector.commands import CommandRunner, RunContext, RunOutcome
from services.collector.models import Node
from services.collector.node_info import NodeInfo, node_scope
from services.collector.node_target import NodeTarget
from services.collector.policy import authorize
from services.collector.scheduler import CollectorRuntime

logger = logging.getLogger(__name__)

DISCOVER_TIMEOUT = 60
# The exec log's user for discovery requested without a principal (a service acting for itself).
SYSTEM_PRINCIPAL = Principal(user_id=0, username="hfd-system", role="operator")


@dataclass
class Ownership:
    """Finds the collector's nodes that the caller of a request owns."""

    client: RpcClient
    runtime: CollectorRuntime
    timeout: float

    async def resolve(self, request: RpcRequest, *, name: str, cluster: str | None) -> Node:
        """Return the stored node ``name`` that the caller owns; raise 404 (also for another's node), 409 or 503."""
        try:
            body = await self._call(request, "nodes.resolve", {"name": name, "cluster": cluster})
        except Unavailable:
            if request.principal is None or not request.principal.is_admin:
                raise
            return await self._resolve_locally(name=name, cluster=cluster)

        async with self.runtime.db.session() as session:
            node = await service.get(session, node_uuid=str(body["node_uuid"]))
        if node is None:
            raise NotFound("node_not_collected")
        return node

    async def owned_nodes(
        self, request: RpcRequest, *, cluster: str | None = None, field: str = "cluster"
    ) -> list[Node]:
        """Return the stored nodes the caller owns, optionally of one cluster (uuid or name).

        A ``cluster`` that is unknown or not the caller's raises 404 naming ``field``.
        """
        try:
            body = await self._call(request, "nodes.list_for_principal", {"cluster": cluster})
        except Unavailable:
            if request.principal is None or not request.principal.is_admin:
                raise
            nodes = await self._all_nodes()
            return [node for node in nodes if cluster in (None, node.cluster_uuid, node.cluster_name)]
        except ServiceError as error:
            if cluster is not None and error.status_code == 404:
                raise UnknownReference(field, "cluster_not_found", request.lang) from None
            raise

        wanted = {str(item["node_uuid"]) for item in body.get("nodes", [])}
        return [node for node in await self._all_nodes() if node.node_uuid in wanted]

    async def set_log_dir(self, request: RpcRequest, *, log_dir: str) -> dict[str, list[str]]:
        """Set the log folder of the caller's nodes in inventory; return ``{node uuid: log_dirs}``.

        Inventory owns the list, so nothing changes when it does not reply: there is no admin
        fallback here, and the caller gets 503. Its 422 field errors are passed on unchanged.
        """
        envelope = RpcRequest(
            principal=request.principal, body={"log_dir": log_dir}, lang=request.lang, request_id=request.request_id
        )
        reply = await self.client.call("inventory", "nodes.set_log_dir", envelope, timeout=self.timeout)
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status == 422:
            raise ValidationFailed(_field_errors(body) or [field_error("log_dir", "invalid_log_dir", request.lang)])
        if reply.status >= 300:
            detail = body.get("detail")
            raise ServiceError(detail if isinstance(detail, str) else "upstream_error", status_code=reply.status)
        return {
            str(item["node_uuid"]): [str(folder) for folder in item.get("log_dirs", [])]
            for item in body.get("nodes", [])
            if isinstance(item, dict) and item.get("node_uuid")
        }

    async def _call(self, request: RpcRequest, operation: str, body: dict) -> dict:
        envelope = RpcRequest(principal=request.principal, body=body, lang=request.lang, request_id=request.request_id)
        return await self.client.call_ok("inventory", operation, envelope, timeout=self.timeout)

    async def _all_nodes(self) -> list[Node]:
        async with self.runtime.db.session() as session:
            return await service.list_nodes(session)

    async def _resolve_locally(self, *, name: str, cluster: str | None) -> Node:
        nodes = [
            node
            for node in await self._all_nodes()
            if node.name == name and cluster in (None, node.cluster_uuid, node.cluster_name)
        ]
        if not nodes:
            raise NotFound()
        if len(nodes) > 1:
            raise Conflict("ambiguous_node")
        return nodes[0]


def _field_errors(body: dict) -> list[FieldError]:
    detail = body.get("detail")
    items = detail.get("errors", []) if isinstance(detail, dict) else []
    try:
        return [FieldError.model_validate(item) for item in items]
    except ValidationError:
        return []


# Discovery

_DFS_NAME = re.compile(r"^Name:\s*(?P<address>[0-9A-Za-z.:\[\]-]+?):\d+\s*\((?P<name>[^)]+)\)")
_DFS_HOSTNAME = re.compile(r"^Hostname:\s*(?P<name>\S+)")
_YARN_NODE = re.compile(r"^(?P<name>[A-Za-z0-9._-]+):\d+\s+(?P<state>[A-Z_]+)\s")


def parse_dfsadmin_report(output: str) -> dict[str, str]:
    """Return ``{host name: address}`` of the DataNodes in ``hdfs dfsadmin -report`` output."""
    hosts: dict[str, str] = {}
    address: str | None = None
    for line in output.splitlines():
        line = line.strip()
        match = _DFS_NAME.match(line)
        if match:
            address = match["address"]
            hosts[match["name"]] = address
            continue
        match = _DFS_HOSTNAME.match(line)
        if match and address is not None and match["name"] not in hosts:
            hosts[match["name"]] = address
    return hosts


def parse_yarn_nodes(output: str) -> list[str]:
    """Return the host names in ``yarn node -list`` output."""
    return [match["name"] for line in output.splitlines() if (match := _YARN_NODE.match(line.strip()))]


async def discover_hosts(
    runner: CommandRunner, target: NodeTarget, principal: Principal | None, lang: str
) -> list[dict]:
    """Ask the master node which DataNodes and NodeManagers the cluster has.

    Both commands go through the command policy and the exec log like ``commands.run``: as the
    requesting user with actor ``user``, or as ``hfd-system`` with actor ``system`` when the
    request carries no principal. Raises ``Forbidden`` when the policy rejects the principal and
    ``OpsError`` (503) when the master cannot be reached.
    """
    node = NodeInfo.from_target(target)
    actor = "user" if principal is not None else "system"
    context = RunContext(principal or SYSTEM_PRINCIPAL, actor, "cluster discovery", None, lang)
    report = await _run_discovery_command(runner, context, node, "hdfs_report", {})
    yarn = await _run_discovery_command(runner, context, node, "yarn_nodes", {"include_all": False})

    datanodes = parse_dfsadmin_report(report.stdout) if report.exit_code == 0 else {}
    nodemanagers = parse_yarn_nodes(yarn.stdout) if yarn.exit_code == 0 else []
    hosts: dict[str, dict] = {}
    for name, address in datanodes.items():
        hosts[name] = {"name": name, "address": address, "roles": ["datanode"]}
    for name in nodemanagers:
        entry = hosts.setdefault(name, {"name": name, "address": datanodes.get(name, ""), "roles": []})
        entry["roles"].append("nodemanager")
    return sorted(hosts.values(), key=lambda host: host["name"])


async def _run_discovery_command(
    runner: CommandRunner, context: RunContext, node: NodeInfo, command_id: str, args: dict
) -> RunOutcome:
    spec = COMMANDS[command_id]
    decision = authorize(spec, context.principal, actor="user")
    if not decision.allowed:
        logger.warning(
            "discovery rejected command=%s user=%s reason=%s", command_id, context.principal.username, decision.reason
        )
        raise Forbidden()
    typed_args = validate_args(spec, args, node_scope(node, runner.settings))
    outcome = await runner.execute(context=context, node=node, spec=spec, args=typed_args, timeout=DISCOVER_TIMEOUT)
    if outcome.status != "success":
        logger.warning(
            "discovery command failed node=%s command=%s exec_id=%s status=%s",
            node.name,
            command_id,
            outcome.exec_id,
            outcome.status,
        )
    return outcome
